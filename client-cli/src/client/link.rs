//! The connection under a [`super::Client`]: a QUIC connection, or QMux over a WebSocket to
//! the relay's HTTP port (docs/protocol.md, Transports). Both carry the same session (a
//! control stream, one relay-opened stream per room, datagrams), so everything above this
//! file is written once.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chitchat_protocol::{ErrorCode, WS_PATH, WS_SUBPROTOCOL};
use futures::FutureExt;
use qmux::ws::tokio_tungstenite::client_async_with_config;
use qmux::ws::tungstenite::client::IntoClientRequest;
use qmux::ws::tungstenite::http::HeaderValue;
use qmux::ws::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use qmux::ws::tungstenite::protocol::WebSocketConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use web_transport_trait::{RecvStream as _, SendStream as _, Session as _};

use crate::{ClientError, CloseReason, RelayAddr};

/// The largest WebSocket message this client reads: one QMux record (at most
/// [`MAX_RECORD`]) with room to spare. A relay sending more is broken, and refused.
const MAX_MESSAGE: usize = 64 * 1024;

/// The QMux record size this client accepts: qmux's default.
const MAX_RECORD: u64 = 16_382;

/// Room streams the relay may open at once; as over QUIC (see `tls.rs`).
const MAX_ROOM_STREAMS: u64 = 1024;

/// One connection to a relay.
#[derive(Debug, Clone)]
pub enum Link {
    Quic(quinn::Connection),
    WebSocket(Arc<WsLink>),
}

/// A QMux session over a WebSocket, and why this client closed it, if it did.
pub struct WsLink {
    session: qmux::Session,
    local_close: Mutex<Option<CloseReason>>,
}

impl std::fmt::Debug for WsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsLink")
    }
}

/// Why a WebSocket connection could not be made, in words for the user; the second field
/// says whether nothing listens at the address (the TCP connection was refused).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WsConnectError(pub String, pub bool);

/// When the probe of a QUIC address sends its datagram again, and how long it waits after
/// the last: ICMP port unreachable comes back within a round trip, so a second covers a
/// distant host, and the resends cover a lost datagram or ICMP message.
const PROBE_SCHEDULE: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(300),
    Duration::from_millis(500),
];

/// What the probe sends: one byte with the QUIC fixed bit clear, which a QUIC server drops
/// without answering (RFC 9000 section 17.2: such a packet is not QUIC).
const PROBE_DATAGRAM: [u8; 1] = [0];

/// Resolves if nothing listens on UDP `addr`: the host answers a datagram with ICMP port
/// unreachable, which Linux reports as `ECONNREFUSED` on a connected UDP socket only (the
/// QUIC endpoint's socket is not connected, and quinn does not report it). Runs beside the
/// QUIC handshake; pending for ever if no refusal comes (a relay there, or a network that
/// drops ICMP: the handshake's own timeout decides then).
pub async fn udp_port_refused(addr: std::net::SocketAddr) {
    let bind = if addr.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else {
        return std::future::pending().await;
    };
    if socket.connect(addr).await.is_err() {
        return std::future::pending().await;
    }
    let refused = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionRefused;
    let mut buf = [0u8; 64];
    for wait in PROBE_SCHEDULE {
        if let Err(e) = socket.send(&PROBE_DATAGRAM).await
            && refused(&e)
        {
            return;
        }
        if let Ok(Err(e)) = tokio::time::timeout(wait, socket.recv(&mut buf)).await
            && refused(&e)
        {
            return;
        }
    }
    std::future::pending().await
}

/// The QMux settings of a client session: the relay's liveness is checked as over QUIC (a
/// `QX_PING` when this side has been quiet for a third of `idle`, the session taken for
/// dead after `idle` without a sign of life), no round-trip pings besides.
fn session_config(idle: Duration) -> qmux::Config {
    let mut config = qmux::Config::default();
    config.max_idle_timeout = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1);
    config.rtt_interval = Duration::ZERO;
    config.max_record_size = MAX_RECORD;
    config.max_streams_bidi = 0;
    config.max_streams_uni = MAX_ROOM_STREAMS;
    config
}

/// Opens a QMux session over a WebSocket to `url` on `stream` (plain TCP or TLS).
async fn websocket<S>(url: &str, stream: S, idle: Duration) -> Result<Link, WsConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let fail = |e: &dyn std::fmt::Display| WsConnectError(e.to_string(), false);
    let mut request = url.into_client_request().map_err(|e| fail(&e))?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(WS_SUBPROTOCOL),
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (ws, response) = client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| WsConnectError(format!("WebSocket upgrade refused: {e}"), false))?;
    let agreed = response.headers().get(SEC_WEBSOCKET_PROTOCOL);
    if agreed.map(HeaderValue::as_bytes) != Some(WS_SUBPROTOCOL.as_bytes()) {
        return Err(WsConnectError(
            format!(
                "the server did not agree to the subprotocol {WS_SUBPROTOCOL} (not a ChitChat relay?)"
            ),
            false,
        ));
    }
    let session = qmux::ws::Upgraded::new(ws)
        .with_alpn(WS_SUBPROTOCOL)
        .with_session_config(session_config(idle))
        .connect();
    Ok(Link::WebSocket(Arc::new(WsLink {
        session,
        local_close: Mutex::new(None),
    })))
}

/// Connects to `relay`'s WebSocket transport: TCP to its HTTP port, TLS with `wss` (for a
/// `wss://` relay), the WebSocket upgrade, QMux with the relay taken for dead after `idle`
/// without a sign of life.
pub async fn dial(
    relay: &RelayAddr,
    wss: Option<&tokio_rustls::TlsConnector>,
    idle: Duration,
) -> Result<Link, WsConnectError> {
    let tcp = tokio::net::TcpStream::connect((relay.host(), relay.port()))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => WsConnectError(
                format!("no relay answering at {relay} (connection refused)"),
                true,
            ),
            _ => WsConnectError(format!("cannot connect over TCP: {e}"), false),
        })?;
    // Frames are small and each waits for nothing else.
    let _ = tcp.set_nodelay(true);
    let url = websocket_url(relay.host(), relay.port(), wss.is_some());
    let Some(wss) = wss else {
        return websocket(&url, tcp, idle).await;
    };
    let name = rustls::pki_types::ServerName::try_from(relay.host().to_owned())
        .map_err(|e| WsConnectError(format!("not a TLS server name: {e}"), false))?;
    let stream = wss
        .connect(name, tcp)
        .await
        .map_err(|e| WsConnectError(e.to_string(), false))?;
    websocket(&url, stream, idle).await
}

/// `relay` could not be reached, for `reason`: [`ClientError::Certificate`] when the
/// reason is its certificate (TLS over TCP and QUIC's handshake word it alike), else
/// [`ClientError::Unreachable`]; `ca` is the CA file trusted.
pub(super) fn unreachable(relay: String, ca: &std::path::Path, reason: String) -> ClientError {
    let ca = ca.to_path_buf();
    if reason.contains("certificate") || reason.contains("UnknownIssuer") {
        ClientError::Certificate { relay, ca, reason }
    } else {
        ClientError::Unreachable { relay, ca, reason }
    }
}

/// The URL of a relay's WebSocket transport.
fn websocket_url(host: &str, port: u16, tls: bool) -> String {
    let scheme = if tls { "wss" } else { "ws" };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{port}{WS_PATH}")
    } else {
        format!("{scheme}://{host}:{port}{WS_PATH}")
    }
}

impl CloseReason {
    /// Maps qmux's view of a closed session.
    fn from_qmux(e: &qmux::Error) -> Self {
        match e {
            qmux::Error::ConnectionClosed { code, reason } => CloseReason::Relay {
                code: ErrorCode(u16::try_from(code.into_inner()).unwrap_or(u16::MAX)),
                reason: reason.clone(),
            },
            qmux::Error::IdleTimeout => {
                CloseReason::Lost("the relay stopped answering (timed out)".into())
            }
            qmux::Error::Closed => CloseReason::Lost("the relay closed the WebSocket".into()),
            other => CloseReason::Lost(other.to_string()),
        }
    }
}

impl Link {
    /// Opens the control stream.
    pub async fn open_bi(&self) -> Result<(LinkSend, LinkRecv), CloseReason> {
        match self {
            Link::Quic(c) => match c.open_bi().await {
                Ok((s, r)) => Ok((LinkSend::Quic(s), LinkRecv::Quic(r))),
                Err(e) => Err(CloseReason::from_quinn(&e)),
            },
            Link::WebSocket(c) => match c.session.open_bi().await {
                Ok((s, r)) => Ok((LinkSend::WebSocket(s), LinkRecv::WebSocket(r))),
                Err(e) => Err(CloseReason::from_qmux(&e)),
            },
        }
    }

    /// The next stream the relay opens (a room stream); `None` once the connection is gone.
    pub async fn accept_uni(&self) -> Option<LinkRecv> {
        match self {
            Link::Quic(c) => c.accept_uni().await.ok().map(LinkRecv::Quic),
            Link::WebSocket(c) => c.session.accept_uni().await.ok().map(LinkRecv::WebSocket),
        }
    }

    /// Sends a datagram; it may be lost.
    pub fn send_datagram(&self, body: Bytes) -> Result<(), String> {
        match self {
            Link::Quic(c) => c.send_datagram(body).map_err(|e| e.to_string()),
            Link::WebSocket(c) => c.session.send_datagram(body).map_err(|e| e.to_string()),
        }
    }

    /// The next datagram; `None` once the connection is gone.
    pub async fn read_datagram(&self) -> Option<Bytes> {
        match self {
            Link::Quic(c) => c.read_datagram().await.ok(),
            Link::WebSocket(c) => c.session.recv_datagram().await.ok(),
        }
    }

    /// Closes the connection with an application code and reason.
    pub fn close(&self, code: ErrorCode, reason: &str) {
        match self {
            Link::Quic(c) => c.close(u32::from(code.0).into(), reason.as_bytes()),
            Link::WebSocket(c) => {
                c.local_close
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| CloseReason::Local {
                        code,
                        reason: if code == ErrorCode::NO_ERROR {
                            "closed by this client".into()
                        } else {
                            reason.to_owned()
                        },
                    });
                c.session.close(u32::from(code.0), reason);
            }
        }
    }

    /// Why the connection ended, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self {
            Link::Quic(c) => c.close_reason().map(|e| CloseReason::from_quinn(&e)),
            Link::WebSocket(c) => {
                let local = c
                    .local_close
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                local.or_else(|| {
                    c.session
                        .closed()
                        .now_or_never()
                        .map(|e| CloseReason::from_qmux(&e))
                })
            }
        }
    }

    /// Waits until the connection is closed; why.
    pub async fn closed(&self) -> CloseReason {
        match self {
            Link::Quic(c) => CloseReason::from_quinn(&c.closed().await),
            Link::WebSocket(c) => {
                let e = c.session.closed().await;
                self.close_reason()
                    .unwrap_or_else(|| CloseReason::from_qmux(&e))
            }
        }
    }

    /// The QUIC connection, for its statistics; `None` over a WebSocket.
    pub fn quic(&self) -> Option<&quinn::Connection> {
        match self {
            Link::Quic(c) => Some(c),
            Link::WebSocket(_) => None,
        }
    }
}

/// The client's half of the control stream.
pub enum LinkSend {
    Quic(quinn::SendStream),
    WebSocket(qmux::SendStream),
}

impl std::fmt::Debug for LinkSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkSend::Quic(_) => "LinkSend::Quic",
            LinkSend::WebSocket(_) => "LinkSend::WebSocket",
        })
    }
}

impl LinkSend {
    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            LinkSend::Quic(s) => s.write_all(bytes).await.map_err(|e| e.to_string()),
            LinkSend::WebSocket(s) => s.write_all(bytes).await.map_err(|e| e.to_string()),
        }
    }
}

/// A stream the client reads (the control stream or a room stream).
pub enum LinkRecv {
    Quic(quinn::RecvStream),
    WebSocket(qmux::RecvStream),
}

impl LinkRecv {
    /// The next bytes, at most `max`; `None` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, String> {
        match self {
            LinkRecv::Quic(s) => match s.read_chunk(max, true).await {
                Ok(chunk) => Ok(chunk.map(|c| c.bytes)),
                Err(e) => Err(e.to_string()),
            },
            LinkRecv::WebSocket(s) => s.read_chunk(max).await.map_err(|e| e.to_string()),
        }
    }
}
