//! The Redis Cluster harness itself: it forms three shards with a replica each, finds a
//! room on every shard, moves a slot, fails a master over, and stops every process it
//! started. One cluster start for the whole file, on which two relay processes first show
//! that a relay receives only the rooms it has members in, on every shard. Also the
//! relay's cluster flag refused when out of range.

use std::net::TcpStream;
use std::process::Command;

use chitchat_tests::redis_cluster::{MASTERS, RedisCluster};
use chitchat_tests::{Cli, DEFAULT_TIMEOUT, RelayProcess, json_lines, relay_bin, texts};

/// The metric of messages a relay received from Redis.
const BROKER_MESSAGES: &str = "chitchat_broker_messages_total";

/// Messages sent to each room.
const PER_ROOM: usize = 5;

/// Two relays on the cluster; members (tails) of one room per shard on the first only,
/// every message sent through the second: the first receives each room's traffic from its
/// shard, the second none at all (`chitchat_broker_messages_total` stays 0).
fn relays_receive_only_their_members_rooms(cluster: &RedisCluster, rooms: &[String]) {
    let url = cluster.url();
    let busy = RelayProcess::start(&["--redis", &url, "--node-id", "busy"]);
    let quiet = RelayProcess::start_sharing_ca(&busy, &["--redis", &url, "--node-id", "quiet"]);
    let cli = |relay: &RelayProcess| {
        Cli::new()
            .arg("--relay")
            .arg(relay.quic_addr())
            .arg("--ca")
            .arg(busy.ca_file().to_string_lossy())
    };
    let mut tails: Vec<_> = rooms.iter().map(|room| cli(&busy).tail(room)).collect();
    for (room, tail) in rooms.iter().zip(&mut tails) {
        let sent: Vec<String> = (1..=PER_ROOM).map(|i| format!("{room} {i}")).collect();
        for text in &sent {
            cli(&quiet).send(room, text);
        }
        let printed = json_lines(&tail.take_lines(PER_ROOM, DEFAULT_TIMEOUT));
        assert_eq!(texts(&printed), sent, "room {room}");
    }
    let all = (PER_ROOM * rooms.len()) as f64;
    busy.wait_metric(BROKER_MESSAGES, DEFAULT_TIMEOUT, |v| v >= all);
    assert_eq!(
        quiet.metric(BROKER_MESSAGES).expect("/metrics"),
        Some(0.0),
        "a relay without members received rooms' messages"
    );
    for tail in &mut tails {
        tail.interrupt();
        tail.wait_success();
    }
}

#[test]
fn a_bad_redis_min_replicas_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (value, ok) in [
        ("1", true),
        ("0", true),
        ("17", false),
        ("-1", false),
        ("\"many\"", false),
    ] {
        let file = dir.path().join("relay.toml");
        std::fs::write(&file, format!("redis-min-replicas = {value}\n")).expect("writing");
        let out = Command::new(relay_bin())
            .args(["config", "check"])
            .arg(&file)
            .env_clear()
            .current_dir(dir.path())
            .output()
            .expect("running chitchat-relay config check");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if ok {
            assert!(out.status.success(), "{value}: {stderr}");
        } else {
            assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
            assert!(stderr.contains("redis-min-replicas"), "{value}: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_moves_a_slot_fails_over_and_stops_everything() {
    let mut cluster = RedisCluster::start().await;
    let ports = cluster.ports();
    assert_eq!(ports.len(), MASTERS * 2);

    let shards = cluster.shards().await;
    assert_eq!(shards.len(), MASTERS);
    for shard in &shards {
        assert_eq!(shard.replicas.len(), 1, "{shard:?}");
    }

    // One room per shard, each on a different master.
    let rooms = cluster.room_on_each_shard("harness").await;
    let mut masters = Vec::new();
    for room in &rooms {
        let slot = cluster.room_slot(room).await;
        masters.push(cluster.shard_of(slot).await.master);
    }
    masters.sort_unstable();
    masters.dedup();
    assert_eq!(masters.len(), MASTERS, "rooms {rooms:?} on {masters:?}");
    relays_receive_only_their_members_rooms(&cluster, &rooms);

    // A slot with a key moves, and the key with it.
    let room = &rooms[0];
    let key = format!("chitchat:{{{room}}}:seq");
    let slot = cluster.room_slot(room).await;
    let from = cluster.shard_of(slot).await.master;
    let to = shards
        .iter()
        .map(|s| s.master)
        .find(|&m| m != from)
        .expect("another master");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(7)
        .query_async(&mut cluster.connection(from).await)
        .await
        .expect("SET on the owner");
    cluster.migrate_slot(slot, to).await;
    assert_eq!(cluster.shard_of(slot).await.master, to);
    let moved: Option<u64> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut cluster.connection(to).await)
        .await
        .expect("GET on the new owner");
    assert_eq!(moved, Some(7));

    // The master of another room's slot dies; its replica takes its slots.
    let slot = cluster.room_slot(&rooms[1]).await;
    let before = cluster.shard_of(slot).await;
    let promoted = cluster.fail_master_of(slot).await;
    assert_eq!(before.replicas, vec![promoted]);

    drop(cluster);
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a node still listens on {port} after the cluster was dropped"
        );
    }
}
