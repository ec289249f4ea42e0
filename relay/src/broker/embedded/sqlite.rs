//! The embedded broker's SQLite side: the schema, its statements, opening the write
//! connection and the data dir's lock, and the pool of read connections.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chitchat_protocol::{MAX_EPOCH, Message};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::Semaphore;

use crate::broker::BrokerError;
use crate::clock::now_ms;

/// The schema version this code writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for a lock held by another connection before failing. The
/// writer only competes with WAL checkpoints and readers only with WAL recovery, both short;
/// this bound turns a wedged file into an error instead of a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections, and reads at once, shared by every session: each read holds one of
/// these (and a blocking thread) for its duration, and further reads wait their turn
/// without a thread or a file. Enough to keep two cores and the page cache busy; more would
/// only let one busy reader starve the writer and the runtime.
pub(super) const MAX_READERS: usize = 4;

/// Prepared statements each connection keeps. The broker uses fewer than this many
/// distinct statements, so every one stays prepared.
const STATEMENT_CACHE: usize = 24;

/// The remembered send ids (see `NewMessage::send_id`): one row per send that carried an
/// id, until `expires` (ms since the Unix epoch). Created on every open, so stores made
/// before idempotent sends gain it without a schema version change; an older relay opening
/// the store ignores it.
const CREATE_SENDS: &str = "CREATE TABLE IF NOT EXISTS sends (
         room    TEXT NOT NULL,
         sender  TEXT NOT NULL,
         send_id INTEGER NOT NULL,
         seq     INTEGER NOT NULL,
         ts      INTEGER NOT NULL,
         expires INTEGER NOT NULL,
         PRIMARY KEY (room, sender, send_id)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX IF NOT EXISTS sends_expires ON sends (expires);";
/// The guest nick claims (see `claims`): one row per claimed key (a nick's skeleton) with
/// the hash of its secret, until `expires` (ms since the Unix epoch). Created on every open,
/// like the send ids, so stores made before claims gain it without a schema version change;
/// an older relay opening the store ignores it.
const CREATE_CLAIMS: &str = "CREATE TABLE IF NOT EXISTS nick_claims (
         key     TEXT PRIMARY KEY NOT NULL,
         hash    BLOB NOT NULL,
         expires INTEGER NOT NULL
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX IF NOT EXISTS nick_claims_expires ON nick_claims (expires);";

/// The table: one row per room name. Created on every open (`IF NOT EXISTS`), so stores made
/// before room records gain it without a schema version change.
const CREATE_ROOMS: &str = "CREATE TABLE IF NOT EXISTS rooms (
         name       TEXT PRIMARY KEY NOT NULL,
         topic      TEXT NOT NULL,
         private    INTEGER NOT NULL,
         archived   INTEGER NOT NULL,
         created_ms INTEGER NOT NULL,
         created_by TEXT NOT NULL
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX IF NOT EXISTS rooms_archived ON rooms (name) WHERE archived = 1;";

/// The read markers' table (`markers.rs`). Created on every open (`IF NOT EXISTS`), so stores made before read markers
/// gain it without a schema version change; an older relay opening the store ignores it.
const CREATE_MARKERS: &str = "CREATE TABLE IF NOT EXISTS read_markers (
         room    TEXT NOT NULL,
         user    TEXT NOT NULL,
         seq     INTEGER NOT NULL,
         expires INTEGER NOT NULL,
         PRIMARY KEY (room, user)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX IF NOT EXISTS read_markers_expires ON read_markers (expires);";

pub(super) const SELECT_SEND: &str = "SELECT seq, ts FROM sends \
     WHERE room = ?1 AND sender = ?2 AND send_id = ?3 AND expires > ?4";
pub(super) const REMEMBER_SEND: &str = "INSERT OR REPLACE INTO sends \
     (room, sender, send_id, seq, ts, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
pub(super) const SELECT_TEXT: &str =
    "SELECT text, reply_to FROM messages WHERE room = ?1 AND seq = ?2 AND kind = 0";
pub(super) const EXPIRE_SENDS: &str = "DELETE FROM sends WHERE expires <= ?1";
pub(super) const SELECT_LAST_SEQ: &str = "SELECT MAX(seq) FROM messages WHERE room = ?1";
pub(super) const SELECT_HEAD: &str = "SELECT MIN(seq), MAX(seq) FROM messages WHERE room = ?1";
/// Text messages only (version 1's history).
pub(super) const SELECT_BEFORE: &str = "SELECT seq, sender, ts, text FROM messages \
     WHERE room = ?1 AND seq < ?2 AND kind = 0 ORDER BY seq DESC LIMIT ?3";

/// Deletes up to ?3 of room ?1's oldest messages with a seq at or below ?2 (retention).
pub(super) const TRIM_ROOM: &str = "DELETE FROM messages WHERE room = ?1 AND seq IN \
     (SELECT seq FROM messages WHERE room = ?1 AND seq <= ?2 ORDER BY seq ASC LIMIT ?3)";
/// The oldest seq of room ?1 stamped at or after ?2: seqs and timestamps rise together in a
/// room, so the scan stops at the first young message.
pub(super) const SELECT_FIRST_YOUNG: &str =
    "SELECT seq FROM messages WHERE room = ?1 AND ts >= ?2 ORDER BY seq ASC LIMIT 1";
/// The first room named after ?1, for walking rooms one index seek at a time.
pub(super) const SELECT_NEXT_ROOM: &str =
    "SELECT room FROM messages WHERE room > ?1 ORDER BY room ASC LIMIT 1";

/// At most [`MAX_READERS`] read-only connections to the database, and the permits that
/// bound reads in progress to the same number.
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per read in progress; taken before a read gets its thread.
    pub(super) permits: Arc<Semaphore>,
}

impl ReadPool {
    /// No connections yet; they open on demand.
    pub(super) fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_READERS)),
        }
    }

    /// An idle connection, or a new one. Called with a permit held, so at most
    /// [`MAX_READERS`] exist.
    pub(super) fn take(&self) -> rusqlite::Result<Connection> {
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

    /// Returns a connection for reuse (or closes it if enough are idle).
    pub(super) fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_READERS {
            idle.push(conn);
        }
    }
}

/// Takes the data dir's exclusive lock, or explains who holds it.
pub(super) fn acquire_lock(path: &Path) -> Result<Connection, BrokerError> {
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
pub(super) fn open_writer(path: &Path) -> Result<(Connection, u64), BrokerError> {
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
    super::entries::migrate(&tx)
        .map_err(|e| sqlite_error(format_args!("{}: adding the entry columns", context()), e))?;
    tx.execute_batch(CREATE_SENDS)
        .map_err(|e| sqlite_error(format_args!("{}: creating the send ids", context()), e))?;
    tx.execute_batch(CREATE_ROOMS)
        .map_err(|e| sqlite_error(format_args!("{}: creating the rooms table", context()), e))?;
    tx.execute_batch(CREATE_CLAIMS)
        .map_err(|e| sqlite_error(format_args!("{}: creating the nick claims", context()), e))?;
    tx.execute_batch(CREATE_MARKERS)
        .map_err(|e| sqlite_error(format_args!("{}: creating the read markers", context()), e))?;
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

pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

pub(super) fn message_from_row(
    room: &str,
    epoch: u64,
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Message> {
    Ok(Message {
        room: room.to_owned(),
        seq: row.get(0)?,
        epoch,
        from: row.get(1)?,
        ts: row.get(2)?,
        text: row.get(3)?,
    })
}

pub(super) fn sqlite_error(context: impl Display, err: rusqlite::Error) -> BrokerError {
    BrokerError::Internal(format!("{context}: {err}"))
}
