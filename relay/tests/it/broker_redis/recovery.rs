//! The Redis broker losing Redis: a relay locked out of Redis catching up without gaps, a
//! Redis restart losing no acknowledged message, a new room epoch after Redis lost the
//! room's keys (on reconnect or while connected; other rooms keep theirs), a seq that went
//! backwards giving the room a new epoch, gaps in live traffic filled from history, and
//! numbering surviving a lost or set-back counter.

use std::time::{Duration, Instant};

use chitchat_relay::broker::NewMessage;

use super::*;

/// How long a publish may take to fail while Redis is unreachable: it must fail fast.
const FAIL_FAST: Duration = Duration::from_secs(1);

async fn expect_unavailable(broker: &RedisBroker, room: &str) {
    let started = Instant::now();
    let result = broker.publish(new_message(room, "x", "while down")).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(BrokerError::Unavailable(_))),
        "publishing while Redis is unreachable gave {result:?}"
    );
    assert!(took < FAIL_FAST, "failing took {took:?}");
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
    // Each relay logs in as the ACL user named after it.
    let login = |user: &str| server.url_as(user, &format!("pw-{user}"));
    let a = Arc::new(connect(&login("relay-a"), sink_a.clone(), "relay-a").await);
    let b = Arc::new(connect(&login("relay-b"), sink_b.clone(), "relay-b").await);
    a.subscribe("room").await.expect("subscribe");
    b.subscribe("room").await.expect("subscribe");
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        acknowledged.push(publish(&*a, "room", "ann", &format!("before {i}")).await);
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
    let during = publish_many(&*b, "room", "bob", 100, |i| format!("during {i}")).await;
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
                    (0..10)
                        .map(|i| b.publish(new_message("room", "bob", &format!("reconnect {i}")))),
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
    let next = publish(&*a, "room", "ann", "after").await;
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
    a.subscribe("durable").await.expect("subscribe");
    let epoch = a.head("durable").await.expect("head").epoch;
    b.subscribe("durable").await.expect("subscribe");

    let (from_a, from_b) = tokio::join!(
        publish_many(&*a, "durable", "ann", 50, |i| format!("a {i}")),
        publish_many(&*b, "durable", "bob", 50, |i| format!("b {i}")),
    );
    let mut acknowledged: Vec<Message> = from_a.into_iter().chain(from_b).collect();
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
                    .publish(new_message("durable", "ann", "racing the kill"))
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
    assert_eq!(
        a.head("durable").await.expect("head").epoch,
        epoch,
        "the store kept its data, so the room's epoch"
    );
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
    let after = publish_many(&*b, "durable", "bob", 50, |i| format!("after {i}")).await;
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
    for i in 0..3 {
        publish(&broker, "r", "ann", &format!("old {i}")).await;
    }
    let old_epoch = sink.wait_messages("r", 3).await[0].epoch;
    assert!((1..=MAX_EPOCH).contains(&old_epoch));

    server.restart().await;
    wait_for("the broker to reconnect", async || broker.is_ready()).await;
    let head = broker.head("r").await.expect("head");
    assert!(head.epoch > old_epoch, "the new epoch is the later time");
    assert_eq!((head.last_seq, head.first_seq), (0, 1));
    let first = publish(&broker, "r", "ann", "new").await;
    assert_eq!((first.seq, first.epoch), (1, head.epoch));
    let seen = sink.wait_messages("r", 4).await;
    assert_eq!(
        seen[3], first,
        "the subscriber hears the new epoch's first message"
    );
}

/// A room whose keys alone are lost (its shard lost its data) gets a new epoch, which the
/// relay delivering it follows without a disconnect; another room keeps its epoch and its
/// history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_that_lost_its_keys_gets_a_new_epoch_alone() {
    let (server, sink, broker) = subscribed("relay-a", "r").await;
    broker.subscribe("kept").await.expect("subscribe");
    let old = publish(&broker, "r", "ann", "old").await;
    let kept = publish(&broker, "kept", "ann", "kept").await;
    sink.wait_messages("r", 1).await;
    // Make sure the new epoch differs from the old one even on a fast machine.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let keys = [epoch_key("r"), seq_key("r"), log_key("r")];
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    let _: Value = server.cmd(&del).await;
    let first = publish(&broker, "r", "ann", "new").await;
    assert_eq!(first.seq, 1);
    assert!(first.epoch > old.epoch);
    assert_eq!(sink.wait_messages("r", 2).await[1], first);
    let head = broker.head("kept").await.expect("head");
    assert_eq!(
        (head.epoch, head.last_seq),
        (kept.epoch, 1),
        "the other room"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_store_is_noticed_without_a_disconnect() {
    let (server, sink, broker) = subscribed("relay-a", "r").await;
    let old = publish(&broker, "r", "ann", "old").await;
    sink.wait_messages("r", 1).await;
    // Make sure the new epoch differs from the old one even on a fast machine.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let _: Value = server.cmd(&["FLUSHALL"]).await;
    let first = publish(&broker, "r", "ann", "new").await;
    assert_eq!(first.seq, 1);
    assert!(first.epoch > old.epoch, "a new epoch, later than the old");
    assert_eq!(sink.wait_messages("r", 2).await[1], first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_live_traffic_is_filled_from_history() {
    let (server, sink, broker) = subscribed("relay-g", "g").await;
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
    match broker.publish(new_message("n", "ann", "refused")).await {
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

/// A publish refused as unavailable because Redis stalled past the command deadline runs
/// anyway once Redis resumes; the sender's retry with the same send id gets that message's
/// seq back, and the room holds and delivers the text once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_refused_while_redis_stalled_is_stored_once_when_retried() {
    let server = RedisServer::start().await;
    let sink = RecordingSink::new();
    let broker = connect(&server.url(), sink.clone(), "relay-a").await;
    broker.subscribe("room").await.expect("subscribe");
    let send = || NewMessage {
        send_id: Some(0x5eed),
        ..new_message("room", "ann", "exactly once")
    };

    server.pause();
    let refused = broker.publish(send()).await;
    assert!(
        matches!(refused, Err(BrokerError::Unavailable(_))),
        "a publish while Redis is stopped past the deadline gave {refused:?}"
    );
    server.resume();
    // The refused script was already in Redis's socket: it runs once Redis resumes. That
    // is the fault: refused, yet stored.
    wait_for("the refused publish to be stored", async || {
        let len: i64 = server.cmd(&["XLEN", &log_key("room")]).await;
        len == 1
    })
    .await;

    let deadline = Instant::now() + DEADLINE;
    let retried = loop {
        match broker.publish(send()).await {
            Ok(msg) => break msg,
            Err(BrokerError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the retry failed: {e}"),
        }
    };
    assert_eq!(
        (retried.seq, retried.text.as_str()),
        (1, "exactly once"),
        "the retry got the original seq"
    );
    let len: i64 = server.cmd(&["XLEN", &log_key("room")]).await;
    assert_eq!(len, 1, "the room's history holds the text once");
    // The broker may still be reconnecting after the stall: read once it answers.
    let mut history = Vec::new();
    wait_for("the broker to read history", async || {
        match broker.read_after("room", 0, 10).await {
            Ok(read) => {
                history = read;
                true
            }
            Err(BrokerError::Unavailable(_)) => false,
            Err(e) => panic!("reading history failed: {e}"),
        }
    })
    .await;
    assert_eq!(seqs(&history), [1]);

    // One more send: once it is delivered, a second delivery of seq 1 would have come
    // before it.
    let next = publish(&broker, "room", "ann", "next").await;
    let delivered = sink.wait_messages("room", 2).await;
    assert_eq!(seqs(&delivered), [1, next.seq], "delivered once");
}
