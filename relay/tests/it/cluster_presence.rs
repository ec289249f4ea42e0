//! Presence across relays sharing one real `redis-server`, seen by real QUIC clients:
//! member lists (Joined, Who) cover every relay, a nick joins and leaves the room once
//! however many relays and sessions hold it, a crashed relay's members leave within the
//! registry's bound, a relay restarted under the same node id drops its predecessor's
//! members at once, and presence survives Redis losing its data.
//!
//! Absence of a duplicate event is checked without sleeping: presence frames and messages
//! of one room travel on one Redis channel in one order, so after the step under test a
//! message is sent through the same relay (its queue sends in call order), and the next
//! event must be that message.

use std::time::{Duration, Instant};

use crate::support::cluster::{ClusterRelay, eventually, relay_nodes};
use crate::support::{Event, RawClient, RoomReader, WAIT, join, leave, send_text, who};
use chitchat_tests::redis::{Persistence, RedisServer};

/// The bound on how long a crashed relay's members stay listed, at the default heartbeat
/// (5 s): its registry entry expires 12.5 s after its last beat, and the others check the
/// registry every second.
const DEAD_RELAY_BOUND: Duration = Duration::from_secs(15);

fn joined(nick: &str) -> Event {
    Event::Joined(nick.into())
}

fn left(nick: &str) -> Event {
    Event::Left(nick.into())
}

fn said(nick: &str, text: &str) -> Event {
    Event::Said(nick.into(), text.into())
}

fn names(nicks: &[&str]) -> Vec<String> {
    nicks.iter().map(|n| n.to_string()).collect()
}

/// A redis-server, a shared certs dir, and relays `a` and `b` with `extra` flags.
async fn two_relays(
    persistence: Persistence,
    extra: &[&str],
) -> (RedisServer, tempfile::TempDir, ClusterRelay, ClusterRelay) {
    let redis = RedisServer::start_with(persistence).await;
    let certs = tempfile::tempdir().expect("a certs dir");
    let a = ClusterRelay::start(&redis.url(), certs.path(), "a", extra).await;
    let b = ClusterRelay::start(&redis.url(), certs.path(), "b", extra).await;
    (redis, certs, a, b)
}

/// alice on relay `a` and bob on relay `b` join `lobby`, and alice sees both joins. Returns
/// alice, her room stream, bob and his (kept open by the caller).
async fn alice_and_bob_in_lobby(
    a: &ClusterRelay,
    b: &ClusterRelay,
) -> (RawClient, RoomReader, RawClient, RoomReader) {
    let mut alice = a.client("alice").await;
    let (_, mut alice_room) = join(&mut alice, 1, "lobby", None).await;
    assert_eq!(alice_room.event().await, joined("alice"));
    let mut bob = b.client("bob").await;
    let (_, bob_room) = join(&mut bob, 1, "lobby", None).await;
    assert_eq!(alice_room.event().await, joined("bob"));
    (alice, alice_room, bob, bob_room)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_lists_cover_every_relay() {
    let (_redis, _certs, a, b) = two_relays(Persistence::None, &[]).await;
    let mut alice = a.client("alice").await;
    let (j, mut alice_room) = join(&mut alice, 1, "lobby", None).await;
    assert_eq!(j.members, names(&["alice"]));
    // Her own join comes back through Redis: she is in the cluster's list from now on.
    assert_eq!(alice_room.event().await, joined("alice"));

    let mut bob = b.client("bob").await;
    let (j, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    assert_eq!(
        j.members,
        names(&["alice", "bob"]),
        "Joined lists the member on the other relay"
    );
    assert_eq!(bob_room.event().await, joined("bob"));
    assert_eq!(alice_room.event().await, joined("bob"));
    assert_eq!(who(&mut alice, 2, "lobby").await, names(&["alice", "bob"]));
    assert_eq!(who(&mut bob, 2, "lobby").await, names(&["alice", "bob"]));

    // Another room on the same relays lists only its own members.
    let (j, _) = join(&mut bob, 3, "other", None).await;
    assert_eq!(j.members, names(&["bob"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_joins_and_leaves_the_cluster_once() {
    let (_redis, _certs, a, b) = two_relays(Persistence::None, &[]).await;
    // bob on relay b, then bob again (a second session) on relay a.
    let (mut alice, mut alice_room, mut bob_b, _bob_b_room) = alice_and_bob_in_lobby(&a, &b).await;
    let mut bob_a = a.client("bob").await;
    let (j, _bob_a_room) = join(&mut bob_a, 1, "lobby", None).await;
    assert_eq!(j.members, names(&["alice", "bob"]));
    send_text(&mut bob_a, 2, "lobby", "bob on a").await;
    let mut carol = b.client("carol").await;
    let (_, mut carol_room) = join(&mut carol, 1, "lobby", None).await;
    assert_eq!(
        alice_room.event().await,
        said("bob", "bob on a"),
        "no second join for bob"
    );
    assert_eq!(alice_room.event().await, joined("carol"));
    assert_eq!(carol_room.event().await, joined("carol"));

    // bob leaves relay b: still in the room through relay a, so nobody sees him leave.
    leave(&mut bob_b, 2, "lobby").await;
    send_text(&mut carol, 2, "lobby", "after bob left b").await;
    assert_eq!(
        alice_room.event().await,
        said("carol", "after bob left b"),
        "no leave while bob is on another relay"
    );
    assert_eq!(carol_room.event().await, said("carol", "after bob left b"));
    assert_eq!(
        who(&mut alice, 2, "lobby").await,
        names(&["alice", "bob", "carol"])
    );
    assert_eq!(
        who(&mut carol, 3, "lobby").await,
        names(&["alice", "bob", "carol"])
    );

    // His last session leaves: one leave, on both relays.
    leave(&mut bob_a, 3, "lobby").await;
    send_text(&mut alice, 3, "lobby", "after bob left a").await;
    assert_eq!(alice_room.event().await, left("bob"));
    assert_eq!(alice_room.event().await, said("alice", "after bob left a"));
    assert_eq!(carol_room.event().await, left("bob"));
    assert_eq!(carol_room.event().await, said("alice", "after bob left a"));
    assert_eq!(
        who(&mut carol, 4, "lobby").await,
        names(&["alice", "carol"])
    );

    // A closed connection leaves like an explicit Leave.
    carol.close();
    assert_eq!(alice_room.event().await, left("carol"));
    assert_eq!(who(&mut alice, 4, "lobby").await, names(&["alice"]));
}

/// Crashes relay `b` (holding bob) and returns how long until alice, on `a`, saw bob leave.
async fn crash_and_time_the_leave(extra: &[&str], bound: Duration) -> Duration {
    let (_redis, _certs, a, mut b) = two_relays(Persistence::None, extra).await;
    let (mut alice, mut alice_room, _bob, _bob_room) = alice_and_bob_in_lobby(&a, &b).await;

    let crashed = Instant::now();
    b.crash();
    assert_eq!(alice_room.event_within(bound).await, left("bob"));
    let took = crashed.elapsed();
    assert_eq!(who(&mut alice, 2, "lobby").await, names(&["alice"]));
    // And the room goes on.
    send_text(&mut alice, 3, "lobby", "still here").await;
    assert_eq!(alice_room.event().await, said("alice", "still here"));
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_relays_members_leave_after_its_registry_entry_expires() {
    // A 1 s heartbeat: the entry expires 2.5 s after the last beat, checks run every 200 ms.
    let took = crash_and_time_the_leave(&["--heartbeat-secs", "1"], WAIT).await;
    assert!(
        took >= Duration::from_millis(1500),
        "bob left {took:?} after the crash: before his relay's entry could expire"
    );
    assert!(
        took <= Duration::from_secs(4),
        "bob left only {took:?} after the crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_relays_members_leave_within_15_seconds_by_default() {
    crash_and_time_the_leave(&[], DEAD_RELAY_BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_restarted_under_its_node_id_drops_its_predecessors_members() {
    let (redis, certs, a, mut b) = two_relays(Persistence::None, &[]).await;
    let (_alice, mut alice_room, _bob, _bob_room) = alice_and_bob_in_lobby(&a, &b).await;

    b.crash();
    let restarted = Instant::now();
    let b2 = ClusterRelay::start(&redis.url(), certs.path(), "b", &[]).await;
    // Well before the crashed instance's entry would have expired (12.5 s).
    assert_eq!(
        alice_room.event_within(Duration::from_secs(5)).await,
        left("bob")
    );
    assert!(restarted.elapsed() < Duration::from_secs(5));

    let mut bob = b2.client("bob").await;
    let (j, _bob_room) = join(&mut bob, 1, "lobby", None).await;
    assert_eq!(j.members, names(&["alice", "bob"]));
    assert_eq!(alice_room.event().await, joined("bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gracefully_stopped_relays_members_leave_at_once() {
    let (_redis, _certs, a, mut b) = two_relays(Persistence::None, &["--drain-secs", "0"]).await;
    let (mut alice, mut alice_room, _bob, _bob_room) = alice_and_bob_in_lobby(&a, &b).await;

    b.stop().await;
    assert_eq!(
        alice_room.event_within(Duration::from_secs(5)).await,
        left("bob")
    );
    assert_eq!(who(&mut alice, 2, "lobby").await, names(&["alice"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_restored_after_redis_loses_its_data() {
    let (mut redis, _certs, a, b) = two_relays(Persistence::None, &[]).await;
    let (mut alice, mut alice_room, _bob, _bob_room) = alice_and_bob_in_lobby(&a, &b).await;

    // Redis restarts empty: both relays reconnect and assert their members again.
    redis.restart().await;
    let members = eventually("both members listed in Redis again", WAIT, || {
        let redis = &redis;
        async move {
            let nicks: Vec<String> = redis.cmd(&["HKEYS", "chitchat:{lobby}:nicks"]).await;
            let mut nicks = nicks;
            nicks.sort();
            (nicks == names(&["alice", "bob"])).then_some(nicks)
        }
    })
    .await;
    assert_eq!(members, names(&["alice", "bob"]));
    // Whatever alice was told meanwhile, her list ends up true, and new arrivals show.
    let mut carol = b.client("carol").await;
    let (j, _carol_room) = join(&mut carol, 1, "lobby", None).await;
    assert_eq!(j.members, names(&["alice", "bob", "carol"]));
    loop {
        if alice_room.event().await == joined("carol") {
            break;
        }
    }
    assert_eq!(
        who(&mut alice, 2, "lobby").await,
        names(&["alice", "bob", "carol"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_works_on_a_redis_cluster_node() {
    // Cluster mode refuses commands spanning hash slots: the registry and presence scripts
    // must each stay within one.
    let (_redis, _certs, a, b) = two_relays(Persistence::Cluster, &[]).await;
    let mut alice = a.client("alice").await;
    let (_, mut alice_room) = join(&mut alice, 1, "lobby", None).await;
    assert_eq!(alice_room.event().await, joined("alice"));
    let mut bob = b.client("bob").await;
    let (j, mut bob_room) = join(&mut bob, 1, "lobby", None).await;
    assert_eq!(j.members, names(&["alice", "bob"]));
    assert_eq!(alice_room.event().await, joined("bob"));
    leave(&mut alice, 2, "lobby").await;
    assert_eq!(bob_room.event().await, joined("bob"));
    assert_eq!(bob_room.event().await, left("alice"));
    eventually("a lists both relays", WAIT, || async {
        (relay_nodes(&a.relays().await) == names(&["a", "b"])).then_some(())
    })
    .await;
}
