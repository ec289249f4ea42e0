//! What this relay saw of each room it has members in: the room's epoch, the highest seq
//! seen in it, and who wrote the last few entries. With it the broker notices a room whose
//! seq went backwards (a Redis failover that promoted a replica lacking the newest entries,
//! so that the next seq handed out is one some message already had) and gives the room a
//! new epoch ([`bump_epoch`]), so that clients restart the room instead of skipping the new
//! message as one they have.
//!
//! Three places look: the sender (a script's seq at or below the highest seen before the
//! script ran), delivery (a frame or entry whose seq was seen with another author or
//! time), and the bus task after a reconnection (the entry at the last delivered seq gone,
//! or another one). Only rooms the bus task delivers are tracked, so the table is bounded
//! by the rooms with members on this relay, times [`RECENT`] entries each.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::redis::{RedisError, Value};
use tokio::sync::mpsc;

use super::BrokerState;
use super::cluster::RedisConn;
use super::keys::epoch_key;
use super::link::COMMAND_TIMEOUT;
use super::scripts::BUMP_EPOCH_SCRIPT;

/// Entries per room whose author and time are remembered. A failover loses the entries its
/// replica had not received yet, a few milliseconds of traffic; a reused seq further back
/// than this is still caught by the sender's and the reconnection's checks.
pub(super) const RECENT: usize = 128;

/// How a seq compares with what was seen of its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Above the highest seen: recorded.
    Fresh,
    /// Seen before, from the same entry (or too far back to tell).
    Repeat,
    /// Seen before from another entry: the seq was handed out twice.
    Reused,
    /// The room is tracked in another epoch.
    OtherEpoch,
    /// The room is not tracked.
    Untracked,
}

struct RoomSeen {
    epoch: u64,
    highest: u64,
    /// `(seq, fingerprint)` of the newest entries seen, oldest first.
    recent: VecDeque<(u64, u64)>,
}

/// The per-room table, shared by the sender, the entry path and the bus task.
pub(super) struct Seen {
    rooms: Mutex<HashMap<String, RoomSeen>>,
    /// Rooms whose epoch the bus task should read again (a new one was set or seen).
    recheck: mpsc::UnboundedSender<String>,
}

impl Seen {
    /// An empty table; the bus task reads rooms to check again from the receiver.
    pub fn new() -> (Seen, mpsc::UnboundedReceiver<String>) {
        let (recheck, rechecks) = mpsc::unbounded_channel();
        let seen = Seen {
            rooms: Mutex::new(HashMap::new()),
            recheck,
        };
        (seen, rechecks)
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, RoomSeen>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tracks `room` from now on (again) in `epoch`, with `highest` seen so far.
    pub fn track(&self, room: &str, epoch: u64, highest: u64) {
        self.rooms().insert(
            room.to_owned(),
            RoomSeen {
                epoch,
                highest,
                recent: VecDeque::new(),
            },
        );
    }

    /// Stops tracking `room` (no member left on this relay).
    pub fn forget(&self, room: &str) {
        self.rooms().remove(room);
    }

    /// `(epoch, highest seq seen)` of a tracked room.
    pub fn position(&self, room: &str) -> Option<(u64, u64)> {
        self.rooms().get(room).map(|r| (r.epoch, r.highest))
    }

    /// The least epoch a room that lost its keys may be given: one above the epoch known.
    pub fn floor(&self, room: &str) -> u64 {
        self.rooms()
            .get(room)
            .map_or(1, |r| r.epoch.saturating_add(1))
    }

    /// The fingerprint remembered for `seq` of `room`, if it is among the recent ones.
    pub fn fingerprint(&self, room: &str, epoch: u64, seq: u64) -> Option<u64> {
        let rooms = self.rooms();
        let r = rooms.get(room).filter(|r| r.epoch == epoch)?;
        r.recent.iter().find(|(s, _)| *s == seq).map(|(_, f)| *f)
    }

    /// Records that entry `seq` of `room` in `epoch`, with `fingerprint` (see
    /// [`fingerprint`]), was seen, and says how it compares.
    pub fn record(&self, room: &str, epoch: u64, seq: u64, fingerprint: u64) -> Verdict {
        let mut rooms = self.rooms();
        let Some(r) = rooms.get_mut(room) else {
            return Verdict::Untracked;
        };
        if r.epoch != epoch {
            return Verdict::OtherEpoch;
        }
        if seq > r.highest {
            r.highest = seq;
            r.recent.push_back((seq, fingerprint));
            if r.recent.len() > RECENT {
                r.recent.pop_front();
            }
            return Verdict::Fresh;
        }
        match r.recent.iter().find(|(s, _)| *s == seq) {
            Some((_, known)) if *known != fingerprint => Verdict::Reused,
            _ => Verdict::Repeat,
        }
    }

    /// Asks the bus task to read `room`'s epoch again.
    pub fn recheck(&self, room: &str) {
        // The bus task is gone only when the broker is stopping.
        let _ = self.recheck.send(room.to_owned());
    }

    /// How many rooms are tracked (tests of the bound).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.rooms().len()
    }
}

/// What identifies an entry beyond its seq: its author and its time. Two messages given
/// one seq by a failover differ in at least one of them but for a same-millisecond send by
/// the same user, which the other checks still catch.
pub(super) fn fingerprint(from: &str, ts: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    from.hash(&mut hasher);
    ts.hash(&mut hasher);
    hasher.finish()
}

/// Gives `room` a new epoch because its seq went backwards in `epoch` (see
/// [`BUMP_EPOCH_SCRIPT`]); returns the room's epoch after, which is another relay's new
/// one if it got there first.
pub(super) async fn bump_epoch(
    conn: &mut RedisConn,
    room: &str,
    epoch: u64,
) -> Result<u64, RedisError> {
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(BUMP_EPOCH_SCRIPT)
        .arg(1)
        .arg(epoch_key(room))
        .arg(epoch);
    let value: Value = cmd.query_async(conn).await?;
    match value {
        Value::Int(n) if n > 0 => Ok(n.unsigned_abs()),
        other => Err(RedisError::from((
            ::redis::ErrorKind::Parse,
            "the epoch bump script answered",
            format!("{other:?}"),
        ))),
    }
}

/// After a storing script answered `seq` in `epoch` for a new entry of `room` written by
/// `from` at `ts`: records it, and if the room's highest seq seen before the script ran
/// (`before`, the room's `(epoch, highest)` then) is at or above it, that seq was handed out
/// before, so the room is given a new epoch. Returns the epoch to answer the sender with.
pub(super) async fn check_stored(
    state: &BrokerState,
    conn: &RedisConn,
    room: &str,
    before: Option<(u64, u64)>,
    (epoch, seq, ts): (u64, u64, u64),
    from: &str,
) -> u64 {
    let reused = matches!(before, Some((e, highest)) if e == epoch && seq <= highest);
    if !reused {
        if state.seen.record(room, epoch, seq, fingerprint(from, ts)) == Verdict::OtherEpoch {
            state.seen.recheck(room);
        }
        return epoch;
    }
    tracing::warn!(
        room,
        epoch,
        seq,
        highest = before.map_or(0, |(_, h)| h),
        "Redis handed out a seq this relay had seen: entries were lost (a failover without \
         the replica wait?); the room gets a new epoch"
    );
    let mut conn = conn.clone();
    match tokio::time::timeout(COMMAND_TIMEOUT, bump_epoch(&mut conn, room, epoch)).await {
        Ok(Ok(new)) => {
            state.seen.recheck(room);
            new
        }
        Ok(Err(e)) => {
            tracing::error!(room, error = %e, "giving the room a new epoch failed");
            epoch
        }
        Err(_) => {
            tracing::error!(room, "giving the room a new epoch timed out");
            epoch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seq_seen_from_another_entry_is_reused() {
        let (seen, _rx) = Seen::new();
        assert_eq!(seen.record("r", 5, 1, 10), Verdict::Untracked);
        seen.track("r", 5, 0);
        assert_eq!(seen.record("r", 5, 1, 10), Verdict::Fresh);
        assert_eq!(seen.record("r", 5, 2, 20), Verdict::Fresh);
        assert_eq!(seen.record("r", 5, 2, 20), Verdict::Repeat);
        assert_eq!(seen.record("r", 5, 2, 21), Verdict::Reused);
        assert_eq!(seen.record("r", 6, 3, 30), Verdict::OtherEpoch);
        assert_eq!(seen.position("r"), Some((5, 2)));
        assert_eq!(seen.floor("r"), 6);
        assert_eq!(seen.floor("other"), 1);
        seen.forget("r");
        assert_eq!(seen.len(), 0);
    }

    #[test]
    fn only_the_recent_entries_are_remembered() {
        let (seen, _rx) = Seen::new();
        seen.track("r", 1, 0);
        for seq in 1..=(RECENT as u64 * 3) {
            seen.record("r", 1, seq, seq);
        }
        let rooms = seen.rooms();
        assert_eq!(rooms["r"].recent.len(), RECENT);
        drop(rooms);
        // Too far back to tell: not called reused.
        assert_eq!(seen.record("r", 1, 1, 999), Verdict::Repeat);
        assert_eq!(seen.record("r", 1, RECENT as u64 * 3, 999), Verdict::Reused);
    }
}
