//! Read markers on this relay: the [`MarkerBoard`] that hands a marker set by one session to
//! the same user's other sessions here.
//!
//! A version-3 session with a user (see `session::markers`) watches its user key on the
//! board while it lives. When the broker delivers a [`crate::broker::Signal::ReadMarker`] for
//! a room, the hub asks the board to deliver it to the user's watching sessions that are
//! members of the room here, except the session that set it. Each session's [`Inbox`] keeps
//! the latest marker per room until the session writes it, so a burst of markers costs one
//! entry per joined room, and nothing is dropped or blocks the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// Markers waiting to be written to one session, newest per room.
#[derive(Default)]
pub struct Inbox {
    pending: Mutex<HashMap<String, u64>>,
    ready: Notify,
}

impl Inbox {
    /// Resolves once markers are waiting (a permit is kept if none waits yet, so nothing
    /// put before the session waits is missed).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The waiting markers, emptied.
    pub fn take(&self) -> Vec<(String, u64)> {
        lock(&self.pending).drain().collect()
    }

    fn put(&self, room: &str, seq: u64) {
        {
            let mut pending = lock(&self.pending);
            let slot = pending.entry(room.to_owned()).or_insert(seq);
            *slot = (*slot).max(seq);
        }
        self.ready.notify_one();
    }
}

/// One session watching its user's markers.
struct Watcher {
    session: u64,
    inbox: Arc<Inbox>,
}

/// This relay's sessions by user key, for delivering read markers.
#[derive(Default)]
pub struct MarkerBoard {
    users: Arc<Mutex<HashMap<String, Vec<Watcher>>>>,
}

impl MarkerBoard {
    /// Session `session` watches `user`'s markers through `inbox` until the returned guard
    /// is dropped.
    pub fn watch(&self, user: &str, session: u64, inbox: Arc<Inbox>) -> Watching {
        lock(&self.users)
            .entry(user.to_owned())
            .or_default()
            .push(Watcher { session, inbox });
        Watching {
            users: self.users.clone(),
            user: user.to_owned(),
            session,
        }
    }

    /// Hands `user`'s marker `seq` in `room` to each watching session in `members` (the
    /// room's members here), except `except` (the session that set it, if it is here).
    pub fn deliver(&self, user: &str, room: &str, seq: u64, members: &[u64], except: Option<u64>) {
        let users = lock(&self.users);
        let Some(watchers) = users.get(user) else {
            return;
        };
        for w in watchers {
            if Some(w.session) != except && members.contains(&w.session) {
                w.inbox.put(room, seq);
            }
        }
    }
}

/// A session's place on the [`MarkerBoard`]; dropping it leaves the board.
pub struct Watching {
    users: Arc<Mutex<HashMap<String, Vec<Watcher>>>>,
    user: String,
    session: u64,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut users = lock(&self.users);
        if let Some(watchers) = users.get_mut(&self.user) {
            watchers.retain(|w| w.session != self.session);
            if watchers.is_empty() {
                users.remove(&self.user);
            }
        }
    }
}

/// Every critical section is a few plain updates, so a poisoned lock still holds
/// consistent data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reaches_the_users_other_sessions_in_the_room_only() {
        let board = MarkerBoard::default();
        let (a, b, c, other) = (
            Arc::new(Inbox::default()),
            Arc::new(Inbox::default()),
            Arc::new(Inbox::default()),
            Arc::new(Inbox::default()),
        );
        let _a = board.watch("guest:ada", 1, a.clone());
        let _b = board.watch("guest:ada", 2, b.clone());
        let c_watch = board.watch("guest:ada", 3, c.clone());
        let _o = board.watch("guest:bob", 4, other.clone());
        board.deliver("guest:ada", "lobby", 5, &[1, 2, 4], Some(1));
        board.deliver("guest:ada", "lobby", 3, &[1, 2, 4], Some(1));
        assert!(a.take().is_empty(), "the setter is skipped");
        assert_eq!(b.take(), vec![("lobby".to_owned(), 5)], "the newest, once");
        assert!(c.take().is_empty(), "not a member of the room here");
        assert!(other.take().is_empty(), "another user");
        drop(c_watch);
        board.deliver("guest:ada", "lobby", 6, &[3], None);
        assert!(c.take().is_empty(), "left the board");
    }
}
