--! script COMPLETE complete
--! uses prelude owner_args
-- Owner call; ARGV[6] the job's result (a device check's or a CLI job's
-- stderr, possibly empty), ARGV[7] its exit status, ARGV[8] '1' when the job
-- has a result at all. Idempotent: repeating a completion that
-- already succeeded (same owner and epoch) answers OK again. Returns {'OK'}.

local bad, job = owned(id, owner, epoch, now, retention)
if bad == 'FENCED' and job.state == 'done' and job.owner == owner
   and job.epoch == epoch then
  return {'OK'}
end
if bad then return {bad} end
if ARGV[8] == '1' then
  redis.call('HSET', JOB .. id, 'result', ARGV[6], 'result_status', ARGV[7])
end
-- A done job keeps the error of its last counted attempt: `ffpoolctl job`
-- then says why an attempt was used (tests/e2e_isolation.sh).
finish(id, 'done', nil, now, retention, false)
return {'OK'}
