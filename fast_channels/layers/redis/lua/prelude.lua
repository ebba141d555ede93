-- Functions every script of the queue layer starts with (scripts.py puts this file first).

-- A malformed frame never expires here: the receiver pops it and counts it undecodable.
local function parse(frame)
  local a = string.find(frame, '\n', 1, true)
  local b = a and string.find(frame, '\n', a + 1, true)
  if not b then return math.huge, '' end
  -- A positioned head is "<expires-at> <epoch> <offset> <group>": the first word.
  local head = string.sub(frame, 1, a - 1)
  local space = string.find(head, ' ', 1, true)
  if space then head = string.sub(head, 1, space - 1) end
  return tonumber(head) or math.huge, string.sub(frame, a + 1, b - 1)
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
    local frame = head .. table.concat(targets, ' ') .. '\n' .. payload
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

-- Forget members of a group, with their capacities.
local function forget_members(group, caps_key, members)
  call_chunked('ZREM', group, members)
  call_chunked('HDEL', caps_key, members)
end

-- Forget the members that joined before `since` (now - group_expiry): their membership lapsed.
local function prune_members(group, caps_key, since)
  local lapsed = redis.call('ZRANGEBYSCORE', group, '-inf', '(' .. since)
  if #lapsed > 0 then forget_members(group, caps_key, lapsed) end
end
