//! Every Redis key and channel the broker uses: the data layout other relays (and operators)
//! rely on.
//!
//! A room's keys share the `{room}` hash tag, so one room's script touches one slot (one
//! shard of a Redis Cluster) and rooms spread over the shards:
//!
//! - [`seq_key`], `chitchat:{room}:seq`: the room's last seq (a string holding a decimal
//!   integer);
//! - [`epoch_key`], `chitchat:{room}:epoch`: the room's epoch (a decimal integer from 1 to
//!   2^53 - 1), set by the first script that stores in the room. It lives and dies with the
//!   room's other keys, so a room whose shard lost its data gets a new epoch, and a room
//!   whose seq went backwards (a failover that lost entries) is given a new one on purpose;
//! - [`log_key`], `chitchat:{room}:log`: the room's history, a stream whose entry ids are
//!   `<seq>-0`, so `XRANGE`/`XREVRANGE` by seq work directly. Each entry holds the fields
//!   `f` (sender), `t` (text), `ts` (server time, ms) and `e` (the room's epoch when it was
//!   stored; reads stamp entries with the room's epoch now, see [`epoch_key`]). The stream is trimmed
//!   to the history limit (exact `MAXLEN`), so the oldest stored seq is the first entry's id;
//! - [`channel`], `chitchat:{room}:ch`: the room's sharded pub/sub channel
//!   (`SPUBLISH`/`SSUBSCRIBE`), carrying [`BusFrame`](chitchat_protocol::bus::BusFrame)s;
//! - [`members_key`] and [`nicks_key`]: the room's presence across relays;
//! - [`send_key`], `chitchat:{room}:send:<id>:<nick>`: a remembered send id, holding
//!   `<seq>:<ts>:<epoch>` of the message it stored (older relays wrote `<seq>:<ts>`),
//!   expiring after `SEND_ID_TTL`.
//! - [`state_key`], `chitchat:{room}:m:<seq>`: a message's state once an edit, delete or
//!   reaction changed it. Log entries other than plain texts carry more stream fields: `k`
//!   (kind), `g` (target), `r` (reply target), `m` (emoji), `o` (reaction on);
//! - [`states_key`], `chitchat:{room}:states`: the seqs that have a state hash, a sorted set
//!   (score = seq), so that each change entry deletes the state hashes of messages retention
//!   dropped from the log.
//!
//! - [`marker_key`], `chitchat:{room}:read:<user>`: a user's read marker in the room (a
//!   decimal seq), expiring [`crate::broker::READ_MARKER_TTL`] after it was last set.
//!
//! A room's record is [`room_key`], `chitchat:{room}:room`, a hash with the fields `topic`,
//! `private` and `archived` (`0`/`1`), `created_ms` and `created_by`; every room with a record
//! is a member of [`ROOMS_INDEX`], a sorted set (all scores 0, so in name order) read with
//! `ZRANGE ... BYLEX` for the directory.
//!
//! A guest nick claim is [`claim_key`], `chitchat:claim:<skeleton>`, holding the hex
//! SHA-256 of the claimant's secret and expiring after the claim's time-to-live.
//!
//! The registry lives under the `{_relays}` tag, which cannot be a room's (room names start
//! with a letter or digit): [`REGISTRY_INDEX`], [`REGISTRATIONS_KEY`] and one [`node_key`]
//! hash per relay.

use ::redis::Value;

/// The sorted set of node ids in the registry (score: when the node's hash expires, ms).
pub const REGISTRY_INDEX: &str = "chitchat:{_relays}:index";

/// The count of registrations of a new instance under a node id: a relay that sees it move
/// knows instances came or went, even ones that lived and died between two of its checks.
pub const REGISTRATIONS_KEY: &str = "chitchat:{_relays}:registrations";

/// Every room with a record, in name order (scores all 0). Its `{_rooms}` tag cannot be a
/// room's (room names start with a letter, a digit or `@`).
pub const ROOMS_INDEX: &str = "chitchat:{_rooms}:index";

/// The names of archived rooms (a set, on the index's slot): every relay reads it now and
/// then to refuse writes to them.
pub const ARCHIVED_ROOMS: &str = "chitchat:{_rooms}:archived";

/// The hash holding `room`'s record.
pub fn room_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:room")
}

/// The key holding `room`'s last seq.
pub fn seq_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:seq")
}

/// The key holding `room`'s epoch: the Redis time in ms at which it was set (at least one
/// above the epoch it replaces). If the room's shard loses its data the key disappears with
/// the history and the next script to store in the room sets a new one.
pub fn epoch_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:epoch")
}

/// The stream holding `room`'s history.
pub fn log_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:log")
}

/// The key remembering `from`'s send `send_id` in `room`. The id comes before the nick:
/// digits hold no `:`, so no two (id, nick) pairs share a key.
pub fn send_key(room: &str, from: &str, send_id: u64) -> String {
    format!("chitchat:{{{room}}}:send:{send_id}:{from}")
}

/// The hash holding the state of message `seq` of `room` once something changed it (see
/// `entries.rs`): `a` author, `mts` its time, `n` edits, `t` and `et` the latest text and
/// its time, `d` deleted (`1`), and `r:<emoji>:<nick>` = `<seq>:<ts>:<on>` per user's latest
/// reaction entry with that emoji (`on`: `1` added, `0` removed).
pub fn state_key(room: &str, seq: u64) -> String {
    format!("chitchat:{{{room}}}:m:{seq}")
}

/// The key of the sorted set of `room`'s seqs that have a [`state_key`] (score: the seq). The
/// entry script derives it from the state key it is given; this is its name for operators
/// and tests.
pub fn states_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:states")
}

/// The key holding `user`'s read marker in `room` (the user key comes last: it may hold
/// `:`, and nothing follows it).
pub fn marker_key(room: &str, user: &str) -> String {
    format!("chitchat:{{{room}}}:read:{user}")
}

/// The key of the guest nick claim on `skeleton` (a nick's skeleton). It has no hash tag
/// of its own making: the claim script touches this one key, whatever slot it falls in.
pub fn claim_key(skeleton: &str) -> String {
    format!("chitchat:claim:{skeleton}")
}

/// The sharded pub/sub channel carrying `room`'s [`BusFrame`](chitchat_protocol::bus::BusFrame)s.
pub fn channel(room: &str) -> String {
    format!("chitchat:{{{room}}}:ch")
}

/// The hash of `room`'s presence entries: field `<instance>|<nick>` (nicks never hold `|`),
/// value the Redis time in ms when that instance last asserted the nick.
pub fn members_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:members")
}

/// The hash of `room`'s nicks: field nick, value how many instances hold it.
pub fn nicks_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:nicks")
}

/// The registry hash of `node` (fields `instance`, `seen_ms`, `quic`, `webtransport`,
/// `http`, `sessions`, and `cert_sha256` while it serves a dev leaf). It expires after the
/// registry's ttl of silence: a relay is alive while its hash exists.
pub fn node_key(node: &str) -> String {
    format!("chitchat:{{_relays}}:node:{node}")
}

/// The room whose channel is `channel`, if it is one of ours.
pub(super) fn room_of_channel(channel: &[u8]) -> Option<&str> {
    std::str::from_utf8(channel)
        .ok()?
        .strip_prefix("chitchat:{")?
        .strip_suffix("}:ch")
}

/// The room named by a channel in a push.
pub(super) fn channel_room(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => room_of_channel(bytes).map(str::to_owned),
        Value::SimpleString(text) => room_of_channel(text.as_bytes()).map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_room_hash_tag_and_map_back() {
        assert_eq!(seq_key("a.b"), "chitchat:{a.b}:seq");
        assert_eq!(log_key("a.b"), "chitchat:{a.b}:log");
        assert_eq!(epoch_key("a.b"), "chitchat:{a.b}:epoch");
        assert_eq!(channel("a.b"), "chitchat:{a.b}:ch");
        assert_eq!(
            marker_key("a.b", "guest:ada"),
            "chitchat:{a.b}:read:guest:ada"
        );
        assert_eq!(
            room_of_channel(channel("Room-1").as_bytes()),
            Some("Room-1")
        );
        assert_eq!(room_of_channel(b"chitchat:{x}:log"), None);
        assert_eq!(room_of_channel(b"other"), None);
    }
}
