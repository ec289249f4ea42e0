//! Version 2's changes to messages (Edit, Delete, React) and its History answer: each
//! request checked here as far as the session can (room, text, emoji, grant, rate), the
//! log's own checks (author, deleted, edit limit) left to the broker, which makes them in
//! the same step that stores the entry.

use chitchat_protocol::{
    ClientFrame, EntryBody, EntryPage, ErrorCode, MessageState, ServerFrame, is_reaction,
    validate_room, validate_text,
};

use super::limits::fit_page;
use super::{Answer, Pending, Session, SessionError, broker_error, fatal};
use crate::broker::{BrokerError, NewEntry, SharedBroker};

impl Session {
    /// Edit, Delete or React (and Post from a version-1 session, which does not know it):
    /// answered by Sent once the entry is stored, or by the log's refusal.
    pub(super) async fn change(
        &mut self,
        frame: ClientFrame,
        pending: &mut Pending,
    ) -> Result<(), SessionError> {
        if self.version < 2 {
            return Err(fatal(
                ErrorCode::UNKNOWN_FRAME,
                "Post, Edit, Delete and React need protocol version 2",
            ));
        }
        let (id, room, body) = match frame {
            ClientFrame::Edit {
                id,
                room,
                seq,
                text,
            } => {
                let max = self.state.limits.max_text_bytes as usize;
                if let Err(e) = validate_text(&text, max) {
                    return self.error(id, e.code, &e.message).await;
                }
                (id, room, EntryBody::Edit { target: seq, text })
            }
            ClientFrame::Delete { id, room, seq } => (id, room, EntryBody::Delete { target: seq }),
            ClientFrame::React {
                id,
                room,
                seq,
                emoji,
                on,
            } => {
                if !is_reaction(&emoji) {
                    let message = "a reaction must be one of the protocol's REACTIONS";
                    return self.error(id, ErrorCode::INVALID_REQUEST, message).await;
                }
                let body = EntryBody::React {
                    target: seq,
                    emoji,
                    on,
                };
                (id, room, body)
            }
            _ => {
                return Err(fatal(
                    ErrorCode::INTERNAL,
                    "a request that is not a change was handled as one",
                ));
            }
        };
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        if let Err((code, message)) = self.may_write(&room) {
            return self.error(id, code, &message).await;
        }
        if let EntryBody::Edit { text, .. } = &body
            && let Err(q) = self.state.quotas.charge_bytes(self.addr, text.len() as u64)
        {
            return self
                .error(id, ErrorCode::QUOTA_EXCEEDED, &q.to_string())
                .await;
        }
        let stored = self.state.broker.append(NewEntry {
            room,
            from: self.nick.clone(),
            body,
            send_id: None,
            by_operator: false,
        });
        let metrics = self.state.metrics.clone();
        pending.push(Box::pin(async move {
            let frame = match stored.await {
                Ok(e) => ServerFrame::Sent {
                    id,
                    room: e.room,
                    epoch: e.epoch,
                    seq: e.seq,
                    ts: e.ts,
                },
                Err(e) => broker_error(id, &metrics, e),
            };
            Answer {
                frame,
                history: false,
            }
        }));
        Ok(())
    }
}

/// Version 2's History answer: the newest text messages before `before` in their latest
/// state, at most `limit` and at most HISTORY_PAGE_BYTES.
pub(super) async fn entry_page(
    broker: &SharedBroker,
    id: u32,
    room: String,
    before: Option<u64>,
    limit: usize,
) -> Result<ServerFrame, BrokerError> {
    let head = broker.head(&room).await?;
    // One extra tells whether more exist.
    let mut messages = broker.read_states_before(&room, before, limit + 1).await?;
    let more = fit_page(&mut messages, limit, encoded_size);
    Ok(ServerFrame::Entries(EntryPage {
        id,
        room,
        epoch: head.epoch,
        messages,
        more,
    }))
}

/// About how many bytes `m` takes in a frame (an upper bound: varints counted wide).
fn encoded_size(m: &MessageState) -> usize {
    let reactions: usize = m
        .reactions
        .iter()
        .map(|r| r.emoji.len() + 9 + r.nicks.iter().map(|n| n.len() + 9).sum::<usize>())
        .sum();
    m.text.len() + m.from.len() + reactions + 64
}
