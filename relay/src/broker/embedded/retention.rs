//! Retention for the embedded store: each room keeps its newest `limit` messages and, with a
//! maximum age, drops older ones, but always keeps its newest message, from which numbering
//! continues. The count is enforced in the writer's own transactions as messages are stored;
//! both rules are also applied by a periodic pass over every room, in small slices between
//! batches of sends, so a trim never holds the writer for long.

use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, Transaction, params};

use super::sqlite::{SELECT_FIRST_YOUNG, SELECT_LAST_SEQ, SELECT_NEXT_ROOM, TRIM_ROOM};
use crate::clock::now_ms;

/// The most messages one trim of one room deletes. A room far over its limit (after the
/// limit was lowered) is trimmed over several slices, so one delete never stalls sends.
const TRIM_STEP: i64 = 1000;

/// Rooms visited by one slice of the periodic pass: each costs a few index seeks and at most
/// [`TRIM_STEP`] deletes, so a slice is short and queued sends go between slices.
const ROOMS_PER_SLICE: usize = 64;

/// Time between the starts of two passes over every room. Age retention is this coarse: a
/// message is dropped within this long after it passes the maximum age.
const PASS_INTERVAL: Duration = Duration::from_secs(60);

/// What the embedded store keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept per room (the newest); `None` keeps all.
    pub limit: Option<u64>,
    /// Messages older than this are dropped (but never a room's newest); `None` keeps all.
    pub max_age: Option<Duration>,
}

/// The periodic pass's progress.
pub(super) struct RetentionPass {
    policy: Retention,
    /// The last room the running pass finished; empty before the first.
    cursor: String,
    /// When the next slice is due; `None` when nothing is to be kept short.
    next_at: Option<Instant>,
}

impl RetentionPass {
    /// A pass for `policy`, its first slice due at once (the limit may have been lowered
    /// since the store was written).
    pub(super) fn new(policy: Retention) -> RetentionPass {
        let active = policy.limit.is_some() || policy.max_age.is_some();
        RetentionPass {
            policy,
            cursor: String::new(),
            next_at: active.then(Instant::now),
        }
    }

    /// How long until the next slice is due; `None` if never.
    pub(super) fn due_in(&self) -> Option<Duration> {
        self.next_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Trims `room`, whose newest seq is `last_seq`, to the message limit, in the writer's
    /// transaction; the number of messages deleted.
    pub(super) fn trim_count(
        &self,
        tx: &Transaction<'_>,
        room: &str,
        last_seq: u64,
    ) -> rusqlite::Result<usize> {
        let Some(limit) = self.policy.limit else {
            return Ok(0);
        };
        if last_seq <= limit {
            return Ok(0);
        }
        trim_through(tx, room, last_seq - limit)
    }

    /// Runs one slice of the pass in `tx` if it is due; the number of messages deleted.
    pub(super) fn run_slice(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<usize> {
        match self.due_in() {
            Some(wait) if wait.is_zero() => {}
            _ => return Ok(0),
        }
        let cutoff = self
            .policy
            .max_age
            .map(|age| now_ms().saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)));
        let mut next_room = tx.prepare_cached(SELECT_NEXT_ROOM)?;
        let mut last_seq = tx.prepare_cached(SELECT_LAST_SEQ)?;
        let mut first_young = tx.prepare_cached(SELECT_FIRST_YOUNG)?;
        let mut deleted = 0;
        for _ in 0..ROOMS_PER_SLICE {
            let Some(room) = next_room
                .query_row([&self.cursor], |row| row.get::<_, String>(0))
                .optional()?
            else {
                // Every room visited: the next pass starts from the first room.
                self.cursor.clear();
                self.next_at = Some(Instant::now() + PASS_INTERVAL);
                return Ok(deleted);
            };
            let last: u64 = last_seq
                .query_row([&room], |row| row.get::<_, Option<u64>>(0))?
                .unwrap_or(0);
            let mut through = self.policy.limit.map_or(0, |l| last.saturating_sub(l));
            if let Some(cutoff) = cutoff {
                // The newest message stays even when it is old: numbering continues from it.
                let young: Option<u64> = first_young
                    .query_row(params![room, cutoff], |row| row.get(0))
                    .optional()?;
                through = through.max(young.unwrap_or(last).saturating_sub(1));
            }
            let n = trim_through(tx, &room, through)?;
            deleted += n;
            if i64::try_from(n).unwrap_or(i64::MAX) >= TRIM_STEP {
                // More to delete in this room: come back to it in the next slice.
                break;
            }
            self.cursor = room;
        }
        // More rooms, or more of one room: the next slice goes after the queued sends.
        self.next_at = Some(Instant::now());
        Ok(deleted)
    }
}

/// Deletes up to [`TRIM_STEP`] of `room`'s messages with a seq at or below `through`.
fn trim_through(tx: &Transaction<'_>, room: &str, through: u64) -> rusqlite::Result<usize> {
    if through == 0 {
        return Ok(0);
    }
    let through = i64::try_from(through).unwrap_or(i64::MAX);
    tx.prepare_cached(TRIM_ROOM)?
        .execute(params![room, through, TRIM_STEP])
}
