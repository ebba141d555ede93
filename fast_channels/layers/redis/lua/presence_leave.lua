-- ARGV: channel, process, 1 when this is the process's last entry in the group.
-- Removes the entry (and then the process's lease); an empty group's keys are deleted.
-- Returns the entry's value, or false when it was not there (reaped: its event went out).
local hash, leases = KEYS[1], KEYS[2]
local old = redis.call('HGET', hash, ARGV[1])
if old then redis.call('HDEL', hash, ARGV[1]) end
if ARGV[3] == '1' then redis.call('ZREM', leases, ARGV[2]) end
if redis.call('HLEN', hash) == 0 then redis.call('DEL', hash, leases) end
return old
