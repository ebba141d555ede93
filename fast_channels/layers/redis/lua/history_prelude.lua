-- Functions of the scripts that write or read group history (scripts.py puts this file after
-- prelude.lua for those only: every function defined is a closure made on every call, which
-- the send, pop and ack scripts need not pay for).

-- Group history (README "Recovery", history.py). A group's history is two keys in its slot:
-- a stream of entries `<offset>-0` {e = expires-at, p = payload} and a hash {epoch, offset}.

-- Drop the entries whose expires-at is past (they expire in append order: from the head).
local function history_trim(h, now)
  local first = redis.call('XRANGE', h, '-', '+', 'COUNT', 1)[1]
  if not first or tonumber(first[2][2]) > now then return end
  local start = '-'
  while true do
    local batch = redis.call('XRANGE', h, start, '+', 'COUNT', 64)
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][2]) > now then
        redis.call('XTRIM', h, 'MINID', entry[1])
        return
      end
    end
    if #batch < 64 then
      redis.call('DEL', h)
      return
    end
    start = '(' .. batch[#batch][1]
  end
end

-- The group's epoch, made from `token` when missing (Redis lost the history: restarted
-- empty, flushed, failed over without it, or it expired): a stream without its epoch is
-- of a lost one and goes.
local function history_epoch(h, hm, token, ttl_ms)
  local epoch = redis.call('HGET', hm, 'epoch')
  if epoch then return epoch end
  redis.call('DEL', h)
  redis.call('HSET', hm, 'epoch', token, 'offset', 0)
  redis.call('PEXPIRE', hm, ttl_ms)
  return token
end

-- Give `payload` the group's next position and keep it (at most `size` entries, each for
-- ttl seconds; both keys expire ttl after the last append). Returns epoch, offset.
-- The first write (HSET/HINCRBY) is refused under maxmemory before anything is written.
local function history_append(h, hm, now, size, ttl, ttl_ms, token, payload)
  local epoch = history_epoch(h, hm, token, ttl_ms)
  local offset = redis.call('HINCRBY', hm, 'offset', 1)
  redis.call('XADD', h, 'MAXLEN', size, offset .. '-0', 'e', string.format('%.6f', now + ttl),
    'p', payload)
  history_trim(h, now)
  redis.call('PEXPIRE', h, ttl_ms)
  redis.call('PEXPIRE', hm, ttl_ms)
  return epoch, offset
end

-- The frame head of a positioned message: "<expires-at> <epoch> <offset> <group>\n".
local function history_head(expires, epoch, offset, group)
  return expires .. ' ' .. epoch .. ' ' .. offset .. ' ' .. group .. '\n'
end
