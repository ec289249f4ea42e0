//! One client session, native QUIC or WebTransport alike: the Hello handshake and the serve
//! loop on the control stream. The requests are in `requests`, each joined room's stream
//! in `room_writer`, the limits in `limits`.
//!
//! A session never blocks another: it owns its streams and drains its rooms' bounded hub
//! queues at its own pace; one that falls too far behind is disconnected (SLOW_CONSUMER) and
//! resumes from history.

mod entries;
mod identity;
mod limits;
mod markers;
mod quota;
mod rename;
mod requests;
mod room_writer;
mod rooms;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chitchat_protocol::{
    ClientFrame, ErrorCode, ErrorFrame, Frame, FrameBuffer, FrameError, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION, ServerFrame, Welcome, encode_frame, validate_nick,
};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, AuthMode, Identity};
use crate::broker::SharedBroker;
use crate::claims::{ClaimError, Claims, HeldClaim};
use crate::hub::{Hub, SlowFlag};
use crate::metrics::Metrics;
use crate::rooms::Rooms;
use crate::transport::{Conn, RecvStream, SendStream};
pub use identity::WARN_BEFORE;
use identity::{ModeCount, TokenClock};
pub use limits::{HISTORY_PAGE, LimitsConfig};
use limits::{MAX_IN_FLIGHT, RateLimits};
use quota::AddressQuotas;
pub use quota::QuotaConfig;

/// How long a write on the control stream may wait for the client to read.
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing session waits for its last Error frame to be acknowledged.
const FAREWELL_TIMEOUT: Duration = Duration::from_millis(500);

/// What every session shares: the relay's state.
pub struct RelayState {
    pub node_id: String,
    pub hub: Arc<Hub>,
    pub broker: SharedBroker,
    /// Guest nick claims (open mode).
    pub claims: Arc<Claims>,
    pub limits: LimitsConfig,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the relay begins to shut down.
    pub shutdown: CancellationToken,
    /// Open sessions, for the max-sessions limit.
    pub sessions: AtomicUsize,
    next_session: AtomicU64,
    /// Quotas per source address, shared by all its sessions.
    quotas: AddressQuotas,
    /// The auth mode and keys: who a session is and what it may do.
    pub auth: Arc<Auth>,
    /// Rooms' records and the directory.
    pub rooms: Arc<Rooms>,
}

impl RelayState {
    pub fn new(
        node_id: String,
        hub: Arc<Hub>,
        broker: SharedBroker,
        claims: Arc<Claims>,
        limits: LimitsConfig,
        metrics: Arc<Metrics>,
        auth: Arc<Auth>,
    ) -> RelayState {
        RelayState {
            node_id,
            rooms: Rooms::new(broker.clone(), hub.clone(), auth.clone()),
            hub,
            broker,
            claims,
            quotas: AddressQuotas::new(limits.quota.clone()),
            limits,
            metrics,
            shutdown: CancellationToken::new(),
            sessions: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
            auth,
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
pub async fn run(conn: Conn, state: Arc<RelayState>) {
    let kind = conn.kind();
    state.metrics.session_opened(kind);
    let mut session = None;
    let mut control = None;
    let result = match handshake(&conn, &state, &mut control, &mut session).await {
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
            state.metrics.error(code);
            if code == ErrorCode::SLOW_CONSUMER {
                state.metrics.slow_consumer();
            }
            if let Some(stream) = session
                .as_mut()
                .map(|s| &mut s.control)
                .or(control.as_mut())
            {
                farewell(stream, code, &message).await;
            }
            conn.close(code, &message);
        }
    }
    state.metrics.session_closed(kind);
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
            match self.stream.read_chunk(64 * 1024).await {
                Ok(Some(chunk)) => self.buf.extend(&chunk),
                Ok(None) => {
                    self.buf.finish()?;
                    return Ok(None);
                }
                Err(e) => return Err(SessionError::Closed(e.0)),
            }
        }
    }
}

/// Waits for the control stream and Hello, answers Welcome, and leaves the session in
/// `out`. Everything must happen within the handshake timeout. Until the session exists,
/// the control stream waits in `control`, so that a fatal error can be told on it.
async fn handshake(
    conn: &Conn,
    state: &Arc<RelayState>,
    control: &mut Option<SendStream>,
    out: &mut Option<Session>,
) -> Result<FrameReader, SessionError> {
    let deadline = Instant::now() + state.limits.handshake_timeout();
    let late = || fatal(ErrorCode::HANDSHAKE_TIMEOUT, "no Hello in time");
    let (send, recv) = timeout_at(deadline, conn.accept_bi())
        .await
        .map_err(|_| late())?
        .map_err(|e| SessionError::Closed(e.0))?;
    *control = Some(send);
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
    let Some(send) = control.take() else {
        return Err(fatal(
            ErrorCode::INTERNAL,
            "the control stream went missing",
        ));
    };
    let id = state.next_session.fetch_add(1, Ordering::Relaxed);
    let mut session = Session {
        id,
        nick: hello.nick.clone(),
        conn: conn.clone(),
        addr: conn.remote_address().ip(),
        state: state.clone(),
        control: send,
        rooms: HashMap::new(),
        rates: RateLimits::new(&state.limits),
        slow: Arc::default(),
        histories: 0,
        identity: Identity::guest(&hello.nick),
        clock: TokenClock::default(),
        counted: None,
        claim_lost: CancellationToken::new(),
        held: HeldClaim::default(),
        version: hello.version,
        inbox: Arc::default(),
        watching: None,
    };
    let refused = if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&hello.version) {
        Some(fatal(
            ErrorCode::UNSUPPORTED_VERSION,
            format!(
                "this relay speaks protocol versions {MIN_PROTOCOL_VERSION} to \
                 {PROTOCOL_VERSION}, the client {}",
                hello.version
            ),
        ))
    } else if let Err(refused) = session.admit(&hello) {
        Some(refused)
    } else if let Err(e) = validate_nick(&session.nick) {
        Some(fatal(e.code, e.message))
    } else if state.auth.mode == AuthMode::Open {
        let claim = state
            .claims
            .admit(conn, &session.nick, hello.token.as_deref());
        match claim.await {
            Ok(admitted) => {
                session.claim_lost = admitted.lost;
                session.held = admitted.held;
                None
            }
            Err(e) => Some(fatal(e.code(), e.to_string())),
        }
    } else {
        None
    };
    if let Some(refused) = refused {
        // The session exists only to say goodbye (see `run`).
        *out = Some(session);
        return Err(refused);
    }
    session
        .send(&ServerFrame::Welcome(Welcome {
            version: session.version,
            node_id: state.node_id.clone(),
            session_id: id,
            nick: session.nick.clone(),
            limits: state.limits.wire(),
        }))
        .await?;
    session.watch_markers();
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
    /// The source address, for the per-address quotas.
    addr: IpAddr,
    state: Arc<RelayState>,
    control: SendStream,
    /// Joined rooms and their writer tasks.
    rooms: HashMap<String, tokio::task::JoinHandle<()>>,
    rates: RateLimits,
    /// Raised by the hub when this session falls too far behind in a room.
    slow: Arc<SlowFlag>,
    /// History answers in `Pending`, not yet written.
    histories: usize,
    /// Who the session is (see `identity`).
    identity: Identity,
    /// When its token is about to expire, and expires.
    clock: TokenClock,
    /// Counts the session under its auth mode while it lives.
    counted: Option<ModeCount>,
    /// Cancelled when another secret holds the nick's guest claim now (`claims.rs`).
    claim_lost: CancellationToken,
    /// The guest claim this session holds, moved by a rename.
    held: HeldClaim,
    /// The protocol version the session speaks: the Hello's, once checked to be one this
    /// relay speaks (see `Welcome.version`).
    version: u16,
    /// Read markers the user's other sessions set, waiting to be written (see `markers`).
    inbox: Arc<crate::markers::Inbox>,
    /// The session's place on the hub's marker board, while it has a user (version 3).
    watching: Option<crate::markers::Watching>,
}

impl Session {
    /// Whether the session may store an entry in `room` now: its grant (token mode), then
    /// its message rate (Send, Post, Edit, Delete and React share it); the refusal if not.
    fn may_write(&mut self, room: &str) -> Result<(), (ErrorCode, String)> {
        self.authorize(room, crate::auth::grants::Access::WRITE)
            .map_err(|m| (ErrorCode::FORBIDDEN, m))?;
        self.state
            .rooms
            .check_writable(room)
            .map_err(|m| (ErrorCode::FORBIDDEN, m))?;
        if !self.rates.sends.try_take() {
            let message = format!(
                "sending too fast: at most {} messages per second",
                self.state.limits.msgs_per_sec
            );
            return Err((ErrorCode::RATE_LIMITED, message));
        }
        Ok(())
    }
}

/// An answer being prepared, and whether it is a History page (those are bounded apart).
struct Answer {
    frame: ServerFrame,
    history: bool,
}

/// Answers still being prepared (sends awaiting storage, history reads), in completion
/// order.
type Pending = FuturesUnordered<BoxFuture<'static, Answer>>;

impl Session {
    /// The serve loop: until the client leaves, the connection drops, or the relay shuts
    /// down and the drain time is over.
    async fn serve(&mut self, mut reader: FrameReader) -> Result<(), SessionError> {
        let mut pending: Pending = FuturesUnordered::new();
        let shutdown = self.state.shutdown.clone();
        let mut drain_deadline: Option<Instant> = None;
        let slow = self.slow.clone();
        let claim_lost = self.claim_lost.clone();
        let inbox = self.inbox.clone();
        let mut idle = IdleWatch::new(&self.conn, self.state.limits.session_idle_timeout());
        let mut ticker = tokio::time::interval(idle.tick());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = slow.raised() => return Err(slow_consumer()),
                _ = claim_lost.cancelled() => {
                    self.state.metrics.nick_claim_lost();
                    let lost = ClaimError::Lost(self.nick.clone());
                    return Err(fatal(lost.code(), lost.to_string()));
                }
                _ = ticker.tick() => if idle.expired(&self.conn) {
                    return Err(fatal(
                        ErrorCode::IDLE_TIMEOUT,
                        format!("silent for {} s", idle.limit.as_secs()),
                    ));
                },
                _ = shutdown.cancelled(), if drain_deadline.is_none() => {
                    let reconnect_ms = rand::random_range(100..1000);
                    self.send(&ServerFrame::GoAway {
                        reconnect_ms,
                        message: "relay shutting down; reconnect to continue".into(),
                    }).await?;
                    drain_deadline = Some(Instant::now() + self.state.limits.drain());
                }
                _ = sleep_until_opt(drain_deadline) => {
                    return Err(fatal(ErrorCode::SHUTTING_DOWN, "relay shutting down"));
                }
                _ = sleep_until_opt(self.clock.warn_at) => self.warn_expiring().await?,
                _ = sleep_until_opt(self.clock.expire_at) => return Err(self.expired()),
                Some(answer) = pending.next() => self.answer(answer).await?,
                _ = inbox.ready() => self.send_markers().await?,
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

    /// Writes a prepared answer.
    async fn answer(&mut self, answer: Answer) -> Result<(), SessionError> {
        if answer.history {
            self.histories -= 1;
        }
        self.send(&answer.frame).await
    }

    async fn leave_all(&mut self) {
        for (room, _task) in self.rooms.drain() {
            self.state.hub.leave(&room, self.id).await;
        }
    }

    /// Writes one frame on the control stream. A session found slow meanwhile (in a room
    /// or here) ends with SLOW_CONSUMER.
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), SessionError> {
        let bytes = encode_frame(frame).map_err(|e| fatal(ErrorCode::INTERNAL, e.to_string()))?;
        let write = timeout(CONTROL_WRITE_TIMEOUT, self.control.write_all(&bytes));
        tokio::select! {
            written = write => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SessionError::Closed(e.0)),
                Err(_) => Err(fatal(
                    ErrorCode::SLOW_CONSUMER,
                    "the control stream is not being read",
                )),
            },
            _ = self.slow.raised() => Err(slow_consumer()),
        }
    }
}

fn slow_consumer() -> SessionError {
    fatal(
        ErrorCode::SLOW_CONSUMER,
        "too slow reading messages; reconnect and resume to get the rest",
    )
}

/// Tells the client why the session ends, on the control stream, and waits briefly for it to
/// arrive: closing the connection at once would discard it. The close that follows carries
/// the same code and reason. A control stream the client does not read gets nothing.
async fn farewell(control: &mut SendStream, code: ErrorCode, message: &str) {
    let frame = ServerFrame::Error(ErrorFrame {
        id: 0,
        code,
        message: message.to_string(),
    });
    let Ok(bytes) = encode_frame(&frame) else {
        return;
    };
    let _ = timeout(FAREWELL_TIMEOUT, async {
        if control.write_all(&bytes).await.is_ok() && control.finish().is_ok() {
            control.stopped().await;
        }
    })
    .await;
}

/// Watches for a silent client: anything it sends (a frame, a datagram, a keep-alive or
/// acknowledgement) moves the connection's received count.
struct IdleWatch {
    limit: Duration,
    received: u64,
    since: Instant,
}

impl IdleWatch {
    fn new(conn: &Conn, limit: Duration) -> IdleWatch {
        IdleWatch {
            limit,
            received: conn.received(),
            since: Instant::now(),
        }
    }

    /// How often to look: the session closes between `limit` and `limit` and a quarter.
    fn tick(&self) -> Duration {
        (self.limit / 4).max(Duration::from_millis(50))
    }

    /// Whether the client has sent nothing for `limit`.
    fn expired(&mut self, conn: &Conn) -> bool {
        let received = conn.received();
        if received != self.received {
            self.received = received;
            self.since = Instant::now();
            return false;
        }
        self.since.elapsed() >= self.limit
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The Error frame answering request `id` that the broker failed.
fn broker_error(id: u32, metrics: &Metrics, e: crate::broker::BrokerError) -> ServerFrame {
    metrics.error(e.code());
    ServerFrame::Error(ErrorFrame {
        id,
        code: e.code(),
        message: e.to_string(),
    })
}
