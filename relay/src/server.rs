//! The relay as a whole: [`Relay::load`] does every start-up step in order, [`Relay::run`]
//! accepts sessions until told to stop, then drains them and exits.
//!
//! One quinn endpoint on one UDP port serves both kinds of client: after the TLS handshake
//! the negotiated ALPN says which (`chitchat/1`: native QUIC; `h3`: WebTransport), and both
//! run the same session logic.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use chitchat_protocol::{ALPN_CHITCHAT, ALPN_H3, ErrorCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::broker::embedded::EmbeddedBroker;
use crate::broker::redis::{NodeStatus, RedisBroker, RedisOptions, Registration};
use crate::broker::{Deliver, SharedBroker};
use crate::config::{Config, StoreConfig};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::session::{self, Shared};
use crate::tls::{CertSource, ServedCert};
use crate::transport::Conn;
use crate::web::{self, WebApp, WebState};

/// Socket buffer size asked of the kernel: bursts of fan-out to many sessions must not be
/// dropped by a full socket buffer. The kernel may cap it (net.core.wmem_max/rmem_max).
const SOCKET_BUFFER: usize = 4 << 20;

/// Packets a client may receive before it must acknowledge them, asked of clients that
/// support the QUIC acknowledgement-frequency extension (quinn-based ones: the CLI). By
/// default a receiver acknowledges every second packet, so a fanned-out message costs each
/// session one packet out and half an ACK back; asking for one ACK per 10 packets (or per
/// the 25 ms ACK delay, whichever comes first) leaves the relay far fewer ACKs to receive
/// and process on busy rooms. 10 packets of small messages stay well inside the initial
/// congestion window (about 80 of them), so the sender never waits for a late ACK.
const ACK_ELICITING_THRESHOLD: u32 = 10;

/// Grace after the drain time for sessions to finish closing, and for the endpoint to
/// tell every peer it is closed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The certificate in service, shared with the web page (its hash) and the rotation.
#[derive(Default)]
pub struct CertState {
    /// SHA-256 (hex) of the dev leaf in service; `None` with real certificates.
    pub sha256_hex: Option<String>,
}

/// The relay's broker, by kind, for what the [`crate::broker::Broker`] trait leaves out:
/// opening and the final flush.
enum Store {
    Embedded(Arc<EmbeddedBroker>),
    Redis(Arc<RedisBroker>),
}

impl Store {
    async fn open(config: &StoreConfig, hub: Arc<Hub>, node_id: String) -> anyhow::Result<Store> {
        let sink: Arc<dyn Deliver> = hub;
        match &config.redis {
            Some(url) => {
                let options = RedisOptions {
                    node_id,
                    history_limit: usize::try_from(config.history_limit).unwrap_or(usize::MAX),
                    heartbeat: config.heartbeat(),
                };
                let broker = RedisBroker::connect_with(url, sink, options)
                    .await
                    .context("connecting to Redis")?;
                Ok(Store::Redis(Arc::new(broker)))
            }
            None => {
                let dir = config.data_dir.clone();
                let broker =
                    tokio::task::spawn_blocking(move || EmbeddedBroker::open(&dir, sink, node_id))
                        .await?
                        .with_context(|| {
                            format!("opening the message store in {}", config.data_dir.display())
                        })?;
                Ok(Store::Embedded(Arc::new(broker)))
            }
        }
    }

    fn shared(&self) -> SharedBroker {
        match self {
            Store::Embedded(b) => b.clone(),
            Store::Redis(b) => b.clone(),
        }
    }

    fn describe(&self, config: &StoreConfig) -> String {
        match self {
            Store::Embedded(_) => format!("sqlite:{}", config.data_dir.display()),
            Store::Redis(_) => "redis".to_string(),
        }
    }

    async fn close(&self) {
        match self {
            Store::Embedded(b) => b.close().await,
            Store::Redis(b) => b.close().await,
        }
    }
}

/// A relay, bound and ready to run.
pub struct Relay {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    store: Store,
    cert_source: CertSource,
    transport: Arc<quinn::TransportConfig>,
    rotate_at: Option<time::OffsetDateTime>,
    cert: Arc<RwLock<CertState>>,
    tracker: TaskTracker,
    http: std::net::TcpListener,
    web: Arc<WebState>,
}

impl Relay {
    /// Every start-up step, in order: the socket, the certificate, the broker and hub,
    /// then the endpoint.
    pub async fn load(config: Config) -> anyhow::Result<Relay> {
        let socket =
            bind_udp(config.listen).with_context(|| format!("binding UDP {}", config.listen))?;
        let http = bind_tcp(config.http).with_context(|| format!("binding TCP {}", config.http))?;
        let node_id = config.node_id(socket.local_addr()?.port());
        let cert_source = config.tls.source();
        let cert = ServedCert::load(&cert_source).context("preparing the TLS certificate")?;

        let metrics = Arc::new(Metrics::install());
        let hub = Hub::new(node_id.clone(), config.limits.queue_len, metrics.clone());
        let store = Store::open(&config.store, hub.clone(), node_id.clone()).await?;
        let shared_broker = store.shared();
        hub.set_broker(shared_broker.clone());

        let transport = Arc::new(transport_config(&config));
        let server_config = cert.server_config(transport.clone())?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .context("starting the QUIC endpoint")?;

        let shared = Arc::new(Shared::new(
            node_id,
            hub,
            shared_broker,
            config.limits.clone(),
            metrics,
            CancellationToken::new(),
        ));
        let cert_state = Arc::new(RwLock::new(CertState {
            sha256_hex: cert.sha256_hex(),
        }));
        let quic_port = endpoint.local_addr()?.port();
        let public_quic = config.public.quic(quic_port);
        let public_http = config.public.http(http.local_addr()?.port());
        if let Store::Redis(broker) = &store {
            let (counter, cert) = (shared.clone(), cert_state.clone());
            let registered = broker
                .register(Registration {
                    quic: public_quic.clone(),
                    webtransport: config.public.webtransport(quic_port),
                    http: public_http.clone(),
                    status: Arc::new(move || NodeStatus {
                        cert_sha256: cert.read().ok().and_then(|c| c.sha256_hex.clone()),
                        sessions: counter.sessions.load(Ordering::Relaxed) as u64,
                    }),
                })
                .await;
            if let Err(e) = registered {
                // The next heartbeat carries the addresses.
                tracing::warn!("registering the relay's addresses: {e}");
            }
        }
        let counter = shared.clone();
        let web = Arc::new(WebState {
            app: WebApp::load(),
            node_id: shared.node_id.clone(),
            quic_port,
            public_quic,
            public_http,
            cert: cert_state.clone(),
            metrics: shared.metrics.clone(),
            broker: shared.broker.clone(),
            hub: shared.hub.clone(),
            sessions: Arc::new(move || counter.sessions.load(Ordering::Relaxed)),
        });
        tracing::info!(
            node = %shared.node_id,
            quic = %endpoint.local_addr()?,
            http = %http.local_addr()?,
            store = %store.describe(&config.store),
            "relay ready"
        );
        Ok(Relay {
            endpoint,
            shared,
            store,
            cert_source,
            transport,
            rotate_at: cert.rotate_at,
            cert: cert_state,
            tracker: TaskTracker::new(),
            http,
            web,
        })
    }

    /// The UDP address sessions connect to.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.endpoint.local_addr()?)
    }

    /// The TCP address of the HTTP server.
    pub fn http_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.http.local_addr()?)
    }

    /// The certificate state (for the web page's certificate hash).
    pub fn cert_state(&self) -> Arc<RwLock<CertState>> {
        self.cert.clone()
    }

    /// Serves until `shutdown` resolves, then: stop accepting, tell every session to go
    /// (GoAway), give them the drain time, close what is left, flush the store.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let http_stop = CancellationToken::new();
        let http = {
            let stop = http_stop.clone();
            let listener = tokio::net::TcpListener::from_std(self.http.try_clone()?)?;
            let app = web::router(self.web.clone());
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            })
        };
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sleep_until_time(self.rotate_at) => self.rotate_certificate(),
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let shared = self.shared.clone();
                    let remote = incoming.remote_address();
                    // quinn spawns the connection's driver here, in the current span, and
                    // enters that span on every poll (every packet): a debug-level span is
                    // free at the default log level, while the session's own logs keep the
                    // info-level "conn" span.
                    let accepted = tracing::debug_span!("quic", %remote).in_scope(|| incoming.accept());
                    let span = tracing::info_span!("conn", %remote, session = tracing::field::Empty);
                    self.tracker.spawn(handle_incoming(accepted, shared).instrument(span));
                }
            }
        }
        tracing::info!(
            sessions = self.shared.sessions.load(Ordering::Relaxed),
            "shutting down: telling sessions to reconnect elsewhere"
        );
        self.endpoint.set_server_config(None);
        self.shared.shutdown.cancel();
        self.tracker.close();
        let drained = tokio::time::timeout(
            self.shared.limits.drain() + CLOSE_GRACE,
            self.tracker.wait(),
        )
        .await;
        if drained.is_err() {
            tracing::warn!("sessions still open after the drain time; closing them");
        }
        self.endpoint.close(
            quinn::VarInt::from_u32(u32::from(ErrorCode::SHUTTING_DOWN.0)),
            b"relay shutting down",
        );
        let _ = tokio::time::timeout(CLOSE_GRACE, self.endpoint.wait_idle()).await;
        http_stop.cancel();
        match tokio::time::timeout(CLOSE_GRACE, http).await {
            Ok(Ok(Err(e))) => tracing::warn!("HTTP server: {e}"),
            Err(_) => tracing::warn!("HTTP server did not stop in time"),
            _ => {}
        }
        self.store.close().await;
        tracing::info!("relay stopped");
        Ok(())
    }

    /// Signs a fresh leaf and serves it to new connections from now on.
    fn rotate_certificate(&mut self) {
        let rotated = ServedCert::load(&self.cert_source).and_then(|cert| {
            let config = cert.server_config(self.transport.clone())?;
            Ok((cert, config))
        });
        match rotated {
            Ok((cert, config)) => {
                self.endpoint.set_server_config(Some(config));
                self.rotate_at = cert.rotate_at;
                if let Ok(mut state) = self.cert.write() {
                    state.sha256_hex = cert.sha256_hex();
                }
                tracing::info!(sha256 = ?cert.sha256_hex(), "rotated the TLS certificate");
            }
            Err(e) => {
                // Try again in an hour; the current leaf still has days left.
                tracing::error!("certificate rotation failed: {e:#}");
                self.rotate_at = Some(time::OffsetDateTime::now_utc() + Duration::from_secs(3600));
            }
        }
    }
}

/// Completes one accepted connection's handshake, dispatches on ALPN, admits it, runs its
/// session.
async fn handle_incoming(
    accepted: Result<quinn::Connecting, quinn::ConnectionError>,
    shared: Arc<Shared>,
) {
    let connecting = match accepted {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("refused a connection: {e}");
            return;
        }
    };
    // Boxed: the handshake's futures are several times the size of the session's, and the
    // task that serves the session is sized for the largest state it ever holds.
    let Some(conn) = Box::pin(establish(connecting, shared.limits.handshake_timeout())).await
    else {
        return;
    };
    let open = shared.sessions.fetch_add(1, Ordering::AcqRel) + 1;
    let _admitted = SessionCount(&shared);
    if open > shared.limits.max_sessions {
        shared.metrics.error(ErrorCode::SERVER_BUSY);
        conn.close(
            ErrorCode::SERVER_BUSY,
            "relay is full; try another relay or again later",
        );
        return;
    }
    if shared.shutdown.is_cancelled() {
        conn.close(ErrorCode::SHUTTING_DOWN, "relay shutting down");
        return;
    }
    session::run(conn, shared.clone()).await;
}

/// Decrements the open-session count when a session ends, however it ends.
struct SessionCount<'a>(&'a Shared);

impl Drop for SessionCount<'_> {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

fn transport_config(config: &Config) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(config.limits.idle_timeout())
            .unwrap_or_else(|_| quinn::IdleTimeout::from(quinn::VarInt::from_u32(30_000))),
    ));
    // Clients open one control stream (WebTransport adds its CONNECT stream and a few
    // HTTP/3 unidirectional streams); room streams are opened by the relay.
    t.max_concurrent_bidi_streams(4u32.into());
    t.max_concurrent_uni_streams(8u32.into());
    t.datagram_receive_buffer_size(Some(64 * 1024));
    let mut ack = quinn::AckFrequencyConfig::default();
    ack.ack_eliciting_threshold(ACK_ELICITING_THRESHOLD.into());
    t.ack_frequency_config(Some(ack));
    t
}

/// Binds a UDP socket; an IPv6 wildcard address is made dual-stack explicitly (browsers try
/// ::1 first for localhost and do not fall back to IPv4).
fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // Best effort: the kernel caps these at its configured maximum.
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Binds a TCP listener, dual-stack for an IPv6 wildcard address like [`bind_udp`].
fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

async fn sleep_until_time(at: Option<time::OffsetDateTime>) {
    match at {
        Some(at) => {
            let wait = at - time::OffsetDateTime::now_utc();
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await;
        }
        None => std::future::pending().await,
    }
}

/// The TLS handshake, then the QUIC connection or the WebTransport session its ALPN asks
/// for; `None` if it fails or takes too long.
async fn establish(mut connecting: quinn::Connecting, handshake_timeout: Duration) -> Option<Conn> {
    let alpn = match tokio::time::timeout(handshake_timeout, connecting.handshake_data()).await {
        Ok(Ok(data)) => data
            .downcast::<quinn::crypto::rustls::HandshakeData>()
            .ok()
            .and_then(|d| d.protocol),
        Ok(Err(e)) => {
            tracing::debug!("handshake failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::debug!("handshake timed out");
            return None;
        }
    };
    match alpn.as_deref() {
        Some(p) if p == ALPN_CHITCHAT => tokio::time::timeout(handshake_timeout, connecting)
            .await
            .ok()?
            .ok()
            .map(Conn::Quic),
        Some(p) if p == ALPN_H3 => accept_webtransport(connecting, handshake_timeout).await,
        // rustls refuses any ALPN outside the configured two during the handshake.
        _ => None,
    }
}

/// Completes a WebTransport session's HTTP/3 setup (the CONNECT request) and accepts it.
async fn accept_webtransport(
    connecting: quinn::Connecting,
    handshake_timeout: Duration,
) -> Option<Conn> {
    let request = tokio::time::timeout(
        handshake_timeout,
        wtransport::endpoint::IncomingSessionFuture::with_quic_connecting(connecting),
    )
    .await;
    let request = match request {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!("WebTransport session setup failed: {e}");
            return None;
        }
        Err(_) => return None,
    };
    match request.accept().await {
        Ok(c) => Some(Conn::WebTransport(c)),
        Err(e) => {
            tracing::debug!("WebTransport accept failed: {e}");
            None
        }
    }
}
