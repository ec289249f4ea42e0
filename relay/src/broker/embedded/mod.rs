//! The embedded broker: in-process fan-out and SQLite history, for a relay on its own.
//!
//! One database, `<data dir>/chitchat.db`, in WAL mode with `synchronous=NORMAL`: a
//! committed message survives the relay being killed, not necessarily a power loss. One
//! writer thread (`writer`) numbers, stores (group commit) and only then delivers; reads
//! run on a fixed pool of read-only connections shared by all sessions (`sqlite`, with the
//! schema): a read waits for a free one rather than taking a thread and a file of its own. An exclusive
//! lock on `<data dir>/chitchat.lock` keeps a second broker off the same data dir.
//!
//! Schema (version 1, in `PRAGMA user_version`): `meta(key, value)` holds `epoch` (the
//! store's creation time in ms, below [`chitchat_protocol::MAX_EPOCH`], never changed);
//! `messages(room, seq, sender, ts, text)` is keyed `(room, seq)`, `WITHOUT ROWID`, seqs
//! gapless from 1 per room. Retention (`retention`) deletes a room's oldest messages but
//! never its newest, so what is kept is always a run of seqs ending at the room's last.
//! Below the data dir's free-space floor (`disk`) sends are refused. Guest nick claims
//! (`claims`) and read markers (`markers`) are tables of their own, written by the same
//! writer thread.

mod claims;
mod disk;
mod entries;
mod markers;
mod retention;
mod rooms;
mod sqlite;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use chitchat_protocol::{Entry, Message, MessageState};
use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::api::{
    Broker, BrokerError, ClaimOutcome, Deliver, NewEntry, NickClaim, RoomChange, RoomHead,
    RoomPage, RoomRecord, Signal,
};
use disk::{DiskFloor, MB};
pub use retention::Retention;
use retention::RetentionPass;
use sqlite::{
    ReadPool, SELECT_BEFORE, SELECT_HEAD, acquire_lock, message_from_row, open_writer, sqlite_error,
};
use writer::Writer;

/// The database file inside the data dir.
pub const DB_FILE: &str = "chitchat.db";

/// The lock file inside the data dir: an empty SQLite database on which the broker holds an
/// exclusive lock while it runs. SQLite's own locking is used (rather than a lock-file
/// crate) because it already works across processes and between connections of one process.
pub const LOCK_FILE: &str = "chitchat.lock";

/// A [`super::Broker`] for a relay on its own: fan-out inside the process, history in
/// SQLite. See the module docs for how it stores and delivers.
///
/// The [`Deliver`] sink is called from the writer thread (messages) and from the caller of
/// [`Broker::signal`] (signals), under a lock that also guards the set of subscribed rooms;
/// it must return quickly and must not call back into the broker.
///
/// Shut down with [`EmbeddedBroker::close`]; dropping the broker also stores whatever is
/// queued, then waits for the writer thread to end.
pub struct EmbeddedBroker {
    state: Arc<EmbeddedState>,
    /// The writer's queue; `None` once dropped.
    queue: Option<mpsc::Sender<WriterCommand>>,
    /// The writer thread, joined on drop.
    writer: Option<JoinHandle<()>>,
    node_id: String,
    db_path: PathBuf,
    /// Sends are refused while the data dir's disk is below this floor.
    disk: DiskFloor,
}

/// What an embedded store keeps and how much disk it leaves free.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedOptions {
    /// What history is kept.
    pub retention: Retention,
    /// Megabytes that must stay free on the data dir's file system for sends to be
    /// stored; 0 turns the check off.
    pub min_free_disk_mb: u64,
}

/// State shared by the broker handle, the writer thread and read tasks.
struct EmbeddedState {
    sink: Arc<dyn Deliver>,
    /// Rooms whose messages and signals go to the sink. Held while calling the sink, so
    /// that once `unsubscribe` returns no further delivery for the room starts, and the
    /// sink never sees two calls at once.
    subscribed: Mutex<HashSet<String>>,
    /// Whether the writer thread is running.
    alive: AtomicBool,
    epoch: u64,
    readers: ReadPool,
}

/// What the writer thread is asked to do, in order.
enum WriterCommand {
    /// Number, store and deliver one message.
    Publish(Job),
    /// Store everything queued before this, then stop; answered once stopped.
    Close(oneshot::Sender<()>),
    /// Check, take or renew guest nick claims (see `Broker::claim_nicks`).
    Claim(ClaimJob),
    /// Create or change a room record.
    Room(rooms::RoomJob),
    /// Set a read marker (see `Broker::set_read_marker`).
    Marker(markers::MarkerJob),
}

/// Nick claims to check and whom to answer.
struct ClaimJob {
    claims: Vec<NickClaim>,
    ttl: Duration,
    reply: oneshot::Sender<Result<Vec<ClaimOutcome>, BrokerError>>,
}

/// An entry to check and store, and whom to answer.
struct Job {
    entry: NewEntry,
    reply: oneshot::Sender<Result<Entry, BrokerError>>,
}

impl EmbeddedBroker {
    /// Opens (creating if needed) the store in `data_dir` and starts its writer thread.
    ///
    /// Creates `data_dir` if it is missing. Fails if the directory cannot be created, the
    /// database cannot be opened or is not a ChitChat store, or another broker already uses
    /// the directory. Blocking: call it at start-up (or from `spawn_blocking`). Keeps all
    /// history and does not check free space; see [`EmbeddedBroker::open_with`].
    pub fn open(
        data_dir: &Path,
        sink: Arc<dyn Deliver>,
        node_id: String,
    ) -> Result<Self, BrokerError> {
        Self::open_with(data_dir, sink, node_id, EmbeddedOptions::default())
    }

    /// [`EmbeddedBroker::open`] with retention and a free-space floor.
    pub fn open_with(
        data_dir: &Path,
        sink: Arc<dyn Deliver>,
        node_id: String,
        options: EmbeddedOptions,
    ) -> Result<Self, BrokerError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            BrokerError::Internal(format!("creating data dir {}: {e}", data_dir.display()))
        })?;
        let lock = acquire_lock(&data_dir.join(LOCK_FILE))?;
        let db_path = data_dir.join(DB_FILE);
        let (conn, epoch) = open_writer(&db_path)?;
        let readers = ReadPool::new(db_path.clone());
        // Open one reader now, so a store readers cannot open fails here, not on first use.
        let reader = readers
            .take()
            .map_err(|e| sqlite_error(format_args!("opening {}", db_path.display()), e))?;
        readers.give(reader);

        let state = Arc::new(EmbeddedState {
            sink,
            subscribed: Mutex::new(HashSet::new()),
            alive: AtomicBool::new(true),
            epoch,
            readers,
        });
        let (queue, commands) = mpsc::channel();
        let writer = Writer {
            conn,
            _lock: lock,
            state: Arc::clone(&state),
            counters: HashMap::new(),
            last_ts: 0,
            retention: RetentionPass::new(options.retention),
        };
        let span = tracing::info_span!("store_writer", node = %node_id);
        let thread_state = Arc::clone(&state);
        let handle = std::thread::Builder::new()
            .name("chitchat-store-writer".into())
            .spawn(move || {
                let _enter = span.enter();
                let alive = AliveGuard(thread_state);
                let closed = writer.run(commands);
                drop(alive);
                tracing::info!("store writer stopped");
                if let Some(reply) = closed {
                    let _ = reply.send(());
                }
            })
            .map_err(|e| BrokerError::Internal(format!("starting the store writer thread: {e}")))?;
        tracing::info!(path = %db_path.display(), epoch, "message store open");
        Ok(EmbeddedBroker {
            state,
            queue: Some(queue),
            writer: Some(handle),
            node_id,
            db_path,
            disk: DiskFloor::new(
                data_dir.to_path_buf(),
                options.min_free_disk_mb.saturating_mul(MB),
            ),
        })
    }

    /// Stores every message already published, then stops the writer: later publishes
    /// fail with [`BrokerError::Unavailable`] and [`Broker::is_ready`] turns false. Reads
    /// keep working. Returns once the writer has stopped and released the data dir.
    pub async fn close(&self) {
        let (reply, stopped) = oneshot::channel();
        if let Some(queue) = &self.queue
            && queue.send(WriterCommand::Close(reply)).is_ok()
        {
            // An error means the writer already stopped, which is what we wait for.
            let _ = stopped.await;
        }
    }

    /// The store's epoch.
    pub fn epoch(&self) -> u64 {
        self.state.epoch
    }

    /// The node id this broker was opened with.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Runs `query` on a read connection on the blocking pool, once one of the pool's
    /// permits is free: however many sessions read at once, at most `MAX_READERS` threads
    /// and connections do.
    async fn read<T, F>(&self, what: String, query: F) -> Result<T, BrokerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        let task_what = what.clone();
        let permit = Arc::clone(&state.readers.permits)
            .acquire_owned()
            .await
            .map_err(|e| BrokerError::Internal(format!("{what}: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = state
                .readers
                .take()
                .map_err(|e| sqlite_error(format_args!("{task_what}: opening a reader"), e))?;
            let result = query(&conn).map_err(|e| sqlite_error(&task_what, e));
            // A connection that failed may be in a bad state: close it rather than reuse it.
            if result.is_ok() {
                state.readers.give(conn);
            }
            result
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("{what}: read task failed: {e}")))?
    }

    /// Runs a history query (`sql` takes the room, a seq bound and a limit) for at most
    /// `limit` messages of `room`, in the query's order.
    async fn read_messages(
        &self,
        what: String,
        sql: &'static str,
        room: &str,
        bound: i64,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let epoch = self.state.epoch;
        let owned = room.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(what, move |conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params![owned, bound, limit], |row| {
                message_from_row(&owned, epoch, row)
            })?;
            rows.collect()
        })
        .await
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        // Closing the queue makes the writer store what is queued, then stop.
        drop(self.queue.take());
        if let Some(handle) = self.writer.take()
            && handle.thread().id() != std::thread::current().id()
            && handle.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

#[async_trait::async_trait]
impl Broker for EmbeddedBroker {
    fn append(&self, entry: NewEntry) -> BoxFuture<'static, Result<Entry, BrokerError>> {
        if let Err(full) = self.disk.check() {
            return futures::future::ready(Err(BrokerError::StorageFull(full))).boxed();
        }
        let (reply, stored) = oneshot::channel();
        let queued = match &self.queue {
            Some(queue) => queue
                .send(WriterCommand::Publish(Job { entry, reply }))
                .is_ok(),
            None => false,
        };
        if !queued {
            return futures::future::ready(Err(closed())).boxed();
        }
        // The writer drops the reply only if it stopped without storing the message.
        async move { stored.await.unwrap_or_else(|_| Err(closed())) }.boxed()
    }

    async fn head(&self, room: &str) -> Result<RoomHead, BrokerError> {
        let epoch = self.state.epoch;
        let owned = room.to_owned();
        let (first, last) = self
            .read(format!("reading the head of room {room}"), move |conn| {
                conn.prepare_cached(SELECT_HEAD)?
                    .query_row([&owned], |row| {
                        Ok((row.get::<_, Option<u64>>(0)?, row.get::<_, Option<u64>>(1)?))
                    })
            })
            .await?;
        let last_seq = last.unwrap_or(0);
        Ok(RoomHead {
            epoch,
            last_seq,
            first_seq: first.unwrap_or(last_seq + 1),
        })
    }

    async fn read_entries_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, BrokerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let epoch = self.state.epoch;
        let owned = room.to_owned();
        self.read(
            format!("reading room {room} after seq {after}"),
            move |conn| entries::select_after(conn, &owned, epoch, after, limit),
        )
        .await
    }

    async fn read_states_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<MessageState>, BrokerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let epoch = self.state.epoch;
        let owned = room.to_owned();
        let before = before.unwrap_or(u64::MAX);
        self.read(
            format!("reading room {room} before seq {before}"),
            move |conn| entries::select_states_before(conn, &owned, epoch, before, limit),
        )
        .await
    }

    async fn read_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let what = format!("reading room {room} before seq {before}");
        let mut messages = self
            .read_messages(what, SELECT_BEFORE, room, before, limit)
            .await?;
        messages.reverse();
        Ok(messages)
    }

    async fn subscribe(&self, room: &str) -> Result<(), BrokerError> {
        self.state.subscribed().insert(room.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, room: &str) {
        self.state.subscribed().remove(room);
    }

    fn signal(&self, room: &str, signal: Signal) {
        let subscribed = self.state.subscribed();
        if subscribed.contains(room) {
            self.state.sink.signal(room, &signal);
        }
    }

    fn is_ready(&self) -> bool {
        self.state.alive.load(Ordering::Acquire)
    }

    async fn claim_nicks(
        &self,
        claims: &[NickClaim],
        ttl: Duration,
    ) -> Result<Vec<ClaimOutcome>, BrokerError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answered) = oneshot::channel();
        let job = ClaimJob {
            claims: claims.to_vec(),
            ttl,
            reply,
        };
        self.queue_command(WriterCommand::Claim(job))?;
        answered.await.unwrap_or_else(|_| Err(closed()))
    }

    async fn set_read_marker(&self, room: &str, user: &str, seq: u64) -> Result<u64, BrokerError> {
        let (reply, answered) = oneshot::channel();
        self.queue_command(WriterCommand::Marker(markers::MarkerJob {
            room: room.to_owned(),
            user: user.to_owned(),
            seq,
            reply,
        }))?;
        answered.await.unwrap_or_else(|_| Err(closed()))
    }

    async fn read_marker(&self, room: &str, user: &str) -> Result<Option<u64>, BrokerError> {
        let (room, user) = (room.to_owned(), user.to_owned());
        self.read(
            format!("reading a read marker in room {room}"),
            move |conn| markers::select_marker(conn, &room, &user, crate::clock::now_ms()),
        )
        .await
    }

    async fn create_room(&self, record: RoomRecord) -> Result<(RoomRecord, bool), BrokerError> {
        let (reply, answered) = oneshot::channel();
        self.queue_command(WriterCommand::Room(rooms::RoomJob::Create {
            record,
            reply,
        }))?;
        answered.await.unwrap_or_else(|_| Err(closed()))
    }

    async fn room(&self, room: &str) -> Result<Option<RoomRecord>, BrokerError> {
        let owned = room.to_owned();
        self.read(format!("reading room {room}'s record"), move |conn| {
            rooms::select_room(conn, &owned)
        })
        .await
    }

    async fn update_room(
        &self,
        room: &str,
        change: RoomChange,
    ) -> Result<Option<RoomRecord>, BrokerError> {
        let (reply, answered) = oneshot::channel();
        self.queue_command(WriterCommand::Room(rooms::RoomJob::Update {
            room: room.to_owned(),
            change,
            reply,
        }))?;
        answered.await.unwrap_or_else(|_| Err(closed()))
    }

    async fn archived_rooms(&self, limit: usize) -> Result<Vec<String>, BrokerError> {
        self.read("reading the archived rooms".into(), move |conn| {
            rooms::select_archived(conn, limit)
        })
        .await
    }

    async fn list_rooms(
        &self,
        search: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, BrokerError> {
        if limit == 0 {
            return Ok(RoomPage::default());
        }
        let search = search.to_owned();
        let after = after.map(str::to_owned);
        self.read("reading the room directory".into(), move |conn| {
            rooms::select_page(conn, &search, after.as_deref(), limit)
        })
        .await
    }
}

impl EmbeddedBroker {
    /// Hands a command to the writer thread; fails once it has stopped.
    fn queue_command(&self, command: WriterCommand) -> Result<(), BrokerError> {
        let queued = self
            .queue
            .as_ref()
            .is_some_and(|queue| queue.send(command).is_ok());
        if queued { Ok(()) } else { Err(closed()) }
    }
}

impl EmbeddedState {
    fn subscribed(&self) -> MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a sink panicked while it was held.
        self.subscribed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the writer stopped when the writer thread ends, by return or by panic.
struct AliveGuard(Arc<EmbeddedState>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

fn closed() -> BrokerError {
    BrokerError::Unavailable("the message store is closed".into())
}
