-- ARGV: none. Returns {every entry {channel, value, ...}, reaped {channel, value, ...}}:
-- one round trip however many members (HGETALL of 10,000 small entries).
local hash, leases = KEYS[1], KEYS[2]
local reaped = reap(hash, leases, redis_now(), '')
return {redis.call('HGETALL', hash), reaped}
