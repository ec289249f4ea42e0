//! Choosing and opening the relay's broker from its configuration: the embedded one on its
//! own, the Redis one for a cluster. The rest of the relay sees a [`Store`] and the
//! [`SharedBroker`] it hands out, never the concrete broker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::api::{BrokerError, Deliver, RelayInfo, SharedBroker};
use super::embedded::{EmbeddedBroker, EmbeddedOptions, Retention};
use super::redis::{NodeStatus, RedisBroker, RedisOptions, Registration};

/// Where messages are numbered and stored.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Directory of the embedded broker's SQLite history (used without --redis).
    #[arg(long, env = "CHITCHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Redis URL (redis://host:port/db): join a cluster of relays sharing this Redis for
    /// numbering, history and delivery, instead of the embedded store.
    #[arg(long, env = "CHITCHAT_REDIS")]
    pub redis: Option<String>,

    /// Messages of history kept per room (the newest), in SQLite or Redis; older ones are
    /// dropped.
    #[arg(long, env = "CHITCHAT_HISTORY_LIMIT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub history_limit: u64,

    /// Messages older than this are dropped from the embedded store's history (e.g. "30d",
    /// "12h"; 0 keeps them), but never a room's newest. Checked about once a minute.
    #[arg(long, env = "CHITCHAT_HISTORY_MAX_AGE", default_value = "0", value_parser = parse_age)]
    pub history_max_age: Duration,

    /// Megabytes that must stay free on the data dir's file system: below that, sends are
    /// refused with STORAGE_FULL instead of failing later (0 turns the check off).
    #[arg(long, env = "CHITCHAT_MIN_FREE_DISK_MB", default_value_t = 256)]
    pub min_free_disk_mb: u64,

    /// Seconds between this relay's heartbeats in the Redis relay registry. A relay silent
    /// for 2.5 periods counts as dead: its members leave their rooms and pages stop
    /// offering it. Every relay of a cluster should use the same value.
    #[arg(long, env = "CHITCHAT_HEARTBEAT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_secs: u64,

    /// On a Redis Cluster (--redis redis+cluster://...): how many replicas of a room's
    /// master must have a message before it is acknowledged (WAIT, at most a second; else
    /// the send fails as unavailable and is sent again). Default: 1 on a shard with
    /// replicas, 0 on one without.
    #[arg(long, env = "CHITCHAT_REDIS_MIN_REPLICAS",
          value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_min_replicas: Option<u32>,

    /// For a TLS Redis (--redis rediss://... or rediss+cluster://...): a PEM file with the
    /// certificate of the CA that signed the Redis servers' certificates. Without it, the
    /// system's trusted roots verify them.
    #[arg(long, env = "CHITCHAT_REDIS_CA", value_name = "FILE")]
    pub redis_ca: Option<std::path::PathBuf>,
}

impl StoreConfig {
    /// The heartbeat period in the relay registry.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs)
    }

    /// What the embedded store keeps and leaves free.
    pub fn embedded_options(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            retention: Retention {
                limit: Some(self.history_limit),
                max_age: (!self.history_max_age.is_zero()).then_some(self.history_max_age),
            },
            min_free_disk_mb: self.min_free_disk_mb,
        }
    }
}

/// A `--history-max-age` value: "0" or a duration such as "30d", "12h" or "90min".
fn parse_age(value: &str) -> Result<Duration, String> {
    if value.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(value).map_err(|e| format!("{e} (try \"30d\" or \"12h\")"))
}

/// The relay's broker, opened: the [`crate::broker::Broker`] every part of the relay uses,
/// plus what the trait leaves out (registering the relay's addresses, the final flush).
pub struct Store {
    kind: Kind,
    /// Where the store is, for the start-up log.
    description: String,
}

/// The concrete broker behind a [`Store`].
enum Kind {
    Embedded(Arc<EmbeddedBroker>),
    Redis(Arc<RedisBroker>),
}

/// Opens the broker `config` asks for: Redis if a URL is given, else the embedded store in
/// the data dir. Messages are delivered to `sink`; `node_id` names this relay.
pub async fn open(
    config: &StoreConfig,
    sink: Arc<dyn Deliver>,
    node_id: String,
) -> anyhow::Result<Store> {
    match &config.redis {
        Some(url) => {
            if !config.history_max_age.is_zero() {
                tracing::warn!(
                    "--history-max-age applies to the embedded store only; Redis keeps the \
                     newest --history-limit messages per room"
                );
            }
            let options = RedisOptions {
                node_id,
                history_limit: usize::try_from(config.history_limit).unwrap_or(usize::MAX),
                heartbeat: config.heartbeat(),
                min_replicas: config.redis_min_replicas,
                tls_ca: match &config.redis_ca {
                    Some(path) => Some(
                        std::fs::read(path)
                            .with_context(|| format!("reading --redis-ca {}", path.display()))?,
                    ),
                    None => None,
                },
            };
            let broker = RedisBroker::connect_with(url, sink, options)
                .await
                .context("connecting to Redis")?;
            Ok(Store {
                kind: Kind::Redis(Arc::new(broker)),
                description: "redis".to_string(),
            })
        }
        None => {
            let dir = config.data_dir.clone();
            let options = config.embedded_options();
            let broker = tokio::task::spawn_blocking(move || {
                EmbeddedBroker::open_with(&dir, sink, node_id, options)
            })
            .await?
            .with_context(|| {
                format!("opening the message store in {}", config.data_dir.display())
            })?;
            Ok(Store {
                kind: Kind::Embedded(Arc::new(broker)),
                description: format!("sqlite:{}", config.data_dir.display()),
            })
        }
    }
}

impl Store {
    /// The broker, for the hub, the sessions and the web side.
    pub fn broker(&self) -> SharedBroker {
        match &self.kind {
            Kind::Embedded(b) => b.clone(),
            Kind::Redis(b) => b.clone(),
        }
    }

    /// Where the store is (`sqlite:<dir>` or `redis`).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Enters this relay into the broker's relay registry, if it keeps one: the addresses
    /// from `own` now, its certificate hash and session count from `own` at every beat.
    /// Without a registry this does nothing.
    pub async fn register(
        &self,
        own: Arc<dyn Fn() -> RelayInfo + Send + Sync>,
    ) -> Result<(), BrokerError> {
        let Kind::Redis(broker) = &self.kind else {
            return Ok(());
        };
        let now = own();
        broker
            .register(Registration {
                quic: now.quic,
                webtransport: now.webtransport,
                http: now.http,
                status: Arc::new(move || {
                    let info = own();
                    NodeStatus {
                        cert_sha256: info.cert_sha256,
                        sessions: info.sessions,
                    }
                }),
            })
            .await
    }

    /// Flushes what is queued and closes the broker.
    pub async fn close(&self) {
        match &self.kind {
            Kind::Embedded(b) => b.close().await,
            Kind::Redis(b) => b.close().await,
        }
    }
}
