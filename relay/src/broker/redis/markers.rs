//! Read markers in Redis: one key per user and room ([`marker_key`], on the room's slot, so
//! one script reads the room's head and sets the marker atomically, on a Redis Cluster too),
//! holding the marker's seq with a `PX` time-to-live of [`READ_MARKER_TTL`]. Keys expire
//! on their own: nothing needs cleaning up.

use ::redis::Value;

use super::keys::{log_key, marker_key, seq_key};
use super::link::ActiveConn;
use super::stream::query;
use crate::broker::api::{BrokerError, READ_MARKER_TTL};

/// Sets a read marker: `KEYS[1]` the marker, `KEYS[2]` the room's seq counter, `KEYS[3]` its log;
/// `ARGV[1]` the seq asked for (decimal), `ARGV[2]` the time-to-live in ms. The seq is clamped
/// to the room's newest (the higher of the counter and the log's newest entry), and the
/// marker never moves backwards. Replies the stored marker as a string (`"0"`: none).
/// Seqs are compared as numbers but written back as the strings they came in, so large
/// ones never pass through Lua's floating-point formatting.
const SET_MARKER: &str = r#"
local function newest()
  local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  local tail = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if tail[1] then
    local stored = tonumber(string.match(tail[1][1], '^(%d+)-'))
    if stored and stored > last then last = stored end
  end
  return last
end
local want, want_n = ARGV[1], tonumber(ARGV[1])
local head = newest()
if want_n > head then
  want, want_n = string.format('%d', head), head
end
local stored = redis.call('GET', KEYS[1])
local stored_n = tonumber(stored or '0') or 0
if stored and stored_n >= want_n then
  want, want_n = stored, stored_n
end
if want_n > 0 then
  redis.call('SET', KEYS[1], want, 'PX', ARGV[2])
end
return want
"#;

/// See `Broker::set_read_marker`.
pub(super) async fn set(
    active: &ActiveConn,
    room: &str,
    user: &str,
    seq: u64,
) -> Result<u64, BrokerError> {
    let what = format!("setting a read marker in room {room}");
    let ttl_ms = u64::try_from(READ_MARKER_TTL.as_millis()).unwrap_or(u64::MAX);
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(SET_MARKER)
        .arg(3)
        .arg(marker_key(room, user))
        .arg(seq_key(room))
        .arg(log_key(room))
        .arg(seq.to_string())
        .arg(ttl_ms);
    let reply = query(active, &cmd, &what).await?;
    parse_seq(&reply)
        .ok_or_else(|| BrokerError::Internal(format!("{what}: unexpected reply {reply:?}")))
}

/// See `Broker::read_marker`.
pub(super) async fn get(
    active: &ActiveConn,
    room: &str,
    user: &str,
) -> Result<Option<u64>, BrokerError> {
    let what = format!("reading a read marker in room {room}");
    let mut cmd = ::redis::cmd("GET");
    cmd.arg(marker_key(room, user));
    match query(active, &cmd, &what).await? {
        Value::Nil => Ok(None),
        reply => parse_seq(&reply)
            .map(Some)
            .ok_or_else(|| BrokerError::Internal(format!("{what}: unexpected reply {reply:?}"))),
    }
}

/// A seq Redis replied as a string (or an integer).
fn parse_seq(reply: &Value) -> Option<u64> {
    match reply {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(text) => text.parse().ok(),
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}
