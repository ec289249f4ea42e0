//! Retention and the per-message state hashes on a real `redis-server`: a change entry
//! deletes the state hashes of messages that retention dropped from the log (and their seqs
//! from the room's set of states), so a room's state hashes stay within its history limit;
//! the states of messages still in the log are kept, and a change to a dropped message is
//! refused.

use chitchat_protocol::{EntryBody, ErrorCode};
use chitchat_relay::broker::redis::{RedisBroker, state_key, states_key};
use chitchat_relay::broker::{Broker, BrokerError, NewEntry};
use chitchat_tests::redis::RedisServer;

use crate::conformance::{RecordingSink, publish_many};

async fn change(broker: &RedisBroker, room: &str, body: EntryBody) -> Result<u64, BrokerError> {
    broker
        .append(NewEntry {
            room: room.into(),
            from: "ann".into(),
            body,
            send_id: None,
            by_operator: false,
        })
        .await
        .map(|e| e.seq)
}

fn edit(target: u64) -> EntryBody {
    EntryBody::Edit {
        target,
        text: format!("#{target}, edited"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_hashes_of_dropped_messages_go_with_the_next_change() {
    let server = RedisServer::start().await;
    let broker = RedisBroker::connect(&server.url(), RecordingSink::new(), "relay".into(), 5)
        .await
        .expect("connect");
    publish_many(&broker, "t", "ann", 3, |i| i.to_string()).await;
    // Two messages changed: each has a state hash, listed in the room's set.
    change(&broker, "t", edit(1)).await.expect("edit 1");
    change(&broker, "t", EntryBody::Delete { target: 2 })
        .await
        .expect("delete 2");
    let exists = |seq: u64| {
        let server = &server;
        async move { server.cmd::<i64>(&["EXISTS", &state_key("t", seq)]).await == 1 }
    };
    assert!(exists(1).await && exists(2).await);
    let listed: Vec<String> = server.cmd(&["ZRANGE", &states_key("t"), "0", "-1"]).await;
    assert_eq!(listed, ["1", "2"]);

    // Retention drops seqs 1 to 5 (the log keeps 5 entries: 6 to 10).
    publish_many(&broker, "t", "ann", 5, |i| format!("later {i}")).await;
    let head = broker.head("t").await.expect("head");
    assert_eq!(head.first_seq, 6);
    // The dropped messages' states stay until the next change, which takes them away.
    assert!(exists(1).await);
    change(&broker, "t", edit(8)).await.expect("edit 8");
    assert!(!exists(1).await, "message 1 left the log: its state goes");
    assert!(!exists(2).await, "message 2 left the log: its state goes");
    assert!(exists(8).await, "message 8 is in the log: its state stays");
    let listed: Vec<String> = server.cmd(&["ZRANGE", &states_key("t"), "0", "-1"]).await;
    assert_eq!(listed, ["8"]);

    // A dropped message cannot be changed: its state is gone with it.
    let refused = change(&broker, "t", edit(1))
        .await
        .expect_err("edit of a dropped message");
    assert_eq!(refused.code(), ErrorCode::NO_SUCH_MESSAGE);
    // History still shows message 8 in its latest state.
    let page = broker
        .read_states_before("t", None, 10)
        .await
        .expect("history");
    let eight = page
        .iter()
        .find(|m| m.seq == 8)
        .expect("message 8 in history");
    assert_eq!(eight.text, "#8, edited");
}
