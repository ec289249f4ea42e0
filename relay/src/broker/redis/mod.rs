//! The Redis broker: numbering, history and fan-out in Redis, so several relays form a
//! cluster. [`RedisBroker`] composes one file per concern; one send reads top-down:
//!
//! - [`keys`]: every key and channel (the data layout);
//! - [`scripts`]: all Lua, and the compiled scripts;
//! - [`bus_frame`]: the frame relays exchange on a room's channel;
//! - `link`: the connections, deadlines and error classes;
//! - `sender`: the queue and the pipelined batches that carry publishes, signals and
//!   presence changes to Redis;
//! - `bus`: the subscriber task (`SSUBSCRIBE`, reconnection, resync), which hands frames
//!   to `delivery` (per-room seq order, gap filling) and watches each room's epoch;
//! - `seen`: per room, the highest seq seen, to notice a seq that went backwards;
//! - `stream`: history reads and reply parsing;
//! - `registry` and `presence`: the relays of the cluster and who is in each room;
//! - `claims`: guest nick claims, one expiring key per nick;
//! - [`cluster`]: one Redis or a Redis Cluster behind one connection type.
//!
//! Guarantees beyond [`Broker`]'s: messages published one after another are numbered in
//! call order; every relay sees one order per room, stamped with Redis's clock. While Redis
//! is unreachable publishes fail at once with [`BrokerError::Unavailable`]; a publish whose
//! connection drops while its script is in flight is reported unavailable although Redis
//! may have stored it (the message then reaches every relay like any other). Each room has
//! its own epoch ([`keys::epoch_key`], on the room's slot): when it changes (the room's
//! shard lost its data, or a failover made its seq go backwards and a relay gave it a new
//! one) the room is read again from seq 1. Every Redis call has a deadline.
//!
//! Redis must be 7 or newer (sharded pub/sub) and must not evict keys
//! (`maxmemory-policy noeviction`, the default): an evicted counter or epoch would
//! renumber rooms. The broker talks to one Redis endpoint (a single node, or one node in
//! cluster mode serving every slot), or to a Redis Cluster through its seed nodes
//! (`redis+cluster://`, see [`cluster`]), one connection per master.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chitchat_protocol::{Entry, EntryBody, Message, MessageState};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::api::{
    Broker, BrokerError, ClaimOutcome, Deliver, NewEntry, NewMessage, NickClaim, RelayInfo,
    RoomChange, RoomHead, RoomPage, RoomRecord, Signal,
};

mod bus;
pub mod bus_frame;
mod claims;
pub mod cluster;
mod delivery;
mod entries;
pub mod keys;
mod link;
mod markers;
mod presence;
mod registry;
mod rooms;
pub mod scripts;
mod seen;
mod sender;
mod stream;

pub use keys::{
    REGISTRATIONS_KEY, REGISTRY_INDEX, channel, claim_key, epoch_key, log_key, members_key,
    nicks_key, node_key, send_key, seq_key, state_key, states_key,
};
pub use registry::{CHECKS_PER_BEAT, DEFAULT_HEARTBEAT, NodeStatus, Registration, ttl};
pub use scripts::{
    BUMP_EPOCH_SCRIPT, CLAIM_SCRIPT, HEARTBEAT_SCRIPT, PRESENCE_SCRIPT, PUBLISH_SCRIPT,
    PURGE_SCRIPT, ROOM_EPOCH_SCRIPT, UNREGISTER_SCRIPT,
};

use bus::{BusCommand, BusTask};
use link::{ActiveConn, COMMAND_TIMEOUT, Connections, check_server, open_client, redacted};
use presence::{LocalPresence, PresenceChange};
use registry::RegistryState;
use scripts::Scripts;
use seen::Seen;
use sender::{Queued, run_sender};

/// How long a caller waits for the sender or bus task to answer at most. Each of their
/// steps is bounded by the command deadline; this only guards against a task that died.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// A [`Broker`] on Redis, for a cluster of relays. See the module docs for the guarantees
/// and [`keys`] for the data layout.
///
/// The [`Deliver`] sink is called from the broker's bus task only, for one room in seq
/// order; it must return quickly and must not call back into the broker.
///
/// [`RedisBroker::connect`] needs a Tokio runtime; the broker's tasks run on it. Shut down
/// with [`RedisBroker::close`]; dropping the broker sends whatever is queued, then stops.
pub struct RedisBroker {
    state: Arc<BrokerState>,
    /// The sender task's queue.
    queue: mpsc::UnboundedSender<Queued>,
    /// The bus task's commands.
    bus: mpsc::UnboundedSender<BusCommand>,
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
    /// How often the relay beats in the registry (at least 1 ms; see [`ttl`]).
    pub heartbeat: Duration,
    /// On a Redis Cluster, the replicas of a room's master that must have a message before
    /// it is acknowledged (`WAIT`); `None`: one on a shard with replicas, else none.
    pub min_replicas: Option<u32>,
    /// For `rediss://` (TLS): the PEM certificate(s) of the CA that signed the Redis
    /// servers' certificates; `None`: the system's trusted roots.
    pub tls_ca: Option<Vec<u8>>,
}

/// What the broker handle, the sender, the bus task and the registry task share: the
/// relay's identity and settings, and each concern's own state.
struct BrokerState {
    node_id: String,
    /// This process's instance id in the registry and in presence entries.
    instance: String,
    history_limit: usize,
    heartbeat: Duration,
    /// See [`RedisOptions::min_replicas`].
    min_replicas: Option<u32>,
    sink: Arc<dyn Deliver>,
    scripts: Scripts,
    /// The command connection in use.
    active: ActiveConn,
    /// What this relay saw of each room it delivers.
    seen: Seen,
    presence: LocalPresence,
    registry: RegistryState,
    /// Set by `close`: publishes fail from then on.
    closed: AtomicBool,
    /// Rooms the sink receives. Held while calling the sink, so once `unsubscribe` has
    /// removed a room no delivery for it starts, whatever the bus task is doing.
    delivering: Mutex<HashSet<String>>,
}

impl BrokerState {
    fn delivering(&self) -> MutexGuard<'_, HashSet<String>> {
        self.delivering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl RedisBroker {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`), checks it
    /// can serve (Redis 7 or newer, for sharded pub/sub) and starts the broker's tasks. Messages are delivered to `sink`; `node_id` names this
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
            min_replicas: None,
            tls_ca: None,
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
            min_replicas,
            tls_ca,
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
        let client = open_client(url, tls_ca.as_deref())?;
        let scripts = Scripts::new();
        let (trouble, trouble_rx) = mpsc::unbounded_channel();
        let (seen, rechecks) = Seen::new();
        let first = Connections::open(&client, &scripts.publish, 1).await?;
        check_server(&first.command.conn).await?;
        let state = Arc::new(BrokerState {
            instance: registry::new_instance(&node_id),
            node_id,
            history_limit,
            heartbeat,
            min_replicas,
            sink,
            scripts,
            active: ActiveConn::new(trouble),
            seen,
            presence: LocalPresence::new(),
            registry: RegistryState::new(),
            closed: AtomicBool::new(false),
            delivering: Mutex::new(HashSet::new()),
        });
        state.active.install(first.command.clone());
        // In the registry before any presence entry names this instance.
        let mut conn = first.command.conn.clone();
        let previous = registry::beat(&state, &mut conn)
            .await
            .map_err(|e| BrokerError::Unavailable(format!("joining the relay registry: {e}")))?;
        if let Some(previous) = previous {
            tracing::info!(
                previous,
                "this node id was registered by another instance, now replaced: its members \
                 are removed"
            );
        }
        let listing = registry::list(&mut conn)
            .await
            .map_err(|e| BrokerError::Unavailable(format!("listing the relays: {e}")))?;
        state.registry.store(listing);
        tracing::info!(
            node = %state.node_id,
            instance = %state.instance,
            redis = %redacted(url),
            "Redis broker connected"
        );

        let (queue, queue_rx) = mpsc::unbounded_channel();
        let (sender_done_tx, sender_done) = oneshot::channel();
        let span = tracing::info_span!("redis_sender", node = %state.node_id);
        let sender_state = Arc::clone(&state);
        tokio::spawn(
            async move {
                run_sender(sender_state, queue_rx).await;
                let _ = sender_done_tx.send(());
            }
            .instrument(span),
        );

        let (bus, bus_rx) = mpsc::unbounded_channel();
        let task = BusTask::new(
            Arc::clone(&state),
            client,
            bus_rx,
            trouble_rx,
            rechecks,
            sender_done,
            queue.downgrade(),
        );
        let span = tracing::info_span!("redis_bus", node = %state.node_id);
        tokio::spawn(task.run(first).instrument(span));

        let registry_stop = CancellationToken::new();
        let span = tracing::info_span!("redis_registry", node = %state.node_id);
        let registry_task = tokio::spawn(
            registry::run_registry(Arc::clone(&state), queue.downgrade(), registry_stop.clone())
                .instrument(span),
        );

        Ok(RedisBroker {
            state,
            queue,
            bus,
            _registry_stop_on_drop: registry_stop.clone().drop_guard(),
            registry_stop,
            registry_task: Mutex::new(Some(registry_task)),
        })
    }

    /// Says where this relay can be reached, and beats at once so that the registry lists
    /// it with its addresses when this returns. Should the beat fail, every later one
    /// carries them too.
    pub async fn register(&self, registration: Registration) -> Result<(), BrokerError> {
        self.state.registry.register(registration);
        let link = self.state.active.get()?;
        let mut conn = link.conn.clone();
        match registry::beat(&self.state, &mut conn).await {
            Ok(_) => {
                registry::refresh(&self.state, &link).await;
                Ok(())
            }
            Err(e) => Err(self.state.active.failed(&link, "registering the relay", &e)),
        }
    }

    /// This process's instance id in the registry and in presence entries.
    pub fn instance(&self) -> &str {
        &self.state.instance
    }

    /// Sends everything already published, takes this relay's members out of their rooms,
    /// leaves the registry, then stops: later publishes fail with
    /// [`BrokerError::Unavailable`], [`Broker::is_ready`] turns false, nothing more is
    /// delivered and the connections close. Reads fail from then on too.
    pub async fn close(&self) {
        self.state.closed.store(true, Ordering::Release);
        self.registry_stop.cancel();
        let task = self
            .registry_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, task).await;
        }
        for room in self.state.presence.rooms_held() {
            let _ = self.queue.send(Queued::Presence {
                room,
                change: PresenceChange::Clear,
            });
        }
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Queued::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, flushed).await;
        }
        if let Some(link) = self.state.active.current() {
            let mut conn = link.conn.clone();
            registry::unregister(&self.state, &mut conn).await;
        }
        let (done, stopped) = oneshot::channel();
        if self.bus.send(BusCommand::Close(done)).is_ok() {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, stopped).await;
        }
        self.state.active.uninstall();
    }

    /// The node id this broker was connected with.
    pub fn node_id(&self) -> &str {
        &self.state.node_id
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    fn append(&self, entry: NewEntry) -> BoxFuture<'static, Result<Entry, BrokerError>> {
        if self.state.closed.load(Ordering::Acquire) {
            return futures::future::ready(Err(closed())).boxed();
        }
        if !self.state.active.is_ready() {
            return futures::future::ready(Err(link::unavailable())).boxed();
        }
        // Plain texts take the publish queue (pipelined, in line); the rest the entry script.
        let msg = match entry.body {
            EntryBody::Text {
                text,
                reply_to: None,
            } => NewMessage {
                room: entry.room,
                from: entry.from,
                text,
                send_id: entry.send_id,
            },
            body => {
                let state = Arc::clone(&self.state);
                let entry = NewEntry { body, ..entry };
                return async move { entries::append(&state, entry).await }.boxed();
            }
        };
        let (reply, stored) = oneshot::channel();
        let item = Queued::Publish {
            msg,
            queued: Instant::now(),
            reply,
        };
        if self.queue.send(item).is_err() {
            return futures::future::ready(Err(closed())).boxed();
        }
        async move {
            match tokio::time::timeout(ANSWER_TIMEOUT, stored).await {
                Ok(Ok(result)) => result.map(|m: Message| text_entry(m)),
                Ok(Err(_)) => Err(closed()),
                Err(_) => Err(BrokerError::Unavailable(
                    "Redis did not store the message in time".into(),
                )),
            }
        }
        .boxed()
    }

    async fn head(&self, room: &str) -> Result<RoomHead, BrokerError> {
        stream::head(&self.state.active, room, self.state.seen.floor(room)).await
    }

    async fn read_entries_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, BrokerError> {
        stream::read_after(&self.state.active, room, after, limit).await
    }

    async fn read_states_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<MessageState>, BrokerError> {
        entries::read_states_before(&self.state, room, before, limit).await
    }

    async fn read_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        stream::read_before(&self.state.active, room, before, limit).await
    }

    async fn subscribe(&self, room: &str) -> Result<(), BrokerError> {
        // Everything this relay sent before is on Redis before the subscription starts, so
        // none of it comes back as live traffic.
        let (done, flushed) = oneshot::channel();
        self.queue
            .send(Queued::Barrier(done))
            .map_err(|_| closed())?;
        match tokio::time::timeout(ANSWER_TIMEOUT, flushed).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(closed()),
            Err(_) => return Err(BrokerError::Unavailable("Redis is not answering".into())),
        }
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let (reply, answered) = oneshot::channel();
        self.bus
            .send(BusCommand::Subscribe {
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
        self.state.delivering().remove(room);
        let (reply, answered) = oneshot::channel();
        let command = BusCommand::Unsubscribe {
            room: room.to_owned(),
            reply,
        };
        if self.bus.send(command).is_ok()
            && tokio::time::timeout(ANSWER_TIMEOUT, answered)
                .await
                .is_err()
        {
            tracing::warn!(room, "leaving the room's Redis channel is taking long");
        }
    }

    fn signal(&self, room: &str, signal: Signal) {
        if !self.state.active.is_ready() {
            return;
        }
        let frame = bus_frame::signal_frame(&self.state.node_id, room, signal).encode();
        // Best effort: a closed queue means the broker is stopping.
        let _ = self.queue.send(Queued::Signal {
            room: room.to_owned(),
            frame,
        });
    }

    fn is_ready(&self) -> bool {
        self.state.active.is_ready() && !self.state.closed.load(Ordering::Acquire)
    }

    /// Records the change in this relay's presence map (what is asserted again after a
    /// reconnection) and queues it for Redis, which announces the room-wide change. `node`
    /// is this relay's; presence entries always name this broker's instance.
    fn presence(&self, room: &str, _node: &str, nick: &str, joined: bool) {
        self.state.presence.record(room, nick, joined);
        if !self.is_ready() {
            // Asserted again once Redis is back.
            return;
        }
        let change = if joined {
            PresenceChange::Add(nick.to_owned())
        } else {
            PresenceChange::Remove(nick.to_owned())
        };
        let _ = self.queue.send(Queued::Presence {
            room: room.to_owned(),
            change,
        });
    }

    async fn claim_nicks(
        &self,
        claims: &[NickClaim],
        ttl: Duration,
    ) -> Result<Vec<ClaimOutcome>, BrokerError> {
        if self.state.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        claims::claim_nicks(&self.state, claims, ttl).await
    }

    async fn set_read_marker(&self, room: &str, user: &str, seq: u64) -> Result<u64, BrokerError> {
        markers::set(&self.state.active, room, user, seq).await
    }

    async fn read_marker(&self, room: &str, user: &str) -> Result<Option<u64>, BrokerError> {
        markers::get(&self.state.active, room, user).await
    }

    async fn create_room(&self, record: RoomRecord) -> Result<(RoomRecord, bool), BrokerError> {
        rooms::create(&self.state.active, record).await
    }

    async fn room(&self, room: &str) -> Result<Option<RoomRecord>, BrokerError> {
        rooms::get(&self.state.active, room).await
    }

    async fn update_room(
        &self,
        room: &str,
        change: RoomChange,
    ) -> Result<Option<RoomRecord>, BrokerError> {
        rooms::update(&self.state.active, room, change).await
    }

    async fn archived_rooms(&self, limit: usize) -> Result<Vec<String>, BrokerError> {
        rooms::archived(&self.state.active, limit).await
    }

    async fn list_rooms(
        &self,
        search: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, BrokerError> {
        rooms::list(&self.state.active, search, after, limit).await
    }

    async fn room_members(&self, room: &str) -> Result<Option<Vec<String>>, BrokerError> {
        if self.state.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let link = self.state.active.get()?;
        let mut conn = link.conn.clone();
        match presence::room_nicks(&mut conn, room).await {
            Ok(mut nicks) => {
                nicks.sort();
                Ok(Some(nicks))
            }
            Err(e) => Err(self
                .state
                .active
                .failed(&link, "reading a room's members", &e)),
        }
    }

    async fn relays(&self) -> Result<Option<Vec<RelayInfo>>, BrokerError> {
        match self.state.registry.fresh_relays(self.state.heartbeat) {
            Some(relays) => Ok(Some(relays)),
            None => Err(BrokerError::Unavailable(
                "the relay registry could not be read lately".into(),
            )),
        }
    }
}

fn closed() -> BrokerError {
    BrokerError::Unavailable("the message store is closed".into())
}

/// A stored plain text as a log entry.
fn text_entry(m: Message) -> Entry {
    Entry {
        room: m.room,
        seq: m.seq,
        epoch: m.epoch,
        from: m.from,
        ts: m.ts,
        body: EntryBody::Text {
            text: m.text,
            reply_to: None,
        },
    }
}
