//! The sender task: everything this relay writes to Redis goes through one in-process queue
//! ([`Queued`]) and leaves in batches, one pipeline per batch on one multiplexed
//! connection, so Redis runs the commands in queue order and call order is seq order.
//! A message is one run of the publish script (`EVALSHA`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::{ServerErrorKind, Value};
use chitchat_protocol::Message;
use tokio::sync::{mpsc, oneshot};

use super::BrokerState;
use super::keys::{channel, epoch_key, log_key, send_key, seq_key};
use super::link::{COMMAND_TIMEOUT, unavailable};
use super::presence::{PresenceChange, add_presence};
use super::seen::check_stored;
use crate::broker::api::{BrokerError, NewMessage, SEND_ID_TTL};
use chitchat_protocol::bus::{message_prefix, message_suffix};

/// How long a message may wait in the send queue before it is failed without being sent.
/// Bounds a publisher's wait when Redis is slow, and keeps a stale message from being
/// stored long after its sender was told it failed.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most queued items the sender puts in one pipeline. Batching is what makes many
/// publishes cheap; a bound keeps one pipeline's reply (and its deadline) reasonable.
const MAX_BATCH: usize = 256;

/// How long a master waits for its replicas to acknowledge a batch (`WAIT`, cluster mode).
/// Replication on one network takes milliseconds; a replica a second behind is failing or
/// gone, and the senders are better told to send again (by send id) than kept waiting.
pub(super) const REPLICA_WAIT: Duration = Duration::from_secs(1);

/// An item on the sender task's queue.
pub(super) enum Queued {
    Publish {
        msg: NewMessage,
        queued: Instant,
        reply: oneshot::Sender<Result<Message, BrokerError>>,
    },
    Signal {
        room: String,
        frame: Vec<u8>,
    },
    Presence {
        room: String,
        change: PresenceChange,
    },
    /// Answered once everything queued before it has been sent and answered.
    Barrier(oneshot::Sender<()>),
}

/// The sender task: sends queued items in order, a batch per pipeline, until every queue
/// handle is gone.
pub(super) async fn run_sender(
    state: Arc<BrokerState>,
    mut queue: mpsc::UnboundedReceiver<Queued>,
) {
    let mut batch = Vec::new();
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let mut items = std::mem::take(&mut batch);
        let mut may_retry = true;
        while let Some(retry) = send_batch(&state, items, may_retry).await {
            items = retry;
            may_retry = false;
        }
    }
    tracing::debug!("sender stopped");
}

/// Sends one batch; returns publishes to send again at once if Redis had lost the script
/// and they are the batch's tail (so resending them keeps call order).
async fn send_batch(
    state: &BrokerState,
    items: Vec<Queued>,
    may_retry: bool,
) -> Option<Vec<Queued>> {
    let Some(link) = state.active.current() else {
        for item in items {
            answer(item, unavailable);
        }
        return None;
    };
    let mut pipe = ::redis::pipe();
    let mut sent = Vec::with_capacity(items.len());
    let mut barriers = Vec::new();
    // Per publish, what was seen of its room before its script runs (see `check_stored`).
    let mut before = Vec::new();
    for item in items {
        match item {
            Queued::Publish { msg, queued, reply } => {
                if queued.elapsed() > QUEUE_TIMEOUT {
                    let _ = reply.send(Err(BrokerError::Unavailable(format!(
                        "Redis did not take the message within {QUEUE_TIMEOUT:?}"
                    ))));
                    continue;
                }
                let command = pipe
                    .cmd("EVALSHA")
                    .arg(state.scripts.publish.get_hash())
                    .arg(if msg.send_id.is_some() { 5 } else { 4 })
                    .arg(seq_key(&msg.room))
                    .arg(log_key(&msg.room))
                    .arg(channel(&msg.room))
                    .arg(epoch_key(&msg.room));
                if let Some(send_id) = msg.send_id {
                    command.arg(send_key(&msg.room, &msg.from, send_id));
                }
                command
                    .arg(state.history_limit)
                    .arg(state.seen.floor(&msg.room))
                    .arg(message_prefix(&state.node_id, &msg.room))
                    .arg(message_suffix(&msg.from, &msg.text))
                    .arg(&msg.from)
                    .arg(&msg.text);
                if msg.send_id.is_some() {
                    command.arg(SEND_ID_TTL.as_millis() as u64);
                }
                before.push(state.seen.position(&msg.room));
                sent.push(Queued::Publish { msg, queued, reply });
            }
            Queued::Signal { room, frame } => {
                pipe.cmd("SPUBLISH").arg(channel(&room)).arg(&frame);
                sent.push(Queued::Signal { room, frame });
            }
            Queued::Presence { room, change } => {
                add_presence(&mut pipe, state, &room, &change);
                sent.push(Queued::Presence { room, change });
            }
            Queued::Barrier(reply) => barriers.push(reply),
        }
    }
    if sent.is_empty() {
        for barrier in barriers {
            let _ = barrier.send(());
        }
        return None;
    }

    let mut conn = link.conn.clone();
    let count = sent.len();
    let stored = conn.replicated(&pipe, count, state.min_replicas, REPLICA_WAIT);
    let replies = tokio::time::timeout(COMMAND_TIMEOUT, stored).await;
    let replies = match replies {
        Ok(Ok(replies)) if replies.len() == count => replies,
        Ok(Ok(replies)) => {
            let why = format!("Redis answered {} of {count} commands", replies.len());
            state.active.report_trouble(link.generation);
            fail_all(sent, barriers, || BrokerError::Unavailable(why.clone()));
            return None;
        }
        Ok(Err(e)) => {
            let error = state.active.failed(&link, "sending messages", &e);
            fail_all(sent, barriers, || error.clone());
            return None;
        }
        Err(_) => {
            state.active.report_trouble(link.generation);
            fail_all(sent, barriers, || {
                BrokerError::Unavailable(format!("Redis did not answer within {COMMAND_TIMEOUT:?}"))
            });
            return None;
        }
    };

    // A script run that failed with NOSCRIPT stored nothing. If no run after it succeeded,
    // the failed ones can be sent again in order once the script is loaded.
    let mut retry = Vec::new();
    let mut stored_after_noscript = false;
    let mut outcomes = Vec::with_capacity(count);
    let mut before = before.into_iter();
    for (item, reply) in sent.into_iter().zip(replies) {
        let Queued::Publish {
            msg,
            queued,
            reply: answer_to,
        } = item
        else {
            if let Value::ServerError(e) = reply {
                tracing::warn!(error = ?e, "a signal or presence change was refused");
            }
            continue;
        };
        let seen_before = before.next().flatten();
        let noscript = matches!(&reply, Value::ServerError(e)
            if e.kind() == Some(ServerErrorKind::NoScript));
        if noscript {
            retry.push(Queued::Publish {
                msg,
                queued,
                reply: answer_to,
            });
        } else {
            if !retry.is_empty() && !matches!(reply, Value::ServerError(_)) {
                stored_after_noscript = true;
            }
            outcomes.push((msg, answer_to, reply, seen_before));
        }
    }
    for (msg, answer_to, reply, seen_before) in outcomes {
        let result = match stored_message(&msg, reply) {
            Ok((mut stored, repeated)) => {
                if !repeated {
                    let position = (stored.epoch, stored.seq, stored.ts);
                    stored.epoch = check_stored(
                        state,
                        &link.conn,
                        &msg.room,
                        seen_before,
                        position,
                        &msg.from,
                    )
                    .await;
                }
                Ok(stored)
            }
            Err(e) => {
                tracing::warn!(room = %msg.room, error = %e, "storing a message failed");
                Err(e)
            }
        };
        let _ = answer_to.send(result);
    }
    for barrier in barriers {
        let _ = barrier.send(());
    }
    if retry.is_empty() {
        return None;
    }
    if may_retry && !stored_after_noscript {
        let mut conn = link.conn.clone();
        let load = state.scripts.publish.load_async(&mut conn);
        match tokio::time::timeout(COMMAND_TIMEOUT, load).await {
            Ok(Ok(_)) => return Some(retry),
            Ok(Err(e)) => tracing::warn!(error = %e, "loading the publish script failed"),
            Err(_) => tracing::warn!("loading the publish script timed out"),
        }
    }
    for item in retry {
        answer(item, || {
            BrokerError::Unavailable("Redis lost the publish script; send again".into())
        });
    }
    None
}

/// The message a script run stored, from its reply: `{seq, ts, epoch}` for a new message
/// (false), or `{seq, ts, epoch, text}` for a repeated send id (true: the original's text
/// wins; nil if retention dropped it).
fn stored_message(msg: &NewMessage, reply: Value) -> Result<(Message, bool), BrokerError> {
    let mut text = msg.text.clone();
    let (seq, ts, epoch, repeated) = match reply {
        Value::Array(values) => match values.as_slice() {
            [Value::Int(seq), Value::Int(ts), Value::Int(epoch)] => (*seq, *ts, *epoch, false),
            [
                Value::Int(seq),
                Value::Int(ts),
                Value::Int(epoch),
                Value::Nil,
            ] => (*seq, *ts, *epoch, true),
            [
                Value::Int(seq),
                Value::Int(ts),
                Value::Int(epoch),
                Value::BulkString(stored),
            ] => {
                text = String::from_utf8_lossy(stored).into_owned();
                (*seq, *ts, *epoch, true)
            }
            _ => return Err(bad_reply(&Value::Array(values))),
        },
        Value::ServerError(e) => {
            return Err(BrokerError::Internal(format!(
                "Redis refused to store a message in room {}: {} {}",
                msg.room,
                e.code(),
                e.details().unwrap_or("")
            )));
        }
        other => return Err(bad_reply(&other)),
    };
    let (Ok(seq), Ok(ts), Ok(epoch)) =
        (u64::try_from(seq), u64::try_from(ts), u64::try_from(epoch))
    else {
        return Err(BrokerError::Internal(format!(
            "the publish script returned seq {seq}, ts {ts} and epoch {epoch}"
        )));
    };
    Ok((msg.stored_as(epoch, seq, ts, text), repeated))
}

fn bad_reply(value: &Value) -> BrokerError {
    BrokerError::Internal(format!(
        "unexpected reply from the publish script: {value:?}"
    ))
}

/// Answers a queued item that will not be sent.
fn answer(item: Queued, error: impl Fn() -> BrokerError) {
    match item {
        Queued::Publish { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Queued::Signal { .. } | Queued::Presence { .. } => {}
        Queued::Barrier(reply) => {
            let _ = reply.send(());
        }
    }
}

fn fail_all(
    sent: Vec<Queued>,
    barriers: Vec<oneshot::Sender<()>>,
    error: impl Fn() -> BrokerError,
) {
    for item in sent {
        answer(item, &error);
    }
    for barrier in barriers {
        let _ = barrier.send(());
    }
}
