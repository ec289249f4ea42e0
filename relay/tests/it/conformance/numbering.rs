//! Conformance cases on numbering: seqs per room, `publish` against the reads, call order,
//! concurrent publishers and many rooms at once.

use std::sync::Arc;

use chitchat_protocol::MAX_EPOCH;
use futures::future::join_all;

use super::*;

/// Seqs start at 1 and are gapless per room; rooms (case-sensitive names) count
/// separately; a room without messages has head (epoch, 0, 1); messages carry their room's
/// epoch (one per room, which brokers may share between rooms), which reads do not change,
/// and a server timestamp in milliseconds.
pub async fn numbering_starts_at_one_per_room(factory: &dyn StoreFactory) {
    let (broker, _) = open(factory).await;
    assert!(broker.is_ready(), "a freshly opened broker is ready");

    let empty = head(&*broker, "empty").await;
    assert!(
        (1..=MAX_EPOCH).contains(&empty.epoch),
        "epoch {} is outside 1..=MAX_EPOCH",
        empty.epoch
    );
    assert_eq!(
        (empty.last_seq, empty.first_seq),
        (0, 1),
        "head of an empty room"
    );
    assert!(read_after(&*broker, "empty", 0, 10).await.is_empty());
    assert!(read_before(&*broker, "empty", None, 10).await.is_empty());

    let plan = ["a", "b", "a", "A", "a", "b", "c.d-e_f"];
    let mut published: Vec<Message> = Vec::new();
    for (i, room) in plan.iter().enumerate() {
        let text = format!("message {i}");
        let msg = publish(&*broker, room, "ann", &text).await;
        assert_eq!((msg.room.as_str(), msg.from.as_str()), (*room, "ann"));
        assert_eq!(msg.text, text);
        assert!((1..=MAX_EPOCH).contains(&msg.epoch), "epoch {}", msg.epoch);
        if let Some(earlier) = published.iter().find(|m| m.room == msg.room) {
            assert_eq!(
                msg.epoch, earlier.epoch,
                "every message of a room carries the room's epoch"
            );
        }
        assert_ts_is_now(&msg);
        published.push(msg);
    }
    let seqs: Vec<(&str, u64)> = published.iter().map(|m| (m.room.as_str(), m.seq)).collect();
    assert_eq!(
        seqs,
        [
            ("a", 1),
            ("b", 1),
            ("a", 2),
            ("A", 1),
            ("a", 3),
            ("b", 2),
            ("c.d-e_f", 1)
        ]
    );
    for (room, last) in [("a", 3), ("b", 2), ("A", 1), ("c.d-e_f", 1), ("empty", 0)] {
        let h = head(&*broker, room).await;
        let epoch = published
            .iter()
            .find(|m| m.room == room)
            .map_or(empty.epoch, |m| m.epoch);
        assert_eq!(
            (h.epoch, h.last_seq, h.first_seq),
            (epoch, last, 1),
            "head of room {room}"
        );
    }
}

/// What `publish` resolves to is what the reads return; `read_after` and `read_before` page
/// forwards and backwards through 250 messages with every message exactly once; bounds
/// past either end, and a zero limit, give nothing.
pub async fn publish_agrees_with_reads(factory: &dyn StoreFactory) {
    let (broker, _) = open(factory).await;
    let room = "paged";
    let published = publish_many(&*broker, room, "pat", 250, |i| format!("page message {i}")).await;
    // Another room's messages must not leak into this one's reads.
    publish_many(&*broker, "other", "pat", 3, |i| format!("other {i}")).await;
    assert_eq!(seqs(&published), (1..=250).collect::<Vec<_>>());

    assert_eq!(read_after(&*broker, room, 0, 1000).await, published);
    let mut forward = Vec::new();
    let mut after = 0;
    loop {
        let page = read_after(&*broker, room, after, 100).await;
        assert!(page.len() <= 100, "a page holds at most the limit");
        match page.last() {
            Some(last) => after = last.seq,
            None => break,
        }
        forward.extend(page);
    }
    assert_eq!(forward, published, "paging forwards with limit 100");

    let mut backward = Vec::new();
    let mut before = None;
    loop {
        let page = read_before(&*broker, room, before, 100).await;
        assert!(page.len() <= 100, "a page holds at most the limit");
        assert!(
            page.windows(2).all(|w| w[0].seq < w[1].seq),
            "read_before returns oldest first"
        );
        match page.first() {
            Some(first) => before = Some(first.seq),
            None => break,
        }
        backward.splice(0..0, page);
    }
    assert_eq!(backward, published, "paging backwards with limit 100");
    assert_eq!(
        seqs(&read_before(&*broker, room, None, 100).await),
        (151..=250).collect::<Vec<_>>(),
        "the newest page"
    );
    assert_eq!(
        seqs(&read_before(&*broker, room, Some(10), 3).await),
        vec![7, 8, 9]
    );
    assert_eq!(
        seqs(&read_after(&*broker, room, 247, 100).await),
        vec![248, 249, 250]
    );
    assert_eq!(
        seqs(&read_before(&*broker, room, Some(u64::MAX), 2).await),
        vec![249, 250]
    );

    for (after, limit) in [(250, 10), (u64::MAX, 10), (0, 0)] {
        assert!(
            read_after(&*broker, room, after, limit).await.is_empty(),
            "read_after({after}, {limit})"
        );
    }
    for (before, limit) in [(Some(1), 10), (Some(0), 10), (None, 0)] {
        assert!(
            read_before(&*broker, room, before, limit).await.is_empty(),
            "read_before({before:?}, {limit})"
        );
    }

    let h = head(&*broker, room).await;
    assert_eq!(
        (h.epoch, h.last_seq, h.first_seq),
        (published[0].epoch, 250, 1)
    );
}

/// Messages published one after another are numbered in call order, even when their
/// futures are awaited later and in reverse.
pub async fn call_order_is_seq_order(factory: &dyn StoreFactory) {
    let (broker, _) = open(factory).await;
    let room = "ordered";
    let futures: Vec<_> = (0..100)
        .map(|i| broker.publish(new_message(room, "ola", &format!("call {i}"))))
        .collect();
    let mut results = Vec::new();
    for future in futures.into_iter().rev() {
        results.push(future.await.expect("publish failed"));
    }
    results.reverse();
    for (i, msg) in results.iter().enumerate() {
        assert_eq!(msg.text, format!("call {i}"));
        assert_eq!(msg.seq, i as u64 + 1, "call {i} got seq {}", msg.seq);
    }
    assert_eq!(read_after(&*broker, room, 0, 1000).await, results);
}

/// Eight tasks publishing 200 messages each to one room at once get seqs 1..=1600, each
/// once, and each task's own messages in its call order.
pub async fn concurrent_publishers_get_gapless_seqs(factory: &dyn StoreFactory) {
    const TASKS: usize = 8;
    const PER_TASK: usize = 200;
    let (broker, _) = open(factory).await;
    let room = "busy";
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let broker = Arc::clone(&broker);
            tokio::spawn(async move {
                let from = format!("t{task}");
                publish_many(&*broker, room, &from, PER_TASK, |i| i.to_string()).await
            })
        })
        .collect();
    let mut all = Vec::new();
    for (task, handle) in tasks.into_iter().enumerate() {
        let mine = handle.await.expect("publishing task panicked");
        assert_in_call_order(&mine, &format!("task {task}"));
        for (i, msg) in mine.iter().enumerate() {
            assert_eq!(
                (msg.from.clone(), msg.text.clone()),
                (format!("t{task}"), i.to_string())
            );
        }
        all.extend(mine);
    }
    all.sort_by_key(|m| m.seq);
    let total = (TASKS * PER_TASK) as u64;
    assert_eq!(seqs(&all), (1..=total).collect::<Vec<_>>());
    assert_eq!(read_after(&*broker, room, 0, 10_000).await, all);
    assert_eq!(head(&*broker, room).await.last_seq, total);
}

/// 10,000 publishes spread over 200 rooms, half of them subscribed, all in flight at once:
/// every room's seqs are 1..=50, each subscribed room's messages are delivered in seq order
/// as stored, and the other rooms deliver nothing. Prints the publish rate.
pub async fn many_rooms_at_once_stay_gapless(factory: &dyn StoreFactory) {
    // Enough rooms and messages in flight together that a store's batching and per-room
    // numbering are exercised across rooms; few enough for seconds on a debug build.
    const ROOMS: usize = 200;
    const PER_ROOM: usize = 50;
    let (broker, sink) = open(factory).await;
    for room in 0..ROOMS / 2 {
        subscribe(&*broker, &format!("room{room}")).await;
    }
    let started = std::time::Instant::now();
    let pending: Vec<_> = (0..ROOMS * PER_ROOM)
        .map(|i| {
            broker.publish(new_message(
                &format!("room{}", i % ROOMS),
                "ann",
                &i.to_string(),
            ))
        })
        .collect();
    for result in join_all(pending).await {
        result.expect("publish");
    }
    let elapsed = started.elapsed();
    println!(
        "{} messages in {ROOMS} rooms stored in {elapsed:?} ({:.0}/s)",
        ROOMS * PER_ROOM,
        (ROOMS * PER_ROOM) as f64 / elapsed.as_secs_f64()
    );
    let recorded = sink
        .wait_until("every subscribed room's messages", DEADLINE, |r| {
            r.messages.len() >= ROOMS / 2 * PER_ROOM
        })
        .await;
    assert_eq!(recorded.messages.len(), ROOMS / 2 * PER_ROOM);
    for room in 0..ROOMS {
        let name = format!("room{room}");
        let stored = read_after(&*broker, &name, 0, 1000).await;
        assert_eq!(
            seqs(&stored),
            (1..=PER_ROOM as u64).collect::<Vec<_>>(),
            "{name}"
        );
        let delivered = recorded.messages_in(&name);
        if room < ROOMS / 2 {
            assert_eq!(delivered, stored, "{name} delivered in seq order");
        } else {
            assert!(delivered.is_empty(), "{name} is not subscribed");
        }
    }
}
