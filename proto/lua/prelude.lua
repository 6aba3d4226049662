-- Shared by every script: key names, the clock and the transitions that more
-- than one script makes. Everything is local (Redis 7 forbids globals).
--
-- finish() ends a job: a final state, out of the leases (and of the queue
-- list if it was still waiting there), and every key of the job set to
-- expire after retention_ms.
--
-- owned() is the fence: it answers nil (and the job's fields) only when the
-- job is RUNNING under owner and epoch. A job whose client stopped sending
-- heartbeats is cancelled here, by whoever notices first.

if redis.replicate_commands then pcall(redis.replicate_commands) end
local JOB = '@FFPOOL_KEY_JOB@'
local SEGMENTS = '@FFPOOL_KEY_SEGMENTS_SUFFIX@'
local JOBKEY = '@FFPOOL_KEY_JOBKEY@'
local QUEUE = '@FFPOOL_KEY_QUEUE@'
local LEASES = '@FFPOOL_KEY_LEASES@'
local WAKE = '@FFPOOL_KEY_WAKE@'
local SEQ = '@FFPOOL_KEY_SEQ@'
local JOBS = '@FFPOOL_KEY_JOBS@'
local WORKER = '@FFPOOL_KEY_WORKER@'
local WORKERS = '@FFPOOL_KEY_WORKERS@'
local OFFERS = '@FFPOOL_KEY_OFFERS_SUFFIX@'
local CLAIM = '@FFPOOL_KEY_CLAIM@'
local WAKE_KEEP = 16
local LAPSED = 'the client stopped sending heartbeats'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function str(n) return string.format('%d', n) end
local function finished(state)
  return state == 'done' or state == 'failed' or state == 'cancelled'
end
local function lapsed(heartbeat_until, now)
  local h = tonumber(heartbeat_until) or 0
  return h > 0 and now > h
end
local function wake()
  redis.call('LPUSH', WAKE, '1')
  redis.call('LTRIM', WAKE, 0, WAKE_KEEP - 1)
end
local function finish(id, state, err, now, retention, was_queued)
  local key = JOB .. id
  redis.call('HSET', key, 'state', state, 'lease_until_ms', '0', 'updated_ms', str(now))
  if err then redis.call('HSET', key, 'error', err) end
  redis.call('ZREM', LEASES, id)
  if was_queued then redis.call('LREM', QUEUE, 0, id) end
  redis.call('PEXPIRE', key, retention)
  redis.call('PEXPIRE', key .. SEGMENTS, retention)
  local job_key = redis.call('HGET', key, 'job_key')
  if job_key and job_key ~= '' and redis.call('GET', JOBKEY .. job_key) == id then
    redis.call('PEXPIRE', JOBKEY .. job_key, retention)
  end
end
local function extend_lease(id, now, ttl)
  local lease_until = str(now + ttl)
  redis.call('HSET', JOB .. id, 'lease_until_ms', lease_until, 'updated_ms', str(now),
             'waiting', '', 'waiting_since_ms', '0')
  redis.call('ZADD', LEASES, lease_until, id)
end
local function touch_heartbeat(id, heartbeat_until, stored_ttl, ttl, now)
  if (tonumber(heartbeat_until) or 0) <= 0 then return end
  if ttl <= 0 then ttl = tonumber(stored_ttl) or 0 end
  if ttl > 0 then redis.call('HSET', JOB .. id, 'heartbeat_until_ms', str(now + ttl)) end
end
local function owned(id, owner, epoch, now, retention)
  local f = redis.call('HMGET', JOB .. id, 'state', 'owner', 'epoch',
                       'heartbeat_until_ms', 'checkpoint', 'paused')
  local job = {state = f[1], owner = f[2], epoch = f[3], checkpoint = f[5], paused = f[6]}
  if not job.state then return 'FENCED', job end
  if job.state == 'cancelled' then return 'CANCELLED', job end
  if not finished(job.state) and lapsed(f[4], now) then
    finish(id, 'cancelled', LAPSED, now, retention, job.state == 'queued')
    return 'CANCELLED', job
  end
  if job.state ~= 'running' or job.owner ~= owner or job.epoch ~= epoch then
    return 'FENCED', job
  end
  return nil, job
end
