//! Log entries other than plain texts in Redis: replies, edits, deletes and reactions,
//! checked and stored by [`ENTRY_SCRIPT`] in one run on the room's `{room}` keys, and
//! history pages in their latest state, from each message's state hash
//! ([`state_key`]).

use ::redis::Value;
use chitchat_protocol::{Entry, EntryBody, ErrorCode, MAX_EDITS, MessageState, ReactionCount};

use super::BrokerState;
use super::keys::{channel, epoch_key, log_key, send_key, seq_key, state_key};
use super::link::COMMAND_TIMEOUT;
use super::scripts::ENTRY_SCRIPT;
use super::seen::check_stored;
use super::sender::REPLICA_WAIT;
use super::stream::read_texts_before;
use crate::broker::api::{BrokerError, NewEntry, SEND_ID_TTL};
use chitchat_protocol::bus::{entry_prefix, entry_suffix};

/// Checks and stores `entry` (not a plain text: those take the publish queue). Sent as
/// `EVAL` through [`super::cluster::RedisConn::replicated`], so on a Redis Cluster the entry
/// is acknowledged only once the shard's replicas have it, like a message (changes are rare,
/// so the script's text on each run costs little and no NOSCRIPT can come back).
pub(super) async fn append(state: &BrokerState, entry: NewEntry) -> Result<Entry, BrokerError> {
    let (kind, target, text, emoji, on) = match &entry.body {
        EntryBody::Text { text, reply_to } => (0, reply_to.unwrap_or(0), text.as_str(), "", false),
        EntryBody::Edit { target, text } => (1, *target, text.as_str(), "", false),
        EntryBody::Delete { target } => (2, *target, "", "", false),
        EntryBody::React { target, emoji, on } => (3, *target, "", emoji.as_str(), *on),
    };
    let room = &entry.room;
    let link = state.active.get()?;
    let send_id = match (kind, entry.send_id) {
        (0, Some(id)) => Some(id),
        _ => None,
    };
    let mut eval = ::redis::cmd("EVAL");
    eval.arg(ENTRY_SCRIPT)
        .arg(if send_id.is_some() { 6 } else { 5 })
        .arg(seq_key(room))
        .arg(log_key(room))
        .arg(channel(room))
        .arg(state_key(room, target))
        .arg(epoch_key(room));
    if let Some(id) = send_id {
        eval.arg(send_key(room, &entry.from, id));
    }
    eval.arg(state.history_limit)
        .arg(state.seen.floor(room))
        .arg(entry_prefix(&state.node_id, room))
        .arg(entry_suffix(&entry.from, &entry.body))
        .arg(&entry.from)
        .arg(kind)
        .arg(target)
        .arg(text)
        .arg(emoji)
        .arg(u8::from(on))
        .arg(MAX_EDITS)
        .arg(u8::from(entry.by_operator));
    if send_id.is_some() {
        eval.arg(SEND_ID_TTL.as_millis() as u64);
    }
    let mut pipe = ::redis::pipe();
    pipe.add_command(eval);
    let what = format!("storing an entry in room {room}");
    let mut conn = link.conn.clone();
    let seen_before = state.seen.position(room);
    let stored = conn.replicated(&pipe, 1, state.min_replicas, REPLICA_WAIT);
    let reply = match tokio::time::timeout(COMMAND_TIMEOUT, stored).await {
        Ok(Ok(mut replies)) if replies.len() == 1 => replies.remove(0),
        Ok(Ok(replies)) => {
            state.active.report_trouble(link.generation);
            return Err(BrokerError::Unavailable(format!(
                "{what}: Redis answered {} replies to one command",
                replies.len()
            )));
        }
        Ok(Err(e)) => return Err(state.active.failed(&link, &what, &e)),
        Err(_) => {
            state.active.report_trouble(link.generation);
            return Err(BrokerError::Unavailable(format!(
                "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
            )));
        }
    };
    let Stored {
        seq,
        ts,
        mut epoch,
        new,
        original,
    } = parse_reply(&entry, reply)?;
    if new {
        let position = (epoch, seq, ts);
        epoch = check_stored(state, &link.conn, room, seen_before, position, &entry.from).await;
    }
    let body = match (original, entry.body) {
        (Some(text), EntryBody::Text { reply_to, .. }) => EntryBody::Text { text, reply_to },
        (_, body) => body,
    };
    Ok(Entry {
        room: entry.room,
        seq,
        epoch,
        from: entry.from,
        ts,
        body,
    })
}

/// What the entry script answered for an entry it did not refuse.
struct Stored {
    seq: u64,
    ts: u64,
    epoch: u64,
    /// Stored by this run (not a repeated send id, nor a reaction that changed nothing).
    new: bool,
    /// The original text of a repeated send.
    original: Option<String>,
}

/// What the script stored (see [`ENTRY_SCRIPT`]'s replies), or its refusal.
fn parse_reply(entry: &NewEntry, reply: Value) -> Result<Stored, BrokerError> {
    let bad = |v: &Value| BrokerError::Internal(format!("the entry script answered {v:?}"));
    let Value::Array(values) = &reply else {
        return Err(bad(&reply));
    };
    let number = |v: &Value| match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    };
    match values.as_slice() {
        [Value::BulkString(code)] => Err(refusal(entry, code)),
        [seq, ts, epoch, rest @ ..] => {
            let (Some(seq), Some(ts), Some(epoch)) = (number(seq), number(ts), number(epoch))
            else {
                return Err(bad(&reply));
            };
            let original = match rest {
                [Value::BulkString(text)] => Some(String::from_utf8_lossy(text).into_owned()),
                _ => None,
            };
            // A fourth element (a repeated send's text, or nil for a reaction that changed
            // nothing) says the entry was stored before.
            Ok(Stored {
                seq,
                ts,
                epoch,
                new: rest.is_empty(),
                original,
            })
        }
        _ => Err(bad(&reply)),
    }
}

/// The refusal the script named.
fn refusal(entry: &NewEntry, code: &[u8]) -> BrokerError {
    let target = match &entry.body {
        EntryBody::Text { reply_to, .. } => reply_to.unwrap_or(0),
        EntryBody::Edit { target, .. }
        | EntryBody::Delete { target }
        | EntryBody::React { target, .. } => *target,
    };
    match code {
        b"NOT_AUTHOR" => BrokerError::refused(
            ErrorCode::NOT_AUTHOR,
            format!("message {target} is not yours: only its author may change it"),
        ),
        b"EDIT_LIMIT" => BrokerError::refused(
            ErrorCode::EDIT_LIMIT,
            format!("message {target} has had {MAX_EDITS} edits, the most a message may have"),
        ),
        _ => BrokerError::refused(
            ErrorCode::NO_SUCH_MESSAGE,
            format!("room {} has no message {target}", entry.room),
        ),
    }
}

/// The newest `limit` text messages of `room` before `before`, oldest first, each in its
/// latest state (its state hash folded in).
pub(super) async fn read_states_before(
    state: &BrokerState,
    room: &str,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<MessageState>, BrokerError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let texts = read_texts_before(&state.active, room, before, limit).await?;
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = ::redis::pipe();
    for text in &texts {
        pipe.cmd("HGETALL").arg(state_key(room, text.seq));
    }
    let link = state.active.get()?;
    let mut conn = link.conn.clone();
    let what = format!("reading the state of room {room}'s messages");
    let hashes: Vec<Vec<(String, String)>> =
        match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async(&mut conn)).await {
            Ok(Ok(hashes)) => hashes,
            Ok(Err(e)) => return Err(state.active.failed(&link, &what, &e)),
            Err(_) => {
                state.active.report_trouble(link.generation);
                return Err(BrokerError::Unavailable(format!(
                    "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
                )));
            }
        };
    Ok(texts
        .iter()
        .zip(hashes)
        .filter_map(|(text, hash)| with_state(text, &hash))
        .collect())
}

/// A text entry with its state hash's fields applied.
fn with_state(text: &Entry, hash: &[(String, String)]) -> Option<MessageState> {
    let mut message = MessageState::from_entry(text)?;
    let mut reactions: Vec<ReactionCount> = Vec::new();
    for (field, value) in hash {
        match field.as_str() {
            "d" if value == "1" => message.deleted = true,
            "t" => message.text.clone_from(value),
            "et" => message.edited_ts = value.parse().unwrap_or_default(),
            _ => {
                let Some((emoji, nick)) = field
                    .strip_prefix("r:")
                    .and_then(|rest| rest.split_once(':'))
                    .filter(|_| value.ends_with(":1"))
                else {
                    continue;
                };
                match reactions.iter_mut().find(|r| r.emoji == emoji) {
                    Some(r) => r.nicks.push(nick.to_owned()),
                    None => reactions.push(ReactionCount {
                        emoji: emoji.to_owned(),
                        nicks: vec![nick.to_owned()],
                    }),
                }
            }
        }
    }
    if message.deleted {
        message.text.clear();
        return Some(message);
    }
    for r in &mut reactions {
        r.nicks.sort();
    }
    reactions.sort_by_key(|r| {
        chitchat_protocol::REACTIONS
            .iter()
            .position(|e| *e == r.emoji)
            .unwrap_or(usize::MAX)
    });
    message.reactions = reactions;
    Some(message)
}
