//! [`ShardedConn`]: one multiplexed connection per master of a Redis Cluster, behind one
//! handle that runs each command on the master serving its key's slot. A pipeline is split
//! by master, the parts sent at once and the replies put back in order, so the commands of
//! one room (one slot) still run in pipeline order. `MOVED` (the layout is read again),
//! `ASK` (once, after `ASKING`) and `TRYAGAIN` are followed a bounded number of times; a
//! lost node is a connection error for the caller, who connects again (learning the new
//! layout).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, Pipeline, PushInfo,
    RedisError, RedisResult, Value,
};
use futures::future::join_all;
use tokio::sync::mpsc;

use super::slots::{NodeAddr, Redirect, key_of, redirect, slot};
use super::topology::SlotMap;

/// Redirections followed for one command before its last reply is returned as it is. A slot
/// moves once at a time: two hops (ASK, then MOVED once the move completes) are the most a
/// healthy cluster asks for; more means the layout is changing under us.
const MAX_REDIRECTS: usize = 5;

/// How long to wait before sending a command refused with `TRYAGAIN` again: a slot's keys
/// move in batches of milliseconds.
const TRY_AGAIN_DELAY: Duration = Duration::from_millis(20);

/// Connections to every master of one cluster; cheap to clone (all clones share them).
#[derive(Clone)]
pub struct ShardedConn {
    inner: Arc<Inner>,
}

struct Inner {
    /// A seed's connection info: credentials and protocol for every node.
    template: ConnectionInfo,
    /// For each node connection (with the push sender, if any).
    config: AsyncConnectionConfig,
    state: Mutex<State>,
}

struct State {
    map: SlotMap,
    conns: HashMap<NodeAddr, MultiplexedConnection>,
}

impl ShardedConn {
    /// Learns the layout from the first seed that answers and connects to every master.
    /// `config` is for the seed; node connections also get `push`, when given, so that one
    /// receiver sees every shard's pushes.
    pub async fn connect(
        seeds: &[ConnectionInfo],
        config: &AsyncConnectionConfig,
        push: Option<mpsc::UnboundedSender<PushInfo>>,
    ) -> RedisResult<ShardedConn> {
        let mut last = None;
        for seed in seeds {
            match discover(seed, config).await {
                Ok(map) => {
                    let node_config = match &push {
                        Some(push) => config.clone().set_push_sender(push.clone()),
                        None => config.clone(),
                    };
                    let sharded = ShardedConn {
                        inner: Arc::new(Inner {
                            template: seed.clone(),
                            config: node_config,
                            state: Mutex::new(State {
                                map: map.clone(),
                                conns: HashMap::new(),
                            }),
                        }),
                    };
                    // Every master now: a cluster with a master down is not served
                    // half-way by a fresh connection.
                    for master in map.masters() {
                        sharded.conn_to(&master).await?;
                    }
                    return Ok(sharded);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| lost("the cluster URL names no node")))
    }

    /// How many masters serve slots.
    pub fn masters(&self) -> usize {
        self.state().map.masters().len()
    }

    /// The connection to the master serving `slot`.
    fn conn_for_slot(&self, slot: u16) -> RedisResult<(NodeAddr, MultiplexedConnection)> {
        let state = self.state();
        let owner = state
            .map
            .owner(slot)
            .ok_or_else(|| lost(&format!("no master serves slot {slot}")))?;
        let conn = state
            .conns
            .get(owner)
            .ok_or_else(|| lost(&format!("no connection to {}:{}", owner.0, owner.1)))?;
        Ok((owner.clone(), conn.clone()))
    }

    /// The connection to `node`, opened now if there is none yet.
    async fn conn_to(&self, node: &NodeAddr) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.state().conns.get(node) {
            return Ok(conn.clone());
        }
        let addr = match self.inner.template.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: node.0.clone(),
                port: node.1,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(node.0.clone(), node.1),
        };
        let info = self.inner.template.clone().set_addr(addr);
        let conn = Client::open(info)?
            .get_multiplexed_async_connection_with_config(&self.inner.config)
            .await?;
        Ok(self
            .state()
            .conns
            .entry(node.clone())
            .or_insert(conn)
            .clone())
    }

    /// Reads the layout again from `node` (which just said a slot is its own now).
    async fn refresh(&self, node: &NodeAddr, conn: &mut MultiplexedConnection) {
        let reply = ::redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async::<Value>(conn)
            .await;
        match reply.map(|reply| SlotMap::parse(&reply, node)) {
            Ok(Ok(map)) => self.state().map = map,
            Ok(Err(why)) => tracing::warn!(reason = %why, "an unreadable cluster layout"),
            Err(e) => tracing::warn!(error = %e, "reading the cluster layout failed"),
        }
    }

    /// Follows `MOVED` to `to`: its connection, with the layout read again from it. Sent
    /// back to `came_from`, the node just left, it pauses first: the slot's new owner has
    /// not been told yet (a move is told to each node in turn).
    async fn moved_to(
        &self,
        to: &NodeAddr,
        came_from: Option<&NodeAddr>,
    ) -> RedisResult<MultiplexedConnection> {
        if came_from == Some(to) {
            tokio::time::sleep(TRY_AGAIN_DELAY).await;
        }
        let mut conn = self.conn_to(to).await?;
        self.refresh(to, &mut conn).await;
        Ok(conn)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `cmd` on the master of its key's slot, following redirections; a command
    /// without a key runs on every master and answers with the first refusal, else the
    /// first reply.
    pub async fn send_one(&self, cmd: &Cmd) -> RedisResult<Value> {
        let Some(key) = key_of(cmd) else {
            let conns: Vec<MultiplexedConnection> = self.state().conns.values().cloned().collect();
            let replies = join_all(
                conns
                    .into_iter()
                    .map(|mut conn| async move { conn.req_packed_command(cmd).await }),
            )
            .await;
            let mut first = None;
            for reply in replies {
                let reply = reply?;
                if matches!(reply, Value::ServerError(_)) {
                    return Ok(reply);
                }
                first.get_or_insert(reply);
            }
            return first.ok_or_else(|| lost("no master to send to"));
        };
        let (mut node, mut conn) = self.conn_for_slot(slot(key))?;
        let mut asking = false;
        let mut came_from = None;
        let mut reply = Ok(Value::Nil);
        for _ in 0..=MAX_REDIRECTS {
            reply = if asking {
                let mut pipe = ::redis::pipe();
                pipe.cmd("ASKING").add_command(cmd.clone());
                conn.req_packed_commands(&pipe, 0, 2)
                    .await
                    .map(|mut replies| replies.pop().unwrap_or(Value::Nil))
            } else {
                conn.req_packed_command(cmd).await
            };
            // The client library may hand a redirection back as a reply or as an error.
            let redirected = match &reply {
                Ok(value) => redirect(value, &node),
                Err(error) => error_redirect(error, &node),
            };
            match redirected {
                None => return reply,
                Some(Redirect::Moved(to)) => {
                    conn = self.moved_to(&to, came_from.as_ref()).await?;
                    came_from = Some(std::mem::replace(&mut node, to));
                    asking = false;
                }
                Some(Redirect::Ask(to)) => {
                    conn = self.conn_to(&to).await?;
                    came_from = Some(std::mem::replace(&mut node, to));
                    asking = true;
                }
                Some(Redirect::TryAgain) => tokio::time::sleep(TRY_AGAIN_DELAY).await,
            }
        }
        reply
    }

    /// Runs a pipeline: a transaction whole on the master of its first key; otherwise split
    /// by master (a keyless command goes with the pipeline's first key), the parts sent at
    /// once, replies in the pipeline's order. Commands redirected are sent again one by one
    /// in order.
    pub async fn send_pipeline(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let first_slot = pipeline.cmd_iter().find_map(key_of).map(slot);
        if pipeline.is_transaction() {
            return self
                .send_transaction(pipeline, offset, count, first_slot.unwrap_or(0))
                .await;
        }
        let replies = self.send_parts(pipeline, None).await?;
        Ok(replies.into_iter().skip(offset).take(count).collect())
    }

    /// Runs a transaction on the master of `slot`. Redis aborts a transaction whose
    /// commands were redirected: `MOVED` is followed as for one command (see
    /// [`ShardedConn::moved_to`]), and a slot in the middle of a move (`ASK`, `TRYAGAIN`) is
    /// tried again shortly, a bounded number of times.
    async fn send_transaction(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
        slot: u16,
    ) -> RedisResult<Vec<Value>> {
        let (mut node, mut conn) = self.conn_for_slot(slot)?;
        let mut came_from = None;
        let mut hops = 0;
        loop {
            let error = match conn.req_packed_commands(pipeline, offset, count).await {
                Ok(replies) => {
                    if replies.iter().any(|r| redirect(r, &node).is_some()) {
                        self.refresh(&node, &mut conn).await;
                    }
                    return Ok(replies);
                }
                Err(error) => error,
            };
            match error_redirect(&error, &node) {
                Some(_) if hops == MAX_REDIRECTS => return Err(error),
                None => return Err(error),
                Some(Redirect::Moved(to)) => {
                    conn = self.moved_to(&to, came_from.as_ref()).await?;
                    came_from = Some(std::mem::replace(&mut node, to));
                }
                Some(Redirect::Ask(_) | Redirect::TryAgain) => {
                    tokio::time::sleep(TRY_AGAIN_DELAY).await;
                }
            }
            hops += 1;
        }
    }

    /// [`ShardedConn::send_pipeline`] for a pipeline of writes that must reach replicas
    /// before they count: each master's part ends with `WAIT` on the same connection for
    /// `min_replicas` of its replicas (`None`: one if the cluster lists any for it, else
    /// none), at most `wait`. A part not acknowledged by enough replicas in time fails the
    /// whole pipeline as a timeout: its writes may be lost in a failover, and the caller
    /// connects again, learning which replicas are left.
    pub async fn send_replicated(
        &self,
        pipeline: &Pipeline,
        min_replicas: Option<u32>,
        wait: Duration,
    ) -> RedisResult<Vec<Value>> {
        self.send_parts(pipeline, Some((min_replicas, wait))).await
    }

    async fn send_parts(
        &self,
        pipeline: &Pipeline,
        replicate: Option<(Option<u32>, Duration)>,
    ) -> RedisResult<Vec<Value>> {
        let first_slot = pipeline.cmd_iter().find_map(key_of).map(slot);
        let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
        let mut parts: BTreeMap<NodeAddr, (MultiplexedConnection, Vec<usize>)> = BTreeMap::new();
        for (i, cmd) in cmds.iter().enumerate() {
            let slot = key_of(cmd).map(slot).or(first_slot).unwrap_or(0);
            let (node, conn) = self.conn_for_slot(slot)?;
            parts.entry(node).or_insert((conn, Vec::new())).1.push(i);
        }
        let sent = join_all(parts.into_iter().map(|(node, (mut conn, indices))| {
            let mut part = ::redis::pipe();
            for &i in &indices {
                part.add_command(cmds[i].clone());
            }
            let target = replicate.map_or(0, |(min, _)| {
                let listed = u32::try_from(self.state().map.replicas(&node)).unwrap_or(u32::MAX);
                min.unwrap_or(listed.min(1))
            });
            let wait_ms = replicate.map_or(0, |(_, wait)| wait.as_millis());
            if target > 0 {
                part.cmd("WAIT")
                    .arg(target)
                    .arg(u64::try_from(wait_ms).unwrap_or(u64::MAX));
            }
            async move {
                let sent = indices.len() + usize::from(target > 0);
                let mut replies = conn.req_packed_commands(&part, 0, sent).await?;
                if target > 0 {
                    let acked = match replies.pop() {
                        Some(Value::Int(n)) => n,
                        _ => 0,
                    };
                    if acked < i64::from(target) {
                        return Err(unreplicated(&node, acked, target));
                    }
                }
                Ok::<_, RedisError>((indices, replies))
            }
        }))
        .await;
        let mut replies = vec![Value::Nil; cmds.len()];
        for part in sent {
            let (indices, values) = part?;
            for (i, value) in indices.into_iter().zip(values) {
                replies[i] = value;
            }
        }
        let nowhere = (String::new(), 0);
        for (i, cmd) in cmds.iter().enumerate() {
            if redirect(&replies[i], &nowhere).is_some() {
                replies[i] = self.send_one(cmd).await?;
            }
        }
        Ok(replies)
    }
}

/// The redirection among the server errors of `error` (one command's, or those a
/// transaction was aborted for), if any.
fn error_redirect(error: &RedisError, from: &NodeAddr) -> Option<Redirect> {
    let errors = error.clone().into_server_errors()?;
    errors
        .iter()
        .find_map(|(_, e)| redirect(&Value::ServerError(e.clone()), from))
}

/// Writes on `node` that fewer than `target` replicas acknowledged in time.
fn unreplicated(node: &NodeAddr, acked: i64, target: u32) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "{}:{}: {acked} of {target} replicas acknowledged the writes in time",
            node.0, node.1
        ),
    ))
}

/// The layout as the node of `seed` sees it.
async fn discover(seed: &ConnectionInfo, config: &AsyncConnectionConfig) -> RedisResult<SlotMap> {
    let (ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. }) = seed.addr()
    else {
        return Err(lost("a cluster seed must be host:port"));
    };
    let node = (host.clone(), *port);
    let mut conn = Client::open(seed.clone())?
        .get_multiplexed_async_connection_with_config(config)
        .await?;
    let reply: Value = ::redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await?;
    let map = SlotMap::parse(&reply, &node).map_err(|why| lost(&why))?;
    if map.masters().is_empty() {
        return Err(lost("the cluster serves no slot yet"));
    }
    Ok(map)
}

/// A broken layout or a missing node, as a connection error: the caller connects again.
fn lost(why: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        why.to_owned(),
    ))
}
