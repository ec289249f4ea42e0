//! Presence across relays: this relay's own nicks per room ([`LocalPresence`], what Redis
//! must say of it), the changes the sender carries to Redis ([`PresenceChange`]), purging
//! the entries of dead instances, and reading a room's members.
//!
//! Per room, Redis holds each instance's nicks ([`super::members_key`]) and how many
//! instances hold each nick ([`super::nicks_key`]); the presence scripts publish a Presence
//! frame exactly when a nick's count goes from 0 to 1 or back.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::redis::RedisError;

use super::BrokerState;
use super::cluster::RedisConn;
use super::keys::{channel, members_key, nicks_key};
use super::link::{COMMAND_TIMEOUT, timed_out};
use super::scripts::PRESENCE_SCRIPT;
use chitchat_protocol::bus::presence_prefix;

/// Nicks with sessions on this relay, per room: what presence in Redis must say, asserted
/// again after every reconnection.
pub(super) struct LocalPresence {
    rooms: Mutex<HashMap<String, HashSet<String>>>,
}

impl LocalPresence {
    pub fn new() -> LocalPresence {
        LocalPresence {
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `nick` has (`joined`) or no longer has a session in `room` here.
    pub fn record(&self, room: &str, nick: &str, joined: bool) {
        let mut rooms = self.rooms();
        if joined {
            rooms
                .entry(room.to_owned())
                .or_default()
                .insert(nick.to_owned());
        } else if let Some(nicks) = rooms.get_mut(room) {
            nicks.remove(nick);
            if nicks.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// The nicks this relay holds in `room`, sorted.
    pub fn nicks(&self, room: &str) -> Vec<String> {
        let mut nicks: Vec<String> = self
            .rooms()
            .get(room)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        nicks.sort_unstable();
        nicks
    }

    /// Rooms this relay holds nicks in.
    pub fn rooms_held(&self) -> Vec<String> {
        self.rooms().keys().cloned().collect()
    }
}

/// A presence change for the sender task to carry out, in queue order.
#[derive(Debug, Clone)]
pub(super) enum PresenceChange {
    Add(String),
    Remove(String),
    /// Exactly the nicks this relay holds in the room now (read when sent).
    Sync,
    /// None of them: the relay is leaving.
    Clear,
}

/// Adds one [`PRESENCE_SCRIPT`] run to `pipe`, for the sender task. The script goes as
/// `EVAL` (not `EVALSHA`): presence changes are rare, and a script cache Redis lost can
/// then never turn one away.
pub(super) fn add_presence(
    pipe: &mut ::redis::Pipeline,
    state: &BrokerState,
    room: &str,
    change: &PresenceChange,
) {
    let (op, nicks): (&str, Vec<String>) = match change {
        PresenceChange::Add(nick) => ("add", vec![nick.clone()]),
        PresenceChange::Remove(nick) => ("remove", vec![nick.clone()]),
        PresenceChange::Sync => ("set", state.presence.nicks(room)),
        PresenceChange::Clear => ("set", Vec::new()),
    };
    pipe.cmd("EVAL")
        .arg(PRESENCE_SCRIPT)
        .arg(3)
        .arg(members_key(room))
        .arg(nicks_key(room))
        .arg(channel(room))
        .arg(&state.instance)
        .arg(&state.node_id)
        .arg(presence_prefix(&state.node_id, room))
        .arg(op)
        .arg(nicks);
}

/// Runs the purge script for `room` on `conn` against `listing`, the registry's live
/// instances and the Redis time (ms) they were listed at (this instance always counts as
/// alive). Does nothing before the first listing.
pub(super) async fn purge_room(
    state: &BrokerState,
    conn: &mut RedisConn,
    room: &str,
    listing: Option<(HashSet<String>, u64)>,
) -> Result<(), RedisError> {
    let Some((instances, listed_ms)) = listing else {
        return Ok(());
    };
    let mut invocation = state.scripts.purge.prepare_invoke();
    invocation
        .key(members_key(room))
        .key(nicks_key(room))
        .key(channel(room))
        .arg(presence_prefix(&state.node_id, room))
        .arg(listed_ms)
        .arg(&state.instance);
    for instance in instances.iter().filter(|i| **i != state.instance) {
        invocation.arg(instance);
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<i64>(conn)).await {
        Ok(Ok(purged)) => {
            if purged > 0 {
                tracing::info!(room, purged, "removed the members of relays that are gone");
            }
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out(&format!("purging room {room}"))),
    }
}

/// The nicks in `room` across the cluster (the keys of its nicks hash).
pub(super) async fn room_nicks(
    conn: &mut RedisConn,
    room: &str,
) -> Result<Vec<String>, RedisError> {
    let mut cmd = ::redis::cmd("HKEYS");
    cmd.arg(nicks_key(room));
    match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Vec<String>>(conn)).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(&format!("reading room {room}'s members"))),
    }
}
