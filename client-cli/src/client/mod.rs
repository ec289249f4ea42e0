//! One connection to one relay, over QUIC or the relay's WebSocket transport ([`link`]):
//! its control stream, its room streams and datagrams.
//!
//! [`Connector`] makes connections ([`Client`] to send requests, [`Events`] to receive what
//! the relay pushes). Requests carry an id and are matched with their answer; any number may
//! be in flight at once. Nothing here reconnects: [`crate::session`] does that on top.
//!
//! Background tasks per connection: one reads the control stream and routes answers, one
//! accepts room streams and one per room stream reads it, one reads datagrams. Room events go
//! through a bounded queue, so a consumer that stops reading stops the room streams, and QUIC
//! flow control tells the relay; answers and control events never wait behind that queue.

pub mod entries;
mod io;
pub mod link;
pub mod race;
mod rename;
mod retry;
pub mod rooms;
mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chitchat_protocol::{
    ClientDatagram, ClientFrame, Entry, ErrorCode, FrameBuffer, Hello, HistoryPage, Joined,
    Message, PROTOCOL_VERSION, ResumePoint, ServerFrame, Welcome, encode_datagram, encode_frame,
};
use futures::future::{FutureExt, select_ok};
use tokio::sync::{mpsc, oneshot};

pub use retry::{SEND_RETRY_WINDOW, START_FIRST_WAIT, START_MAX_WAIT, retry_at_start};

use crate::addr::Via;
use crate::guest::GuestSecrets;
use crate::{ClientError, CloseReason, RelayAddr};
use link::{Link, LinkSend};

pub use tls::{load_roots, wss_connector};

/// How long a request waits for its answer by default. The relay answers at once unless its
/// message store is slow; past this the store is in trouble and the user should hear so.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How many room events may wait for the consumer before room streams stop being read.
/// Absorbs a burst; beyond it, QUIC flow control holds the rest at the relay (whose own
/// queue then tells a consumer that stays behind to reconnect and resume), rather than this
/// process buffering without end.
pub const DEFAULT_ROOM_QUEUE: usize = 256;

/// How long a connection may hear nothing from its relay before it is taken for dead, so
/// that a killed relay is left (and the session resumed on another) within 2 s: QUIC
/// notices the silence at most one keep-alive plus this after the last packet. Short, but
/// keep-alives make any live relay answer several times within it, and QUIC raises it by
/// itself to three probe timeouts on a slow path (RFC 9000 section 10.1). Cost: see
/// docs/performance.md.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(1000);

/// The keep-alive interval for an idle timeout: half of it, so each idle period holds a
/// keep-alive and its acknowledgement, and a lost one is re-sent by QUIC's probe timeout
/// (tens of ms, one RTT and a bit) well within the other half.
pub fn keep_alive_for(idle_timeout: Duration) -> Duration {
    idle_timeout / 2
}

/// How long closing waits for the close to reach the relay. Locally it takes a few ms;
/// past this the relay is unreachable and will time the connection out by itself.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// PEM file with the CA certificate(s) to trust; nothing else is trusted.
    pub ca_file: PathBuf,
    /// Resolving, the QUIC and TLS handshakes and Hello/Welcome must finish within this.
    pub connect_timeout: Duration,
    /// A connection that hears nothing from the relay for this long is dead.
    pub idle_timeout: Duration,
    /// How often an idle connection sends a QUIC PING, so it stays alive and a dead relay is
    /// noticed within `idle_timeout`.
    pub keep_alive: Duration,
    /// How long a request waits for its answer.
    pub request_timeout: Duration,
    /// Room events buffered before room streams stop being read.
    pub room_queue: usize,
    /// Where each nick's guest secret (`Hello.token` in open mode) is kept; `None` sends
    /// none (a nick nobody has claimed can still be used, without claiming it).
    pub guest_secrets: Option<GuestSecrets>,
}

impl ClientConfig {
    /// Defaults for an interactive client trusting `ca_file`: 5 s to connect (per relay;
    /// see [`Connector::connect_any`]), and a dead relay noticed within
    /// [`DEFAULT_IDLE_TIMEOUT`] plus one [`keep_alive`](Self::keep_alive).
    pub fn new(ca_file: impl Into<PathBuf>) -> Self {
        ClientConfig {
            ca_file: ca_file.into(),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            keep_alive: keep_alive_for(DEFAULT_IDLE_TIMEOUT),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            room_queue: DEFAULT_ROOM_QUEUE,
            guest_secrets: None,
        }
    }
}

/// Something the relay pushed, outside request/answer pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A room stream started (after a Join).
    RoomOpened { room: String, epoch: u64 },
    /// A room message, in seq order per room (version 1's frame; not sent to this client).
    Message(Message),
    /// A room's log entry (a message, a reply, an edit, a delete, a reaction), in seq order.
    Entry(Entry),
    /// Someone joined or left a room.
    Presence {
        room: String,
        nick: String,
        joined: bool,
    },
    /// Someone is typing in a room.
    Typing { room: String, nick: String },
    /// A member of a room is now known as `to` (version 3).
    Renamed {
        room: String,
        from: String,
        to: String,
    },
    /// A room's topic (version 3): as it stands at join, then each change; `by` is who
    /// changed it (empty: the topic at join, or a change through the server API).
    Topic {
        room: String,
        topic: String,
        by: String,
    },
    /// Another session of this user read `room` up to `seq`, or the marker stored for it
    /// came after a join (`ReadMarker` with id 0, version 3).
    ReadMarker { room: String, seq: u64 },
    /// The relay is shutting down: reconnect after `reconnect_ms`, elsewhere if possible.
    GoAway { reconnect_ms: u32, message: String },
    /// Token mode: the session's token expires at `expires_ms` (ms since the Unix epoch);
    /// [`Client::refresh`] with a fresh one before then keeps the session.
    TokenExpiring { expires_ms: u64 },
    /// The relay took the session out of a room (`Left` with id 0): a refreshed token no
    /// longer grants it.
    RoomRemoved { room: String },
    /// An error not tied to a request (id 0, or a request no longer waited for).
    Notice { code: ErrorCode, message: String },
    /// The connection ended; always the last event, after every event received before.
    Closed(CloseReason),
}

/// What a relay answered to a Send: where the message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The room history's epoch.
    pub epoch: u64,
    /// The message's seq in its room.
    pub seq: u64,
    /// Server time of storing, ms since the Unix epoch.
    pub ts: u64,
}

/// Makes connections to relays. Holds the TLS configuration (the CA is read once). Each
/// QUIC connection gets its own UDP socket: closing one then waits only for its own goodbye
/// to go out, never for an abandoned attempt on a dead relay to drain (see
/// [`Connector::connect_any`]).
pub struct Connector {
    cfg: ClientConfig,
    quic: quinn::ClientConfig,
    /// TLS for `wss://` relays.
    wss: tokio_rustls::TlsConnector,
    /// What goes in `Hello.token`: the sign-in token in token mode.
    token: Option<String>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("cfg", &self.cfg).finish()
    }
}

impl Connector {
    /// Reads the CA file and prepares the TLS configuration.
    pub fn new(cfg: ClientConfig) -> Result<Self, ClientError> {
        let quic = tls::quic_config(&cfg)?;
        let wss = tls::wss_connector(&cfg)?;
        Ok(Connector {
            cfg,
            quic,
            wss,
            token: None,
        })
    }

    /// Sets the token the next sessions open with (`Hello.token`).
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The token the next sessions open with.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The settings connections are made with.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Connects to one relay and opens a session as `nick`. Over QUIC every address the host
    /// resolves to is tried at once, the first to complete the handshake wins; a `ws://` or
    /// `wss://` relay is reached over TCP on its HTTP port.
    pub async fn connect(
        &self,
        relay: &RelayAddr,
        nick: &str,
    ) -> Result<(Client, Events), ClientError> {
        let unreachable = |reason: String| self.unreachable(relay, reason);
        let attempt = async {
            if let Via::WebSocket { tls } = relay.via() {
                let link = self.open_websocket(relay, tls).await?;
                return self.start_session(relay, link, None, nick).await;
            }
            let addrs: Vec<_> = tokio::net::lookup_host((relay.host(), relay.port()))
                .await
                .map_err(|e| unreachable(format!("cannot resolve {}: {e}", relay.host())))?
                .collect();
            if addrs.is_empty() {
                return Err(unreachable(format!("{} has no address", relay.host())));
            }
            let attempts = addrs
                .into_iter()
                .map(|addr| self.connect_addr(relay, addr, nick).boxed());
            match select_ok(attempts).await {
                Ok((done, _rest)) => Ok(done),
                Err(e) => Err(e),
            }
        };
        match tokio::time::timeout(self.cfg.connect_timeout, attempt).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(
                e @ (ClientError::Unreachable { .. }
                | ClientError::Certificate { .. }
                | ClientError::NotListening { .. }
                | ClientError::Refused { .. }),
            )) => Err(e),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "no answer within {} ms",
                self.cfg.connect_timeout.as_millis()
            ))),
        }
    }

    /// Connects to one of `relays`, starting at index `start` and trying the next one every
    /// [`race::CONNECT_STAGGER`] (or as soon as an attempt fails) while earlier attempts
    /// still run, QUIC relays before WebSocket ones ([`race::attempt_order`]); the first to
    /// accept the session wins. Returns the connection and the index
    /// of the relay that took it. A refusal of the session itself (e.g. an invalid nick) ends
    /// the search: another relay would refuse too.
    pub async fn connect_any(
        &self,
        relays: &[RelayAddr],
        start: usize,
        nick: &str,
    ) -> Result<(Client, Events, usize), ClientError> {
        let order = race::attempt_order(relays, start);
        let attempt = |i: usize| self.connect(&relays[order[i]], nick);
        match race::first_success(order.len(), race::CONNECT_STAGGER, attempt).await {
            Ok(((client, events), i)) => Ok((client, events, order[i])),
            Err(mut errors) if errors.len() == 1 => Err(errors.remove(0)),
            Err(errors) => Err(ClientError::NoRelay(errors)),
        }
    }

    fn endpoint(&self, v6: bool) -> Result<quinn::Endpoint, ClientError> {
        let bind = if v6 { "[::]:0" } else { "0.0.0.0:0" };
        let bind = bind
            .parse()
            .map_err(|_| ClientError::Unexpected("bad bind".into()))?;
        quinn::Endpoint::client(bind).map_err(|e| ClientError::Unreachable {
            relay: "(local socket)".into(),
            ca: self.cfg.ca_file.clone(),
            reason: format!("cannot open a UDP socket: {e}"),
        })
    }

    async fn connect_addr(
        &self,
        relay: &RelayAddr,
        addr: std::net::SocketAddr,
        nick: &str,
    ) -> Result<(Client, Events), ClientError> {
        let name = if relay.host().parse::<std::net::IpAddr>().is_ok() {
            relay.to_string()
        } else {
            format!("{relay} ({addr})")
        };
        let unreachable =
            |reason: String| link::unreachable(name.clone(), &self.cfg.ca_file, reason);
        let endpoint = self.endpoint(addr.is_ipv6())?;
        let handshake = endpoint
            .connect_with(self.quic.clone(), addr, relay.host())
            .map_err(|e| unreachable(e.to_string()))?;
        // Nothing listening answers with ICMP, which quinn does not report: a probe does.
        let conn = tokio::select! {
            conn = handshake => conn.map_err(|e| unreachable(describe_handshake_error(&e)))?,
            () = link::udp_port_refused(addr) => {
                return Err(ClientError::NotListening { relay: name });
            }
        };
        self.start_session(relay, Link::Quic(conn), Some(endpoint), nick)
            .await
    }

    /// Connects to a relay's WebSocket transport (see [`link::dial`]).
    async fn open_websocket(&self, relay: &RelayAddr, tls: bool) -> Result<Link, ClientError> {
        let wss = tls.then_some(&self.wss);
        link::dial(relay, wss, self.cfg.idle_timeout)
            .await
            .map_err(|e| match e {
                link::WsConnectError(_, true) => ClientError::NotListening {
                    relay: relay.to_string(),
                },
                link::WsConnectError(reason, false) => self.unreachable(relay, reason),
            })
    }

    /// `relay` could not be reached, for `reason`.
    fn unreachable(&self, relay: &RelayAddr, reason: String) -> ClientError {
        link::unreachable(relay.to_string(), &self.cfg.ca_file, reason)
    }

    /// Opens the control stream on an established connection, says Hello, waits for
    /// Welcome and starts the background readers.
    async fn start_session(
        &self,
        relay: &RelayAddr,
        conn: Link,
        endpoint: Option<quinn::Endpoint>,
        nick: &str,
    ) -> Result<(Client, Events), ClientError> {
        let unreachable = |reason: String| self.unreachable(relay, reason);
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let hello = ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            nick: nick.to_owned(),
            // A sign-in token (token mode) wins over the nick's guest secret (open mode).
            token: match &self.token {
                Some(token) => Some(token.clone()),
                None => self
                    .cfg
                    .guest_secrets
                    .as_ref()
                    .map(|g| g.secret(nick))
                    .transpose()?,
            },
        });
        let bytes = encode_frame(&hello).map_err(ClientError::BadFrame)?;
        send.write_all(&bytes).await.map_err(unreachable)?;

        let mut buf = FrameBuffer::new();
        let welcome = loop {
            match buf.next_frame::<ServerFrame>() {
                Ok(Some(ServerFrame::Welcome(w))) => break w,
                Ok(Some(ServerFrame::Error(e))) => {
                    conn.close(ErrorCode::NO_ERROR, "refused");
                    return Err(e.into());
                }
                Ok(Some(other)) => {
                    let e = format!("{} before Welcome", io::frame_name(&other));
                    io::close_with(&conn, ErrorCode::PROTOCOL_VIOLATION, &e);
                    return Err(ClientError::Unexpected(e));
                }
                Ok(None) => {}
                Err(e) => {
                    io::close_with(&conn, e.code(), &e.to_string());
                    return Err(ClientError::BadFrame(e));
                }
            }
            match recv.read_chunk(usize::MAX).await {
                Ok(Some(chunk)) => buf.extend(&chunk),
                Ok(None) => {
                    return Err(match conn.close_reason() {
                        Some(reason) => ClientError::Closed(reason),
                        None => unreachable("the relay ended the session before Welcome".into()),
                    });
                }
                Err(_) => {
                    return Err(match conn.closed().await {
                        CloseReason::Relay { code, reason } if code != ErrorCode::NO_ERROR => {
                            ClientError::Refused {
                                code,
                                message: reason,
                            }
                        }
                        other => unreachable(other.to_string()),
                    });
                }
            }
        };

        let state = Arc::new(io::ConnState::default());
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (room_tx, room_rx) = mpsc::channel(self.cfg.room_queue.max(1));
        tokio::spawn(io::read_control(
            conn.clone(),
            recv,
            buf,
            state.clone(),
            control_tx,
        ));
        tokio::spawn(io::accept_rooms(
            conn.clone(),
            room_tx.clone(),
            state.clone(),
        ));
        tokio::spawn(io::read_datagrams(conn.clone(), room_tx));

        let client = Client {
            inner: Arc::new(Inner {
                guard: CloseGuard(conn.clone()),
                endpoint,
                send: tokio::sync::Mutex::new(send),
                state: state.clone(),
                next_id: AtomicU32::new(1),
                welcome,
                relay: relay.clone(),
                request_timeout: self.cfg.request_timeout,
            }),
        };
        let events = Events {
            control: control_rx,
            rooms: room_rx,
            conn,
            state,
            done: false,
        };
        Ok((client, events))
    }
}

/// Words for a failed handshake; certificate trouble is the usual one and deserves a hint.
fn describe_handshake_error(e: &quinn::ConnectionError) -> String {
    CloseReason::from_quinn(e).to_string()
}

/// Requests to one relay over one connection. Cheap to clone; the connection closes when the
/// last clone is dropped or [`Client::close`] is called.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    guard: CloseGuard,
    /// The QUIC endpoint, waited on when closing; `None` over a WebSocket.
    endpoint: Option<quinn::Endpoint>,
    send: tokio::sync::Mutex<LinkSend>,
    state: Arc<io::ConnState>,
    next_id: AtomicU32,
    welcome: Welcome,
    relay: RelayAddr,
    request_timeout: Duration,
}

/// Closes the connection when the last [`Client`] clone goes.
#[derive(Debug)]
struct CloseGuard(Link);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.0.close(ErrorCode::NO_ERROR, "client gone");
    }
}

impl Client {
    /// The relay's Welcome: its node id, the nick it recorded, its limits.
    pub fn welcome(&self) -> &Welcome {
        &self.inner.welcome
    }

    /// The relay this connection goes to.
    pub fn relay(&self) -> &RelayAddr {
        &self.inner.relay
    }

    /// The underlying connection.
    pub fn link(&self) -> &Link {
        &self.inner.guard.0
    }

    /// The underlying QUIC connection (for statistics such as the RTT); `None` over a
    /// WebSocket.
    pub fn connection(&self) -> Option<&quinn::Connection> {
        self.link().quic()
    }

    /// Why the connection ended, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.state.close_reason(self.link())
    }

    /// Joins `room`. With `resume`, every stored message after it follows on the room stream,
    /// then live ones; without, live ones only.
    pub async fn join(
        &self,
        room: &str,
        resume: Option<ResumePoint>,
    ) -> Result<Joined, ClientError> {
        let room = room.to_owned();
        let frame = |id| ClientFrame::Join { id, room, resume };
        match self.request(frame).await? {
            ServerFrame::Joined(joined) => Ok(joined),
            other => Err(unexpected(&other)),
        }
    }

    /// Leaves `room`; its room stream ends.
    pub async fn leave(&self, room: &str) -> Result<(), ClientError> {
        let room = room.to_owned();
        let frame = |id| ClientFrame::Leave { id, room };
        match self.request(frame).await? {
            ServerFrame::Left { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// One page of stored messages older than `before` (the newest if `None`), oldest first.
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u16,
    ) -> Result<HistoryPage, ClientError> {
        match self
            .request(entries::history_request(room, before, limit))
            .await?
        {
            ServerFrame::History(page) => Ok(page),
            ServerFrame::Entries(page) => Ok(entries::as_history(page)),
            other => Err(unexpected(&other)),
        }
    }

    /// The nicks in a joined room, sorted.
    pub async fn who(&self, room: &str) -> Result<Vec<String>, ClientError> {
        let room = room.to_owned();
        let frame = |id| ClientFrame::Who { id, room };
        match self.request(frame).await? {
            ServerFrame::Members { members, .. } => Ok(members),
            other => Err(unexpected(&other)),
        }
    }

    /// A round trip through the relay; returns the relay's clock (ms since the Unix epoch).
    pub async fn ping(&self) -> Result<u64, ClientError> {
        match self.request(|id| ClientFrame::Ping { id }).await? {
            ServerFrame::Pong { ts, .. } => Ok(ts),
            other => Err(unexpected(&other)),
        }
    }

    /// Token mode: replaces the session's token with a fresh one for the same user, without
    /// reconnecting; returns when the new one expires (ms since the Unix epoch, 0: never).
    /// A token the relay refuses ends the session (`UNAUTHORIZED`).
    pub async fn refresh(&self, token: &str) -> Result<u64, ClientError> {
        let token = token.to_owned();
        match self
            .request(|id| ClientFrame::Refresh { id, token })
            .await?
        {
            ServerFrame::Refreshed { expires_ms, .. } => Ok(expires_ms),
            other => Err(unexpected(&other)),
        }
    }

    /// Tells a room this user is typing. A datagram: it may be lost, and that is fine.
    pub fn typing(&self, room: &str) -> Result<(), ClientError> {
        let body = encode_datagram(&ClientDatagram::Typing {
            room: room.to_owned(),
        })
        .map_err(ClientError::BadFrame)?;
        self.link()
            .send_datagram(Bytes::from(body))
            .map_err(|e| ClientError::Unexpected(format!("datagram not sent: {e}")))
    }

    /// Closes the connection politely and waits (briefly) until the relay was told.
    pub async fn close(&self) {
        self.link().close(ErrorCode::NO_ERROR, "bye");
        if let Some(endpoint) = &self.inner.endpoint {
            let _ = tokio::time::timeout(CLOSE_GRACE, endpoint.wait_idle()).await;
        }
    }

    fn next_id(&self) -> u32 {
        loop {
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    /// Sends one request, built by `frame` around a fresh id, and waits for the frame
    /// answering that id; an Error frame becomes [`ClientError::Refused`].
    async fn request(
        &self,
        frame: impl FnOnce(u32) -> ClientFrame,
    ) -> Result<ServerFrame, ClientError> {
        let id = self.next_id();
        let bytes = encode_frame(&frame(id)).map_err(ClientError::BadFrame)?;
        let state = &self.inner.state;
        let answer = state.register(id).ok_or_else(|| self.closed_error())?;
        let written = {
            let mut send = self.inner.send.lock().await;
            send.write_all(&bytes).await
        };
        if written.is_err() {
            state.forget(id);
            return Err(self.closed_error());
        }
        match tokio::time::timeout(self.inner.request_timeout, answer).await {
            Ok(Ok(ServerFrame::Error(e))) => Err(e.into()),
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                state.forget(id);
                Err(ClientError::Timeout(self.inner.request_timeout))
            }
        }
    }

    fn closed_error(&self) -> ClientError {
        ClientError::Closed(self.close_reason().unwrap_or_else(|| CloseReason::Local {
            code: ErrorCode::PROTOCOL_VIOLATION,
            reason: "the control stream ended".into(),
        }))
    }
}

fn unexpected(frame: &ServerFrame) -> ClientError {
    ClientError::Unexpected(io::frame_name(frame).to_owned())
}

/// What the relay pushes on one connection, in arrival order per room. Ends with
/// [`Event::Closed`] once the connection is gone and everything received before was handed
/// out.
#[derive(Debug)]
pub struct Events {
    control: mpsc::UnboundedReceiver<Event>,
    rooms: mpsc::Receiver<Event>,
    conn: Link,
    state: Arc<io::ConnState>,
    done: bool,
}

impl Events {
    /// The next event; `None` after [`Event::Closed`] was returned. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        tokio::select! {
            biased;
            Some(event) = self.control.recv() => Some(event),
            Some(event) = self.rooms.recv() => Some(event),
            else => {
                self.done = true;
                let reason = self.state.close_reason(&self.conn).unwrap_or_else(|| {
                    CloseReason::Local {
                        code: ErrorCode::NO_ERROR,
                        reason: "closed by this client".into(),
                    }
                });
                Some(Event::Closed(reason))
            }
        }
    }
}

/// Pending requests, state by [`Client`] and the control reader.
type Pending = HashMap<u32, oneshot::Sender<ServerFrame>>;
