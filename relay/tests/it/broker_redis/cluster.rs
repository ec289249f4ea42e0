//! The Redis broker on a real Redis Cluster (three masters, three replicas; one start for
//! the whole file, its phases one after another): the broker conformance suite with rooms on
//! every shard, checked against the cluster's own `CLUSTER KEYSLOT`; then a live room's slot
//! moved to another master while two relays send to it; then a master killed while they
//! send to its rooms.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chitchat_protocol::{EntryBody, Message};
use chitchat_relay::broker::redis::{DEFAULT_HEARTBEAT, RedisBroker, RedisOptions, channel};
use chitchat_relay::broker::{Broker, BrokerError, Deliver, NewEntry, NewMessage, SharedBroker};
use chitchat_tests::redis_cluster::{MASTERS, RedisCluster};
use redis::Value;

use super::CONFORMANCE_HISTORY;
use crate::conformance::{self, DEADLINE, RecordingSink, StoreFactory, seqs};

/// Messages delivered before the room's slot starts moving, and sent by each relay once it
/// has moved: sends are under way through the whole move.
const AFTER_MOVE: usize = 20;

/// Every `open` connects to the same cluster through its seed nodes.
struct ClusterStore {
    url: String,
}

#[async_trait::async_trait]
impl StoreFactory for ClusterStore {
    async fn open(&self, sink: Arc<dyn Deliver>) -> Result<SharedBroker, BrokerError> {
        let broker =
            RedisBroker::connect(&self.url, sink, "conformance".into(), CONFORMANCE_HISTORY)
                .await?;
        Ok(Arc::new(broker))
    }
}

/// Empties every master, so each case starts from an empty store as it does on a single
/// Redis.
async fn flush(cluster: &RedisCluster) {
    for shard in cluster.shards().await {
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut cluster.connection(shard.master).await)
            .await
            .expect("FLUSHALL");
    }
}

/// The masters holding some room's history now; each room's keys checked to sit on the
/// master `CLUSTER KEYSLOT` says serves the room.
async fn masters_with_rooms(cluster: &RedisCluster) -> BTreeSet<u16> {
    let mut masters = BTreeSet::new();
    for shard in cluster.shards().await {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("chitchat:{*}:log")
            .query_async(&mut cluster.connection(shard.master).await)
            .await
            .expect("KEYS");
        for key in keys {
            let slot = cluster.keyslot(&key).await;
            assert!(shard.serves(slot), "{key} (slot {slot}) on {shard:?}");
            masters.insert(shard.master);
        }
    }
    masters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_redis_cluster_with_rooms_on_every_shard() {
    let mut cluster = RedisCluster::start().await;
    let store = ClusterStore { url: cluster.url() };
    let mut used = BTreeSet::new();
    crate::conformance::broker_conformance_tests!(
        sequential & store,
        flush(&cluster).await,
        used.extend(masters_with_rooms(&cluster).await)
    );
    assert_eq!(used.len(), MASTERS, "rooms landed on masters {used:?} only");

    flush(&cluster).await;
    a_live_rooms_slot_moves(&cluster).await;
    flush(&cluster).await;
    a_master_dies_under_sends(&mut cluster).await;
    unreplicated_messages_are_not_acknowledged(&mut cluster).await;
}

/// Why sends wait for a replica: with the replica of a room's master stopped (SIGSTOP and
/// its link cut), a relay that does not wait (`min_replicas` 0) has messages acknowledged
/// that only the master holds, while a relay that waits refuses to acknowledge; the master
/// dies, the stale replica takes over, and the acknowledged messages are gone: the next
/// send is given a seq an acknowledged message already had. The relay, which delivered
/// that seq to its member, notices and gives the room a new epoch, so clients are told
/// rather than skipping the new message as one they have.
async fn unreplicated_messages_are_not_acknowledged(cluster: &mut RedisCluster) {
    let room = cluster.room_on_each_shard("stale").await.remove(2);
    let slot = cluster.room_slot(&room).await;
    let shard = cluster.shard_of(slot).await;
    let [replica] = shard.replicas[..] else {
        panic!("{shard:?} has no single replica");
    };
    let url = cluster.url();
    let waiting = connect(&url, RecordingSink::new(), "waiting").await;
    let options = RedisOptions {
        node_id: "hasty".into(),
        history_limit: CONFORMANCE_HISTORY,
        heartbeat: DEFAULT_HEARTBEAT,
        min_replicas: Some(0),
        tls_ca: None,
    };
    let hasty_sink = RecordingSink::new();
    let hasty = RedisBroker::connect_with(&url, hasty_sink.clone(), options)
        .await
        .expect("connecting without the replica wait");
    hasty.subscribe(&room).await.expect("subscribe");
    let before = conformance::publish(&hasty, &room, "ann", "replicated").await;
    assert_eq!(before.seq, 1);
    // The waiting relay's sends now reach the replica only once it has them.
    let _ = conformance::publish(&waiting, &room, "ann", "also replicated").await;

    // The replica stops, and its link is cut on the master's side, so that nothing sent
    // from now on waits in its socket for it to read later.
    cluster.node(replica).pause();
    let _: Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query_async(&mut cluster.connection(shard.master).await)
        .await
        .expect("CLIENT KILL TYPE replica");
    let lost = conformance::publish(&hasty, &room, "ann", "only on the master").await;
    assert_eq!(lost.seq, 3, "acknowledged without the replica");
    assert_eq!(hasty_sink.wait_messages(&room, 3).await[2], lost);
    match waiting
        .publish(conformance::new_message(&room, "bob", "refused"))
        .await
    {
        Err(BrokerError::Unavailable(_)) => {}
        other => panic!("a send the replica does not have was answered {other:?}"),
    }
    // Changes to a message wait for the replica the same way.
    let edit = NewEntry {
        room: room.clone(),
        from: "ann".into(),
        body: EntryBody::Edit {
            target: before.seq,
            text: "corrected".into(),
        },
        send_id: None,
        by_operator: false,
    };
    match waiting.append(edit).await {
        Err(BrokerError::Unavailable(_)) => {}
        other => panic!("an edit the replica does not have was answered {other:?}"),
    }

    cluster.kill(shard.master);
    cluster.node(replica).resume();
    assert_eq!(cluster.wait_taken_over(slot, shard.master).await, replica);
    let deadline = Instant::now() + DEADLINE;
    let reused = loop {
        match hasty
            .publish(conformance::new_message(&room, "cat", "after the failover"))
            .await
        {
            Ok(stored) => break stored,
            Err(e) => assert!(Instant::now() < deadline, "sending after the failover: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        reused.seq, lost.seq,
        "the acknowledged message's seq went to another message"
    );
    assert_ne!(
        reused.epoch, lost.epoch,
        "the reused seq was noticed: the room has a new epoch"
    );
    let head = hasty.head(&room).await.expect("head");
    assert_eq!((head.epoch, head.last_seq), (reused.epoch, reused.seq));
    // The member's stream restarts at seq 1 of the new epoch, with the new message.
    let seen = hasty_sink
        .wait_until("the room delivered again in its new epoch", DEADLINE, |r| {
            r.messages.iter().any(|m| m == &reused)
        })
        .await
        .messages_in(&room);
    let again: Vec<u64> = seen
        .iter()
        .filter(|m| m.epoch == reused.epoch)
        .map(|m| m.seq)
        .collect();
    assert_eq!(again, (1..=reused.seq).collect::<Vec<_>>());
}

/// Two relays send to two rooms of one shard, a third only reads them, and the shard's
/// master is killed (SIGKILL) mid-traffic: its replica takes over, the relays connect
/// again, and every acknowledged message (acknowledged only once the replica had it) is
/// delivered to every relay exactly once, gapless, with no seq given to two messages.
async fn a_master_dies_under_sends(cluster: &mut RedisCluster) {
    let first = cluster.room_on_each_shard("failing").await.remove(0);
    let slot = cluster.room_slot(&first).await;
    let shard = cluster.shard_of(slot).await;
    let mut rooms = vec![first];
    for n in 0.. {
        let room = format!("failing-also-{n}");
        if shard.serves(cluster.room_slot(&room).await) {
            rooms.push(room);
            break;
        }
    }
    let url = cluster.url();
    let sinks = [
        RecordingSink::new(),
        RecordingSink::new(),
        RecordingSink::new(),
    ];
    let mut brokers = Vec::new();
    for (sink, node) in sinks.iter().zip(["relay-a", "relay-b", "relay-c"]) {
        let broker = Arc::new(connect(&url, sink.clone(), node).await);
        for room in &rooms {
            broker.subscribe(room).await.expect("subscribe");
        }
        brokers.push(broker);
    }
    let failed = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for (broker, nick) in brokers.iter().take(2).zip(["ann", "bob"]) {
        for room in &rooms {
            let (broker, room, failed) = (Arc::clone(broker), room.clone(), Arc::clone(&failed));
            senders.push((
                room.clone(),
                tokio::spawn(async move { send_until(&*broker, &room, nick, &failed).await }),
            ));
        }
    }
    sinks[2].wait_messages(&rooms[0], AFTER_MOVE).await;
    let promoted = cluster.fail_master_of(slot).await;
    assert_eq!(shard.replicas, vec![promoted]);
    failed.store(true, Ordering::Release);
    let mut acked: Vec<Message> = Vec::new();
    for (_, sender) in senders {
        acked.extend(sender.await.expect("a sender task"));
    }
    for room in &rooms {
        let in_room = acked.iter().filter(|m| m.room == *room).cloned().collect();
        assert_delivered_once(room, in_room, &sinks).await;
    }
}

/// Two relays subscribed to a room send to it while its slot moves to another master: the
/// sends follow `MOVED`/`ASK`, each relay is told by Redis that its subscription ended,
/// subscribes again on the new master and catches up, and both deliver every acknowledged
/// message exactly once, gapless, in one order. A third relay with no member there is not
/// subscribed anywhere. Both relays also hold a room on the third master, which the move
/// does not concern: its subscription is left alone (no `SSUBSCRIBE` reaches that master).
async fn a_live_rooms_slot_moves(cluster: &RedisCluster) {
    let rooms = cluster.room_on_each_shard("moving").await;
    let room = rooms[0].clone();
    let slot = cluster.room_slot(&room).await;
    let from = cluster.shard_of(slot).await.master;
    let staying = rooms[2].clone();
    let third = cluster
        .shard_of(cluster.room_slot(&staying).await)
        .await
        .master;
    let to = cluster
        .shards()
        .await
        .into_iter()
        .map(|s| s.master)
        .find(|&m| m != from && m != third)
        .expect("another master");
    let url = cluster.url();
    let (sink_a, sink_b) = (RecordingSink::new(), RecordingSink::new());
    let a = Arc::new(connect(&url, sink_a.clone(), "relay-a").await);
    let b = Arc::new(connect(&url, sink_b.clone(), "relay-b").await);
    let _c = connect(&url, RecordingSink::new(), "relay-c").await;
    for broker in [&a, &b] {
        broker.subscribe(&room).await.expect("subscribe");
        broker.subscribe(&staying).await.expect("subscribe");
    }
    assert_eq!(subscribers(cluster, from, &room).await, 2);
    let subscriptions_before = ssubscribe_calls(cluster, third).await;

    let moved = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = [(&a, "ann"), (&b, "bob")]
        .into_iter()
        .map(|(broker, nick)| {
            let (broker, room, moved) = (Arc::clone(broker), room.clone(), Arc::clone(&moved));
            tokio::spawn(async move { send_until(&*broker, &room, nick, &moved).await })
        })
        .collect();
    // The move starts with sends under way and they go on after it.
    sink_a.wait_messages(&room, AFTER_MOVE).await;
    cluster.migrate_slot(slot, to).await;
    moved.store(true, Ordering::Release);
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.expect("a sender task"));
    }
    assert_delivered_once(&room, acked, &[sink_a, sink_b.clone()]).await;
    assert_eq!(
        subscribers(cluster, to, &room).await,
        2,
        "both on the new master"
    );
    assert_eq!(subscribers(cluster, from, &room).await, 0);
    assert_eq!(
        ssubscribe_calls(cluster, third).await,
        subscriptions_before,
        "the room on the third master was not subscribed again"
    );
    assert_eq!(subscribers(cluster, third, &staying).await, 2);
    let stayed = a
        .publish(NewMessage {
            room: staying.clone(),
            from: "ann".into(),
            text: "still here".into(),
            send_id: None,
        })
        .await
        .expect("a send to the room that stayed");
    assert_eq!(sink_b.wait_messages(&staying, 1).await, vec![stayed]);
}

/// How many `SSUBSCRIBE` commands the master on `port` has run since it started.
async fn ssubscribe_calls(cluster: &RedisCluster, port: u16) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut cluster.connection(port).await)
        .await
        .expect("INFO commandstats");
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_ssubscribe:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().expect("a count of calls"))
}

/// Checks that `acked` (one room's acknowledged messages) hold every seq from 1 once, and
/// that every sink delivered exactly them, in seq order.
async fn assert_delivered_once(room: &str, mut acked: Vec<Message>, sinks: &[Arc<RecordingSink>]) {
    acked.sort_by_key(|m| m.seq);
    let total = acked.len();
    assert_eq!(
        seqs(&acked),
        (1..=total as u64).collect::<Vec<_>>(),
        "room {room}: every send acknowledged once, no seq twice, no gap"
    );
    for sink in sinks {
        assert_eq!(sink.wait_messages(room, total).await, acked, "room {room}");
    }
}

/// Sends messages one after another until [`AFTER_MOVE`] were acknowledged after `moved`
/// was set, each with a send id and sent again (same id) until acknowledged; returns what
/// was acknowledged.
async fn send_until(
    broker: &dyn Broker,
    room: &str,
    nick: &str,
    moved: &AtomicBool,
) -> Vec<Message> {
    let mut acked = Vec::new();
    let mut after_move = 0;
    let mut id = 0;
    while after_move < AFTER_MOVE {
        id += 1;
        let was_moved = moved.load(Ordering::Acquire);
        let deadline = Instant::now() + DEADLINE;
        loop {
            let msg = NewMessage {
                room: room.into(),
                from: nick.into(),
                text: format!("{nick} {id}"),
                send_id: Some(id),
            };
            match broker.publish(msg).await {
                Ok(stored) => {
                    acked.push(stored);
                    break;
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "send {id} of {nick}: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        if was_moved {
            after_move += 1;
        }
    }
    acked
}

#[tokio::test]
async fn bad_cluster_urls_are_refused_and_dead_seeds_unavailable() {
    for url in [
        "redis+cluster:///",
        "redis+cluster://127.0.0.1:notaport/",
        "redis+cluster://127.0.0.1:7001/3",
    ] {
        match RedisBroker::connect(url, RecordingSink::new(), "bad".into(), 10).await {
            Err(BrokerError::Internal(why)) => assert!(why.contains("bad Redis URL"), "{why}"),
            Err(e) => panic!("{url}: {e}"),
            Ok(_) => panic!("{url} was accepted"),
        }
    }
    // A port nobody listens on: the relay says Redis is unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("redis+cluster://127.0.0.1:{port}/");
    match RedisBroker::connect(&url, RecordingSink::new(), "dead".into(), 10).await {
        Err(BrokerError::Unavailable(_)) => {}
        Err(e) => panic!("{url}: {e}"),
        Ok(_) => panic!("{url} connected"),
    }
}

async fn connect(url: &str, sink: Arc<RecordingSink>, node: &str) -> RedisBroker {
    RedisBroker::connect(url, sink, node.into(), CONFORMANCE_HISTORY)
        .await
        .unwrap_or_else(|e| panic!("connecting {node}: {e}"))
}

/// How many subscribers the master on `port` counts on `room`'s channel.
async fn subscribers(cluster: &RedisCluster, port: u16, room: &str) -> i64 {
    let reply: Vec<Value> = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel(room))
        .query_async(&mut cluster.connection(port).await)
        .await
        .expect("PUBSUB SHARDNUMSUB");
    match reply.as_slice() {
        [_, Value::Int(n)] => *n,
        other => panic!("unexpected SHARDNUMSUB reply {other:?}"),
    }
}
