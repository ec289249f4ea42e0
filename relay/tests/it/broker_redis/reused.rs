//! A seq that went backwards (a failover that promoted a replica lacking the newest
//! entries, played here on one Redis by removing them and setting the counter back): the
//! next message is given a seq some relay already saw, and the room gets a new epoch
//! instead of its clients skipping that message as one they have. Noticed by the relay
//! that sends it, by a relay that only delivers it, and by a relay that reconnects. A
//! garbled epoch key is refused for its room alone.

use super::*;

/// Leaves `room` as a replica promoted before it received the entries after `keep` would
/// have it: the stream rebuilt with entries up to `keep` (so its last id is `keep`), the
/// counter at `keep`.
pub(crate) async fn lose_newest(server: &RedisServer, room: &str, keep: u64) {
    const REBUILD: &str = r#"
local entries = redis.call('XRANGE', KEYS[1], '-', ARGV[1] .. '-0')
redis.call('DEL', KEYS[1])
for _, e in ipairs(entries) do redis.call('XADD', KEYS[1], e[1], unpack(e[2])) end
redis.call('SET', KEYS[2], ARGV[1])
return #entries
"#;
    let kept: Value = server
        .cmd(&[
            "EVAL",
            REBUILD,
            "2",
            &log_key(room),
            &seq_key(room),
            &keep.to_string(),
        ])
        .await;
    assert_eq!(kept, Value::Int(keep as i64), "entries kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sending_relay_gives_the_room_a_new_epoch() {
    let (server, sink, broker) = subscribed("relay-s", "r").await;
    for i in 1..=3 {
        publish(&broker, "r", "ann", &format!("before {i}")).await;
    }
    let before = sink.wait_messages("r", 3).await;
    let old = before[0].epoch;
    lose_newest(&server, "r", 1).await;

    let reused = publish(&broker, "r", "bob", "after the loss").await;
    assert_eq!(reused.seq, 2, "Redis handed out seq 2 again");
    assert_ne!(
        reused.epoch, old,
        "the sender is answered in the room's new epoch"
    );
    let head = broker.head("r").await.expect("head");
    assert_eq!((head.epoch, head.last_seq), (reused.epoch, 2));
    // The room is delivered again from seq 1 in its new epoch.
    let seen = sink.wait_messages("r", 5).await;
    assert_eq!(
        seen[3..]
            .iter()
            .map(|m| (m.epoch, m.seq, m.text.as_str()))
            .collect::<Vec<_>>(),
        [
            (reused.epoch, 1, "before 1"),
            (reused.epoch, 2, "after the loss")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_only_delivers_notices_the_reused_seq() {
    let (server, sink, reader) = subscribed("relay-r", "r").await;
    // The sender has no member in the room: it tracks nothing and cannot tell.
    let writer = connect(&server.url(), RecordingSink::new(), "relay-w").await;
    for i in 1..=3 {
        publish(&writer, "r", "ann", &format!("before {i}")).await;
    }
    let old = sink.wait_messages("r", 3).await[0].epoch;
    lose_newest(&server, "r", 1).await;

    let reused = publish(&writer, "r", "bob", "after the loss").await;
    assert_eq!(
        (reused.epoch, reused.seq),
        (old, 2),
        "the writer cannot tell"
    );
    let seen = sink.wait_messages("r", 5).await;
    let new = reader.head("r").await.expect("head").epoch;
    assert_ne!(new, old, "the reader gave the room a new epoch");
    assert_eq!(
        seen[3..]
            .iter()
            .map(|m| (m.epoch, m.seq, m.text.as_str()))
            .collect::<Vec<_>>(),
        [(new, 1, "before 1"), (new, 2, "after the loss")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_relay_notices_a_head_below_what_it_delivered() {
    let (server, sink, reader) = subscribed("relay-c", "r").await;
    for i in 1..=3 {
        publish(&reader, "r", "ann", &format!("before {i}")).await;
    }
    let old = sink.wait_messages("r", 3).await[0].epoch;
    // The entries go, and the relay's connections with them, as in a failover.
    lose_newest(&server, "r", 1).await;
    let _: Value = server.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    wait_for(
        "the relay to reconnect and give the room a new epoch",
        async || reader.is_ready() && reader.head("r").await.is_ok_and(|h| h.epoch != old),
    )
    .await;
    let seen = sink.wait_messages("r", 4).await;
    assert_eq!((seen[3].seq, seen[3].text.as_str()), (1, "before 1"));
    assert_ne!(seen[3].epoch, old);
}

/// A room whose epoch key holds something else than an epoch: sends and subscriptions to
/// it are refused with a clear error, nothing is stored, and other rooms carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_room_epoch_is_refused_for_that_room_only() {
    let (server, sink, broker) = subscribed("relay-g", "fine").await;
    for garbage in ["not a number", "0", "9007199254740992"] {
        let _: Value = server.cmd(&["SET", &epoch_key("bad"), garbage]).await;
        match broker.publish(new_message("bad", "ann", "refused")).await {
            Err(BrokerError::Internal(why)) => {
                assert!(why.contains("does not hold an epoch"), "{why}")
            }
            other => panic!("a garbled epoch {garbage:?} gave {other:?}"),
        }
        match broker.subscribe("bad").await {
            Err(BrokerError::Internal(why)) => assert!(why.contains("room bad"), "{why}"),
            other => panic!("subscribing with a garbled epoch gave {other:?}"),
        }
    }
    let stored: Value = server.cmd(&["EXISTS", &log_key("bad")]).await;
    assert_eq!(stored, Value::Int(0), "nothing stored");
    assert!(broker.is_ready());
    let fine = publish(&broker, "fine", "ann", "still fine").await;
    assert_eq!(sink.wait_messages("fine", 1).await, vec![fine]);
}
