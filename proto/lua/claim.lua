--! script CLAIM claim
--! uses prelude routing
-- ARGV: owner, lease_ttl_ms, retention_ms, max_attempts, unroutable_timeout_ms.
-- Returns {'OK', id, epoch, checkpoint, takeover, spec}, {'EMPTY', due_in_ms}
-- (ms until the earliest lease still running expires, -1 if none) or
-- {'AGAIN'} (it cleaned up dead entries and there may be more to look at).
--
-- Looks at up to ROUTE_SCAN due entries of the lease set (expired leases,
-- and handed-back jobs at score 0), lowest score first, then up to
-- ROUTE_SCAN jobs at the head of the queue list, and claims the first one
-- this worker can run (routing above): takeovers keep their priority over
-- new jobs, and a job nobody here can run does not block the ones behind it. The bound keeps
-- a claim cheap however many jobs wait for a capability this worker lacks.
-- A lost lease counts as an attempt: the job ends FAILED once max_attempts
-- is reached instead of crash-looping the pool. Dead entries (finished,
-- gone, client vanished) are cleaned up on the way.

local owner, ttl = ARGV[1], tonumber(ARGV[2])
local retention, max_attempts = tonumber(ARGV[3]), tonumber(ARGV[4])
local timeout = tonumber(ARGV[5])
local now = now_ms()
local cleaned = 0
local function try(id, from_leases)
  local key = JOB .. id
  local f = redis.call('HMGET', key, 'state', 'owner', 'heartbeat_until_ms', 'requires')
  local state = f[1]
  local claimable = state == 'queued' or (from_leases and state == 'running')
  if not claimable then
    if from_leases then redis.call('ZREM', LEASES, id)
    else redis.call('LREM', QUEUE, 1, id) end
    cleaned = cleaned + 1
    return nil
  end
  if lapsed(f[3], now) then
    finish(id, 'cancelled', LAPSED, now, retention, not from_leases)
    cleaned = cleaned + 1
    return nil
  end
  local requires = f[4] or ''
  if requires ~= '' and not offers_all(owner, words_of(requires)) then
    route_wait(id, requires, now, timeout, retention, state == 'queued')
    return nil
  end
  if not from_leases then redis.call('LREM', QUEUE, 1, id) end
  local lost = state == 'running'
  local attempts = 0
  if lost then attempts = redis.call('HINCRBY', key, 'attempts', 1) end
  if lost and attempts >= max_attempts then
    finish(id, 'failed', 'worker lost the job ' .. str(attempts) .. ' times', now,
           retention, false)
    cleaned = cleaned + 1
    return nil
  end
  local takeover = 0
  if lost and f[2] ~= owner then
    takeover = 1
    redis.call('HINCRBY', key, 'takeovers', 1)
  end
  local epoch = redis.call('HINCRBY', key, 'epoch', 1)
  redis.call('HSET', key, 'state', 'running', 'owner', owner, 'waiting', '',
             'waiting_since_ms', '0')
  extend_lease(id, now, ttl)
  local g = redis.call('HMGET', key, 'checkpoint', 'spec')
  return {'OK', id, epoch, tonumber(g[1]) or 0, takeover, g[2] or ''}
end
local due = redis.call('ZRANGEBYSCORE', LEASES, '-inf', str(now), 'LIMIT', 0, ROUTE_SCAN)
for _, id in ipairs(due) do
  local answer = try(id, true)
  if answer then return answer end
end
local new = redis.call('LRANGE', QUEUE, 0, ROUTE_SCAN - 1)
for _, id in ipairs(new) do
  local answer = try(id, false)
  if answer then return answer end
end
if cleaned > 0 and (#due == ROUTE_SCAN or #new == ROUTE_SCAN) then return {'AGAIN'} end
local first = redis.call('ZRANGEBYSCORE', LEASES, '(' .. str(now), '+inf', 'WITHSCORES',
                         'LIMIT', 0, 1)
if first[2] then return {'EMPTY', tonumber(first[2]) - now} end
return {'EMPTY', -1}
