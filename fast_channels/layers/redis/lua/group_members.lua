-- Redis Cluster, group_send step 1, in the group's slot. KEYS: group, group capacities.
-- ARGV: now, group_expiry. Prunes lapsed members; returns {members, {member, capacity, ...}}.
local group, caps_key, now = KEYS[1], KEYS[2], tonumber(ARGV[1])
prune_members(group, caps_key, now - tonumber(ARGV[2]))
local members = redis.call('ZRANGE', group, 0, -1)
if #members == 0 then return {members, {}} end
return {members, redis.call('HGETALL', caps_key)}
