//! What a [`RecordingSink`] received from a broker, and waiting on it with a deadline.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chitchat_protocol::{Entry, Message};
use chitchat_relay::broker::{Deliver, Signal};
use tokio::sync::Notify;

use super::{DEADLINE, summary};

/// What a [`RecordingSink`] has received, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub messages: Vec<Message>,
    /// Every entry, text entries included (those also arrive as `messages`).
    pub entries: Vec<Entry>,
    pub signals: Vec<(String, Signal)>,
}

impl Recorded {
    /// The messages delivered for `room`, in arrival order.
    pub fn messages_in(&self, room: &str) -> Vec<Message> {
        self.messages
            .iter()
            .filter(|m| m.room == room)
            .cloned()
            .collect()
    }

    /// The signals delivered for `room`, in arrival order.
    pub fn signals_in(&self, room: &str) -> Vec<Signal> {
        self.signals
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// A [`Deliver`] sink that records everything and wakes waiters.
#[derive(Debug, Default)]
pub struct RecordingSink {
    recorded: Mutex<Recorded>,
    changed: Notify,
}

impl RecordingSink {
    /// A new, empty sink.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A copy of everything received so far.
    pub fn snapshot(&self) -> Recorded {
        self.lock().clone()
    }

    /// Waits until `done` holds for what was received, and returns it; panics, naming
    /// `what` and showing what was received, if `deadline` passes first.
    pub async fn wait_until(
        &self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                let mut changed = std::pin::pin!(changed);
                // Registered before checking, so a delivery between check and await wakes us.
                changed.as_mut().enable();
                {
                    let recorded = self.lock();
                    if done(&recorded) {
                        return recorded.clone();
                    }
                }
                changed.await;
            }
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(recorded) => recorded,
            Err(_) => {
                let recorded = self.snapshot();
                panic!(
                    "waited {deadline:?} for {what}; received {} messages and {} signals: \
                     messages {:?}, signals {:?}",
                    recorded.messages.len(),
                    recorded.signals.len(),
                    summary(&recorded.messages),
                    recorded.signals,
                )
            }
        }
    }

    /// Waits (up to [`DEADLINE`]) until `room` has at least `n` messages; returns them.
    pub async fn wait_messages(&self, room: &str, n: usize) -> Vec<Message> {
        self.wait_until(&format!("{n} messages in room {room}"), DEADLINE, |r| {
            r.messages.iter().filter(|m| m.room == room).count() >= n
        })
        .await
        .messages_in(room)
    }

    /// Waits (up to [`DEADLINE`]) until `room` has at least `n` entries; returns them.
    pub async fn wait_entries(&self, room: &str, n: usize) -> Vec<Entry> {
        let recorded = self
            .wait_until(&format!("{n} entries in room {room}"), DEADLINE, |r| {
                r.entries.iter().filter(|e| e.room == room).count() >= n
            })
            .await;
        recorded
            .entries
            .into_iter()
            .filter(|e| e.room == room)
            .collect()
    }

    /// Waits (up to [`DEADLINE`]) until `room` has at least `n` signals; returns them.
    pub async fn wait_signals(&self, room: &str, n: usize) -> Vec<Signal> {
        self.wait_until(&format!("{n} signals in room {room}"), DEADLINE, |r| {
            r.signals.iter().filter(|(r, _)| r == room).count() >= n
        })
        .await
        .signals_in(room)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Deliver for RecordingSink {
    fn message(&self, msg: &Message) {
        self.lock().messages.push(msg.clone());
        self.changed.notify_waiters();
    }

    fn entry(&self, entry: &Entry) {
        let mut recorded = self.lock();
        recorded.entries.push(entry.clone());
        if let Some(msg) = entry.to_message() {
            recorded.messages.push(msg);
        }
        drop(recorded);
        self.changed.notify_waiters();
    }

    fn signal(&self, room: &str, signal: &Signal) {
        self.lock().signals.push((room.to_owned(), signal.clone()));
        self.changed.notify_waiters();
    }
}
