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
--
-- now_ms() is the clock of every script: the server's TIME, kept monotonic
-- in CLOCK (ffpool:clock: raw, the last TIME a script read; offset, what
-- the clock adds to TIME). Leases, heartbeats, worker expiry and routing
-- deadlines are stored as this clock's values and compared with it later,
-- after a failover on another node, so a step of the server's wall clock
-- (an NTP step, a VM resumed, a new master whose clock is off) must not
-- move it:
--   * back: the clock stays where it was and resumes from there (a lease
--     set before the step would otherwise hold a dead worker's job for
--     the length of the step);
--   * forward by more than CLOCK_STEP_MS since the last script: the jump
--     is not counted (every lease would otherwise end at once and every
--     job whose client heartbeats be cancelled as lapsed).
-- The bound tells a step from time really passing: a live pool runs a
-- script every 100 ms (the presence reaper) and each worker at least every
-- 2 s (its announcement), so a gap longer than CLOCK_STEP_MS (the default
-- lease) between two scripts is a step, or a Redis that answered nobody
-- for that long. Not counting the latter is safe: it only lengthens each
-- lease, heartbeat and deadline by at most that gap, never shortens one
-- (a worker stops writing on its own clock, the lease only fences). A
-- forward step shorter than the bound counts as time passed, as before.
-- Redis's own expiry (PEXPIRE, blocking time-outs) keeps the wall clock.

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
local CLOCK = '@FFPOOL_KEY_CLOCK@'
local WAKE_KEEP = 16
local CLOCK_STEP_MS = 5000
local LAPSED = 'the client stopped sending heartbeats'
local function str(n) return string.format('%d', n) end
local clock = {} -- this script's reading: now, offset
local function now_ms()
  if clock.now then return clock.now end
  local t = redis.call('TIME')
  local raw = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local c = redis.call('HMGET', CLOCK, 'raw', 'offset')
  local last, offset = tonumber(c[1]), tonumber(c[2]) or 0
  if last and (raw < last or raw - last > CLOCK_STEP_MS) then offset = offset + last - raw end
  redis.call('HSET', CLOCK, 'raw', str(raw), 'offset', str(offset))
  clock.now, clock.offset = raw + offset, offset
  return clock.now
end
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
