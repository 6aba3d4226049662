--! script FAIL fail
--! uses prelude owner_args
-- Owner call; ARGV[6] max_attempts, ARGV[7] error. Returns {'OK', ended}:
-- ended is 1 when the job is now FAILED, 0 when it was requeued (claimable
-- at once, ahead of new jobs).

local max_attempts, err = tonumber(ARGV[6]), ARGV[7]
local bad = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
local attempts = redis.call('HINCRBY', JOB .. id, 'attempts', 1)
if attempts >= max_attempts then
  finish(id, 'failed', err, now, retention, false)
  return {'OK', 1}
end
redis.call('HSET', JOB .. id, 'state', 'queued', 'owner', '', 'lease_until_ms', '0',
           'error', err, 'updated_ms', str(now))
redis.call('ZADD', LEASES, '0', id)
wake()
return {'OK', 0}
