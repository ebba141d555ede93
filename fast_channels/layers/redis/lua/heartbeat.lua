-- KEYS: leases. ARGV: process, lease (seconds), ttl of the leases key.
-- Renews the process's lease, in Redis time (no clock skew between hosts). Returns 0, or 1 when
-- the process had no lease (first beat, or Redis lost its data), 2 when its lease had ended
-- (it may have been reaped): either way its memberships want writing again.
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = redis_now()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if not previous then return 1 end
if tonumber(previous) < now then return 2 end
return 0
