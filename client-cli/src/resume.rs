//! Exactly-once delivery across reconnections, as pure bookkeeping: per joined room, the last
//! (epoch, seq) handed to the user. A re-join resumes from it; a message at or below it is a
//! duplicate and dropped.
//!
//! No I/O here: [`crate::session`] feeds it Joined answers and messages.

use std::collections::BTreeMap;

use chitchat_protocol::{Joined, Message, ResumeOutcome, ResumePoint};

/// What to do with an arriving message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New: hand it to the user.
    Deliver,
    /// Already delivered (or from before the join): drop it.
    Duplicate,
    /// Not a room this session is in (e.g. just left): drop it.
    NotJoined,
}

/// The delivery position of every joined room.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    rooms: BTreeMap<String, ResumePoint>,
}

impl Tracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a successful Join of `room` that asked for `requested`, and returns the
    /// position from which messages will count as new. Also used for re-joins, where
    /// `requested` is the position this tracker gave.
    ///
    /// - live join: only messages after the room's newest at join time;
    /// - resumed: after the requested seq (an epoch of 0 now takes the room's epoch);
    /// - epoch changed: the room's history is new, every message of it counts;
    /// - truncated: messages from the oldest one still stored.
    pub fn joined(
        &mut self,
        room: &str,
        requested: Option<ResumePoint>,
        joined: &Joined,
    ) -> ResumePoint {
        let seq = match (requested, joined.resume) {
            (None, _) | (_, ResumeOutcome::Live) => joined.last_seq,
            (Some(p), ResumeOutcome::Resumed) => p.seq,
            (Some(_), ResumeOutcome::EpochChanged) => 0,
            (Some(p), ResumeOutcome::Truncated { first_seq }) => {
                p.seq.max(first_seq.saturating_sub(1))
            }
        };
        let point = ResumePoint {
            epoch: joined.epoch,
            seq,
        };
        self.rooms.insert(room.to_owned(), point);
        point
    }

    /// Forgets a room (after leaving it).
    pub fn remove(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    /// Whether `room` is joined.
    pub fn contains(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// Where to resume `room` from.
    pub fn position(&self, room: &str) -> Option<ResumePoint> {
        self.rooms.get(room).copied()
    }

    /// Every joined room with its resume point, in name order.
    pub fn positions(&self) -> Vec<(String, ResumePoint)> {
        self.rooms.iter().map(|(r, p)| (r.clone(), *p)).collect()
    }

    /// Judges an arriving message and, if it is new, advances the room's position.
    pub fn accept(&mut self, msg: &Message) -> Verdict {
        self.accept_at(&msg.room, msg.epoch, msg.seq)
    }

    /// Judges an arriving log entry (or message) at `(epoch, seq)` of `room`, as
    /// [`Tracker::accept`] does.
    pub fn accept_at(&mut self, room: &str, epoch: u64, seq: u64) -> Verdict {
        let Some(point) = self.rooms.get_mut(room) else {
            return Verdict::NotJoined;
        };
        if epoch == point.epoch && seq <= point.seq {
            return Verdict::Duplicate;
        }
        // Same epoch and newer, or a new epoch: the store lost its history and numbering
        // restarted, so this message starts the room's new line.
        *point = ResumePoint { epoch, seq };
        Verdict::Deliver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(epoch: u64, last_seq: u64, resume: ResumeOutcome) -> Joined {
        Joined {
            id: 1,
            room: "r".into(),
            epoch,
            last_seq,
            members: vec![],
            resume,
        }
    }

    fn msg(room: &str, epoch: u64, seq: u64) -> Message {
        Message {
            room: room.into(),
            seq,
            epoch,
            from: "a".into(),
            ts: 0,
            text: format!("m{seq}"),
        }
    }

    fn point(epoch: u64, seq: u64) -> ResumePoint {
        ResumePoint { epoch, seq }
    }

    #[test]
    fn live_join_counts_only_newer_messages() {
        let mut t = Tracker::new();
        assert_eq!(
            t.joined("r", None, &joined(7, 10, ResumeOutcome::Live)),
            point(7, 10)
        );
        assert_eq!(t.accept(&msg("r", 7, 10)), Verdict::Duplicate);
        assert_eq!(t.accept(&msg("r", 7, 11)), Verdict::Deliver);
        assert_eq!(t.position("r"), Some(point(7, 11)));
        assert_eq!(t.accept(&msg("other", 7, 12)), Verdict::NotJoined);
    }

    #[test]
    fn since_zero_adopts_the_rooms_epoch() {
        let mut t = Tracker::new();
        let p = t.joined(
            "r",
            Some(point(0, 0)),
            &joined(7, 3, ResumeOutcome::Resumed),
        );
        assert_eq!(p, point(7, 0));
        for seq in 1..=3 {
            assert_eq!(t.accept(&msg("r", 7, seq)), Verdict::Deliver);
        }
    }

    #[test]
    fn a_reconnect_replays_nothing_twice() {
        // Delivered 1..=5 on the first connection, then the connection died.
        let mut t = Tracker::new();
        t.joined(
            "r",
            Some(point(0, 0)),
            &joined(7, 5, ResumeOutcome::Resumed),
        );
        for seq in 1..=5 {
            assert_eq!(t.accept(&msg("r", 7, seq)), Verdict::Deliver);
        }
        // Re-join from the tracked position; a relay that resends 4..=8 costs no duplicate.
        let p = t.position("r").unwrap();
        assert_eq!(p, point(7, 5));
        t.joined("r", Some(p), &joined(7, 8, ResumeOutcome::Resumed));
        let delivered: Vec<u64> = (4..=8)
            .filter(|&seq| t.accept(&msg("r", 7, seq)) == Verdict::Deliver)
            .collect();
        assert_eq!(delivered, vec![6, 7, 8]);
    }

    #[test]
    fn epoch_change_starts_over_and_truncation_skips_ahead() {
        let mut t = Tracker::new();
        t.joined(
            "r",
            Some(point(7, 5)),
            &joined(8, 2, ResumeOutcome::EpochChanged),
        );
        assert_eq!(t.accept(&msg("r", 8, 1)), Verdict::Deliver);

        let mut t = Tracker::new();
        let p = t.joined(
            "r",
            Some(point(7, 5)),
            &joined(7, 100, ResumeOutcome::Truncated { first_seq: 50 }),
        );
        assert_eq!(p, point(7, 49));
        assert_eq!(t.accept(&msg("r", 7, 50)), Verdict::Deliver);
    }

    #[test]
    fn a_new_epoch_mid_stream_is_delivered_and_followed() {
        let mut t = Tracker::new();
        t.joined("r", None, &joined(7, 10, ResumeOutcome::Live));
        assert_eq!(t.accept(&msg("r", 9, 1)), Verdict::Deliver);
        assert_eq!(t.accept(&msg("r", 9, 1)), Verdict::Duplicate);
        assert_eq!(t.accept(&msg("r", 9, 2)), Verdict::Deliver);
    }

    #[test]
    fn leaving_forgets() {
        let mut t = Tracker::new();
        t.joined("r", None, &joined(1, 0, ResumeOutcome::Live));
        assert!(t.contains("r"));
        t.remove("r");
        assert!(!t.contains("r"));
        assert_eq!(t.accept(&msg("r", 1, 1)), Verdict::NotJoined);
        assert!(t.positions().is_empty());
    }
}
