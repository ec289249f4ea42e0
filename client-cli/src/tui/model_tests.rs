use super::*;

fn msg(room: &str, seq: u64, from: &str, text: &str) -> Message {
    Message {
        room: room.into(),
        seq,
        epoch: 1,
        from: from.into(),
        ts: 1_000 + seq,
        text: text.into(),
    }
}

/// A history page's message, as sent.
fn state(seq: u64, from: &str, text: &str) -> MessageState {
    MessageState {
        seq,
        from: from.into(),
        ts: 1_000 + seq,
        text: text.into(),
        reply_to: None,
        edited_ts: 0,
        deleted: false,
        reactions: Vec::new(),
    }
}

fn app() -> App {
    let mut app = App::new("ada", "node-1", "quic");
    app.joined("lobby", vec!["ada".into()], vec![]);
    app.joined("side", vec!["ada".into()], vec![]);
    app
}

fn messages(room: &Room) -> Vec<(Option<u64>, String)> {
    room.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Message(p) => Some((p.seq, p.text.clone())),
            Entry::Event { .. } => None,
        })
        .collect()
}

#[test]
fn unread_and_mentions_count_in_rooms_not_shown() {
    let mut app = app();
    assert_eq!(app.current_name().as_deref(), Some("side"));
    app.message(msg("lobby", 1, "bob", "hello all"));
    app.message(msg("lobby", 2, "bob", "@ada look"));
    app.message(msg("lobby", 3, "bob", "ada: and you"));
    app.message(msg("lobby", 4, "bob", "adamant is no mention"));
    app.message(msg("lobby", 5, "bob", "ADA in capitals"));
    // One's own messages and the room shown count nothing.
    app.message(msg("lobby", 6, "ada", "from elsewhere"));
    app.message(msg("side", 1, "bob", "ada here"));
    let lobby = &app.rooms[0];
    assert_eq!((lobby.unread, lobby.mentions), (5, 3));
    assert_eq!((app.rooms[1].unread, app.rooms[1].mentions), (0, 0));
    // A message seen twice (a resumed stream) counts once.
    app.message(msg("lobby", 2, "bob", "@ada look"));
    assert_eq!(app.rooms[0].unread, 5);
    app.switch(0);
    assert_eq!((app.rooms[0].unread, app.rooms[0].mentions), (0, 0));
    app.cycle(true);
    assert_eq!(app.current, 1);
    app.cycle(true);
    assert_eq!(app.current, 0);
    app.cycle(false);
    assert_eq!(app.current, 1);
}

#[test]
fn mention_words() {
    assert!(mentions("hi @ada!", "ada"));
    assert!(mentions("ada, hi", "ada"));
    assert!(mentions("hi Ada", "ada"));
    assert!(!mentions("adam", "ada"));
    assert!(!mentions("ada_2 hi", "ada"));
    assert!(mentions("hi ada-2", "ada-2"));
    assert!(!mentions("anything", ""));
}

#[test]
fn own_message_pending_then_confirmed_once() {
    // Sent answers before the room stream brings it back.
    let mut app = app();
    let local = app.sending("side", "hello", 5);
    assert_eq!(messages(&app.rooms[1]), vec![(None, "hello".into())]);
    app.sent("side", local, 7, 900);
    app.message(msg("side", 7, "ada", "hello"));
    assert_eq!(messages(&app.rooms[1]), vec![(Some(7), "hello".into())]);

    // The room stream first: the pending copy is confirmed by it, Sent changes nothing.
    let local = app.sending("side", "again", 6);
    app.message(msg("side", 8, "ada", "again"));
    app.sent("side", local, 8, 901);
    assert_eq!(
        messages(&app.rooms[1]),
        vec![(Some(7), "hello".into()), (Some(8), "again".into())]
    );

    // Two equal texts pending: each confirmation takes one, none is shown twice.
    let a = app.sending("side", "same", 7);
    let b = app.sending("side", "same", 8);
    app.message(msg("side", 9, "ada", "same"));
    app.sent("side", b, 10, 903);
    app.sent("side", a, 9, 902);
    app.message(msg("side", 10, "ada", "same"));
    let texts = messages(&app.rooms[1]);
    assert_eq!(
        texts[2..],
        [(Some(9), "same".into()), (Some(10), "same".into())]
    );
    // Own messages never count as unread.
    assert_eq!(app.rooms[1].unread, 0);

    // A failed send stays, marked, and a later message of the same text is a new one.
    let c = app.sending("side", "lost", 9);
    app.send_failed("side", c, "sending too fast");
    app.message(msg("side", 11, "ada", "lost"));
    let failed = app.rooms[1]
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Message(p) if p.failed.is_some()))
        .count();
    assert_eq!(failed, 1);
    assert_eq!(messages(&app.rooms[1]).len(), 6);
}

#[test]
fn history_goes_before_live_messages_without_repeats() {
    let mut app = App::new("ada", "n", "quic");
    app.joined("lobby", vec![], vec![]);
    app.message(msg("lobby", 5, "bob", "live"));
    app.joined(
        "lobby",
        vec!["ada".into(), "bob".into()],
        vec![state(4, "bob", "old"), state(5, "bob", "live")],
    );
    assert_eq!(
        messages(&app.rooms[0]),
        vec![(Some(4), "old".into()), (Some(5), "live".into())]
    );
    assert_eq!(app.rooms.len(), 1);
}

#[test]
fn history_shows_edits_and_tombstones() {
    let mut app = App::new("ada", "n", "quic");
    let edited = MessageState {
        edited_ts: 2_000,
        ..state(1, "bob", "fixed")
    };
    let deleted = MessageState {
        deleted: true,
        ..state(2, "bob", "")
    };
    app.joined(
        "lobby",
        vec![],
        vec![edited, deleted, state(3, "bob", "plain")],
    );
    let marks: Vec<(Option<u64>, Mark)> = app.rooms[0]
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Message(p) => Some((p.seq, p.mark)),
            Entry::Event { .. } => None,
        })
        .collect();
    assert_eq!(
        marks,
        vec![
            (Some(1), Mark::Edited),
            (Some(2), Mark::Deleted),
            (Some(3), Mark::None)
        ]
    );
}

#[test]
fn presence_typing_members_and_leaving() {
    let mut app = app();
    app.presence("lobby", "bob", true, 10);
    app.presence("lobby", "ada", true, 10);
    assert_eq!(app.rooms[0].members, vec!["ada", "bob"]);
    app.typing("lobby", "bob", 100);
    app.typing("lobby", "ada", 100);
    assert_eq!(app.rooms[0].typing_at(100), vec!["bob"]);
    assert!(app.rooms[0].typing_at(100 + TYPING_SHOWN_MS).is_empty());
    // A message from the typist ends the typing line.
    app.typing("lobby", "bob", 200);
    app.message(msg("lobby", 1, "bob", "done"));
    assert!(app.rooms[0].typing_at(201).is_empty());
    app.presence("lobby", "bob", false, 11);
    assert_eq!(app.rooms[0].members, vec!["ada"]);
    let events: Vec<&Entry> = app.rooms[0]
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Event { .. }))
        .collect();
    // One's own join is not an event line.
    assert_eq!(events.len(), 2);

    app.switch(1);
    app.left("side");
    assert_eq!(app.current_name().as_deref(), Some("lobby"));
    app.left("lobby");
    assert!(app.room().is_none());
    app.event(None, "not in any room", 1);
    assert_eq!(app.log.len(), 1);
}

#[test]
fn scrolling_keeps_its_place_as_lines_arrive() {
    let mut app = app();
    app.scroll(true, 10);
    assert_eq!(app.rooms[1].scroll, 10);
    app.message(msg("side", 1, "bob", "new"));
    assert_eq!(app.rooms[1].scroll, 11);
    app.scroll(false, 100);
    assert_eq!(app.rooms[1].scroll, 0);
    app.scroll(true, 3);
    // Sending jumps back to the newest.
    app.sending("side", "x", 1);
    assert_eq!(app.rooms[1].scroll, 0);
}

#[test]
fn rooms_keep_a_bounded_number_of_entries() {
    let mut app = app();
    for seq in 1..=(ROOM_ENTRIES as u64 + 5) {
        app.message(msg("side", seq, "bob", "x"));
    }
    assert_eq!(app.rooms[1].entries.len(), ROOM_ENTRIES);
}

#[test]
fn edits_and_deletes_change_the_message_shown_and_others_nothing() {
    use chitchat_protocol::{Entry as LogEntry, EntryBody};
    let change = |seq: u64, body: EntryBody| LogEntry {
        room: "lobby".into(),
        seq,
        epoch: 1,
        from: "bob".into(),
        ts: 2_000 + seq,
        body,
    };
    let mut app = app();
    app.message(msg("lobby", 1, "bob", "helo"));
    app.message(msg("lobby", 2, "bob", "oops"));
    app.change(&change(
        3,
        EntryBody::Edit {
            target: 1,
            text: "hello".into(),
        },
    ));
    app.change(&change(4, EntryBody::Delete { target: 2 }));
    // A change to a message not shown, and to another room, are ignored.
    app.change(&change(5, EntryBody::Delete { target: 99 }));
    app.change(&LogEntry {
        room: "elsewhere".into(),
        ..change(6, EntryBody::Delete { target: 1 })
    });
    // An edit after a delete does not bring the text back.
    app.change(&change(
        7,
        EntryBody::Edit {
            target: 2,
            text: "back".into(),
        },
    ));
    let lobby = app.rooms.iter().find(|r| r.name == "lobby").unwrap();
    let texts: Vec<String> = super::super::rows::rows(&lobby.entries, "ada")
        .into_iter()
        .filter_map(|row| match row {
            super::super::rows::Row::Message { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["hello (edited)", "(deleted)"]);
}

#[test]
fn a_rename_replaces_the_member_and_says_so() {
    let mut app = app();
    app.presence("lobby", "ada", true, 10);
    app.presence("lobby", "bob", true, 10);
    app.typing("lobby", "bob", 20);
    app.renamed("lobby", "bob", "grace", 30);
    assert_eq!(app.rooms[0].members, vec!["ada", "grace"]);
    assert!(
        app.rooms[0].typing_at(30).is_empty(),
        "bob's typing line ends"
    );
    // One's own rename (the app's nick is already the new one) says "you are now".
    app.nick = "ada2".into();
    app.renamed("lobby", "ada", "ada2", 40);
    assert_eq!(app.rooms[0].members, vec!["ada2", "grace"]);
    let events: Vec<String> = app.rooms[0]
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Event { text, .. } if text.contains("now") => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(events, ["bob is now known as grace", "you are now ada2"]);
}

#[test]
fn a_topic_is_shown_and_its_changes_said_once() {
    let mut app = app();
    let events = |app: &App| -> Vec<String> {
        app.rooms[0]
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Event { text, .. } => Some(text.clone()),
                Entry::Message(_) => None,
            })
            .collect()
    };
    let before = events(&app).len();
    // The topic at join is state, not news.
    app.topic("lobby", "Planning".into(), "", 1);
    assert_eq!(app.rooms[0].topic.as_deref(), Some("Planning"));
    assert_eq!(events(&app).len(), before);
    // The same topic again (a rejoin) says nothing; a change says who made it.
    app.topic("lobby", "Planning".into(), "", 2);
    app.topic("lobby", "Release on Friday".into(), "bob", 3);
    app.topic("lobby", String::new(), "", 4);
    let said = events(&app);
    assert_eq!(
        said[before..],
        [
            "bob set the topic: Release on Friday",
            "the topic was cleared"
        ]
    );
    assert_eq!(app.rooms[0].topic.as_deref(), Some(""));
    // Another room's topic is its own; an unknown room's is ignored.
    app.topic("side", "Side things".into(), "", 5);
    app.topic("elsewhere", "x".into(), "", 6);
    assert_eq!(app.rooms[1].topic.as_deref(), Some("Side things"));
}
