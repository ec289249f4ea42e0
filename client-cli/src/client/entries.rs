//! The client's version-2 requests on a room's log: a reply, an edit, a delete, a reaction,
//! and a history page with each message in its latest state.

use chitchat_protocol::{ClientFrame, EntryPage, HistoryPage, Message, MessageState, ServerFrame};

use super::{Client, Sent, unexpected};
use crate::ClientError;

/// A change to message `seq` of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Replace its text.
    Edit(String),
    /// Delete it (a tombstone stays).
    Delete,
    /// Add (`true`) or remove this user's reaction.
    React(String, bool),
}

impl Client {
    /// Sends `text` to `room` as a reply to message `reply_to`, stored once however often
    /// it is retried (`send_id`).
    pub async fn post(
        &self,
        room: &str,
        text: &str,
        send_id: u64,
        reply_to: Option<u64>,
    ) -> Result<Sent, ClientError> {
        let (room, text) = (room.to_owned(), text.to_owned());
        let frame = |id| ClientFrame::Post {
            id,
            room,
            text,
            send_id,
            reply_to,
        };
        self.stored(frame).await
    }

    /// Changes message `seq` of `room`; the change entry's place in the log.
    pub async fn change(&self, room: &str, seq: u64, change: Change) -> Result<Sent, ClientError> {
        let room = room.to_owned();
        let frame = |id| match change {
            Change::Edit(text) => ClientFrame::Edit {
                id,
                room,
                seq,
                text,
            },
            Change::Delete => ClientFrame::Delete { id, room, seq },
            Change::React(emoji, on) => ClientFrame::React {
                id,
                room,
                seq,
                emoji,
                on,
            },
        };
        self.stored(frame).await
    }

    /// One page of `room`'s messages older than `before` (the newest if `None`), oldest
    /// first, each in its latest state.
    pub async fn history_states(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u16,
    ) -> Result<EntryPage, ClientError> {
        match self.request(history_request(room, before, limit)).await? {
            ServerFrame::Entries(page) => Ok(page),
            // A relay that speaks version 1: its messages were never changed.
            ServerFrame::History(page) => Ok(as_states(page)),
            other => Err(unexpected(&other)),
        }
    }

    async fn stored(&self, frame: impl FnOnce(u32) -> ClientFrame) -> Result<Sent, ClientError> {
        match self.request(frame).await? {
            ServerFrame::Sent { epoch, seq, ts, .. } => Ok(Sent { epoch, seq, ts }),
            other => Err(unexpected(&other)),
        }
    }
}

/// A version-1 page as version 2's: each message as it was sent.
fn as_states(page: HistoryPage) -> EntryPage {
    let messages = page
        .messages
        .into_iter()
        .map(|m| MessageState {
            seq: m.seq,
            from: m.from,
            ts: m.ts,
            text: m.text,
            reply_to: None,
            edited_ts: 0,
            deleted: false,
            reactions: Vec::new(),
        })
        .collect();
    EntryPage {
        id: page.id,
        room: page.room,
        epoch: page.epoch,
        messages,
        more: page.more,
    }
}

/// A version-2 page as version 1's: the texts in their latest state, deleted ones left out.
pub(crate) fn as_history(page: EntryPage) -> HistoryPage {
    let messages = page
        .messages
        .into_iter()
        .filter(|m| !m.deleted)
        .map(|m| Message {
            room: page.room.clone(),
            seq: m.seq,
            epoch: page.epoch,
            from: m.from,
            ts: m.ts,
            text: m.text,
        })
        .collect();
    HistoryPage {
        id: page.id,
        room: page.room,
        epoch: page.epoch,
        messages,
        more: page.more,
    }
}

/// A History request for `room` (answered `History` or, version 2, `Entries`).
pub(super) fn history_request(
    room: &str,
    before: Option<u64>,
    limit: u16,
) -> impl FnOnce(u32) -> ClientFrame {
    let room = room.to_owned();
    move |id| ClientFrame::History {
        id,
        room,
        before,
        limit,
    }
}
