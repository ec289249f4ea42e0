//! The conformance suite every [`super::Broker`] implementation passes.
//!
//! One test body per behaviour of the [`Broker`] contract, written once and run against
//! every implementation through a [`StoreFactory`]. Each case gets a fresh store; a case that
//! opens the factory twice sees the same store again (that is how persistence is tested).
//!
//! Run it with [`broker_conformance_tests!`](crate::broker_conformance_tests), which makes
//! one `#[tokio::test]` per case, or with [`run_all`]. A [`RecordingSink`] records what a
//! broker delivers and lets a test wait, with a deadline, until it has seen enough.
//!
//! What the suite expects beyond the letter of the trait docs, so that the relay's resume
//! logic can rely on it:
//! - `subscribe` does not replay history: messages and signals sent before it was called
//!   are never delivered (the relay reads those through `read_after`).
//! - after `unsubscribe` returns, nothing more of that room is delivered.
//!
//! Absence is checked without sleeping: the suite subscribes again, publishes a later
//! message, waits for it, and relies on per-room seq order (anything skipped would have
//! come before it).
//!
//! Every wait has a deadline ([`DEADLINE`]); a failed expectation panics with what was
//! seen, as tests do.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat_protocol::{MAX_EPOCH, Message};
use futures::future::{BoxFuture, join_all};
use tokio::sync::Notify;

use super::api::{Broker, BrokerError, Deliver, NewMessage, SharedBroker, Signal};

/// How long a case waits for a delivery before failing. Deliveries take milliseconds; the
/// margin covers a loaded 2-core CI machine while keeping a broken broker's test short.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// How far a message's server timestamp may be from the test's clock. Brokers may stamp
/// with another machine's clock (Redis's); this catches seconds-for-milliseconds and
/// unset timestamps, not clock skew.
const TS_TOLERANCE_MS: u64 = 5 * 60 * 1000;

/// Opens the store a conformance case runs against.
#[async_trait::async_trait]
pub trait StoreFactory: Send + Sync {
    /// Opens a broker on this factory's store, delivering to `sink`. Every call opens the
    /// same store: a case drops the first broker and opens again to test persistence.
    async fn open(&self, sink: Arc<dyn Deliver>) -> Result<SharedBroker, BrokerError>;
}

/// What a [`RecordingSink`] has received, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub messages: Vec<Message>,
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

    fn signal(&self, room: &str, signal: &Signal) {
        self.lock().signals.push((room.to_owned(), signal.clone()));
        self.changed.notify_waiters();
    }
}

/// One conformance case.
pub struct Case {
    pub name: &'static str,
    pub run: for<'a> fn(&'a dyn StoreFactory) -> BoxFuture<'a, ()>,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case, in the order [`run_all`] runs them.
        pub const CASES: &[Case] = &[$(Case {
            name: stringify!($name),
            run: |factory| Box::pin($name(factory)),
        }),*];
    };
}

cases!(
    numbering_starts_at_one_per_room,
    publish_agrees_with_reads,
    call_order_is_seq_order,
    concurrent_publishers_get_gapless_seqs,
    many_rooms_at_once_stay_gapless,
    delivers_subscribed_rooms_only,
    signals_reach_subscribed_rooms_only,
    presence_is_announced,
    reopen_keeps_history_epoch_and_numbering,
    fields_survive_the_round_trip,
);

/// Runs every case, each on a fresh store from `new_store`.
pub async fn run_all<F: StoreFactory>(mut new_store: impl FnMut() -> F) {
    for case in CASES {
        tracing::info!(case = case.name, "broker conformance case");
        let factory = new_store();
        (case.run)(&factory).await;
    }
}

/// Makes one `#[tokio::test]` per conformance case, each calling the case with a factory
/// from `$factory` (an expression evaluated inside the async test, so it may `.await`),
/// plus a test that no case was left out.
///
/// ```ignore
/// chitchat_relay::broker_conformance_tests!(MyFactory::new());
/// ```
#[macro_export]
macro_rules! broker_conformance_tests {
    ($factory:expr) => {
        $crate::broker_conformance_tests!(@cases $factory;
            numbering_starts_at_one_per_room,
            publish_agrees_with_reads,
            call_order_is_seq_order,
            concurrent_publishers_get_gapless_seqs,
            many_rooms_at_once_stay_gapless,
            delivers_subscribed_rooms_only,
            signals_reach_subscribed_rooms_only,
            presence_is_announced,
            reopen_keeps_history_epoch_and_numbering,
            fields_survive_the_round_trip,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory = $factory;
                $crate::broker::conformance::$case(&factory).await;
            }
        )*

        #[test]
        fn conformance_runs_every_case() {
            let generated = [$(stringify!($case)),*];
            let all: ::std::vec::Vec<&str> =
                $crate::broker::conformance::CASES.iter().map(|c| c.name).collect();
            assert_eq!(generated.as_slice(), all.as_slice());
        }
    };
}

/// Seqs start at 1 and are gapless per room; rooms (case-sensitive names) count
/// separately; a room without messages has head (epoch, 0, 1); messages carry the store's
/// epoch and a server timestamp in milliseconds.
pub async fn numbering_starts_at_one_per_room(factory: &dyn StoreFactory) {
    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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
    let mut published = Vec::new();
    for (i, room) in plan.iter().enumerate() {
        let text = format!("message {i}");
        let msg = publish(&*broker, room, "ann", &text).await;
        assert_eq!((msg.room.as_str(), msg.from.as_str()), (*room, "ann"));
        assert_eq!(msg.text, text);
        assert_eq!(
            msg.epoch, empty.epoch,
            "every message carries the store's epoch"
        );
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
        assert_eq!(
            (h.epoch, h.last_seq, h.first_seq),
            (empty.epoch, last, 1),
            "head of room {room}"
        );
    }
}

/// What `publish` resolves to is what the reads return; `read_after` and `read_before` page
/// forwards and backwards through 250 messages with every message exactly once; bounds
/// past either end, and a zero limit, give nothing.
pub async fn publish_agrees_with_reads(factory: &dyn StoreFactory) {
    let sink = RecordingSink::new();
    let broker = open(factory, sink).await;
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
    let sink = RecordingSink::new();
    let broker = open(factory, sink).await;
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
    let sink = RecordingSink::new();
    let broker = open(factory, sink).await;
    let room = "busy";
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let broker = Arc::clone(&broker);
            tokio::spawn(async move {
                let futures: Vec<_> = (0..PER_TASK)
                    .map(|i| {
                        broker.publish(new_message(room, &format!("t{task}"), &format!("{i}")))
                    })
                    .collect();
                join_all(futures).await
            })
        })
        .collect();
    let mut all = Vec::new();
    for (task, handle) in tasks.into_iter().enumerate() {
        let results = handle.await.expect("publishing task panicked");
        let mine: Vec<Message> = results
            .into_iter()
            .map(|r| r.expect("publish failed"))
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0].seq < w[1].seq),
            "task {task}'s messages are numbered in its call order"
        );
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
    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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

/// A subscribed room's messages reach the sink once each, in seq order, equal to what
/// `publish` returned; a room never subscribed gets nothing; after `unsubscribe` nothing
/// more; `subscribe` and `unsubscribe` are idempotent.
pub async fn delivers_subscribed_rooms_only(factory: &dyn StoreFactory) {
    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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
    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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
    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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
    let first_sink = RecordingSink::new();
    let broker = open(factory, first_sink.clone()).await;
    let kept = publish_many(&*broker, "kept", "ren", 5, |i| format!("kept {i}")).await;
    let other = publish_many(&*broker, "kept-too", "ren", 2, |i| format!("other {i}")).await;
    let before = head(&*broker, "kept").await;
    drop(broker);

    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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
    let sink = RecordingSink::new();
    let broker = open(factory, sink.clone()).await;
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

async fn open(factory: &dyn StoreFactory, sink: Arc<RecordingSink>) -> SharedBroker {
    factory
        .open(sink)
        .await
        .unwrap_or_else(|e| panic!("opening the store failed: {e}"))
}

fn new_message(room: &str, from: &str, text: &str) -> NewMessage {
    NewMessage {
        room: room.into(),
        from: from.into(),
        text: text.into(),
    }
}

async fn publish(broker: &dyn Broker, room: &str, from: &str, text: &str) -> Message {
    broker
        .publish(new_message(room, from, text))
        .await
        .unwrap_or_else(|e| panic!("publishing to {room} failed: {e}"))
}

/// Publishes `n` messages in call order and waits for all; returns them in seq order.
async fn publish_many(
    broker: &dyn Broker,
    room: &str,
    from: &str,
    n: usize,
    text: impl Fn(usize) -> String,
) -> Vec<Message> {
    let futures: Vec<_> = (0..n)
        .map(|i| broker.publish(new_message(room, from, &text(i))))
        .collect();
    join_all(futures)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("publishing to {room} failed: {e}")))
        .collect()
}

async fn head(broker: &dyn Broker, room: &str) -> super::RoomHead {
    broker
        .head(room)
        .await
        .unwrap_or_else(|e| panic!("head of {room} failed: {e}"))
}

async fn read_after(broker: &dyn Broker, room: &str, after: u64, limit: usize) -> Vec<Message> {
    broker
        .read_after(room, after, limit)
        .await
        .unwrap_or_else(|e| panic!("read_after({room}, {after}, {limit}) failed: {e}"))
}

async fn read_before(
    broker: &dyn Broker,
    room: &str,
    before: Option<u64>,
    limit: usize,
) -> Vec<Message> {
    broker
        .read_before(room, before, limit)
        .await
        .unwrap_or_else(|e| panic!("read_before({room}, {before:?}, {limit}) failed: {e}"))
}

async fn subscribe(broker: &dyn Broker, room: &str) {
    broker
        .subscribe(room)
        .await
        .unwrap_or_else(|e| panic!("subscribing to {room} failed: {e}"));
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn assert_ts_is_now(msg: &Message) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    assert!(
        msg.ts.abs_diff(now) <= TS_TOLERANCE_MS,
        "message ts {} is not server time in ms (now is {now})",
        msg.ts
    );
}

/// (room, seq) of each message, for failure output that stays readable.
fn summary(messages: &[Message]) -> Vec<(&str, u64)> {
    messages.iter().map(|m| (m.room.as_str(), m.seq)).collect()
}
