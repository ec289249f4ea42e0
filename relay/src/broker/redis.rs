//! The Redis broker: numbering, history and fan-out in Redis, so several relays form a
//! cluster.
//!
//! [`RedisBroker`] keeps three things per room, all in one hash slot (the `{room}` hash tag),
//! so that one room's script touches one shard of a Redis Cluster and rooms spread over the
//! shards; a node in cluster mode (which refuses commands spanning slots) runs the broker
//! as is. (The broker talks to one Redis endpoint; a cluster of several shards also needs
//! the `redis` crate's cluster client, which follows `MOVED` redirections, in place of its
//! single-node connections.)
//!
//! - `chitchat:{room}:seq`: the room's last seq (a string holding a decimal integer);
//! - `chitchat:{room}:log`: the room's history, a stream whose entry ids are `<seq>-0`, so
//!   `XRANGE`/`XREVRANGE` by seq work directly. Each entry holds the fields `f` (sender),
//!   `t` (text), `ts` (server time, ms) and `e` (epoch). The stream is trimmed to the
//!   history limit (exact `MAXLEN`), so the oldest stored seq is the first entry's id;
//! - `chitchat:{room}:ch`: the room's sharded pub/sub channel (`SPUBLISH`/`SSUBSCRIBE`),
//!   carrying [`BusFrame`]s.
//!
//! One more key, `chitchat:epoch`, holds the store's epoch: the Unix time in ms at which it
//! was first set (`SET NX`). If Redis loses its data the key disappears with it and the
//! next relay to connect sets a new one, which is what epochs announce. A relay learns the
//! epoch when it connects and checks it every second and whenever a frame
//! carries another one; on a change every subscribed room is read again from seq 1. (The
//! script cannot check the epoch itself: on a cluster the epoch key lives on another shard.)
//!
//! **Sending.** `publish` queues the message synchronously on an in-process queue (so call
//! order is seq order). One sender task drains the queue in batches and sends each batch as
//! one pipeline on one multiplexed connection, so Redis runs the commands in queue order.
//! Each message is one run of [`PUBLISH_SCRIPT`] (`EVALSHA`), which atomically numbers it
//! (last seq + 1), appends it to the stream, stores the new seq, and `SPUBLISH`es its
//! frame, stamped with Redis's clock (`TIME`) so every relay agrees on timestamps. Because
//! numbering and publishing happen in one script, every relay subscribed to a room sees its
//! messages in one order.
//!
//! **Receiving.** One bus task owns a RESP3 connection subscribed (`SSUBSCRIBE`) to the
//! channels of the rooms this relay has members in, and nothing else. It is the only caller
//! of the [`Deliver`] sink. Per room it keeps the last seq delivered: duplicates are
//! dropped, and a jump in seq is filled from the stream before the message is delivered.
//!
//! **Failure.** Pub/sub is at-most-once. When a connection fails, the bus task marks the
//! broker unready (publishes fail at once with [`BrokerError::Unavailable`]), reconnects
//! with capped, jittered exponential backoff, subscribes every room again and reads each
//! room's history after the last seq it delivered, so the sink still sees every room
//! gapless. Every Redis call has a deadline. A publish whose connection drops while its
//! script is in flight is reported unavailable although Redis may have stored it; the
//! message then reaches every relay like any other.
//!
//! **Cluster.** The relays also keep a registry of who is alive and each room's members
//! across relays in Redis; [`cluster`] describes those keys and scripts. Presence changes
//! travel on the sender's queue (so one room's changes run in call order) and come back as
//! Presence frames on the room's channel; a relay reads a room's members when it subscribes
//! and after reconnecting, in line with the frames on the subscriber connection.
//!
//! Redis must not evict keys (`maxmemory-policy noeviction`, the default): an evicted
//! counter or epoch would renumber rooms.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{
    AsyncConnectionConfig, Client, ErrorKind, IntoConnectionInfo, ProtocolVersion, PushInfo,
    PushKind, RedisError, Script, ServerErrorKind, Value,
};
use chitchat_protocol::{MAX_EPOCH, Message};
use futures::FutureExt;
use futures::future::BoxFuture;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::api::{Broker, BrokerError, Deliver, NewMessage, RelayInfo, RoomHead, Signal};
use crate::clock::now_ms;

/// Lua helpers every script that writes bincode shares: `le` (a little-endian unsigned
/// integer of `width` bytes) and `varint` (bincode's varint encoding of an unsigned integer,
/// see [`BusFrame`]). A macro rather than a const so that scripts can be built with
/// `concat!` into one `&'static str`; defined before [`cluster`] so its scripts use it too.
macro_rules! lua_varint {
    () => {
        r#"
local function le(n, width)
  local bytes = {}
  for i = 1, width do
    local b = n % 256
    bytes[i] = string.char(b)
    n = (n - b) / 256
  end
  return table.concat(bytes)
end
local function varint(n)
  if n < 251 then return string.char(n) end
  if n < 65536 then return string.char(251) .. le(n, 2) end
  if n < 4294967296 then return string.char(252) .. le(n, 4) end
  return string.char(253) .. le(n, 8)
end
"#
    };
}

pub mod cluster;

pub use cluster::{
    CHECKS_PER_BEAT, DEFAULT_HEARTBEAT, NodeStatus, REGISTRY_INDEX, Registration, members_key,
    nicks_key, node_key,
};
use cluster::{Live, PresenceChange, Scripts};

/// The key holding the store's epoch.
pub const EPOCH_KEY: &str = "chitchat:epoch";

/// The version byte every [`BusFrame`] starts with. A relay drops frames of another
/// version, so a mixed-version cluster loses live delivery between versions (history
/// still fills the gap), never misreads a frame.
pub const BUS_VERSION: u8 = 1;

/// How long opening a connection to Redis may take. Local and same-datacenter Redis
/// answers in milliseconds; longer means it is unreachable, and the relay should say so.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one Redis command (or one pipeline) may take before the broker gives up on it.
/// A batch of a few hundred scripts runs in milliseconds; seconds mean Redis is stuck or
/// gone, and callers are better told so than kept waiting.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a message may wait in the send queue before it is failed without being sent.
/// Bounds a publisher's wait when Redis is slow, and keeps a stale message from being
/// stored long after its sender was told it failed.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for the sender or bus task to answer at most. Each of their
/// steps is bounded by the timeouts above; this only guards against a task that died.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// The first delay before reconnecting, doubled after each failed attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(50);

/// The longest delay between reconnect attempts: short enough that a relay is back within
/// seconds of Redis, long enough that a cluster of relays does not hammer a recovering one.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How often the bus task checks that both connections answer and that the epoch has not
/// changed. A killed Redis is noticed at once (the socket closes); this catches a silent
/// network failure or a flushed store.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// The most queued items the sender puts in one pipeline. Batching is what makes many
/// publishes cheap; a bound keeps one pipeline's reply (and its deadline) reasonable.
const MAX_BATCH: usize = 256;

/// Stream entries read per `XRANGE` when the bus task fills a gap or catches up.
const CATCH_UP_PAGE: usize = 500;

/// The publish script. `KEYS`: seq counter, history stream, channel (one hash slot).
/// `ARGV`: history limit, epoch, frame prefix, frame suffix, sender, text.
///
/// It checks everything that can fail before its first write (Lua scripts are not rolled
/// back), so a failed run stores nothing. The counter is read and written rather than
/// `INCR`ed for that reason, and the next seq is one above both the counter and the newest
/// stream entry, so a counter lost or set back by hand cannot make the append fail. The frame is [`BusFrame`] in bincode: the caller encodes the
/// parts it knows, the script the three varints only it knows (seq, epoch, ts), exactly as
/// bincode's varint encoding does (see [`BusFrame`]). Numbers go through `%d` because Lua's
/// default number formatting switches to exponents above 14 digits.
pub const PUBLISH_SCRIPT: &str = concat!(
    lua_varint!(),
    r#"local last = 0
local current = redis.call('GET', KEYS[1])
if current then
  last = tonumber(current)
  if not last then
    return redis.error_reply('ERR chitchat: ' .. KEYS[1] .. ' does not hold a number')
  end
end
local tail = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if tail[1] then
  local stored = tonumber(string.match(tail[1][1], '^(%d+)-'))
  if stored and stored > last then last = stored end
end
local seq = last + 1
local epoch = tonumber(ARGV[2])
local now = redis.call('TIME')
local ts = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], string.format('%d-0', seq),
  'f', ARGV[5], 't', ARGV[6], 'ts', string.format('%d', ts), 'e', ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', seq))
redis.call('SPUBLISH', KEYS[3], ARGV[3] .. varint(seq) .. varint(epoch) .. varint(ts) .. ARGV[4])
return {seq, ts}
"#
);

/// The key holding `room`'s last seq.
pub fn seq_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:seq")
}

/// The stream holding `room`'s history.
pub fn log_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:log")
}

/// The sharded pub/sub channel carrying `room`'s [`BusFrame`]s.
pub fn channel(room: &str) -> String {
    format!("chitchat:{{{room}}}:ch")
}

/// The room whose channel is `channel`, if it is one of ours.
fn room_of_channel(channel: &[u8]) -> Option<&str> {
    std::str::from_utf8(channel)
        .ok()?
        .strip_prefix("chitchat:{")?
        .strip_suffix("}:ch")
}

/// One frame on a room's channel, bincode-encoded with [`chitchat_protocol::CONFIG`]
/// (little-endian, varint integers): a `u8` version ([`BUS_VERSION`]), then `origin` and
/// `room` as strings (varint length, UTF-8 bytes), then the body (varint variant index and
/// its fields, in declaration order).
///
/// Message frames are assembled by [`PUBLISH_SCRIPT`] inside Redis, which writes the
/// varints for seq, epoch and ts itself; the layout above is what makes that possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusFrame {
    /// [`BUS_VERSION`].
    pub version: u8,
    /// The node id of the relay that sent it.
    pub origin: String,
    /// The room it belongs to (also named by the channel; a frame whose room differs from
    /// its channel's is dropped).
    pub room: String,
    /// What it carries.
    pub body: BusBody,
}

/// What a [`BusFrame`] carries. Variant indexes are part of the format: append new
/// variants, never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusBody {
    /// A stored message (variant 0).
    Message {
        seq: u64,
        epoch: u64,
        /// Redis's time when the message was stored, ms since the Unix epoch.
        ts: u64,
        from: String,
        text: String,
    },
    /// [`Signal::Presence`] (variant 1); not stored.
    Presence {
        node: String,
        nick: String,
        joined: bool,
    },
    /// [`Signal::Typing`] (variant 2); not stored.
    Typing { nick: String },
}

/// Why bytes on a channel are not a frame this relay can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusFrameError {
    /// No bytes at all.
    #[error("empty frame")]
    Empty,
    /// The first byte is not [`BUS_VERSION`] (a relay of another version sent it).
    #[error("frame version {0}; this relay speaks {BUS_VERSION}")]
    Version(u8),
    /// The bytes do not decode as a [`BusFrame`], or bytes are left over.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl BusFrame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a whole frame; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<BusFrame, BusFrameError> {
        match bytes.first() {
            None => return Err(BusFrameError::Empty),
            Some(&v) if v != BUS_VERSION => return Err(BusFrameError::Version(v)),
            Some(_) => {}
        }
        let (frame, used): (BusFrame, usize) =
            bincode::serde::decode_from_slice(bytes, chitchat_protocol::CONFIG)
                .map_err(|e| BusFrameError::Malformed(e.to_string()))?;
        if used != bytes.len() {
            return Err(BusFrameError::Malformed(format!(
                "{} bytes left over",
                bytes.len() - used
            )));
        }
        Ok(frame)
    }

    /// The message this frame carries, if it carries one.
    pub fn message(&self) -> Option<Message> {
        match &self.body {
            BusBody::Message {
                seq,
                epoch,
                ts,
                from,
                text,
            } => Some(Message {
                room: self.room.clone(),
                seq: *seq,
                epoch: *epoch,
                from: from.clone(),
                ts: *ts,
                text: text.clone(),
            }),
            _ => None,
        }
    }

    /// The signal this frame carries, if it carries one.
    pub fn signal(&self) -> Option<Signal> {
        match &self.body {
            BusBody::Presence { node, nick, joined } => Some(Signal::Presence {
                node: node.clone(),
                nick: nick.clone(),
                joined: *joined,
            }),
            BusBody::Typing { nick } => Some(Signal::Typing { nick: nick.clone() }),
            BusBody::Message { .. } => None,
        }
    }
}

/// The bincode bytes of `value`. Encoding into a `Vec` fails only for types serde cannot
/// describe (none here), so a failure is a bug and yields an empty frame, which every
/// receiver drops.
fn encode(value: &impl Serialize) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, chitchat_protocol::CONFIG).unwrap_or_else(|e| {
        tracing::error!(error = %e, "encoding a bus frame failed");
        Vec::new()
    })
}

/// The bytes of a message frame before seq (version, origin, room, variant index 0).
fn message_prefix(origin: &str, room: &str) -> Vec<u8> {
    encode(&(BUS_VERSION, origin, room, 0u32))
}

/// The bytes of a message frame after ts (sender, text).
fn message_suffix(from: &str, text: &str) -> Vec<u8> {
    encode(&(from, text))
}

/// A [`super::Broker`] on Redis, for a cluster of relays. See the module docs for the keys,
/// the frames and the guarantees.
///
/// The [`Deliver`] sink is called from the broker's bus task only, for one room in seq
/// order; it must return quickly and must not call back into the broker.
///
/// [`RedisBroker::connect`] needs a Tokio runtime; the broker's tasks run on it. Shut down
/// with [`RedisBroker::close`]; dropping the broker sends whatever is queued, then stops.
pub struct RedisBroker {
    shared: Arc<Shared>,
    /// The sender task's queue.
    queue: mpsc::UnboundedSender<Outbound>,
    /// The bus task's commands.
    control: mpsc::UnboundedSender<Control>,
    /// Stops the registry task (on close, or when the broker is dropped).
    registry_stop: CancellationToken,
    _registry_stop_on_drop: DropGuard,
    /// The registry task, awaited on close so that no beat follows leaving the registry.
    registry_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How a [`RedisBroker`] connects: everything but the URL and the sink.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// This relay's name in frames, logs and the registry.
    pub node_id: String,
    /// Messages kept per room (at least 1).
    pub history_limit: usize,
    /// How often the relay beats in the registry (at least 1 ms; see [`cluster::ttl`]).
    pub heartbeat: Duration,
}

/// State shared by the broker handle, the sender task and the bus task.
struct Shared {
    node_id: String,
    /// This process's instance id in presence entries (see [`cluster`]).
    instance: String,
    history_limit: usize,
    heartbeat: Duration,
    sink: Arc<dyn Deliver>,
    script: Script,
    scripts: Scripts,
    /// Nicks with sessions on this relay, per room: what presence in Redis must say.
    local: Mutex<HashMap<String, HashSet<String>>>,
    /// Where this relay can be reached, once known.
    registration: Mutex<Option<Registration>>,
    /// The registry as last listed.
    live: Mutex<Option<Live>>,
    /// The command connection and what was learned when it was opened; `None` while Redis
    /// is unreachable or after close.
    link: Mutex<Option<Link>>,
    /// Whether `link` is set (read without the lock by `publish` and `/healthz`).
    ready: AtomicBool,
    /// Set by `close`: publishes fail from then on.
    closed: AtomicBool,
    /// The epoch of the current (or last) connection.
    epoch: AtomicU64,
    /// Rooms the sink receives. Held while calling the sink, so once `unsubscribe` has
    /// removed a room no delivery for it starts, whatever the bus task is doing.
    delivering: Mutex<HashSet<String>>,
    /// Reports from the sender and readers that the connection of a generation failed.
    trouble: mpsc::UnboundedSender<u64>,
}

/// A connection to Redis for commands, with the facts of its generation.
#[derive(Clone)]
struct Link {
    conn: MultiplexedConnection,
    epoch: u64,
    /// Counts connections, so a failure report about an old one is ignored.
    generation: u64,
}

/// An item on the sender task's queue.
enum Outbound {
    Publish {
        msg: NewMessage,
        queued: Instant,
        reply: oneshot::Sender<Result<Message, BrokerError>>,
    },
    Signal {
        room: String,
        frame: Vec<u8>,
    },
    Presence {
        room: String,
        change: PresenceChange,
    },
    /// Answered once everything queued before it has been sent and answered.
    Barrier(oneshot::Sender<()>),
}

/// A command for the bus task.
enum Control {
    Subscribe {
        room: String,
        /// The caller stops waiting then; a command found after it is not carried out.
        deadline: Instant,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
    Unsubscribe {
        room: String,
        reply: oneshot::Sender<()>,
    },
    Close(oneshot::Sender<()>),
}

impl RedisBroker {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`), checks it
    /// can serve (Redis 7 or newer, for sharded pub/sub), reads or sets the epoch and
    /// starts the broker's tasks. Messages are delivered to `sink`; `node_id` names this
    /// relay in frames and logs; each room keeps its newest `history_limit` messages.
    ///
    /// Fails with [`BrokerError::Internal`] for a bad URL, a zero `history_limit` or an
    /// unsuitable server, and with [`BrokerError::Unavailable`] if Redis cannot be reached.
    pub async fn connect(
        url: &str,
        sink: Arc<dyn Deliver>,
        node_id: String,
        history_limit: usize,
    ) -> Result<Self, BrokerError> {
        let options = RedisOptions {
            node_id,
            history_limit,
            heartbeat: DEFAULT_HEARTBEAT,
        };
        Self::connect_with(url, sink, options).await
    }

    /// [`RedisBroker::connect`] with every option. The relay enters the registry before
    /// this returns (without addresses until [`RedisBroker::register`]).
    pub async fn connect_with(
        url: &str,
        sink: Arc<dyn Deliver>,
        options: RedisOptions,
    ) -> Result<Self, BrokerError> {
        let RedisOptions {
            node_id,
            history_limit,
            heartbeat,
        } = options;
        if history_limit == 0 {
            return Err(BrokerError::Internal(
                "the Redis history limit must be at least 1 message per room".into(),
            ));
        }
        if heartbeat < Duration::from_millis(CHECKS_PER_BEAT.into()) {
            return Err(BrokerError::Internal(format!(
                "the heartbeat period must be at least {CHECKS_PER_BEAT} ms"
            )));
        }
        let client = open_client(url)?;
        let script = Script::new(PUBLISH_SCRIPT);
        let (trouble, trouble_rx) = mpsc::unbounded_channel();
        let first = Connected::open(&client, &script, 1).await?;
        check_server(&first.link.conn).await?;
        let shared = Arc::new(Shared {
            instance: cluster::new_instance(&node_id),
            node_id,
            history_limit,
            heartbeat,
            sink,
            script,
            scripts: Scripts::new(),
            local: Mutex::new(HashMap::new()),
            registration: Mutex::new(None),
            live: Mutex::new(None),
            link: Mutex::new(None),
            ready: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            epoch: AtomicU64::new(first.link.epoch),
            delivering: Mutex::new(HashSet::new()),
            trouble,
        });
        shared.install(first.link.clone());
        // In the registry before any presence entry names this instance.
        let mut conn = first.link.conn.clone();
        let previous = cluster::beat(&shared, &mut conn)
            .await
            .map_err(|e| BrokerError::Unavailable(format!("joining the relay registry: {e}")))?;
        if let Some(previous) = previous {
            tracing::info!(
                previous,
                "this node id was registered by another instance, now replaced: its members \
                 are removed"
            );
        }
        let live = cluster::list(&mut conn)
            .await
            .map_err(|e| BrokerError::Unavailable(format!("listing the relays: {e}")))?;
        *shared.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(live);
        tracing::info!(
            node = %shared.node_id,
            instance = %shared.instance,
            redis = %redacted(url),
            epoch = first.link.epoch,
            "Redis broker connected"
        );

        let (queue, queue_rx) = mpsc::unbounded_channel();
        let (sender_done_tx, sender_done) = oneshot::channel();
        let span = tracing::info_span!("redis_sender", node = %shared.node_id);
        let sender_shared = Arc::clone(&shared);
        tokio::spawn(
            async move {
                run_sender(sender_shared, queue_rx).await;
                let _ = sender_done_tx.send(());
            }
            .instrument(span),
        );

        let (control, control_rx) = mpsc::unbounded_channel();
        let bus = Bus {
            shared: Arc::clone(&shared),
            client,
            control: control_rx,
            trouble: trouble_rx,
            sender_done: Some(sender_done),
            rooms: HashMap::new(),
            queue: queue.downgrade(),
            pending: HashMap::new(),
            generation: 1,
        };
        let span = tracing::info_span!("redis_bus", node = %shared.node_id);
        tokio::spawn(bus.run(first).instrument(span));

        let registry_stop = CancellationToken::new();
        let span = tracing::info_span!("redis_registry", node = %shared.node_id);
        let registry_task = tokio::spawn(
            cluster::run_registry(
                Arc::clone(&shared),
                queue.downgrade(),
                registry_stop.clone(),
            )
            .instrument(span),
        );

        Ok(RedisBroker {
            shared,
            queue,
            control,
            _registry_stop_on_drop: registry_stop.clone().drop_guard(),
            registry_stop,
            registry_task: Mutex::new(Some(registry_task)),
        })
    }

    /// Says where this relay can be reached, and beats at once so that the registry lists
    /// it with its addresses when this returns. Should the beat fail, every later one
    /// carries them too.
    pub async fn register(&self, registration: Registration) -> Result<(), BrokerError> {
        *self
            .shared
            .registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(registration);
        let link = self.link()?;
        let mut conn = link.conn.clone();
        match cluster::beat(&self.shared, &mut conn).await {
            Ok(_) => {
                cluster::refresh(&self.shared, &link).await;
                Ok(())
            }
            Err(e) => Err(self.shared.failed(&link, "registering the relay", &e)),
        }
    }

    /// This process's instance id in the registry and in presence entries.
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// Sends everything already published, takes this relay's members out of their rooms,
    /// leaves the registry, then stops: later publishes fail with
    /// [`BrokerError::Unavailable`], [`Broker::is_ready`] turns false, nothing more is
    /// delivered and the connections close. Reads fail from then on too.
    pub async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.registry_stop.cancel();
        let task = self
            .registry_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, task).await;
        }
        for room in self.shared.local_rooms() {
            let _ = self.queue.send(Outbound::Presence {
                room,
                change: PresenceChange::Clear,
            });
        }
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Outbound::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, flushed).await;
        }
        if let Some(link) = self.shared.current() {
            let mut conn = link.conn.clone();
            cluster::unregister(&self.shared, &mut conn).await;
        }
        let (done, stopped) = oneshot::channel();
        if self.control.send(Control::Close(done)).is_ok() {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, stopped).await;
        }
        self.shared.uninstall();
    }

    /// The epoch of the store, as of the last connection or health check.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// The node id this broker was connected with.
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// The current command connection, or why there is none.
    fn link(&self) -> Result<Link, BrokerError> {
        self.shared.current().ok_or_else(unavailable)
    }

    /// Runs one read command on the current connection, with a deadline.
    async fn query(&self, cmd: &::redis::Cmd, what: &str) -> Result<Value, BrokerError> {
        let link = self.link()?;
        let mut conn = link.conn.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Value>(&mut conn)).await {
            Ok(Ok(Value::ServerError(e))) => Err(BrokerError::Internal(format!(
                "{what}: Redis answered {}: {}",
                e.code(),
                e.details().unwrap_or("")
            ))),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.shared.failed(&link, what, &e)),
            Err(_) => {
                self.shared.report_trouble(link.generation);
                Err(BrokerError::Unavailable(format!(
                    "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
                )))
            }
        }
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    fn publish(&self, msg: NewMessage) -> BoxFuture<'static, Result<Message, BrokerError>> {
        if self.shared.closed.load(Ordering::Acquire) {
            return futures::future::ready(Err(closed())).boxed();
        }
        if !self.shared.ready.load(Ordering::Acquire) {
            return futures::future::ready(Err(unavailable())).boxed();
        }
        let (reply, stored) = oneshot::channel();
        let item = Outbound::Publish {
            msg,
            queued: Instant::now(),
            reply,
        };
        if self.queue.send(item).is_err() {
            return futures::future::ready(Err(closed())).boxed();
        }
        async move {
            match tokio::time::timeout(ANSWER_TIMEOUT, stored).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(closed()),
                Err(_) => Err(BrokerError::Unavailable(
                    "Redis did not store the message in time".into(),
                )),
            }
        }
        .boxed()
    }

    async fn head(&self, room: &str) -> Result<RoomHead, BrokerError> {
        let link = self.link()?;
        let mut conn = link.conn.clone();
        let what = format!("reading the head of room {room}");
        match tokio::time::timeout(COMMAND_TIMEOUT, read_head(&mut conn, room)).await {
            Ok(Ok((last_seq, first_seq))) => Ok(RoomHead {
                epoch: link.epoch,
                last_seq,
                first_seq,
            }),
            Ok(Err(ReadError::Redis(e))) => Err(self.shared.failed(&link, &what, &e)),
            Ok(Err(ReadError::Format(why))) => Err(BrokerError::Internal(format!("{what}: {why}"))),
            Err(_) => {
                self.shared.report_trouble(link.generation);
                Err(BrokerError::Unavailable(format!(
                    "{what}: Redis did not answer within {COMMAND_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn read_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = ::redis::cmd("XRANGE");
        cmd.arg(log_key(room))
            .arg(format!("{start}-0"))
            .arg("+")
            .arg("COUNT")
            .arg(limit);
        let what = format!("reading room {room} after seq {after}");
        let value = self.query(&cmd, &what).await?;
        parse_entries(room, value).map_err(|why| BrokerError::Internal(format!("{what}: {why}")))
    }

    async fn read_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        let end = match before {
            None => "+".to_owned(),
            Some(0 | 1) => return Ok(Vec::new()),
            Some(before) => format!("{}-0", before - 1),
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = ::redis::cmd("XREVRANGE");
        cmd.arg(log_key(room))
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(limit);
        let what = format!("reading room {room} before seq {before:?}");
        let value = self.query(&cmd, &what).await?;
        let mut messages = parse_entries(room, value)
            .map_err(|why| BrokerError::Internal(format!("{what}: {why}")))?;
        messages.reverse();
        Ok(messages)
    }

    async fn subscribe(&self, room: &str) -> Result<(), BrokerError> {
        // Everything this relay sent before is on Redis before the subscription starts, so
        // none of it comes back as live traffic.
        let (done, flushed) = oneshot::channel();
        self.queue
            .send(Outbound::Barrier(done))
            .map_err(|_| closed())?;
        match tokio::time::timeout(ANSWER_TIMEOUT, flushed).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(closed()),
            Err(_) => return Err(BrokerError::Unavailable("Redis is not answering".into())),
        }
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let (reply, answered) = oneshot::channel();
        self.control
            .send(Control::Subscribe {
                room: room.to_owned(),
                deadline,
                reply,
            })
            .map_err(|_| closed())?;
        // The bus task answers within the deadline plus the two bounded commands it sends.
        match tokio::time::timeout(ANSWER_TIMEOUT, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(closed()),
            Err(_) => Err(BrokerError::Unavailable(format!(
                "subscribing to room {room} took too long"
            ))),
        }
    }

    async fn unsubscribe(&self, room: &str) {
        // Delivery stops here and now; the bus task then leaves the channel.
        self.shared.delivering().remove(room);
        let (reply, answered) = oneshot::channel();
        let command = Control::Unsubscribe {
            room: room.to_owned(),
            reply,
        };
        if self.control.send(command).is_ok()
            && tokio::time::timeout(ANSWER_TIMEOUT, answered)
                .await
                .is_err()
        {
            tracing::warn!(room, "leaving the room's Redis channel is taking long");
        }
    }

    fn signal(&self, room: &str, signal: Signal) {
        if !self.shared.ready.load(Ordering::Acquire) {
            return;
        }
        let body = match signal {
            Signal::Presence { node, nick, joined } => BusBody::Presence { node, nick, joined },
            Signal::Typing { nick } => BusBody::Typing { nick },
        };
        let frame = BusFrame {
            version: BUS_VERSION,
            origin: self.shared.node_id.clone(),
            room: room.to_owned(),
            body,
        }
        .encode();
        // Best effort: a closed queue means the broker is stopping.
        let _ = self.queue.send(Outbound::Signal {
            room: room.to_owned(),
            frame,
        });
    }

    fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire) && !self.shared.closed.load(Ordering::Acquire)
    }

    /// Records the change in this relay's presence map (what is asserted again after a
    /// reconnection) and queues it for Redis, which announces the room-wide change. `node`
    /// is this relay's; presence entries always name this broker's instance.
    fn presence(&self, room: &str, _node: &str, nick: &str, joined: bool) {
        {
            let mut local = self.shared.local();
            if joined {
                local
                    .entry(room.to_owned())
                    .or_default()
                    .insert(nick.to_owned());
            } else if let Some(nicks) = local.get_mut(room) {
                nicks.remove(nick);
                if nicks.is_empty() {
                    local.remove(room);
                }
            }
        }
        if !self.is_ready() {
            // Asserted again once Redis is back.
            return;
        }
        let change = if joined {
            PresenceChange::Add(nick.to_owned())
        } else {
            PresenceChange::Remove(nick.to_owned())
        };
        let _ = self.queue.send(Outbound::Presence {
            room: room.to_owned(),
            change,
        });
    }

    async fn relays(&self) -> Result<Option<Vec<RelayInfo>>, BrokerError> {
        let live = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match cluster::fresh_relays(live.as_ref(), self.shared.heartbeat) {
            Some(relays) => Ok(Some(relays)),
            None => Err(BrokerError::Unavailable(
                "the relay registry could not be read lately".into(),
            )),
        }
    }
}

impl Shared {
    fn current(&self) -> Option<Link> {
        self.link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn install(&self, link: Link) {
        self.epoch.store(link.epoch, Ordering::Release);
        *self.link.lock().unwrap_or_else(PoisonError::into_inner) = Some(link);
        self.ready.store(true, Ordering::Release);
    }

    fn uninstall(&self) {
        self.ready.store(false, Ordering::Release);
        *self.link.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn delivering(&self) -> MutexGuard<'_, HashSet<String>> {
        self.delivering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The nicks this relay holds in `room`, sorted.
    fn local_nicks(&self, room: &str) -> Vec<String> {
        let mut nicks: Vec<String> = self
            .local()
            .get(room)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        nicks.sort_unstable();
        nicks
    }

    /// Rooms this relay holds nicks in.
    fn local_rooms(&self) -> Vec<String> {
        self.local().keys().cloned().collect()
    }

    fn registration(&self) -> Option<Registration> {
        self.registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The instances alive at the last listing and its Redis time.
    fn live_instances(&self) -> Option<(HashSet<String>, u64)> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|l| (l.instances.clone(), l.listed_ms))
    }

    fn report_trouble(&self, generation: u64) {
        // The bus task is gone only when the broker is stopping.
        let _ = self.trouble.send(generation);
    }

    /// Maps a failed command to a broker error, reporting a broken connection.
    fn failed(&self, link: &Link, what: &str, err: &RedisError) -> BrokerError {
        if is_connection_error(err) {
            self.report_trouble(link.generation);
            BrokerError::Unavailable(format!("{what}: {err}"))
        } else {
            BrokerError::Internal(format!("{what}: {err}"))
        }
    }
}

/// The sender task: sends queued items in order, a batch per pipeline.
async fn run_sender(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Outbound>) {
    let mut batch = Vec::new();
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let mut items = std::mem::take(&mut batch);
        let mut may_retry = true;
        while let Some(retry) = send_batch(&shared, items, may_retry).await {
            items = retry;
            may_retry = false;
        }
    }
    tracing::debug!("sender stopped");
}

/// Sends one batch; returns publishes to send again at once if Redis had lost the script
/// and they are the batch's tail (so resending them keeps call order).
async fn send_batch(
    shared: &Shared,
    items: Vec<Outbound>,
    may_retry: bool,
) -> Option<Vec<Outbound>> {
    let Some(link) = shared.current() else {
        for item in items {
            answer(item, unavailable);
        }
        return None;
    };
    let mut pipe = ::redis::pipe();
    let mut sent = Vec::with_capacity(items.len());
    let mut barriers = Vec::new();
    let epoch = link.epoch.to_string();
    for item in items {
        match item {
            Outbound::Publish { msg, queued, reply } => {
                if queued.elapsed() > QUEUE_TIMEOUT {
                    let _ = reply.send(Err(BrokerError::Unavailable(format!(
                        "Redis did not take the message within {QUEUE_TIMEOUT:?}"
                    ))));
                    continue;
                }
                pipe.cmd("EVALSHA")
                    .arg(shared.script.get_hash())
                    .arg(3)
                    .arg(seq_key(&msg.room))
                    .arg(log_key(&msg.room))
                    .arg(channel(&msg.room))
                    .arg(shared.history_limit)
                    .arg(&epoch)
                    .arg(message_prefix(&shared.node_id, &msg.room))
                    .arg(message_suffix(&msg.from, &msg.text))
                    .arg(&msg.from)
                    .arg(&msg.text);
                sent.push(Outbound::Publish { msg, queued, reply });
            }
            Outbound::Signal { room, frame } => {
                pipe.cmd("SPUBLISH").arg(channel(&room)).arg(&frame);
                sent.push(Outbound::Signal { room, frame });
            }
            Outbound::Presence { room, change } => {
                cluster::add_presence(&mut pipe, shared, &room, &change);
                sent.push(Outbound::Presence { room, change });
            }
            Outbound::Barrier(reply) => barriers.push(reply),
        }
    }
    if sent.is_empty() {
        for barrier in barriers {
            let _ = barrier.send(());
        }
        return None;
    }

    let mut conn = link.conn.clone();
    let count = sent.len();
    let replies =
        tokio::time::timeout(COMMAND_TIMEOUT, conn.req_packed_commands(&pipe, 0, count)).await;
    let replies = match replies {
        Ok(Ok(replies)) if replies.len() == count => replies,
        Ok(Ok(replies)) => {
            let why = format!("Redis answered {} of {count} commands", replies.len());
            shared.report_trouble(link.generation);
            fail_all(sent, barriers, || BrokerError::Unavailable(why.clone()));
            return None;
        }
        Ok(Err(e)) => {
            let error = shared.failed(&link, "sending messages", &e);
            fail_all(sent, barriers, || error.clone());
            return None;
        }
        Err(_) => {
            shared.report_trouble(link.generation);
            fail_all(sent, barriers, || {
                BrokerError::Unavailable(format!("Redis did not answer within {COMMAND_TIMEOUT:?}"))
            });
            return None;
        }
    };

    // A script run that failed with NOSCRIPT stored nothing. If no run after it succeeded,
    // the failed ones can be sent again in order once the script is loaded.
    let mut retry = Vec::new();
    let mut stored_after_noscript = false;
    let mut outcomes = Vec::with_capacity(count);
    for (item, reply) in sent.into_iter().zip(replies) {
        let Outbound::Publish {
            msg,
            queued,
            reply: answer_to,
        } = item
        else {
            if let Value::ServerError(e) = reply {
                tracing::warn!(error = ?e, "a signal or presence change was refused");
            }
            continue;
        };
        let noscript = matches!(&reply, Value::ServerError(e)
            if e.kind() == Some(ServerErrorKind::NoScript));
        if noscript {
            retry.push(Outbound::Publish {
                msg,
                queued,
                reply: answer_to,
            });
        } else {
            if !retry.is_empty() && !matches!(reply, Value::ServerError(_)) {
                stored_after_noscript = true;
            }
            outcomes.push((msg, answer_to, reply));
        }
    }
    for (msg, answer_to, reply) in outcomes {
        let result = stored_message(&msg, link.epoch, reply);
        if let Err(e) = &result {
            tracing::warn!(room = %msg.room, error = %e, "storing a message failed");
        }
        let _ = answer_to.send(result);
    }
    for barrier in barriers {
        let _ = barrier.send(());
    }
    if retry.is_empty() {
        return None;
    }
    if may_retry && !stored_after_noscript {
        let mut conn = link.conn.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, shared.script.load_async(&mut conn)).await {
            Ok(Ok(_)) => return Some(retry),
            Ok(Err(e)) => tracing::warn!(error = %e, "loading the publish script failed"),
            Err(_) => tracing::warn!("loading the publish script timed out"),
        }
    }
    for item in retry {
        answer(item, || {
            BrokerError::Unavailable("Redis lost the publish script; send again".into())
        });
    }
    None
}

/// The message a script run stored, from its reply `{seq, ts}`.
fn stored_message(msg: &NewMessage, epoch: u64, reply: Value) -> Result<Message, BrokerError> {
    let (seq, ts) = match reply {
        Value::Array(values) => match values.as_slice() {
            [Value::Int(seq), Value::Int(ts)] => (*seq, *ts),
            _ => return Err(bad_reply(&Value::Array(values))),
        },
        Value::ServerError(e) => {
            return Err(BrokerError::Internal(format!(
                "Redis refused to store a message in room {}: {} {}",
                msg.room,
                e.code(),
                e.details().unwrap_or("")
            )));
        }
        other => return Err(bad_reply(&other)),
    };
    let (Ok(seq), Ok(ts)) = (u64::try_from(seq), u64::try_from(ts)) else {
        return Err(BrokerError::Internal(format!(
            "the publish script returned seq {seq} and ts {ts}"
        )));
    };
    Ok(Message {
        room: msg.room.clone(),
        seq,
        epoch,
        from: msg.from.clone(),
        ts,
        text: msg.text.clone(),
    })
}

fn bad_reply(value: &Value) -> BrokerError {
    BrokerError::Internal(format!(
        "unexpected reply from the publish script: {value:?}"
    ))
}

/// Answers a queued item that will not be sent.
fn answer(item: Outbound, error: impl Fn() -> BrokerError) {
    match item {
        Outbound::Publish { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Outbound::Signal { .. } | Outbound::Presence { .. } => {}
        Outbound::Barrier(reply) => {
            let _ = reply.send(());
        }
    }
}

fn fail_all(
    sent: Vec<Outbound>,
    barriers: Vec<oneshot::Sender<()>>,
    error: impl Fn() -> BrokerError,
) {
    for item in sent {
        answer(item, &error);
    }
    for barrier in barriers {
        let _ = barrier.send(());
    }
}

/// Both connections of one generation, as the bus task holds them.
struct Connected {
    link: Link,
    /// The subscriber connection (RESP3, so pushes and replies share it in order).
    pubsub: MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
}

impl Connected {
    /// Opens the command and subscriber connections, loads the script and learns the epoch.
    async fn open(client: &Client, script: &Script, generation: u64) -> Result<Self, BrokerError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let (push_tx, pushes) = mpsc::unbounded_channel();
        let attempt = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let pubsub = client
                .get_multiplexed_async_connection_with_config(
                    &config.clone().set_push_sender(push_tx),
                )
                .await?;
            script.load_async(&mut conn).await?;
            let epoch = read_epoch(&mut conn).await?;
            Ok::<_, RedisError>((conn, pubsub, epoch))
        };
        let (conn, pubsub, epoch) =
            match tokio::time::timeout(CONNECT_TIMEOUT + COMMAND_TIMEOUT, attempt).await {
                Ok(Ok(opened)) => opened,
                Ok(Err(e)) if is_connection_error(&e) || is_transient(&e) => {
                    return Err(BrokerError::Unavailable(format!(
                        "connecting to Redis: {e}"
                    )));
                }
                Ok(Err(e)) => {
                    return Err(BrokerError::Internal(format!("connecting to Redis: {e}")));
                }
                Err(_) => {
                    return Err(BrokerError::Unavailable(
                        "connecting to Redis timed out".into(),
                    ));
                }
            };
        let epoch = epoch.map_err(BrokerError::Internal)?;
        Ok(Connected {
            link: Link {
                conn,
                epoch,
                generation,
            },
            pubsub,
            pushes,
        })
    }
}

/// Reads the epoch, setting it first if the store has none.
async fn read_epoch(conn: &mut MultiplexedConnection) -> Result<Result<u64, String>, RedisError> {
    let candidate = now_ms().clamp(1, MAX_EPOCH);
    // NX with GET: the existing value if there is one, nil if ours was set.
    let existing: Option<String> = ::redis::cmd("SET")
        .arg(EPOCH_KEY)
        .arg(candidate)
        .arg("NX")
        .arg("GET")
        .query_async(conn)
        .await?;
    Ok(match existing {
        None => Ok(candidate),
        Some(text) => match text.parse::<u64>() {
            Ok(epoch) if (1..=MAX_EPOCH).contains(&epoch) => Ok(epoch),
            _ => Err(format!(
                "{EPOCH_KEY} holds {text:?}, not an epoch (an integer from 1 to 2^53 - 1)"
            )),
        },
    })
}

/// Refuses servers that cannot run the broker, and warns about settings that break it.
async fn check_server(conn: &MultiplexedConnection) -> Result<(), BrokerError> {
    let mut conn = conn.clone();
    let check = async {
        let info: Value = ::redis::cmd("COMMAND")
            .arg("INFO")
            .arg("SPUBLISH")
            .query_async(&mut conn)
            .await?;
        let policy: Result<Vec<String>, RedisError> = ::redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut conn)
            .await;
        Ok::<_, RedisError>((info, policy))
    };
    let (info, policy) = match tokio::time::timeout(COMMAND_TIMEOUT, check).await {
        Ok(Ok(answers)) => answers,
        Ok(Err(e)) => return Err(BrokerError::Unavailable(format!("checking Redis: {e}"))),
        Err(_) => return Err(BrokerError::Unavailable("checking Redis timed out".into())),
    };
    let known = match info {
        Value::Array(entries) => entries.first().is_some_and(|e| *e != Value::Nil),
        _ => false,
    };
    if !known {
        return Err(BrokerError::Internal(
            "this Redis has no SPUBLISH: sharded pub/sub needs Redis 7.0 or newer".into(),
        ));
    }
    // Managed services often forbid CONFIG; only a readable, wrong policy is reported.
    if let Ok(policy) = policy
        && let Some(policy) = policy.get(1)
        && policy != "noeviction"
    {
        tracing::warn!(
            policy,
            "Redis may evict keys (maxmemory-policy is not noeviction): an evicted room \
             counter or epoch renumbers rooms"
        );
    }
    Ok(())
}

/// Why a read of the history failed.
enum ReadError {
    Redis(RedisError),
    Format(String),
}

impl From<RedisError> for ReadError {
    fn from(e: RedisError) -> Self {
        ReadError::Redis(e)
    }
}

/// `(last_seq, first_seq)` of `room`, read in one transaction.
async fn read_head(conn: &mut MultiplexedConnection, room: &str) -> Result<(u64, u64), ReadError> {
    let log = log_key(room);
    let (counter, first, last): (Option<String>, Value, Value) = ::redis::pipe()
        .atomic()
        .cmd("GET")
        .arg(seq_key(room))
        .cmd("XRANGE")
        .arg(&log)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .cmd("XREVRANGE")
        .arg(&log)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let first = first_entry_seq(first).map_err(ReadError::Format)?;
    let newest = first_entry_seq(last).map_err(ReadError::Format)?;
    let counter = match counter {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ReadError::Format(format!("{} holds {text:?}", seq_key(room))))?,
    };
    // As the script numbers: one above both the counter and the newest entry.
    let last_seq = counter.max(newest.unwrap_or(0));
    Ok((last_seq, first.unwrap_or(last_seq + 1)))
}

/// The seq of the first entry of an `XRANGE`/`XREVRANGE` reply, if any.
fn first_entry_seq(value: Value) -> Result<Option<u64>, String> {
    match value {
        Value::Array(entries) => match entries.into_iter().next() {
            None => Ok(None),
            Some(Value::Array(entry)) => match entry.first() {
                Some(id) => parse_id(id).map(Some),
                None => Err("a stream entry without an id".into()),
            },
            Some(other) => Err(format!("unexpected stream entry {other:?}")),
        },
        Value::Nil => Ok(None),
        other => Err(format!("unexpected stream reply {other:?}")),
    }
}

/// The seq in a stream entry id `<seq>-0`.
fn parse_id(id: &Value) -> Result<u64, String> {
    let text = match id {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text.as_str()),
        _ => None,
    };
    text.and_then(|t| t.split_once('-'))
        .and_then(|(seq, _)| seq.parse().ok())
        .ok_or_else(|| format!("stream entry id {id:?} is not <seq>-0"))
}

/// The messages in an `XRANGE`/`XREVRANGE` reply, in reply order.
fn parse_entries(room: &str, value: Value) -> Result<Vec<Message>, String> {
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Nil => return Ok(Vec::new()),
        other => return Err(format!("unexpected stream reply {other:?}")),
    };
    entries
        .into_iter()
        .map(|entry| parse_entry(room, entry))
        .collect()
}

fn parse_entry(room: &str, entry: Value) -> Result<Message, String> {
    let Value::Array(parts) = entry else {
        return Err(format!("unexpected stream entry {entry:?}"));
    };
    let mut parts = parts.into_iter();
    let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
        return Err("a stream entry without id or fields".into());
    };
    let seq = parse_id(&id)?;
    let pairs: Vec<(Value, Value)> = match fields {
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        other => return Err(format!("unexpected fields {other:?} in entry {seq}")),
    };
    let (mut from, mut text, mut ts, mut epoch) = (None, None, None, None);
    for (key, value) in pairs {
        let (Value::BulkString(key), Value::BulkString(value)) = (key, value) else {
            return Err(format!("a field of entry {seq} is not a string"));
        };
        let value =
            String::from_utf8(value).map_err(|_| format!("a field of entry {seq} is not UTF-8"))?;
        match key.as_slice() {
            b"f" => from = Some(value),
            b"t" => text = Some(value),
            b"ts" => ts = value.parse::<u64>().ok(),
            b"e" => epoch = value.parse::<u64>().ok(),
            _ => {}
        }
    }
    match (from, text, ts, epoch) {
        (Some(from), Some(text), Some(ts), Some(epoch)) => Ok(Message {
            room: room.to_owned(),
            seq,
            epoch,
            from,
            ts,
            text,
        }),
        _ => Err(format!("entry {seq} lacks one of the fields f, t, ts, e")),
    }
}

/// Per subscribed room, what the bus task has delivered.
struct RoomSub {
    /// The last seq delivered (or, right after subscribing, the last one stored then).
    last: u64,
}

/// One page of a room's history, as the bus task reads it.
struct Page {
    /// Entries in the reply, readable or not.
    entries: usize,
    /// The seq of the reply's last entry.
    last_id: Option<u64>,
    messages: Vec<Message>,
}

/// Why the bus task left a connection.
enum Exit {
    Lost(String),
    Closed,
}

/// The bus task: owns the subscriber connection, reconnects, and delivers.
struct Bus {
    shared: Arc<Shared>,
    client: Client,
    control: mpsc::UnboundedReceiver<Control>,
    trouble: mpsc::UnboundedReceiver<u64>,
    /// Fires when the sender task has sent everything (the broker was dropped).
    sender_done: Option<oneshot::Receiver<()>>,
    rooms: HashMap<String, RoomSub>,
    /// The sender task's queue, for asserting presence after a reconnection (weak: the
    /// sender stops once the broker handle is gone).
    queue: mpsc::WeakUnboundedSender<Outbound>,
    /// Per room, subscription changes sent on the current connection whose confirmation
    /// push has not been seen yet. Until it is, frames on the channel belong to an older
    /// subscription and are dropped.
    pending: HashMap<String, u32>,
    generation: u64,
}

impl Bus {
    async fn run(mut self, first: Connected) {
        let mut next = Some(first);
        loop {
            let connected = match next.take() {
                Some(connected) => connected,
                None => match self.reconnect().await {
                    Some(connected) => connected,
                    None => break,
                },
            };
            let generation = connected.link.generation;
            match self.serve(connected).await {
                Exit::Closed => break,
                Exit::Lost(why) => {
                    tracing::warn!(generation, reason = %why, "lost the Redis connection");
                    self.shared.uninstall();
                }
            }
        }
        self.shared.uninstall();
        tracing::info!("Redis broker stopped");
    }

    /// Connects again with capped, jittered exponential backoff; `None` once closed.
    async fn reconnect(&mut self) -> Option<Connected> {
        let mut backoff = BACKOFF_MIN;
        loop {
            // Full jitter between half and all of the backoff spreads a cluster's retries.
            let delay = backoff.mul_f64(rand::rng().random_range(0.5..=1.0));
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = self.control.recv() => {
                        if !self.serve_offline(command).await {
                            return None;
                        }
                    }
                    Some(_) = self.trouble.recv() => {}
                }
            }
            self.generation += 1;
            match Connected::open(&self.client, &self.shared.script, self.generation).await {
                Ok(connected) => {
                    tracing::info!(generation = self.generation, "reconnected to Redis");
                    return Some(connected);
                }
                Err(e) => tracing::debug!(error = %e, ?delay, "reconnecting to Redis failed"),
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Answers a command while disconnected; false once the broker is closing.
    async fn serve_offline(&mut self, command: Option<Control>) -> bool {
        match command {
            Some(Control::Subscribe { room, reply, .. }) => {
                let _ = reply.send(Err(BrokerError::Unavailable(format!(
                    "cannot subscribe to room {room}: Redis is unreachable"
                ))));
                true
            }
            Some(Control::Unsubscribe { room, reply }) => {
                self.rooms.remove(&room);
                let _ = reply.send(());
                true
            }
            Some(Control::Close(reply)) => {
                let _ = reply.send(());
                false
            }
            None => {
                self.wait_for_sender().await;
                false
            }
        }
    }

    /// Once the broker is dropped: lets the sender finish what was queued first.
    async fn wait_for_sender(&mut self) {
        if let Some(done) = self.sender_done.take() {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, done).await;
        }
    }

    /// Runs on one connection until it fails or the broker closes.
    async fn serve(&mut self, mut c: Connected) -> Exit {
        self.pending.clear();
        let epoch_before = self.shared.epoch.load(Ordering::Acquire);
        self.shared.install(c.link.clone());
        if c.link.epoch != epoch_before {
            self.epoch_changed(epoch_before, c.link.epoch);
        }
        // Drop reports about earlier connections.
        while self.trouble.try_recv().is_ok() {}
        if let Err(why) = self.resync(&mut c).await {
            return Exit::Lost(why);
        }
        let mut health = tokio::time::interval(HEALTH_INTERVAL);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.reset();
        loop {
            let step = tokio::select! {
                command = self.control.recv() => match command {
                    None => {
                        self.wait_for_sender().await;
                        return Exit::Closed;
                    }
                    Some(Control::Close(reply)) => {
                        let _ = reply.send(());
                        return Exit::Closed;
                    }
                    Some(command) => self.command(&mut c, command).await,
                },
                push = c.pushes.recv() => match push {
                    Some(push) => self.push(&mut c, push).await,
                    None => Err("the subscriber connection closed".into()),
                },
                Some(generation) = self.trouble.recv() => {
                    if generation == c.link.generation {
                        Err("a command failed on the connection".into())
                    } else {
                        Ok(())
                    }
                }
                _ = health.tick() => self.health(&mut c).await,
            };
            if let Err(why) = step {
                return Exit::Lost(why);
            }
        }
    }

    /// After (re)connecting: subscribes every room again and delivers what it missed.
    async fn resync(&mut self, c: &mut Connected) -> Result<(), String> {
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in &rooms {
            self.send_subscription(c, "SSUBSCRIBE", room).await?;
        }
        for room in &rooms {
            self.catch_up(c, room).await?;
        }
        // Presence frames were lost while the connection was down: read the members anew,
        // after asserting this relay's own (Redis may have lost them, or others may have
        // taken this relay for dead meanwhile).
        if !rooms.is_empty() {
            self.reassert(c).await?;
        }
        for room in &rooms {
            self.presence_snapshot(c, room).await?;
        }
        if !rooms.is_empty() {
            tracing::info!(rooms = rooms.len(), "resubscribed and caught up");
        }
        Ok(())
    }

    /// Beats, then asserts this relay's presence in every room it holds nicks in, through
    /// the sender's queue (so no change queued meanwhile is overtaken), and waits for it.
    async fn reassert(&mut self, c: &mut Connected) -> Result<(), String> {
        let mut conn = c.link.conn.clone();
        if let Err(e) = cluster::beat(&self.shared, &mut conn).await {
            if is_connection_error(&e) {
                return Err(format!("the heartbeat failed: {e}"));
            }
            tracing::error!(error = %e, "the heartbeat failed");
        }
        let Some(queue) = self.queue.upgrade() else {
            return Ok(());
        };
        for room in self.shared.local_rooms() {
            let _ = queue.send(Outbound::Presence {
                room,
                change: PresenceChange::Sync,
            });
        }
        let (done, flushed) = oneshot::channel();
        if queue.send(Outbound::Barrier(done)).is_ok() {
            drop(queue);
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, flushed).await;
        }
        Ok(())
    }

    /// Removes dead relays' members from `room`, then hands the room's members to the sink.
    ///
    /// The members are read on the subscriber connection, which carries replies and frames
    /// in the order Redis produced them, and the client library queues every frame that
    /// came before a reply by the time that reply is returned. So the frames queued now are
    /// older than the list: they are handled first, and every frame after them is news to
    /// the list.
    async fn presence_snapshot(&mut self, c: &mut Connected, room: &str) -> Result<(), String> {
        let mut conn = c.pubsub.clone();
        if let Err(e) = cluster::purge_room(&self.shared, &mut conn, room).await {
            if is_connection_error(&e) {
                return Err(format!("purging room {room}: {e}"));
            }
            tracing::error!(room, error = %e, "purging the room's dead members failed");
        }
        let nicks = cluster::room_nicks(&mut conn, room).await?;
        while let Ok(push) = c.pushes.try_recv() {
            self.push(c, push).await?;
        }
        let delivering = self.shared.delivering();
        if delivering.contains(room) {
            self.shared.sink.members(room, &nicks);
        }
        Ok(())
    }

    fn epoch_changed(&mut self, old: u64, new: u64) {
        tracing::warn!(
            old,
            new,
            "the Redis store has a new epoch: its history was lost; rooms restart at seq 1"
        );
        for sub in self.rooms.values_mut() {
            sub.last = 0;
        }
    }

    async fn command(&mut self, c: &mut Connected, command: Control) -> Result<(), String> {
        match command {
            Control::Subscribe {
                room,
                deadline,
                reply,
            } => {
                if Instant::now() > deadline {
                    let _ = reply.send(Err(BrokerError::Unavailable(format!(
                        "subscribing to room {room} took too long"
                    ))));
                    return Ok(());
                }
                if self.rooms.contains_key(&room) {
                    let _ = reply.send(Ok(()));
                    return Ok(());
                }
                if let Err(why) = self.send_subscription(c, "SSUBSCRIBE", &room).await {
                    let _ = reply.send(Err(BrokerError::Unavailable(format!(
                        "subscribing to room {room}: {why}"
                    ))));
                    return Err(why);
                }
                let mut conn = c.pubsub.clone();
                let head = tokio::time::timeout(COMMAND_TIMEOUT, read_head(&mut conn, &room)).await;
                let refused = match head {
                    Ok(Ok((last, _))) => {
                        self.rooms.insert(room.clone(), RoomSub { last });
                        self.shared.delivering().insert(room.clone());
                        // A failure here loses the connection; the resync reads the
                        // members again, so the subscription itself stands.
                        let snapshot = self.presence_snapshot(c, &room).await;
                        let _ = reply.send(Ok(()));
                        return snapshot;
                    }
                    Err(_) => {
                        let why = format!("reading the head of room {room} timed out");
                        let _ = reply.send(Err(BrokerError::Unavailable(why.clone())));
                        return Err(why);
                    }
                    Ok(Err(ReadError::Redis(e))) if is_connection_error(&e) => {
                        let why = format!("reading the head of room {room}: {e}");
                        let _ = reply.send(Err(BrokerError::Unavailable(why.clone())));
                        return Err(why);
                    }
                    Ok(Err(ReadError::Redis(e))) => e.to_string(),
                    Ok(Err(ReadError::Format(why))) => why,
                };
                // The room's keys hold something unexpected: refuse this room, keep the rest.
                tracing::error!(room, reason = %refused, "cannot subscribe to the room");
                let _ = reply.send(Err(BrokerError::Internal(format!(
                    "reading the head of room {room}: {refused}"
                ))));
                self.send_subscription(c, "SUNSUBSCRIBE", &room).await
            }
            Control::Unsubscribe { room, reply } => {
                let result = if self.rooms.remove(&room).is_some() {
                    self.send_subscription(c, "SUNSUBSCRIBE", &room).await
                } else {
                    Ok(())
                };
                let _ = reply.send(());
                result
            }
            Control::Close(reply) => {
                let _ = reply.send(());
                Ok(())
            }
        }
    }

    /// Sends `SSUBSCRIBE` or `SUNSUBSCRIBE` for one room and waits for its confirmation.
    async fn send_subscription(
        &mut self,
        c: &mut Connected,
        command: &str,
        room: &str,
    ) -> Result<(), String> {
        *self.pending.entry(room.to_owned()).or_default() += 1;
        let mut cmd = ::redis::cmd(command);
        cmd.arg(channel(room));
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Value>(&mut c.pubsub)).await {
            Ok(Ok(Value::ServerError(e))) => Err(format!("{command} {room}: {e:?}")),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("{command} {room}: {e}")),
            Err(_) => Err(format!("{command} {room} timed out")),
        }
    }

    async fn push(&mut self, c: &mut Connected, push: PushInfo) -> Result<(), String> {
        match push.kind {
            PushKind::Disconnection => Err("the subscriber connection closed".into()),
            PushKind::SSubscribe | PushKind::SUnsubscribe => {
                let Some(room) = push.data.first().and_then(channel_room) else {
                    return Ok(());
                };
                match self.pending.get_mut(&room) {
                    Some(count) => {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.pending.remove(&room);
                        }
                        Ok(())
                    }
                    // Not ours: Redis Cluster ends shard subscriptions when a slot moves.
                    // Starting over subscribes again and catches up from history.
                    None if push.kind == PushKind::SUnsubscribe
                        && self.rooms.contains_key(&room) =>
                    {
                        Err(format!("Redis ended the subscription to room {room}"))
                    }
                    None => Ok(()),
                }
            }
            PushKind::SMessage => {
                let (Some(room), Some(Value::BulkString(payload))) =
                    (push.data.first().and_then(channel_room), push.data.get(1))
                else {
                    tracing::warn!("a sharded message without channel or payload");
                    return Ok(());
                };
                if self.pending.contains_key(&room) || !self.rooms.contains_key(&room) {
                    return Ok(());
                }
                let frame = match BusFrame::decode(payload) {
                    Ok(frame) if frame.room == room => frame,
                    Ok(frame) => {
                        tracing::warn!(room, frame_room = %frame.room, "a frame for another room");
                        return Ok(());
                    }
                    Err(e) => {
                        tracing::warn!(room, error = %e, "dropping an unreadable frame");
                        return Ok(());
                    }
                };
                if let Some(signal) = frame.signal() {
                    let delivering = self.shared.delivering();
                    if delivering.contains(&room) {
                        self.shared.sink.signal(&room, &signal);
                    }
                    return Ok(());
                }
                let Some(msg) = frame.message() else {
                    return Ok(());
                };
                if msg.epoch != c.link.epoch {
                    // Another relay knows a different epoch: find out which one is current.
                    return self.check_epoch(c).await;
                }
                self.deliver_in_order(c, &room, msg).await
            }
            _ => Ok(()),
        }
    }

    /// Delivers `msg` after filling any gap before it from history; drops duplicates.
    async fn deliver_in_order(
        &mut self,
        c: &mut Connected,
        room: &str,
        msg: Message,
    ) -> Result<(), String> {
        let Some(last) = self.rooms.get(room).map(|s| s.last) else {
            return Ok(());
        };
        if msg.seq <= last {
            return Ok(());
        }
        if msg.seq > last + 1 {
            self.fill(c, room, msg.seq - 1).await?;
        }
        self.deliver(room, &msg);
        Ok(())
    }

    /// Delivers one message and records its seq, if the room still wants it.
    fn deliver(&mut self, room: &str, msg: &Message) {
        let Some(sub) = self.rooms.get_mut(room) else {
            return;
        };
        if msg.seq <= sub.last {
            return;
        }
        sub.last = msg.seq;
        let delivering = self.shared.delivering();
        if delivering.contains(room) {
            self.shared.sink.message(msg);
        }
    }

    /// Delivers stored messages after the room's last delivered seq, up to `until`.
    async fn fill(&mut self, c: &mut Connected, room: &str, until: u64) -> Result<(), String> {
        let Some(mut cursor) = self.rooms.get(room).map(|s| s.last) else {
            return Ok(());
        };
        while cursor < until {
            let page = self.read_page(c, room, cursor).await?;
            for msg in &page.messages {
                if msg.seq > until {
                    break;
                }
                self.deliver(room, msg);
            }
            match page.last_id {
                Some(last_id) if page.entries == CATCH_UP_PAGE => cursor = last_id,
                _ => break,
            }
        }
        if until != u64::MAX
            && let Some(sub) = self.rooms.get(room)
            && sub.last < until
        {
            tracing::warn!(
                room,
                from = sub.last + 1,
                until,
                "messages missing from history (trimmed by retention)"
            );
        }
        Ok(())
    }

    /// Delivers everything stored after the room's last delivered seq.
    async fn catch_up(&mut self, c: &mut Connected, room: &str) -> Result<(), String> {
        self.fill(c, room, u64::MAX).await
    }

    /// Up to [`CATCH_UP_PAGE`] entries after `after`. Entries that do not parse are logged
    /// and skipped, so one bad entry cannot stall a room's delivery.
    async fn read_page(
        &mut self,
        c: &mut Connected,
        room: &str,
        after: u64,
    ) -> Result<Page, String> {
        let mut cmd = ::redis::cmd("XRANGE");
        cmd.arg(log_key(room))
            .arg(format!("{}-0", after.saturating_add(1)))
            .arg("+")
            .arg("COUNT")
            .arg(CATCH_UP_PAGE);
        let value =
            match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Value>(&mut c.pubsub))
                .await
            {
                Ok(Ok(Value::Array(entries))) => entries,
                Ok(Ok(Value::Nil)) => Vec::new(),
                Ok(Ok(other)) => {
                    tracing::error!(room, reply = ?other, "unexpected history reply");
                    Vec::new()
                }
                Ok(Err(e)) if is_connection_error(&e) => {
                    return Err(format!("reading room {room}'s history: {e}"));
                }
                Ok(Err(e)) => {
                    tracing::error!(room, error = %e, "reading the room's history failed");
                    Vec::new()
                }
                Err(_) => return Err(format!("reading room {room}'s history timed out")),
            };
        let mut page = Page {
            entries: value.len(),
            last_id: None,
            messages: Vec::with_capacity(value.len()),
        };
        for entry in value {
            if let Value::Array(parts) = &entry
                && let Some(Ok(id)) = parts.first().map(parse_id)
            {
                page.last_id = Some(id);
            }
            match parse_entry(room, entry) {
                Ok(msg) => page.messages.push(msg),
                Err(why) => tracing::error!(room, reason = %why, "skipping a bad history entry"),
            }
        }
        Ok(page)
    }

    /// Checks that both connections answer and that the epoch is unchanged.
    async fn health(&mut self, c: &mut Connected) -> Result<(), String> {
        let mut pubsub = c.pubsub.clone();
        let ping = ::redis::cmd("PING");
        match tokio::time::timeout(COMMAND_TIMEOUT, ping.query_async::<Value>(&mut pubsub)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("the subscriber connection failed: {e}")),
            Err(_) => return Err("the subscriber connection stopped answering".into()),
        }
        self.check_epoch(c).await
    }

    /// Reads the epoch (setting a new one if the store lost it); on a change, every room
    /// restarts from seq 0 and is caught up from the new history.
    async fn check_epoch(&mut self, c: &mut Connected) -> Result<(), String> {
        let mut conn = c.link.conn.clone();
        let epoch = match tokio::time::timeout(COMMAND_TIMEOUT, read_epoch(&mut conn)).await {
            Ok(Ok(Ok(epoch))) => epoch,
            Ok(Ok(Err(why))) => {
                tracing::error!(reason = %why, "the store's epoch is unreadable");
                return Ok(());
            }
            Ok(Err(e)) => return Err(format!("the command connection failed: {e}")),
            Err(_) => return Err("the command connection stopped answering".into()),
        };
        if epoch == c.link.epoch {
            return Ok(());
        }
        let old = c.link.epoch;
        c.link.epoch = epoch;
        self.shared.install(c.link.clone());
        self.epoch_changed(old, epoch);
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in &rooms {
            self.catch_up(c, room).await?;
        }
        Ok(())
    }
}

/// The room named by a channel in a push.
fn channel_room(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => room_of_channel(bytes).map(str::to_owned),
        Value::SimpleString(text) => room_of_channel(text.as_bytes()).map(str::to_owned),
        _ => None,
    }
}

/// Opens a client for `url`, speaking RESP3 (pushes and replies on one connection).
fn open_client(url: &str) -> Result<Client, BrokerError> {
    let info = url
        .into_connection_info()
        .map_err(|e| BrokerError::Internal(format!("bad Redis URL {}: {e}", redacted(url))))?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let info = info.set_redis_settings(settings);
    Client::open(info)
        .map_err(|e| BrokerError::Internal(format!("bad Redis URL {}: {e}", redacted(url))))
}

/// `url` without its password, for logs and errors.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Whether `err` means the connection is gone (rather than a refused command).
fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

/// Whether `err` may go away by itself (Redis loading its data, failing over).
fn is_transient(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
        )
    )
}

fn unavailable() -> BrokerError {
    BrokerError::Unavailable("Redis is unreachable; the relay is reconnecting".into())
}

fn closed() -> BrokerError {
    BrokerError::Unavailable("the message store is closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script's part of a message frame: three varints in bincode's encoding.
    fn script_varints(seq: u64, epoch: u64, ts: u64) -> Vec<u8> {
        encode(&(seq, epoch, ts))
    }

    #[test]
    fn message_frames_split_where_the_script_fills_in() {
        for (seq, epoch, ts) in [
            (1, 1, 0),
            (250, 251, 65_535),
            (65_536, (1 << 32) - 1, 1 << 32),
            (MAX_EPOCH, MAX_EPOCH, 1_760_000_000_000),
        ] {
            let frame = BusFrame {
                version: BUS_VERSION,
                origin: "node-a".into(),
                room: "lobby".into(),
                body: BusBody::Message {
                    seq,
                    epoch,
                    ts,
                    from: "Zoë".into(),
                    text: "héllo\nworld".into(),
                },
            };
            let mut assembled = message_prefix("node-a", "lobby");
            assembled.extend(script_varints(seq, epoch, ts));
            assembled.extend(message_suffix("Zoë", "héllo\nworld"));
            assert_eq!(assembled, frame.encode());
            assert_eq!(BusFrame::decode(&assembled), Ok(frame));
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        let frame = BusFrame {
            version: BUS_VERSION,
            origin: "n".into(),
            room: "r".into(),
            body: BusBody::Typing { nick: "ann".into() },
        };
        let bytes = frame.encode();
        assert_eq!(BusFrame::decode(&[]), Err(BusFrameError::Empty));
        let mut other_version = bytes.clone();
        other_version[0] = BUS_VERSION + 1;
        assert_eq!(
            BusFrame::decode(&other_version),
            Err(BusFrameError::Version(BUS_VERSION + 1))
        );
        assert!(matches!(
            BusFrame::decode(&bytes[..bytes.len() - 1]),
            Err(BusFrameError::Malformed(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            BusFrame::decode(&longer),
            Err(BusFrameError::Malformed(_))
        ));
        let mut unknown_variant = message_prefix("n", "r");
        *unknown_variant.last_mut().expect("prefix is not empty") = 9;
        assert!(matches!(
            BusFrame::decode(&unknown_variant),
            Err(BusFrameError::Malformed(_))
        ));
    }

    #[test]
    fn keys_share_the_room_hash_tag_and_map_back() {
        assert_eq!(seq_key("a.b"), "chitchat:{a.b}:seq");
        assert_eq!(log_key("a.b"), "chitchat:{a.b}:log");
        assert_eq!(channel("a.b"), "chitchat:{a.b}:ch");
        assert_eq!(
            room_of_channel(channel("Room-1").as_bytes()),
            Some("Room-1")
        );
        assert_eq!(room_of_channel(b"chitchat:{x}:log"), None);
        assert_eq!(room_of_channel(b"other"), None);
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redacted("redis://relay:s3cret@host:6379/0"),
            "redis://relay:***@host:6379/0"
        );
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
    }
}
