//! Room records in the embedded store: the `rooms` table (`sqlite` creates it), written by
//! the writer thread ([`serve`], after a batch of messages, like claims) and read on the
//! read pool ([`select_room`], [`select_page`]).

use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::oneshot;

use super::sqlite::sqlite_error;
use crate::broker::BrokerError;
use crate::broker::api::{RoomChange, RoomPage, RoomRecord};

const COLUMNS: &str = "name, topic, private, archived, created_ms, created_by";

/// Records looked at per directory call at most: a search that matches little returns a
/// short page with a cursor rather than scanning every room in one read.
pub(super) const SCAN_LIMIT: i64 = 2000;

/// A write to the `rooms` table and whom to answer.
pub(super) enum RoomJob {
    Create {
        record: RoomRecord,
        reply: oneshot::Sender<Result<(RoomRecord, bool), BrokerError>>,
    },
    Update {
        room: String,
        change: RoomChange,
        reply: oneshot::Sender<Result<Option<RoomRecord>, BrokerError>>,
    },
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<RoomRecord> {
    Ok(RoomRecord {
        name: row.get(0)?,
        topic: row.get(1)?,
        private: row.get::<_, i64>(2)? != 0,
        archived: row.get::<_, i64>(3)? != 0,
        created_ms: u64::try_from(row.get::<_, i64>(4)?).unwrap_or_default(),
        created_by: row.get(5)?,
    })
}

/// The record of `room`.
pub(super) fn select_room(conn: &Connection, room: &str) -> rusqlite::Result<Option<RoomRecord>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM rooms WHERE name = ?1"))?
        .query_row(params![room], record_from_row)
        .optional()
}

/// Up to `limit` names of archived rooms (the `rooms_archived` index holds exactly them).
pub(super) fn select_archived(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<String>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.prepare_cached("SELECT name FROM rooms WHERE archived = 1 LIMIT ?1")?
        .query_map(params![limit], |row| row.get(0))?
        .collect()
}

/// A directory page: see `Broker::list_rooms`. Looks at up to [`SCAN_LIMIT`] public,
/// unarchived records after `after`, keeps those matching `search`.
pub(super) fn select_page(
    conn: &Connection,
    search: &str,
    after: Option<&str>,
    limit: usize,
) -> rusqlite::Result<RoomPage> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM rooms WHERE private = 0 AND archived = 0 AND name > ?1 \
         ORDER BY name LIMIT ?2"
    ))?;
    let needle = search.to_lowercase();
    let mut rooms = Vec::new();
    let mut last_seen = None;
    let mut scanned = 0;
    let rows = stmt.query_map(params![after.unwrap_or(""), SCAN_LIMIT], record_from_row)?;
    for row in rows {
        let record = row?;
        scanned += 1;
        last_seen = Some(record.name.clone());
        if needle.is_empty()
            || record.name.to_lowercase().contains(&needle)
            || record.topic.to_lowercase().contains(&needle)
        {
            rooms.push(record);
            if rooms.len() == limit {
                break;
            }
        }
    }
    let next = if rooms.len() == limit || scanned == SCAN_LIMIT {
        last_seen
    } else {
        None
    };
    Ok(RoomPage { rooms, next })
}

/// Serves room writes on the writer's connection, each in its own transaction: they are
/// rare, and each answers its caller at once.
pub(super) fn serve(conn: &mut Connection, jobs: Vec<RoomJob>) {
    for job in jobs {
        match job {
            RoomJob::Create { record, reply } => {
                let _ = reply.send(create(conn, record).map_err(|e| {
                    tracing::error!(error = %e, "storing a room record failed");
                    sqlite_error("storing a room record", e)
                }));
            }
            RoomJob::Update {
                room,
                change,
                reply,
            } => {
                let _ = reply.send(update(conn, &room, &change).map_err(|e| {
                    tracing::error!(error = %e, "changing a room record failed");
                    sqlite_error("changing a room record", e)
                }));
            }
        }
    }
}

fn create(conn: &Connection, record: RoomRecord) -> rusqlite::Result<(RoomRecord, bool)> {
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO rooms ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))?
        .execute(params![
            record.name,
            record.topic,
            i64::from(record.private),
            i64::from(record.archived),
            i64::try_from(record.created_ms).unwrap_or(i64::MAX),
            record.created_by,
        ])?;
    if inserted == 1 {
        return Ok((record, true));
    }
    let stored = select_room(conn, &record.name)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok((stored, false))
}

fn update(
    conn: &mut Connection,
    room: &str,
    change: &RoomChange,
) -> rusqlite::Result<Option<RoomRecord>> {
    let tx = conn.transaction()?;
    if let Some(topic) = &change.topic {
        tx.prepare_cached("UPDATE rooms SET topic = ?2 WHERE name = ?1")?
            .execute(params![room, topic])?;
    }
    if let Some(archived) = change.archived {
        tx.prepare_cached("UPDATE rooms SET archived = ?2 WHERE name = ?1")?
            .execute(params![room, i64::from(archived)])?;
    }
    if let Some(private) = change.private {
        tx.prepare_cached("UPDATE rooms SET private = ?2 WHERE name = ?1")?
            .execute(params![room, i64::from(private)])?;
    }
    let record = select_room(&tx, room)?;
    tx.commit()?;
    Ok(record)
}
