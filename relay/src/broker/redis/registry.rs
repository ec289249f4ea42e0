//! The node registry: who is alive among the relays sharing a Redis, where, with which
//! certificate. Owns this relay's [`Registration`] and the last listing
//! ([`RegistryState`]), and runs the registry task (beat, list, purge the dead's members).
//!
//! A relay beats every heartbeat period ([`super::HEARTBEAT_SCRIPT`]) into its
//! [`super::node_key`] hash, which expires after [`ttl`] of silence, and keeps its node id
//! in [`super::REGISTRY_INDEX`]. Each relay process has an *instance* id,
//! `<node id>/<16 hex digits>`, fresh at every start: presence entries name instances, so a
//! relay restarted under the same node id does not inherit its predecessor's members.
//!
//! A dead relay's members leave within [`ttl`] plus one registry check of its last beat; a
//! relay restarted under the same node id replaces its predecessor's members within one
//! check.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::redis::RedisError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::BrokerState;
use super::cluster::RedisConn;
use super::keys::{REGISTRATIONS_KEY, REGISTRY_INDEX, node_key};
use super::link::{COMMAND_TIMEOUT, CommandConn, is_connection_error, timed_out};
use super::presence::{PresenceChange, purge_room};
use super::sender::Queued;
use crate::broker::api::RelayInfo;

/// How often a relay beats when nothing else is configured: often enough that a dead relay
/// is noticed within seconds, rarely enough to cost Redis nothing.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

/// Registry checks per heartbeat period. Checks are cheap (one pipeline listing a handful
/// of hashes), and checking five times per period bounds how late a dead relay's members
/// are purged to a fifth of a period after its hash expired.
pub const CHECKS_PER_BEAT: u32 = 5;

/// How long a relay's registry hash lives after its last beat: two and a half periods, so
/// one lost beat (Redis slow or briefly unreachable) never makes a live relay look dead,
/// while a dead one is gone well within three periods (12.5 s at the 5 s default).
pub fn ttl(heartbeat: Duration) -> Duration {
    heartbeat * 5 / 2
}

/// Where a relay can be reached, for the registry; given to
/// [`super::RedisBroker::register`] once the relay knows it.
#[derive(Clone)]
pub struct Registration {
    /// The public QUIC address (`host:port`).
    pub quic: String,
    /// The public WebTransport URL.
    pub webtransport: String,
    /// The public HTTP URL.
    pub http: String,
    /// What changes between beats, read at every beat.
    pub status: Arc<dyn Fn() -> NodeStatus + Send + Sync>,
}

/// The part of a relay's registry entry that changes while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// SHA-256 (hex) of the dev leaf in service; `None` with a real certificate.
    pub cert_sha256: Option<String>,
    /// Sessions the relay serves.
    pub sessions: u64,
}

/// The registry as last listed.
#[derive(Debug, Clone)]
pub(super) struct Listing {
    /// Instances alive at the listing.
    instances: HashSet<String>,
    /// The Redis time of the listing, ms.
    listed_ms: u64,
    /// The registrations count at the listing.
    registrations: u64,
    /// The live relays, by node id.
    relays: Vec<RelayInfo>,
    /// When the listing was made, by this relay's clock.
    at: Instant,
}

/// What this relay knows of the registry: where it can be reached, and the last listing.
pub(super) struct RegistryState {
    /// Where this relay can be reached, once known.
    registration: Mutex<Option<Registration>>,
    listing: Mutex<Option<Listing>>,
}

impl RegistryState {
    pub fn new() -> RegistryState {
        RegistryState {
            registration: Mutex::new(None),
            listing: Mutex::new(None),
        }
    }

    pub fn register(&self, registration: Registration) {
        *self
            .registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(registration);
    }

    fn registration(&self) -> Option<Registration> {
        self.registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the listing; true if an instance dropped out since the last one, or
    /// registrations happened.
    pub fn store(&self, listing: Listing) -> bool {
        let mut current = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = current.as_ref().is_some_and(|old| {
            old.registrations != listing.registrations
                || old.instances.iter().any(|i| !listing.instances.contains(i))
        });
        *current = Some(listing);
        changed
    }

    /// The instances alive at the last listing and its Redis time.
    pub fn live_instances(&self) -> Option<(HashSet<String>, u64)> {
        self.listing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|l| (l.instances.clone(), l.listed_ms))
    }

    /// The live relays for `Broker::relays`, if listed within the ttl.
    pub fn fresh_relays(&self, heartbeat: Duration) -> Option<Vec<RelayInfo>> {
        self.listing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|l| l.at.elapsed() <= ttl(heartbeat))
            .map(|l| l.relays.clone())
    }
}

/// A fresh instance id for a relay process named `node`.
pub(super) fn new_instance(node: &str) -> String {
    format!("{node}/{:016x}", rand::random::<u64>())
}

/// Beats once. Returns the instance the registry held for this node before.
pub(super) async fn beat(
    state: &BrokerState,
    conn: &mut RedisConn,
) -> Result<Option<String>, RedisError> {
    let registration = state.registry.registration();
    let ttl_ms = u64::try_from(ttl(state.heartbeat).as_millis()).unwrap_or(u64::MAX);
    let mut invocation = state.scripts.beat.prepare_invoke();
    invocation
        .key(REGISTRY_INDEX)
        .key(node_key(&state.node_id))
        .key(REGISTRATIONS_KEY)
        .arg(&state.node_id)
        .arg(&state.instance)
        .arg(ttl_ms);
    let status = registration
        .as_ref()
        .map(|r| (r.status)())
        .unwrap_or_default();
    if let Some(r) = &registration {
        invocation
            .arg("quic")
            .arg(&r.quic)
            .arg("webtransport")
            .arg(&r.webtransport)
            .arg("http")
            .arg(&r.http);
    }
    invocation.arg("sessions").arg(status.sessions);
    if let Some(hash) = &status.cert_sha256 {
        invocation.arg("cert_sha256").arg(hash);
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async(conn)).await {
        Ok(result) => result,
        Err(_) => Err(timed_out("the heartbeat")),
    }
}

/// Leaves the registry (if this instance is still the registered one).
pub(super) async fn unregister(state: &BrokerState, conn: &mut RedisConn) {
    let mut invocation = state.scripts.unregister.prepare_invoke();
    invocation
        .key(REGISTRY_INDEX)
        .key(node_key(&state.node_id))
        .arg(&state.node_id)
        .arg(&state.instance);
    match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<i64>(conn)).await {
        Ok(Ok(_)) => tracing::debug!("left the relay registry"),
        Ok(Err(e)) => tracing::warn!(error = %e, "leaving the relay registry failed"),
        Err(_) => tracing::warn!("leaving the relay registry timed out"),
    }
}

/// Lists the live relays.
pub(super) async fn list(conn: &mut RedisConn) -> Result<Listing, RedisError> {
    let listing = async {
        let ((secs, micros), registrations, ids): ((u64, u64), Option<u64>, Vec<String>) =
            ::redis::pipe()
                .cmd("TIME")
                .cmd("GET")
                .arg(REGISTRATIONS_KEY)
                .cmd("ZRANGE")
                .arg(REGISTRY_INDEX)
                .arg(0)
                .arg(-1)
                .query_async(conn)
                .await?;
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(node_key(id));
        }
        let hashes: Vec<HashMap<String, String>> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(conn).await?
        };
        let listed_ms = secs * 1000 + micros / 1000;
        Ok::<_, RedisError>((listed_ms, registrations.unwrap_or(0), ids, hashes))
    };
    let (listed_ms, registrations, ids, hashes) =
        match tokio::time::timeout(COMMAND_TIMEOUT, listing).await {
            Ok(result) => result?,
            Err(_) => return Err(timed_out("listing the relays")),
        };
    let mut live = Listing {
        instances: HashSet::new(),
        listed_ms,
        registrations,
        relays: Vec::new(),
        at: Instant::now(),
    };
    for (id, hash) in ids.into_iter().zip(hashes) {
        // An expired hash reads as empty: that relay is gone.
        if let Some((instance, info)) = parse_relay(id, &hash) {
            live.instances.insert(instance);
            live.relays.push(info);
        }
    }
    live.relays.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(live)
}

/// A registry hash as (instance, relay); `None` if it has no instance (gone).
fn parse_relay(node: String, hash: &HashMap<String, String>) -> Option<(String, RelayInfo)> {
    let instance = hash.get("instance")?.clone();
    let text = |field: &str| hash.get(field).cloned().unwrap_or_default();
    let number = |field: &str| hash.get(field).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some((
        instance,
        RelayInfo {
            node,
            quic: text("quic"),
            webtransport: text("webtransport"),
            http: text("http"),
            cert_sha256: hash.get("cert_sha256").cloned(),
            sessions: number("sessions"),
            seen_ms: number("seen_ms"),
        },
    ))
}

/// The registry task: beats, lists the registry, purges the rooms this relay is in when a
/// relay dies, and asserts this relay's presence again after it was taken for dead. Runs
/// until `stop` is cancelled.
pub(super) async fn run_registry(
    state: Arc<BrokerState>,
    queue: mpsc::WeakUnboundedSender<Queued>,
    stop: CancellationToken,
) {
    let mut check = tokio::time::interval(state.heartbeat / CHECKS_PER_BEAT);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.reset();
    let mut since_beat = 0;
    let mut generation = state.active.current().map_or(0, |l| l.generation);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = check.tick() => {}
        }
        let Some(link) = state.active.current() else {
            continue;
        };
        // After a reconnection the bus task asserts presence itself; beat at once here too.
        let reconnected = link.generation != generation;
        generation = link.generation;
        since_beat += 1;
        let mut resync = false;
        if reconnected || since_beat >= CHECKS_PER_BEAT {
            since_beat = 0;
            let mut conn = link.conn.clone();
            match beat(&state, &mut conn).await {
                Ok(previous) if previous.as_deref() == Some(state.instance.as_str()) => {}
                Ok(previous) => {
                    tracing::warn!(
                        previous = ?previous,
                        "this relay had dropped out of the registry (cut off or stalled \
                         past its ttl, or another relay uses its node id); asserting its \
                         members again"
                    );
                    resync = true;
                }
                Err(e) => {
                    report(&state, &link, "the heartbeat", &e);
                    continue;
                }
            }
        }
        if resync {
            sync_presence(&state, &queue);
        }
        refresh(&state, &link).await;
    }
    tracing::debug!("registry task stopped");
}

/// Lists the registry; when an instance has dropped out since the last listing, or
/// registrations happened, purges every room this relay is in.
pub(super) async fn refresh(state: &BrokerState, link: &CommandConn) {
    let mut conn = link.conn.clone();
    let listing = match list(&mut conn).await {
        Ok(listing) => listing,
        Err(e) => {
            report(state, link, "listing the relays", &e);
            return;
        }
    };
    if !state.registry.store(listing) {
        return;
    }
    let rooms: Vec<String> = state.delivering().iter().cloned().collect();
    for room in rooms {
        let listing = state.registry.live_instances();
        if let Err(e) = purge_room(state, &mut conn, &room, listing).await {
            report(state, link, "purging a room", &e);
            return;
        }
    }
}

/// Queues an assertion of this relay's presence in every room it holds nicks in.
fn sync_presence(state: &BrokerState, queue: &mpsc::WeakUnboundedSender<Queued>) {
    let Some(queue) = queue.upgrade() else {
        return;
    };
    for room in state.presence.rooms_held() {
        let _ = queue.send(Queued::Presence {
            room,
            change: PresenceChange::Sync,
        });
    }
}

fn report(state: &BrokerState, link: &CommandConn, what: &str, e: &RedisError) {
    if is_connection_error(e) {
        state.active.report_trouble(link.generation);
    }
    tracing::warn!(error = %e, "{what} failed");
}

#[cfg(test)]
mod tests {
    use super::super::keys::{members_key, nicks_key};
    use super::*;

    #[test]
    fn registry_hashes_parse() {
        let hash: HashMap<String, String> = [
            ("instance", "a/00ff"),
            ("quic", "h:1"),
            ("webtransport", "https://h:1/"),
            ("http", "http://h:2/"),
            ("sessions", "3"),
            ("seen_ms", "1700000000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (instance, info) = parse_relay("a".into(), &hash).expect("a live relay");
        assert_eq!(instance, "a/00ff");
        assert_eq!(info.cert_sha256, None);
        assert_eq!(info.sessions, 3);
        assert_eq!(info.webtransport, "https://h:1/");
        assert!(parse_relay("gone".into(), &HashMap::new()).is_none());
    }

    #[test]
    fn registry_and_presence_keys() {
        assert_eq!(node_key("a:1"), "chitchat:{_relays}:node:a:1");
        assert_eq!(members_key("r.1"), "chitchat:{r.1}:members");
        assert_eq!(nicks_key("r.1"), "chitchat:{r.1}:nicks");
        // The registry's tag can never be a room's: room names start with a letter or digit.
        assert!(chitchat_protocol::validate_room("_relays").is_err());
        assert_eq!(ttl(Duration::from_secs(5)), Duration::from_millis(12_500));
    }
}
