//! The relay as a whole: [`Relay::load`] builds every piece in order, [`Relay::run`]
//! accepts sessions until told to stop, then drains them and exits.
//!
//! One quinn endpoint on one UDP port serves both kinds of client;
//! [`transport::establish`] tells them apart by ALPN, and both run the same session logic.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use chitchat_protocol::ErrorCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::admission::{Admission, HandshakeSlot, Verdict};
use crate::api::{self, ApiKeys, ApiState};
use crate::auth::Auth;
use crate::broker::{self, Store};
use crate::claims::Claims;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::rooms::Rooms;
use crate::session::RelayState;
use crate::tls::{CertRotation, CertSource, CertState, ServedCert};
use crate::transport;
use crate::web::{WebApp, WebState};
use crate::{gate, ws};
use crate::{http, web};

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

/// The HTTP servers' tasks (the public port, the admin port if any) and what stops them.
struct HttpServer {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A relay, bound and ready to run.
pub struct Relay {
    endpoint: quinn::Endpoint,
    state: Arc<RelayState>,
    store: Store,
    cert: CertRotation,
    tracker: TaskTracker,
    http: std::net::TcpListener,
    admin: Option<std::net::TcpListener>,
    http_limits: http::HttpLimits,
    /// TLS for the public HTTP port, with a real certificate (`--tls-cert`).
    http_tls: Option<tokio_rustls::TlsAcceptor>,
    web: Arc<WebState>,
    admission: Arc<Admission>,
    /// The server API's state (its keys; off without them).
    api: Arc<ApiState>,
}

impl Relay {
    /// Every start-up step, in order: the sockets, the certificate, the hub and its
    /// broker, the endpoint, the sessions' shared state, the web side, then the relay's
    /// entry in the broker's registry.
    pub async fn load(config: Config) -> anyhow::Result<Relay> {
        // Files the operator names are checked before anything is bound or opened.
        let api_keys = match &config.api.api_key_file {
            Some(path) => Some(ApiKeys::load(path)?),
            None => None,
        };
        let socket =
            bind_udp(config.listen).with_context(|| format!("binding UDP {}", config.listen))?;
        let http = bind_tcp(config.http).with_context(|| format!("binding TCP {}", config.http))?;
        let admin = match config.http_limits.admin_listen {
            Some(addr) => {
                Some(bind_tcp(addr).with_context(|| format!("binding the admin TCP {addr}"))?)
            }
            None => None,
        };
        let node_id = config.node_id(socket.local_addr()?.port());
        let transport = Arc::new(transport_config(&config));
        let (cert, server_config) = CertRotation::load(config.tls.source(), transport)?;
        let http_tls = match config.tls.source() {
            source @ CertSource::Files { .. } => {
                Some(http::tls_acceptor(&ServedCert::load(&source)?)?)
            }
            CertSource::DevCa { .. } => None,
        };

        let metrics = Arc::new(Metrics::install());
        let hub = Hub::new(node_id.clone(), config.limits.queue_len, metrics.clone());
        let store = broker::open(&config.store, hub.clone(), node_id.clone()).await?;
        hub.set_broker(store.broker());

        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .context("starting the QUIC endpoint")?;

        let auth = Arc::new(Auth::load(&config.auth)?);
        if auth.dev_login {
            dev_login_allowed(&config)?;
        }
        let claims = Claims::new(store.broker(), &config.claims);
        let state = Arc::new(RelayState::new(
            node_id,
            hub,
            store.broker(),
            claims.clone(),
            config.limits.clone(),
            metrics,
            auth.clone(),
        ));
        tokio::spawn(
            claims
                .run(state.shutdown.clone())
                .instrument(tracing::info_span!("nick_claims")),
        );
        if let Err(e) = state.rooms.refresh_archived().await {
            tracing::warn!("reading the archived rooms failed (read again every few s): {e}");
        }
        tokio::spawn(Rooms::watch_archived(
            Arc::downgrade(&state.rooms),
            state.shutdown.clone(),
        ));
        let quic_port = endpoint.local_addr()?.port();
        let counter = state.clone();
        let web = Arc::new(WebState {
            app: WebApp::load(),
            node_id: state.node_id.clone(),
            quic_port,
            public_quic: config.public.quic(quic_port),
            public_http: config.public.http(http.local_addr()?.port()),
            cert: cert.state(),
            metrics: state.metrics.clone(),
            broker: state.broker.clone(),
            hub: state.hub.clone(),
            sessions: Arc::new(move || counter.sessions.load(Ordering::Relaxed)),
            pages: web::PageHosts::new(&config.public, &config.tls.names, quic_port),
            auth,
        });
        let own = web.clone();
        if let Err(e) = store.register(Arc::new(move || own.own_info())).await {
            // The next heartbeat carries the addresses.
            tracing::warn!("registering the relay's addresses: {e}");
        }
        tracing::info!(
            node = %state.node_id,
            quic = %endpoint.local_addr()?,
            http = %http.local_addr()?,
            store = %store.describe(),
            "relay ready"
        );
        let state_for_api = state.clone();
        Ok(Relay {
            endpoint,
            state,
            store,
            cert,
            tracker: TaskTracker::new(),
            http,
            admin,
            http_limits: config.http_limits.clone(),
            http_tls,
            web,
            admission: Admission::new(config.admission.clone()),
            api: Arc::new(ApiState {
                relay: state_for_api,
                keys: api_keys,
            }),
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

    /// The TCP address of the admin listener, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|a| a.local_addr().ok())
    }

    /// The certificate state (for the web page's certificate hash).
    pub fn cert_state(&self) -> Arc<RwLock<CertState>> {
        self.cert.state()
    }

    /// Serves until `shutdown` resolves (one select over the shutdown signal, the
    /// certificate's rotation and new connections), then stops (see `Relay::stop`).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let http = self.serve_http()?;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.cert.due() => self.cert.rotate(&self.endpoint),
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    self.accept(incoming);
                }
            }
        }
        self.stop(http).await;
        Ok(())
    }

    /// Starts the HTTP servers (the public port; the admin port if configured) on tasks of
    /// their own; they stop when the returned token is cancelled. Without an admin port the
    /// public one keeps /metrics and /relays.
    fn serve_http(&self) -> anyhow::Result<HttpServer> {
        let stop = CancellationToken::new();
        let admin_apart = self.admin.is_some();
        let ws = Arc::new(ws::WsGate {
            state: self.state.clone(),
            admission: self.admission.clone(),
            tracker: self.tracker.clone(),
        });
        let mut tasks = vec![http::spawn(
            tokio::net::TcpListener::from_std(self.http.try_clone()?)?,
            web::router(self.web.clone(), !admin_apart)
                .merge(ws::router(ws))
                .merge(api::router(self.api.clone())),
            self.http_limits.clone(),
            self.http_tls.clone(),
            stop.clone(),
        )];
        if let Some(admin) = &self.admin {
            tasks.push(http::spawn(
                tokio::net::TcpListener::from_std(admin.try_clone()?)?,
                web::admin_router(self.web.clone()),
                self.http_limits.clone(),
                None,
                stop.clone(),
            ));
        }
        Ok(HttpServer { stop, tasks })
    }

    /// Judges one new connection by its source address (see [`crate::admission`]) and hands
    /// it, if admitted, to a task of its own.
    fn accept(&self, incoming: quinn::Incoming) {
        let remote = incoming.remote_address();
        let (verdict, slot) = self
            .admission
            .judge(remote, incoming.remote_address_validated());
        self.state.metrics.admission(verdict);
        let slot = match (verdict, slot) {
            (Verdict::Accept, Some(slot)) => slot,
            (Verdict::Retry, _) if incoming.may_retry() => {
                if let Err(e) = incoming.retry() {
                    e.into_incoming().refuse();
                }
                return;
            }
            _ => {
                incoming.refuse();
                return;
            }
        };
        let state = self.state.clone();
        // quinn spawns the connection's driver here, in the current span, and enters that
        // span on every poll (every packet): a debug-level span is free at the default log
        // level, while the session's own logs keep the info-level "conn" span.
        let accepted = tracing::debug_span!("quic", %remote).in_scope(|| incoming.accept());
        let span = tracing::info_span!("conn", %remote, session = tracing::field::Empty);
        self.tracker
            .spawn(handle_incoming(accepted, slot, state).instrument(span));
    }

    /// Stops accepting, tells every session to go (GoAway), gives them the drain time,
    /// closes what is left, stops the HTTP server and flushes the store.
    async fn stop(self, http: HttpServer) {
        tracing::info!(
            sessions = self.state.sessions.load(Ordering::Relaxed),
            "shutting down: telling sessions to reconnect elsewhere"
        );
        self.state.shutdown.cancel();
        self.tracker.close();
        // New connections during the drain are still judged, and answered SHUTTING_DOWN
        // (see `handle_incoming`) rather than left to time out.
        let drained = tokio::time::timeout(self.state.limits.drain() + CLOSE_GRACE, async {
            let wait = self.tracker.wait();
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    Some(incoming) = self.endpoint.accept() => self.accept(incoming),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("sessions still open after the drain time; closing them");
        }
        self.endpoint.close(
            quinn::VarInt::from_u32(u32::from(ErrorCode::SHUTTING_DOWN.0)),
            b"relay shutting down",
        );
        let _ = tokio::time::timeout(CLOSE_GRACE, self.endpoint.wait_idle()).await;
        http.stop.cancel();
        let stopped = tokio::time::timeout(CLOSE_GRACE, futures::future::join_all(http.tasks));
        if stopped.await.is_err() {
            tracing::warn!("HTTP server did not stop in time");
        }
        self.store.close().await;
        tracing::info!("relay stopped");
    }
}

/// Completes one accepted connection's handshake, dispatches on ALPN, admits it, runs its
/// session (see [`gate::run`]). `slot` counts the handshake against its source until it completes.
async fn handle_incoming(
    accepted: Result<quinn::Connecting, quinn::ConnectionError>,
    slot: HandshakeSlot,
    state: Arc<RelayState>,
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
    let established = Box::pin(transport::establish(
        connecting,
        state.limits.handshake_timeout(),
    ))
    .await;
    let conn = match established {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!("{e}");
            return;
        }
    };
    gate::run(conn, slot, state).await;
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

/// `--auth-dev-login` mints a token for anyone who asks: allowed only when every address the
/// relay listens on is loopback, and announced loudly.
fn dev_login_allowed(config: &Config) -> anyhow::Result<()> {
    let addrs = [
        Some(config.listen),
        Some(config.http),
        config.http_limits.admin_listen,
    ];
    if let Some(open) = addrs.into_iter().flatten().find(|a| !a.ip().is_loopback()) {
        anyhow::bail!(
            "--auth-dev-login lets anyone sign in as anyone: it needs every listen address on \
             loopback, and {open} is not (use --listen 127.0.0.1:PORT --http 127.0.0.1:PORT)"
        );
    }
    tracing::warn!(
        "DEVELOPMENT SIGN-IN IS ON (--auth-dev-login): POST /auth/dev-login signs anyone in as \
         any name. Never use it where others can reach the relay."
    );
    Ok(())
}
