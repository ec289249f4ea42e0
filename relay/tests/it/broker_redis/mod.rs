//! The Redis broker against real `redis-server` processes: the shared broker conformance
//! suite, then what only a cluster broker has: two relays on one Redis sharing one order
//! per room, per-room subscriptions seen from Redis itself, a relay locked out of Redis
//! catching up without gaps, a Redis restart losing no acknowledged message, a new epoch
//! after Redis lost its data, the frames the publish script assembles, retention, and a
//! Redis node in cluster mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chitchat_protocol::{MAX_EPOCH, Message};
use chitchat_relay::broker::redis::{BusFrame, RedisBroker, channel, log_key, seq_key};
use chitchat_relay::broker::{Broker, BrokerError, Deliver, NewMessage, SharedBroker, Signal};
use chitchat_tests::redis::{Persistence, RedisServer};
use futures::future::join_all;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::conformance::{DEADLINE, RecordingSink, StoreFactory};

/// Retention in the conformance suite: above the most messages any case stores in a room.
const CONFORMANCE_HISTORY: usize = 10_000;

/// How long a publish may take to fail while Redis is unreachable: it must fail fast.
const FAIL_FAST: Duration = Duration::from_secs(1);

/// A fresh redis-server per case; every `open` connects to the same one.
struct RedisStore {
    server: RedisServer,
}

#[async_trait::async_trait]
impl StoreFactory for RedisStore {
    async fn open(&self, sink: Arc<dyn Deliver>) -> Result<SharedBroker, BrokerError> {
        let broker = RedisBroker::connect(
            &self.server.url(),
            sink,
            "conformance".into(),
            CONFORMANCE_HISTORY,
        )
        .await?;
        Ok(Arc::new(broker))
    }
}

crate::conformance::broker_conformance_tests!(RedisStore {
    server: RedisServer::start().await,
});

async fn connect(url: &str, sink: Arc<RecordingSink>, node: &str) -> RedisBroker {
    RedisBroker::connect(url, sink, node.into(), CONFORMANCE_HISTORY)
        .await
        .unwrap_or_else(|e| panic!("connecting {node}: {e}"))
}

fn message(room: &str, from: &str, text: &str) -> NewMessage {
    NewMessage {
        room: room.into(),
        from: from.into(),
        text: text.into(),
    }
}

async fn publish(broker: &RedisBroker, room: &str, from: &str, text: &str) -> Message {
    broker
        .publish(message(room, from, text))
        .await
        .unwrap_or_else(|e| panic!("publishing to {room}: {e}"))
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// Polls `condition` until it holds; panics naming `what` after [`DEADLINE`]. For state
/// that has no notification (readiness, Redis's own counters).
async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition().await {
        assert!(Instant::now() < deadline, "waited {DEADLINE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many subscribers Redis counts on a room's channel, across all relays.
async fn subscribers(server: &RedisServer, room: &str) -> i64 {
    let reply: Vec<Value> = server.cmd(&["PUBSUB", "SHARDNUMSUB", &channel(room)]).await;
    match reply.as_slice() {
        [_, Value::Int(n)] => *n,
        other => panic!("unexpected SHARDNUMSUB reply {other:?}"),
    }
}

async fn expect_unavailable(broker: &RedisBroker, room: &str) {
    let started = Instant::now();
    let result = broker.publish(message(room, "x", "while down")).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(BrokerError::Unavailable(_))),
        "publishing while Redis is unreachable gave {result:?}"
    );
    assert!(took < FAIL_FAST, "failing took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_share_one_order_per_room() {
    const TASKS: usize = 4;
    const PER_TASK: usize = 100;
    let server = RedisServer::start().await;
    let (sink_a, sink_b, sink_c) = (
        RecordingSink::new(),
        RecordingSink::new(),
        RecordingSink::new(),
    );
    let a = Arc::new(connect(&server.url(), sink_a.clone(), "relay-a").await);
    let b = Arc::new(connect(&server.url(), sink_b.clone(), "relay-b").await);
    let c = connect(&server.url(), sink_c.clone(), "relay-c").await;
    assert_eq!(a.epoch(), b.epoch(), "one store, one epoch");
    a.subscribe("shared").await.expect("subscribe");
    b.subscribe("shared").await.expect("subscribe");
    a.subscribe("a-only").await.expect("subscribe");
    // Redis itself says which relays listen: both on "shared", only A on "a-only", nobody
    // on a room no relay has members in.
    assert_eq!(subscribers(&server, "shared").await, 2);
    assert_eq!(subscribers(&server, "a-only").await, 1);
    assert_eq!(subscribers(&server, "nobody").await, 0);

    // Concurrent publishers on both relays, into one room.
    let mut tasks = Vec::new();
    for (relay, broker) in [("a", &a), ("b", &b)] {
        for task in 0..TASKS {
            let broker = Arc::clone(broker);
            tasks.push(tokio::spawn(async move {
                let pending: Vec<_> = (0..PER_TASK)
                    .map(|i| {
                        broker.publish(message("shared", &format!("{relay}{task}"), &i.to_string()))
                    })
                    .collect();
                join_all(pending).await
            }));
        }
    }
    // B publishes into a room it is not subscribed to; A hears it.
    let b_into_a_only: Vec<Message> =
        join_all((0..20).map(|i| b.publish(message("a-only", "bob", &format!("from b {i}")))))
            .await
            .into_iter()
            .map(|r| r.expect("publish"))
            .collect();

    let mut acknowledged = Vec::new();
    for task in tasks {
        let mine: Vec<Message> = task
            .await
            .expect("publisher task")
            .into_iter()
            .map(|r| r.expect("publish"))
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0].seq < w[1].seq),
            "one publisher's messages are numbered in its call order"
        );
        acknowledged.extend(mine);
    }
    acknowledged.sort_by_key(|m| m.seq);
    let total = (2 * TASKS * PER_TASK) as u64;
    assert_eq!(seqs(&acknowledged), (1..=total).collect::<Vec<_>>());

    let seen_a = sink_a.wait_messages("shared", total as usize).await;
    let seen_b = sink_b.wait_messages("shared", total as usize).await;
    assert_eq!(
        seen_a, acknowledged,
        "A sees every message once, in seq order"
    );
    assert_eq!(
        seen_b, acknowledged,
        "B sees the same messages in the same order"
    );
    assert_eq!(
        a.read_after("shared", 0, 10_000).await.expect("read"),
        acknowledged
    );
    assert_eq!(sink_a.wait_messages("a-only", 20).await, b_into_a_only);

    // Nothing of a room reaches a relay not subscribed to it: Redis sends B nothing of
    // "a-only" (it counts one subscriber), and C, subscribed to nothing, got nothing.
    assert!(sink_b.snapshot().messages_in("a-only").is_empty());
    assert!(sink_c.snapshot().messages.is_empty());
    assert!(sink_c.snapshot().signals.is_empty());

    // Leaving a room leaves its channel.
    b.unsubscribe("shared").await;
    assert_eq!(subscribers(&server, "shared").await, 1);
    a.unsubscribe("shared").await;
    a.unsubscribe("a-only").await;
    assert_eq!(subscribers(&server, "shared").await, 0);
    assert_eq!(subscribers(&server, "a-only").await, 0);
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_every_subscribed_relay_and_no_other() {
    let server = RedisServer::start().await;
    let (sink_a, sink_b, sink_c) = (
        RecordingSink::new(),
        RecordingSink::new(),
        RecordingSink::new(),
    );
    let a = connect(&server.url(), sink_a.clone(), "relay-a").await;
    let b = connect(&server.url(), sink_b.clone(), "relay-b").await;
    let c = connect(&server.url(), sink_c.clone(), "relay-c").await;
    a.subscribe("sig").await.expect("subscribe");
    b.subscribe("sig").await.expect("subscribe");
    c.subscribe("elsewhere").await.expect("subscribe");
    let typing = Signal::Typing { nick: "ann".into() };
    let presence = Signal::Presence {
        node: "relay-b".into(),
        nick: "bob".into(),
        joined: true,
    };
    a.signal("sig", typing.clone());
    b.signal("sig", presence.clone());
    for sink in [&sink_a, &sink_b] {
        let mut got = sink.wait_signals("sig", 2).await;
        got.sort_by_key(|s| format!("{s:?}"));
        let mut expected = vec![typing.clone(), presence.clone()];
        expected.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(got, expected);
    }
    // C hears its own room, and nothing of "sig".
    c.signal("elsewhere", typing.clone());
    assert_eq!(sink_c.wait_signals("elsewhere", 1).await, vec![typing]);
    assert!(sink_c.snapshot().signals_in("sig").is_empty());
    assert_eq!(
        a.head("sig").await.expect("head").last_seq,
        0,
        "signals are not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_locked_out_of_redis_catches_up_without_gaps() {
    let server = RedisServer::start().await;
    for user in ["relay-a", "relay-b"] {
        let password = format!(">pw-{user}");
        let _: Value = server
            .cmd(&["ACL", "SETUSER", user, "on", &password, "~*", "&*", "+@all"])
            .await;
    }
    let (sink_a, sink_b) = (RecordingSink::new(), RecordingSink::new());
    let a = Arc::new(
        connect(
            &server.url_as("relay-a", "pw-relay-a"),
            sink_a.clone(),
            "relay-a",
        )
        .await,
    );
    let b = Arc::new(
        connect(
            &server.url_as("relay-b", "pw-relay-b"),
            sink_b.clone(),
            "relay-b",
        )
        .await,
    );
    a.subscribe("room").await.expect("subscribe");
    b.subscribe("room").await.expect("subscribe");
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        acknowledged.push(publish(&a, "room", "ann", &format!("before {i}")).await);
    }
    assert_eq!(sink_a.wait_messages("room", 10).await, acknowledged);

    // Lock A out: its connections are killed and it cannot log in again.
    let _: Value = server.cmd(&["ACL", "SETUSER", "relay-a", "off"]).await;
    let _: Value = server.cmd(&["CLIENT", "KILL", "USER", "relay-a"]).await;
    wait_for("relay A to notice it lost Redis", async || !a.is_ready()).await;
    expect_unavailable(&a, "room").await;
    assert!(
        matches!(a.subscribe("other").await, Err(BrokerError::Unavailable(_))),
        "subscribing while Redis is unreachable fails"
    );
    assert!(matches!(
        a.head("room").await,
        Err(BrokerError::Unavailable(_))
    ));

    // B carries on; A's pub/sub cannot hear any of this.
    let during: Vec<Message> =
        join_all((0..100).map(|i| b.publish(message("room", "bob", &format!("during {i}")))))
            .await
            .into_iter()
            .map(|r| r.expect("publish"))
            .collect();
    acknowledged.extend(during);
    assert_eq!(sink_b.wait_messages("room", 110).await, acknowledged);
    assert_eq!(sink_a.snapshot().messages_in("room").len(), 10);

    // Let A back in while B keeps publishing: A reconnects by itself; what it reads from
    // history and what it hears live overlap, and it delivers each message once, in order.
    let hammer = {
        let (a, b) = (Arc::clone(&a), Arc::clone(&b));
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let deadline = Instant::now() + DEADLINE;
            let mut rounds_after_ready = 0;
            while rounds_after_ready < 20 && Instant::now() < deadline {
                if a.is_ready() {
                    rounds_after_ready += 1;
                }
                let batch = join_all(
                    (0..10).map(|i| b.publish(message("room", "bob", &format!("reconnect {i}")))),
                )
                .await;
                acked.extend(batch.into_iter().map(|r| r.expect("publish")));
            }
            acked
        })
    };
    let _: Value = server.cmd(&["ACL", "SETUSER", "relay-a", "on"]).await;
    acknowledged.extend(hammer.await.expect("publishing task"));
    assert!(a.is_ready(), "relay A reconnected");
    let n = acknowledged.len();
    assert_eq!(seqs(&acknowledged), (1..=n as u64).collect::<Vec<_>>());
    assert_eq!(sink_a.wait_messages("room", n).await, acknowledged);
    let next = publish(&a, "room", "ann", "after").await;
    assert_eq!(next.seq, n as u64 + 1);
    acknowledged.push(next);
    assert_eq!(sink_a.wait_messages("room", n + 1).await, acknowledged);
    assert_eq!(sink_b.wait_messages("room", n + 1).await, acknowledged);
    assert_eq!(subscribers(&server, "room").await, 2, "A subscribed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_acknowledged_message() {
    let mut server = RedisServer::start_with(Persistence::Aof).await;
    let (sink_a, sink_b) = (RecordingSink::new(), RecordingSink::new());
    let a = Arc::new(connect(&server.url(), sink_a.clone(), "relay-a").await);
    let b = Arc::new(connect(&server.url(), sink_b.clone(), "relay-b").await);
    let epoch = a.epoch();
    a.subscribe("durable").await.expect("subscribe");
    b.subscribe("durable").await.expect("subscribe");

    let (from_a, from_b) = tokio::join!(
        join_all((0..50).map(|i| a.publish(message("durable", "ann", &format!("a {i}"))))),
        join_all((0..50).map(|i| b.publish(message("durable", "bob", &format!("b {i}"))))),
    );
    let mut acknowledged: Vec<Message> = from_a
        .into_iter()
        .chain(from_b)
        .map(|r| r.expect("publish"))
        .collect();
    acknowledged.sort_by_key(|m| m.seq);
    assert_eq!(seqs(&acknowledged), (1..=100).collect::<Vec<_>>());

    // Publishing keeps going while Redis dies: each publish either is acknowledged or
    // fails; every acknowledged one must survive.
    let hammer = {
        let a = Arc::clone(&a);
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut failed = 0;
            let deadline = Instant::now() + DEADLINE;
            while failed < 20 && Instant::now() < deadline {
                match a
                    .publish(message("durable", "ann", "racing the kill"))
                    .await
                {
                    Ok(msg) => acked.push(msg),
                    Err(BrokerError::Unavailable(_)) => failed += 1,
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            acked
        })
    };
    server.kill();
    let raced = hammer.await.expect("publishing task");
    println!(
        "{} publishes were acknowledged while Redis was being killed",
        raced.len()
    );
    acknowledged.extend(raced);

    wait_for("both relays to notice Redis is gone", async || {
        !a.is_ready() && !b.is_ready()
    })
    .await;
    expect_unavailable(&a, "durable").await;
    expect_unavailable(&b, "durable").await;

    server.restart().await;
    wait_for("both relays to reconnect", async || {
        a.is_ready() && b.is_ready()
    })
    .await;
    assert_eq!(a.epoch(), epoch, "the store kept its data, so its epoch");
    let stored = a.read_after("durable", 0, 10_000).await.expect("read");
    let last = acknowledged.last().map_or(0, |m| m.seq);
    assert!(
        stored.len() as u64 >= last,
        "acknowledged seq {last} lost: {} stored",
        stored.len()
    );
    for msg in &acknowledged {
        assert_eq!(
            &stored[msg.seq as usize - 1],
            msg,
            "seq {} as acknowledged",
            msg.seq
        );
    }

    // Messages after the restart continue the numbering and reach both relays, which see
    // the whole room gapless (whatever their pub/sub missed comes from history).
    let after: Vec<Message> =
        join_all((0..50).map(|i| b.publish(message("durable", "bob", &format!("after {i}")))))
            .await
            .into_iter()
            .map(|r| r.expect("publish after restart"))
            .collect();
    assert_eq!(after[0].seq, stored.len() as u64 + 1);
    let everything = a.read_after("durable", 0, 10_000).await.expect("read");
    let n = everything.len();
    assert_eq!(seqs(&everything), (1..=n as u64).collect::<Vec<_>>());
    assert_eq!(sink_a.wait_messages("durable", n).await, everything);
    assert_eq!(sink_b.wait_messages("durable", n).await, everything);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_store_starts_a_new_epoch() {
    let mut server = RedisServer::start_with(Persistence::None).await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), "relay-a").await;
    broker.subscribe("r").await.expect("subscribe");
    let old_epoch = broker.epoch();
    assert!((1..=MAX_EPOCH).contains(&old_epoch));
    for i in 0..3 {
        publish(&broker, "r", "ann", &format!("old {i}")).await;
    }
    sink.wait_messages("r", 3).await;

    server.restart().await;
    wait_for("the broker to learn the new epoch", async || {
        broker.is_ready() && broker.epoch() != old_epoch
    })
    .await;
    let new_epoch = broker.epoch();
    assert!(new_epoch > old_epoch, "the new epoch is the later time");
    let head = broker.head("r").await.expect("head");
    assert_eq!(
        (head.epoch, head.last_seq, head.first_seq),
        (new_epoch, 0, 1)
    );
    let first = publish(&broker, "r", "ann", "new").await;
    assert_eq!((first.seq, first.epoch), (1, new_epoch));
    let seen = sink.wait_messages("r", 4).await;
    assert_eq!(
        seen[3], first,
        "the subscriber hears the new epoch's first message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_store_is_noticed_without_a_disconnect() {
    let server = RedisServer::start().await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), "relay-a").await;
    broker.subscribe("r").await.expect("subscribe");
    let old_epoch = broker.epoch();
    publish(&broker, "r", "ann", "old").await;
    sink.wait_messages("r", 1).await;
    // Make sure the new epoch differs from the old one even on a fast machine.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _: Value = server.cmd(&["FLUSHALL"]).await;
    wait_for("the broker to notice the new epoch", async || {
        broker.epoch() != old_epoch
    })
    .await;
    let first = publish(&broker, "r", "ann", "new").await;
    assert_eq!((first.seq, first.epoch), (1, broker.epoch()));
    assert_eq!(sink.wait_messages("r", 2).await[1], first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_live_traffic_is_filled_from_history() {
    let server = RedisServer::start().await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), "relay-g").await;
    broker.subscribe("g").await.expect("subscribe");
    let first = publish(&broker, "g", "ann", "first").await;
    assert_eq!(sink.wait_messages("g", 1).await, vec![first.clone()]);
    // Seq 2 is stored but its frame never reaches the relay, as if lost on the way.
    let ts = first.ts.to_string();
    let epoch = first.epoch.to_string();
    let fields = ["f", "bob", "t", "frame lost", "ts", &ts, "e", &epoch];
    let mut xadd = vec!["XADD", "chitchat:{g}:log", "2-0"];
    xadd.extend(fields);
    let _: Value = server.cmd(&xadd).await;
    // Seq 3 is an entry no relay can read: it is skipped, not allowed to stall the room.
    let _: Value = server
        .cmd(&["XADD", "chitchat:{g}:log", "3-0", "x", "garbage"])
        .await;
    let fourth = publish(&broker, "g", "ann", "fourth").await;
    assert_eq!(fourth.seq, 4);
    let seen = sink.wait_messages("g", 3).await;
    assert_eq!(seqs(&seen), vec![1, 2, 4]);
    assert_eq!(
        (seen[1].from.as_str(), seen[1].text.as_str()),
        ("bob", "frame lost")
    );
    assert_eq!(seen[2], fourth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_survives_a_lost_or_set_back_counter() {
    let server = RedisServer::start().await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), "relay").await;
    for i in 0..5 {
        publish(&broker, "n", "ann", &i.to_string()).await;
    }
    let _: Value = server.cmd(&["DEL", &seq_key("n")]).await;
    assert_eq!(broker.head("n").await.expect("head").last_seq, 5);
    assert_eq!(publish(&broker, "n", "ann", "after DEL").await.seq, 6);
    let _: Value = server.cmd(&["SET", &seq_key("n"), "2"]).await;
    assert_eq!(publish(&broker, "n", "ann", "after SET").await.seq, 7);
    let _: Value = server.cmd(&["SET", &seq_key("n"), "not a number"]).await;
    match broker.publish(message("n", "ann", "refused")).await {
        Err(BrokerError::Internal(why)) => assert!(why.contains("does not hold a number"), "{why}"),
        other => panic!("a garbled counter gave {other:?}"),
    }
    let seqs_stored = seqs(&broker.read_after("n", 0, 100).await.expect("read"));
    assert_eq!(
        seqs_stored,
        (1..=7).collect::<Vec<_>>(),
        "the refused message was not stored"
    );

    // Subscribing to the garbled room is refused; the broker and its other rooms carry on.
    match broker.subscribe("n").await {
        Err(BrokerError::Internal(why)) => assert!(why.contains("room n"), "{why}"),
        other => panic!("subscribing to a garbled room gave {other:?}"),
    }
    assert!(broker.is_ready());
    assert_eq!(
        subscribers(&server, "n").await,
        0,
        "the refused room's channel was left"
    );
    broker.subscribe("fine").await.expect("subscribe");
    let msg = publish(&broker, "fine", "ann", "still delivered").await;
    assert_eq!(sink.wait_messages("fine", 1).await, vec![msg]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_a_redis_cluster_node() {
    // A cluster refuses any command or script whose keys span hash slots: the room's
    // counter, stream and channel must share one slot.
    let server = RedisServer::start_with(Persistence::Cluster).await;
    let info: String = server.cmd(&["CLUSTER", "INFO"]).await;
    assert!(info.contains("cluster_state:ok"), "{info}");
    let (sink_a, sink_b) = (RecordingSink::new(), RecordingSink::new());
    let a = connect(&server.url(), sink_a.clone(), "relay-a").await;
    let b = connect(&server.url(), sink_b.clone(), "relay-b").await;
    for room in ["lobby", "Room-2.x_y"] {
        a.subscribe(room).await.expect("subscribe");
        b.subscribe(room).await.expect("subscribe");
        let sent = vec![
            publish(&a, room, "ann", "one").await,
            publish(&b, room, "bob", "two").await,
        ];
        assert_eq!(seqs(&sent), vec![1, 2]);
        assert_eq!(sink_a.wait_messages(room, 2).await, sent);
        assert_eq!(sink_b.wait_messages(room, 2).await, sent);
        assert_eq!(a.read_after(room, 0, 10).await.expect("read"), sent);
        assert_eq!(a.read_before(room, None, 10).await.expect("read"), sent);
        let head = a.head(room).await.expect("head");
        assert_eq!((head.last_seq, head.first_seq), (2, 1));
        a.signal(room, Signal::Typing { nick: "ann".into() });
        sink_b.wait_signals(room, 1).await;
    }
}

/// Subscribes a RESP3 connection of the test's own to `room`'s channel; returns the raw
/// payloads Redis pushes.
async fn raw_subscriber(
    server: &RedisServer,
    room: &str,
) -> (
    redis::aio::MultiplexedConnection,
    mpsc::UnboundedReceiver<PushInfo>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).expect("url");
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect");
    let _: Value = redis::cmd("SSUBSCRIBE")
        .arg(channel(room))
        .query_async(&mut conn)
        .await
        .expect("SSUBSCRIBE");
    (conn, rx)
}

async fn next_payload(pushes: &mut mpsc::UnboundedReceiver<PushInfo>) -> Vec<u8> {
    loop {
        let push = tokio::time::timeout(DEADLINE, pushes.recv())
            .await
            .expect("a frame in time")
            .expect("subscriber open");
        if push.kind == PushKind::SMessage
            && let Some(Value::BulkString(payload)) = push.data.get(1)
        {
            return payload.clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_built_by_the_script_decode_at_every_varint_width() {
    let server = RedisServer::start().await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), "relay-w").await;
    broker.subscribe("w").await.expect("subscribe");
    let (_conn, mut pushes) = raw_subscriber(&server, "w").await;
    let mut delivered = 0;
    // Each value is the counter before a publish: the seq after it crosses a varint width
    // (1 byte up to 250, then 3, 5, 9 bytes), up to the largest seq an f64 holds exactly.
    for before in [
        0u64,
        249,
        250,
        65_534,
        65_535,
        (1 << 32) - 2,
        (1 << 32) - 1,
        MAX_EPOCH - 1,
    ] {
        let _: Value = server
            .cmd(&["SET", &seq_key("w"), &before.to_string()])
            .await;
        let text = format!("after {before}: ünïcode ✓");
        let msg = publish(&broker, "w", "Zoë", &text).await;
        assert_eq!(msg.seq, before + 1);
        let frame = BusFrame::decode(&next_payload(&mut pushes).await).expect("frame decodes");
        assert_eq!(
            (frame.origin.as_str(), frame.room.as_str()),
            ("relay-w", "w")
        );
        assert_eq!(
            frame.message(),
            Some(msg.clone()),
            "the frame carries the message"
        );
        delivered += 1;
        // The broker's own subscriber sees the jump as a gap, finds nothing stored in it
        // (the counter was moved by hand), and delivers the message.
        assert_eq!(sink.wait_messages("w", delivered).await.last(), Some(&msg));
        assert_eq!(
            broker.read_after("w", before, 10).await.expect("read"),
            vec![msg]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_to_the_limit() {
    let server = RedisServer::start().await;
    let broker = RedisBroker::connect(&server.url(), RecordingSink::new(), "relay".into(), 10)
        .await
        .expect("connect");
    let published: Vec<Message> =
        join_all((0..25).map(|i| broker.publish(message("t", "ann", &i.to_string()))))
            .await
            .into_iter()
            .map(|r| r.expect("publish"))
            .collect();
    let head = broker.head("t").await.expect("head");
    assert_eq!((head.last_seq, head.first_seq), (25, 16));
    assert_eq!(
        broker.read_after("t", 0, 100).await.expect("read"),
        published[15..]
    );
    assert_eq!(
        broker.read_before("t", None, 100).await.expect("read"),
        published[15..]
    );
    assert!(
        broker
            .read_before("t", Some(16), 100)
            .await
            .expect("read")
            .is_empty()
    );
    let len: i64 = server.cmd(&["XLEN", &log_key("t")]).await;
    assert_eq!(len, 10);
}

#[tokio::test]
async fn connect_reports_bad_settings() {
    let sink = RecordingSink::new();
    match RedisBroker::connect("http://localhost", sink.clone(), "n".into(), 10).await {
        Err(BrokerError::Internal(why)) => assert!(why.contains("URL"), "{why}"),
        other => panic!("a bad URL gave {:?}", other.map(|_| ())),
    }
    let server = RedisServer::start().await;
    match RedisBroker::connect(&server.url(), sink.clone(), "n".into(), 0).await {
        Err(BrokerError::Internal(why)) => assert!(why.contains("history limit"), "{why}"),
        other => panic!("a zero history limit gave {:?}", other.map(|_| ())),
    }
    let stranger = format!("redis://nobody:wrong@127.0.0.1:{}/", server.port());
    match RedisBroker::connect(&stranger, sink.clone(), "n".into(), 10).await {
        Err(BrokerError::Internal(why)) => assert!(why.contains("connecting"), "{why}"),
        other => panic!("an unknown user gave {:?}", other.map(|_| ())),
    }
    let port = server.port();
    drop(server);
    let started = Instant::now();
    match RedisBroker::connect(&format!("redis://127.0.0.1:{port}/"), sink, "n".into(), 10).await {
        Err(BrokerError::Unavailable(_)) => {}
        other => panic!("an unreachable Redis gave {:?}", other.map(|_| ())),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sends_what_was_queued_then_stops() {
    let server = RedisServer::start().await;
    let broker = connect(&server.url(), RecordingSink::new(), "relay").await;
    broker.subscribe("c").await.expect("subscribe");
    let pending: Vec<_> = (0..200)
        .map(|i| broker.publish(message("c", "ann", &i.to_string())))
        .collect();
    broker.close().await;
    for result in join_all(pending).await {
        result.expect("a message queued before close is stored");
    }
    assert!(!broker.is_ready());
    assert!(matches!(
        broker.publish(message("c", "ann", "late")).await,
        Err(BrokerError::Unavailable(_))
    ));
    wait_for("the closed broker to leave its channels", async || {
        subscribers(&server, "c").await == 0
    })
    .await;
    let stored: String = server.cmd(&["GET", &seq_key("c")]).await;
    assert_eq!(stored, "200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_broker_sends_what_was_queued() {
    let server = RedisServer::start().await;
    let broker = connect(&server.url(), RecordingSink::new(), "relay").await;
    let pending: Vec<_> = (0..300)
        .map(|i| broker.publish(message("q", "ann", &i.to_string())))
        .collect();
    drop(broker);
    for result in join_all(pending).await {
        result.expect("a message queued before drop is stored");
    }
    let stored: String = server.cmd(&["GET", &seq_key("q")]).await;
    assert_eq!(stored, "300");
}
