--! script SUBMIT submit
--! uses prelude
-- ARGV: job_key ('' = none), spec, start_number, heartbeat_ttl_ms, retention_ms,
-- requires (space-separated "kind:name" words, '' = any worker), tag (the
-- caller's random hex).
-- Returns {'OK', id, created}. A job_key naming a QUEUED or RUNNING job
-- attaches to it (and counts as a heartbeat); otherwise a new job is queued.
--
-- A job id is 'j<n>-<tag>': the counter orders ids for people, the tag keeps
-- an id from ever naming two jobs. Redis can lose acknowledged writes (a
-- Sentinel failover, an AOF everysec crash), the counter's INCR among them,
-- and a counter alone would then hand a second client the id a first one
-- is still polling, heartbeating and cancelling.

local job_key, spec = ARGV[1], ARGV[2]
local start_number = tonumber(ARGV[3])
local heartbeat_ttl, retention = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
if job_key ~= '' then
  local existing = redis.call('GET', JOBKEY .. job_key)
  if existing then
    local f = redis.call('HMGET', JOB .. existing, 'state', 'heartbeat_until_ms',
                         'heartbeat_ttl_ms')
    if f[1] and not finished(f[1]) then
      if not lapsed(f[2], now) then
        touch_heartbeat(existing, f[2], f[3], heartbeat_ttl, now)
        return {'OK', existing, 0}
      end
      finish(existing, 'cancelled', LAPSED, now, retention, f[1] == 'queued')
    end
  end
end
local id = 'j' .. str(redis.call('INCR', SEQ)) .. '-' .. ARGV[7]
local heartbeat_until = 0
if heartbeat_ttl > 0 then heartbeat_until = now + heartbeat_ttl end
redis.call('HSET', JOB .. id, 'spec', spec, 'state', 'queued', 'epoch', '0', 'owner', '',
  'lease_until_ms', '0', 'checkpoint', str(start_number - 1),
  'start_number', str(start_number), 'attempts', '0', 'leases_lost', '0', 'takeovers', '0',
  'error', '',
  'job_key', job_key, 'created_ms', str(now), 'updated_ms', str(now), 'frames', '0',
  'out_time_us', '0', 'bytes', '0', 'speed', '0', 'progress_version', '0',
  'heartbeat_until_ms', str(heartbeat_until), 'heartbeat_ttl_ms', str(heartbeat_ttl),
  'paused', '0', 'requires', ARGV[6], 'waiting', '', 'waiting_since_ms', '0')
redis.call('RPUSH', QUEUE, id)
-- The listing must not grow for ever (Redis runs with noeviction: a full
-- one refuses every write): each submit drops up to PRUNE ids of expired
-- jobs among the oldest, more than it adds. Jobs still alive there (a
-- recording running for days) hold pruning back only while they live.
local PRUNE = 8
for _, old in ipairs(redis.call('ZRANGE', JOBS, 0, PRUNE - 1)) do
  if redis.call('EXISTS', JOB .. old) == 0 then redis.call('ZREM', JOBS, old) end
end
redis.call('ZADD', JOBS, now, id)
if job_key ~= '' then redis.call('SET', JOBKEY .. job_key, id) end
wake()
return {'OK', id, 1}
