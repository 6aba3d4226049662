--! script SEGMENTS segment_durations
--! uses prelude
-- ARGV: id. Returns {'OK', start_number, {index, duration_us, ...}} or
-- {'NOT_FOUND'}. Read-only.

local id = ARGV[1]
local start = redis.call('HGET', JOB .. id, 'start_number')
if not start then return {'NOT_FOUND'} end
return {'OK', tonumber(start), redis.call('HGETALL', JOB .. id .. SEGMENTS)}
