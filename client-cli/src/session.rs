//! A session that outlives relays: it reconnects after a lost connection, a GoAway or a
//! SLOW_CONSUMER close, cycling through every configured relay with backoff, re-joins every
//! room from the last message it delivered (retrying, with backoff, a room the relay cannot
//! take back yet), and drops what it already delivered. Its user
//! sees every message of a joined room exactly once, in order, across relay restarts.
//!
//! The session runs as one task (session/actor.rs) owning the connection and the resume
//! [`crate::resume::Tracker`]; the user talks to it through a [`SessionHandle`] (requests,
//! answered in order) and reads [`SessionEvents`]. The task never blocks on a user who is
//! slow to read events while requests wait: it stops taking room events from the relay
//! instead (and QUIC flow control pushes back). This file holds what the user sees
//! (settings, events, the handle); [`start`] spawns the task.

mod actor;
mod refresh;

use std::time::Duration;

use chitchat_protocol::{
    Entry, EntryPage, ErrorCode, HistoryPage, Joined, Message, ResumeOutcome, ResumePoint, Welcome,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::client::rooms::RoomPage;
use crate::client::{ClientConfig, Sent};
use crate::token::TokenSource;
use crate::{ClientError, CloseReason, RelayAddr};

pub use actor::start;

/// Settings of a resilient session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Relays to use, tried in turn; at least one.
    pub relays: Vec<RelayAddr>,
    /// The nick to use.
    pub nick: String,
    /// Connection settings.
    pub client: ClientConfig,
    /// First wait before reconnecting after a lost connection.
    pub backoff_min: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
    /// Where the sign-in token comes from (token mode); a file or a command gives fresh
    /// ones when the relay says the current one is expiring.
    pub token: Option<TokenSource>,
}

impl SessionConfig {
    /// A session on `relays` as `nick`, reconnecting after 100 ms at first and at most every
    /// 3 s: quick after a blip, gentle on a relay that is coming back.
    pub fn new(relays: Vec<RelayAddr>, nick: impl Into<String>, client: ClientConfig) -> Self {
        SessionConfig {
            relays,
            nick: nick.into(),
            client,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(3),
            token: None,
        }
    }
}

/// What a session tells its user.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// A room message, each exactly once, in seq order per room.
    Message(Message),
    /// A room's log entry (version 2: every message and change), each exactly once, in seq
    /// order per room.
    Entry(Entry),
    /// Someone joined or left a joined room.
    Presence {
        room: String,
        nick: String,
        joined: bool,
    },
    /// Someone is typing in a joined room.
    Typing { room: String, nick: String },
    /// A member of a joined room is now known as `to`.
    Renamed {
        room: String,
        from: String,
        to: String,
    },
    /// A joined room's topic: as it stands at each join (`by` empty), then each change
    /// (`by`: who changed it; empty for a change through the server API).
    Topic {
        room: String,
        topic: String,
        by: String,
    },
    /// Another session of this user read `room` up to `seq` (or the stored marker came
    /// after a join): unread counts up to it can go.
    ReadMarker { room: String, seq: u64 },
    /// The connection to `relay` ended; the session reconnects.
    Disconnected {
        relay: RelayAddr,
        reason: CloseReason,
    },
    /// The relay announced it is going away; the session moves on after `reconnect_in`.
    Moving {
        relay: RelayAddr,
        message: String,
        reconnect_in: Duration,
    },
    /// A reconnection attempt failed; the next follows after `retry_in`.
    ConnectFailed {
        error: ClientError,
        retry_in: Duration,
    },
    /// Connected (again) to `relay`; rooms are being re-joined.
    Connected { relay: RelayAddr, welcome: Welcome },
    /// A room was re-joined after a reconnection; messages after `after` follow.
    /// `outcome` says whether history still reached back (see [`ResumeOutcome`]).
    Resumed {
        room: String,
        outcome: ResumeOutcome,
        after: ResumePoint,
    },
    /// A room could not be re-joined yet (e.g. `UNAVAILABLE`: the relay's message store is
    /// unreachable); it stays joined for the session, which tries again after `retry_in`
    /// and sends [`SessionEvent::Resumed`] once it is back.
    RejoinFailed {
        room: String,
        error: ClientError,
        retry_in: Duration,
    },
    /// A room can never be re-joined (the relay refuses its name, or a refreshed token no
    /// longer grants it) and is no longer joined.
    RoomLost { room: String, error: ClientError },
    /// Token mode: a fresh token replaced the session's, without reconnecting; it expires at
    /// `expires_ms` (ms since the Unix epoch, 0: never).
    Refreshed { expires_ms: u64 },
    /// Token mode: the relay said the token expires at `expires_ms`, and no fresh one could
    /// be had (`error` says why); the relay will end the session then.
    RefreshFailed { error: ClientError, expires_ms: u64 },
    /// The relay reported an error not tied to a request.
    Notice { code: ErrorCode, message: String },
    /// The session gave up; no event follows.
    Fatal(ClientError),
}

/// A request from a [`SessionHandle`] to the session task, with where to send the answer.
enum Request {
    Join {
        room: String,
        resume: Option<ResumePoint>,
        reply: oneshot::Sender<Result<Joined, ClientError>>,
    },
    Leave {
        room: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    Send {
        room: String,
        text: String,
        reply: oneshot::Sender<Result<Sent, ClientError>>,
    },
    History {
        room: String,
        before: Option<u64>,
        limit: u16,
        reply: oneshot::Sender<Result<EntryPage, ClientError>>,
    },
    Who {
        room: String,
        reply: oneshot::Sender<Result<Vec<String>, ClientError>>,
    },
    ListRooms {
        search: String,
        limit: u16,
        reply: oneshot::Sender<Result<RoomPage, ClientError>>,
    },
    Nick {
        nick: String,
        reply: oneshot::Sender<Result<Welcome, ClientError>>,
    },
    Typing {
        room: String,
    },
    MarkRead {
        room: String,
        seq: u64,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// Sends requests through a session. Cheap to clone. Requests made while the session is
/// reconnecting wait until it is connected again.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    requests: mpsc::Sender<Request>,
    welcome: watch::Receiver<Welcome>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Request::Join { .. } => "Join",
            Request::Leave { .. } => "Leave",
            Request::Send { .. } => "Send",
            Request::History { .. } => "History",
            Request::Who { .. } => "Who",
            Request::ListRooms { .. } => "ListRooms",
            Request::Nick { .. } => "Nick",
            Request::Typing { .. } => "Typing",
            Request::MarkRead { .. } => "MarkRead",
            Request::Close { .. } => "Close",
        };
        f.write_str(name)
    }
}

impl SessionHandle {
    /// Joins `room` (see [`crate::Client::join`]); the session keeps it joined across
    /// reconnections.
    pub async fn join(
        &self,
        room: &str,
        resume: Option<ResumePoint>,
    ) -> Result<Joined, ClientError> {
        let room = room.to_owned();
        self.call(|reply| Request::Join {
            room,
            resume,
            reply,
        })
        .await
    }

    /// Leaves `room`.
    pub async fn leave(&self, room: &str) -> Result<(), ClientError> {
        let room = room.to_owned();
        self.call(|reply| Request::Leave { room, reply }).await
    }

    /// Sends `text` to a joined room. Not retried: if the connection is lost before the
    /// answer, the error says so and the text may or may not have been stored.
    pub async fn send(&self, room: &str, text: &str) -> Result<Sent, ClientError> {
        let (room, text) = (room.to_owned(), text.to_owned());
        self.call(|reply| Request::Send { room, text, reply }).await
    }

    /// One page of history (see [`crate::Client::history`]).
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u16,
    ) -> Result<HistoryPage, ClientError> {
        let page = self.history_states(room, before, limit).await?;
        Ok(crate::client::entries::as_history(page))
    }

    /// One page of history, each message in its latest state (edited, deleted, reactions).
    pub async fn history_states(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u16,
    ) -> Result<EntryPage, ClientError> {
        let room = room.to_owned();
        self.call(|reply| Request::History {
            room,
            before,
            limit,
            reply,
        })
        .await
    }

    /// The nicks in a joined room.
    pub async fn who(&self, room: &str) -> Result<Vec<String>, ClientError> {
        let room = room.to_owned();
        self.call(|reply| Request::Who { room, reply }).await
    }

    /// The first page (up to `limit`) of the room directory matching `search`.
    pub async fn list_rooms(&self, search: &str, limit: u16) -> Result<RoomPage, ClientError> {
        let search = search.to_owned();
        self.call(|reply| Request::ListRooms {
            search,
            limit,
            reply,
        })
        .await
    }

    /// Changes the nick: a rename on the live session when the relay speaks version 3
    /// (others see a rename), else a reconnection under the new nick, resuming every room
    /// (others see a leave and a join). Later reconnections use the new nick.
    pub async fn set_nick(&self, nick: &str) -> Result<Welcome, ClientError> {
        let nick = nick.to_owned();
        self.call(|reply| Request::Nick { nick, reply }).await
    }

    /// Tells a room this user is typing (best effort, never waits).
    pub fn typing(&self, room: &str) {
        let _ = self.requests.try_send(Request::Typing {
            room: room.to_owned(),
        });
    }

    /// Marks `room` read up to `seq` for this user's other sessions (best effort, never
    /// waits; a relay below version 3, or a guest without its nick's secret, keeps none).
    pub fn mark_read(&self, room: &str, seq: u64) {
        let _ = self.requests.try_send(Request::MarkRead {
            room: room.to_owned(),
            seq,
        });
    }

    /// The current relay's Welcome.
    pub fn welcome(&self) -> Welcome {
        self.welcome.borrow().clone()
    }

    /// Closes the session and its connection (telling the relay); waits until done.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn call<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, ClientError>>) -> Request,
    ) -> Result<T, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .await
            .map_err(|_| ClientError::SessionEnded)?;
        answer.await.map_err(|_| ClientError::SessionEnded)?
    }
}

/// The events of a session, in order.
#[derive(Debug)]
pub struct SessionEvents {
    events: mpsc::Receiver<SessionEvent>,
}

impl SessionEvents {
    /// The next event; `None` once the session has ended. Cancel-safe.
    pub async fn next(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }
}
