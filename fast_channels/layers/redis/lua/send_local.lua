-- send to a process-local channel: one frame into its process's queue, under the channel's
-- capacity. KEYS: queue, counts[, expiry index]. ARGV: channel, capacity, frame, now, ttl.
-- Returns {accepted, pruned}.
local pruned = prune_queue(KEYS[1], KEYS[2], tonumber(ARGV[4]))
local pending = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or 0)
if pending >= tonumber(ARGV[2]) then return {0, pruned} end
local length = redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if length == 1 then index_new(KEYS[3], KEYS[1], length, (parse(ARGV[3]))) end
return {1, pruned}
