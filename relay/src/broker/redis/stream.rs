//! Reading a room's history stream: the broker's reads ([`head`], [`read_after`],
//! [`read_before`]), the catch-up pages that fill gaps ([`read_page`]) and the parsing of
//! stream replies into messages.

use ::redis::{Cmd, RedisError, Value};
use chitchat_protocol::{Entry, EntryBody, Message};

use super::cluster::RedisConn;
use super::keys::{epoch_key, log_key, seq_key};
use super::link::{ActiveConn, COMMAND_TIMEOUT, is_connection_error};
use super::scripts::ROOM_EPOCH_SCRIPT;
use crate::broker::api::{BrokerError, RoomHead};

/// Stream entries read per `XRANGE` when the bus task fills a gap or catches up.
pub(super) const CATCH_UP_PAGE: usize = 500;

/// Why a catch-up page could not be read: the connection is gone.
#[derive(Debug, thiserror::Error)]
pub(super) enum HistoryError {
    #[error("reading room {room}'s history: {source}")]
    Failed { room: String, source: RedisError },
    #[error("reading room {0}'s history timed out")]
    TimedOut(String),
}

/// Where `room`'s history stands, read on the current command connection; `floor` is the
/// least epoch a room without one may be given (see `room_epoch` in the scripts).
pub(super) async fn head(
    active: &ActiveConn,
    room: &str,
    floor: u64,
) -> Result<RoomHead, BrokerError> {
    let link = active.get()?;
    let mut conn = link.conn.clone();
    let what = format!("reading the head of room {room}");
    match tokio::time::timeout(COMMAND_TIMEOUT, read_head(&mut conn, room, floor)).await {
        Ok(Ok(head)) => Ok(head),
        Ok(Err(ReadError::Redis(e))) => Err(active.failed(&link, &what, &e)),
        Ok(Err(ReadError::Format(why))) => Err(BrokerError::Internal(format!("{what}: {why}"))),
        Err(_) => {
            active.report_trouble(link.generation);
            Err(BrokerError::Unavailable(format!(
                "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
            )))
        }
    }
}

/// Up to `limit` stored entries of `room` with seq > `after`, oldest first.
pub(super) async fn read_after(
    active: &ActiveConn,
    room: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<Entry>, BrokerError> {
    let Some(start) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let what = format!("reading room {room} after seq {after}");
    let epoch = room_epoch(active, room, &what).await?;
    let value = query(active, &range_from(room, start, limit), &what).await?;
    parse_entries(room, epoch, value).map_err(|why| BrokerError::Internal(format!("{what}: {why}")))
}

/// The command that reads `room`'s epoch, setting it first if the room has none: to one
/// at least `floor` unless its history says which (see `room_epoch` in the scripts).
pub(super) fn epoch_cmd(room: &str, floor: u64) -> Cmd {
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(ROOM_EPOCH_SCRIPT)
        .arg(2)
        .arg(epoch_key(room))
        .arg(log_key(room))
        .arg(floor);
    cmd
}

/// `room`'s epoch, read (or set) on the current command connection: history reads carry
/// the room's epoch now, whatever epoch an entry was stored in (a room given a new epoch
/// keeps its stream, which its clients read again from seq 1).
async fn room_epoch(active: &ActiveConn, room: &str, what: &str) -> Result<u64, BrokerError> {
    match query(active, &epoch_cmd(room, 1), what).await? {
        Value::Int(epoch) if epoch > 0 => Ok(epoch.unsigned_abs()),
        other => Err(BrokerError::Internal(format!(
            "{what}: the room's epoch reads {other:?}"
        ))),
    }
}

/// The newest `limit` stored text entries of `room` with seq < `before` (all if `None`),
/// oldest first. Change entries between them are read past, `limit` entries per read, for
/// at most [`TEXT_READS`] reads.
pub(super) async fn read_texts_before(
    active: &ActiveConn,
    room: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Entry>, BrokerError> {
    let mut end = match before {
        None => "+".to_owned(),
        Some(0 | 1) => return Ok(Vec::new()),
        Some(before) => format!("{}-0", before - 1),
    };
    let what = format!("reading room {room} before seq {before:?}");
    let epoch = room_epoch(active, room, &what).await?;
    let mut texts = Vec::new();
    for _ in 0..TEXT_READS {
        if texts.len() >= limit {
            break;
        }
        let mut cmd = ::redis::cmd("XREVRANGE");
        cmd.arg(log_key(room))
            .arg(&end)
            .arg("-")
            .arg("COUNT")
            .arg(limit);
        let value = query(active, &cmd, &what).await?;
        let entries = parse_entries(room, epoch, value)
            .map_err(|why| BrokerError::Internal(format!("{what}: {why}")))?;
        let Some(oldest) = entries.last().map(|e| e.seq) else {
            break;
        };
        let full = entries.len() == limit;
        texts.extend(
            entries
                .into_iter()
                .filter(|e| matches!(e.body, EntryBody::Text { .. })),
        );
        if !full || oldest <= 1 {
            break;
        }
        end = format!("{}-0", oldest - 1);
    }
    texts.truncate(limit);
    texts.reverse();
    Ok(texts)
}

/// Reads of one history page past change entries: a page of text messages interleaved
/// with more changes than this many times its size is cut short (and says `more`).
const TEXT_READS: usize = 8;

/// [`read_texts_before`] as version 1's messages.
pub(super) async fn read_before(
    active: &ActiveConn,
    room: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Message>, BrokerError> {
    let texts = read_texts_before(active, room, before, limit).await?;
    Ok(texts.iter().filter_map(Entry::to_message).collect())
}

/// Runs `cmd` on the current command connection within the command deadline; `what` names it
/// in errors.
pub(super) async fn query(
    active: &ActiveConn,
    cmd: &Cmd,
    what: &str,
) -> Result<Value, BrokerError> {
    let link = active.get()?;
    let mut conn = link.conn.clone();
    match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Value>(&mut conn)).await {
        Ok(Ok(Value::ServerError(e))) => Err(BrokerError::Internal(format!(
            "{what}: Redis answered {}: {}",
            e.code(),
            e.details().unwrap_or("")
        ))),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(active.failed(&link, what, &e)),
        Err(_) => {
            active.report_trouble(link.generation);
            Err(BrokerError::Unavailable(format!(
                "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
            )))
        }
    }
}

/// Why a read of the history failed.
pub(super) enum ReadError {
    Redis(RedisError),
    Format(String),
}

impl From<RedisError> for ReadError {
    fn from(e: RedisError) -> Self {
        ReadError::Redis(e)
    }
}

/// The head of `room` (its epoch, set first if it has none, see [`epoch_cmd`]), read in
/// one transaction.
pub(super) async fn read_head(
    conn: &mut RedisConn,
    room: &str,
    floor: u64,
) -> Result<RoomHead, ReadError> {
    let log = log_key(room);
    let (epoch, counter, first, last): (Value, Option<String>, Value, Value) = ::redis::pipe()
        .atomic()
        .add_command(epoch_cmd(room, floor))
        .cmd("GET")
        .arg(seq_key(room))
        .cmd("XRANGE")
        .arg(&log)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .cmd("XREVRANGE")
        .arg(&log)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let epoch = match epoch {
        Value::Int(epoch) if epoch > 0 => epoch.unsigned_abs(),
        Value::ServerError(e) => {
            return Err(ReadError::Format(format!(
                "{}: {}",
                e.code(),
                e.details().unwrap_or("")
            )));
        }
        other => return Err(ReadError::Format(format!("the epoch reads {other:?}"))),
    };
    let first = first_entry_seq(first).map_err(ReadError::Format)?;
    let newest = first_entry_seq(last).map_err(ReadError::Format)?;
    let counter = match counter {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ReadError::Format(format!("{} holds {text:?}", seq_key(room))))?,
    };
    // As the script numbers: one above both the counter and the newest entry.
    let last_seq = counter.max(newest.unwrap_or(0));
    Ok(RoomHead {
        epoch,
        last_seq,
        first_seq: first.unwrap_or(last_seq + 1),
    })
}

/// `XRANGE` of up to `count` entries of `room` from seq `start` on.
fn range_from(room: &str, start: u64, count: usize) -> Cmd {
    let mut cmd = ::redis::cmd("XRANGE");
    cmd.arg(log_key(room))
        .arg(format!("{start}-0"))
        .arg("+")
        .arg("COUNT")
        .arg(count);
    cmd
}

/// One page of a room's history, as the bus task reads it.
pub(super) struct Page {
    /// Entries in the reply, readable or not.
    pub entries: usize,
    /// The seq of the reply's last entry.
    pub last_id: Option<u64>,
    pub messages: Vec<Entry>,
}

/// Up to [`CATCH_UP_PAGE`] entries of `room` after `after`, read on `conn` (the subscriber
/// connection, in line with the frames), as entries of `epoch` (the epoch the bus task
/// delivers the room in). A reply that is not a page, a refused read and
/// entries that do not parse are logged and skipped, so nothing but a lost connection can
/// stall a room's delivery.
pub(super) async fn read_page(
    conn: &mut RedisConn,
    room: &str,
    epoch: u64,
    after: u64,
) -> Result<Page, HistoryError> {
    let cmd = range_from(room, after.saturating_add(1), CATCH_UP_PAGE);
    let entries = match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Value>(conn)).await
    {
        Ok(Ok(Value::Array(entries))) => entries,
        Ok(Ok(Value::Nil)) => Vec::new(),
        Ok(Ok(other)) => {
            tracing::error!(room, reply = ?other, "unexpected history reply");
            Vec::new()
        }
        Ok(Err(e)) if is_connection_error(&e) => {
            return Err(HistoryError::Failed {
                room: room.to_owned(),
                source: e,
            });
        }
        Ok(Err(e)) => {
            tracing::error!(room, error = %e, "reading the room's history failed");
            Vec::new()
        }
        Err(_) => return Err(HistoryError::TimedOut(room.to_owned())),
    };
    let mut page = Page {
        entries: entries.len(),
        last_id: None,
        messages: Vec::with_capacity(entries.len()),
    };
    for entry in entries {
        if let Value::Array(parts) = &entry
            && let Some(Ok(id)) = parts.first().map(parse_id)
        {
            page.last_id = Some(id);
        }
        match parse_entry(room, epoch, entry) {
            Ok(msg) => page.messages.push(msg),
            Err(why) => tracing::error!(room, reason = %why, "skipping a bad history entry"),
        }
    }
    Ok(page)
}

/// The seq of the first entry of an `XRANGE`/`XREVRANGE` reply, if any.
fn first_entry_seq(value: Value) -> Result<Option<u64>, String> {
    match value {
        Value::Array(entries) => match entries.into_iter().next() {
            None => Ok(None),
            Some(Value::Array(entry)) => match entry.first() {
                Some(id) => parse_id(id).map(Some),
                None => Err("a stream entry without an id".into()),
            },
            Some(other) => Err(format!("unexpected stream entry {other:?}")),
        },
        Value::Nil => Ok(None),
        other => Err(format!("unexpected stream reply {other:?}")),
    }
}

/// The seq in a stream entry id `<seq>-0`.
fn parse_id(id: &Value) -> Result<u64, String> {
    let text = match id {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text.as_str()),
        _ => None,
    };
    text.and_then(|t| t.split_once('-'))
        .and_then(|(seq, _)| seq.parse().ok())
        .ok_or_else(|| format!("stream entry id {id:?} is not <seq>-0"))
}

/// The entries in an `XRANGE`/`XREVRANGE` reply, in reply order, as entries of `epoch`.
pub(super) fn parse_entries(room: &str, epoch: u64, value: Value) -> Result<Vec<Entry>, String> {
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Nil => return Ok(Vec::new()),
        other => return Err(format!("unexpected stream reply {other:?}")),
    };
    entries
        .into_iter()
        .map(|entry| parse_entry(room, epoch, entry))
        .collect()
}

/// One stream entry, as an entry of `epoch`: id `<seq>-0`, fields `f` (from), `t` (text),
/// `ts`, `e` (the epoch it was stored in, not read: see [`room_epoch`]), and for
/// entries other than plain texts `k` (kind: 1 edit, 2 delete, 3 react; absent: text), `g`
/// (the target), `r` (a text's reply target), `m` (emoji), `o` (a reaction on: 1).
fn parse_entry(room: &str, epoch: u64, entry: Value) -> Result<Entry, String> {
    let Value::Array(parts) = entry else {
        return Err(format!("unexpected stream entry {entry:?}"));
    };
    let mut parts = parts.into_iter();
    let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
        return Err("a stream entry without id or fields".into());
    };
    let seq = parse_id(&id)?;
    let pairs: Vec<(Value, Value)> = match fields {
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        other => return Err(format!("unexpected fields {other:?} in entry {seq}")),
    };
    let (mut from, mut text, mut ts) = (None, None, None);
    let (mut kind, mut target, mut reply_to, mut emoji, mut on) = (0u8, None, None, None, false);
    for (key, value) in pairs {
        let (Value::BulkString(key), Value::BulkString(value)) = (key, value) else {
            return Err(format!("a field of entry {seq} is not a string"));
        };
        let value =
            String::from_utf8(value).map_err(|_| format!("a field of entry {seq} is not UTF-8"))?;
        match key.as_slice() {
            b"f" => from = Some(value),
            b"t" => text = Some(value),
            b"ts" => ts = value.parse::<u64>().ok(),
            b"k" => kind = value.parse::<u8>().unwrap_or(u8::MAX),
            b"g" => target = value.parse::<u64>().ok(),
            b"r" => reply_to = value.parse::<u64>().ok(),
            b"m" => emoji = Some(value),
            b"o" => on = value == "1",
            _ => {}
        }
    }
    let (Some(from), Some(text), Some(ts)) = (from, text, ts) else {
        return Err(format!("entry {seq} lacks one of the fields f, t, ts"));
    };
    let body = match (kind, target) {
        (0, _) => EntryBody::Text { text, reply_to },
        (1, Some(target)) => EntryBody::Edit { target, text },
        (2, Some(target)) => EntryBody::Delete { target },
        (3, Some(target)) => EntryBody::React {
            target,
            emoji: emoji.unwrap_or_default(),
            on,
        },
        _ => return Err(format!("entry {seq} has kind {kind} without a target")),
    };
    Ok(Entry {
        room: room.to_owned(),
        seq,
        epoch,
        from,
        ts,
        body,
    })
}
