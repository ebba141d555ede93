"""Lua scripts of the queue layer: each send, group_send (per shard) and pop is one round trip.

Keys (P = the layer prefix):
  P:q:<process>   list of frames for every process-local channel of one layer instance
  P:n:<process>   hash channel -> frames for it still in P:q:<process> (the capacity count)
  P:ch:<channel>  list of frames for a plain (non-process-local) channel
  P:g:<group>     sorted set of member channels scored by join time, on the members' shard
  P:gc:<group>    hash member -> capacity, only for members with a non-default capacity
  P:exp           sorted set: key of a P:q:<process> or P:ch:<channel> list -> newest expires-at
                  of its frames; SWEEP counts and removes the frames of keys nobody read
  P:leases        sorted set: process -> Redis time its receive loop's lease ends (HEARTBEAT);
                  GROUP_SEND reaps the members of a process whose lease ended
A frame is "<expires-at>\\n<target channels>\\n<payload>" (see envelope.py).

On a Redis Cluster (cluster.py) the same keys carry hash tags so each script touches one slot:
P:{<process>}:q and P:{<process>}:n, P:{ch:<channel>}, P:{g:<group>}:m and P:{g:<group>}:c.
There group_send is GROUP_MEMBERS in the group's slot, then one DELIVER per member process
(and one SEND_LIST per plain channel), pipelined: one round trip per node involved. P:exp and
P:leases would span slots, so a cluster passes no such keys: its data keys expire by TTL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from fast_channels.layers.redis._types import ScriptHost

_PRELUDE = """
-- A malformed frame never expires here: the receiver pops it and counts it undecodable.
local function parse(frame)
  local a = string.find(frame, '\\n', 1, true)
  local b = a and string.find(frame, '\\n', a + 1, true)
  if not b then return math.huge, '' end
  return tonumber(string.sub(frame, 1, a - 1)) or math.huge, string.sub(frame, a + 1, b - 1)
end

local function count_targets(counts, targets)
  local total = 0
  for name in string.gmatch(targets, '[^ ]+') do
    counts[name] = (counts[name] or 0) + 1
    total = total + 1
  end
  return total
end

-- One redis.call per 4000 arguments, not one per channel (unpack is limited to ~8000).
local function call_chunked(command, key, args)
  local results = {}
  for i = 1, #args, 4000 do
    local reply = redis.call(command, key, unpack(args, i, math.min(i + 3999, #args)))
    if type(reply) == 'table' then
      for _, value in ipairs(reply) do results[#results + 1] = value end
    end
  end
  return results
end

-- HSET of many fields. A small hash is a listpack, where adding a field is a linear scan:
-- 1,001 fields (a group_send to 1,000 local members) took 1.4 ms on Redis 7.0. A field name
-- longer than hash-max-listpack-value (64 bytes by default) makes Redis convert the hash to a
-- hashtable, after which the same HSET takes 0.2 ms: so a 65-space field goes in first. It is
-- never a valid channel name, and never read (counts are read by channel name).
local BIG_HASH_SENTINEL = string.rep(' ', 65)
local function hset_many(key, updates)
  if #updates > 128 then redis.call('HSET', key, BIG_HASH_SENTINEL, 0) end
  call_chunked('HSET', key, updates)
end

local function subtract(counts_key, counts)
  local names = {}
  for name in pairs(counts) do names[#names + 1] = name end
  if #names == 0 then return end
  local current = call_chunked('HMGET', counts_key, names)
  local updates, gone = {}, {}
  for i, name in ipairs(names) do
    local left = (tonumber(current[i]) or 0) - counts[name]
    if left > 0 then
      updates[#updates + 1] = name
      updates[#updates + 1] = left
    else
      gone[#gone + 1] = name
    end
  end
  if #updates > 0 then hset_many(counts_key, updates) end
  if #gone > 0 then call_chunked('HDEL', counts_key, gone) end
end

-- Drop expired frames from the head of a process queue; returns the deliveries dropped.
local function prune_queue(queue, counts_key, now)
  local counts, dropped = {}, 0
  for _ = 1, 1000 do
    local head = redis.call('LINDEX', queue, 0)
    if not head then
      redis.call('DEL', counts_key)
      return dropped
    end
    local expires, targets = parse(head)
    if expires >= now then break end
    redis.call('LPOP', queue)
    dropped = dropped + count_targets(counts, targets)
  end
  subtract(counts_key, counts)
  return dropped
end

-- The expiry index (nil on a cluster) holds, for every non-empty data key, a score no later
-- than the expiry of its head frame, so SWEEP finds and counts frames nobody reads instead of
-- Redis deleting them unseen. Pops and prunes only move the head later, so the score needs
-- writing only when a push makes a key non-empty (`length` 1): a queue a live receiver keeps
-- up with costs one ZADD a burst, a backlog none.
local function index_new(index, key, length, expires)
  if index and length == 1 then redis.call('ZADD', index, expires, key) end
end

-- Write one frame for the channels of `channels` under capacity into a process queue.
-- caps: channel -> capacity (absent: default_cap). Returns delivered, full, pruned.
local function deliver(queue, counts_key, channels, caps, default_cap, now, head, payload, ttl,
                       index, now_expires)
  local pruned = prune_queue(queue, counts_key, now)
  local pending = call_chunked('HMGET', counts_key, channels)
  local targets, updates, full = {}, {}, 0
  for i, channel in ipairs(channels) do
    local count = tonumber(pending[i]) or 0
    if count < (caps[channel] or default_cap) then
      targets[#targets + 1] = channel
      updates[#updates + 1] = channel
      updates[#updates + 1] = count + 1
    else
      full = full + 1
    end
  end
  if #targets > 0 then
    local frame = head .. table.concat(targets, ' ') .. '\\n' .. payload
    local length = redis.call('RPUSH', queue, frame)
    hset_many(counts_key, updates)
    redis.call('EXPIRE', queue, ttl)
    redis.call('EXPIRE', counts_key, ttl)
    index_new(index, queue, length, now_expires)
  end
  return #targets, full, pruned
end

-- Redis's clock, in seconds: leases are written and checked on one clock.
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Whether the process has a lease that ended. No lease at all (a process from before leases,
-- or a Redis restarted empty that its heartbeat has not reached yet) is not a death.
local clock  -- Redis time, read once per script call
local function lease_ended(leases, process)
  local lease = leases and redis.call('ZSCORE', leases, process)
  if not lease then return false end
  clock = clock or redis_now()
  return tonumber(lease) < clock
end

local function prune_list(key, now)
  local dropped = 0
  while dropped < 1000 do
    local head = redis.call('LINDEX', key, 0)
    if not head or parse(head) >= now then break end
    redis.call('LPOP', key)
    dropped = dropped + 1
  end
  return dropped
end
"""

# KEYS: queue, counts[, expiry index]. ARGV: channel, capacity, frame, now, ttl.
# Returns {accepted, pruned}.
SEND_LOCAL = """
local pruned = prune_queue(KEYS[1], KEYS[2], tonumber(ARGV[4]))
local pending = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or 0)
if pending >= tonumber(ARGV[2]) then return {0, pruned} end
local length = redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if length == 1 then index_new(KEYS[3], KEYS[1], length, (parse(ARGV[3]))) end
return {1, pruned}
"""

# KEYS: list[, expiry index]. ARGV: capacity, frame, now, ttl. Returns {accepted, pruned}.
SEND_LIST = """
local pruned = prune_list(KEYS[1], tonumber(ARGV[3]))
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return {0, pruned} end
local length = redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if length == 1 then index_new(KEYS[2], KEYS[1], length, (parse(ARGV[2]))) end
return {1, pruned}
"""

# KEYS: queue, counts. ARGV: targets of the frames the last blocking pop took (space-separated).
# Pipelined just before the next BLMPOP, so a receive costs one round trip per burst.
ACK = """
local counts = {}
count_targets(counts, ARGV[1])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
else
  subtract(KEYS[2], counts)
end
return 0
"""

# KEYS: queue, counts. ARGV: max frames, targets of a frame already taken by BLPOP.
# Returns {frames left in the queue, {frames...}}.
POP = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then redis.call('LTRIM', KEYS[1], #items, -1) end
local left = redis.call('LLEN', KEYS[1])
if left == 0 then
  redis.call('DEL', KEYS[2])
else
  local counts = {}
  for _, item in ipairs(items) do
    local _, targets = parse(item)
    count_targets(counts, targets)
  end
  count_targets(counts, ARGV[2])
  subtract(KEYS[2], counts)
end
return {left, items}
"""

# KEYS: group, group capacities, memberships marker (memberships.py), expiry index, leases.
# ARGV: prefix, now, expires-at, default capacity, group_expiry, payload, ttl, 1 if the
# caller saw the marker before. Returns {delivered, full, pruned, marker present, members
# reaped}, or {LOST or RESTORING, 0, 0, 0, 0} without sending when the memberships may be
# incomplete.
GROUP_SEND = """
local group, caps_key, index = KEYS[1], KEYS[2], KEYS[4]
local prefix, now = ARGV[1], tonumber(ARGV[2])
local mark = redis.call('GET', KEYS[3])
if mark then
  if tonumber(mark) > now then return {-2, 0, 0, 0, 0} end
elseif ARGV[8] == '1' then
  return {-1, 0, 0, 0, 0}
end
local present = mark and 1 or 0
local head, default_cap, expires = ARGV[3] .. '\\n', tonumber(ARGV[4]), tonumber(ARGV[3])
local payload, ttl = ARGV[6], ARGV[7]
local lapsed = redis.call('ZRANGEBYSCORE', group, '-inf', '(' .. (now - tonumber(ARGV[5])))
if #lapsed > 0 then
  call_chunked('ZREM', group, lapsed)
  call_chunked('HDEL', caps_key, lapsed)
end
local members = redis.call('ZRANGE', group, 0, -1)
if #members == 0 then return {0, 0, 0, present, 0} end
local caps = {}
if redis.call('EXISTS', caps_key) == 1 then
  local flat = redis.call('HGETALL', caps_key)
  for i = 1, #flat, 2 do caps[flat[i]] = tonumber(flat[i + 1]) end
end
local by_process, order, process_of = {}, {}, {}
local delivered, full, pruned = 0, 0, 0
for _, member in ipairs(members) do
  local bang = string.find(member, '!', 1, true)
  if bang then
    -- <prefix>.<process>!<local>: the process is the head's last dot-separated part. The
    -- members of one process share a head, so it is matched once per head, not per member
    -- (a '$'-anchored match is tried at every position: ~1 us a member at 1,000 members).
    local head = string.sub(member, 1, bang - 1)
    local process = process_of[head]
    if not process then
      process = string.match(head, '([^.]*)$')
      process_of[head] = process
    end
    local channels = by_process[process]
    if not channels then
      channels = {}
      by_process[process] = channels
      order[#order + 1] = process
    end
    channels[#channels + 1] = member
  else
    local key = prefix .. ':ch:' .. member
    pruned = pruned + prune_list(key, now)
    if redis.call('LLEN', key) < (caps[member] or default_cap) then
      local length = redis.call('RPUSH', key, head .. '\\n' .. payload)
      redis.call('EXPIRE', key, ttl)
      index_new(index, key, length, expires)
      delivered = delivered + 1
    else
      full = full + 1
    end
  end
end
local reaped = 0
for _, process in ipairs(order) do
  local channels = by_process[process]
  if lease_ended(KEYS[5], process) then
    -- Its receive loop stopped renewing its lease: the process died (SIGKILL, OOM, node lost).
    -- Its members would fill a queue nobody reads and be counted full, then expired, for
    -- group_expiry: reap them (the frames already queued for it are counted by SWEEP).
    call_chunked('ZREM', group, channels)
    call_chunked('HDEL', caps_key, channels)
    reaped = reaped + #channels
  else
    local queue, counts_key = prefix .. ':q:' .. process, prefix .. ':n:' .. process
    local d, f, p = deliver(
      queue, counts_key, channels, caps, default_cap, now, head, payload, ttl, index, expires)
    delivered, full, pruned = delivered + d, full + f, pruned + p
  end
end
return {delivered, full, pruned, present, reaped}
"""

# Redis Cluster, group_send step 1, in the group's slot. KEYS: group, group capacities.
# ARGV: now, group_expiry. Prunes lapsed members; returns {members, {member, capacity, ...}}.
GROUP_MEMBERS = """
local group, caps_key, now = KEYS[1], KEYS[2], tonumber(ARGV[1])
local lapsed = redis.call('ZRANGEBYSCORE', group, '-inf', '(' .. (now - tonumber(ARGV[2])))
if #lapsed > 0 then
  call_chunked('ZREM', group, lapsed)
  call_chunked('HDEL', caps_key, lapsed)
end
local members = redis.call('ZRANGE', group, 0, -1)
if #members == 0 then return {members, {}} end
return {members, redis.call('HGETALL', caps_key)}
"""

# Redis Cluster, group_send step 2, in one process's slot. KEYS: queue, counts.
# ARGV: now, expires-at, default capacity, payload, ttl, then channel, capacity (0: default)
# pairs. Returns {delivered, full, pruned}.
DELIVER = """
local channels, caps = {}, {}
for i = 6, #ARGV, 2 do
  channels[#channels + 1] = ARGV[i]
  local cap = tonumber(ARGV[i + 1])
  if cap > 0 then caps[ARGV[i]] = cap end
end
local d, f, p = deliver(KEYS[1], KEYS[2], channels, caps, tonumber(ARGV[3]),
  tonumber(ARGV[1]), ARGV[2] .. '\\n', ARGV[4], ARGV[5], KEYS[3], tonumber(ARGV[2]))
return {d, f, p}
"""

# KEYS: leases. ARGV: process, lease (seconds), ttl of the leases key.
# Renews the process's lease, in Redis time (no clock skew between hosts). Returns 0, or 1 when
# the process had no lease (first beat, or Redis lost its data), 2 when its lease had ended
# (it may have been reaped): either way its memberships want writing again.
HEARTBEAT = """
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = redis_now()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if not previous then return 1 end
if tonumber(previous) < now then return 2 end
return 0
"""

# KEYS: expiry index, leases. ARGV: prefix, now, keys to look at, group_expiry.
# Counts and removes the expired frames of data keys whose head frame expired (nobody read
# them: a named channel without a reader, the queue of a dead process), at most 1000 frames a
# key, then re-scores the key by its new head; forgets leases that ended group_expiry ago
# (their members have lapsed by then).
# Returns {deliveries dropped, 1 when more may be left}. Atomic: concurrent sweeps of several
# processes never count a frame twice, and a frame popped by a reader is not here to count.
SWEEP = """
local index, prefix, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (redis_now() - tonumber(ARGV[4])))
local keys = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[3]))
local queues, dropped, more = prefix .. ':q:', 0, #keys == tonumber(ARGV[3])
for _, key in ipairs(keys) do
  if string.sub(key, 1, #queues) == queues then
    local counts_key = prefix .. ':n:' .. string.sub(key, #queues + 1)
    dropped = dropped + prune_queue(key, counts_key, now)
  else
    dropped = dropped + prune_list(key, now)
  end
  local head = redis.call('LINDEX', key, 0)
  local expires = head and parse(head) or math.huge
  if expires == math.huge then
    -- Empty, or a malformed head (its reader counts it undecodable): nothing to track.
    redis.call('ZREM', index, key)
  else
    redis.call('ZADD', index, expires, key)
    if expires < now then more = true end  -- 1000 frames were pruned: the rest next time
  end
end
return {dropped, more and 1 or 0}
"""


class _Script:
    """A script's body, with the SHA1 that EVALSHA names it by."""

    __slots__ = ("body", "sha")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sha = hashlib.sha1(body).hexdigest()


class Scripts:
    """The queue layer's scripts, loaded once per server and called by SHA (EVALSHA); a
    script is loaded again on NOSCRIPT (after a Redis restart or SCRIPT FLUSH)."""

    def __init__(self) -> None:
        self._scripts: dict[str, _Script] = {}

    def _script(self, name: str, body: str) -> _Script:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = _Script((_PRELUDE + body).encode())
        return script

    async def _call(
        self, name: str, body: str, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Any:
        """EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis) and calling
        again."""
        script = self._script(name, body)
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(script.body)
            return await client.evalsha(script.sha, len(keys), *keys, *args)

    # Plain functions returning _call's coroutine: a send awaits one frame less.

    def send_local(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[int]]:
        return self._call("send_local", SEND_LOCAL, client, keys, args)

    def send_list(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[int]]:
        return self._call("send_list", SEND_LIST, client, keys, args)

    def pop(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[list[Any]]:
        return self._call("pop", POP, client, keys, args)

    def group_send(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[int]]:
        return self._call("group_send", GROUP_SEND, client, keys, args)

    def group_members(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[Any]]:
        return self._call("group_members", GROUP_MEMBERS, client, keys, args)

    def heartbeat(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[int]:
        return self._call("heartbeat", HEARTBEAT, client, keys, args)

    def sweep(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[list[int]]:
        return self._call("sweep", SWEEP, client, keys, args)

    def run(
        self, name: str, body: str, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[Any]:
        """A script kept outside this module (reliable.py), with this module's prelude."""
        return self._call(name, body, client, keys, args)

    def ack_sha(self) -> str:
        """The SHA of ACK, for EVALSHA queued in the receive loop's pipeline."""
        return self._script("ack", ACK).sha

    def deliver_sha(self) -> str:
        """The SHA of DELIVER, for EVALSHA queued in a (cluster) pipeline."""
        return self._script("deliver", DELIVER).sha

    def send_list_sha(self) -> str:
        return self._script("send_list", SEND_LIST).sha

    async def load(self, client: ScriptHost, sha: str) -> None:
        """Load the script with this SHA (on every primary of a cluster), after NOSCRIPT."""
        for script in self._scripts.values():
            if script.sha == sha:
                await client.script_load(script.body)
