-- ARGV: process, lease (seconds), ttl. Renews the process's lease in the group. Returns
-- {1 when it had no lease (it was reaped after a stall, or Redis lost the data: its entries
-- want writing again), reaped {channel, value, ...}}.
local hash, leases = KEYS[1], KEYS[2]
local now = redis_now()
local reaped = reap(hash, leases, now, ARGV[1])
local added = redis.call('ZADD', leases, now + tonumber(ARGV[2]), ARGV[1])
keep(hash, leases, ARGV[3])
return {added, reaped}
