//! One joined room's stream from the relay to the client: the Open frame, the room's topic
//! (version 3), history after the resume point, then live messages, each seq once.

use bytes::Bytes;
use chitchat_protocol::{Entry, FrameError, RoomFrame, encode_frame};
use tokio::sync::mpsc;

use crate::broker::SharedBroker;
use crate::hub::Outbound;
use crate::transport::Conn;

/// Messages read from history per step when a Join resumes.
const RESUME_BATCH: usize = 256;

/// Room frames written to a stream in one go when several are queued.
const WRITE_BATCH: usize = 64;

/// A room writer keeps room for this many frames between writes once its traffic is light.
const IDLE_BATCH: usize = 4;

/// Writes one joined room to its own stream, from the member's hub queue.
pub(super) struct RoomWriter {
    pub conn: Conn,
    pub broker: SharedBroker,
    pub room: String,
    pub epoch: u64,
    /// The last seq this stream carried (or that the client already has).
    pub last_sent: u64,
    /// Whether to send stored messages after `last_sent` before live ones.
    pub backfill: bool,
    /// The session's protocol version: 1 gets text entries as messages and nothing else.
    pub version: u16,
}

impl RoomWriter {
    /// Runs until the session leaves the room (the queue closes) or the stream fails.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Outbound>) -> anyhow::Result<()> {
        let mut stream = self.conn.open_uni().await?;
        let s = &mut stream;
        let open = RoomFrame::Open {
            room: self.room.clone(),
            epoch: self.epoch,
        };
        s.write_all(&encode_frame(&open)?).await?;
        if self.version >= 3
            && let Some(topic) = self.topic().await
        {
            s.write_all(&encode_frame(&topic)?).await?;
        }
        if self.backfill {
            loop {
                let page = match self
                    .broker
                    .read_entries_after(&self.room, self.last_sent, RESUME_BATCH)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        // The client reconnects and resumes from what it has.
                        self.conn.close(e.code(), &e.to_string());
                        return Err(e.into());
                    }
                };
                let Some(last) = page.last() else { break };
                self.last_sent = last.seq;
                let mut chunks = page
                    .iter()
                    .filter_map(|e| encode_entry(e, self.version).transpose())
                    .collect::<Result<Vec<_>, _>>()?;
                let full = page.len() == RESUME_BATCH;
                s.write_all_chunks(&mut chunks).await?;
                if !full {
                    break;
                }
            }
        }
        // Everything queued goes out in one write (quinn packs it into as few packets as it
        // fits). The vector grows with the largest batch and shrinks back once the member's
        // traffic is light again: an idle member holds next to nothing.
        let mut chunks: Vec<Bytes> = Vec::new();
        while let Some(first) = queue.recv().await {
            let mut next = Some(first);
            while let Some(item) = next {
                match item {
                    Outbound::Entry { epoch, seq, v1, v2 } => {
                        if epoch != self.epoch {
                            // The room has a new epoch (its history was lost, or its seq
                            // went backwards): the broker delivers it again from seq 1, and
                            // the client, seeing the new epoch, drops what it kept.
                            self.epoch = epoch;
                            self.last_sent = 0;
                        }
                        if seq > self.last_sent {
                            self.last_sent = seq;
                            if self.version >= 2 {
                                chunks.push(v2);
                            } else if let Some(frame) = v1 {
                                chunks.push(frame);
                            }
                        }
                    }
                    Outbound::Frame(frame) => chunks.push(frame),
                    Outbound::Renamed { v3, older } => {
                        chunks.push(if self.version >= 3 { v3 } else { older });
                    }
                    Outbound::Topic(frame) => {
                        if self.version >= 3 {
                            chunks.push(frame);
                        }
                    }
                }
                next = if chunks.len() < WRITE_BATCH {
                    queue.try_recv().ok()
                } else {
                    None
                };
            }
            if !chunks.is_empty() {
                let written = chunks.len();
                s.write_all_chunks(&mut chunks).await?;
                chunks.clear();
                if written <= IDLE_BATCH && chunks.capacity() > IDLE_BATCH {
                    chunks.shrink_to(IDLE_BATCH);
                }
            }
        }
        // The session left the room.
        let _ = s.finish();
        Ok(())
    }
}

impl RoomWriter {
    /// The room's topic as it stands (empty for none, also for a room with no record yet),
    /// so the first frame after `Open` always says it. A failed read leaves it out: the topic
    /// is the room's description, not part of its log, and the next change or join brings it.
    async fn topic(&self) -> Option<RoomFrame> {
        match self.broker.room(&self.room).await {
            Ok(record) => Some(RoomFrame::Topic {
                topic: record.map(|r| r.topic).unwrap_or_default(),
                by: String::new(),
            }),
            Err(e) => {
                tracing::debug!(room = %self.room, "reading the room's topic failed: {e}");
                None
            }
        }
    }
}

/// The frame a session of `version` gets for `entry`; `None` for one version 1 skips.
fn encode_entry(entry: &Entry, version: u16) -> Result<Option<Bytes>, FrameError> {
    let frame = if version >= 2 {
        RoomFrame::Entry(entry.clone())
    } else {
        match entry.to_message() {
            Some(m) => RoomFrame::Message(m),
            None => return Ok(None),
        }
    };
    encode_frame(&frame).map(|f| Some(Bytes::from(f)))
}
