--! script REAP presence_reap
--! uses prelude
-- ARGV: observed_ms, grace_ms, present.
-- observed_ms: the server's TIME read in the same MULTI as the CLIENT LIST
-- (raw TIME: the script puts it on its own clock, prelude's now_ms)
-- the caller took present from; present: the ids of the workers whose
-- presence connection that list showed, one per line.
-- Returns {'OK', id, owner, gone_ms, ...} (the leases it ended, with their
-- owner and how long that owner had been seen gone) or {'STALE'} (the list
-- is too old to act on: the caller stalled between reading it and now).
--
-- A worker holds one connection named after it for as long as it lives
-- (queue_presence.c). Its death closes that connection at once, and the
-- lease of each job it runs is then ended here (moved to now in the lease
-- set, as if it had expired) so that a live worker takes the job over
-- without waiting out the lease. The takeover is fenced as any other is.
--
-- What keeps a live worker's stream from a false alarm:
--   * only a closed connection counts: a slow or partitioned worker keeps
--     its connection and falls back to the lease, as does a machine that
--     vanishes without closing anything;
--   * a worker counts as gone only when two looks at least grace_ms apart
--     both missed it (the first one records when), and any look that finds
--     it clears that; a live worker whose connection was closed (a proxy,
--     CLIENT KILL, a Redis restart) has reconnected, in milliseconds, long
--     before (its presence connection is always waiting in a blocking call,
--     so it sees the close at once);
--   * only workers seen connected to this very Redis process (its run_id)
--     count: after a failover or a restart nobody is declared gone before
--     having reconnected once, however long finding the new master takes;
--   * a look older than REAP_STALE_MS is not acted on, so a look taken
--     before a stall never decides after it;
--   * a reaped owner that is in fact alive loses nothing unless another
--     worker claims first: its next renewal extends the lease again.

local PRESENCE = '@FFPOOL_KEY_PRESENCE@'
local REAP_STALE_MS = 100
local PRESENCE_KEEP_MS = 3600000
local grace = tonumber(ARGV[2])
local now = now_ms()
-- The look's TIME on the scripts' clock (prelude): a step between the look
-- and now shows as a look from the future or too old, and is not acted on.
local observed = tonumber(ARGV[1]) + clock.offset
if now - observed > REAP_STALE_MS or observed > now then return {'STALE'} end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or 'unknown'
local seen_key = PRESENCE .. run_id
local gone_key = seen_key .. ':gone'

local present = {}
for name in string.gmatch(ARGV[3], '[^\n]+') do
  present[name] = true
  redis.call('HSET', seen_key, name, str(observed))
end
local seen = redis.call('HGETALL', seen_key)
for i = 1, #seen, 2 do
  local name, at = seen[i], tonumber(seen[i + 1]) or 0
  if present[name] then
    redis.call('HDEL', gone_key, name)
  elseif observed - at > PRESENCE_KEEP_MS then
    redis.call('HDEL', seen_key, name)
    redis.call('HDEL', gone_key, name)
  end
end
redis.call('PEXPIRE', seen_key, PRESENCE_KEEP_MS)
redis.call('PEXPIRE', gone_key, PRESENCE_KEEP_MS)

-- since[owner]: when owner was first found gone; false: not a candidate.
local since = {}
local function gone_since(owner)
  if since[owner] ~= nil then return since[owner] end
  local answer = false
  if not present[owner] and redis.call('HEXISTS', seen_key, owner) == 1 then
    answer = tonumber(redis.call('HGET', gone_key, owner))
    if not answer then
      answer = observed
      redis.call('HSET', gone_key, owner, str(observed))
    end
  end
  since[owner] = answer
  return answer
end

local out = {'OK'}
local held = redis.call('ZRANGEBYSCORE', LEASES, '(' .. str(now), '+inf')
for _, id in ipairs(held) do
  local f = redis.call('HMGET', JOB .. id, 'state', 'owner')
  local from = f[1] == 'running' and f[2] and gone_since(f[2])
  if from and observed - from >= grace then
    redis.call('HSET', JOB .. id, 'lease_until_ms', str(now))
    redis.call('ZADD', LEASES, str(now), id)
    out[#out + 1] = id
    out[#out + 1] = f[2]
    out[#out + 1] = str(observed - from)
  end
end
if #out > 1 then wake() end
return out
