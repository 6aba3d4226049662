--! script CANCEL cancel
--! uses prelude
-- ARGV: id, retention_ms. Returns {'OK'} (also for a job already finished)
-- or {'NOT_FOUND'}.

local id, retention = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local state = redis.call('HGET', JOB .. id, 'state')
if not state then return {'NOT_FOUND'} end
if not finished(state) then
  finish(id, 'cancelled', nil, now, retention, state == 'queued')
end
return {'OK'}
