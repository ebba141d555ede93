-- KEYS: queue, counts. ARGV: targets of the frames the last blocking pop took
-- (space-separated). Pipelined just before the next BLMPOP, so a receive costs one round trip
-- per burst.
local counts = {}
count_targets(counts, ARGV[1])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
else
  subtract(KEYS[2], counts)
end
return 0
