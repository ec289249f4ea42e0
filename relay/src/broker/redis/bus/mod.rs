//! The bus task: owns the subscriber connection (`SSUBSCRIBE` to the channels of the rooms
//! this relay has members in), reconnects, and is the only caller of the
//! [`Deliver`](crate::broker::api::Deliver) sink. Per room it keeps the epoch and the last
//! seq delivered: duplicates are dropped and a jump in seq is filled from history first.
//! After a lost connection it subscribes every room again and catches each one up, so the
//! sink still sees every room gapless. When Redis Cluster ends one room's subscription (its
//! slot moved to another master), only that room is subscribed again, on its new master,
//! and caught up. `epochs` watches each room's epoch.

mod epochs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::{PushInfo, PushKind, RedisError, Value};
use chitchat_protocol::bus::BusFrame;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use super::bus_frame::signal_of;
use super::cluster::Endpoint;
use super::delivery::{Delivered, Delivery};
use super::keys::{channel, channel_room};
use super::link::{COMMAND_TIMEOUT, Connections, is_connection_error};
use super::presence::{PresenceChange, purge_room, room_nicks};
use super::registry::beat;
use super::sender::Queued;
use super::stream::{HistoryError, ReadError, read_head};
use super::{ANSWER_TIMEOUT, BrokerState};
use crate::broker::api::BrokerError;

/// The first delay before reconnecting, doubled after each failed attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(50);

/// The longest delay between reconnect attempts: short enough that a relay is back within
/// seconds of Redis, long enough that a cluster of relays does not hammer a recovering one.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How often the bus task checks that both connections answer and that no delivered room's
/// epoch has changed. A killed Redis is noticed at once (the socket closes); this catches a
/// silent network failure or a flushed store.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// A command for the bus task.
pub(super) enum BusCommand {
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

/// Why the bus task gave up a connection (it then reconnects).
#[derive(Debug, thiserror::Error)]
pub(super) enum BusError {
    #[error("the subscriber connection closed")]
    SubscriberClosed,
    #[error("the subscriber connection failed: {0}")]
    Subscriber(RedisError),
    #[error("the subscriber connection stopped answering")]
    SubscriberSilent,
    /// The sender, a reader or the registry task reported the command connection broken.
    #[error("a command failed on the connection")]
    Reported,
    #[error("the command connection failed: {0}")]
    Command(RedisError),
    #[error("the command connection stopped answering")]
    CommandSilent,
    #[error("{command} {room}: {reason}")]
    Refused {
        command: &'static str,
        room: String,
        reason: String,
    },
    #[error("{command} {room}: {source}")]
    Subscription {
        command: &'static str,
        room: String,
        source: RedisError,
    },
    #[error("{command} {room} timed out")]
    SubscriptionTimeout { command: &'static str, room: String },
    #[error("reading the head of room {room}: {source}")]
    Head { room: String, source: RedisError },
    #[error("reading the head of room {0} timed out")]
    HeadTimeout(String),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("reading room {room}'s members: {source}")]
    Members { room: String, source: RedisError },
    #[error("purging room {room}: {source}")]
    Purge { room: String, source: RedisError },
    #[error("the heartbeat failed: {0}")]
    Heartbeat(RedisError),
}

/// Why the bus task left a connection.
enum Exit {
    Lost(BusError),
    Closed,
}

/// The bus task's state.
pub(super) struct BusTask {
    state: Arc<BrokerState>,
    client: Endpoint,
    commands: mpsc::UnboundedReceiver<BusCommand>,
    trouble: mpsc::UnboundedReceiver<u64>,
    /// Rooms whose epoch to read again (see [`super::seen::Seen::recheck`]).
    rechecks: mpsc::UnboundedReceiver<String>,
    /// Fires when the sender task has sent everything (the broker was dropped).
    sender_done: Option<oneshot::Receiver<()>>,
    delivery: Delivery,
    /// The sender task's queue, for asserting presence after a reconnection (weak: the
    /// sender stops once the broker handle is gone).
    queue: mpsc::WeakUnboundedSender<Queued>,
    /// Per room, subscription changes sent on the current connection whose confirmation
    /// push has not been seen yet. Until it is, frames on the channel belong to an older
    /// subscription and are dropped.
    pending: HashMap<String, u32>,
    /// Rooms whose subscription Redis ended on the current connection (Redis Cluster does
    /// when a slot moves to another master), to subscribe again on their new master.
    moved: Vec<String>,
    generation: u64,
}

impl BusTask {
    /// The task for connections of `client`, starting at generation 1; `trouble` receives
    /// the generations whose command connection failed.
    pub fn new(
        state: Arc<BrokerState>,
        client: Endpoint,
        commands: mpsc::UnboundedReceiver<BusCommand>,
        trouble: mpsc::UnboundedReceiver<u64>,
        rechecks: mpsc::UnboundedReceiver<String>,
        sender_done: oneshot::Receiver<()>,
        queue: mpsc::WeakUnboundedSender<Queued>,
    ) -> BusTask {
        BusTask {
            rechecks,
            delivery: Delivery::new(Arc::clone(&state)),
            state,
            client,
            commands,
            trouble,
            sender_done: Some(sender_done),
            queue,
            pending: HashMap::new(),
            moved: Vec::new(),
            generation: 1,
        }
    }

    /// Serves `first`, then reconnects whenever a connection is lost, until closed.
    pub async fn run(mut self, first: Connections) {
        let mut next = Some(first);
        loop {
            let connected = match next.take() {
                Some(connected) => connected,
                None => match self.reconnect().await {
                    Some(connected) => connected,
                    None => break,
                },
            };
            let generation = connected.command.generation;
            match self.serve(connected).await {
                Exit::Closed => break,
                Exit::Lost(why) => {
                    tracing::warn!(generation, reason = %why, "lost the Redis connection");
                    self.state.active.uninstall();
                }
            }
        }
        self.state.active.uninstall();
        tracing::info!("Redis broker stopped");
    }

    /// Connects again with capped, jittered exponential backoff; `None` once closed.
    async fn reconnect(&mut self) -> Option<Connections> {
        let mut backoff = BACKOFF_MIN;
        loop {
            // Full jitter between half and all of the backoff spreads a cluster's retries.
            let delay = backoff.mul_f64(rand::rng().random_range(0.5..=1.0));
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = self.commands.recv() => {
                        if !self.serve_offline(command).await {
                            return None;
                        }
                    }
                    Some(_) = self.trouble.recv() => {}
                }
            }
            self.generation += 1;
            let script = &self.state.scripts.publish;
            match Connections::open(&self.client, script, self.generation).await {
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
    async fn serve_offline(&mut self, command: Option<BusCommand>) -> bool {
        match command {
            Some(BusCommand::Subscribe { room, reply, .. }) => {
                let _ = reply.send(Err(BrokerError::Unavailable(format!(
                    "cannot subscribe to room {room}: Redis is unreachable"
                ))));
                true
            }
            Some(BusCommand::Unsubscribe { room, reply }) => {
                self.delivery.stop(&room);
                let _ = reply.send(());
                true
            }
            Some(BusCommand::Close(reply)) => {
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
    async fn serve(&mut self, mut c: Connections) -> Exit {
        self.pending.clear();
        self.moved.clear();
        self.state.active.install(c.command.clone());
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
                command = self.commands.recv() => match command {
                    None => {
                        self.wait_for_sender().await;
                        return Exit::Closed;
                    }
                    Some(BusCommand::Close(reply)) => {
                        let _ = reply.send(());
                        return Exit::Closed;
                    }
                    Some(command) => self.command(&mut c, command).await,
                },
                push = c.pushes.recv() => match push {
                    Some(push) => self.push(&mut c, push).await,
                    None => Err(BusError::SubscriberClosed),
                },
                Some(generation) = self.trouble.recv() => {
                    if generation == c.command.generation {
                        Err(BusError::Reported)
                    } else {
                        Ok(())
                    }
                }
                Some(room) = self.rechecks.recv() => self.check_room(&mut c, &room).await,
                _ = health.tick() => self.health(&mut c).await,
            };
            let step = match step {
                Ok(()) => self.follow_moved(&mut c).await,
                lost => lost,
            };
            if let Err(why) = step {
                return Exit::Lost(why);
            }
        }
    }

    /// After (re)connecting: subscribes every room again and delivers what it missed.
    async fn resync(&mut self, c: &mut Connections) -> Result<(), BusError> {
        let rooms = self.delivery.rooms();
        for room in &rooms {
            self.send_subscription(c, "SSUBSCRIBE", room).await?;
        }
        for room in &rooms {
            self.verify_room(c, room).await?;
            self.delivery.catch_up(&mut c.pubsub, room).await?;
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

    /// Subscribes again each room whose subscription Redis ended because its slot moved:
    /// the subscription follows `MOVED` to the slot's new master, then the room is caught
    /// up from history after the last seq delivered (what was stored while no subscription
    /// stood) and its members read anew. The other rooms' subscriptions are left alone.
    async fn follow_moved(&mut self, c: &mut Connections) -> Result<(), BusError> {
        while let Some(room) = self.moved.pop() {
            if !self.delivery.contains(&room) {
                continue;
            }
            self.send_subscription(c, "SSUBSCRIBE", &room).await?;
            self.verify_room(c, &room).await?;
            self.delivery.catch_up(&mut c.pubsub, &room).await?;
            self.presence_snapshot(c, &room).await?;
            tracing::info!(room, "subscribed again after the room's slot moved");
        }
        Ok(())
    }

    /// Beats, then asserts this relay's presence in every room it holds nicks in, through
    /// the sender's queue (so no change queued meanwhile is overtaken), and waits for it.
    async fn reassert(&mut self, c: &mut Connections) -> Result<(), BusError> {
        let mut conn = c.command.conn.clone();
        if let Err(e) = beat(&self.state, &mut conn).await {
            if is_connection_error(&e) {
                return Err(BusError::Heartbeat(e));
            }
            tracing::error!(error = %e, "the heartbeat failed");
        }
        let Some(queue) = self.queue.upgrade() else {
            return Ok(());
        };
        for room in self.state.presence.rooms_held() {
            let _ = queue.send(Queued::Presence {
                room,
                change: PresenceChange::Sync,
            });
        }
        let (done, flushed) = oneshot::channel();
        if queue.send(Queued::Barrier(done)).is_ok() {
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
    async fn presence_snapshot(&mut self, c: &mut Connections, room: &str) -> Result<(), BusError> {
        let mut conn = c.pubsub.clone();
        let listing = self.state.registry.live_instances();
        if let Err(e) = purge_room(&self.state, &mut conn, room, listing).await {
            if is_connection_error(&e) {
                return Err(BusError::Purge {
                    room: room.to_owned(),
                    source: e,
                });
            }
            tracing::error!(room, error = %e, "purging the room's dead members failed");
        }
        let nicks = room_nicks(&mut conn, room)
            .await
            .map_err(|source| BusError::Members {
                room: room.to_owned(),
                source,
            })?;
        while let Ok(push) = c.pushes.try_recv() {
            self.push(c, push).await?;
        }
        let delivering = self.state.delivering();
        if delivering.contains(room) {
            self.state.sink.members(room, &nicks);
        }
        Ok(())
    }

    async fn command(&mut self, c: &mut Connections, command: BusCommand) -> Result<(), BusError> {
        match command {
            BusCommand::Subscribe {
                room,
                deadline,
                reply,
            } => self.subscribe(c, room, deadline, reply).await,
            BusCommand::Unsubscribe { room, reply } => {
                let result = if self.delivery.stop(&room) {
                    self.send_subscription(c, "SUNSUBSCRIBE", &room).await
                } else {
                    Ok(())
                };
                let _ = reply.send(());
                result
            }
            BusCommand::Close(reply) => {
                let _ = reply.send(());
                Ok(())
            }
        }
    }

    /// Subscribes to `room`'s channel, then starts delivering after its head and hands the
    /// sink its members.
    async fn subscribe(
        &mut self,
        c: &mut Connections,
        room: String,
        deadline: Instant,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    ) -> Result<(), BusError> {
        if Instant::now() > deadline {
            let _ = reply.send(Err(BrokerError::Unavailable(format!(
                "subscribing to room {room} took too long"
            ))));
            return Ok(());
        }
        if self.delivery.contains(&room) {
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
        let floor = self.state.seen.floor(&room);
        let head = tokio::time::timeout(COMMAND_TIMEOUT, read_head(&mut conn, &room, floor)).await;
        let refused = match head {
            Ok(Ok(head)) => {
                self.delivery.start(room.clone(), head.epoch, head.last_seq);
                self.state.delivering().insert(room.clone());
                // A failure here loses the connection; the resync reads the members again,
                // so the subscription itself stands.
                let snapshot = self.presence_snapshot(c, &room).await;
                let _ = reply.send(Ok(()));
                return snapshot;
            }
            Err(_) => {
                let why = BusError::HeadTimeout(room);
                let _ = reply.send(Err(BrokerError::Unavailable(why.to_string())));
                return Err(why);
            }
            Ok(Err(ReadError::Redis(e))) if is_connection_error(&e) => {
                let why = BusError::Head { room, source: e };
                let _ = reply.send(Err(BrokerError::Unavailable(why.to_string())));
                return Err(why);
            }
            Ok(Err(ReadError::Redis(e))) => e.to_string(),
            Ok(Err(ReadError::Format(why))) => why,
        };
        // The room's keys hold something unexpected: refuse this room, keep the rest. The
        // channel is left before the caller hears of it, so a refused subscribe leaves no
        // subscription behind once it returns.
        tracing::error!(room, reason = %refused, "cannot subscribe to the room");
        let left = self.send_subscription(c, "SUNSUBSCRIBE", &room).await;
        let _ = reply.send(Err(BrokerError::Internal(format!(
            "reading the head of room {room}: {refused}"
        ))));
        left
    }

    /// Sends `SSUBSCRIBE` or `SUNSUBSCRIBE` for one room and waits for its confirmation.
    async fn send_subscription(
        &mut self,
        c: &mut Connections,
        command: &'static str,
        room: &str,
    ) -> Result<(), BusError> {
        *self.pending.entry(room.to_owned()).or_default() += 1;
        let mut cmd = ::redis::cmd(command);
        cmd.arg(channel(room));
        let room = room.to_owned();
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Value>(&mut c.pubsub)).await {
            Ok(Ok(Value::ServerError(e))) => Err(BusError::Refused {
                command,
                room,
                reason: format!("{e:?}"),
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(BusError::Subscription {
                command,
                room,
                source,
            }),
            Err(_) => Err(BusError::SubscriptionTimeout { command, room }),
        }
    }

    async fn push(&mut self, c: &mut Connections, push: PushInfo) -> Result<(), BusError> {
        match push.kind {
            PushKind::Disconnection => Err(BusError::SubscriberClosed),
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
                    // The serve loop subscribes the room again once this push is handled.
                    None if push.kind == PushKind::SUnsubscribe
                        && self.delivery.contains(&room) =>
                    {
                        if !self.moved.contains(&room) {
                            self.moved.push(room);
                        }
                        Ok(())
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
                if self.pending.contains_key(&room) || !self.delivery.contains(&room) {
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
                if let Some(signal) = signal_of(&frame) {
                    let delivering = self.state.delivering();
                    if delivering.contains(&room) {
                        self.state.sink.signal(&room, &signal);
                    }
                    return Ok(());
                }
                let Some(msg) = frame.entry() else {
                    return Ok(());
                };
                match self
                    .delivery
                    .deliver_in_order(&mut c.pubsub, &room, msg)
                    .await?
                {
                    Delivered::Done => Ok(()),
                    // The room has a new epoch, or this is a late frame of the old one.
                    Delivered::OtherEpoch => self.check_room(c, &room).await,
                    Delivered::Reused { epoch } => self.diverged(c, &room, epoch).await,
                }
            }
            _ => Ok(()),
        }
    }

    /// Checks that both connections answer and that no room's epoch changed.
    async fn health(&mut self, c: &mut Connections) -> Result<(), BusError> {
        let mut pubsub = c.pubsub.clone();
        let ping = ::redis::cmd("PING");
        match tokio::time::timeout(COMMAND_TIMEOUT, ping.query_async::<Value>(&mut pubsub)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(BusError::Subscriber(e)),
            Err(_) => return Err(BusError::SubscriberSilent),
        }
        self.check_epochs(c).await
    }
}
