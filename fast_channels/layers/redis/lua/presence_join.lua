-- ARGV: channel, process, lease (seconds), value ("<process>\n<info json>"), ttl.
-- Writes the entry and renews the process's lease in the group. Returns {1 when the entry is
-- new or its value changed (a join event is due), reaped {channel, value, ...}}.
local hash, leases = KEYS[1], KEYS[2]
local now = redis_now()
local reaped = reap(hash, leases, now, ARGV[2])
local old = redis.call('HGET', hash, ARGV[1])
redis.call('HSET', hash, ARGV[1], ARGV[4])
redis.call('ZADD', leases, now + tonumber(ARGV[3]), ARGV[2])
keep(hash, leases, ARGV[5])
return {old ~= ARGV[4] and 1 or 0, reaped}
