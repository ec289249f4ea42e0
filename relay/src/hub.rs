//! The hub: this relay's rooms and their local members, and the fan-out of what the broker
//! delivers into each member's bounded queue.
//!
//! A room exists here while it has a member on this relay, and the relay is subscribed to
//! it at the broker exactly then. Each message is encoded once; members share the bytes.
//! Presence: the hub reports a nick's first and last session here to
//! [`crate::broker::Broker::presence`], keeps the room's nicks as the broker reports them
//! ([`Deliver::members`], then [`Signal::Presence`]), and tells local members only when
//! that set changes. A rename ([`Hub::rename`], [`Signal::Renamed`]) changes the set in one
//! step and is told as one `RoomFrame::Renamed` (a leave and a join below version 3).
//! A read marker ([`Signal::ReadMarker`]) goes to the user's other sessions in the room
//! through the [`MarkerBoard`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;
use chitchat_protocol::{Entry, EntryBody, Message, RoomFrame, ServerDatagram};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::broker::{BrokerError, Deliver, SharedBroker, Signal};
use crate::lookalike::LookAlikes;
use crate::markers::MarkerBoard;
use crate::metrics::Metrics;
use crate::transport::Conn;

/// The most nicks a Joined or Members frame lists: a huge room's member list must not
/// approach the frame size limit.
pub const MAX_MEMBERS_LISTED: usize = 1000;

/// What a member's room stream writer receives.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A log entry, its epoch and seq (for dropping duplicates on resume, and starting over
    /// when the room's epoch changes), encoded once for each protocol version:
    /// [`RoomFrame::Entry`] for version 2, and for version 1 [`RoomFrame::Message`] if it is
    /// a text entry (`None`: version 1 skips it).
    Entry {
        epoch: u64,
        seq: u64,
        v1: Option<Bytes>,
        v2: Bytes,
    },
    /// Any other encoded room frame (presence).
    Frame(Bytes),
    /// A rename, encoded for each protocol version: [`RoomFrame::Renamed`] for version 3,
    /// and for older versions a leave of the old nick and a join of the new one.
    Renamed { v3: Bytes, older: Bytes },
    /// An encoded [`RoomFrame::Topic`]: for version 3 sessions only (older ones have no
    /// frame for it and learn topics from the directory).
    Topic(Bytes),
}

/// Raised by the hub, once, when one of a session's room queues overflows: the session
/// then ends itself with SLOW_CONSUMER (an Error frame first if its control stream takes
/// one). Shared by the session's memberships, so a session stalled in many rooms counts
/// and logs as one slow consumer.
#[derive(Default)]
pub struct SlowFlag {
    raised: AtomicBool,
    token: CancellationToken,
}

impl SlowFlag {
    /// Raises the flag; true only for the call that raised it.
    fn raise(&self) -> bool {
        let first = !self.raised.swap(true, Ordering::AcqRel);
        if first {
            self.token.cancel();
        }
        first
    }

    /// Resolves once the flag is raised.
    pub async fn raised(&self) {
        self.token.cancelled().await;
    }
}

/// One session's membership in one room.
struct Member {
    session_id: u64,
    nick: String,
    queue: mpsc::Sender<Outbound>,
    conn: Conn,
    slow: Arc<SlowFlag>,
}

#[derive(Default)]
struct Members {
    list: Vec<Member>,
    /// Local sessions per nick, so a nick in two tabs joins and leaves once.
    nicks: HashMap<String, usize>,
    /// Nicks in the room on any relay, as the broker reported them.
    present: HashSet<String>,
}

struct Room {
    /// Serializes joins and leaves of this room, which wait for the broker.
    membership: tokio::sync::Mutex<()>,
    members: Mutex<Members>,
    /// Set once the room has no members and left the hub's map; a join that finds it set
    /// starts over with a fresh room.
    dead: std::sync::atomic::AtomicBool,
}

/// This relay's rooms. Implements [`Deliver`] for the broker.
pub struct Hub {
    node_id: String,
    rooms: RwLock<HashMap<String, Arc<Room>>>,
    broker: OnceLock<SharedBroker>,
    queue_len: usize,
    metrics: Arc<Metrics>,
    /// Messages delivered to local members since start (for tests and /metrics).
    delivered: AtomicU64,
    /// Refuses joins whose nick looks like a present member's.
    look_alikes: LookAlikes,
    /// Sessions watching their users' read markers.
    markers: MarkerBoard,
}

/// A fresh membership: the queue the room writer drains, and the room's state at joining.
pub struct Joining {
    pub queue: mpsc::Receiver<Outbound>,
    /// Nicks in the room, sorted, each once.
    pub members: Vec<String>,
}

impl Hub {
    pub fn new(node_id: String, queue_len: usize, metrics: Arc<Metrics>) -> Arc<Hub> {
        Arc::new(Hub {
            node_id,
            rooms: RwLock::default(),
            broker: OnceLock::new(),
            queue_len,
            metrics,
            delivered: AtomicU64::new(0),
            look_alikes: LookAlikes::default(),
            markers: MarkerBoard::default(),
        })
    }

    /// Connects the hub to its broker; called once at start, before any session.
    pub fn set_broker(&self, broker: SharedBroker) {
        if self.broker.set(broker).is_err() {
            tracing::error!("hub broker set twice; keeping the first");
        }
    }

    fn broker(&self) -> Result<&SharedBroker, BrokerError> {
        self.broker
            .get()
            .ok_or_else(|| BrokerError::Internal("no broker".into()))
    }

    /// Adds a session to a room. Once this returns, every message the broker delivers for
    /// the room lands in the returned queue, so history read afterwards plus the queue
    /// cover everything with no gap.
    pub async fn join(
        &self,
        room: &str,
        session_id: u64,
        nick: &str,
        conn: Conn,
        slow: Arc<SlowFlag>,
    ) -> Result<Joining, BrokerError> {
        let (tx, rx) = mpsc::channel(self.queue_len);
        loop {
            let entry = self.room_entry(room);
            let _guard = entry.membership.lock().await;
            if entry.dead.load(Ordering::Acquire) {
                continue;
            }
            let (first_here, listed) = {
                let m = lock(&entry.members);
                (m.list.is_empty(), sorted_nicks(&m))
            };
            if let Some(other) = self.look_alikes.find(&listed, nick) {
                self.remove_if_empty(room, &entry);
                return Err(BrokerError::LookAlikeNick(format!(
                    "{other}, who is in room {room}, has a nick that looks like {nick}; \
                     choose another nick"
                )));
            }
            if first_here && let Err(e) = self.broker()?.subscribe(room).await {
                self.remove_if_empty(room, &entry);
                return Err(e);
            }
            let (members, first_of_nick) = {
                let mut m = lock(&entry.members);
                m.list.push(Member {
                    session_id,
                    nick: nick.to_string(),
                    queue: tx,
                    conn,
                    slow,
                });
                let count = m.nicks.entry(nick.to_string()).or_insert(0);
                *count += 1;
                let first_of_nick = *count == 1;
                (sorted_nicks(&m), first_of_nick)
            };
            if first_of_nick {
                self.broker()?.presence(room, &self.node_id, nick, true);
            }
            return Ok(Joining { queue: rx, members });
        }
    }

    /// Removes a session from a room; its queue closes, which ends its room stream.
    pub async fn leave(&self, room: &str, session_id: u64) {
        let Some(entry) = read(&self.rooms).get(room).cloned() else {
            return;
        };
        let _guard = entry.membership.lock().await;
        let left_nick = {
            let mut m = lock(&entry.members);
            let Some(pos) = m.list.iter().position(|x| x.session_id == session_id) else {
                return;
            };
            let member = m.list.swap_remove(pos);
            let gone = match m.nicks.get_mut(&member.nick) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    m.nicks.remove(&member.nick);
                    true
                }
            };
            gone.then_some(member.nick)
        };
        if let (Some(nick), Ok(broker)) = (left_nick, self.broker()) {
            broker.presence(room, &self.node_id, &nick, false);
        }
        if self.remove_if_empty(room, &entry)
            && let Ok(broker) = self.broker()
        {
            broker.unsubscribe(room).await;
        }
    }

    /// A nick in `room` other than `own` that looks like `nick` (see [`LookAlikes`]).
    pub fn look_alike(&self, room: &str, nick: &str, own: &str) -> Option<String> {
        let entry = read(&self.rooms).get(room).cloned()?;
        let mut listed = sorted_nicks(&lock(&entry.members));
        listed.retain(|n| n != own);
        self.look_alikes.find(&listed, nick)
    }

    /// Renames a session's membership of `room` to `to`. When it was its old nick's last
    /// session here and the new nick's first, the room's local members are told at once
    /// and the broker carries the rename to the other relays; otherwise the nicks' presence
    /// changes as for a leave and a join.
    pub async fn rename(&self, room: &str, session_id: u64, to: &str) {
        let Some(entry) = read(&self.rooms).get(room).cloned() else {
            return;
        };
        let _guard = entry.membership.lock().await;
        let (from, from_gone, to_new, announce) = {
            let mut m = lock(&entry.members);
            let Some(member) = m.list.iter_mut().find(|x| x.session_id == session_id) else {
                return;
            };
            let from = std::mem::replace(&mut member.nick, to.to_string());
            let from_gone = match m.nicks.get_mut(&from) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    m.nicks.remove(&from);
                    true
                }
            };
            let count = m.nicks.entry(to.to_string()).or_insert(0);
            *count += 1;
            let to_new = *count == 1;
            // Applied here first: the broker's own Renamed and presence changes then find
            // nothing to announce again.
            let announce = from_gone && to_new && m.present.remove(&from);
            if announce {
                m.present.insert(to.to_string());
            }
            (from, from_gone, to_new, announce)
        };
        if announce {
            self.announce_rename(room, &from, to);
        }
        let Ok(broker) = self.broker() else {
            return;
        };
        if from_gone && to_new {
            broker.rename(room, &self.node_id, &from, to);
        } else {
            if from_gone {
                broker.presence(room, &self.node_id, &from, false);
            }
            if to_new {
                broker.presence(room, &self.node_id, to, true);
            }
        }
    }

    /// Nicks in a room on every relay (as far as the broker has told), sorted.
    pub fn members(&self, room: &str) -> Vec<String> {
        let Some(entry) = read(&self.rooms).get(room).cloned() else {
            return Vec::new();
        };
        sorted_nicks(&lock(&entry.members))
    }

    /// Sessions watching their users' read markers.
    pub fn markers(&self) -> &MarkerBoard {
        &self.markers
    }

    /// Rooms with members on this relay.
    pub fn room_count(&self) -> usize {
        read(&self.rooms).len()
    }

    /// Messages handed to local members' queues since start.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    fn room_entry(&self, room: &str) -> Arc<Room> {
        if let Some(r) = read(&self.rooms).get(room) {
            return r.clone();
        }
        write(&self.rooms)
            .entry(room.to_string())
            .or_insert_with(|| {
                Arc::new(Room {
                    membership: tokio::sync::Mutex::new(()),
                    members: Mutex::default(),
                    dead: Default::default(),
                })
            })
            .clone()
    }

    /// Drops the room from the map if it has no members; true if it did. Called with the
    /// room's membership lock held.
    fn remove_if_empty(&self, room: &str, entry: &Arc<Room>) -> bool {
        if !lock(&entry.members).list.is_empty() {
            return false;
        }
        let mut rooms = write(&self.rooms);
        if rooms.get(room).is_some_and(|r| Arc::ptr_eq(r, entry)) {
            rooms.remove(room);
        }
        entry.dead.store(true, Ordering::Release);
        true
    }

    /// Queues `item` for every member of `room`; a member whose queue is full has its
    /// session's [`SlowFlag`] raised (counted and logged once per session).
    fn fan_out(&self, room: &str, item: Outbound) -> u64 {
        let Some(entry) = read(&self.rooms).get(room).cloned() else {
            return 0;
        };
        let m = lock(&entry.members);
        let mut sent = 0;
        for member in &m.list {
            match member.queue.try_send(item.clone()) {
                Ok(()) => sent += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // The session ends itself, and counts and logs that once.
                    if member.slow.raise() {
                        tracing::debug!(session = member.session_id, room, "slow consumer");
                    }
                }
                // The session is ending; its leave is on its way.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        sent
    }

    /// Tells the room's local members that `nick` joined or left the room.
    fn announce(&self, room: &str, nick: &str, joined: bool) {
        let frame = RoomFrame::Presence {
            nick: nick.to_string(),
            joined,
        };
        if let Ok(f) = chitchat_protocol::encode_frame(&frame) {
            self.fan_out(room, Outbound::Frame(Bytes::from(f)));
        }
    }
}

impl Hub {
    /// Tells the room's local members that `from` is now `to`: a rename for version 3, a
    /// leave and a join for older sessions.
    fn announce_rename(&self, room: &str, from: &str, to: &str) {
        let v3 = chitchat_protocol::encode_frame(&RoomFrame::Renamed {
            from: from.to_string(),
            to: to.to_string(),
        });
        let older = [(from, false), (to, true)].into_iter().try_fold(
            Vec::new(),
            |mut out, (nick, joined)| {
                let frame = RoomFrame::Presence {
                    nick: nick.to_string(),
                    joined,
                };
                chitchat_protocol::encode_frame_into(&frame, &mut out).map(|()| out)
            },
        );
        if let (Ok(v3), Ok(older)) = (v3, older) {
            let item = Outbound::Renamed {
                v3: Bytes::from(v3),
                older: Bytes::from(older),
            };
            self.fan_out(room, item);
        }
    }

    /// A rename from the broker: applied when `from` is present and `to` is not (a relay
    /// that already applied it, or one that knew other sessions of either nick, waits for
    /// the presence changes that follow instead).
    fn renamed(&self, room: &str, from: &str, to: &str) {
        let Some(entry) = read(&self.rooms).get(room).cloned() else {
            return;
        };
        let changed = {
            let mut m = lock(&entry.members);
            let changed = !m.present.contains(to) && m.present.remove(from);
            if changed {
                m.present.insert(to.to_string());
            }
            changed
        };
        if changed {
            self.announce_rename(room, from, to);
        }
    }
}

impl Deliver for Hub {
    fn message(&self, msg: &Message) {
        self.entry(&Entry {
            room: msg.room.clone(),
            seq: msg.seq,
            epoch: msg.epoch,
            from: msg.from.clone(),
            ts: msg.ts,
            body: EntryBody::Text {
                text: msg.text.clone(),
                reply_to: None,
            },
        });
    }

    fn entry(&self, entry: &Entry) {
        let encoded =
            chitchat_protocol::encode_frame(&RoomFrame::Entry(entry.clone())).and_then(|v2| {
                let v1 = entry
                    .to_message()
                    .map(|m| chitchat_protocol::encode_frame(&RoomFrame::Message(m)))
                    .transpose()?;
                Ok((v1.map(Bytes::from), Bytes::from(v2)))
            });
        let (v1, v2) = match encoded {
            Ok(frames) => frames,
            Err(e) => {
                tracing::error!(room = %entry.room, seq = entry.seq, "cannot encode a stored entry: {e}");
                return;
            }
        };
        let sent = self.fan_out(
            &entry.room,
            Outbound::Entry {
                epoch: entry.epoch,
                seq: entry.seq,
                v1,
                v2,
            },
        );
        self.delivered.fetch_add(sent, Ordering::Relaxed);
        self.metrics.delivered(sent, entry.ts);
    }

    fn signal(&self, room: &str, signal: &Signal) {
        match signal {
            Signal::Presence { nick, joined, .. } => {
                let Some(entry) = read(&self.rooms).get(room).cloned() else {
                    return;
                };
                let changed = {
                    let mut m = lock(&entry.members);
                    if *joined {
                        m.present.insert(nick.clone())
                    } else {
                        m.present.remove(nick)
                    }
                };
                if changed {
                    self.announce(room, nick, *joined);
                }
            }
            Signal::Renamed { from, to } => self.renamed(room, from, to),
            Signal::Topic { topic, by } => {
                let frame = RoomFrame::Topic {
                    topic: topic.clone(),
                    by: by.clone(),
                };
                if let Ok(f) = chitchat_protocol::encode_frame(&frame) {
                    self.fan_out(room, Outbound::Topic(Bytes::from(f)));
                }
            }
            Signal::ReadMarker {
                user,
                seq,
                node,
                session,
            } => {
                let Some(entry) = read(&self.rooms).get(room).cloned() else {
                    return;
                };
                let members: Vec<u64> = lock(&entry.members)
                    .list
                    .iter()
                    .map(|m| m.session_id)
                    .collect();
                let except = (*node == self.node_id).then_some(*session);
                self.markers.deliver(user, room, *seq, &members, except);
            }
            Signal::Typing { nick } => {
                let dg = ServerDatagram::Typing {
                    room: room.to_string(),
                    nick: nick.clone(),
                };
                let Ok(body) = chitchat_protocol::encode_datagram(&dg) else {
                    return;
                };
                let body = Bytes::from(body);
                let Some(entry) = read(&self.rooms).get(room).cloned() else {
                    return;
                };
                for member in lock(&entry.members).list.iter().filter(|m| &m.nick != nick) {
                    member.conn.send_datagram(body.clone());
                }
            }
        }
    }

    fn members(&self, room: &str, nicks: &[String]) {
        let Some(entry) = read(&self.rooms).get(room).cloned() else {
            return;
        };
        // What changed while the broker was not telling (e.g. it lost its store) is told
        // now, so local members' lists stay true.
        let (mut joined, mut left) = {
            let mut m = lock(&entry.members);
            let fresh: HashSet<String> = nicks.iter().cloned().collect();
            let joined: Vec<String> = fresh.difference(&m.present).cloned().collect();
            let left: Vec<String> = m.present.difference(&fresh).cloned().collect();
            m.present = fresh;
            (joined, left)
        };
        left.sort_unstable();
        joined.sort_unstable();
        for nick in left {
            self.announce(room, &nick, false);
        }
        for nick in joined {
            self.announce(room, &nick, true);
        }
    }
}

/// The first [`MAX_MEMBERS_LISTED`] nicks of a room (on any relay), sorted.
fn sorted_nicks(m: &Members) -> Vec<String> {
    let mut nicks: Vec<String> = m
        .present
        .iter()
        .chain(m.nicks.keys().filter(|n| !m.present.contains(*n)))
        .cloned()
        .collect();
    nicks.sort_unstable();
    nicks.truncate(MAX_MEMBERS_LISTED);
    nicks
}

/// Locks a std mutex; a panic while holding it leaves data that is still consistent here
/// (every critical section is a few plain updates), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
