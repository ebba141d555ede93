-- Redis Cluster, group_send step 2, in one process's slot. KEYS: queue, counts.
-- ARGV: now, head (the expires-at, or a history group's "<expires-at> <epoch> <offset>
-- <group>": no expiry index on a Cluster reads it as a number), default capacity, payload,
-- ttl, then channel, capacity (0: default) pairs. Returns {delivered, full, pruned}.
local channels, caps = {}, {}
for i = 6, #ARGV, 2 do
  channels[#channels + 1] = ARGV[i]
  local cap = tonumber(ARGV[i + 1])
  if cap > 0 then caps[ARGV[i]] = cap end
end
local d, f, p = deliver(KEYS[1], KEYS[2], channels, caps, tonumber(ARGV[3]),
  tonumber(ARGV[1]), ARGV[2] .. '\n', ARGV[4], ARGV[5], KEYS[3], tonumber(ARGV[2]))
return {d, f, p}
