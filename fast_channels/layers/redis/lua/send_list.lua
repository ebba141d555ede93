-- send to a plain channel's list, under its capacity.
-- KEYS: list[, expiry index]. ARGV: capacity, frame, now, ttl. Returns {accepted, pruned}.
local pruned = prune_list(KEYS[1], tonumber(ARGV[3]))
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return {0, pruned} end
local length = redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if length == 1 then index_new(KEYS[2], KEYS[1], length, (parse(ARGV[2]))) end
return {1, pruned}
