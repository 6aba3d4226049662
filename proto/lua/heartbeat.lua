--! script HEARTBEAT heartbeat
--! uses prelude
-- ARGV: id, heartbeat_ttl_ms (0 = the TTL given at submit), retention_ms.
-- Returns {'OK'}, {'CANCELLED'} (also when the heartbeat had already
-- lapsed: a lapse is final) or {'NOT_FOUND'}.

local id, ttl, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local f = redis.call('HMGET', JOB .. id, 'state', 'heartbeat_until_ms', 'heartbeat_ttl_ms')
if not f[1] then return {'NOT_FOUND'} end
if f[1] == 'cancelled' then return {'CANCELLED'} end
if finished(f[1]) then return {'OK'} end
if lapsed(f[2], now) then
  finish(id, 'cancelled', LAPSED, now, retention, f[1] == 'queued')
  return {'CANCELLED'}
end
touch_heartbeat(id, f[2], f[3], ttl, now)
return {'OK'}
