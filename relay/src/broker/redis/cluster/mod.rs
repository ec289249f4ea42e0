//! Redis Cluster mode (`redis+cluster://h1:p1,h2:p2,...`): [`Endpoint`] is what the relay
//! connects to (one Redis, or a cluster's seed nodes) and [`RedisConn`] the connection the
//! rest of the broker uses either way: a multiplexed connection to the one Redis, or a
//! [`ShardedConn`] that runs each command on the master serving its key's slot.
//!
//! The cluster connections are the broker's own rather than the `redis` crate's cluster
//! client: the sender's pipelines span rooms on every shard (the crate sends a pipeline to
//! one node), and a room's reads and subscription must share the connection its frames
//! arrive on, which one connection per master gives.
//!
//! - `slots`: the slot of a key, the key of a command, redirections;
//! - `topology`: the slot map from `CLUSTER SLOTS`;
//! - `sharded`: [`ShardedConn`].

mod sharded;
mod slots;
mod topology;

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline,
    ProtocolVersion, PushInfo, RedisFuture, RedisResult, Value,
};
use std::time::Duration;

use tokio::sync::mpsc;

pub use sharded::ShardedConn;
pub use slots::slot;

/// Where the broker's Redis is.
#[derive(Clone)]
pub enum Endpoint {
    /// One Redis (a single node, or one node answering for a whole cluster).
    Single(Box<Client>),
    /// A Redis Cluster, found through these seed nodes.
    Cluster(Vec<ConnectionInfo>),
}

impl Endpoint {
    /// Opens a connection (RESP3) with `config`; pushes go to `push` when given.
    pub async fn connect(
        &self,
        config: &AsyncConnectionConfig,
        push: Option<mpsc::UnboundedSender<PushInfo>>,
    ) -> RedisResult<RedisConn> {
        match self {
            Endpoint::Single(client) => {
                let config = match push {
                    Some(push) => config.clone().set_push_sender(push),
                    None => config.clone(),
                };
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(RedisConn::Single(conn))
            }
            Endpoint::Cluster(seeds) => Ok(RedisConn::Sharded(
                ShardedConn::connect(seeds, config, push).await?,
            )),
        }
    }
}

/// The seed nodes of a `redis+cluster://` (or `rediss+cluster://`) URL, each with the
/// URL's credentials and RESP3; `None` for any other URL.
pub fn cluster_seeds(url: &str) -> Option<Result<Vec<ConnectionInfo>, String>> {
    let (scheme, rest) = url.split_once("://")?;
    let node_scheme = match scheme {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (userinfo, hosts) = match rest[..authority_end].rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..authority_end]),
        None => ("", &rest[..authority_end]),
    };
    let tail = &rest[authority_end..];
    let mut seeds = Vec::new();
    for host in hosts.split(',').filter(|h| !h.is_empty()) {
        let info = match format!("{node_scheme}://{userinfo}{host}{tail}").into_connection_info() {
            Ok(info) => info,
            Err(e) => return Some(Err(format!("seed {host}: {e}"))),
        };
        if info.redis_settings().db() != 0 {
            return Some(Err("a Redis Cluster has only database 0".into()));
        }
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        seeds.push(info.set_redis_settings(settings));
    }
    if seeds.is_empty() {
        return Some(Err("no seed node (host:port) in the cluster URL".into()));
    }
    Some(Ok(seeds))
}

/// A connection to the broker's Redis, one node or a cluster; cheap to clone.
#[derive(Clone)]
pub enum RedisConn {
    Single(MultiplexedConnection),
    Sharded(ShardedConn),
}

impl RedisConn {
    /// Runs a pipeline of `count` writes; on a cluster each master's part is acknowledged
    /// only once `min_replicas` of its replicas have it (see
    /// [`ShardedConn::send_replicated`]). A single Redis answers as soon as it has run them.
    pub async fn replicated(
        &mut self,
        pipeline: &Pipeline,
        count: usize,
        min_replicas: Option<u32>,
        wait: Duration,
    ) -> RedisResult<Vec<Value>> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_commands(pipeline, 0, count).await,
            RedisConn::Sharded(sharded) => {
                sharded.send_replicated(pipeline, min_replicas, wait).await
            }
        }
    }

    /// How many masters serve the store's slots (1 for a single Redis).
    pub fn masters(&self) -> usize {
        match self {
            RedisConn::Single(_) => 1,
            RedisConn::Sharded(sharded) => sharded.masters(),
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_command(cmd),
            RedisConn::Sharded(sharded) => Box::pin(sharded.send_one(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            RedisConn::Sharded(sharded) => Box::pin(sharded.send_pipeline(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(conn) => conn.get_db(),
            RedisConn::Sharded(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_their_seeds() {
        let seeds = cluster_seeds("redis+cluster://u:p@127.0.0.1:7001,127.0.0.1:7002/")
            .expect("a cluster URL")
            .expect("seeds");
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[1].redis_settings().username(), Some("u"));
        assert!(cluster_seeds("redis://127.0.0.1:6379/").is_none());
        assert!(matches!(cluster_seeds("redis+cluster:///"), Some(Err(_))));
        assert!(matches!(
            cluster_seeds("redis+cluster://h:1/3"),
            Some(Err(_))
        ));
        assert!(matches!(
            cluster_seeds("redis+cluster://h:notaport"),
            Some(Err(_))
        ));
    }
}
