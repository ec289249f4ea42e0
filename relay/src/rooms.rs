//! Rooms as records, on top of the broker's store: a room gets its record when it is created
//! explicitly (with a topic) or, so the quick start stays one step, the first time anyone
//! joins or posts to its name ([`Rooms::ensure`], once per name per relay); and the
//! directory ([`Rooms::directory`]): public rooms with their member counts across relays and
//! their last activity, a page at a time; and which rooms are archived (read-only), a set
//! every relay refreshes from the store ([`Rooms::watch_archived`]); a changed topic is told
//! to the room's members on every relay ([`Rooms::announce_topic`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use chitchat_protocol::RoomSummary;

use crate::auth::Auth;
use crate::broker::{BrokerError, RoomRecord, SharedBroker, Signal};
use crate::clock::now_ms;
use crate::hub::Hub;

/// Room names this relay knows have a record, at most: past it the set starts over (a
/// name then costs one idempotent create again), so memory stays bounded however many
/// rooms come and go.
const KNOWN_MAX: usize = 100_000;

/// How often a relay reads which rooms are archived: a room archived through another relay
/// turns read-only here within this long (on the relay that archived it, at once).
pub const ARCHIVED_REFRESH: Duration = Duration::from_secs(2);

/// The most archived room names a relay holds (and reads per refresh). Why 100 000: a few MB
/// at most, and far more rooms than operators archive by hand.
const ARCHIVED_MAX: usize = 100_000;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomEntry {
    #[serde(flatten)]
    pub record: RoomRecord,
    /// Nicks in the room on any relay of the cluster.
    pub members: u64,
    /// The room's newest seq (0: no messages yet).
    pub last_seq: u64,
    /// When its newest stored message was stored (ms since the Unix epoch), if it has one.
    pub last_activity_ms: Option<u64>,
}

impl RoomEntry {
    /// The entry as the wire protocol carries it.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            name: self.record.name.clone(),
            topic: self.record.topic.clone(),
            members: u32::try_from(self.members).unwrap_or(u32::MAX),
            last_seq: self.last_seq,
            last_activity_ms: self.last_activity_ms.unwrap_or(0),
            created_by: self.record.created_by.clone(),
        }
    }
}

/// The rooms' records and directory.
pub struct Rooms {
    broker: SharedBroker,
    hub: Arc<Hub>,
    /// Which rooms are private (direct-message rooms, `--private-rooms`): their records say
    /// so, which keeps them out of the directory.
    auth: Arc<Auth>,
    known: Mutex<HashSet<String>>,
    /// The archived rooms, as last read from the store (or changed through this relay).
    archived: RwLock<HashSet<String>>,
}

impl Rooms {
    pub fn new(broker: SharedBroker, hub: Arc<Hub>, auth: Arc<Auth>) -> Arc<Rooms> {
        Arc::new(Rooms {
            broker,
            hub,
            auth,
            known: Mutex::new(HashSet::new()),
            archived: RwLock::new(HashSet::new()),
        })
    }

    /// Whether `room` is archived: nothing new may be stored in it.
    pub fn is_archived(&self, room: &str) -> bool {
        self.archived
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(room)
    }

    /// The refusal of a write to an archived room, if `room` is one.
    pub fn check_writable(&self, room: &str) -> Result<(), String> {
        if self.is_archived(room) {
            return Err(format!(
                "room {room} is archived: it is read-only (its history can still be read)"
            ));
        }
        Ok(())
    }

    /// Notes a change made through this relay at once, before the next refresh.
    pub fn note_archived(&self, room: &str, archived: bool) {
        let mut set = self
            .archived
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if archived {
            set.insert(room.to_owned());
        } else {
            set.remove(room);
        }
    }

    /// Tells the room's members on every relay its topic as `record` now has it, changed by
    /// the member `by` (empty: through the server API). Best effort, like every signal: a
    /// member who misses it still sees the topic on its next join.
    pub fn announce_topic(&self, record: &RoomRecord, by: &str) {
        self.broker.signal(
            &record.name,
            Signal::Topic {
                topic: record.topic.clone(),
                by: by.to_owned(),
            },
        );
    }

    /// Reads the archived rooms from the store once.
    pub async fn refresh_archived(&self) -> Result<(), BrokerError> {
        let names = self.broker.archived_rooms(ARCHIVED_MAX).await?;
        *self
            .archived
            .write()
            .unwrap_or_else(PoisonError::into_inner) = names.into_iter().collect();
        Ok(())
    }

    /// Refreshes the archived rooms every [`ARCHIVED_REFRESH`] until `shutdown` (or until
    /// the rooms are dropped); a failed read keeps the last set.
    pub async fn watch_archived(rooms: Weak<Rooms>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(ARCHIVED_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(rooms) = rooms.upgrade() else { return };
            if let Err(e) = rooms.refresh_archived().await {
                tracing::debug!("reading the archived rooms failed (the last set stays): {e}");
            }
        }
    }

    fn knows(&self, room: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(room)
    }

    fn remember(&self, room: &str) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= KNOWN_MAX {
            known.clear();
        }
        known.insert(room.to_owned());
    }

    /// Makes sure `room` has a record, making a public one without a topic by `by` if it has
    /// none. Cheap after the first call for a name.
    pub async fn ensure(&self, room: &str, by: &str) -> Result<(), BrokerError> {
        if self.knows(room) {
            return Ok(());
        }
        self.broker
            .create_room(RoomRecord {
                name: room.to_owned(),
                topic: String::new(),
                private: self.auth.is_private(room),
                archived: false,
                created_ms: now_ms(),
                created_by: by.to_owned(),
            })
            .await?;
        self.remember(room);
        Ok(())
    }

    /// [`Rooms::ensure`] on a task of its own, so a join does not wait for it; a failure is
    /// logged (the next join of the name tries again).
    pub fn ensure_later(self: &Arc<Self>, room: &str, by: &str) {
        if self.knows(room) {
            return;
        }
        let rooms = self.clone();
        let (room, by) = (room.to_owned(), by.to_owned());
        tokio::spawn(async move {
            if let Err(e) = rooms.ensure(&room, &by).await {
                tracing::warn!(room, "recording the room failed: {e}");
            }
        });
    }

    /// Creates `record` (private if its name is); the stored record and whether this call
    /// made it.
    pub async fn create(&self, mut record: RoomRecord) -> Result<(RoomRecord, bool), BrokerError> {
        record.private |= self.auth.is_private(&record.name);
        let name = record.name.clone();
        let result = self.broker.create_room(record).await?;
        self.remember(&name);
        Ok(result)
    }

    /// `record` with its member count and last activity.
    pub async fn entry(&self, record: RoomRecord) -> Result<RoomEntry, BrokerError> {
        let name = record.name.clone();
        let members = match self.broker.room_members(&name).await? {
            Some(nicks) => nicks.len(),
            None => self.hub.members(&name).len(),
        };
        let newest = self.broker.read_before(&name, None, 1).await?;
        let newest = newest.last();
        Ok(RoomEntry {
            record,
            members: members as u64,
            last_seq: newest.map_or(0, |m| m.seq),
            last_activity_ms: newest.map(|m| m.ts),
        })
    }

    /// One directory page: public, unarchived rooms whose name or topic contains `search`,
    /// in name order after `after`; the name to continue after, if there are more.
    pub async fn directory(
        &self,
        search: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<RoomEntry>, Option<String>), BrokerError> {
        let page = self.broker.list_rooms(search, after, limit).await?;
        let entries = join_all(page.rooms.into_iter().map(|r| self.entry(r)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok((entries, page.next))
    }
}
