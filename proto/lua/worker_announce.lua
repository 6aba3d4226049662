--! script WORKER_ANNOUNCE worker_announce
--! uses prelude routing
-- ARGV: worker id, ttl_ms, slots, running, draining, caps ('' = unchanged),
-- offers (the caps as space-separated routing words, replacing the offers
-- set when caps are given; the set also holds the member 'announced', not a
-- routing word, so that it exists even when the caps offer nothing).
-- Returns {'OK', has_caps, drain_requested}: has_caps 0 asks the worker to
-- send its capabilities (first announcement, or Redis lost them);
-- drain_requested 1 asks it to drain (an operator's DrainWorker).
-- ARGV[8] unroutable_timeout_ms and ARGV[9] retention_ms are for the
-- routing sweep (above): a worker announces every few seconds whether or
-- not it has a free slot, so routing deadlines are kept while all are busy.

local id, ttl = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local key = WORKER .. id
redis.call('HSET', key, 'slots', ARGV[3], 'running', ARGV[4], 'draining', ARGV[5],
  'updated_ms', str(now))
local offers = key .. OFFERS
if ARGV[6] ~= '' then
  redis.call('HSET', key, 'caps', ARGV[6])
  redis.call('DEL', offers)
  local batch = {'announced'}
  for word in string.gmatch(ARGV[7], '%S+') do
    batch[#batch + 1] = word
    if #batch == 500 then redis.call('SADD', offers, unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call('SADD', offers, unpack(batch)) end
end
redis.call('PEXPIRE', key, ttl)
redis.call('PEXPIRE', offers, ttl)
redis.call('ZADD', WORKERS, now + ttl, id)
redis.call('ZREMRANGEBYSCORE', WORKERS, '-inf', now)
route_sweep(now, tonumber(ARGV[8]), tonumber(ARGV[9]))
local drain = tonumber(redis.call('HGET', key, 'drain_requested') or '0') or 0
local has_caps = 0
if redis.call('HEXISTS', key, 'caps') == 1 and redis.call('EXISTS', offers) == 1 then
  has_caps = 1
end
return {'OK', has_caps, drain}
