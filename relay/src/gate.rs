//! What every established connection passes before its session, whatever its transport
//! (QUIC, WebTransport, WebSocket): the drain, the sessions-per-address cap and
//! `--max-sessions`. A connection turned away is told why: an Error frame (id 0) on its
//! control stream, then the close with the same code.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chitchat_protocol::{ErrorCode, ErrorFrame, ServerFrame, encode_frame};

use crate::admission::HandshakeSlot;
use crate::session::{self, RelayState};
use crate::transport::Conn;

/// How long a connection that is turned away (relay full, too many from its address,
/// shutting down) is given to open its control stream and read the Error frame that says
/// why: browsers do not reliably see close codes, so the frame is what they show.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);

/// Admits an established connection and runs its session, or turns it away. `slot` counts
/// the connection against its source until the session starts.
pub async fn run(conn: Conn, slot: HandshakeSlot, state: Arc<RelayState>) {
    // Turned-away connections keep their handshake slot until they are closed: refusing
    // is bounded by the same caps as handshaking.
    if state.shutdown.is_cancelled() {
        return refuse(
            &conn,
            &state,
            ErrorCode::SHUTTING_DOWN,
            "relay shutting down",
        )
        .await;
    }
    let Ok(_source) = slot.session() else {
        return refuse(
            &conn,
            &state,
            ErrorCode::TOO_MANY_FROM_ADDRESS,
            "too many sessions from this address; close one or try again later",
        )
        .await;
    };
    let open = state.sessions.fetch_add(1, Ordering::AcqRel) + 1;
    let _admitted = SessionCount(&state);
    if open > state.limits.max_sessions {
        return refuse(
            &conn,
            &state,
            ErrorCode::SERVER_BUSY,
            "relay is full; try another relay or again later",
        )
        .await;
    }
    drop(slot);
    session::run(conn, state.clone()).await;
}

/// Turns an established connection away so that both kinds of client see why: the Error
/// frame (id 0) on the control stream once the client opens it (within [`REFUSAL_WAIT`]),
/// then the close with the same code.
async fn refuse(conn: &Conn, state: &RelayState, code: ErrorCode, message: &str) {
    state.metrics.error(code);
    tracing::debug!(%code, "turning a connection away");
    let frame = ServerFrame::Error(ErrorFrame {
        id: 0,
        code,
        message: message.to_string(),
    });
    if let Ok(bytes) = encode_frame(&frame) {
        let _ = tokio::time::timeout(REFUSAL_WAIT, async {
            let Ok((mut send, _recv)) = conn.accept_bi().await else {
                return;
            };
            if send.write_all(&bytes).await.is_ok() && send.finish().is_ok() {
                send.stopped().await;
            }
        })
        .await;
    }
    conn.close(code, message);
}

/// Decrements the open-session count when a session ends, however it ends.
struct SessionCount<'a>(&'a RelayState);

impl Drop for SessionCount<'_> {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}
