//! The Redis broker against real `redis-server` processes: the shared broker conformance
//! suite, then what only a cluster broker has: two relays on one Redis sharing one order
//! per room, per-room subscriptions seen from Redis itself, the frames the publish script
//! assembles, retention, a Redis node in cluster mode, and closing. Losing Redis is
//! [`recovery`]'s.

mod cluster;
mod recovery;
pub(crate) mod reused;
mod states;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chitchat_protocol::bus::BusFrame;
use chitchat_protocol::{MAX_EPOCH, Message};
use chitchat_relay::broker::redis::{RedisBroker, channel, epoch_key, log_key, seq_key};
use chitchat_relay::broker::{Broker, BrokerError, Deliver, SharedBroker, Signal};
use chitchat_tests::redis::{Persistence, RedisServer};
use futures::future::join_all;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::conformance::{
    DEADLINE, RecordingSink, StoreFactory, assert_in_call_order, new_message, publish,
    publish_many, seqs,
};

/// Retention in the conformance suite: above the most messages any case stores in a room.
const CONFORMANCE_HISTORY: usize = 10_000;

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

/// A fresh redis-server and broker `node` on it, subscribed to `room`, with the sink it
/// delivers to.
async fn subscribed(node: &str, room: &str) -> (RedisServer, Arc<RecordingSink>, RedisBroker) {
    let server = RedisServer::start().await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), node).await;
    broker.subscribe(room).await.expect("subscribe");
    (server, sink, broker)
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
                let from = format!("{relay}{task}");
                publish_many(&*broker, "shared", &from, PER_TASK, |i| i.to_string()).await
            }));
        }
    }
    // B publishes into a room it is not subscribed to; A hears it.
    let b_into_a_only = publish_many(&*b, "a-only", "bob", 20, |i| format!("from b {i}")).await;

    let mut acknowledged = Vec::new();
    for task in tasks {
        let mine = task.await.expect("publisher task");
        assert_in_call_order(&mine, "one publisher");
        acknowledged.extend(mine);
    }
    acknowledged.sort_by_key(|m| m.seq);
    let shared = b.head("shared").await.expect("head");
    assert!(
        acknowledged.iter().all(|m| m.epoch == shared.epoch),
        "one room, one epoch, whichever relay stored the message"
    );
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
    let (server, sink, broker) = subscribed("relay-w", "w").await;
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
            frame.entry().and_then(|e| e.to_message()),
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
    let published = publish_many(&broker, "t", "ann", 25, |i| i.to_string()).await;
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
        .map(|i| broker.publish(new_message("c", "ann", &i.to_string())))
        .collect();
    broker.close().await;
    for result in join_all(pending).await {
        result.expect("a message queued before close is stored");
    }
    assert!(!broker.is_ready());
    assert!(matches!(
        broker.publish(new_message("c", "ann", "late")).await,
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
        .map(|i| broker.publish(new_message("q", "ann", &i.to_string())))
        .collect();
    drop(broker);
    for result in join_all(pending).await {
        result.expect("a message queued before drop is stored");
    }
    let stored: String = server.cmd(&["GET", &seq_key("q")]).await;
    assert_eq!(stored, "300");
}
