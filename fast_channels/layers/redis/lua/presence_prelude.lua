-- Functions every presence script starts with (layers/redis/presence.py puts this file first).
-- KEYS of every presence script: the group's presence hash (channel -> "<process>\n<info>")
-- and its leases (sorted set: process -> Redis time its lease in this group ends).

-- Redis's clock, in seconds: leases are written and checked on one clock (no host skew).
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Remove the entries of processes whose lease ended (they died: SIGKILL, OOM, node lost) and
-- their leases; returns {channel, value, ...} of what it removed, for the caller's leave
-- events. `me` is the calling process: alive, whatever its lease says (it renews it next).
-- O(1) while no lease ended; else one pass over the hash.
local function reap(hash, leases, now, me)
  local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. now)
  local dead, any = {}, false
  for _, process in ipairs(ended) do
    if process ~= me then
      dead[process], any = true, true
      redis.call('ZREM', leases, process)
    end
  end
  local removed = {}
  if not any then return removed end
  local flat = redis.call('HGETALL', hash)
  for i = 1, #flat, 2 do
    local value = flat[i + 1]
    local newline = string.find(value, '\n', 1, true) or (#value + 1)
    if dead[string.sub(value, 1, newline - 1)] then
      redis.call('HDEL', hash, flat[i])
      removed[#removed + 1] = flat[i]
      removed[#removed + 1] = value
    end
  end
  return removed
end

-- The group's keys outlive their last renewal by ttl: a backstop if every process died.
local function keep(hash, leases, ttl)
  if redis.call('HLEN', hash) == 0 then
    redis.call('DEL', hash, leases)
  else
    redis.call('EXPIRE', hash, ttl)
    redis.call('EXPIRE', leases, ttl)
  end
end
