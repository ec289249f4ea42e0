//! Every Lua script the broker runs in Redis, and `Scripts`, the ones it invokes by hash.
//!
//! Each script's docs give its contract (keys, arguments, reply); the comments inside the
//! Lua explain how it keeps it. Scripts that write frames encode bincode themselves, byte
//! for byte as [`BusFrame`](chitchat_protocol::bus::BusFrame) does.

use ::redis::Script;

/// Lua helpers every script that writes bincode shares: `le` (a little-endian unsigned
/// integer of `width` bytes) and `varint` (bincode's varint encoding of an unsigned
/// integer). A macro rather than a const so that scripts can be built with `concat!` into
/// one `&'static str`.
macro_rules! lua_varint {
    () => {
        r#"
local function le(n, width)
  local bytes = {}
  for i = 1, width do
    local b = n % 256
    bytes[i] = string.char(b)
    n = (n - b) / 256
  end
  return table.concat(bytes)
end
-- bincode's varint: one byte below 251, else a marker (251, 252, 253) and 2, 4 or 8 bytes.
local function varint(n)
  if n < 251 then return string.char(n) end
  if n < 65536 then return string.char(251) .. le(n, 2) end
  if n < 4294967296 then return string.char(252) .. le(n, 4) end
  return string.char(253) .. le(n, 8)
end
"#
    };
}

/// The Lua function both storing scripts check a send id with: `repeated_send(key, log,
/// epoch_key)` is `{seq, ts, epoch, text}` of the message the send id key `key` (holding
/// `<seq>:<ts>:<epoch>`, or `<seq>:<ts>` as older relays wrote it: then the room's epoch now)
/// says was stored, `text` false if retention dropped it from `log`; nil for a send id not
/// seen.
macro_rules! lua_repeated_send {
    () => {
        r#"
local function repeated_send(key, log, epoch_key)
  local known = redis.call('GET', key)
  local seq, ts, epoch = string.match(known or '', '^(%d+):(%d+):?(%d*)$')
  if not seq then return nil end
  local text = false
  local entry = redis.call('XRANGE', log, seq .. '-0', seq .. '-0')
  if entry[1] then
    local fields = entry[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 't' then text = fields[i + 1] end
    end
  end
  epoch = tonumber(epoch) or tonumber(redis.call('GET', epoch_key) or '') or 1
  return {tonumber(seq), tonumber(ts), epoch, text}
end
"#
    };
}

/// The Lua function every script that reads or stores a room's epoch uses:
/// `room_epoch(key, log, floor, now)` is the epoch `key` holds, or nil and an error reply if
/// it holds something else. A missing key is set first: to the epoch the newest entry of
/// `log` carries (a history written before epochs were per room keeps its epoch), else to
/// the larger of `now` (Redis's time in ms) and `floor` (one above the last epoch the relay
/// knew for the room), so a room that lost its keys gets an epoch it never had.
macro_rules! lua_room_epoch {
    () => {
        r#"
local function room_epoch(key, log, floor, now)
  local held = redis.call('GET', key)
  if held then
    local epoch = tonumber(held)
    if not epoch or epoch < 1 or epoch > 9007199254740991 then
      return nil, redis.error_reply('ERR chitchat: ' .. key .. ' does not hold an epoch')
    end
    return epoch
  end
  local epoch = nil
  local tail = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
  if tail[1] then
    local fields = tail[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'e' then epoch = tonumber(fields[i + 1]) end
    end
  end
  if not epoch then epoch = math.max(now, tonumber(floor) or 1) end
  redis.call('SET', key, string.format('%d', epoch))
  return epoch
end
local function time_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
"#
    };
}

/// The Lua function both storing scripts number an entry with: `next_seq(counter, log)` is
/// the room's next seq and Redis's time in ms, or nil and an error reply when the counter
/// does not hold a number. The next seq is one above both the counter and the newest entry,
/// so a counter lost or set back by hand cannot make the append fail.
macro_rules! lua_next_seq {
    () => {
        r#"
local function next_seq(counter, log)
  local last = 0
  local current = redis.call('GET', counter)
  if current then
    last = tonumber(current)
    if not last then
      return nil, redis.error_reply('ERR chitchat: ' .. counter .. ' does not hold a number')
    end
  end
  local tail = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
  if tail[1] then
    local stored = tonumber(string.match(tail[1][1], '^(%d+)-'))
    if stored and stored > last then last = stored end
  end
  local now = redis.call('TIME')
  return last + 1, tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
"#
    };
}

/// Lua helpers the presence scripts share: [`lua_varint`]'s, bincode's string encoding and
/// the Presence frame.
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

/// The publish script: numbers one message (last seq + 1), appends it to the history,
/// stores the new seq and `SPUBLISH`es its frame, stamped with Redis's clock so every relay
/// agrees on timestamps and with the room's epoch (set first if the room has none). Numbering
/// and publishing in one script is what gives every relay subscribed to a room one order of
/// its messages.
///
/// `KEYS`: seq counter, history stream, channel, epoch key, and optionally the send id's key
/// (one hash slot). `ARGV`: history limit, the epoch floor (see `room_epoch`), frame prefix,
/// frame suffix, sender, text, and with a send id key its lifetime in ms. Replies `{seq, ts,
/// epoch}`. A failed run stores nothing.
///
/// With a send id key that holds `<seq>:<ts>:<epoch>` the send was stored before: the
/// script stores and publishes nothing and replies `{seq, ts, epoch, text}` of that message
/// (`text` nil if retention dropped it). Otherwise it sets the key with the new seq, ts and
/// epoch.
///
/// The frame is [`BusFrame`](chitchat_protocol::bus::BusFrame) in bincode: the caller
/// encodes the parts it knows, the script the three varints only it knows (seq, epoch, ts).
pub const PUBLISH_SCRIPT: &str = concat!(
    lua_varint!(),
    lua_repeated_send!(),
    lua_next_seq!(),
    lua_room_epoch!(),
    r#"-- Everything that can fail is checked before the first write: Lua scripts are not
-- rolled back. That is why the counter is read and written rather than INCRed.
if KEYS[5] then
  local stored = repeated_send(KEYS[5], KEYS[2], KEYS[4])
  if stored then return stored end
end
local seq, ts = next_seq(KEYS[1], KEYS[2])
if not seq then return ts end
local epoch, refused = room_epoch(KEYS[4], KEYS[2], ARGV[2], ts)
if not epoch then return refused end
local es = string.format('%d', epoch)
-- Numbers go through %d: Lua's default formatting switches to exponents above 14 digits.
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], string.format('%d-0', seq),
  'f', ARGV[5], 't', ARGV[6], 'ts', string.format('%d', ts), 'e', es)
redis.call('SET', KEYS[1], string.format('%d', seq))
if KEYS[5] then
  redis.call('SET', KEYS[5], string.format('%d:%d:%s', seq, ts, es), 'PX', ARGV[7])
end
redis.call('SPUBLISH', KEYS[3], ARGV[3] .. varint(seq) .. varint(epoch) .. varint(ts) .. ARGV[4])
return {seq, ts, epoch}
"#
);

/// Reads a room's epoch, setting it if the room has none (see `room_epoch`). `KEYS`: the
/// epoch key, the history stream. `ARGV`: the epoch floor. Replies the epoch.
pub const ROOM_EPOCH_SCRIPT: &str = concat!(
    lua_room_epoch!(),
    r#"
local epoch, refused = room_epoch(KEYS[1], KEYS[2], ARGV[1], time_ms())
if not epoch then return refused end
return epoch
"#
);

/// Gives a room a new epoch because its seq went backwards (a failover lost entries some
/// relay had seen), unless another relay already did. `KEYS`: the epoch key. `ARGV`: the
/// epoch the caller saw the seq go backwards in. If the key still holds it (or nothing),
/// it is set to the larger of Redis's time in ms and that epoch + 1. Replies the room's
/// epoch after.
pub const BUMP_EPOCH_SCRIPT: &str = r#"
local held = redis.call('GET', KEYS[1])
local seen = tonumber(ARGV[1])
if held and tonumber(held) ~= seen then return tonumber(held) or seen end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local epoch = math.max(ms, seen + 1)
redis.call('SET', KEYS[1], string.format('%d', epoch))
return epoch
"#;

/// The entry script: checks and stores one log entry other than a plain text (a reply,
/// an edit, a delete, a reaction), all in one run, so two relays cannot both pass a check.
///
/// `KEYS`: seq counter, history stream, channel, the target's state hash, the epoch key,
/// and optionally the send id's key. `ARGV`: history limit, the epoch floor (see
/// `room_epoch`), frame prefix, frame suffix (see
/// `entry_prefix`), sender, kind (0 text with a reply target, 1 edit, 2 delete, 3 react),
/// target seq, text, emoji, on (`1`/`0`), the edit limit, `1` if the operator makes it (no
/// author check), and with a send id key its lifetime in ms.
///
/// Replies `{seq, ts, epoch}` of the stored entry; `{seq, ts, epoch, nil}` of the entry that
/// made the current state for a reaction that changes nothing (the message itself if none);
/// `{seq, ts, epoch, text}` for a repeated send id; or `{code}` for a refusal
/// (`NO_SUCH_MESSAGE`, `NOT_AUTHOR`, `EDIT_LIMIT`), which stores nothing but the room's
/// epoch if it had none.
pub const ENTRY_SCRIPT: &str = concat!(
    lua_varint!(),
    lua_repeated_send!(),
    lua_next_seq!(),
    lua_room_epoch!(),
    r#"if KEYS[6] then
  local stored = repeated_send(KEYS[6], KEYS[2], KEYS[5])
  if stored then return stored end
end
local epoch, refused = room_epoch(KEYS[5], KEYS[2], ARGV[2], time_ms())
if not epoch then return refused end
local es = string.format('%d', epoch)
local kind, target, from = ARGV[6], ARGV[7], ARGV[5]
local state = redis.call('HMGET', KEYS[4], 'a', 'mts', 'n', 'd')
local author, mts = state[1], state[2]
if state[4] == '1' then return {'NO_SUCH_MESSAGE'} end
if not author then
  -- Nothing changed the message yet: its own entry says who wrote it, and whether it is one.
  local entry = redis.call('XRANGE', KEYS[2], target .. '-0', target .. '-0')
  if not entry[1] then return {'NO_SUCH_MESSAGE'} end
  local fields, k = entry[1][2], '0'
  for i = 1, #fields, 2 do
    if fields[i] == 'k' then k = fields[i + 1]
    elseif fields[i] == 'f' then author = fields[i + 1]
    elseif fields[i] == 'ts' then mts = fields[i + 1] end
  end
  if k ~= '0' or not author then return {'NO_SUCH_MESSAGE'} end
end
if (kind == '1' or kind == '2') and author ~= from and ARGV[12] ~= '1' then
  return {'NOT_AUTHOR'}
end
if kind == '1' and tonumber(state[3] or '0') >= tonumber(ARGV[11]) then return {'EDIT_LIMIT'} end
local reaction = 'r:' .. ARGV[9] .. ':' .. from
if kind == '3' then
  -- `<seq>:<ts>:<1 on, 0 off>` of the user's latest reaction entry with this emoji.
  local seq, ts, now = string.match(redis.call('HGET', KEYS[4], reaction) or '', '^(%d+):(%d+):(%d)$')
  if (now == '1') == (ARGV[10] == '1') then
    -- The fourth element (nil) says nothing was stored.
    if seq then return {tonumber(seq), tonumber(ts), epoch, false} end
    return {tonumber(target), tonumber(mts), epoch, false}
  end
end
local seq, ts = next_seq(KEYS[1], KEYS[2])
if not seq then return ts end
local tss = string.format('%d', ts)
local fields = {'f', from, 't', ARGV[8], 'ts', tss, 'e', es}
if kind == '0' then
  table.insert(fields, 'r'); table.insert(fields, target)
else
  for _, v in ipairs({'k', kind, 'g', target}) do table.insert(fields, v) end
end
if kind == '3' then
  for _, v in ipairs({'m', ARGV[9], 'o', ARGV[10]}) do table.insert(fields, v) end
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], string.format('%d-0', seq), unpack(fields))
redis.call('SET', KEYS[1], string.format('%d', seq))
if kind ~= '0' then
  redis.call('HSET', KEYS[4], 'a', author, 'mts', mts)
end
local mark = string.format('%d:%d', seq, ts)
if kind == '1' then
  redis.call('HINCRBY', KEYS[4], 'n', 1)
  redis.call('HSET', KEYS[4], 't', ARGV[8], 'et', tss)
elseif kind == '2' then
  redis.call('HSET', KEYS[4], 'd', '1')
elseif kind == '3' then
  redis.call('HSET', KEYS[4], reaction, mark .. ':' .. ARGV[10])
end
if kind ~= '0' then
  -- The messages with a state hash, by seq, so those retention dropped from the log lose
  -- theirs here (at most 64 a run): after a room's last change at most its history limit's
  -- worth stay. Same slot as KEYS[4] (its `{room}` tag).
  local states = (string.gsub(KEYS[4], ':m:%d+$', ':states'))
  redis.call('ZADD', states, tonumber(target), target)
  local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  if oldest then
    local first = string.match(oldest[1], '^(%d+)-')
    local gone = redis.call('ZRANGEBYSCORE', states, '-inf', '(' .. first, 'LIMIT', 0, 64)
    for _, s in ipairs(gone) do
      redis.call('DEL', (string.gsub(KEYS[4], ':m:%d+$', ':m:' .. s)))
    end
    if #gone > 0 then redis.call('ZREM', states, unpack(gone)) end
  end
end
if KEYS[6] then
  redis.call('SET', KEYS[6], mark .. ':' .. es, 'PX', ARGV[13])
end
redis.call('SPUBLISH', KEYS[3], ARGV[3] .. varint(seq) .. varint(epoch) .. varint(ts) .. ARGV[4])
return {seq, ts, epoch}
"#
);

/// Changes one instance's presence in a room. `KEYS`: members hash, nicks hash, channel.
/// `ARGV`: instance, node id, frame prefix (see `presence_prefix`), operation (`add`,
/// `remove`, or `set`: exactly these nicks), then the nicks.
///
/// A Presence frame is published exactly when a nick's instance count goes from 0 to 1
/// (joined) or 1 to 0 (left), so every relay in the room sees each nick join once and leave
/// once, in Redis's order. Adding a held nick or removing an absent one changes nothing.
pub const PRESENCE_SCRIPT: &str = concat!(
    lua_encoding!(),
    r#"
local now = redis.call('TIME')
local ms = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local mine = ARGV[1] .. '|'
local node, prefix, op = ARGV[2], ARGV[3], ARGV[4]
-- HSET refreshes the entry's time even if it exists (the purge keeps fresh entries).
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
/// instances were listed, then the live instances. Replies how many entries it removed.
///
/// A leave is published for every nick no instance holds any more, naming the dead
/// instance's node.
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
  -- Fields are <instance>|<nick>; anything else is dropped.
  local instance, nick = string.match(field, '^(.*)|([^|]*)$')
  if not instance then
    redis.call('HDEL', KEYS[1], field)
  -- An entry asserted at or after the listing is kept whatever its instance: that
  -- instance may have registered after the list was made.
  elseif not live[instance] and (asserted == nil or asserted < listed) then
    redis.call('HDEL', KEYS[1], field)
    purged = purged + 1
    if redis.call('HINCRBY', KEYS[2], nick, -1) <= 0 then
      redis.call('HDEL', KEYS[2], nick)
      -- An instance id is <node>/<hex>.
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
-- Rewritten whole, so a field the relay stopped sending (cert_sha256) disappears.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'instance', ARGV[2], 'seen_ms', string.format('%d', ms), unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[2], ttl)
-- Scored by expiry, so entries of expired hashes are found by score.
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

/// Checks, takes or renews one guest nick claim. `KEYS`: the claim's key. `ARGV`: the hex
/// hash of the claimant's secret (empty: it has none), the time-to-live in ms. Replies 1
/// (held by this hash: set now, or renewed), 0 (free and no hash: nothing set) or 2 (taken
/// by another hash, or by any when none was given).
pub const CLAIM_SCRIPT: &str = r#"
local held = redis.call('GET', KEYS[1])
if not held then
  if ARGV[1] == '' then return 0 end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if ARGV[1] ~= '' and held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 2
"#;

/// The scripts the broker invokes by hash (`EVALSHA`), compiled once per broker.
/// [`PRESENCE_SCRIPT`], [`CLAIM_SCRIPT`], [`ROOM_EPOCH_SCRIPT`] and [`BUMP_EPOCH_SCRIPT`]
/// are not among them: they go as `EVAL` (inside transactions, or rarely).
pub(super) struct Scripts {
    pub publish: Script,
    pub purge: Script,
    pub beat: Script,
    pub unregister: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            publish: Script::new(PUBLISH_SCRIPT),
            purge: Script::new(PURGE_SCRIPT),
            beat: Script::new(HEARTBEAT_SCRIPT),
            unregister: Script::new(UNREGISTER_SCRIPT),
        }
    }
}
