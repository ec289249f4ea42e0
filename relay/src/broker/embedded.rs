//! The embedded broker: in-process fan-out and SQLite history, for a relay on its own.
//!
//! One database, `<data dir>/chitchat.db`, in WAL mode with `synchronous=NORMAL`: a
//! committed message survives the relay being killed, not necessarily a power loss. One
//! writer thread numbers, stores (group commit) and only then delivers; reads run on a
//! small pool of read-only connections. An exclusive lock on `<data dir>/chitchat.lock`
//! keeps a second broker off the same data dir.
//!
//! Schema (version 1, in `PRAGMA user_version`): `meta(key, value)` holds `epoch` (the
//! store's creation time in ms, below [`chitchat_protocol::MAX_EPOCH`], never changed);
//! `messages(room, seq, sender, ts, text)` is keyed `(room, seq)`, `WITHOUT ROWID`, seqs
//! gapless from 1 per room, never deleted.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use chitchat_protocol::{MAX_EPOCH, Message};
use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use super::api::{Broker, BrokerError, Deliver, NewMessage, RoomHead, Signal};
use crate::clock::now_ms;

/// The database file inside the data dir.
pub const DB_FILE: &str = "chitchat.db";

/// The lock file inside the data dir: an empty SQLite database on which the broker holds an
/// exclusive lock while it runs. SQLite's own locking is used (rather than a lock-file
/// crate) because it already works across processes and between connections of one process.
pub const LOCK_FILE: &str = "chitchat.lock";

/// The schema version this code writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// The most messages committed in one transaction. Group commit drains the queue, but a
/// bound keeps the first message of a huge burst from waiting for the whole burst, and
/// bounds the time the writer spends delivering one batch.
const MAX_BATCH: usize = 4096;

/// How long a connection waits for a lock held by another connection before failing. The
/// writer only competes with WAL checkpoints and readers only with WAL recovery, both short;
/// this bound turns a wedged file into an error instead of a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle read connections kept open for reuse. Reads run on tokio's blocking pool, so more
/// may be open at once under load; beyond this many, returned connections are closed.
const MAX_IDLE_READERS: usize = 8;

/// Prepared statements each connection keeps. The broker uses fewer than this many
/// distinct statements, so every one stays prepared.
const STATEMENT_CACHE: usize = 16;

const INSERT_MESSAGE: &str =
    "INSERT INTO messages (room, seq, sender, ts, text) VALUES (?1, ?2, ?3, ?4, ?5)";
const SELECT_LAST_SEQ: &str = "SELECT MAX(seq) FROM messages WHERE room = ?1";
const SELECT_HEAD: &str = "SELECT MIN(seq), MAX(seq) FROM messages WHERE room = ?1";
const SELECT_AFTER: &str = "SELECT seq, sender, ts, text FROM messages \
     WHERE room = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3";
const SELECT_BEFORE: &str = "SELECT seq, sender, ts, text FROM messages \
     WHERE room = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3";

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
}

/// A message to store and whom to answer.
struct Job {
    msg: NewMessage,
    reply: oneshot::Sender<Result<Message, BrokerError>>,
}

impl EmbeddedBroker {
    /// Opens (creating if needed) the store in `data_dir` and starts its writer thread.
    ///
    /// Creates `data_dir` if it is missing. Fails if the directory cannot be created, the
    /// database cannot be opened or is not a ChitChat store, or another broker already uses
    /// the directory. Blocking: call it at start-up (or from `spawn_blocking`).
    pub fn open(
        data_dir: &Path,
        sink: Arc<dyn Deliver>,
        node_id: String,
    ) -> Result<Self, BrokerError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            BrokerError::Internal(format!("creating data dir {}: {e}", data_dir.display()))
        })?;
        let lock = acquire_lock(&data_dir.join(LOCK_FILE))?;
        let db_path = data_dir.join(DB_FILE);
        let (conn, epoch) = open_writer(&db_path)?;
        let readers = ReadPool {
            path: db_path.clone(),
            idle: Mutex::new(Vec::new()),
        };
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

    /// Runs `query` on a read connection on the blocking pool.
    async fn read<T, F>(&self, what: String, query: F) -> Result<T, BrokerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        let task_what = what.clone();
        tokio::task::spawn_blocking(move || {
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
    fn publish(&self, msg: NewMessage) -> BoxFuture<'static, Result<Message, BrokerError>> {
        let (reply, stored) = oneshot::channel();
        let queued = match &self.queue {
            Some(queue) => queue
                .send(WriterCommand::Publish(Job { msg, reply }))
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

    async fn read_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let epoch = self.state.epoch;
        let owned = room.to_owned();
        // Seqs never exceed i64::MAX, so clamping keeps the meaning of any u64 bound.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(
            format!("reading room {room} after seq {after}"),
            move |conn| {
                let mut stmt = conn.prepare_cached(SELECT_AFTER)?;
                let rows = stmt.query_map(params![owned, after, limit], |row| {
                    message_from_row(&owned, epoch, row)
                })?;
                rows.collect()
            },
        )
        .await
    }

    async fn read_before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, BrokerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let epoch = self.state.epoch;
        let owned = room.to_owned();
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut messages = self
            .read(
                format!("reading room {room} before seq {before}"),
                move |conn| {
                    let mut stmt = conn.prepare_cached(SELECT_BEFORE)?;
                    let rows = stmt.query_map(params![owned, before, limit], |row| {
                        message_from_row(&owned, epoch, row)
                    })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                },
            )
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

/// The writer thread's state.
struct Writer {
    conn: Connection,
    /// Held for the writer's life; see [`LOCK_FILE`].
    _lock: Connection,
    state: Arc<EmbeddedState>,
    /// The last seq stored per room, for rooms written since start.
    counters: HashMap<String, u64>,
    /// The last timestamp given, so timestamps never go backwards within a run.
    last_ts: u64,
}

impl Writer {
    /// Serves the queue until it closes or a `Close` arrives; returns the `Close` reply.
    fn run(mut self, commands: mpsc::Receiver<WriterCommand>) -> Option<oneshot::Sender<()>> {
        let mut batch = Vec::new();
        // `recv` fails once every handle is gone and the queue is drained.
        while let Ok(first) = commands.recv() {
            let mut next = Some(first);
            let mut closing = None;
            while let Some(command) = next.take() {
                match command {
                    WriterCommand::Publish(job) => batch.push(job),
                    WriterCommand::Close(reply) => {
                        closing = Some(reply);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = commands.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write(std::mem::take(&mut batch));
            }
            if closing.is_some() {
                return closing;
            }
        }
        None
    }

    /// Stores one batch, then delivers it and answers its publishers.
    fn write(&mut self, batch: Vec<Job>) {
        self.last_ts = now_ms().max(self.last_ts);
        let ts = self.last_ts;
        match self.store(&batch, ts) {
            Ok(messages) => {
                for msg in &messages {
                    let subscribed = self.state.subscribed();
                    if subscribed.contains(&msg.room) {
                        self.state.sink.message(msg);
                    }
                }
                for (job, msg) in batch.into_iter().zip(messages) {
                    // The publisher may have stopped waiting; the message is stored anyway.
                    let _ = job.reply.send(Ok(msg));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, messages = batch.len(), "storing messages failed");
                // The transaction rolled back: reload counters from what is really stored.
                self.counters.clear();
                for job in batch {
                    let _ = job.reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Numbers and stores `batch` in one transaction; the messages as stored, in order.
    fn store(&mut self, batch: &[Job], ts: u64) -> Result<Vec<Message>, BrokerError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite_error("starting a transaction", e))?;
        let mut messages = Vec::with_capacity(batch.len());
        {
            let mut insert = tx
                .prepare_cached(INSERT_MESSAGE)
                .map_err(|e| sqlite_error("preparing the insert", e))?;
            let mut last_seq = tx
                .prepare_cached(SELECT_LAST_SEQ)
                .map_err(|e| sqlite_error("preparing the last-seq query", e))?;
            for Job { msg, .. } in batch {
                let counter = match self.counters.get_mut(&msg.room) {
                    Some(counter) => counter,
                    None => {
                        let last: Option<u64> = last_seq
                            .query_row([&msg.room], |row| row.get(0))
                            .map_err(|e| {
                            sqlite_error(
                                format_args!("reading the last seq of room {}", msg.room),
                                e,
                            )
                        })?;
                        self.counters
                            .entry(msg.room.clone())
                            .or_insert(last.unwrap_or(0))
                    }
                };
                *counter += 1;
                let seq = *counter;
                insert
                    .execute(params![msg.room, seq, msg.from, ts, msg.text])
                    .map_err(|e| {
                        sqlite_error(format_args!("storing seq {seq} of room {}", msg.room), e)
                    })?;
                messages.push(Message {
                    room: msg.room.clone(),
                    seq,
                    epoch: self.state.epoch,
                    from: msg.from.clone(),
                    ts,
                    text: msg.text.clone(),
                });
            }
        }
        tx.commit()
            .map_err(|e| sqlite_error("committing messages", e))?;
        Ok(messages)
    }
}

/// Idle read-only connections to the database.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// Takes the data dir's exclusive lock, or explains who holds it.
fn acquire_lock(path: &Path) -> Result<Connection, BrokerError> {
    let context = || format!("locking {}", path.display());
    let conn = Connection::open(path).map_err(|e| sqlite_error(context(), e))?;
    // No waiting: a held lock means another broker is running and will not let go.
    conn.busy_timeout(Duration::ZERO)
        .map_err(|e| sqlite_error(context(), e))?;
    match conn.execute_batch("BEGIN EXCLUSIVE") {
        Ok(()) => Ok(conn),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            Err(BrokerError::Internal(format!(
                "data dir {} is in use by another ChitChat relay (it holds {}); \
                 stop it or choose another --data-dir",
                path.parent().unwrap_or(path).display(),
                path.display()
            )))
        }
        Err(e) => Err(sqlite_error(context(), e)),
    }
}

/// Opens the write connection, creating or checking the schema; returns it and the epoch.
fn open_writer(path: &Path) -> Result<(Connection, u64), BrokerError> {
    let context = || format!("opening {}", path.display());
    let mut conn = Connection::open(path).map_err(|e| sqlite_error(context(), e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sqlite_error(context(), e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| sqlite_error(context(), e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(BrokerError::Internal(format!(
            "{}: the file system does not support SQLite WAL mode (journal mode is {mode})",
            context()
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| sqlite_error(context(), e))?;

    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sqlite_error(context(), e))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| sqlite_error(context(), e))?;
    match version {
        0 => {
            tx.execute_batch(
                "CREATE TABLE meta (
                     key   TEXT PRIMARY KEY NOT NULL,
                     value ANY NOT NULL
                 ) STRICT, WITHOUT ROWID;
                 CREATE TABLE messages (
                     room   TEXT NOT NULL,
                     seq    INTEGER NOT NULL,
                     sender TEXT NOT NULL,
                     ts     INTEGER NOT NULL,
                     text   TEXT NOT NULL,
                     PRIMARY KEY (room, seq)
                 ) STRICT, WITHOUT ROWID;",
            )
            .map_err(|e| sqlite_error(format_args!("{}: creating the schema", context()), e))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| sqlite_error(context(), e))?;
            // The creation time makes a new epoch differ from any earlier store's.
            let epoch = now_ms().clamp(1, MAX_EPOCH);
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('epoch', ?1)",
                [epoch],
            )
            .map_err(|e| sqlite_error(format_args!("{}: recording the epoch", context()), e))?;
        }
        SCHEMA_VERSION => {}
        other => {
            return Err(BrokerError::Internal(format!(
                "{}: schema version {other} is not one this relay knows ({SCHEMA_VERSION}); \
                 it was written by a newer relay or is not a ChitChat store",
                context()
            )));
        }
    }
    let epoch: Option<u64> = tx
        .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
            row.get(0)
        })
        .optional()
        .map_err(|e| sqlite_error(format_args!("{}: reading the epoch", context()), e))?;
    let epoch = match epoch {
        Some(epoch) if (1..=MAX_EPOCH).contains(&epoch) => epoch,
        other => {
            return Err(BrokerError::Internal(format!(
                "{}: the store's epoch is missing or out of range ({other:?})",
                context()
            )));
        }
    };
    tx.commit().map_err(|e| sqlite_error(context(), e))?;
    Ok((conn, epoch))
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn message_from_row(room: &str, epoch: u64, row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        room: room.to_owned(),
        seq: row.get(0)?,
        epoch,
        from: row.get(1)?,
        ts: row.get(2)?,
        text: row.get(3)?,
    })
}

fn sqlite_error(context: impl Display, err: rusqlite::Error) -> BrokerError {
    BrokerError::Internal(format!("{context}: {err}"))
}

fn closed() -> BrokerError {
    BrokerError::Unavailable("the message store is closed".into())
}
