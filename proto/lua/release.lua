--! script RELEASE release
--! uses prelude owner_args
-- Owner call. The job goes back to QUEUED without an owner, at score 0 in
-- the lease set so the next claim takes it before any new job (and does not
-- count a takeover). Returns {'OK'}.

local bad = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
redis.call('HSET', JOB .. id, 'state', 'queued', 'owner', '', 'lease_until_ms', '0',
           'updated_ms', str(now))
redis.call('ZADD', LEASES, '0', id)
wake()
return {'OK'}
