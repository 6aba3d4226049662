--! script WORKER_DRAIN worker_request_drain
--! uses prelude
-- ARGV: worker id. Returns {'OK'}, or {'NOT_FOUND'} when no live worker has
-- that id. The worker sees the request in the answer to its next
-- announcement.

local key = WORKER .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return {'NOT_FOUND'} end
redis.call('HSET', key, 'drain_requested', '1')
return {'OK'}
