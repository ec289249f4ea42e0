//! The session task: owns the connection and the resume [`Tracker`], answers requests in
//! order, reconnects with backoff (or after a GoAway's wait) and re-joins every room.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use chitchat_protocol::{ErrorCode, Welcome, validate_nick};
use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use super::refresh::Tokens;
use super::{Request, SessionConfig, SessionEvent, SessionEvents, SessionHandle};
use crate::client::{Connector, Event, Events};
use crate::resume::{Tracker, Verdict};
use crate::{Client, ClientError, CloseReason, RelayAddr};

/// Requests waiting for the session task. Interactive use has one at a time; the bound only
/// keeps a runaway caller from queueing without limit.
const REQUEST_QUEUE: usize = 64;

/// Session events waiting for the user. A user who falls behind by more stops the session
/// from taking room events (see [`crate::client::DEFAULT_ROOM_QUEUE`]); small, since every
/// event held here is one the relay no longer knows is unread.
const EVENT_QUEUE: usize = 64;

/// The longest wait a relay's GoAway may impose before reconnecting: a relay asking for more
/// is wrong, and the user should not sit idle on its word.
const MAX_GOAWAY_WAIT: Duration = Duration::from_secs(10);

/// How often a session pings its relay. Keeps a quiet session (a `tail` of a silent room)
/// alive at the application level too, well within any idle limit a relay sets.
const PING_INTERVAL: Duration = Duration::from_secs(20);

/// Sleeps until `at`; never returns without one (the caller guards it).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Connects to the first relay of `cfg.relays` that answers (trying each once) and starts a
/// session there. Fails if none can be reached: a session that never connected has nothing
/// to resume, and its user should hear at once that the address or CA is wrong.
pub async fn start(cfg: SessionConfig) -> Result<(SessionHandle, SessionEvents), ClientError> {
    if cfg.relays.is_empty() {
        return Err(ClientError::NoRelay(Vec::new()));
    }
    validate_nick(&cfg.nick)?;
    let mut connector = Connector::new(cfg.client.clone())?;
    let mut tokens = Tokens::new(cfg.token.clone());
    tokens.prepare(&mut connector).await?;
    let (client, events, cursor) = connector
        .connect_any(&cfg.relays, 0, &cfg.nick)
        .await
        .map_err(|e| e.with_token_advice(cfg.token.as_ref(), connector.token()))?;
    let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
    let (out, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (welcome_tx, welcome) = watch::channel(client.welcome().clone());
    let span = tracing::info_span!("session", nick = %cfg.nick);
    let actor = Actor {
        connector,
        tokens,
        relays: cfg.relays,
        cursor,
        nick: cfg.nick,
        conn: Some((client, events)),
        tracker: Tracker::new(),
        requests,
        deferred: VecDeque::new(),
        out,
        outq: VecDeque::new(),
        welcome: welcome_tx,
        backoff: Backoff::new(cfg.backoff_min, cfg.backoff_max),
        unjoined: BTreeSet::new(),
        rejoin_at: None,
        rejoin_backoff: Backoff::new(cfg.backoff_min, cfg.backoff_max),
        delay: None,
        stop: false,
        closing: None,
    };
    tokio::spawn(actor.run().instrument(span));
    Ok((
        SessionHandle {
            requests: requests_tx,
            welcome,
        },
        SessionEvents { events: events_rx },
    ))
}

/// Exponential backoff with jitter, so clients of a restarted relay do not return in step.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The wait before the next attempt (±25 %); doubles the one after, up to the maximum.
    fn next(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(rand::rng().random_range(0.75..1.25))
    }

    /// The base of the next wait, without drawing it (for telling the user).
    fn peek(&self) -> Duration {
        self.next
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Whether a relay's refusal of a re-join means the room can never be joined again by this
/// session, so retrying is pointless. Anything else (the store unavailable, a rate or
/// resource limit, a timeout, an internal error) may pass, and the room is retried.
fn never_joinable(error: &ClientError) -> bool {
    matches!(
        error.code(),
        Some(ErrorCode::INVALID_ROOM | ErrorCode::INVALID_REQUEST)
    )
}

struct Actor {
    connector: Connector,
    /// The sign-in token (token mode) and its refreshes.
    tokens: Tokens,
    relays: Vec<RelayAddr>,
    /// Index in `relays` of the current (or last) relay.
    cursor: usize,
    nick: String,
    conn: Option<(Client, Events)>,
    tracker: Tracker,
    requests: mpsc::Receiver<Request>,
    /// Requests that arrived while disconnected, answered once connected.
    deferred: VecDeque<Request>,
    out: mpsc::Sender<SessionEvent>,
    /// Events processed but not yet taken by the user.
    outq: VecDeque<SessionEvent>,
    welcome: watch::Sender<Welcome>,
    backoff: Backoff,
    /// Rooms still in the tracker that the current relay would not re-join yet.
    unjoined: BTreeSet<String>,
    /// When to try `unjoined` again.
    rejoin_at: Option<tokio::time::Instant>,
    /// Paces re-join attempts on one connection.
    rejoin_backoff: Backoff,
    /// Wait before the next connection attempt instead of the backoff (a GoAway's hint).
    delay: Option<Duration>,
    stop: bool,
    /// The Close request to answer once closed.
    closing: Option<oneshot::Sender<()>>,
}

impl Actor {
    async fn run(mut self) {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stop {
            if self.conn.is_none() {
                self.reconnect().await;
            } else if let Some(request) = self.deferred.pop_front() {
                self.handle(request).await;
            } else {
                self.step(&mut ping).await;
            }
        }
        if let Some((client, _)) = self.conn.take() {
            client.close().await;
        }
        match self.closing.take() {
            Some(reply) => {
                let _ = reply.send(());
            }
            // Ended by itself (a fatal error) or because every handle is gone: whatever the
            // user has not read yet, the Fatal event above all, still reaches it.
            None => {
                while let Some(event) = self.outq.pop_front() {
                    if self.out.send(event).await.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::debug!("session ended");
    }

    /// Waits for the next thing to do while connected: a request, the user taking an event,
    /// an event from the relay (only while the user keeps up), the time to retry rooms not
    /// re-joined yet, or the ping timer.
    async fn step(&mut self, ping: &mut tokio::time::Interval) {
        let Some((client, events)) = self.conn.as_mut() else {
            return;
        };
        let out = self.out.clone();
        tokio::select! {
            request = self.requests.recv() => match request {
                Some(request) => self.handle(request).await,
                None => self.stop = true,
            },
            permit = out.reserve(), if !self.outq.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(event) = self.outq.pop_front() {
                        permit.send(event);
                    }
                }
                // Nobody reads events: drop them, requests still work.
                Err(_) => self.outq.clear(),
            },
            event = events.recv(), if self.outq.is_empty() => self.on_event(event).await,
            outcome = self.tokens.outcome() => {
                if let Some(event) = self.tokens.apply(outcome, &mut self.connector) {
                    self.outq.push_back(event);
                }
            }
            () = sleep_until(self.rejoin_at), if self.rejoin_at.is_some() => {
                let rooms = self.unjoined.iter().cloned().collect();
                self.rejoin(rooms).await;
            }
            _ = ping.tick() => {
                let client = client.clone();
                // Detached: a dead relay shows up as a closed connection, not here.
                tokio::spawn(async move {
                    let _ = client.ping().await;
                });
            }
        }
    }

    fn relay(&self) -> RelayAddr {
        self.relays[self.cursor % self.relays.len()].clone()
    }

    async fn on_event(&mut self, event: Option<Event>) {
        match event {
            Some(Event::Message(msg)) => {
                if self.tracker.accept(&msg) == Verdict::Deliver {
                    self.outq.push_back(SessionEvent::Message(msg));
                }
            }
            Some(Event::Entry(entry)) => {
                if self.tracker.accept_at(&entry.room, entry.epoch, entry.seq) == Verdict::Deliver {
                    self.outq.push_back(SessionEvent::Entry(entry));
                }
            }
            Some(Event::Presence { room, nick, joined }) => {
                if self.tracker.contains(&room) {
                    self.outq
                        .push_back(SessionEvent::Presence { room, nick, joined });
                }
            }
            Some(Event::Typing { room, nick }) => {
                if self.tracker.contains(&room) {
                    self.outq.push_back(SessionEvent::Typing { room, nick });
                }
            }
            Some(Event::Renamed { room, from, to }) => {
                if self.tracker.contains(&room) {
                    self.outq
                        .push_back(SessionEvent::Renamed { room, from, to });
                }
            }
            Some(Event::Topic { room, topic, by }) => {
                if self.tracker.contains(&room) {
                    self.outq.push_back(SessionEvent::Topic { room, topic, by });
                }
            }
            Some(Event::ReadMarker { room, seq }) => {
                if self.tracker.contains(&room) {
                    self.outq.push_back(SessionEvent::ReadMarker { room, seq });
                }
            }
            Some(Event::RoomOpened { .. }) => {}
            Some(Event::RoomRemoved { room }) => {
                self.unjoined.remove(&room);
                self.tracker.remove(&room);
                let error = ClientError::Refused {
                    code: ErrorCode::FORBIDDEN,
                    message: format!("the refreshed token no longer grants {room}"),
                };
                self.outq.push_back(SessionEvent::RoomLost { room, error });
            }
            Some(Event::TokenExpiring { expires_ms }) => {
                if let Some((client, _)) = &self.conn
                    && let Some(event) = self.tokens.expiring(client, expires_ms)
                {
                    self.outq.push_back(event);
                }
            }
            Some(Event::Notice { code, message }) => {
                self.outq.push_back(SessionEvent::Notice { code, message });
            }
            Some(Event::GoAway {
                reconnect_ms,
                message,
            }) => {
                let wait = Duration::from_millis(u64::from(reconnect_ms)).min(MAX_GOAWAY_WAIT);
                self.outq.push_back(SessionEvent::Moving {
                    relay: self.relay(),
                    message,
                    reconnect_in: wait,
                });
                self.delay = Some(wait);
                if let Some((client, _)) = self.conn.take() {
                    client.close().await;
                }
            }
            Some(Event::Closed(reason)) => self.lost(reason),
            None => self.lost(CloseReason::Lost("the connection ended".into())),
        }
    }

    /// The connection is gone: say so, and give up only if the relay closed it for
    /// something this client does that another attempt would repeat.
    fn lost(&mut self, reason: CloseReason) {
        self.conn = None;
        let hopeless = matches!(&reason, CloseReason::Relay { code, .. }
            if (1..=6).contains(&code.0) || *code == ErrorCode::INVALID_NICK);
        if let Some(error) = self.tokens.closed(&reason, &self.connector) {
            self.outq.push_back(SessionEvent::Fatal(error));
            self.stop = true;
        } else if hopeless {
            self.outq
                .push_back(SessionEvent::Fatal(ClientError::Closed(reason)));
            self.stop = true;
        } else {
            self.outq.push_back(SessionEvent::Disconnected {
                relay: self.relay(),
                reason,
            });
        }
    }

    /// One reconnection attempt, after the backoff (or the GoAway's wait), on the next relay
    /// and then the others.
    async fn reconnect(&mut self) {
        let wait = self.delay.take().unwrap_or_else(|| self.backoff.next());
        if !self.pause(wait).await {
            self.stop = true;
            return;
        }
        // The next relay first, the others staggered alongside it: a dead one costs a
        // quarter second, not a connect timeout.
        let start = (self.cursor + 1) % self.relays.len();
        let connected = match self.tokens.prepare(&mut self.connector).await {
            Ok(()) => {
                self.connector
                    .connect_any(&self.relays, start, &self.nick)
                    .await
            }
            Err(e) => Err(e),
        };
        // A token file being rewritten or a token command failing once may do better next
        // time: retried like an unreachable relay.
        let retry_token =
            self.tokens.refreshable() && matches!(connected, Err(ClientError::Token(_)));
        match connected {
            Ok((client, events, index)) => {
                self.cursor = index;
                self.install(client, events);
                if self.rejoin_all().await {
                    self.backoff.reset();
                }
            }
            Err(error) if error.is_permanent() && !retry_token => {
                let error = error.with_token_advice(self.tokens.source(), self.connector.token());
                self.outq.push_back(SessionEvent::Fatal(error));
                self.stop = true;
            }
            Err(error) => {
                // The wait shown is approximate: the next call draws its own jitter.
                let retry_in = self.backoff.next;
                self.outq
                    .push_back(SessionEvent::ConnectFailed { error, retry_in });
            }
        }
    }

    /// Waits `wait` while still handing events to the user and queueing requests. `false`
    /// if the session is to end (closed, or every handle dropped).
    async fn pause(&mut self, wait: Duration) -> bool {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                request = self.requests.recv() => match request {
                    None => return false,
                    Some(Request::Close { reply }) => {
                        self.closing = Some(reply);
                        return false;
                    }
                    // Typing is only worth telling now; a marker is sent again on the next read.
                    Some(Request::Typing { .. } | Request::MarkRead { .. }) => {}
                    Some(request) => self.deferred.push_back(request),
                },
                permit = self.out.reserve(), if !self.outq.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.outq.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => self.outq.clear(),
                },
            }
        }
    }

    fn install(&mut self, client: Client, events: Events) {
        let welcome = client.welcome().clone();
        tracing::info!(relay = %client.relay(), node = %welcome.node_id, "connected");
        self.welcome.send_replace(welcome.clone());
        self.outq.push_back(SessionEvent::Connected {
            relay: client.relay().clone(),
            welcome,
        });
        self.conn = Some((client, events));
    }

    /// Re-joins every room from its position. `false` if the connection was lost meanwhile
    /// (its event stream then reports why, and the next attempt re-joins again).
    async fn rejoin_all(&mut self) -> bool {
        self.unjoined.clear();
        self.rejoin_backoff.reset();
        self.rejoin_at = None;
        let rooms = self.tracker.positions().into_iter().map(|(room, _)| room);
        self.rejoin(rooms.collect()).await
    }

    /// Re-joins `rooms` from their positions. A room the relay cannot take back now (its
    /// store unavailable, a limit, a timeout) stays in the tracker and is tried again after
    /// a backoff: the session gives a room up only when the relay says it can never be
    /// joined. `false` if the connection was lost meanwhile.
    async fn rejoin(&mut self, rooms: Vec<String>) -> bool {
        let Some(client) = self.conn.as_ref().map(|(c, _)| c.clone()) else {
            return false;
        };
        let mut failed = false;
        for room in rooms {
            let Some(point) = self.tracker.position(&room) else {
                continue;
            };
            match client.join(&room, Some(point)).await {
                Ok(joined) => {
                    self.unjoined.remove(&room);
                    let after = self.tracker.joined(&room, Some(point), &joined);
                    self.outq.push_back(SessionEvent::Resumed {
                        room,
                        outcome: joined.resume,
                        after,
                    });
                }
                Err(e) if e.is_connection_lost() => return false,
                Err(error) if never_joinable(&error) => {
                    self.unjoined.remove(&room);
                    self.tracker.remove(&room);
                    self.outq.push_back(SessionEvent::RoomLost { room, error });
                }
                Err(error) => {
                    failed = true;
                    self.unjoined.insert(room.clone());
                    let retry_in = self.rejoin_backoff.peek();
                    self.outq.push_back(SessionEvent::RejoinFailed {
                        room,
                        error,
                        retry_in,
                    });
                }
            }
        }
        if failed {
            let wait = self.rejoin_backoff.next();
            self.rejoin_at = Some(tokio::time::Instant::now() + wait);
        } else {
            self.rejoin_at = None;
            self.rejoin_backoff.reset();
        }
        true
    }

    async fn handle(&mut self, request: Request) {
        let Some(client) = self.conn.as_ref().map(|(c, _)| c.clone()) else {
            self.deferred.push_front(request);
            return;
        };
        match request {
            Request::Join {
                room,
                resume,
                reply,
            } => {
                let result = client.join(&room, resume).await;
                if let Ok(joined) = &result {
                    self.unjoined.remove(&room);
                    self.tracker.joined(&room, resume, joined);
                }
                let _ = reply.send(result);
            }
            Request::Leave { room, reply } => {
                // Forgotten whatever the answer: the user wants out, and a reconnection must
                // not bring the room back.
                self.tracker.remove(&room);
                if self.unjoined.remove(&room) {
                    // Not joined on this relay: nothing to tell it.
                    let _ = reply.send(Ok(()));
                    return;
                }
                let _ = reply.send(client.leave(&room).await);
            }
            Request::Send { room, text, reply } => {
                // Detached: a send retrying an unavailable store (up to
                // SEND_RETRY_WINDOW) must not hold up room events and other requests.
                tokio::spawn(async move {
                    let _ = reply.send(client.send(&room, &text).await);
                });
            }
            Request::History {
                room,
                before,
                limit,
                reply,
            } => {
                let _ = reply.send(client.history_states(&room, before, limit).await);
            }
            Request::Who { room, reply } => {
                let _ = reply.send(client.who(&room).await);
            }
            Request::ListRooms {
                search,
                limit,
                reply,
            } => {
                let _ = reply.send(client.list_rooms(&search, None, limit).await);
            }
            Request::Typing { room } => {
                let _ = client.typing(&room);
            }
            Request::MarkRead { room, seq } => {
                if client.welcome().version >= 3
                    && let Err(e) = client.mark_read(&room, seq).await
                {
                    tracing::debug!(room, "marking read: {e}");
                }
            }
            Request::Nick { nick, reply } => self.change_nick(nick, reply).await,
            Request::Close { reply } => {
                self.closing = Some(reply);
                self.stop = true;
            }
        }
    }

    /// Reconnects to the same relay under `nick`, re-joining every room. If the relay
    /// refuses the nick, the old one stays and the session reconnects with it.
    async fn change_nick(
        &mut self,
        nick: String,
        reply: oneshot::Sender<Result<Welcome, ClientError>>,
    ) {
        if let Err(e) = validate_nick(&nick) {
            let _ = reply.send(Err(e.into()));
            return;
        }
        if let Some((client, _)) = &self.conn
            && client.welcome().version >= 3
        {
            let client = client.clone();
            let answer = client.rename(&nick).await.map(|now| {
                let from = std::mem::replace(&mut self.nick, now.clone());
                if let Err(e) = self.connector.adopt_secret(&from, &now) {
                    tracing::warn!("renamed, but the guest secret was not saved: {e}");
                }
                let mut welcome = client.welcome().clone();
                welcome.nick = now;
                self.welcome.send_replace(welcome.clone());
                welcome
            });
            let _ = reply.send(answer);
            return;
        }
        let old = std::mem::replace(&mut self.nick, nick);
        if let Some((client, _)) = self.conn.take() {
            client.close().await;
        }
        let relay = self.relay();
        match self.connector.connect(&relay, &self.nick).await {
            Ok((client, events)) => {
                let welcome = client.welcome().clone();
                self.install(client, events);
                self.rejoin_all().await;
                let _ = reply.send(Ok(welcome));
            }
            Err(error) => {
                if error.code() == Some(ErrorCode::INVALID_NICK) {
                    self.nick = old;
                }
                // Not connected now: the main loop reconnects with backoff.
                let _ = reply.send(Err(error));
            }
        }
    }
}
