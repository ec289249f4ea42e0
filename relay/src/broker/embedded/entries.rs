//! Log entries in SQLite: the columns a change entry adds to a `messages` row, the checks
//! the writer makes before storing one (in its transaction, so they and the insert are one
//! step), reading entries, and history pages in their latest state.

use chitchat_protocol::{Entry, EntryBody, ErrorCode, MAX_EDITS, MessageState};
use rusqlite::{Connection, OptionalExtension, params};

use crate::broker::BrokerError;
use crate::broker::api::NewEntry;

/// Adds the entry columns to a store made before entries (every row then is a text):
/// `kind` (0 text, 1 edit, 2 delete, 3 react), `target` (the changed message's seq),
/// `reply_to`, `emoji` and `flag` (a reaction added: 1, removed: 0). `text` holds a text's
/// or an edit's text, empty for the others. Idempotent.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_kind: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('messages') WHERE name = 'kind'",
        [],
        |row| row.get(0),
    )?;
    if !has_kind {
        conn.execute_batch(
            "ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE messages ADD COLUMN target INTEGER;
             ALTER TABLE messages ADD COLUMN reply_to INTEGER;
             ALTER TABLE messages ADD COLUMN emoji TEXT;
             ALTER TABLE messages ADD COLUMN flag INTEGER;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS messages_target ON messages (room, target)
             WHERE target IS NOT NULL;",
    )
}

pub(super) const INSERT_ENTRY: &str = "INSERT INTO messages \
     (room, seq, sender, ts, text, kind, target, reply_to, emoji, flag) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The columns [`entry_from_row`] reads, in its order.
const COLUMNS: &str = "seq, sender, ts, text, kind, target, reply_to, emoji, flag";

/// The text message ?2 of room ?1: author, time, kind, edits and deletes so far.
const SELECT_TARGET: &str = "SELECT sender, ts, kind, \
     (SELECT COUNT(*) FROM messages WHERE room = ?1 AND target = ?2 AND kind = 1), \
     (SELECT COUNT(*) FROM messages WHERE room = ?1 AND target = ?2 AND kind = 2) \
     FROM messages WHERE room = ?1 AND seq = ?2";

/// The latest reaction entry of sender ?3 with emoji ?4 on message ?2 of room ?1.
const SELECT_REACTION: &str = "SELECT seq, ts, flag FROM messages \
     WHERE room = ?1 AND target = ?2 AND kind = 3 AND sender = ?3 AND emoji = ?4 \
     ORDER BY seq DESC LIMIT 1";

/// What the writer does with a new entry after its checks.
pub(super) enum Checked {
    /// Store it.
    Store,
    /// A reaction that changes nothing: answer with this entry's (seq, ts) and store nothing.
    Unchanged { seq: u64, ts: u64 },
}

/// The columns of `entry`'s row after `(room, seq, sender, ts)`: text, kind, target,
/// reply_to, emoji, flag.
pub(super) type Columns<'a> = (
    &'a str,
    u8,
    Option<u64>,
    Option<u64>,
    Option<&'a str>,
    Option<bool>,
);

/// The row columns of an entry body.
pub(super) fn columns(body: &EntryBody) -> Columns<'_> {
    match body {
        EntryBody::Text { text, reply_to } => (text, 0, None, *reply_to, None, None),
        EntryBody::Edit { target, text } => (text, 1, Some(*target), None, None, None),
        EntryBody::Delete { target } => ("", 2, Some(*target), None, None, None),
        EntryBody::React { target, emoji, on } => {
            ("", 3, Some(*target), None, Some(emoji), Some(*on))
        }
    }
}

/// The log's checks of `entry` against what `conn` holds (see [`NewEntry`]): a refusal is
/// [`BrokerError::Refused`]; other errors fail the writer's transaction.
pub(super) fn check(conn: &Connection, entry: &NewEntry) -> Result<Checked, BrokerError> {
    let (target, reply) = match &entry.body {
        EntryBody::Text {
            reply_to: Some(to), ..
        } => (*to, true),
        EntryBody::Text { .. } => return Ok(Checked::Store),
        EntryBody::Edit { target, .. }
        | EntryBody::Delete { target }
        | EntryBody::React { target, .. } => (*target, false),
    };
    let failed = |e: rusqlite::Error| BrokerError::Internal(format!("checking a change: {e}"));
    let state: Option<(String, u64, u8, u32, u32)> = conn
        .prepare_cached(SELECT_TARGET)
        .map_err(failed)?
        .query_row(params![entry.room, seq_param(target)], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .optional()
        .map_err(failed)?;
    let missing = || {
        BrokerError::refused(
            ErrorCode::NO_SUCH_MESSAGE,
            format!("room {} has no message {target}", entry.room),
        )
    };
    let Some((author, ts, kind, edits, deletes)) = state else {
        return Err(missing());
    };
    if kind != 0 || deletes > 0 {
        return Err(missing());
    }
    if reply {
        return Ok(Checked::Store);
    }
    match &entry.body {
        EntryBody::Edit { .. } | EntryBody::Delete { .. }
            if author != entry.from && !entry.by_operator =>
        {
            Err(BrokerError::refused(
                ErrorCode::NOT_AUTHOR,
                format!("message {target} is {author}'s: only its author may change it"),
            ))
        }
        EntryBody::Edit { .. } if edits >= MAX_EDITS => Err(BrokerError::refused(
            ErrorCode::EDIT_LIMIT,
            format!("message {target} has had {MAX_EDITS} edits, the most a message may have"),
        )),
        EntryBody::React { emoji, on, .. } => {
            let latest: Option<(u64, u64, bool)> = conn
                .prepare_cached(SELECT_REACTION)
                .map_err(failed)?
                .query_row(
                    params![entry.room, seq_param(target), entry.from, emoji],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(failed)?;
            Ok(match latest {
                Some((seq, ts, now)) if now == *on => Checked::Unchanged { seq, ts },
                None if !on => Checked::Unchanged { seq: target, ts },
                _ => Checked::Store,
            })
        }
        _ => Ok(Checked::Store),
    }
}

/// Seqs are stored as SQLite integers (signed); any seq above is none that exists.
fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// An entry from a row of [`COLUMNS`].
fn entry_from_row(room: &str, epoch: u64, row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let text: String = row.get(3)?;
    let kind: u8 = row.get(4)?;
    let target = || row.get::<_, Option<u64>>(5).map(Option::unwrap_or_default);
    let body = match kind {
        0 => EntryBody::Text {
            text,
            reply_to: row.get(6)?,
        },
        1 => EntryBody::Edit {
            target: target()?,
            text,
        },
        2 => EntryBody::Delete { target: target()? },
        3 => EntryBody::React {
            target: target()?,
            emoji: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
            on: row.get::<_, Option<bool>>(8)?.unwrap_or_default(),
        },
        other => {
            return Err(rusqlite::Error::IntegralValueOutOfRange(
                4,
                i64::from(other),
            ));
        }
    };
    Ok(Entry {
        room: room.to_owned(),
        seq: row.get(0)?,
        epoch,
        from: row.get(1)?,
        ts: row.get(2)?,
        body,
    })
}

/// Up to `limit` entries of `room` after seq `after`, oldest first.
pub(super) fn select_after(
    conn: &Connection,
    room: &str,
    epoch: u64,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![room, seq_param(after), limit], |row| {
        entry_from_row(room, epoch, row)
    })?;
    rows.collect()
}

/// The newest `limit` text messages of `room` before seq `before`, oldest first, with the
/// change entries aimed at them folded in.
pub(super) fn select_states_before(
    conn: &Connection,
    room: &str,
    epoch: u64,
    before: u64,
    limit: usize,
) -> rusqlite::Result<Vec<MessageState>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND seq < ?2 AND kind = 0 \
         ORDER BY seq DESC LIMIT ?3"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut texts: Vec<Entry> = conn
        .prepare_cached(&sql)?
        .query_map(params![room, seq_param(before), limit], |row| {
            entry_from_row(room, epoch, row)
        })?
        .collect::<rusqlite::Result<_>>()?;
    texts.reverse();
    let (Some(first), Some(last)) = (texts.first(), texts.last()) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND target BETWEEN ?2 AND ?3 \
         ORDER BY seq ASC"
    );
    let changes: Vec<Entry> = conn
        .prepare_cached(&sql)?
        .query_map(
            params![room, seq_param(first.seq), seq_param(last.seq)],
            |row| entry_from_row(room, epoch, row),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(fold(&texts, &changes))
}

/// `texts` (in seq order) in their latest state after `changes` (in seq order).
pub(super) fn fold(texts: &[Entry], changes: &[Entry]) -> Vec<MessageState> {
    let mut states: Vec<MessageState> = texts.iter().filter_map(MessageState::from_entry).collect();
    for change in changes {
        let Some(target) = change.target() else {
            continue;
        };
        if let Ok(i) = states.binary_search_by_key(&target, |s| s.seq) {
            states[i].apply(change);
        }
    }
    states
}
