-- KEYS: group, group capacities, memberships marker (memberships.py), expiry index, leases.
-- ARGV: prefix, now, expires-at, default capacity, group_expiry, payload, ttl, 1 if the
-- caller saw the marker before. Returns {delivered, full, pruned, marker present, members
-- reaped}, or {LOST or RESTORING, 0, 0, 0, 0} without sending when the memberships may be
-- incomplete.
-- History (history.py), only for a group with a policy: ARGV[9] 'a' appends the payload to
-- the history keys KEYS[6], KEYS[7] (ARGV 10-14: size, ttl, ttl in ms, fresh epoch token,
-- group) before anything else is written, and the reply gains {epoch, offset}; 'p' (another
-- shard of a sharded layer: the group's shard appended) takes them from ARGV 10-12 (epoch,
-- offset, group). Either way every frame's head carries the position.
local group, caps_key, index = KEYS[1], KEYS[2], KEYS[4]
local prefix, now = ARGV[1], tonumber(ARGV[2])
local mark = redis.call('GET', KEYS[3])
if mark then
  if tonumber(mark) > now then return {-2, 0, 0, 0, 0} end
elseif ARGV[8] == '1' then
  return {-1, 0, 0, 0, 0}
end
local present = mark and 1 or 0
local head, default_cap, expires = ARGV[3] .. '\n', tonumber(ARGV[4]), tonumber(ARGV[3])
local payload, ttl = ARGV[6], ARGV[7]
local epoch, offset
if ARGV[9] == 'a' then
  epoch, offset = history_append(
    KEYS[6], KEYS[7], now, ARGV[10], tonumber(ARGV[11]), ARGV[12], ARGV[13], payload)
  head = history_head(ARGV[3], epoch, offset, ARGV[14])
elseif ARGV[9] == 'p' then
  head = history_head(ARGV[3], ARGV[10], ARGV[11], ARGV[12])
end
prune_members(group, caps_key, now - tonumber(ARGV[5]))
local members = redis.call('ZRANGE', group, 0, -1)
if #members == 0 then return {0, 0, 0, present, 0, epoch, offset} end
local caps = {}
if redis.call('EXISTS', caps_key) == 1 then
  local flat = redis.call('HGETALL', caps_key)
  for i = 1, #flat, 2 do caps[flat[i]] = tonumber(flat[i + 1]) end
end
local by_process, order, process_of = {}, {}, {}
local delivered, full, pruned = 0, 0, 0
for _, member in ipairs(members) do
  local bang = string.find(member, '!', 1, true)
  if bang then
    -- <prefix>.<process>!<local>: the process is the head's last dot-separated part. The
    -- members of one process share a head, so it is matched once per head, not per member
    -- (a '$'-anchored match is tried at every position: ~1 us a member at 1,000 members).
    local head = string.sub(member, 1, bang - 1)
    local process = process_of[head]
    if not process then
      process = string.match(head, '([^.]*)$')
      process_of[head] = process
    end
    local channels = by_process[process]
    if not channels then
      channels = {}
      by_process[process] = channels
      order[#order + 1] = process
    end
    channels[#channels + 1] = member
  else
    local key = prefix .. ':ch:' .. member
    pruned = pruned + prune_list(key, now)
    if redis.call('LLEN', key) < (caps[member] or default_cap) then
      local length = redis.call('RPUSH', key, head .. '\n' .. payload)
      redis.call('EXPIRE', key, ttl)
      index_new(index, key, length, expires)
      delivered = delivered + 1
    else
      full = full + 1
    end
  end
end
local reaped = 0
for _, process in ipairs(order) do
  local channels = by_process[process]
  if lease_ended(KEYS[5], process) then
    -- Its receive loop stopped renewing its lease: the process died (SIGKILL, OOM, node lost).
    -- Its members would fill a queue nobody reads and be counted full, then expired, for
    -- group_expiry: reap them (the frames already queued for it are counted by SWEEP).
    forget_members(group, caps_key, channels)
    reaped = reaped + #channels
  else
    local queue, counts_key = prefix .. ':q:' .. process, prefix .. ':n:' .. process
    local d, f, p = deliver(
      queue, counts_key, channels, caps, default_cap, now, head, payload, ttl, index, expires)
    delivered, full, pruned = delivered + d, full + f, pruned + p
  end
end
return {delivered, full, pruned, present, reaped, epoch, offset}
