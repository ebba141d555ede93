-- KEYS: queue, counts. ARGV: max frames, targets of a frame already taken by BLPOP.
-- Returns {frames left in the queue, {frames...}}.
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then redis.call('LTRIM', KEYS[1], #items, -1) end
local left = redis.call('LLEN', KEYS[1])
if left == 0 then
  redis.call('DEL', KEYS[2])
else
  local counts = {}
  for _, item in ipairs(items) do
    local _, targets = parse(item)
    count_targets(counts, targets)
  end
  count_targets(counts, ARGV[2])
  subtract(KEYS[2], counts)
end
return {left, items}
