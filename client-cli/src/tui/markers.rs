//! Read markers in the full-screen chat (version 3): the shown room is marked read up to
//! its newest message for the user's other sessions, at most once per [`MARK_EVERY_MS`], and
//! a marker from another session drops a room's unread counts up to it. Pure: the event
//! loop sends what [`App::to_mark`] returns.

use super::model::App;

/// The least time between two markers sent: a busy room shown for a while costs a marker
/// or two a second at most, within the relay's marker rate.
pub const MARK_EVERY_MS: u64 = 500;

/// What the chat has marked, to send each marker once.
#[derive(Debug, Default)]
pub struct Marking {
    /// (room, seq) of the last marker sent, and when.
    last: Option<(String, u64)>,
    at_ms: u64,
}

impl App {
    /// A marker for `room` from another session of this user (or the stored one after a
    /// join): its unread messages up to `seq` are read, and later ones at or below it do not
    /// count.
    pub fn marker(&mut self, room: &str, seq: u64) {
        let Some(r) = self.rooms.iter_mut().find(|r| r.name == room) else {
            return;
        };
        r.read_to = r.read_to.max(seq);
        r.unread_seqs.retain(|(s, _)| *s > seq);
        r.unread = r.unread_seqs.len();
        r.mentions = r.unread_seqs.iter().filter(|(_, m)| *m).count();
    }

    /// The marker to send at `now` for the shown room, if it has news since the last one
    /// and [`MARK_EVERY_MS`] has passed: (room, newest seq shown).
    pub fn to_mark(&mut self, marking: &mut Marking, now: u64) -> Option<(String, u64)> {
        let r = self.rooms.get_mut(self.current)?;
        if r.newest == 0 || r.newest <= r.read_to {
            return None;
        }
        if now < marking.at_ms.saturating_add(MARK_EVERY_MS) {
            return None;
        }
        let mark = (r.name.clone(), r.newest);
        if marking.last.as_ref() == Some(&mark) {
            return None;
        }
        r.read_to = r.newest;
        marking.last = Some(mark.clone());
        marking.at_ms = now;
        Some(mark)
    }
}

#[cfg(test)]
mod tests {
    use chitchat_protocol::Message;

    use super::*;

    fn msg(room: &str, seq: u64, from: &str, text: &str) -> Message {
        Message {
            room: room.into(),
            seq,
            epoch: 1,
            from: from.into(),
            ts: seq,
            text: text.into(),
        }
    }

    fn app() -> App {
        let mut app = App::new("ada", "relay-1", "quic");
        app.joined("lobby", vec![], vec![]);
        app.joined("team", vec![], vec![]);
        app
    }

    #[test]
    fn another_sessions_marker_drops_unread_up_to_it() {
        let mut app = app();
        for seq in 1..=3 {
            app.message(msg("lobby", seq, "bob", "hi"));
        }
        app.message(msg("lobby", 4, "bob", "ada: look"));
        assert_eq!((app.rooms[0].unread, app.rooms[0].mentions), (4, 1));
        app.marker("lobby", 3);
        assert_eq!((app.rooms[0].unread, app.rooms[0].mentions), (1, 1));
        app.marker("lobby", 4);
        assert_eq!((app.rooms[0].unread, app.rooms[0].mentions), (0, 0));
        app.message(msg("lobby", 5, "bob", "later"));
        assert_eq!(app.rooms[0].unread, 1, "a later message counts");
        app.marker("nowhere", 9);
    }

    #[test]
    fn the_shown_room_is_marked_once_per_news_and_pause() {
        let mut app = app();
        let mut marking = Marking::default();
        assert_eq!(app.to_mark(&mut marking, 1_000), None, "nothing shown yet");
        app.message(msg("team", 1, "bob", "hi"));
        app.message(msg("team", 2, "bob", "hi"));
        assert_eq!(app.to_mark(&mut marking, 1_000), Some(("team".into(), 2)));
        assert_eq!(app.to_mark(&mut marking, 5_000), None, "nothing new");
        app.message(msg("team", 3, "bob", "hi"));
        assert_eq!(app.to_mark(&mut marking, 1_100), None, "within the pause");
        assert_eq!(app.to_mark(&mut marking, 1_600), Some(("team".into(), 3)));
        app.message(msg("lobby", 7, "bob", "hi"));
        assert_eq!(app.to_mark(&mut marking, 9_000), None, "not the shown room");
        app.marker("team", 9);
        app.message(msg("team", 8, "bob", "hi"));
        assert_eq!(
            app.to_mark(&mut marking, 9_000),
            None,
            "another session read past it"
        );
    }
}
