--! script SET_PAUSED set_paused
--! uses prelude
-- ARGV: id, paused (0 or 1). Returns {'OK'} or {'NOT_FOUND'}.

local id = ARGV[1]
if not redis.call('HGET', JOB .. id, 'state') then return {'NOT_FOUND'} end
redis.call('HSET', JOB .. id, 'paused', ARGV[2], 'updated_ms', str(now_ms()))
return {'OK'}
