--! script RENEW renew
--! uses prelude owner_args
-- Owner call. Returns {'OK', paused}.

local bad, job = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
extend_lease(id, now, ttl)
if job.paused == '1' then return {'OK', 1} end
return {'OK', 0}
