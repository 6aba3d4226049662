--! script RENEW renew
--! uses prelude owner_args
-- Owner call; ARGV[6] the address this owner serves the job's segments on
-- ('' = none: it writes them into Jellyfin's folder). Returns {'OK', paused}.

local bad, job = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
extend_lease(id, now, ttl)
local delivery = ARGV[6] or ''
if delivery ~= '' and redis.call('HGET', JOB .. id, 'delivery') ~= delivery then
    -- A new owner's address: a shim watching the job hears of it at once.
    redis.call('HSET', JOB .. id, 'delivery', delivery)
    redis.call('HINCRBY', JOB .. id, 'progress_version', 1)
end
if job.paused == '1' then return {'OK', 1} end
return {'OK', 0}
