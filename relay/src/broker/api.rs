//! The broker's contract: the [`Broker`] trait with its delivery guarantee, the [`Deliver`]
//! sink a relay hands it, and the values both sides exchange. Every broker implementation and
//! every caller builds on this file alone.

use std::sync::Arc;

use chitchat_protocol::{Entry, EntryBody, ErrorCode, Message, MessageState};
use futures::future::BoxFuture;

/// A message to be numbered and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub room: String,
    /// The sender's nick.
    pub from: String,
    pub text: String,
    /// The sender's id for this send (`Send.send_id`), `None` if it gave none. A broker
    /// remembers `(room, from, send_id)` for [`SEND_ID_TTL`]: a publish repeating one it
    /// stored returns the stored message (same seq, text and time) and stores and delivers
    /// nothing new, whatever its text.
    pub send_id: Option<u64>,
}

impl NewMessage {
    /// This message as stored under `seq` at `ts` (ms) in `epoch`, with `text` (its own, or
    /// the original's for a repeated send id).
    pub fn stored_as(&self, epoch: u64, seq: u64, ts: u64, text: String) -> Message {
        Message {
            room: self.room.clone(),
            seq,
            epoch,
            from: self.from.clone(),
            ts,
            text,
        }
    }
}

/// An entry to be numbered and stored in a room's log: a text (with an optional reply
/// target) or a change to a text entry. A broker checks a change against the log in the
/// same atomic step that stores it: the target is a text entry of the room and not deleted
/// (else `NO_SUCH_MESSAGE`; a reply target too), only its author edits or deletes it
/// (`NOT_AUTHOR`), at most [`chitchat_protocol::MAX_EDITS`] edits (`EDIT_LIMIT`), and a
/// reaction that changes nothing stores nothing: the entry that made the current state is
/// returned instead (the `React` entry, or the message's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub room: String,
    /// Who makes the entry.
    pub from: String,
    pub body: EntryBody,
    /// As [`NewMessage::send_id`]; text entries only.
    pub send_id: Option<u64>,
    /// Made by the operator (the server API), who may edit or delete any message: the
    /// author check is skipped, the others are not.
    pub by_operator: bool,
}

impl From<NewMessage> for NewEntry {
    fn from(msg: NewMessage) -> NewEntry {
        NewEntry {
            room: msg.room,
            from: msg.from,
            body: EntryBody::Text {
                text: msg.text,
                reply_to: None,
            },
            send_id: msg.send_id,
            by_operator: false,
        }
    }
}

/// How long a broker remembers a send id. A client retries a refused send within seconds;
/// ten minutes covers its whole bounded retry window many times over, while keeping the
/// remembered ids (one small row or key per send) bounded by ten minutes of traffic.
pub const SEND_ID_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// One guest nick claim to check, take or renew (see [`Broker::claim_nicks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NickClaim {
    /// What the claim is kept under: the nick's skeleton, so look-alike nicks share it.
    pub key: String,
    /// A hash of the claimant's guest secret; `None` for a session that has no secret.
    pub secret_hash: Option<[u8; 32]>,
}

/// What a store said about one [`NickClaim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The claim is this secret's: taken now, or held already and its time-to-live renewed.
    Held,
    /// Nobody holds the key and the claim had no secret: nothing was stored.
    Free,
    /// Another secret holds the key (or one does and the claim had none).
    Taken,
}

/// How long a read marker is kept after it was last set: a device unused for a month has
/// little left to agree on, and the store holds about one marker per user and room read
/// within this time.
pub const READ_MARKER_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// A room as a record: created explicitly with a topic, or implicitly when someone first
/// joins or sends to its name (public, no topic). Names are never reused: an archived room
/// keeps its record and its history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomRecord {
    pub name: String,
    /// What the room is about; empty for none.
    pub topic: String,
    /// Private rooms are left out of the directory (and need a grant to join in token mode).
    pub private: bool,
    /// Archived rooms are read-only and left out of the directory.
    pub archived: bool,
    /// When the record was made, ms since the Unix epoch (the store's clock).
    pub created_ms: u64,
    /// Who made it (a nick, or the API's sender).
    pub created_by: String,
}

/// A change to a room's record; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomChange {
    pub topic: Option<String>,
    pub archived: Option<bool>,
    pub private: Option<bool>,
}

/// One page of the room directory: public, unarchived rooms in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomPage {
    pub rooms: Vec<RoomRecord>,
    /// The name to continue after, if the directory goes on.
    pub next: Option<String>,
}

/// Where a room's history stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomHead {
    /// The store's epoch: changes only if the store lost its history.
    pub epoch: u64,
    /// The newest seq, 0 if the room has no messages.
    pub last_seq: u64,
    /// The oldest seq still stored (retention may have dropped older ones); `last_seq + 1`
    /// if none is stored.
    pub first_seq: u64,
}

/// One live relay of a cluster, as the node registry holds it (served at `GET /relays`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayInfo {
    /// The relay's node id.
    pub node: String,
    /// Where native clients reach its QUIC endpoint (`host:port`).
    pub quic: String,
    /// Where browsers open WebTransport sessions on it.
    pub webtransport: String,
    /// Its public HTTP URL (web app, `/healthz`, `/relays`).
    pub http: String,
    /// SHA-256 (hex) of its dev leaf certificate, for browsers' `serverCertificateHashes`;
    /// `None` with a real certificate. It changes when the leaf rotates.
    pub cert_sha256: Option<String>,
    /// Sessions it serves.
    pub sessions: u64,
    /// When it last said it was alive (ms since the Unix epoch, the registry's clock).
    pub seen_ms: u64,
}

/// Ephemeral room events: carried to every relay with members in the room, never stored,
/// lost without harm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A nick joined (`joined`) or left the room on `node`.
    Presence {
        node: String,
        nick: String,
        joined: bool,
    },
    /// A nick is typing.
    Typing { nick: String },
    /// A member's nick changed from `from` to `to` (a rename). Sent before the presence
    /// changes that record it, so a relay that applies it first sees no separate leave and
    /// join.
    Renamed { from: String, to: String },
    /// The room's topic changed to `topic` (empty: none), by the member `by` (empty: through
    /// the server API). The record is stored before the signal is sent.
    Topic { topic: String, by: String },
    /// A user's read marker in the room is now `seq` (see [`Broker::set_read_marker`]),
    /// set by session `session` on the relay `node`: every relay hands it to the user's
    /// other sessions in the room.
    ReadMarker {
        user: String,
        seq: u64,
        node: String,
        session: u64,
    },
}

/// Why a broker call failed. Nothing was stored when `publish` fails.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// The store is unreachable (e.g. Redis is down); retrying later may work.
    #[error("message store unavailable: {0}")]
    Unavailable(String),
    /// The store failed in a way retrying will not fix.
    #[error("message store failed: {0}")]
    Internal(String),
    /// The store's disk is below its free-space floor; nothing was stored.
    #[error("message store full: {0}")]
    StorageFull(String),
    /// A join refused because a member of the room has a different nick that looks the
    /// same (the hub's check, before the store is asked).
    #[error("nick refused: {0}")]
    LookAlikeNick(String),
    /// The log's checks refused an entry (`NO_SUCH_MESSAGE`, `NOT_AUTHOR`, `EDIT_LIMIT`);
    /// nothing was stored.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
}

impl BrokerError {
    /// The log refused an entry with `code`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> BrokerError {
        BrokerError::Refused {
            code,
            message: message.into(),
        }
    }
}

impl BrokerError {
    /// The wire error code a client is told.
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::Unavailable(_) => ErrorCode::UNAVAILABLE,
            BrokerError::Internal(_) => ErrorCode::INTERNAL,
            BrokerError::StorageFull(_) => ErrorCode::STORAGE_FULL,
            BrokerError::LookAlikeNick(_) => ErrorCode::NICK_LOOKALIKE,
            BrokerError::Refused { code, .. } => *code,
        }
    }
}

/// The relay side of a broker: receives what the broker delivers for subscribed rooms.
///
/// Calls for one room come in seq order and never concurrently. Implementations must not
/// block: they hand the message to per-connection queues and return.
pub trait Deliver: Send + Sync + 'static {
    /// A stored message of a subscribed room.
    fn message(&self, msg: &Message);
    /// A stored entry of a subscribed room, in seq order with every other entry. The
    /// default passes text entries to [`Deliver::message`] and drops the others.
    fn entry(&self, entry: &Entry) {
        if let Some(msg) = entry.to_message() {
            self.message(&msg);
        }
    }
    /// A signal for a subscribed room (including signals this relay sent itself).
    fn signal(&self, room: &str, signal: &Signal);

    /// The nicks present in subscribed `room` across every relay, replacing what the sink
    /// knew of the room's members; each later change comes as a [`Signal::Presence`].
    /// Brokers that keep presence for a cluster call it when the relay subscribes (before
    /// `subscribe` returns) and after they lost and regained their store, in line with the
    /// room's signals. The default ignores it: without it, presence signals alone tell who
    /// is in the room.
    fn members(&self, room: &str, nicks: &[String]) {
        let _ = (room, nicks);
    }
}

/// Numbers, stores and distributes room messages.
///
/// The guarantee: a message is numbered and stored before anyone receives it, and every
/// relay subscribed to its room receives it once, in seq order, while it stays connected to
/// the broker. Across a lost connection the broker re-reads history after the last seq it
/// delivered, so the [`Deliver`] sink still sees each room gapless.
#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Numbers `msg` with its room's next seq, stores it, then delivers it to every relay
    /// subscribed to the room. Resolves to the stored message once it is stored.
    ///
    /// Ordering: the message takes its place in line when `publish` is called, not when the
    /// future is first polled, so messages published one after another by one caller are
    /// numbered in that order even if their futures are awaited later or together.
    fn publish(&self, msg: NewMessage) -> BoxFuture<'static, Result<Message, BrokerError>> {
        let stored = self.append(msg.into());
        Box::pin(async move {
            let entry = stored.await?;
            entry
                .to_message()
                .ok_or_else(|| BrokerError::Internal("a send was stored as a change".into()))
        })
    }

    /// Checks `entry` against the room's log (see [`NewEntry`]), numbers it with the room's
    /// next seq, stores it, then delivers it to every relay subscribed to the room, all as
    /// [`Broker::publish`] does. Resolves to the stored entry (for a reaction that changed
    /// nothing, the entry that made the current state).
    fn append(&self, entry: NewEntry) -> BoxFuture<'static, Result<Entry, BrokerError>>;

    /// Where the room's history stands.
    async fn head(&self, room: &str) -> Result<RoomHead, BrokerError>;

    /// Up to `limit` stored entries with seq > `after`, oldest first, every kind.
    async fn read_entries_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, BrokerError>;

    /// The text messages among the stored entries with seq > `after` (up to `limit`
    /// entries read), oldest first, as first stored.
    async fn read_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        let entries = self.read_entries_after(room, after, limit).await?;
        Ok(entries.iter().filter_map(Entry::to_message).collect())
    }

    /// The newest `limit` text messages with seq < `before` (all if `None`), oldest
    /// first, each in its latest state (edits, delete and reactions folded in).
    async fn read_states_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<MessageState>, BrokerError>;

    /// The newest `limit` stored text messages with seq < `before` (all seqs if `None`),
    /// oldest first, as first stored.
    async fn read_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError>;

    /// Starts delivering `room`'s messages and signals to this relay's [`Deliver`] sink.
    /// Messages stored after this returns are delivered; nothing stored or signalled before
    /// it is replayed (readers catch up from history). Idempotent.
    async fn subscribe(&self, room: &str) -> Result<(), BrokerError>;

    /// Stops delivering `room` to this relay. Idempotent.
    async fn unsubscribe(&self, room: &str);

    /// Sends a signal to every relay subscribed to `room`, this one included. Best effort.
    fn signal(&self, room: &str, signal: Signal);

    /// Whether the broker can store messages right now (for /healthz).
    fn is_ready(&self) -> bool;

    /// Records that `nick` now has a session in `room` on the relay `node` (`joined`), or no
    /// longer has one, and tells every relay subscribed to the room through
    /// [`Signal::Presence`] when the nick enters or leaves the room as a whole: a nick
    /// present on several relays joins once and leaves when its last relay lets it go. The
    /// hub calls it, in order per room, when a nick's session count on this relay goes from
    /// 0 to 1 or from 1 to 0, and keeps calling it while the broker is unreachable (a broker
    /// that kept presence elsewhere restores it when it reconnects). Best effort, like
    /// [`Broker::signal`].
    ///
    /// The default, for a broker serving one relay, signals every call: this relay's
    /// presence is the whole room's.
    fn presence(&self, room: &str, node: &str, nick: &str, joined: bool) {
        self.signal(
            room,
            Signal::Presence {
                node: node.to_owned(),
                nick: nick.to_owned(),
                joined,
            },
        );
    }

    /// Records that `from`'s last session in `room` on `node` is now known as `to`, whose
    /// first session here it is: [`Signal::Renamed`] to every relay subscribed to the room,
    /// then the presence changes ([`Broker::presence`]) that keep the room's member lists
    /// (both leave and join are announced by no relay that applied the rename first).
    fn rename(&self, room: &str, node: &str, from: &str, to: &str) {
        self.signal(
            room,
            Signal::Renamed {
                from: from.to_owned(),
                to: to.to_owned(),
            },
        );
        self.presence(room, node, from, false);
        self.presence(room, node, to, true);
    }

    /// Checks each claim against the guest nick claims the store keeps, and takes or renews
    /// the ones with a secret that nobody else holds: a live claim for the same key and the
    /// same hash gets `ttl` from now, a key with no live claim is claimed for `ttl`, a key
    /// held by another hash is left alone. One outcome per claim, in order. Every relay of
    /// a cluster sees the same claims. Atomic per key: two claimants racing for a free key
    /// cannot both get [`ClaimOutcome::Held`].
    async fn claim_nicks(
        &self,
        claims: &[NickClaim],
        ttl: std::time::Duration,
    ) -> Result<Vec<ClaimOutcome>, BrokerError>;

    /// Sets `user`'s read marker in `room` to `seq`, atomically: never backwards (the stored
    /// marker stays if it is later) and never past the room's newest seq (`seq` is clamped
    /// to it). The marker is kept for [`READ_MARKER_TTL`] after this call. Resolves to the
    /// marker stored after the call (0: none, the room has no messages). `user` is opaque
    /// to the store (the relay's user key).
    async fn set_read_marker(&self, room: &str, user: &str, seq: u64) -> Result<u64, BrokerError>;

    /// `user`'s read marker in `room`, if one was set within [`READ_MARKER_TTL`].
    async fn read_marker(&self, room: &str, user: &str) -> Result<Option<u64>, BrokerError>;

    /// Stores `record` unless a record of its name exists; the stored record (the new one, or
    /// the one already there) and whether this call made it. Atomic: two callers racing for
    /// one name get the same record, and only one gets `true`.
    async fn create_room(&self, record: RoomRecord) -> Result<(RoomRecord, bool), BrokerError>;

    /// The record of `room`, if it has one.
    async fn room(&self, room: &str) -> Result<Option<RoomRecord>, BrokerError>;

    /// Applies `change` to `room`'s record; the record after it, `None` if there is none.
    async fn update_room(
        &self,
        room: &str,
        change: RoomChange,
    ) -> Result<Option<RoomRecord>, BrokerError>;

    /// The names of archived rooms, at most `limit` of them (in no particular order): the
    /// relay refreshes its read-only set from it.
    async fn archived_rooms(&self, limit: usize) -> Result<Vec<String>, BrokerError>;

    /// Up to `limit` public, unarchived rooms whose name or topic contains `search`
    /// (case-insensitive; empty: every room), in name order after `after`. A store may look
    /// at a bounded number of records per call and return fewer than `limit` with `next`
    /// set: the caller asks again from there.
    async fn list_rooms(
        &self,
        search: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, BrokerError>;

    /// The nicks with a session in `room` on any relay of the cluster, sorted, or `None` if
    /// this broker serves this relay alone (the default: the hub's members are the room's).
    async fn room_members(&self, room: &str) -> Result<Option<Vec<String>>, BrokerError> {
        let _ = room;
        Ok(None)
    }

    /// The live relays of the cluster this broker serves, this one included, or `None` if
    /// it serves this relay alone (the default).
    async fn relays(&self) -> Result<Option<Vec<RelayInfo>>, BrokerError> {
        Ok(None)
    }
}

/// A shared broker.
pub type SharedBroker = Arc<dyn Broker>;
