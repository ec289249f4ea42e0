//! Delivery to the sink, room by room in seq order: the epoch and last seq delivered per
//! subscribed room ([`Delivery`]), duplicates dropped, gaps filled from history before the
//! message that revealed them. Each entry delivered is recorded in the broker's
//! [`Seen`](super::seen::Seen) table; a live entry whose seq was delivered before from
//! another entry is reported ([`Delivered::Reused`]). The bus task owns one and is its only
//! caller.

use std::collections::HashMap;
use std::sync::Arc;

use chitchat_protocol::Entry;

use super::BrokerState;
use super::cluster::RedisConn;
use super::seen::{Verdict, fingerprint};
use super::stream::{CATCH_UP_PAGE, HistoryError, read_page};

/// Where delivery of one room stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    /// The room's epoch as delivered.
    pub epoch: u64,
    /// The last seq delivered (or, right after subscribing, the last one stored then).
    pub last: u64,
}

/// What became of a live entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivered {
    /// Delivered, or dropped as a duplicate or for a room not delivered.
    Done,
    /// The entry is of another epoch than the room's as delivered: read the room's epoch.
    OtherEpoch,
    /// The entry's seq was delivered before from another entry: the seq went backwards.
    Reused { epoch: u64 },
}

/// What the bus task has delivered, per subscribed room.
pub(super) struct Delivery {
    state: Arc<BrokerState>,
    last: HashMap<String, Cursor>,
}

impl Delivery {
    pub fn new(state: Arc<BrokerState>) -> Delivery {
        Delivery {
            state,
            last: HashMap::new(),
        }
    }

    pub fn contains(&self, room: &str) -> bool {
        self.last.contains_key(room)
    }

    /// The subscribed rooms.
    pub fn rooms(&self) -> Vec<String> {
        self.last.keys().cloned().collect()
    }

    /// Where delivery of `room` stands, if it is delivered.
    pub fn cursor(&self, room: &str) -> Option<Cursor> {
        self.last.get(room).copied()
    }

    /// Starts delivering `room` in `epoch` after seq `last` (the room's head).
    pub fn start(&mut self, room: String, epoch: u64, last: u64) {
        self.state.seen.track(&room, epoch, last);
        self.last.insert(room, Cursor { epoch, last });
    }

    /// Stops delivering `room`; false if it was not delivered.
    pub fn stop(&mut self, room: &str) -> bool {
        self.state.seen.forget(room);
        self.last.remove(room).is_some()
    }

    /// `room` has a new epoch: it is delivered again from seq 1 (call [`Delivery::catch_up`]
    /// next), so members learn of the new epoch from its entries.
    pub fn restart(&mut self, room: &str, epoch: u64) {
        if let Some(cursor) = self.last.get_mut(room) {
            *cursor = Cursor { epoch, last: 0 };
            self.state.seen.track(room, epoch, 0);
        }
    }

    /// Delivers `msg` after filling any gap before it from history (read on `conn`); drops
    /// duplicates, and says whether the room's epoch must be read again or its seq went
    /// backwards.
    pub async fn deliver_in_order(
        &mut self,
        conn: &mut RedisConn,
        room: &str,
        msg: Entry,
    ) -> Result<Delivered, HistoryError> {
        let Some(&Cursor { epoch, last }) = self.last.get(room) else {
            return Ok(Delivered::Done);
        };
        if msg.epoch != epoch {
            return Ok(Delivered::OtherEpoch);
        }
        if msg.seq <= last {
            let print = fingerprint(&msg.from, msg.ts);
            if self.state.seen.record(room, epoch, msg.seq, print) == Verdict::Reused {
                return Ok(Delivered::Reused { epoch });
            }
            return Ok(Delivered::Done);
        }
        if msg.seq > last + 1 {
            self.fill(conn, room, msg.seq - 1).await?;
        }
        self.deliver(room, &msg);
        Ok(Delivered::Done)
    }

    /// Delivers everything stored after the room's last delivered seq.
    pub async fn catch_up(&mut self, conn: &mut RedisConn, room: &str) -> Result<(), HistoryError> {
        self.fill(conn, room, u64::MAX).await
    }

    /// Delivers one message and records its seq, if the room still wants it.
    fn deliver(&mut self, room: &str, msg: &Entry) {
        let Some(cursor) = self.last.get_mut(room) else {
            return;
        };
        if msg.seq <= cursor.last {
            return;
        }
        cursor.last = msg.seq;
        self.state
            .seen
            .record(room, cursor.epoch, msg.seq, fingerprint(&msg.from, msg.ts));
        let delivering = self.state.delivering();
        if delivering.contains(room) {
            self.state.sink.entry(msg);
        }
    }

    /// Delivers stored messages after the room's last delivered seq, up to `until`.
    async fn fill(
        &mut self,
        conn: &mut RedisConn,
        room: &str,
        until: u64,
    ) -> Result<(), HistoryError> {
        let Some(&Cursor {
            epoch,
            last: mut cursor,
        }) = self.last.get(room)
        else {
            return Ok(());
        };
        while cursor < until {
            let page = read_page(conn, room, epoch, cursor).await?;
            for msg in &page.messages {
                if msg.seq > until {
                    break;
                }
                self.deliver(room, msg);
            }
            match page.last_id {
                Some(last_id) if page.entries == CATCH_UP_PAGE => cursor = last_id,
                _ => break,
            }
        }
        if until != u64::MAX
            && let Some(&Cursor { last, .. }) = self.last.get(room)
            && last < until
        {
            tracing::warn!(
                room,
                from = last + 1,
                until,
                "messages missing from history (trimmed by retention)"
            );
        }
        Ok(())
    }
}
