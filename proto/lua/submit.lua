--! script SUBMIT submit
--! uses prelude
-- ARGV: job_key ('' = none), spec, start_number, heartbeat_ttl_ms, retention_ms,
-- requires (space-separated "kind:name" words, '' = any worker).
-- Returns {'OK', id, created}. A job_key naming a QUEUED or RUNNING job
-- attaches to it (and counts as a heartbeat); otherwise a new job is queued.

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
local id = 'j' .. str(redis.call('INCR', SEQ))
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
redis.call('ZADD', JOBS, now, id)
if job_key ~= '' then redis.call('SET', JOBKEY .. job_key, id) end
wake()
return {'OK', id, 1}
