//! Read markers in the embedded store: the `read_markers` table, created on every open
//! (`sqlite::CREATE_MARKERS`), written by the writer thread ([`serve`], after a batch of messages,
//! like claims) and read on the read pool ([`select_marker`]).
//!
//! One row per (room, user) with the marker's seq and when it expires (ms since the Unix
//! epoch). A row past its expiry counts as absent; each marker transaction also deletes a
//! bounded number of them, so the table holds about one row per user and room read within
//! [`READ_MARKER_TTL`].

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::sqlite::{SELECT_LAST_SEQ, sqlite_error};
use crate::broker::BrokerError;
use crate::broker::api::READ_MARKER_TTL;

const SELECT_MARKER: &str =
    "SELECT seq FROM read_markers WHERE room = ?1 AND user = ?2 AND expires > ?3";
const PUT_MARKER: &str =
    "INSERT OR REPLACE INTO read_markers (room, user, seq, expires) VALUES (?1, ?2, ?3, ?4)";
const EXPIRE_MARKERS: &str = "DELETE FROM read_markers WHERE (room, user) IN \
     (SELECT room, user FROM read_markers WHERE expires <= ?1 LIMIT ?2)";

/// Expired rows deleted per marker transaction at most: more than one transaction adds, so
/// the table cannot grow past its live rows for long, while one delete stays short.
const EXPIRE_STEP: i64 = 256;

/// A marker to set and whom to answer (see `Broker::set_read_marker`).
pub(super) struct MarkerJob {
    pub room: String,
    pub user: String,
    pub seq: u64,
    pub reply: oneshot::Sender<Result<u64, BrokerError>>,
}

/// Sets queued markers at `now` (ms) in one transaction on the writer's connection, then
/// answers each; if the transaction fails, every job gets the error and nothing is stored.
pub(super) fn serve(conn: &mut Connection, jobs: Vec<MarkerJob>, now: u64) {
    let result = set_all(conn, &jobs, now);
    if let Err(err) = &result {
        tracing::error!(error = %err, "storing read markers failed");
    }
    match result {
        Ok(stored) => {
            for (job, seq) in jobs.into_iter().zip(stored) {
                // The session may have stopped waiting; the marker is stored anyway.
                let _ = job.reply.send(Ok(seq));
            }
        }
        Err(err) => {
            for job in jobs {
                let _ = job.reply.send(Err(err.clone()));
            }
        }
    }
}

/// Each job's stored marker: the later of the stored one and the job's seq clamped to the
/// room's newest.
fn set_all(conn: &mut Connection, jobs: &[MarkerJob], now: u64) -> Result<Vec<u64>, BrokerError> {
    let tx = conn
        .transaction()
        .map_err(|e| sqlite_error("starting a read marker transaction", e))?;
    let ttl = u64::try_from(READ_MARKER_TTL.as_millis()).unwrap_or(u64::MAX);
    // SQLite integers are signed; a time past i64 is forever.
    let expires = i64::try_from(now.saturating_add(ttl)).unwrap_or(i64::MAX);
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let mut all = Vec::with_capacity(jobs.len());
    {
        tx.execute(EXPIRE_MARKERS, params![now, EXPIRE_STEP])
            .map_err(|e| sqlite_error("forgetting expired read markers", e))?;
        let mut head = tx
            .prepare_cached(SELECT_LAST_SEQ)
            .map_err(|e| sqlite_error("preparing the head query", e))?;
        let mut select = tx
            .prepare_cached(SELECT_MARKER)
            .map_err(|e| sqlite_error("preparing the read marker query", e))?;
        let mut put = tx
            .prepare_cached(PUT_MARKER)
            .map_err(|e| sqlite_error("preparing the read marker insert", e))?;
        for job in jobs {
            let last: Option<i64> = head
                .query_row(params![job.room], |row| row.get(0))
                .map_err(|e| sqlite_error("reading a room's head", e))?;
            let stored: Option<i64> = select
                .query_row(params![job.room, job.user, now], |row| row.get(0))
                .optional()
                .map_err(|e| sqlite_error("reading a read marker", e))?;
            let clamped = job.seq.min(last.map_or(0, |l| l.max(0) as u64));
            let seq = clamped.max(stored.map_or(0, |s| s.max(0) as u64));
            if seq > 0 {
                let value = i64::try_from(seq).unwrap_or(i64::MAX);
                put.execute(params![job.room, job.user, value, expires])
                    .map_err(|e| sqlite_error("storing a read marker", e))?;
            }
            all.push(seq);
        }
    }
    tx.commit()
        .map_err(|e| sqlite_error("committing read markers", e))?;
    Ok(all)
}

/// `user`'s marker in `room`, unless it expired by `now` (ms).
pub(super) fn select_marker(
    conn: &Connection,
    room: &str,
    user: &str,
    now: u64,
) -> rusqlite::Result<Option<u64>> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let seq: Option<i64> = conn
        .prepare_cached(SELECT_MARKER)?
        .query_row(params![room, user, now], |row| row.get(0))
        .optional()?;
    Ok(seq.map(|s| s.max(0) as u64))
}
