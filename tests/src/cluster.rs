//! A cluster on one machine: a real `redis-server` (append-only file, fsynced before every
//! reply, so a restart keeps every acknowledged message) and several real `chitchat-relay`
//! processes started with `--redis` on it, each on its own ports, all signing their
//! certificates with one CA so one client trusts them all.
//!
//! Relays and Redis can be killed and restarted independently; everything is stopped when
//! the [`Cluster`] is dropped.

use crate::redis::{Persistence, RedisServer};
use crate::{Cli, RelayProcess};

/// A redis-server and the relays sharing it.
pub struct Cluster {
    relays: Vec<RelayProcess>,
    redis: RedisServer,
    /// Drives the redis harness's async start and restart; nothing runs on it in between.
    runtime: tokio::runtime::Runtime,
}

impl Cluster {
    /// Starts a redis-server, then `n` relays on it named `relay1` to `relayN`; returns once
    /// every relay printed READY.
    pub fn start(n: usize) -> Cluster {
        assert!(n > 0, "a cluster has at least one relay");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the redis harness");
        let redis = runtime.block_on(RedisServer::start_with(Persistence::Aof));
        let url = redis.url();
        let mut relays: Vec<RelayProcess> = Vec::with_capacity(n);
        for i in 0..n {
            let node = format!("relay{}", i + 1);
            let args = ["--redis", url.as_str(), "--node-id", node.as_str()];
            let relay = match relays.first() {
                None => RelayProcess::start(&args),
                Some(first) => RelayProcess::start_sharing_ca(first, &args),
            };
            relays.push(relay);
        }
        Cluster {
            relays,
            redis,
            runtime,
        }
    }

    /// Relay `i` (0-based: `relay1` is 0).
    pub fn relay(&self, i: usize) -> &RelayProcess {
        &self.relays[i]
    }

    /// Relay `i`, to kill or restart it.
    pub fn relay_mut(&mut self, i: usize) -> &mut RelayProcess {
        &mut self.relays[i]
    }

    /// Every relay.
    pub fn relays(&self) -> &[RelayProcess] {
        &self.relays
    }

    /// The shared redis-server.
    pub fn redis(&self) -> &RedisServer {
        &self.redis
    }

    /// A `chitchat` command line naming the relays `order` in that order (the first one
    /// first, the others as fallbacks) and trusting the cluster's CA.
    pub fn cli(&self, order: &[usize]) -> Cli {
        let mut cli = Cli::new();
        for &i in order {
            cli = cli.arg("--relay").arg(self.relays[i].quic_addr());
        }
        cli.arg("--ca")
            .arg(self.relays[0].ca_file().to_string_lossy())
    }

    /// Kills redis-server with SIGKILL; the relays lose their connections to it.
    pub fn kill_redis(&mut self) {
        self.redis.kill();
    }

    /// Starts redis-server again on the same port and data (it replays its append-only
    /// file); returns once it answers `PING`.
    pub fn restart_redis(&mut self) {
        self.runtime.block_on(self.redis.restart());
    }
}
