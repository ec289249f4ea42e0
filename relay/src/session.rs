//! One client session, native QUIC or WebTransport alike: the Hello handshake, the request
//! loop on the control stream, one writer task per joined room, typing datagrams, limits,
//! and the goodbye on shutdown.
//!
//! A session never blocks another: it owns its streams, and the hub hands it messages
//! through a bounded queue per room that it drains at its own pace. A session that falls
//! too far behind is disconnected (SLOW_CONSUMER) and resumes from history.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chitchat_protocol::{
    ClientDatagram, ClientFrame, ErrorCode, ErrorFrame, Frame, FrameBuffer, FrameError,
    HistoryPage, Joined, Message, PROTOCOL_VERSION, ResumeOutcome, ResumePoint, RoomFrame,
    ServerFrame, Welcome, decode_datagram, encode_frame, validate_nick, validate_room,
    validate_text,
};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::{BrokerError, NewMessage, SharedBroker, Signal};
use crate::clock::now_ms;
use crate::config::LimitsConfig;
use crate::hub::{Hub, Outbound};
use crate::metrics::Metrics;
use crate::transport::{Conn, RecvStream, SendStream};

/// The most messages one History page holds (announced in Welcome).
pub const HISTORY_PAGE: u16 = 100;

/// A History page stops growing at this many encoded bytes, to stay well under the frame
/// limit whatever the texts' sizes.
const HISTORY_PAGE_BYTES: usize = 192 * 1024;

/// Messages read from history per step when a Join resumes.
const RESUME_BATCH: usize = 256;

/// Requests one session may have in flight (sends awaiting storage, history reads); the
/// relay stops reading its control stream until some complete.
const MAX_IN_FLIGHT: usize = 256;

/// How long a write on the control stream may wait for the client to read.
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing session waits for its last Error frame to be acknowledged.
const FAREWELL_TIMEOUT: Duration = Duration::from_millis(500);

/// Room frames written to a stream in one go when several are queued.
const WRITE_BATCH: usize = 64;

/// A room writer keeps room for this many frames between writes once its traffic is light.
const IDLE_BATCH: usize = 4;

/// Typing signals one session may send per second (and in a burst).
const TYPING_PER_SEC: f64 = 4.0;
const TYPING_BURST: f64 = 8.0;

/// What every session shares: the relay's state.
pub struct Shared {
    pub node_id: String,
    pub hub: Arc<Hub>,
    pub broker: SharedBroker,
    pub limits: LimitsConfig,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the relay begins to shut down.
    pub shutdown: CancellationToken,
    /// Open sessions, for the max-sessions limit.
    pub sessions: AtomicUsize,
    next_session: AtomicU64,
}

impl Shared {
    pub fn new(
        node_id: String,
        hub: Arc<Hub>,
        broker: SharedBroker,
        limits: LimitsConfig,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Shared {
        Shared {
            node_id,
            hub,
            broker,
            limits,
            metrics,
            shutdown,
            sessions: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
        }
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The connection went away (client closed, network lost, idle timeout).
    #[error("connection closed: {0}")]
    Closed(String),
    /// The relay ends the session with this code.
    #[error("{code}: {message}")]
    Fatal { code: ErrorCode, message: String },
}

fn fatal(code: ErrorCode, message: impl Into<String>) -> SessionError {
    SessionError::Fatal {
        code,
        message: message.into(),
    }
}

impl From<FrameError> for SessionError {
    fn from(e: FrameError) -> Self {
        fatal(e.code(), e.to_string())
    }
}

/// Serves one established connection until it ends, then logs why.
pub async fn run(conn: Conn, shared: Arc<Shared>) {
    let kind = conn.kind();
    shared.metrics.session_opened(kind);
    let mut session = None;
    let result = match handshake(&conn, &shared, &mut session).await {
        Ok(reader) => match session.as_mut() {
            Some(s) => s.serve(reader).await,
            None => Ok(()),
        },
        Err(e) => Err(e),
    };
    if let Some(s) = session.as_mut() {
        s.leave_all().await;
    }
    match result {
        Ok(()) => tracing::debug!("session ended"),
        Err(SessionError::Closed(reason)) => tracing::debug!(%reason, "session closed"),
        Err(SessionError::Fatal { code, message }) => {
            tracing::info!(%code, %message, "closing session");
            shared.metrics.error(code);
            if let Some(s) = session.as_mut() {
                s.farewell(code, &message).await;
            }
            conn.close(code, &message);
        }
    }
    shared.metrics.session_closed(kind);
}

/// Reads whole frames from a stream.
struct FrameReader {
    stream: RecvStream,
    buf: FrameBuffer,
}

impl FrameReader {
    /// The next frame; `None` at a clean end of stream. Cancel-safe: nothing is consumed
    /// from the stream until a read completes.
    async fn next<T: Frame>(&mut self) -> Result<Option<T>, SessionError> {
        loop {
            if let Some(frame) = self.buf.next_frame::<T>()? {
                return Ok(Some(frame));
            }
            match self.stream.quic().read_chunk(64 * 1024, true).await {
                Ok(Some(chunk)) => self.buf.extend(&chunk.bytes),
                Ok(None) => {
                    self.buf.finish()?;
                    return Ok(None);
                }
                Err(e) => return Err(SessionError::Closed(e.to_string())),
            }
        }
    }
}

/// Waits for the control stream and Hello, answers Welcome, and leaves the session in
/// `out`. Everything must happen within the handshake timeout.
async fn handshake(
    conn: &Conn,
    shared: &Arc<Shared>,
    out: &mut Option<Session>,
) -> Result<FrameReader, SessionError> {
    let deadline = Instant::now() + shared.limits.handshake_timeout();
    let late = || fatal(ErrorCode::HANDSHAKE_TIMEOUT, "no Hello in time");
    let (send, recv) = timeout_at(deadline, conn.accept_bi())
        .await
        .map_err(|_| late())?
        .map_err(|e| SessionError::Closed(e.0))?;
    let mut reader = FrameReader {
        stream: recv,
        buf: FrameBuffer::new(),
    };
    let hello = match timeout_at(deadline, reader.next::<ClientFrame>())
        .await
        .map_err(|_| late())??
    {
        Some(ClientFrame::Hello(h)) => h,
        Some(_) => {
            return Err(fatal(
                ErrorCode::PROTOCOL_VIOLATION,
                "the first frame must be Hello",
            ));
        }
        None => return Err(SessionError::Closed("control stream ended".into())),
    };
    let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let mut session = Session {
        id,
        nick: hello.nick.clone(),
        conn: conn.clone(),
        shared: shared.clone(),
        control: send,
        rooms: HashMap::new(),
        sends: TokenBucket::new(
            f64::from(shared.limits.msgs_per_sec),
            f64::from(shared.limits.msgs_burst.max(1)),
        ),
        typing: TokenBucket::new(TYPING_PER_SEC, TYPING_BURST),
    };
    let refused = if hello.version != PROTOCOL_VERSION {
        Some(fatal(
            ErrorCode::UNSUPPORTED_VERSION,
            format!(
                "this relay speaks protocol version {PROTOCOL_VERSION}, the client {}",
                hello.version
            ),
        ))
    } else {
        validate_nick(&hello.nick)
            .err()
            .map(|e| fatal(e.code, e.message))
    };
    if let Some(refused) = refused {
        // The session exists only to say goodbye (see `run`).
        *out = Some(session);
        return Err(refused);
    }
    session
        .send(&ServerFrame::Welcome(Welcome {
            version: PROTOCOL_VERSION,
            node_id: shared.node_id.clone(),
            session_id: id,
            nick: hello.nick,
            limits: shared.limits.wire(),
        }))
        .await?;
    tracing::Span::current().record("session", id);
    tracing::debug!(nick = %session.nick, "session open");
    *out = Some(session);
    Ok(reader)
}

/// A session after Welcome.
struct Session {
    id: u64,
    nick: String,
    conn: Conn,
    shared: Arc<Shared>,
    control: SendStream,
    /// Joined rooms and their writer tasks.
    rooms: HashMap<String, tokio::task::JoinHandle<()>>,
    sends: TokenBucket,
    typing: TokenBucket,
}

type Pending = FuturesUnordered<BoxFuture<'static, ServerFrame>>;

impl Session {
    /// The request loop: until the client leaves, the connection drops, or the relay shuts
    /// down and the drain time is over.
    async fn serve(&mut self, mut reader: FrameReader) -> Result<(), SessionError> {
        let mut pending: Pending = FuturesUnordered::new();
        let shutdown = self.shared.shutdown.clone();
        let mut drain_deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled(), if drain_deadline.is_none() => {
                    let reconnect_ms = rand::random_range(100..1000);
                    self.send(&ServerFrame::GoAway {
                        reconnect_ms,
                        message: "relay shutting down; reconnect to continue".into(),
                    }).await?;
                    drain_deadline = Some(Instant::now() + self.shared.limits.drain());
                }
                _ = sleep_until_opt(drain_deadline) => {
                    return Err(fatal(ErrorCode::SHUTTING_DOWN, "relay shutting down"));
                }
                Some(frame) = pending.next() => self.send(&frame).await?,
                frame = reader.next::<ClientFrame>(), if pending.len() < MAX_IN_FLIGHT => {
                    match frame? {
                        // Boxed: requests are few, and inline their futures (Join's
                        // above all) would size every idle session for the largest.
                        Some(frame) => Box::pin(self.handle(frame, &mut pending)).await?,
                        None => return Ok(()),
                    }
                }
                datagram = self.conn.read_datagram() => match datagram {
                    Ok(d) => self.datagram(&d),
                    Err(e) => return Err(SessionError::Closed(e.0)),
                },
            }
        }
    }

    async fn handle(
        &mut self,
        frame: ClientFrame,
        pending: &mut Pending,
    ) -> Result<(), SessionError> {
        match frame {
            ClientFrame::Hello(_) => Err(fatal(
                ErrorCode::PROTOCOL_VIOLATION,
                "Hello may only be sent once",
            )),
            ClientFrame::Join { id, room, resume } => self.join(id, room, resume).await,
            ClientFrame::Leave { id, room } => {
                if self.rooms.remove(&room).is_none() {
                    return self.not_joined(id, &room).await;
                }
                self.shared.hub.leave(&room, self.id).await;
                self.send(&ServerFrame::Left { id, room }).await
            }
            ClientFrame::Send { id, room, text } => {
                if let Err(e) = validate_room(&room)
                    .and_then(|_| validate_text(&text, self.shared.limits.max_text_bytes as usize))
                {
                    return self.error(id, e.code, &e.message).await;
                }
                if !self.sends.try_take() {
                    let message = format!(
                        "sending too fast: at most {} messages per second",
                        self.shared.limits.msgs_per_sec
                    );
                    return self.error(id, ErrorCode::RATE_LIMITED, &message).await;
                }
                let stored = self.shared.broker.publish(NewMessage {
                    room,
                    from: self.nick.clone(),
                    text,
                });
                let metrics = self.shared.metrics.clone();
                pending.push(Box::pin(async move {
                    match stored.await {
                        Ok(m) => {
                            metrics.message_in();
                            ServerFrame::Sent {
                                id,
                                room: m.room,
                                epoch: m.epoch,
                                seq: m.seq,
                                ts: m.ts,
                            }
                        }
                        Err(e) => broker_error(id, &metrics, e),
                    }
                }));
                Ok(())
            }
            ClientFrame::History {
                id,
                room,
                before,
                limit,
            } => {
                if let Err(e) = validate_room(&room) {
                    return self.error(id, e.code, &e.message).await;
                }
                if limit == 0 {
                    return self
                        .error(
                            id,
                            ErrorCode::INVALID_REQUEST,
                            "history limit must be at least 1",
                        )
                        .await;
                }
                let broker = self.shared.broker.clone();
                let metrics = self.shared.metrics.clone();
                let limit = limit.min(HISTORY_PAGE) as usize;
                pending.push(Box::pin(async move {
                    history_page(&broker, id, room, before, limit)
                        .await
                        .unwrap_or_else(|e| broker_error(id, &metrics, e))
                }));
                Ok(())
            }
            ClientFrame::Who { id, room } => {
                if !self.rooms.contains_key(&room) {
                    return self.not_joined(id, &room).await;
                }
                let members = self.shared.hub.members(&room);
                self.send(&ServerFrame::Members { id, room, members }).await
            }
            ClientFrame::Ping { id } => self.send(&ServerFrame::Pong { id, ts: now_ms() }).await,
        }
    }

    async fn join(
        &mut self,
        id: u32,
        room: String,
        resume: Option<ResumePoint>,
    ) -> Result<(), SessionError> {
        if let Err(e) = validate_room(&room) {
            return self.error(id, e.code, &e.message).await;
        }
        if self.rooms.contains_key(&room) {
            return self
                .error(
                    id,
                    ErrorCode::INVALID_REQUEST,
                    &format!("already in room {room}"),
                )
                .await;
        }
        if self.rooms.len() >= self.shared.limits.max_rooms as usize {
            let message = format!(
                "already in {} rooms, the most one session may join",
                self.rooms.len()
            );
            return self.error(id, ErrorCode::TOO_MANY_ROOMS, &message).await;
        }
        let hub = &self.shared.hub;
        let joining = match hub
            .join(&room, self.id, &self.nick, self.conn.clone())
            .await
        {
            Ok(j) => j,
            Err(e) => return self.broker_failed(id, e).await,
        };
        // Subscribed first, then the head: nothing stored from here on can be missed.
        let head = match self.shared.broker.head(&room).await {
            Ok(h) => h,
            Err(e) => {
                hub.leave(&room, self.id).await;
                return self.broker_failed(id, e).await;
            }
        };
        let (outcome, after, backfill) = match resume {
            None => (ResumeOutcome::Live, head.last_seq, false),
            Some(p) if p.epoch != 0 && p.epoch != head.epoch => (
                ResumeOutcome::EpochChanged,
                head.first_seq.saturating_sub(1),
                true,
            ),
            Some(p) if p.seq.saturating_add(1) < head.first_seq => (
                ResumeOutcome::Truncated {
                    first_seq: head.first_seq,
                },
                head.first_seq - 1,
                true,
            ),
            Some(p) => (ResumeOutcome::Resumed, p.seq, true),
        };
        let writer = RoomWriter {
            conn: self.conn.clone(),
            broker: self.shared.broker.clone(),
            room: room.clone(),
            epoch: head.epoch,
            last_sent: after,
            backfill,
        };
        // Debug level: the writer logs only at debug, and an enabled span is entered on
        // every poll, i.e. for every delivery.
        let span = tracing::debug_span!("room", session = self.id, room = %room);
        let task = tokio::spawn(
            async move {
                if let Err(e) = writer.run(joining.queue).await {
                    tracing::debug!("room stream ended: {e}");
                }
            }
            .instrument(span),
        );
        self.rooms.insert(room.clone(), task);
        self.send(&ServerFrame::Joined(Joined {
            id,
            room,
            epoch: head.epoch,
            last_seq: head.last_seq,
            members: joining.members,
            resume: outcome,
        }))
        .await
    }

    /// A typing datagram: forwarded to the room if this session is in it.
    fn datagram(&mut self, data: &[u8]) {
        match decode_datagram::<ClientDatagram>(data) {
            Ok(ClientDatagram::Typing { room }) => {
                if self.rooms.contains_key(&room) && self.typing.try_take() {
                    self.shared.broker.signal(
                        &room,
                        Signal::Typing {
                            nick: self.nick.clone(),
                        },
                    );
                }
            }
            // Datagrams carry nothing that matters; a bad one is dropped, not fatal.
            Err(e) => tracing::debug!("dropping a bad datagram: {e}"),
        }
    }

    /// Tells the client why the session ends, on the control stream, and waits briefly for
    /// it to arrive: closing the connection at once would discard it. The close that follows
    /// carries the same code and reason.
    async fn farewell(&mut self, code: ErrorCode, message: &str) {
        let frame = ServerFrame::Error(ErrorFrame {
            id: 0,
            code,
            message: message.to_string(),
        });
        let Ok(bytes) = encode_frame(&frame) else {
            return;
        };
        let stream = self.control.quic();
        let _ = timeout(FAREWELL_TIMEOUT, async {
            if stream.write_all(&bytes).await.is_ok() && stream.finish().is_ok() {
                let _ = stream.stopped().await;
            }
        })
        .await;
    }

    async fn leave_all(&mut self) {
        for (room, _task) in self.rooms.drain() {
            self.shared.hub.leave(&room, self.id).await;
        }
    }

    async fn not_joined(&mut self, id: u32, room: &str) -> Result<(), SessionError> {
        self.error(id, ErrorCode::NOT_JOINED, &format!("not in room {room}"))
            .await
    }

    async fn broker_failed(&mut self, id: u32, e: BrokerError) -> Result<(), SessionError> {
        let frame = broker_error(id, &self.shared.metrics, e);
        self.send(&frame).await
    }

    async fn error(&mut self, id: u32, code: ErrorCode, message: &str) -> Result<(), SessionError> {
        self.shared.metrics.error(code);
        self.send(&ServerFrame::Error(ErrorFrame {
            id,
            code,
            message: message.to_string(),
        }))
        .await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), SessionError> {
        let bytes = encode_frame(frame).map_err(|e| fatal(ErrorCode::INTERNAL, e.to_string()))?;
        match timeout(CONTROL_WRITE_TIMEOUT, self.control.quic().write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SessionError::Closed(e.to_string())),
            Err(_) => Err(fatal(
                ErrorCode::SLOW_CONSUMER,
                "the control stream is not being read",
            )),
        }
    }
}

fn broker_error(id: u32, metrics: &Metrics, e: BrokerError) -> ServerFrame {
    metrics.error(e.code());
    ServerFrame::Error(ErrorFrame {
        id,
        code: e.code(),
        message: e.to_string(),
    })
}

/// Newest messages before `before`, at most `limit` and at most HISTORY_PAGE_BYTES.
async fn history_page(
    broker: &SharedBroker,
    id: u32,
    room: String,
    before: Option<u64>,
    limit: usize,
) -> Result<ServerFrame, BrokerError> {
    let head = broker.head(&room).await?;
    // One extra tells whether more exist.
    let mut messages = broker.read_before(&room, before, limit + 1).await?;
    let mut more = messages.len() > limit;
    if more {
        messages.remove(0);
    }
    let mut size = 0;
    let mut keep = messages.len();
    for (i, m) in messages.iter().enumerate().rev() {
        size += m.text.len() + m.from.len() + m.room.len() + 32;
        if size > HISTORY_PAGE_BYTES {
            break;
        }
        keep = messages.len() - i;
    }
    if keep < messages.len() {
        messages.drain(..messages.len() - keep);
        more = true;
    }
    Ok(ServerFrame::History(HistoryPage {
        id,
        room,
        epoch: head.epoch,
        messages,
        more,
    }))
}

/// Writes one joined room to its own stream: the Open frame, history after the resume
/// point, then live messages, each seq once.
struct RoomWriter {
    conn: Conn,
    broker: SharedBroker,
    room: String,
    epoch: u64,
    /// The last seq this stream carried (or that the client already has).
    last_sent: u64,
    /// Whether to send stored messages after `last_sent` before live ones.
    backfill: bool,
}

impl RoomWriter {
    async fn run(mut self, mut queue: mpsc::Receiver<Outbound>) -> anyhow::Result<()> {
        let mut stream = self.conn.open_uni().await?;
        let s = stream.quic();
        let open = RoomFrame::Open {
            room: self.room.clone(),
            epoch: self.epoch,
        };
        s.write_all(&encode_frame(&open)?).await?;
        if self.backfill {
            loop {
                let page = match self
                    .broker
                    .read_after(&self.room, self.last_sent, RESUME_BATCH)
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
                    .into_iter()
                    .map(encode_message)
                    .collect::<Result<Vec<_>, _>>()?;
                let full = chunks.len() == RESUME_BATCH;
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
                    Outbound::Message { seq, frame } => {
                        if seq > self.last_sent {
                            self.last_sent = seq;
                            chunks.push(frame);
                        }
                    }
                    Outbound::Frame(frame) => chunks.push(frame),
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

fn encode_message(m: Message) -> Result<Bytes, FrameError> {
    encode_frame(&RoomFrame::Message(m)).map(Bytes::from)
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
