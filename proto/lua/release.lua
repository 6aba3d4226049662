--! script RELEASE release
--! uses prelude owner_args
-- Owner call. The job goes back to QUEUED without an owner, at score 0 in
-- the lease set so the next claim takes it before any new job (and does not
-- count a takeover). Returns {'OK'}.
-- ARGV[6]: '' or why the owner could not start the job (it never ran: no
-- attempt); ARGV[7]: how many such hand-backs end the job FAILED.

local bad = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
local unstarted, max_unstarted = ARGV[6] or '', tonumber(ARGV[7]) or 0
if unstarted ~= '' then
  local n = redis.call('HINCRBY', JOB .. id, 'start_failures', 1)
  if max_unstarted > 0 and n >= max_unstarted then
    finish(id, 'failed', 'no worker could start the job (' .. str(n) .. ' times); last: ' ..
           unstarted, now, retention, false)
    return {'OK'}
  end
end
redis.call('HSET', JOB .. id, 'state', 'queued', 'owner', '', 'lease_until_ms', '0',
           'updated_ms', str(now))
redis.call('ZADD', LEASES, '0', id)
wake()
return {'OK'}
