--! script CLAIM claim
--! uses prelude routing
-- ARGV: owner, lease_ttl_ms, retention_ms, unroutable_timeout_ms,
-- max_lost_leases, token (random per claim, '' = none).
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
-- A lapsed lease (its worker died, stalled or lost Redis) is not an attempt:
-- attempts count failures of the job itself (fail.lua). It counts in
-- leases_lost, and the job ends FAILED once max_lost_leases is reached, so a
-- job that keeps losing its worker (one that kills every machine it runs on)
-- cannot crash-loop the pool without end. Dead entries (finished, gone,
-- client vanished) are cleaned up on the way.
--
-- The token makes a retried claim safe: the owner's last claim is recorded
-- under CLAIM .. owner, and a claim with the same token whose job is still
-- RUNNING under this owner and that epoch (its reply was lost: nobody works
-- on it) answers that claim again, lease extended, instead of claiming
-- another job and leaving this one a phantom lease.

local owner, ttl = ARGV[1], tonumber(ARGV[2])
local retention, timeout = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_lost, token = tonumber(ARGV[5]), ARGV[6] or ''
local now = now_ms()
local cleaned = 0
local CLAIM_RECORD_MS = 60000
if token ~= '' then
  local c = redis.call('HMGET', CLAIM .. owner, 'token', 'id', 'epoch', 'takeover')
  if c[1] == token and c[2] then
    local f = redis.call('HMGET', JOB .. c[2], 'state', 'owner', 'epoch', 'checkpoint', 'spec')
    if f[1] == 'running' and f[2] == owner and f[3] == c[3] then
      extend_lease(c[2], now, ttl)
      return {'OK', c[2], tonumber(c[3]), tonumber(f[4]) or 0, tonumber(c[4]) or 0, f[5] or ''}
    end
  end
end
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
  local leases_lost = 0
  if lost then leases_lost = redis.call('HINCRBY', key, 'leases_lost', 1) end
  if lost and leases_lost >= max_lost then
    finish(id, 'failed', 'the job lost its worker ' .. str(leases_lost) ..
           ' times (lease.max_lost_leases)', now, retention, false)
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
  if token ~= '' then
    redis.call('HSET', CLAIM .. owner, 'token', token, 'id', id, 'epoch', str(epoch),
               'takeover', str(takeover))
    redis.call('PEXPIRE', CLAIM .. owner, CLAIM_RECORD_MS)
  end
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
