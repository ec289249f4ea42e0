//! A room's epoch changing under connected clients of a relay on a real `redis-server`:
//! when the room's seq goes backwards (its entries after seq 1 lost, as a failover without
//! the replica wait loses them, and the next message given seq 2 again), a member still
//! connected receives the room again from seq 1 in the new epoch, and a client joining
//! with its old resume point is told `EpochChanged`.

use chitchat_protocol::{Entry, EntryBody, ResumeOutcome, ResumePoint};
use chitchat_tests::redis::{Persistence, RedisServer};

use crate::broker_redis::reused::lose_newest;
use crate::support::cluster::ClusterRelay;
use crate::support::{join, send_text};

fn said(e: &Entry) -> (u64, &str) {
    match &e.body {
        EntryBody::Text { text, .. } => (e.seq, text.as_str()),
        other => panic!("expected a text, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_members_restart_a_room_whose_seq_went_backwards() {
    let redis = RedisServer::start_with(Persistence::None).await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let relay = ClusterRelay::start(&redis.url(), certs.path(), "a", &[]).await;
    let mut alice = relay.client_as("alice", 2).await;
    let (joined, mut room) = join(&mut alice, 1, "r", None).await;
    let old = joined.epoch;
    let mut bob = relay.client_as("bob", 2).await;
    for i in 1..=3 {
        send_text(&mut bob, i, "r", &format!("before {i}")).await;
    }
    for i in 1..=3u64 {
        let e = room.entry().await;
        assert_eq!(
            (e.epoch, said(&e)),
            (old, (i, format!("before {i}").as_str()))
        );
    }

    lose_newest(&redis, "r", 1).await;
    assert_eq!(send_text(&mut bob, 9, "r", "after the loss").await, 2);

    let (first, second) = (room.entry().await, room.entry().await);
    assert_ne!(first.epoch, old, "a new epoch");
    assert_eq!(second.epoch, first.epoch);
    assert_eq!(
        [said(&first), said(&second)],
        [(1, "before 1"), (2, "after the loss")]
    );

    // A client back with its old resume point is told the history changed.
    let mut carol = relay.client_as("carol", 2).await;
    let resume = ResumePoint { epoch: old, seq: 3 };
    let (joined, _room) = join(&mut carol, 1, "r", Some(resume)).await;
    assert_eq!(
        (joined.resume, joined.epoch),
        (ResumeOutcome::EpochChanged, first.epoch)
    );
}
