//! Every value that crosses the wire between a client and a relay.
//!
//! Four channels carry them (see docs/protocol.md):
//! - the control stream (one bidirectional stream per session): [`ClientFrame`] up,
//!   [`ServerFrame`] down, every request answered by a frame carrying its `id`;
//! - one server-to-client unidirectional stream per joined room: [`RoomFrame`]s, starting with
//!   [`RoomFrame::Open`];
//! - datagrams, for signals that may be lost: [`ClientDatagram`] up, [`ServerDatagram`] down.
//!
//! The order of variants and fields is the wire format: never reorder, only append.

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// A frame a client sends on its control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// First frame of every session; anything else first is a protocol violation.
    Hello(Hello),
    /// Join a room. Answered by [`ServerFrame::Joined`]; the room's messages then arrive on
    /// a room stream.
    Join {
        id: u32,
        room: String,
        /// Resume after this point: the relay sends every stored message after it, then
        /// live ones, each exactly once. `None`: live messages only.
        resume: Option<ResumePoint>,
    },
    /// Leave a room. Answered by [`ServerFrame::Left`]; the room stream is finished.
    Leave { id: u32, room: String },
    /// Send a text to a joined room. Answered by [`ServerFrame::Sent`] once it is stored.
    Send { id: u32, room: String, text: String },
    /// A page of stored messages, newest first from `before` (exclusive; `None`: the newest).
    History {
        id: u32,
        room: String,
        before: Option<u64>,
        limit: u16,
    },
    /// Who is in a joined room. Answered by [`ServerFrame::Members`].
    Who { id: u32, room: String },
    /// Liveness and round-trip check. Answered by [`ServerFrame::Pong`].
    Ping { id: u32 },
    /// [`ClientFrame::Send`] with the client's id for this send (e.g. random per message),
    /// so that a retry is stored once: the relay remembers `(room, nick, send_id)` for ten
    /// minutes, and a repeat is answered with the original message's `Sent` (the original
    /// text wins) and stores nothing. `send_id` 0 means none (plain `Send`).
    SendOnce {
        id: u32,
        room: String,
        text: String,
        send_id: u64,
    },
    /// Replace the session's token (token mode) with a fresh one, without reconnecting:
    /// answered by [`ServerFrame::Refreshed`]. The new token must name the same user; a token
    /// that fails verification is answered with `UNAUTHORIZED`, which closes the session.
    Refresh { id: u32, token: String },
    /// A page of the room directory: public rooms whose name or topic contains `search`
    /// (case-insensitive; empty: every one), in name order after `after`, at most `limit`
    /// (1 to [`crate::MAX_ROOMS_PAGE`]). Answered by [`ServerFrame::Rooms`].
    ListRooms {
        id: u32,
        search: String,
        after: Option<String>,
        limit: u16,
    },
    /// Make a room with a topic (see [`crate::validate_topic`]). Answered by
    /// [`ServerFrame::RoomInfo`], or `ROOM_EXISTS`.
    CreateRoom {
        id: u32,
        room: String,
        topic: String,
    },
    /// Change the topic of a room this session has joined (token mode: with write access).
    /// Answered by [`ServerFrame::RoomInfo`].
    SetTopic {
        id: u32,
        room: String,
        topic: String,
    },
    /// Version 2: [`ClientFrame::SendOnce`] with an optional reply target, the seq of a text
    /// entry of the same room (`NO_SUCH_MESSAGE` if it is not one). Answered by
    /// [`ServerFrame::Sent`].
    Post {
        id: u32,
        room: String,
        text: String,
        send_id: u64,
        reply_to: Option<u64>,
    },
    /// Version 2: a new log entry that replaces the text of text entry `seq`. Author only
    /// (`NOT_AUTHOR`), not deleted (`NO_SUCH_MESSAGE`), at most [`crate::MAX_EDITS`] edits per
    /// message (`EDIT_LIMIT`); text rules as for `Send`. Answered by [`ServerFrame::Sent`]
    /// with the edit entry's seq.
    Edit {
        id: u32,
        room: String,
        seq: u64,
        text: String,
    },
    /// Version 2: a new log entry that deletes text entry `seq`, leaving a tombstone. Author
    /// only; a deleted message is `NO_SUCH_MESSAGE`. Answered by [`ServerFrame::Sent`].
    Delete { id: u32, room: String, seq: u64 },
    /// Version 2: add (`on`) or remove this user's reaction `emoji` (one of
    /// [`crate::REACTIONS`], else `INVALID_REQUEST`) on text entry `seq`. A reaction that
    /// changes nothing stores no entry and is answered with the `Sent` of the entry that made
    /// the current state (the message's own entry when removing one never added).
    React {
        id: u32,
        room: String,
        seq: u64,
        emoji: String,
        on: bool,
    },
    /// Version 3: read markers (answered by [`ServerFrame::ReadMarker`]).
    MarkRead { id: u32, room: String, seq: u64 },
    /// Version 3: change the session's nick without reconnecting. Answered by
    /// [`ServerFrame::Renamed`]; every joined room's members then get
    /// [`RoomFrame::Renamed`] (version 1 and 2 sessions: a leave and a join). Refused with
    /// `INVALID_NICK`, `NICK_TAKEN` (another guest secret holds it), `NICK_LOOKALIKE` (a
    /// member of a joined room has a nick that looks the same), `RATE_LIMITED`, or
    /// `FORBIDDEN` in token mode (the token names the user).
    Rename { id: u32, nick: String },
}

/// Opens a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The newest version the client speaks: from [`crate::MIN_PROTOCOL_VERSION`] to
    /// [`crate::PROTOCOL_VERSION`]; the session speaks the lower of this and the relay's.
    pub version: u16,
    /// The name others see; see [`crate::validate_nick`].
    pub nick: String,
    /// Open mode: the client's secret for its guest nick (it claims the nick, or proves the
    /// claim); token mode: the operator's signed token (a JWT). See docs/protocol.md.
    pub token: Option<String>,
}

/// The last message a client saw in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// The room history's epoch the client saw, or 0 for "whatever the current epoch is"
    /// (e.g. `chitchat tail --since N`).
    pub epoch: u64,
    /// The last seq seen; 0 means "from the beginning".
    pub seq: u64,
}

/// A frame the relay sends on a session's control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// Answers [`Hello`].
    Welcome(Welcome),
    /// Answers [`ClientFrame::Join`].
    Joined(Joined),
    /// Answers [`ClientFrame::Leave`].
    Left { id: u32, room: String },
    /// Answers [`ClientFrame::Send`]: the message is stored under `seq`.
    Sent {
        id: u32,
        room: String,
        epoch: u64,
        seq: u64,
        /// Server time the message was stored, milliseconds since the Unix epoch.
        ts: u64,
    },
    /// Answers [`ClientFrame::History`].
    History(HistoryPage),
    /// Answers [`ClientFrame::Who`].
    Members {
        id: u32,
        room: String,
        members: Vec<String>,
    },
    /// Answers [`ClientFrame::Ping`]; `ts` is the relay's clock (ms since the Unix epoch).
    Pong { id: u32, ts: u64 },
    /// A request failed (`id` names it), or, with `id` 0, the session is about to close.
    Error(ErrorFrame),
    /// The relay is shutting down: reconnect (to another relay if there is one) after
    /// `reconnect_ms`, resuming every room. The relay closes the connection shortly after.
    GoAway { reconnect_ms: u32, message: String },
    /// Answers [`ClientFrame::Refresh`]: the new token is the session's; it expires at
    /// `expires_ms` (ms since the Unix epoch; 0: never).
    Refreshed { id: u32, expires_ms: u64 },
    /// Token mode: the session's token expires at `expires_ms` (ms since the Unix epoch);
    /// send a [`ClientFrame::Refresh`] before then, or the session is closed with
    /// `TOKEN_EXPIRED`.
    TokenExpiring { expires_ms: u64 },
    /// Answers [`ClientFrame::ListRooms`]: `next` is the name to ask after for more, `None`
    /// at the end. A page may hold fewer than `limit` rooms while `next` is set.
    Rooms {
        id: u32,
        rooms: Vec<RoomSummary>,
        next: Option<String>,
    },
    /// Answers [`ClientFrame::CreateRoom`] and [`ClientFrame::SetTopic`]: the room now.
    RoomInfo { id: u32, room: RoomSummary },
    /// Version 2: answers [`ClientFrame::History`] (instead of [`ServerFrame::History`]).
    Entries(EntryPage),
    /// Version 3: a room's read marker (see [`ClientFrame::MarkRead`]).
    ReadMarker { id: u32, room: String, seq: u64 },
    /// Version 3: answers [`ClientFrame::Rename`]: the session's nick is now `nick`.
    Renamed { id: u32, nick: String },
}

/// A room as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: String,
    /// Empty for none.
    pub topic: String,
    /// Nicks in the room on any relay of the cluster.
    pub members: u32,
    /// The newest seq (0: no messages yet).
    pub last_seq: u64,
    /// When the newest message was stored, ms since the Unix epoch (0: no messages yet).
    pub last_activity_ms: u64,
    /// Who made the room (the first to join or post to its name, unless made with a topic).
    pub created_by: String,
}

/// Answers [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The version the session speaks: the lower of the Hello's and the relay's.
    pub version: u16,
    /// The relay's node id, for logs and for telling relays apart in a cluster.
    pub node_id: String,
    /// Unique per relay process; appears in the relay's logs.
    pub session_id: u64,
    /// The nick as the relay recorded it.
    pub nick: String,
    pub limits: Limits,
}

/// The relay's limits, so clients can check before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_text_bytes: u32,
    pub max_rooms: u32,
    /// Sustained messages per second per session.
    pub msgs_per_sec: u32,
    /// How many messages may be sent at once above the sustained rate.
    pub msgs_burst: u32,
    /// The most messages one History page holds.
    pub history_page: u16,
}

/// Answers [`ClientFrame::Join`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    pub id: u32,
    pub room: String,
    /// The epoch of the room's history now.
    pub epoch: u64,
    /// The newest stored seq (0: the room has no messages yet).
    pub last_seq: u64,
    /// Nicks in the room, this session's included, sorted, each once.
    pub members: Vec<String>,
    /// What became of the requested resume point.
    pub resume: ResumeOutcome,
}

/// How a Join's resume point was honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResumeOutcome {
    /// No resume point was given: live messages only.
    Live,
    /// Every message after the resume point follows, then live ones.
    Resumed,
    /// The history's epoch differs from the resume point's: the store lost its history.
    /// Every message of the current epoch follows.
    EpochChanged,
    /// History no longer reaches back to the resume point: messages from `first_seq` on
    /// follow; those between were dropped by retention.
    Truncated { first_seq: u64 },
}

/// Answers [`ClientFrame::History`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub id: u32,
    pub room: String,
    pub epoch: u64,
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Older messages exist before `messages[0]`.
    pub more: bool,
}

/// A request's failure, or the reason a session ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// The failed request's id, or 0.
    pub id: u32,
    pub code: ErrorCode,
    /// For people: what went wrong and what to do.
    pub message: String,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub room: String,
    /// Per room, from 1, gapless within an epoch.
    pub seq: u64,
    pub epoch: u64,
    /// The sender's nick.
    pub from: String,
    /// Server time the message was stored, milliseconds since the Unix epoch.
    pub ts: u64,
    pub text: String,
}

/// A frame on a room stream (server to client, one stream per joined room).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomFrame {
    /// The first frame of every room stream: which room it carries.
    Open { room: String, epoch: u64 },
    /// A message, in seq order, each once.
    Message(Message),
    /// A member joined (`joined`) or left the room.
    Presence { nick: String, joined: bool },
    /// Version 2: one log entry, in seq order, each once (a version-2 session receives every
    /// entry this way, never as [`RoomFrame::Message`]).
    Entry(Entry),
    /// Version 3: the member `from` is now known as `to` (a rename, not a leave and a join;
    /// sessions below version 3 get those instead).
    Renamed { from: String, to: String },
    /// Version 3: the room's topic is `topic` (empty: none). Sent right after `Open`, and
    /// whenever it changes; `by` names who changed it (empty: the topic as it stood when the
    /// session joined, or a change made through the server API).
    Topic { topic: String, by: String },
}

/// One entry of a room's numbered log (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub room: String,
    /// Per room, from 1, gapless within an epoch (every kind of entry takes a seq).
    pub seq: u64,
    pub epoch: u64,
    /// Who made this entry: the author, the editor, the deleter, the reactor.
    pub from: String,
    /// Server time the entry was stored, milliseconds since the Unix epoch.
    pub ts: u64,
    pub body: EntryBody,
}

/// What a log entry says. Append only: a client skips an entry whose kind it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryBody {
    /// A message; `reply_to` is the seq of the text entry it answers.
    Text { text: String, reply_to: Option<u64> },
    /// The text of message `target` is now `text`.
    Edit { target: u64, text: String },
    /// Message `target` is deleted (a tombstone).
    Delete { target: u64 },
    /// `from` added (`on`) or removed their reaction `emoji` on message `target`.
    React {
        target: u64,
        emoji: String,
        on: bool,
    },
}

/// A text message in its latest state: its edits, delete and reactions folded in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    pub seq: u64,
    /// The author.
    pub from: String,
    /// When the message was first stored, ms since the Unix epoch.
    pub ts: u64,
    /// The latest text; empty once deleted.
    pub text: String,
    pub reply_to: Option<u64>,
    /// When last edited, ms since the Unix epoch; 0: never.
    pub edited_ts: u64,
    /// A tombstone: text and reactions empty.
    pub deleted: bool,
    /// In [`crate::REACTIONS`] order, only emoji with at least one nick.
    pub reactions: Vec<ReactionCount>,
}

/// Who reacted to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCount {
    pub emoji: String,
    /// Sorted, each once.
    pub nicks: Vec<String>,
}

/// Answers [`ClientFrame::History`] for a version-2 session: text messages only, oldest
/// first, each in its latest state; `more` as in [`HistoryPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPage {
    pub id: u32,
    pub room: String,
    pub epoch: u64,
    pub messages: Vec<MessageState>,
    pub more: bool,
}

/// A datagram a client sends. Lost datagrams are fine: they carry nothing that matters later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientDatagram {
    /// The user is typing in a joined room.
    Typing { room: String },
}

/// A datagram the relay sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerDatagram {
    /// `nick` is typing in `room`.
    Typing { room: String, nick: String },
}
