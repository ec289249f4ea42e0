//! Conformance cases on delivery and persistence: subscriptions, signals, presence,
//! reopening a store, and every field surviving the round trip.

use super::*;

/// A subscribed room's messages reach the sink once each, in seq order, equal to what
/// `publish` returned; a room never subscribed gets nothing; after `unsubscribe` nothing
/// more; `subscribe` and `unsubscribe` are idempotent.
pub async fn delivers_subscribed_rooms_only(factory: &dyn StoreFactory) {
    let (broker, sink) = open(factory).await;
    let (live, quiet) = ("live", "quiet");
    subscribe(&*broker, live).await;
    subscribe(&*broker, live).await;

    let futures: Vec<_> = (0..100)
        .map(|i| {
            let room = if i % 2 == 0 { live } else { quiet };
            broker.publish(new_message(room, "del", &format!("interleaved {i}")))
        })
        .collect();
    let results: Vec<Message> = join_all(futures)
        .await
        .into_iter()
        .map(|r| r.expect("publish failed"))
        .collect();
    let live_published: Vec<Message> = results.iter().filter(|m| m.room == live).cloned().collect();
    assert_eq!(sink.wait_messages(live, 50).await, live_published);

    // Barrier: one more message; had anything been delivered twice, it would come first.
    let extra = publish(&*broker, live, "del", "extra").await;
    let mut expected = live_published.clone();
    expected.push(extra);
    assert_eq!(
        sink.wait_messages(live, 51).await,
        expected,
        "each message once"
    );

    // The quiet room was never subscribed: subscribing now delivers only what follows.
    subscribe(&*broker, quiet).await;
    let first_heard = publish(&*broker, quiet, "del", "now subscribed").await;
    assert_eq!(first_heard.seq, 51);
    assert_eq!(
        sink.wait_messages(quiet, 1).await,
        vec![first_heard],
        "an unsubscribed room's messages are never delivered"
    );

    broker.unsubscribe(live).await;
    broker.unsubscribe(live).await;
    broker.unsubscribe("never-subscribed").await;
    let missed = publish(&*broker, live, "del", "while unsubscribed").await;
    subscribe(&*broker, live).await;
    let back = publish(&*broker, live, "del", "subscribed again").await;
    assert_eq!((missed.seq, back.seq), (52, 53));
    expected.push(back);
    assert_eq!(
        sink.wait_messages(live, 52).await,
        expected,
        "nothing is delivered between unsubscribe and subscribe"
    );
    let rooms: Vec<String> = sink
        .snapshot()
        .messages
        .into_iter()
        .map(|m| m.room)
        .collect();
    assert!(
        rooms.iter().all(|r| r == live || r == quiet),
        "no other room delivered"
    );
}

/// Signals reach the sink for subscribed rooms only (the sender's own relay included), and
/// are never stored.
pub async fn signals_reach_subscribed_rooms_only(factory: &dyn StoreFactory) {
    let (broker, sink) = open(factory).await;
    let typing = |nick: &str| Signal::Typing { nick: nick.into() };
    subscribe(&*broker, "sig").await;
    let presence = Signal::Presence {
        node: "node-1".into(),
        nick: "bob".into(),
        joined: true,
    };
    broker.signal("sig", typing("ann"));
    broker.signal("sig", presence.clone());
    assert_eq!(
        sink.wait_signals("sig", 2).await,
        vec![typing("ann"), presence.clone()]
    );

    broker.signal("nosig", typing("bob"));
    subscribe(&*broker, "nosig").await;
    broker.signal("nosig", typing("cat"));
    assert_eq!(
        sink.wait_signals("nosig", 1).await,
        vec![typing("cat")],
        "a signal for an unsubscribed room is not delivered"
    );

    broker.unsubscribe("sig").await;
    broker.signal("sig", typing("dan"));
    subscribe(&*broker, "sig").await;
    broker.signal("sig", typing("eve"));
    assert_eq!(
        sink.wait_signals("sig", 3).await,
        vec![typing("ann"), presence, typing("eve")],
        "nothing is delivered between unsubscribe and subscribe"
    );

    for room in ["sig", "nosig"] {
        assert_eq!(
            head(&*broker, room).await.last_seq,
            0,
            "signals are not stored"
        );
    }
    assert!(
        sink.snapshot().messages.is_empty(),
        "signals are not messages"
    );
}

/// A nick's arrival and departure told through `Broker::presence` reach the relay's sink as
/// one `Signal::Presence` each, in call order, for a subscribed room; none is stored.
pub async fn presence_is_announced(factory: &dyn StoreFactory) {
    let (broker, sink) = open(factory).await;
    subscribe(&*broker, "pres").await;
    broker.presence("pres", "node-1", "ann", true);
    broker.presence("pres", "node-1", "bob", true);
    broker.presence("pres", "node-1", "ann", false);
    let seen: Vec<(String, bool)> = sink
        .wait_signals("pres", 3)
        .await
        .into_iter()
        .map(|s| match s {
            Signal::Presence { nick, joined, .. } => (nick, joined),
            other => panic!("expected presence, got {other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("ann".to_string(), true),
            ("bob".to_string(), true),
            ("ann".to_string(), false)
        ]
    );
    assert_eq!(
        head(&*broker, "pres").await.last_seq,
        0,
        "presence is not stored"
    );
}

/// Closing and reopening the store keeps every message, the epoch, and the numbering,
/// which continues at the last seq + 1.
pub async fn reopen_keeps_history_epoch_and_numbering(factory: &dyn StoreFactory) {
    let (broker, first_sink) = open(factory).await;
    let kept = publish_many(&*broker, "kept", "ren", 5, |i| format!("kept {i}")).await;
    let other = publish_many(&*broker, "kept-too", "ren", 2, |i| format!("other {i}")).await;
    let before = head(&*broker, "kept").await;
    drop(broker);

    let (broker, sink) = open(factory).await;
    assert!(broker.is_ready());
    assert_eq!(
        head(&*broker, "kept").await,
        before,
        "head survives reopening"
    );
    assert_eq!(read_after(&*broker, "kept", 0, 100).await, kept);
    assert_eq!(read_before(&*broker, "kept-too", None, 100).await, other);

    subscribe(&*broker, "kept").await;
    let next = publish(&*broker, "kept", "ren", "after reopening").await;
    assert_eq!((next.seq, next.epoch), (6, before.epoch));
    assert_eq!(publish(&*broker, "kept-too", "ren", "again").await.seq, 3);
    assert_eq!(sink.wait_messages("kept", 1).await, vec![next]);
    assert!(
        first_sink.snapshot().messages.is_empty(),
        "the closed broker's sink was never subscribed"
    );
}

/// Sender, room and text (unicode, newlines, tabs, quotes, long) come back unchanged from
/// `publish`, the reads and delivery.
pub async fn fields_survive_the_round_trip(factory: &dyn StoreFactory) {
    let (broker, sink) = open(factory).await;
    let long_room = "r".repeat(chitchat_protocol::MAX_ROOM_LEN);
    let cases: Vec<(String, String, String)> = vec![
        (
            "Mixed.Case-room_1".into(),
            "Zoë".into(),
            "héllo wörld".into(),
        ),
        (
            "mixed.case-room_1".into(),
            "李雷".into(),
            "line one\nline two\n\nline four".into(),
        ),
        (
            long_room.clone(),
            "a.b-c_d".into(),
            "emoji 🦀🎉 and 你好, tab\there".into(),
        ),
        (
            "Mixed.Case-room_1".into(),
            "ユーザー".into(),
            "quotes ' \" ` and \\ back\\slash; DROP TABLE messages; --".into(),
        ),
        ("Mixed.Case-room_1".into(), "x".repeat(32), "ü".repeat(4000)),
    ];
    for room in ["Mixed.Case-room_1", "mixed.case-room_1", &long_room] {
        subscribe(&*broker, room).await;
    }
    let mut published = Vec::new();
    for (room, from, text) in &cases {
        let msg = publish(&*broker, room, from, text).await;
        assert_eq!((&msg.room, &msg.from, &msg.text), (room, from, text));
        published.push(msg);
    }
    for room in ["Mixed.Case-room_1", "mixed.case-room_1", &long_room] {
        let expected: Vec<Message> = published
            .iter()
            .filter(|m| m.room == room)
            .cloned()
            .collect();
        assert_eq!(
            read_after(&*broker, room, 0, 100).await,
            expected,
            "read_after {room}"
        );
        assert_eq!(
            read_before(&*broker, room, None, 100).await,
            expected,
            "read_before {room}"
        );
        assert_eq!(
            sink.wait_messages(room, expected.len()).await,
            expected,
            "delivered {room}"
        );
    }
}
