//! Delivery to the sink, room by room in seq order: the last seq delivered per subscribed
//! room ([`Delivery`]), duplicates dropped, gaps filled from history before the message
//! that revealed them. The bus task owns one and is its only caller.

use std::collections::HashMap;
use std::sync::Arc;

use ::redis::aio::MultiplexedConnection;
use chitchat_protocol::Entry;

use super::BrokerState;
use super::stream::{CATCH_UP_PAGE, HistoryError, read_page};

/// What the bus task has delivered, per subscribed room.
pub(super) struct Delivery {
    state: Arc<BrokerState>,
    /// Per room, the last seq delivered (or, right after subscribing, the last one stored
    /// then).
    last: HashMap<String, u64>,
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

    /// Starts delivering `room` after seq `last`.
    pub fn start(&mut self, room: String, last: u64) {
        self.last.insert(room, last);
    }

    /// Stops delivering `room`; false if it was not delivered.
    pub fn stop(&mut self, room: &str) -> bool {
        self.last.remove(room).is_some()
    }

    /// The store lost its history: every room starts again from seq 1.
    pub fn restart(&mut self) {
        for last in self.last.values_mut() {
            *last = 0;
        }
    }

    /// Delivers `msg` after filling any gap before it from history (read on `conn`); drops
    /// duplicates.
    pub async fn deliver_in_order(
        &mut self,
        conn: &mut MultiplexedConnection,
        room: &str,
        msg: Entry,
    ) -> Result<(), HistoryError> {
        let Some(&last) = self.last.get(room) else {
            return Ok(());
        };
        if msg.seq <= last {
            return Ok(());
        }
        if msg.seq > last + 1 {
            self.fill(conn, room, msg.seq - 1).await?;
        }
        self.deliver(room, &msg);
        Ok(())
    }

    /// Delivers everything stored after the room's last delivered seq.
    pub async fn catch_up(
        &mut self,
        conn: &mut MultiplexedConnection,
        room: &str,
    ) -> Result<(), HistoryError> {
        self.fill(conn, room, u64::MAX).await
    }

    /// Delivers one message and records its seq, if the room still wants it.
    fn deliver(&mut self, room: &str, msg: &Entry) {
        let Some(last) = self.last.get_mut(room) else {
            return;
        };
        if msg.seq <= *last {
            return;
        }
        *last = msg.seq;
        let delivering = self.state.delivering();
        if delivering.contains(room) {
            self.state.sink.entry(msg);
        }
    }

    /// Delivers stored messages after the room's last delivered seq, up to `until`.
    async fn fill(
        &mut self,
        conn: &mut MultiplexedConnection,
        room: &str,
        until: u64,
    ) -> Result<(), HistoryError> {
        let Some(&(mut cursor)) = self.last.get(room) else {
            return Ok(());
        };
        while cursor < until {
            let page = read_page(conn, room, cursor).await?;
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
            && let Some(&last) = self.last.get(room)
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
