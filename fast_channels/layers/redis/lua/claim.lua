-- At-least-once receive (reliable.py): moves the in-flight frames whose deadline passed back to
-- the head of the list, then claims the head frame into the in-flight hash.
-- KEYS: list, inflight, frames. ARGV: now, deadline, list ttl, in-flight ttl, sweep limit.
-- Returns {frame or false, id, redelivered, pruned}.
local list, inflight, frames = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local back, pruned = 0, 0
for i = #due, 1, -1 do  -- newest first onto the head: the oldest ends up first in line
  local frame = redis.call('HGET', frames, due[i])
  if not frame then
  elseif parse(frame) < now then
    pruned = pruned + 1  -- expired in flight: dropped here, not redelivered
  else
    redis.call('LPUSH', list, frame)
    back = back + 1
  end
end
if #due > 0 then
  redis.call('ZREM', inflight, unpack(due))
  redis.call('HDEL', frames, unpack(due))
  redis.call('EXPIRE', list, ARGV[3])
end
pruned = pruned + prune_list(list, now)
local frame = redis.call('LPOP', list)
if not frame then return {false, 0, back, pruned} end
local id = redis.call('HINCRBY', frames, 'n', 1)
redis.call('HSET', frames, id, frame)
redis.call('ZADD', inflight, ARGV[2], id)
redis.call('EXPIRE', inflight, ARGV[4])
redis.call('EXPIRE', frames, ARGV[4])
return {frame, id, back, pruned}
