--! script WORKER_LIST worker_list
--! uses prelude
-- ARGV: with_caps (0 or 1). Returns {'OK', {id, slots, running, draining,
-- updated_ms, caps}...} for every live worker. Read-only.

local now = now_ms()
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', WORKERS, now, '+inf')) do
  local f = redis.call('HMGET', WORKER .. id, 'slots', 'running', 'draining',
                       'updated_ms', 'caps')
  if f[1] then
    local caps = ''
    if ARGV[1] == '1' and f[5] then caps = f[5] end
    table.insert(out, {id, f[1], f[2], f[3], f[4], caps})
  end
end
return {'OK', out}
