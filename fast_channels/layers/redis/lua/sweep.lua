-- KEYS: expiry index, leases. ARGV: prefix, now, keys to look at, group_expiry.
-- Counts and removes the expired frames of data keys whose head frame expired (nobody read
-- them: a named channel without a reader, the queue of a dead process), at most 1000 frames a
-- key, then re-scores the key by its new head; forgets leases that ended group_expiry ago
-- (their members have lapsed by then).
-- Returns {deliveries dropped, 1 when more may be left}. Atomic: concurrent sweeps of several
-- processes never count a frame twice, and a frame popped by a reader is not here to count.
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
