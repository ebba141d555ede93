-- A group's history (history.py), in its slot. KEYS: stream, hash {epoch, offset}.
-- ARGV: now, ttl in ms, a fresh epoch token (used if the epoch is missing), the reader's
-- epoch, its offset, 1 if the reader has no position. Returns {epoch, last offset, offset of
-- the oldest entry kept (0: none), {offset, payload, ...} after the reader's position (all
-- of them when its epoch is another, none without a position or past the last offset)}.
local h, hm, now = KEYS[1], KEYS[2], tonumber(ARGV[1])
local epoch = history_epoch(h, hm, ARGV[3], ARGV[2])
history_trim(h, now)
local offset = tonumber(redis.call('HGET', hm, 'offset')) or 0
local first = redis.call('XRANGE', h, '-', '+', 'COUNT', 1)[1]
local oldest = first and tonumber(string.match(first[1], '^%d+')) or 0
local after = tonumber(ARGV[5])
if epoch ~= ARGV[4] then after = 0 end
local flat = {}
if ARGV[6] ~= '1' and after >= 0 and after <= offset then
  for _, entry in ipairs(redis.call('XRANGE', h, '(' .. after .. '-0', '+')) do
    flat[#flat + 1] = tonumber(string.match(entry[1], '^%d+'))
    flat[#flat + 1] = entry[2][4]
  end
end
return {epoch, offset, oldest, flat}
