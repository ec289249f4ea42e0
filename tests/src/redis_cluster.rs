//! A real Redis Cluster of the test's own: three masters and three replicas, each a
//! `redis-server` on free loopback ports (its cluster bus on another free port), joined by
//! `redis-cli --cluster create --cluster-replicas 1`. Ready once every node says
//! `cluster_state:ok`, agrees on the same three shards and every replica's link to its
//! master is up, within a deadline. Every process is killed (and waited for) when the
//! [`RedisCluster`] is dropped.
//!
//! Tests use it to find rooms on each shard ([`RedisCluster::room_on_each_shard`]), to kill
//! a master and wait for its replica's promotion, and to move a slot to another master.

use std::process::Command;
use std::time::{Duration, Instant};

use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::redis::{Persistence, RedisServer, free_port};

/// Masters in the cluster, each with one replica.
pub const MASTERS: usize = 3;

/// How long forming the cluster (or a failover, or a slot's move) may take. Forming takes
/// two to three seconds; a failover the node timeout plus an election.
const FORM_DEADLINE: Duration = Duration::from_secs(40);

/// How often the cluster's state is polled while waiting.
const POLL: Duration = Duration::from_millis(50);

/// The slots of a Redis Cluster (fixed by Redis).
pub const SLOTS: u16 = 16384;

/// One shard as the cluster describes it: the master's port, its replicas' ports, the slot
/// ranges it serves (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub master: u16,
    pub master_id: String,
    pub replicas: Vec<u16>,
    pub slots: Vec<(u16, u16)>,
}

impl Shard {
    /// Whether this shard serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot))
    }
}

/// Three masters and three replicas on loopback.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes, forms the cluster and waits until it is ready (see the module docs).
    pub async fn start() -> RedisCluster {
        let mut nodes = Vec::with_capacity(MASTERS * 2);
        for _ in 0..MASTERS * 2 {
            let persistence = Persistence::ClusterNode {
                bus_port: free_port(),
            };
            nodes.push(RedisServer::start_with(persistence).await);
        }
        let cluster = RedisCluster { nodes };
        let mut create = Command::new(redis_cli());
        create.args(["--cluster", "create"]);
        for port in cluster.ports() {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("running redis-cli --cluster create: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_ready("forming the cluster").await;
        cluster
    }

    /// Every node's port, in start order (dead ones included).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The ports of the nodes not killed.
    pub fn running(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(RedisServer::port)
            .collect()
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}/", seeds.join(","))
    }

    /// The node listening on `port`.
    pub fn node(&self, port: u16) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    /// Kills the node on `port` with SIGKILL.
    pub fn kill(&mut self, port: u16) {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
            .kill();
    }

    /// A connection to the node on `port` (RESP2).
    pub async fn connection(&self, port: u16) -> MultiplexedConnection {
        self.node(port).connection().await
    }

    /// The shards as a live node sees them.
    pub async fn shards(&self) -> Vec<Shard> {
        let mut last = String::new();
        for port in self.running() {
            match self.shards_seen_by(port).await {
                Ok(shards) => return shards,
                Err(e) => last = e,
            }
        }
        panic!("no node answered CLUSTER SLOTS: {last}");
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`, asked of a live node).
    pub async fn keyslot(&self, key: &str) -> u16 {
        for port in self.running() {
            let ask = async {
                let mut conn = self.connection_to(port).await?;
                redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(key)
                    .query_async::<u16>(&mut conn)
                    .await
            };
            if let Ok(Ok(slot)) = tokio::time::timeout(Duration::from_secs(2), ask).await {
                return slot;
            }
        }
        panic!("no node answered CLUSTER KEYSLOT");
    }

    /// The slot of `room`'s keys (they share the `{room}` hash tag).
    pub async fn room_slot(&self, room: &str) -> u16 {
        self.keyslot(&format!("{{{room}}}")).await
    }

    /// One room name per shard, `<prefix>-<n>`, in the shards' order: the rooms a test
    /// spreads its traffic over so that every master serves some of it.
    pub async fn room_on_each_shard(&self, prefix: &str) -> Vec<String> {
        let shards = self.shards().await;
        let mut rooms: Vec<Option<String>> = vec![None; shards.len()];
        for n in 0..10_000 {
            let room = format!("{prefix}-{n}");
            let slot = self.room_slot(&room).await;
            if let Some(i) = shards.iter().position(|s| s.serves(slot))
                && rooms[i].is_none()
            {
                rooms[i] = Some(room);
            }
            if rooms.iter().all(Option::is_some) {
                return rooms.into_iter().flatten().collect();
            }
        }
        panic!("no room name found for every shard");
    }

    /// The shard serving `slot`.
    pub async fn shard_of(&self, slot: u16) -> Shard {
        self.shards()
            .await
            .into_iter()
            .find(|s| s.serves(slot))
            .unwrap_or_else(|| panic!("no shard serves slot {slot}"))
    }

    /// Kills the master serving `slot` (SIGKILL) and waits until its replica has taken its
    /// slots and every live node says the cluster is ok. Returns the new master's port.
    pub async fn fail_master_of(&mut self, slot: u16) -> u16 {
        let shard = self.shard_of(slot).await;
        self.kill(shard.master);
        self.wait_taken_over(slot, shard.master).await
    }

    /// Waits until a node other than `dead` serves `slot` and every node but `dead` says
    /// the cluster is ok; returns the new master's port.
    pub async fn wait_taken_over(&self, slot: u16, dead: u16) -> u16 {
        let deadline = Instant::now() + FORM_DEADLINE;
        loop {
            if let Ok(shards) = self.shards_seen_by_live().await
                && let Some(now) = shards.iter().find(|s| s.serves(slot))
                && now.master != dead
                && self.all_ok(&[dead]).await
            {
                return now.master;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| format!("node {}:\n{}", n.port(), n.log()))
                    .collect();
                panic!(
                    "no replica took over slot {slot} from {dead} within {FORM_DEADLINE:?}\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Moves `slot` with its keys to the master on `to` (`CLUSTER SETSLOT` importing and
    /// migrating, `MIGRATE` in batches, then `SETSLOT NODE` on every master, the source
    /// first), as
    /// `redis-cli --cluster reshard` does.
    pub async fn migrate_slot(&self, slot: u16, to: u16) {
        let from = self.shard_of(slot).await;
        let target = self
            .shards()
            .await
            .into_iter()
            .find(|s| s.master == to)
            .unwrap_or_else(|| panic!("{to} is not a master"));
        assert_ne!(from.master, to, "slot {slot} is on {to} already");
        let mut src = self.connection(from.master).await;
        let mut dst = self.connection(to).await;
        let setslot = |state: &str, id: &str| {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SETSLOT").arg(slot).arg(state).arg(id);
            cmd
        };
        let _: () = setslot("IMPORTING", &from.master_id)
            .query_async(&mut dst)
            .await
            .expect("SETSLOT IMPORTING");
        let _: () = setslot("MIGRATING", &target.master_id)
            .query_async(&mut src)
            .await
            .expect("SETSLOT MIGRATING");
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query_async(&mut src)
                .await
                .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            let _: Value = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(to)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query_async(&mut src)
                .await
                .expect("MIGRATE");
        }
        // The source first: it ends the slot's subscriptions at once, so subscribers come
        // back before the target has been told, the order that tests them most.
        let mut masters: Vec<u16> = self.shards().await.iter().map(|s| s.master).collect();
        masters.sort_by_key(|&m| m != from.master);
        for master in masters {
            let mut conn = self.connection(master).await;
            let _: () = setslot("NODE", &target.master_id)
                .query_async(&mut conn)
                .await
                .expect("SETSLOT NODE");
        }
        let deadline = Instant::now() + FORM_DEADLINE;
        while self.shard_of(slot).await.master != to || !self.all_ok(&[]).await {
            assert!(
                Instant::now() < deadline,
                "slot {slot} did not settle on {to} within {FORM_DEADLINE:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every live node says `cluster_state:ok`, they agree on [`MASTERS`]
    /// shards covering every slot, and every replica's link to its master is up.
    async fn wait_ready(&self, what: &str) {
        let deadline = Instant::now() + FORM_DEADLINE;
        loop {
            let why = match self.ready().await {
                Ok(()) => return,
                Err(why) => why,
            };
            if Instant::now() > deadline {
                let logs: Vec<String> = self.nodes.iter().map(RedisServer::log).collect();
                panic!(
                    "{what}: not ready within {FORM_DEADLINE:?}: {why}\n{}",
                    logs.join("\n---\n")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn ready(&self) -> Result<(), String> {
        let mut first: Option<Vec<Shard>> = None;
        for port in self.ports() {
            let mut conn = self.connection_to(port).await.map_err(|e| e.to_string())?;
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if !info.contains("cluster_state:ok") {
                return Err(format!("{port} is not ok yet"));
            }
            let shards = self.shards_seen_by(port).await?;
            let covered: u32 = shards
                .iter()
                .flat_map(|s| &s.slots)
                .map(|&(lo, hi)| u32::from(hi - lo) + 1)
                .sum();
            if shards.len() != MASTERS
                || covered != u32::from(SLOTS)
                || shards.iter().any(|s| s.replicas.len() != 1)
            {
                return Err(format!("{port} sees {shards:?}"));
            }
            match &first {
                None => first = Some(shards),
                Some(seen) if *seen == shards => {}
                Some(seen) => return Err(format!("{port} sees {shards:?}, another {seen:?}")),
            }
            let replication: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return Err(format!("{port}'s link to its master is not up yet"));
            }
        }
        Ok(())
    }

    /// Whether every running node but `dead` says `cluster_state:ok`.
    async fn all_ok(&self, dead: &[u16]) -> bool {
        for port in self.running() {
            if dead.contains(&port) {
                continue;
            }
            let ask = async {
                let mut conn = self.connection_to(port).await?;
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async::<String>(&mut conn)
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(2), ask).await {
                Ok(Ok(info)) if info.contains("cluster_state:ok") => {}
                _ => return false,
            }
        }
        true
    }

    async fn shards_seen_by_live(&self) -> Result<Vec<Shard>, String> {
        let mut last = String::new();
        for port in self.running() {
            match self.shards_seen_by(port).await {
                Ok(shards) => return Ok(shards),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The shards from `CLUSTER SLOTS` on the node on `port`, sorted by their first slot.
    async fn shards_seen_by(&self, port: u16) -> Result<Vec<Shard>, String> {
        let ask = async {
            let mut conn = self.connection_to(port).await?;
            redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async::<Value>(&mut conn)
                .await
        };
        let reply = match tokio::time::timeout(Duration::from_secs(2), ask).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(format!("{port}: {e}")),
            Err(_) => return Err(format!("{port} did not answer")),
        };
        parse_slots(&reply).ok_or_else(|| format!("{port}: unexpected CLUSTER SLOTS {reply:?}"))
    }

    async fn connection_to(&self, port: u16) -> redis::RedisResult<MultiplexedConnection> {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
            .get_multiplexed_async_connection()
            .await
    }
}

/// Shards from a `CLUSTER SLOTS` reply, one per master, slot ranges merged per master.
fn parse_slots(reply: &Value) -> Option<Vec<Shard>> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut shards: Vec<Shard> = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else {
            return None;
        };
        let [Value::Int(lo), Value::Int(hi), master, replicas @ ..] = parts.as_slice() else {
            return None;
        };
        let (master, master_id) = node_of(master)?;
        let replicas: Vec<u16> = replicas
            .iter()
            .map(|r| node_of(r).map(|(port, _)| port))
            .collect::<Option<_>>()?;
        let slots = (u16::try_from(*lo).ok()?, u16::try_from(*hi).ok()?);
        match shards.iter_mut().find(|s| s.master == master) {
            Some(shard) => shard.slots.push(slots),
            None => shards.push(Shard {
                master,
                master_id,
                replicas,
                slots: vec![slots],
            }),
        }
    }
    for shard in &mut shards {
        shard.slots.sort_unstable();
        shard.replicas.sort_unstable();
    }
    shards.sort_by_key(|s| s.slots.first().copied());
    Some(shards)
}

/// A node's port and id from its `[ip, port, id, ...]` entry.
fn node_of(value: &Value) -> Option<(u16, String)> {
    let Value::Array(fields) = value else {
        return None;
    };
    let (Some(Value::Int(port)), Some(Value::BulkString(id))) = (fields.get(1), fields.get(2))
    else {
        return None;
    };
    Some((
        u16::try_from(*port).ok()?,
        String::from_utf8_lossy(id).into_owned(),
    ))
}

/// The `redis-cli` binary: `REDIS_CLI`, or the one beside `REDIS_SERVER`'s default.
fn redis_cli() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "/usr/bin/redis-cli".to_owned())
}
