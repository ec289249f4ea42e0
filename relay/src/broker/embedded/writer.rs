//! The embedded broker's writer thread: the only write connection, group commit, numbering,
//! and delivery after commit.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};

use chitchat_protocol::{Entry, EntryBody};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::entries::{self, Checked, INSERT_ENTRY};
use super::retention::RetentionPass;
use super::sqlite::{
    EXPIRE_SENDS, REMEMBER_SEND, SELECT_LAST_SEQ, SELECT_SEND, SELECT_TEXT, sqlite_error,
};
use super::{EmbeddedState, Job, WriterCommand};
use super::{claims, markers, rooms};
use crate::broker::BrokerError;
use crate::broker::api::{NewEntry, SEND_ID_TTL};
use crate::clock::now_ms;

/// The most messages committed in one transaction. Group commit drains the queue, but a
/// bound keeps the first message of a huge burst from waiting for the whole burst, and
/// bounds the time the writer spends delivering one batch.
const MAX_BATCH: usize = 4096;

/// The writer thread's state.
pub(super) struct Writer {
    pub conn: Connection,
    /// Held for the writer's life; see [`super::LOCK_FILE`].
    pub _lock: Connection,
    pub state: Arc<EmbeddedState>,
    /// The last seq stored per room, for rooms written since start.
    pub counters: HashMap<String, u64>,
    /// The last timestamp given, so timestamps never go backwards within a run.
    pub last_ts: u64,
    /// Retention: trims after each store, and the periodic pass.
    pub retention: RetentionPass,
}

impl Writer {
    /// Serves the queue until it closes or a `Close` arrives; returns the `Close` reply.
    pub fn run(mut self, commands: mpsc::Receiver<WriterCommand>) -> Option<oneshot::Sender<()>> {
        let mut batch = Vec::new();
        loop {
            // Receiving fails once every handle is gone and the queue is drained.
            let first = match self.retention.due_in() {
                None => commands.recv().ok(),
                Some(wait) => match commands.recv_timeout(wait) {
                    Ok(command) => Some(command),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.retention_slice();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                },
            };
            let mut next = Some(first?);
            let mut closing = None;
            let mut claims = Vec::new();
            let mut rooms = Vec::new();
            let mut markers = Vec::new();
            while let Some(command) = next.take() {
                match command {
                    WriterCommand::Publish(job) => batch.push(job),
                    WriterCommand::Close(reply) => {
                        closing = Some(reply);
                        break;
                    }
                    // Another table: served after the batch, all in one transaction.
                    WriterCommand::Claim(job) => claims.push(job),
                    WriterCommand::Room(job) => rooms.push(job),
                    WriterCommand::Marker(job) => markers.push(job),
                }
                if batch.len() + claims.len() + rooms.len() + markers.len() < MAX_BATCH {
                    next = commands.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write(std::mem::take(&mut batch));
            }
            if !claims.is_empty() {
                claims::serve(&mut self.conn, claims, now_ms());
            }
            if !rooms.is_empty() {
                rooms::serve(&mut self.conn, rooms);
            }
            if !markers.is_empty() {
                markers::serve(&mut self.conn, markers, now_ms());
            }
            if closing.is_some() {
                return closing;
            }
            self.retention_slice();
        }
    }

    /// Runs a slice of the retention pass if one is due, in a transaction of its own.
    fn retention_slice(&mut self) {
        if self.retention.due_in().is_none_or(|wait| !wait.is_zero()) {
            return;
        }
        let result = self.conn.transaction().and_then(|tx| {
            let deleted = self.retention.run_slice(&tx)?;
            tx.commit()?;
            Ok(deleted)
        });
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "retention dropped old messages"),
            // Retention failing loses nothing; the next pass tries again.
            Err(err) => tracing::warn!(error = %err, "history retention pass failed"),
        }
    }

    /// Stores one batch, then delivers it and answers its publishers.
    fn write(&mut self, batch: Vec<Job>) {
        self.last_ts = now_ms().max(self.last_ts);
        let ts = self.last_ts;
        match self.store(&batch, ts) {
            Ok(entries) => {
                // A repeated send id delivers nothing: its message was delivered when stored.
                for (entry, fresh) in entries.iter().flatten() {
                    let subscribed = self.state.subscribed();
                    if *fresh && subscribed.contains(&entry.room) {
                        self.state.sink.entry(entry);
                    }
                }
                for (job, stored) in batch.into_iter().zip(entries) {
                    // The publisher may have stopped waiting; the entry is stored anyway.
                    let _ = job.reply.send(stored.map(|(entry, _)| entry));
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

    /// Numbers and stores `batch` in one transaction; the entries as stored, in order, each
    /// with whether it is new (`false`: its send id was remembered, and this is the message
    /// stored the first time; or a reaction that changed nothing), or the log's refusal.
    fn store(&mut self, batch: &[Job], ts: u64) -> Result<Vec<Stored>, BrokerError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite_error("starting a transaction", e))?;
        let mut messages = Vec::with_capacity(batch.len());
        {
            let prepare = |sql: &str, what: &str| {
                tx.prepare_cached(sql)
                    .map_err(|e| sqlite_error(format_args!("preparing {what}"), e))
            };
            let mut insert = prepare(INSERT_ENTRY, "the insert")?;
            let mut last_seq = prepare(SELECT_LAST_SEQ, "the last-seq query")?;
            let mut find_send = prepare(SELECT_SEND, "the send id query")?;
            let mut remember = prepare(REMEMBER_SEND, "the send id insert")?;
            let mut find_text = prepare(SELECT_TEXT, "the text query")?;
            for Job { entry: msg, .. } in batch {
                // SQLite integers are signed: the id is stored as its bits.
                let send_id = msg.send_id.map(|id| id as i64);
                if let Some(send_id) = send_id {
                    let known: Option<(u64, u64)> = find_send
                        .query_row(params![msg.room, msg.from, send_id, ts], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })
                        .optional()
                        .map_err(|e| sqlite_error("reading a send id", e))?;
                    if let Some((seq, stored_ts)) = known {
                        // The original wins; retention may have dropped its text already.
                        let original: Option<(String, Option<u64>)> = find_text
                            .query_row(params![msg.room, seq], |row| Ok((row.get(0)?, row.get(1)?)))
                            .optional()
                            .map_err(|e| sqlite_error("reading a repeated send", e))?;
                        let body = match original {
                            Some((text, reply_to)) => EntryBody::Text { text, reply_to },
                            None => msg.body.clone(),
                        };
                        let original = stored_as(msg, self.state.epoch, seq, stored_ts, body);
                        messages.push(Ok((original, false)));
                        continue;
                    }
                }
                match entries::check(&tx, msg) {
                    Ok(Checked::Store) => {}
                    Ok(Checked::Unchanged { seq, ts }) => {
                        let same = stored_as(msg, self.state.epoch, seq, ts, msg.body.clone());
                        messages.push(Ok((same, false)));
                        continue;
                    }
                    Err(refused @ BrokerError::Refused { .. }) => {
                        messages.push(Err(refused));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
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
                let (text, kind, target, reply_to, emoji, flag) = entries::columns(&msg.body);
                insert
                    .execute(params![
                        msg.room, seq, msg.from, ts, text, kind, target, reply_to, emoji, flag
                    ])
                    .map_err(|e| {
                        sqlite_error(format_args!("storing seq {seq} of room {}", msg.room), e)
                    })?;
                if let Some(send_id) = send_id {
                    let expires = ts.saturating_add(SEND_ID_TTL.as_millis() as u64);
                    remember
                        .execute(params![msg.room, msg.from, send_id, seq, ts, expires])
                        .map_err(|e| sqlite_error("remembering a send id", e))?;
                }
                let stored = stored_as(msg, self.state.epoch, seq, ts, msg.body.clone());
                messages.push(Ok((stored, true)));
            }
            // Forgetting expired ids here keeps the table at about SEND_ID_TTL of sends.
            tx.execute(EXPIRE_SENDS, [ts])
                .map_err(|e| sqlite_error("forgetting old send ids", e))?;
        }
        // Each room written keeps its newest messages only; later ones of a room in the
        // batch cover earlier ones, so the last seq of each room is enough.
        let mut newest: HashMap<&str, u64> = HashMap::new();
        for (msg, _) in messages.iter().flatten().filter(|(_, fresh)| *fresh) {
            newest.insert(&msg.room, msg.seq);
        }
        for (room, last_seq) in newest {
            self.retention
                .trim_count(&tx, room, last_seq)
                .map_err(|e| sqlite_error(format_args!("trimming room {room}"), e))?;
        }
        tx.commit()
            .map_err(|e| sqlite_error("committing messages", e))?;
        Ok(messages)
    }
}

/// One entry of a batch as the writer stored it (and whether it is new), or its refusal.
type Stored = Result<(Entry, bool), BrokerError>;

/// `entry` as stored under `seq` at `ts` (ms) in `epoch`, with `body`.
fn stored_as(entry: &NewEntry, epoch: u64, seq: u64, ts: u64, body: EntryBody) -> Entry {
    Entry {
        room: entry.room.clone(),
        seq,
        epoch,
        from: entry.from.clone(),
        ts,
        body,
    }
}
