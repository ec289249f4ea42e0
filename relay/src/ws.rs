//! The WebSocket transport on the HTTP port, for networks without UDP and browsers without a
//! working WebTransport: `GET /ws` upgraded to a WebSocket with the subprotocol
//! `qmux-02.chitchat-1`, over which QMux (draft-ietf-quic-qmux-02, the `qmux` crate) carries
//! the very session a QUIC connection does: the control stream, one relay-opened stream per
//! joined room, typing signals as QMux datagrams. Once upgraded, the connection is a
//! [`Conn::WebSocket`] and passes the same gate (drain, sessions per address, max sessions)
//! and session code as the other transports.
//!
//! Refusals before the upgrade are plain HTTP answers: 400 for a request that is not a
//! WebSocket upgrade or offers no subprotocol of ours, 426 for another WebSocket version,
//! 503 while shutting down or when the address has too many handshakes in progress.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chitchat_protocol::{WS_PATH, WS_SUBPROTOCOL};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use qmux::ws::tokio_tungstenite::WebSocketStream;
use qmux::ws::tungstenite::handshake::derive_accept_key;
use qmux::ws::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, Verdict};
use crate::gate;
use crate::session::RelayState;
use crate::transport::{Conn, WsConn};

/// The largest WebSocket message (and frame) the relay reads. A QMux record is one message
/// and the relay asks for records of at most [`MAX_RECORD`]; anything larger is refused
/// before it is buffered.
const MAX_MESSAGE: usize = 64 * 1024;

/// The QMux record size the relay accepts (the transport parameter `max_record_size`):
/// qmux's default, one frame of a 16 KiB room or control write.
const MAX_RECORD: u64 = 16_382;

/// Bytes a session's WebSocket may hold unsent before writes fail: a client that stops
/// reading fills the TCP window and this, then its room streams stall, its hub queues
/// overflow and the session ends SLOW_CONSUMER, as over QUIC.
const MAX_WRITE_BUFFER: usize = 1 << 20;

/// Streams a client may open: one control stream. A second is refused by QMux flow
/// control (STREAMS_BLOCKED), not by the session.
const CLIENT_BIDI_STREAMS: u64 = 1;

/// Connection-level receive window: a client's requests are small, one Send is at most a
/// few KiB, and at most a few requests are in flight.
const RECEIVE_WINDOW: u64 = 256 * 1024;

/// Largest QMux DATAGRAM frame the relay receives: a typing signal is a room name and a
/// few bytes.
const MAX_DATAGRAM_FRAME: u64 = 1200;

/// What the `/ws` route needs: the sessions' state, the admission table shared with the
/// QUIC endpoint, and the relay's task tracker (the drain waits for these sessions too).
pub struct WsGate {
    pub state: Arc<RelayState>,
    pub admission: Arc<Admission>,
    pub tracker: TaskTracker,
}

/// The `/ws` route.
pub fn router(gate: Arc<WsGate>) -> Router {
    Router::new().route(WS_PATH, get(upgrade)).with_state(gate)
}

/// Why a request to `/ws` is not upgraded.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("not a WebSocket upgrade request")]
    NotWebSocket,
    #[error("only WebSocket version 13 is supported")]
    Version,
    #[error("no supported subprotocol; this relay speaks {WS_SUBPROTOCOL}")]
    Subprotocol,
    #[error("relay shutting down")]
    ShuttingDown,
    #[error("too many connections from this address; try again later")]
    Busy,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match self {
            Refusal::NotWebSocket | Refusal::Subprotocol => StatusCode::BAD_REQUEST,
            Refusal::Version => StatusCode::UPGRADE_REQUIRED,
            Refusal::ShuttingDown | Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = (status, self.to_string()).into_response();
        if matches!(self, Refusal::Version) {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

/// Whether `name`'s comma-separated values hold `token` (case-insensitive).
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

/// Checks the upgrade request; the client's `Sec-WebSocket-Key` on success.
fn check(headers: &HeaderMap) -> Result<HeaderValue, Refusal> {
    if !lists(headers, header::UPGRADE, "websocket")
        || !lists(headers, header::CONNECTION, "upgrade")
    {
        return Err(Refusal::NotWebSocket);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(Refusal::NotWebSocket)?;
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err(Refusal::Version);
    }
    // Subprotocols are case-sensitive tokens.
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == WS_SUBPROTOCOL);
    if !offered {
        return Err(Refusal::Subprotocol);
    }
    HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| Refusal::NotWebSocket)
}

async fn upgrade(State(gate): State<Arc<WsGate>>, mut request: Request) -> Response {
    let accept = match check(request.headers()) {
        Ok(accept) => accept,
        Err(refusal) => return refusal.into_response(),
    };
    if gate.state.shutdown.is_cancelled() {
        return Refusal::ShuttingDown.into_response();
    }
    let Some(remote) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
    else {
        tracing::error!("the HTTP server gave no peer address");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // A WebSocket's handshake is counted like a QUIC one: per address and in total. TCP has
    // already proven the address, so there is no Retry.
    let (Verdict::Accept, Some(slot)) = gate.admission.judge(remote, true) else {
        return Refusal::Busy.into_response();
    };
    let upgraded = hyper::upgrade::on(&mut request);
    let state = gate.state.clone();
    let handshake = state.limits.handshake_timeout();
    let span = tracing::info_span!("conn", %remote, transport = "websocket", session = tracing::field::Empty);
    gate.tracker.spawn(tracing::Instrument::instrument(
        async move {
            let io = match tokio::time::timeout(handshake, upgraded).await {
                Ok(Ok(io)) => TokioIo::new(io),
                Ok(Err(e)) => return tracing::debug!("WebSocket upgrade failed: {e}"),
                Err(_) => return tracing::debug!("WebSocket upgrade timed out"),
            };
            let conn = open_session(io, remote).await;
            gate::run(conn, slot, state).await;
        },
        span,
    ));
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
            (
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(WS_SUBPROTOCOL),
            ),
        ],
    )
        .into_response()
}

/// The QMux session over an upgraded connection.
async fn open_session<T>(io: T, remote: SocketAddr) -> Conn
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .max_write_buffer_size(MAX_WRITE_BUFFER);
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let ws = ws.inspect(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let session = qmux::ws::Upgraded::new(ws)
        .with_alpn(WS_SUBPROTOCOL)
        .with_session_config(session_config())
        .accept();
    Conn::WebSocket(Arc::new(WsConn {
        session,
        remote,
        received,
    }))
}

/// The relay's QMux transport parameters.
fn session_config() -> qmux::Config {
    let mut config = qmux::Config::default();
    config.max_streams_bidi = CLIENT_BIDI_STREAMS;
    config.max_streams_uni = 0;
    config.max_data = RECEIVE_WINDOW;
    config.max_stream_data_bidi_remote = RECEIVE_WINDOW;
    config.max_stream_data_bidi_local = RECEIVE_WINDOW;
    config.max_stream_data_uni = 0;
    config.max_record_size = MAX_RECORD;
    config.max_datagram_frame_size = MAX_DATAGRAM_FRAME;
    // No idle timeout of the relay's own: QMux would then ping a quiet client, its answers
    // would count as activity, and the session's idle close (IDLE_TIMEOUT) could never
    // fire. A client that asks for one keeps its session alive with its pings, as a QUIC
    // client does with keep-alives; a vanished one is closed by the idle watch.
    config.max_idle_timeout = 0;
    // No round-trip measurement pings, for the same reason (and their cost per session).
    config.rtt_interval = Duration::ZERO;
    config
}
