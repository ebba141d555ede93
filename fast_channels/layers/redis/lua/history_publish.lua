-- The pub/sub layer's group_send to a group with history, in the group's slot: append to
-- its history, then publish the positioned frame, in one call. KEYS: stream, hash.
-- ARGV: now, size, ttl, ttl in ms, fresh epoch token, expires-at, group, payload, the
-- pub/sub channel, the command (PUBLISH, or SPUBLISH on a Cluster: the channel shares the
-- keys' slot). Returns {epoch, offset, receivers}.
local now = tonumber(ARGV[1])
local epoch, offset = history_append(
  KEYS[1], KEYS[2], now, ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[8])
local frame = history_head(ARGV[6], epoch, offset, ARGV[7]) .. '\n' .. ARGV[8]
return {epoch, offset, redis.call(ARGV[10], ARGV[9], frame)}
