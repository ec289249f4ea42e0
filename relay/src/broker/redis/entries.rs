//! Log entries other than plain texts in Redis: replies, edits, deletes and reactions,
//! checked and stored by [`ENTRY_SCRIPT`] in one run on the room's `{room}` keys, and
//! history pages in their latest state, from each message's state hash
//! ([`state_key`]).

use ::redis::{Script, Value};
use chitchat_protocol::{Entry, EntryBody, ErrorCode, MAX_EDITS, MessageState, ReactionCount};

use super::BrokerState;
use super::bus_frame::{entry_prefix, entry_suffix};
use super::keys::{channel, log_key, send_key, seq_key, state_key};
use super::link::COMMAND_TIMEOUT;
use super::scripts::ENTRY_SCRIPT;
use super::stream::read_texts_before;
use crate::broker::api::{BrokerError, NewEntry, SEND_ID_TTL};

/// The entry script, run by hash.
pub(super) fn script() -> Script {
    Script::new(ENTRY_SCRIPT)
}

/// Checks and stores `entry` (not a plain text: those take the publish queue).
pub(super) async fn append(
    state: &BrokerState,
    script: &Script,
    entry: NewEntry,
) -> Result<Entry, BrokerError> {
    let (kind, target, text, emoji, on) = match &entry.body {
        EntryBody::Text { text, reply_to } => (0, reply_to.unwrap_or(0), text.as_str(), "", false),
        EntryBody::Edit { target, text } => (1, *target, text.as_str(), "", false),
        EntryBody::Delete { target } => (2, *target, "", "", false),
        EntryBody::React { target, emoji, on } => (3, *target, "", emoji.as_str(), *on),
    };
    let room = &entry.room;
    let link = state.active.get()?;
    let mut invocation = script.prepare_invoke();
    invocation
        .key(seq_key(room))
        .key(log_key(room))
        .key(channel(room))
        .key(state_key(room, target))
        .arg(state.history_limit)
        .arg(link.epoch)
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
    if let (0, Some(id)) = (kind, entry.send_id) {
        invocation
            .key(send_key(room, &entry.from, id))
            .arg(SEND_ID_TTL.as_millis() as u64);
    }
    let what = format!("storing an entry in room {room}");
    let mut conn = link.conn.clone();
    let reply =
        match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<Value>(&mut conn))
            .await
        {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => return Err(state.active.failed(&link, &what, &e)),
            Err(_) => {
                state.active.report_trouble(link.generation);
                return Err(BrokerError::Unavailable(format!(
                    "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
                )));
            }
        };
    let (seq, ts, original) = parse_reply(&entry, reply)?;
    let body = match (original, entry.body) {
        (Some(text), EntryBody::Text { reply_to, .. }) => EntryBody::Text { text, reply_to },
        (_, body) => body,
    };
    Ok(Entry {
        room: entry.room,
        seq,
        epoch: link.epoch,
        from: entry.from,
        ts,
        body,
    })
}

/// `(seq, ts, the original text of a repeated send)` from the script's reply, or its
/// refusal.
fn parse_reply(entry: &NewEntry, reply: Value) -> Result<(u64, u64, Option<String>), BrokerError> {
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
        [seq, ts, rest @ ..] => {
            let (Some(seq), Some(ts)) = (number(seq), number(ts)) else {
                return Err(bad(&reply));
            };
            let original = match rest {
                [Value::BulkString(text)] => Some(String::from_utf8_lossy(text).into_owned()),
                _ => None,
            };
            Ok((seq, ts, original))
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
