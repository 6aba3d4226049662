--! script COMPLETE complete
--! uses prelude owner_args
-- Owner call. Idempotent: repeating a completion that already succeeded
-- (same owner and epoch) answers OK again. Returns {'OK'}.

local bad, job = owned(id, owner, epoch, now, retention)
if bad == 'FENCED' and job.state == 'done' and job.owner == owner
   and job.epoch == epoch then
  return {'OK'}
end
if bad then return {bad} end
finish(id, 'done', nil, now, retention, false)
return {'OK'}
