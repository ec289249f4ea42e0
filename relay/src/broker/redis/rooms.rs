//! Room records in Redis ([`super::keys::room_key`] hashes, listed in
//! [`super::keys::ROOMS_INDEX`]): creating one atomically ([`CREATE_ROOM`], on the room's
//! own slot), changing one ([`UPDATE_ROOM`]), and the directory, read a bounded slice of the
//! index at a time.

use ::redis::Value;

use super::keys::{ARCHIVED_ROOMS, ROOMS_INDEX, room_key};
use super::link::ActiveConn;
use super::stream::query;
use crate::broker::api::{BrokerError, RoomChange, RoomPage, RoomRecord};

/// Makes the record unless it exists. Replies `{1}` when it made it, else `{0, field,
/// value, ...}` (the stored record).
const CREATE_ROOM: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local stored = redis.call('HGETALL', KEYS[1])
  table.insert(stored, 1, 0)
  return stored
end
redis.call('HSET', KEYS[1], 'topic', ARGV[1], 'private', ARGV[2], 'archived', ARGV[3],
  'created_ms', ARGV[4], 'created_by', ARGV[5])
return {1}
"#;

/// Changes an existing record (`ARGV[1]` '1': set the topic to `ARGV[2]`; `ARGV[3]` non-empty:
/// set `archived` to it; `ARGV[4]` non-empty: set `private` to it); replies the record after,
/// or an empty array if there is none.
const UPDATE_ROOM: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'topic', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'archived', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'private', ARGV[4]) end
return redis.call('HGETALL', KEYS[1])
"#;

/// Index entries looked at per directory call at most (one `ZRANGE` and one pipeline of
/// `HGETALL`s): a search that matches little returns a short page with a cursor rather than
/// reading every room's record at once.
const SCAN_LIMIT: usize = 500;

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

pub(super) async fn create(
    active: &ActiveConn,
    record: RoomRecord,
) -> Result<(RoomRecord, bool), BrokerError> {
    let what = format!("creating room {}'s record", record.name);
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(CREATE_ROOM)
        .arg(1)
        .arg(room_key(&record.name))
        .arg(&record.topic)
        .arg(flag(record.private))
        .arg(flag(record.archived))
        .arg(record.created_ms)
        .arg(&record.created_by);
    let reply = query(active, &cmd, &what).await?;
    let result = match reply {
        Value::Array(items) => match items.split_first() {
            Some((Value::Int(1), [])) => (record, true),
            Some((Value::Int(0), fields)) => (parse_record(&record.name, fields, &what)?, false),
            _ => return Err(BrokerError::Internal(format!("{what}: unexpected reply"))),
        },
        other => {
            return Err(BrokerError::Internal(format!(
                "{what}: unexpected reply {other:?}"
            )));
        }
    };
    // In the directory whether this call made it or an earlier one did (an earlier one may
    // have stopped between the two): adding is idempotent.
    let mut index = ::redis::cmd("ZADD");
    index.arg(ROOMS_INDEX).arg(0).arg(&result.0.name);
    query(active, &index, &format!("listing room {}", result.0.name)).await?;
    Ok(result)
}

pub(super) async fn get(
    active: &ActiveConn,
    room: &str,
) -> Result<Option<RoomRecord>, BrokerError> {
    let what = format!("reading room {room}'s record");
    let mut cmd = ::redis::cmd("HGETALL");
    cmd.arg(room_key(room));
    record_reply(room, query(active, &cmd, &what).await?, &what)
}

pub(super) async fn update(
    active: &ActiveConn,
    room: &str,
    change: RoomChange,
) -> Result<Option<RoomRecord>, BrokerError> {
    let what = format!("changing room {room}'s record");
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(UPDATE_ROOM)
        .arg(1)
        .arg(room_key(room))
        .arg(flag(change.topic.is_some()))
        .arg(change.topic.unwrap_or_default())
        .arg(change.archived.map(flag).unwrap_or(""))
        .arg(change.private.map(flag).unwrap_or(""));
    let record = record_reply(room, query(active, &cmd, &what).await?, &what)?;
    // The archived set is on its own slot, so it is written after the record: a relay that
    // stops in between leaves the set behind the record until the next change, which the
    // operator repeats (both writes are idempotent).
    if let (Some(record), Some(archived)) = (&record, change.archived) {
        let mut set = ::redis::cmd(if archived { "SADD" } else { "SREM" });
        set.arg(ARCHIVED_ROOMS).arg(&record.name);
        query(active, &set, &format!("listing room {room} as archived")).await?;
    }
    Ok(record)
}

/// Up to `limit` names from [`ARCHIVED_ROOMS`].
pub(super) async fn archived(
    active: &ActiveConn,
    limit: usize,
) -> Result<Vec<String>, BrokerError> {
    let what = "reading the archived rooms";
    let mut cmd = ::redis::cmd("SRANDMEMBER");
    cmd.arg(ARCHIVED_ROOMS).arg(limit);
    match query(active, &cmd, what).await? {
        Value::Array(items) => Ok(items
            .into_iter()
            .filter_map(|v| ::redis::from_redis_value::<String>(v).ok())
            .collect()),
        other => Err(BrokerError::Internal(format!(
            "{what}: unexpected reply {other:?}"
        ))),
    }
}

pub(super) async fn list(
    active: &ActiveConn,
    search: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<RoomPage, BrokerError> {
    if limit == 0 {
        return Ok(RoomPage::default());
    }
    let what = "reading the room directory";
    let start = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
    let mut range = ::redis::cmd("ZRANGE");
    range
        .arg(ROOMS_INDEX)
        .arg(start)
        .arg("+")
        .arg("BYLEX")
        .arg("LIMIT")
        .arg(0)
        .arg(SCAN_LIMIT);
    let names: Vec<String> = match query(active, &range, what).await? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| ::redis::from_redis_value::<String>(v).ok())
            .collect(),
        other => {
            return Err(BrokerError::Internal(format!(
                "{what}: unexpected reply {other:?}"
            )));
        }
    };
    let needle = search.to_lowercase();
    let mut rooms = Vec::new();
    let mut last_seen = None;
    for chunk in names.chunks(100) {
        let mut pipe = ::redis::pipe();
        for name in chunk {
            pipe.cmd("HGETALL").arg(room_key(name));
        }
        let replies = pipeline(active, &pipe, what, chunk.len()).await?;
        for (name, reply) in chunk.iter().zip(replies) {
            last_seen = Some(name.clone());
            let Some(record) = record_reply(name, reply, what)? else {
                continue;
            };
            let matches = needle.is_empty()
                || record.name.to_lowercase().contains(&needle)
                || record.topic.to_lowercase().contains(&needle);
            if matches && !record.private && !record.archived {
                rooms.push(record);
                if rooms.len() == limit {
                    return Ok(RoomPage {
                        rooms,
                        next: last_seen,
                    });
                }
            }
        }
    }
    let next = if names.len() == SCAN_LIMIT {
        last_seen
    } else {
        None
    };
    Ok(RoomPage { rooms, next })
}

/// Runs a pipeline of `count` commands within the command deadline.
async fn pipeline(
    active: &ActiveConn,
    pipe: &::redis::Pipeline,
    what: &str,
    count: usize,
) -> Result<Vec<Value>, BrokerError> {
    use ::redis::aio::ConnectionLike;
    let link = active.get()?;
    let mut conn = link.conn.clone();
    let sent = conn.req_packed_commands(pipe, 0, count);
    match tokio::time::timeout(super::link::COMMAND_TIMEOUT, sent).await {
        Ok(Ok(replies)) if replies.len() == count => Ok(replies),
        Ok(Ok(_)) => {
            active.report_trouble(link.generation);
            Err(BrokerError::Unavailable(format!("{what}: a short reply")))
        }
        Ok(Err(e)) => Err(active.failed(&link, what, &e)),
        Err(_) => {
            active.report_trouble(link.generation);
            Err(BrokerError::Unavailable(format!(
                "{what}: Redis did not answer in time"
            )))
        }
    }
}

/// A `HGETALL`-shaped reply as `room`'s record; `None` for an empty one.
fn record_reply(room: &str, reply: Value, what: &str) -> Result<Option<RoomRecord>, BrokerError> {
    match reply {
        Value::Array(fields) if fields.is_empty() => Ok(None),
        Value::Array(fields) => parse_record(room, &fields, what).map(Some),
        Value::Map(pairs) if pairs.is_empty() => Ok(None),
        Value::Map(pairs) => {
            let flat: Vec<Value> = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            parse_record(room, &flat, what).map(Some)
        }
        other => Err(BrokerError::Internal(format!(
            "{what}: unexpected reply {other:?}"
        ))),
    }
}

fn parse_record(room: &str, fields: &[Value], what: &str) -> Result<RoomRecord, BrokerError> {
    let mut record = RoomRecord {
        name: room.to_owned(),
        topic: String::new(),
        private: false,
        archived: false,
        created_ms: 0,
        created_by: String::new(),
    };
    for pair in fields.chunks(2) {
        let [key, value] = pair else {
            return Err(BrokerError::Internal(format!("{what}: odd field list")));
        };
        let key: String = ::redis::from_redis_value_ref(key)
            .map_err(|e| BrokerError::Internal(format!("{what}: {e}")))?;
        let value: String = ::redis::from_redis_value_ref(value)
            .map_err(|e| BrokerError::Internal(format!("{what}: {e}")))?;
        match key.as_str() {
            "topic" => record.topic = value,
            "private" => record.private = value == "1",
            "archived" => record.archived = value == "1",
            "created_ms" => record.created_ms = value.parse().unwrap_or_default(),
            "created_by" => record.created_by = value,
            // Fields a newer relay added: kept in Redis, not read here.
            _ => {}
        }
    }
    Ok(record)
}
