-- Redis Cluster, group_send step 1, in the group's slot. KEYS: group, group capacities, and
-- for a group with history (history.py) its stream and hash. ARGV: now, group_expiry, and
-- with history: size, ttl, ttl in ms, fresh epoch token, payload (appended first, before
-- anything else is written). Prunes lapsed members; returns {members, {member, capacity,
-- ...}, epoch, offset} (no epoch and offset without history).
local group, caps_key, now = KEYS[1], KEYS[2], tonumber(ARGV[1])
local epoch, offset
if KEYS[3] then
  epoch, offset = history_append(
    KEYS[3], KEYS[4], now, ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7])
end
prune_members(group, caps_key, now - tonumber(ARGV[2]))
local members = redis.call('ZRANGE', group, 0, -1)
if #members == 0 then return {members, {}, epoch, offset} end
return {members, redis.call('HGETALL', caps_key), epoch, offset}
