//! The relay's HTTP ports served with bounds (`axum::serve` has none): a cap on open
//! connections in total and per source address, a deadline for a request's headers, and
//! an idle timeout on every read and write, so half-open or stalled connections
//! (slowloris) are closed and cannot take the process to its descriptor limit.
//!
//! A connection over a cap is accepted and closed at once: its descriptor is given back
//! immediately, and the kernel's backlog never fills up behind it.
//!
//! With a real certificate (`--tls-cert`/`--tls-key`) the public port speaks TLS (https,
//! wss) with it, through tokio-rustls; the TLS handshake must end within the header
//! timeout. Every request carries its peer's address (`ConnectInfo`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::admission::source_of;
use crate::tls::{ServedCert, provider};

/// How long a busy accept loop pauses after the kernel refuses to accept (out of
/// descriptors): long enough for connections to close, short enough to go unnoticed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long connections get to finish their request when the relay stops.
const GRACEFUL_CLOSE: Duration = Duration::from_secs(1);

/// The HTTP ports' flags.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// A second HTTP listener (e.g. 127.0.0.1:9090) for /metrics and /relays; with it they
    /// leave the public port. Without it the public port serves them.
    #[arg(long, env = "CHITCHAT_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Open HTTP connections in total (on each port); further ones are closed at once, so
    /// the relay's descriptors stay bounded.
    #[arg(long, env = "CHITCHAT_HTTP_MAX_CONNS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub http_max_conns: u32,

    /// Open HTTP connections per source address (IPv4, or IPv6 /64). Browsers behind one
    /// NAT share an address and each opens several connections for a page load, held until
    /// the header timeout, so this is well above one browser's share.
    #[arg(long, env = "CHITCHAT_HTTP_MAX_CONNS_PER_ADDR", default_value = "128")]
    pub http_max_conns_per_addr: NonZeroU32,

    /// Seconds a client has to send a request's headers, from when the relay starts
    /// waiting for them.
    #[arg(long, env = "CHITCHAT_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_header_timeout_secs: u64,

    /// Seconds a connection may go without a byte read or written before it is closed
    /// (a kept-alive connection between requests, a client that stops reading).
    #[arg(long, env = "CHITCHAT_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub http_idle_timeout_secs: u64,
}

/// Open connections, in total and per source.
#[derive(Default)]
struct Open {
    total: u32,
    by_source: HashMap<IpAddr, u32>,
}

/// One admitted connection, counted until dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

/// Counts a new connection from `remote`, or `None` if a cap is reached.
fn admit(open: &Arc<Mutex<Open>>, limits: &HttpLimits, remote: SocketAddr) -> Option<Slot> {
    let source = source_of(remote);
    let mut table = open.lock().unwrap_or_else(|e| e.into_inner());
    let from_source = table.by_source.get(&source).copied().unwrap_or(0);
    if table.total >= limits.http_max_conns || from_source >= limits.http_max_conns_per_addr.get() {
        return None;
    }
    table.total += 1;
    *table.by_source.entry(source).or_insert(0) += 1;
    Some(Slot {
        open: open.clone(),
        source,
    })
}

/// The TLS side of the HTTP port for `cert`: the relay's crypto provider (ring), TLS 1.3 and
/// 1.2 (reverse proxies and older clients), HTTP/1.1 only (WebSocket upgrades are HTTP/1.1).
pub fn tls_acceptor(cert: &ServedCert) -> anyhow::Result<TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions with ring")?
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())
        .context("the certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A connection's byte stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

/// Serves `app` on `listener` with the bounds of `limits` until `stop` is cancelled; over
/// TLS with `tls`.
pub fn spawn(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve(listener, app, limits, tls, stop))
}

async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let header_timeout = Duration::from_secs(limits.http_header_timeout_secs);
    let open = Arc::new(Mutex::new(Open::default()));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    let idle = Duration::from_secs(limits.http_idle_timeout_secs);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (tcp, remote) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("HTTP accept: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(slot) = admit(&open, &limits, remote) else {
            // Dropped: closed at once, its descriptor given back.
            tracing::debug!(%remote, "HTTP connection over the cap; closed");
            continue;
        };
        // Small writes go out at once: a WebSocket session's frames are small and each waits
        // for nothing else (Nagle's algorithm would hold them for the peer's delayed ACK).
        let _ = tcp.set_nodelay(true);
        let mut io = TimeoutStream::new(tcp);
        io.set_read_timeout(Some(idle));
        io.set_write_timeout(Some(idle));
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut r: hyper::Request<hyper::body::Incoming>| {
                r.extensions_mut().insert(ConnectInfo(remote));
                r
            },
        ));
        let builder = builder.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            let io = Box::pin(io);
            let io: std::pin::Pin<Box<dyn Io>> = match tls {
                None => io,
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(io)).await {
                    Ok(Ok(stream)) => Box::pin(stream),
                    Ok(Err(e)) => return tracing::debug!(%remote, "TLS handshake: {e}"),
                    Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
                },
            };
            let io = TokioIo::new(io);
            let conn = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%remote, "HTTP connection: {e}");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACEFUL_CLOSE, conn).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(GRACEFUL_CLOSE * 2, connections.wait()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_total_and_per_source() {
        let limits = HttpLimits {
            admin_listen: None,
            http_max_conns: 3,
            http_max_conns_per_addr: NonZeroU32::new(2).unwrap(),
            http_header_timeout_secs: 1,
            http_idle_timeout_secs: 1,
        };
        let open = Arc::new(Mutex::new(Open::default()));
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let first = admit(&open, &limits, a).unwrap();
        let _second = admit(&open, &limits, a).unwrap();
        assert!(admit(&open, &limits, a).is_none(), "per source");
        let _third = admit(&open, &limits, b).unwrap();
        assert!(admit(&open, &limits, b).is_none(), "in total");
        drop(first);
        assert!(admit(&open, &limits, a).is_some());
    }
}
