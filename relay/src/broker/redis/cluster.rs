//! What relays sharing a Redis know of each other: the node registry (who is alive, where,
//! with which certificate) and presence across relays (who is in each room, on any relay).
//!
//! **Registry.** Every relay beats every heartbeat period ([`HEARTBEAT_SCRIPT`]): it rewrites
//! its hash `chitchat:{_relays}:node:<node id>` (fields `instance`, `seen_ms`, `quic`,
//! `webtransport`, `http`, `sessions`, and `cert_sha256` while it serves a dev leaf) and
//! sets the hash to expire after [`ttl`] of silence, and it keeps its node id in the sorted
//! set `chitchat:{_relays}:index` (score: the ms at which its hash expires), which is how
//! the relays are listed without scanning. A relay is alive while its hash exists.
//! `chitchat:{_relays}:registrations` counts the beats that found another instance (or
//! none) in a node's hash: a relay that sees it move knows instances came or went, even
//! ones that lived and died between two of its checks. The
//! `{_relays}` hash tag cannot be a room's (room names start with a letter or digit), so
//! the registry lives in one slot of its own.
//!
//! Each relay process has an *instance* id, `<node id>/<16 hex digits>`, fresh at every
//! start: presence entries name instances, so a relay that restarts under the same node id
//! does not inherit its dead predecessor's members, which are purged like any dead relay's.
//!
//! **Presence.** Per room, in the room's slot:
//! - `chitchat:{room}:members`, a hash: field `<instance>|<nick>` (nicks never hold `|`),
//!   value the Redis time in ms when that instance last asserted the nick;
//! - `chitchat:{room}:nicks`, a hash: field nick, value how many instances hold it.
//!
//! [`PRESENCE_SCRIPT`] adds or removes one instance's nicks (or sets them all) and publishes
//! a Presence frame on the room's channel exactly when a nick's count goes from 0 to 1 or
//! back, so every relay in the room sees each nick join once and leave once, in Redis's
//! order. [`PURGE_SCRIPT`] removes the entries of instances that are not alive, publishing
//! a leave for each nick that no live instance holds any more. A relay purges a room when
//! it subscribes to it (before reading its members), after reconnecting, and every room it
//! is in whenever an instance drops out of the registry or the registrations count moves:
//! a dead relay's members leave within [`ttl`] plus one registry check of its last beat,
//! and a relay restarted under the same node id replaces its predecessor's members within
//! one check.
//!
//! A relay whose own hash expired (it was cut off, or stalled, for longer than the ttl) was
//! purged by the others; its next beat notices and it asserts its members again, as it
//! does after every reconnection.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::{RedisError, Script};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    BUS_VERSION, COMMAND_TIMEOUT, Link, Outbound, Shared, channel, encode, is_connection_error,
};
use crate::broker::RelayInfo;

/// How often a relay beats when nothing else is configured: often enough that a dead relay
/// is noticed within seconds, rarely enough to cost Redis nothing.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

/// Registry checks per heartbeat period. Checks are cheap (one pipeline listing a handful
/// of hashes), and checking five times per period bounds how late a dead relay's members
/// are purged to a fifth of a period after its hash expired.
pub const CHECKS_PER_BEAT: u32 = 5;

/// The sorted set of node ids in the registry (score: when the node's hash expires, ms).
pub const REGISTRY_INDEX: &str = "chitchat:{_relays}:index";

/// The count of registrations of a new instance under a node id (see the module docs).
pub const REGISTRATIONS_KEY: &str = "chitchat:{_relays}:registrations";

/// How long a relay's registry hash lives after its last beat: two and a half periods, so
/// one lost beat (Redis slow or briefly unreachable) never makes a live relay look dead,
/// while a dead one is gone well within three periods (12.5 s at the 5 s default).
pub fn ttl(heartbeat: Duration) -> Duration {
    heartbeat * 5 / 2
}

/// The registry hash of `node`.
pub fn node_key(node: &str) -> String {
    format!("chitchat:{{_relays}}:node:{node}")
}

/// The hash of `room`'s presence entries (`<instance>|<nick>` -> ms last asserted).
pub fn members_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:members")
}

/// The hash of `room`'s nicks (nick -> instances holding it).
pub fn nicks_key(room: &str) -> String {
    format!("chitchat:{{{room}}}:nicks")
}

/// Lua helpers the presence scripts share: bincode's varint encoding (the `lua_varint`
/// prelude of [`super::PUBLISH_SCRIPT`]), its string encoding and the Presence frame.
macro_rules! lua_encoding {
    () => {
        concat!(
            lua_varint!(),
            r#"local function str(s) return varint(#s) .. s end
local function presence_frame(prefix, node, nick, joined)
  local flag = string.char(0)
  if joined then flag = string.char(1) end
  return prefix .. str(node) .. str(nick) .. flag
end
"#
        )
    };
}

/// Changes one instance's presence in a room. `KEYS`: members hash, nicks hash, channel.
/// `ARGV`: instance, node id, frame prefix ([`presence_prefix`]), operation (`add`,
/// `remove`, or `set`: exactly these nicks), then the nicks.
///
/// Adding refreshes the entry's time even if it exists (see [`PURGE_SCRIPT`]). A Presence
/// frame is published when a nick's instance count goes from 0 to 1 (joined) or 1 to 0
/// (left). Adding a held nick or removing an absent one changes nothing.
pub const PRESENCE_SCRIPT: &str = concat!(
    lua_encoding!(),
    r#"
local now = redis.call('TIME')
local ms = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local mine = ARGV[1] .. '|'
local node, prefix, op = ARGV[2], ARGV[3], ARGV[4]
local function add(nick)
  if redis.call('HSET', KEYS[1], mine .. nick, ms) == 1 then
    if redis.call('HINCRBY', KEYS[2], nick, 1) == 1 then
      redis.call('SPUBLISH', KEYS[3], presence_frame(prefix, node, nick, true))
    end
  end
end
local function remove(nick)
  if redis.call('HDEL', KEYS[1], mine .. nick) == 1 then
    if redis.call('HINCRBY', KEYS[2], nick, -1) <= 0 then
      redis.call('HDEL', KEYS[2], nick)
      redis.call('SPUBLISH', KEYS[3], presence_frame(prefix, node, nick, false))
    end
  end
end
if op == 'set' then
  local want = {}
  for i = 5, #ARGV do want[ARGV[i]] = true end
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, #mine) == mine then
      local nick = string.sub(field, #mine + 1)
      if not want[nick] then remove(nick) end
    end
  end
  for i = 5, #ARGV do add(ARGV[i]) end
elseif op == 'add' then
  for i = 5, #ARGV do add(ARGV[i]) end
elseif op == 'remove' then
  for i = 5, #ARGV do remove(ARGV[i]) end
else
  return redis.error_reply('ERR chitchat: unknown presence operation ' .. op)
end
return 1
"#
);

/// Removes the presence entries of instances that are not alive. `KEYS`: members hash,
/// nicks hash, channel. `ARGV`: frame prefix, the Redis time (ms) at which the live
/// instances were listed, then the live instances.
///
/// An entry asserted at or after the listing time is kept whatever its instance: that
/// instance may have registered after the list was made. A leave is published for every
/// nick no instance holds any more, naming the dead instance's node.
pub const PURGE_SCRIPT: &str = concat!(
    lua_encoding!(),
    r#"
local prefix = ARGV[1]
local listed = tonumber(ARGV[2])
local live = {}
for i = 3, #ARGV do live[ARGV[i]] = true end
local entries = redis.call('HGETALL', KEYS[1])
local purged = 0
for i = 1, #entries, 2 do
  local field = entries[i]
  local asserted = tonumber(entries[i + 1])
  local instance, nick = string.match(field, '^(.*)|([^|]*)$')
  if not instance then
    redis.call('HDEL', KEYS[1], field)
  elseif not live[instance] and (asserted == nil or asserted < listed) then
    redis.call('HDEL', KEYS[1], field)
    purged = purged + 1
    if redis.call('HINCRBY', KEYS[2], nick, -1) <= 0 then
      redis.call('HDEL', KEYS[2], nick)
      local node = string.match(instance, '^(.*)/[^/]*$') or instance
      redis.call('SPUBLISH', KEYS[3], presence_frame(prefix, node, nick, false))
    end
  end
end
return purged
"#
);

/// One beat. `KEYS`: the registry index, this node's hash, the registrations count.
/// `ARGV`: node id, instance, ttl in ms, then field/value pairs. Returns the instance the
/// hash held before (nil if it had expired or never existed), so a relay learns that it was
/// taken for dead; counts the beat as a registration if that was not this instance. Also
/// drops index entries whose hash has expired.
pub const HEARTBEAT_SCRIPT: &str = r#"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[3])
local previous = redis.call('HGET', KEYS[2], 'instance')
if previous ~= ARGV[2] then redis.call('INCR', KEYS[3]) end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'instance', ARGV[2], 'seen_ms', string.format('%d', ms), unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], string.format('%d', ms + ttl), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', ms))
return previous
"#;

/// Leaves the registry, if this instance is still the one registered. `KEYS`: the index,
/// this node's hash. `ARGV`: node id, instance.
pub const UNREGISTER_SCRIPT: &str = r#"
if redis.call('HGET', KEYS[2], 'instance') == ARGV[2] then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"#;

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
pub(super) struct Live {
    /// Instances alive at the listing.
    pub instances: HashSet<String>,
    /// The Redis time of the listing, ms.
    pub listed_ms: u64,
    /// The registrations count at the listing.
    pub registrations: u64,
    /// The live relays, by node id.
    pub relays: Vec<RelayInfo>,
    /// When the listing was made, by this relay's clock.
    pub at: Instant,
}

/// A presence change for the sender task to carry out, in queue order.
#[derive(Debug, Clone)]
pub(super) enum PresenceChange {
    Add(String),
    Remove(String),
    /// Exactly the nicks this relay holds in the room now (read when sent).
    Sync,
    /// None of them: the relay is leaving.
    Clear,
}

/// The bytes of a presence frame before its node (version, origin, room, variant index 1);
/// the scripts append node, nick and the joined flag.
pub(super) fn presence_prefix(origin: &str, room: &str) -> Vec<u8> {
    encode(&(BUS_VERSION, origin, room, 1u32))
}

/// A fresh instance id for a relay process named `node`.
pub(super) fn new_instance(node: &str) -> String {
    format!("{node}/{:016x}", rand::random::<u64>())
}

/// Adds one [`PRESENCE_SCRIPT`] run to `pipe`, for the sender task. The script goes as
/// `EVAL` (not `EVALSHA`): presence changes are rare, and a script cache Redis lost can
/// then never turn one away.
pub(super) fn add_presence(
    pipe: &mut ::redis::Pipeline,
    shared: &Shared,
    room: &str,
    change: &PresenceChange,
) {
    let (op, nicks): (&str, Vec<String>) = match change {
        PresenceChange::Add(nick) => ("add", vec![nick.clone()]),
        PresenceChange::Remove(nick) => ("remove", vec![nick.clone()]),
        PresenceChange::Sync => ("set", shared.local_nicks(room)),
        PresenceChange::Clear => ("set", Vec::new()),
    };
    pipe.cmd("EVAL")
        .arg(PRESENCE_SCRIPT)
        .arg(3)
        .arg(members_key(room))
        .arg(nicks_key(room))
        .arg(channel(room))
        .arg(&shared.instance)
        .arg(&shared.node_id)
        .arg(presence_prefix(&shared.node_id, room))
        .arg(op)
        .arg(nicks);
}

/// Runs [`PURGE_SCRIPT`] for `room` on `conn` against the last listing (this instance
/// always counts as alive). Does nothing before the first listing.
pub(super) async fn purge_room(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    room: &str,
) -> Result<(), RedisError> {
    let Some((instances, listed_ms)) = shared.live_instances() else {
        return Ok(());
    };
    let mut invocation = shared.scripts.purge.prepare_invoke();
    invocation
        .key(members_key(room))
        .key(nicks_key(room))
        .key(channel(room))
        .arg(presence_prefix(&shared.node_id, room))
        .arg(listed_ms)
        .arg(&shared.instance);
    for instance in instances.iter().filter(|i| **i != shared.instance) {
        invocation.arg(instance);
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<i64>(conn)).await {
        Ok(Ok(purged)) => {
            if purged > 0 {
                tracing::info!(room, purged, "removed the members of relays that are gone");
            }
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("purging room {room} timed out"),
        ))),
    }
}

/// The nicks in `room` across the cluster (the keys of its nicks hash).
pub(super) async fn room_nicks(
    conn: &mut MultiplexedConnection,
    room: &str,
) -> Result<Vec<String>, String> {
    let mut cmd = ::redis::cmd("HKEYS");
    cmd.arg(nicks_key(room));
    match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<Vec<String>>(conn)).await {
        Ok(Ok(nicks)) => Ok(nicks),
        Ok(Err(e)) => Err(format!("reading room {room}'s members: {e}")),
        Err(_) => Err(format!("reading room {room}'s members timed out")),
    }
}

/// Beats once. Returns the instance the registry held for this node before.
pub(super) async fn beat(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
) -> Result<Option<String>, RedisError> {
    let registration = shared.registration();
    let ttl_ms = u64::try_from(ttl(shared.heartbeat).as_millis()).unwrap_or(u64::MAX);
    let mut invocation = shared.scripts.beat.prepare_invoke();
    invocation
        .key(REGISTRY_INDEX)
        .key(node_key(&shared.node_id))
        .key(REGISTRATIONS_KEY)
        .arg(&shared.node_id)
        .arg(&shared.instance)
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
pub(super) async fn unregister(shared: &Shared, conn: &mut MultiplexedConnection) {
    let mut invocation = shared.scripts.unregister.prepare_invoke();
    invocation
        .key(REGISTRY_INDEX)
        .key(node_key(&shared.node_id))
        .arg(&shared.node_id)
        .arg(&shared.instance);
    match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<i64>(conn)).await {
        Ok(Ok(_)) => tracing::debug!("left the relay registry"),
        Ok(Err(e)) => tracing::warn!(error = %e, "leaving the relay registry failed"),
        Err(_) => tracing::warn!("leaving the relay registry timed out"),
    }
}

/// Lists the live relays.
pub(super) async fn list(conn: &mut MultiplexedConnection) -> Result<Live, RedisError> {
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
    let mut live = Live {
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

fn timed_out(what: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} took longer than {COMMAND_TIMEOUT:?}"),
    ))
}

/// The registry task: beats, lists the registry, purges the rooms this relay is in when a
/// relay dies, and asserts this relay's presence again after it was taken for dead. Runs
/// until `stop` is cancelled.
pub(super) async fn run_registry(
    shared: Arc<Shared>,
    queue: mpsc::WeakUnboundedSender<Outbound>,
    stop: CancellationToken,
) {
    let mut check = tokio::time::interval(shared.heartbeat / CHECKS_PER_BEAT);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.reset();
    let mut since_beat = 0;
    let mut generation = shared.current().map_or(0, |l| l.generation);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = check.tick() => {}
        }
        let Some(link) = shared.current() else {
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
            match beat(&shared, &mut conn).await {
                Ok(previous) if previous.as_deref() == Some(shared.instance.as_str()) => {}
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
                    report(&shared, &link, "the heartbeat", &e);
                    continue;
                }
            }
        }
        if resync {
            sync_presence(&shared, &queue);
        }
        refresh(&shared, &link).await;
    }
    tracing::debug!("registry task stopped");
}

/// Lists the registry; when an instance has dropped out since the last listing, or
/// registrations happened, purges every room this relay is in.
pub(super) async fn refresh(shared: &Shared, link: &Link) {
    let mut conn = link.conn.clone();
    let live = match list(&mut conn).await {
        Ok(live) => live,
        Err(e) => {
            report(shared, link, "listing the relays", &e);
            return;
        }
    };
    let died = {
        let mut current = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        let died = current.as_ref().is_some_and(|old| {
            old.registrations != live.registrations
                || old.instances.iter().any(|i| !live.instances.contains(i))
        });
        *current = Some(live);
        died
    };
    if !died {
        return;
    }
    let rooms: Vec<String> = shared.delivering().iter().cloned().collect();
    for room in rooms {
        if let Err(e) = purge_room(shared, &mut conn, &room).await {
            report(shared, link, "purging a room", &e);
            return;
        }
    }
}

/// Queues an assertion of this relay's presence in every room it holds nicks in.
fn sync_presence(shared: &Shared, queue: &mpsc::WeakUnboundedSender<Outbound>) {
    let Some(queue) = queue.upgrade() else {
        return;
    };
    for room in shared.local_rooms() {
        let _ = queue.send(Outbound::Presence {
            room,
            change: PresenceChange::Sync,
        });
    }
}

fn report(shared: &Shared, link: &Link, what: &str, e: &RedisError) {
    if is_connection_error(e) {
        shared.report_trouble(link.generation);
    }
    tracing::warn!(error = %e, "{what} failed");
}

/// The registry's view for `Broker::relays`: fresh if listed within the ttl.
pub(super) fn fresh_relays(live: Option<&Live>, heartbeat: Duration) -> Option<Vec<RelayInfo>> {
    live.filter(|l| l.at.elapsed() <= ttl(heartbeat))
        .map(|l| l.relays.clone())
}

/// Compiled once per broker: the scripts the registry task and the bus task invoke.
pub(super) struct Scripts {
    pub purge: Script,
    pub beat: Script,
    pub unregister: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            purge: Script::new(PURGE_SCRIPT),
            beat: Script::new(HEARTBEAT_SCRIPT),
            unregister: Script::new(UNREGISTER_SCRIPT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BusBody, BusFrame};
    use super::*;

    #[test]
    fn presence_frames_split_where_the_scripts_fill_in() {
        for (node, nick, joined) in [("relay-1", "ann", true), ("n/ö", "Zoë", false)] {
            let frame = BusFrame {
                version: BUS_VERSION,
                origin: "relay-2".into(),
                room: "lobby".into(),
                body: BusBody::Presence {
                    node: node.into(),
                    nick: nick.into(),
                    joined,
                },
            };
            let mut assembled = presence_prefix("relay-2", "lobby");
            assembled.extend(encode(&(node, nick, joined)));
            assert_eq!(assembled, frame.encode());
        }
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
}
