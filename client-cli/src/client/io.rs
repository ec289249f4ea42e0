//! The background tasks of one connection: reading the control stream (routing answers to
//! waiting requests), accepting and reading room streams, reading datagrams.
//!
//! Anything the relay sends that breaks the protocol closes the connection with the matching
//! error code; nothing the relay sends can panic these tasks.

use std::sync::{Mutex, PoisonError};

use chitchat_protocol::{
    ErrorCode, FrameBuffer, RoomFrame, ServerDatagram, ServerFrame, decode_datagram,
};
use tokio::sync::{mpsc, oneshot};

use super::link::{Link, LinkRecv};
use super::{Event, Pending};
use crate::CloseReason;

/// The most bytes taken from a stream per read. Larger reads save wake-ups on busy rooms;
/// QUIC hands out at most what arrived anyway.
const READ_CHUNK: usize = 64 * 1024;

/// The state of one connection that the request side ([`super::Client`]) and the background
/// readers share: requests waiting for their answer, and why this client closed it.
#[derive(Debug, Default)]
pub(super) struct ConnState {
    pending: Mutex<PendingState>,
    /// Why this client closed the connection, when it did so on purpose (quinn only reports
    /// "locally closed", qmux the code it sent).
    local_close: Mutex<Option<CloseReason>>,
    /// The fatal error the relay announced with an Error frame before closing (its
    /// farewell): why the connection ends, even before QUIC reports the close.
    farewell: Mutex<Option<CloseReason>>,
}

#[derive(Debug, Default)]
struct PendingState {
    map: Pending,
    /// The control stream is gone: no answer will ever come.
    closed: bool,
}

impl ConnState {
    /// Registers a request; `None` if the control stream is already gone.
    pub(super) fn register(&self, id: u32) -> Option<oneshot::Receiver<ServerFrame>> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.closed {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        pending.map.insert(id, tx);
        Some(rx)
    }

    /// Stops waiting for `id`'s answer.
    pub(super) fn forget(&self, id: u32) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.map.remove(&id);
    }

    /// Hands an answer to its request; gives the frame back if nobody waits for `id`.
    fn answer(&self, id: u32, frame: ServerFrame) -> Result<(), ServerFrame> {
        let waiting = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.map.remove(&id)
        };
        match waiting {
            Some(tx) => tx.send(frame),
            None => Err(frame),
        }
    }

    /// Fails every waiting request and refuses new ones.
    fn close_pending(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.closed = true;
        pending.map.clear();
    }

    fn set_local_close(&self, reason: CloseReason) {
        let mut slot = self
            .local_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(reason);
    }

    /// Why the connection ended, if it has (or the relay said it is ending it).
    pub(super) fn close_reason(&self, conn: &Link) -> Option<CloseReason> {
        let farewell = self.farewell();
        let reason = match conn.close_reason() {
            Some(reason) => reason,
            None => return farewell,
        };
        let local = self
            .local_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(local.or(farewell).unwrap_or(reason))
    }

    fn farewell(&self) -> Option<CloseReason> {
        self.farewell
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers a fatal Error frame: the relay closes the connection after it.
    fn set_farewell(&self, code: ErrorCode, message: &str) {
        let mut slot = self.farewell.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(CloseReason::Relay {
            code,
            reason: message.to_owned(),
        });
    }

    /// Closes the connection because the relay broke the protocol.
    fn violation(&self, conn: &Link, code: ErrorCode, reason: &str) {
        tracing::warn!(%code, reason, "closing connection: relay broke the protocol");
        self.set_local_close(CloseReason::Local {
            code,
            reason: reason.to_owned(),
        });
        close_with(conn, code, reason);
    }
}

/// Closes `conn` with an application error code and reason.
pub(super) fn close_with(conn: &Link, code: ErrorCode, reason: &str) {
    conn.close(code, reason);
}

/// The variant name of a server frame, for error messages.
pub(super) fn frame_name(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Welcome(_) => "Welcome",
        ServerFrame::Joined(_) => "Joined",
        ServerFrame::Left { .. } => "Left",
        ServerFrame::Sent { .. } => "Sent",
        ServerFrame::History(_) => "History",
        ServerFrame::Members { .. } => "Members",
        ServerFrame::Pong { .. } => "Pong",
        ServerFrame::Error(_) => "Error",
        ServerFrame::GoAway { .. } => "GoAway",
        ServerFrame::Refreshed { .. } => "Refreshed",
        ServerFrame::TokenExpiring { .. } => "TokenExpiring",
        ServerFrame::Rooms { .. } => "Rooms",
        ServerFrame::RoomInfo { .. } => "RoomInfo",
        ServerFrame::Entries(_) => "Entries",
        ServerFrame::ReadMarker { .. } => "ReadMarker",
        ServerFrame::Renamed { .. } => "Renamed",
    }
}

/// The request id an answer carries.
fn answer_id(frame: &ServerFrame) -> Option<u32> {
    match frame {
        ServerFrame::Joined(j) => Some(j.id),
        ServerFrame::Left { id, .. }
        | ServerFrame::Sent { id, .. }
        | ServerFrame::Members { id, .. }
        | ServerFrame::Pong { id, .. }
        | ServerFrame::Refreshed { id, .. }
        | ServerFrame::Rooms { id, .. }
        | ServerFrame::RoomInfo { id, .. }
        | ServerFrame::ReadMarker { id, .. }
        | ServerFrame::Renamed { id, .. } => Some(*id),
        ServerFrame::History(page) => Some(page.id),
        ServerFrame::Entries(page) => Some(page.id),
        ServerFrame::Error(e) => Some(e.id),
        ServerFrame::Welcome(_)
        | ServerFrame::GoAway { .. }
        | ServerFrame::TokenExpiring { .. } => None,
    }
}

/// Reads the control stream until it ends, routing answers and forwarding control events.
pub(super) async fn read_control(
    conn: Link,
    mut recv: LinkRecv,
    mut buf: FrameBuffer,
    state: std::sync::Arc<ConnState>,
    events: mpsc::UnboundedSender<Event>,
) {
    'read: loop {
        loop {
            match buf.next_frame::<ServerFrame>() {
                Ok(Some(frame)) => {
                    if let Err(reason) = dispatch(&state, &events, frame) {
                        state.violation(&conn, ErrorCode::PROTOCOL_VIOLATION, &reason);
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    state.violation(&conn, e.code(), &format!("control stream: {e}"));
                    break 'read;
                }
            }
        }
        match recv.read_chunk(READ_CHUNK).await {
            Ok(Some(chunk)) => buf.extend(&chunk),
            // After a fatal Error frame the relay ends the stream and closes the connection.
            Ok(None) if state.farewell().is_some() => break,
            Ok(None) => {
                state.violation(
                    &conn,
                    ErrorCode::PROTOCOL_VIOLATION,
                    "the relay ended the control stream",
                );
                break;
            }
            Err(_) => break,
        }
    }
    state.close_pending();
}

fn dispatch(
    state: &ConnState,
    events: &mpsc::UnboundedSender<Event>,
    frame: ServerFrame,
) -> Result<(), String> {
    let event = match frame {
        ServerFrame::GoAway {
            reconnect_ms,
            message,
        } => Event::GoAway {
            reconnect_ms,
            message,
        },
        ServerFrame::TokenExpiring { expires_ms } => Event::TokenExpiring { expires_ms },
        ServerFrame::Left { id: 0, room } => Event::RoomRemoved { room },
        ServerFrame::ReadMarker { id: 0, room, seq } => Event::ReadMarker { room, seq },
        ServerFrame::Welcome(_) => return Err("a second Welcome".into()),
        frame => {
            if let ServerFrame::Error(e) = &frame
                && e.code.is_fatal()
            {
                state.set_farewell(e.code, &e.message);
            }
            let Some(id) = answer_id(&frame) else {
                return Err(format!("unexpected {}", frame_name(&frame)));
            };
            match state.answer(id, frame) {
                Ok(()) => return Ok(()),
                Err(ServerFrame::Error(e)) => Event::Notice {
                    code: e.code,
                    message: e.message,
                },
                Err(frame) => {
                    // The request timed out and was forgotten; its late answer is harmless.
                    tracing::debug!(id, frame = frame_name(&frame), "answer nobody waits for");
                    return Ok(());
                }
            }
        }
    };
    // The receiver may be gone (nobody listens for events); answers still flow.
    let _ = events.send(event);
    Ok(())
}

/// Accepts the room streams the relay opens, one reader task each.
pub(super) async fn accept_rooms(
    conn: Link,
    events: mpsc::Sender<Event>,
    state: std::sync::Arc<ConnState>,
) {
    while let Some(recv) = conn.accept_uni().await {
        tokio::spawn(read_room(conn.clone(), recv, events.clone(), state.clone()));
    }
}

/// Reads one room stream: `Open`, then messages and presence until the stream ends.
async fn read_room(
    conn: Link,
    mut recv: LinkRecv,
    events: mpsc::Sender<Event>,
    state: std::sync::Arc<ConnState>,
) {
    let mut buf = FrameBuffer::new();
    let mut room: Option<String> = None;
    loop {
        loop {
            let frame = match buf.next_frame::<RoomFrame>() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    state.violation(&conn, e.code(), &format!("room stream: {e}"));
                    return;
                }
            };
            let event = match (frame, &room) {
                (RoomFrame::Open { room: name, epoch }, None) => {
                    room = Some(name.clone());
                    Event::RoomOpened { room: name, epoch }
                }
                (RoomFrame::Message(m), Some(name)) if m.room == *name => Event::Message(m),
                (RoomFrame::Entry(e), Some(name)) if e.room == *name => Event::Entry(e),
                (RoomFrame::Presence { nick, joined }, Some(name)) => Event::Presence {
                    room: name.clone(),
                    nick,
                    joined,
                },
                (RoomFrame::Renamed { from, to }, Some(name)) => Event::Renamed {
                    room: name.clone(),
                    from,
                    to,
                },
                (RoomFrame::Topic { topic, by }, Some(name)) => Event::Topic {
                    room: name.clone(),
                    topic,
                    by,
                },
                (frame, _) => {
                    let what = match frame {
                        RoomFrame::Open { .. } => "a second Open",
                        RoomFrame::Message(_) if room.is_some() => "a message of another room",
                        _ => "a frame before Open",
                    };
                    state.violation(
                        &conn,
                        ErrorCode::PROTOCOL_VIOLATION,
                        &format!("room stream: {what}"),
                    );
                    return;
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        match recv.read_chunk(READ_CHUNK).await {
            Ok(Some(chunk)) => buf.extend(&chunk),
            Ok(None) => {
                if let Err(e) = buf.finish() {
                    state.violation(&conn, e.code(), &format!("room stream: {e}"));
                }
                return;
            }
            Err(_) => return,
        }
    }
}

/// Reads datagrams (typing signals). Undecodable ones are dropped: datagrams may be lost
/// anyway, so a bad one is no reason to end the session. Dropped too when the consumer is
/// behind, for the same reason.
pub(super) async fn read_datagrams(conn: Link, events: mpsc::Sender<Event>) {
    while let Some(body) = conn.read_datagram().await {
        match decode_datagram::<ServerDatagram>(&body) {
            Ok(ServerDatagram::Typing { room, nick }) => {
                if let Err(mpsc::error::TrySendError::Closed(_)) =
                    events.try_send(Event::Typing { room, nick })
                {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "undecodable datagram dropped"),
        }
    }
}
