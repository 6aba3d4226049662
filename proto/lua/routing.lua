-- Routing, for the claim script. A job with `requires` goes only to a
-- worker whose offers set holds every word. A job the claiming worker cannot
-- run is left where it is, and route_wait() records why it waits:
--   - some live, non-draining worker offers every word: nothing (it waits
--     its turn for that worker);
--   - no worker is live at all: 'no worker is live', with no deadline (a
--     pool restarting must not fail every job);
--   - otherwise: 'no worker offers <word>' (or 'no single worker offers all
--     of ...'), and once that has held for unroutable_timeout_ms (> 0) the
--     job ends FAILED with that reason.
-- route_problem() costs one SISMEMBER per live worker and word; a script
-- computes it once per distinct requires string (the memo `problems`).
--
-- route_sweep() applies route_wait() to the jobs a claim would look at (the
-- first ROUTE_SCAN due leases and new jobs). Every announcement runs it, so
-- the deadline holds even while every worker is busy and nobody claims.

local ROUTE_SCAN = 64
local NO_WORKER = 'no worker is live'
local problems = {}
local function words_of(requires)
  local words = {}
  for word in string.gmatch(requires, '%S+') do words[#words + 1] = word end
  return words
end
local function offers_all(worker, words)
  local set = WORKER .. worker .. OFFERS
  for _, word in ipairs(words) do
    if redis.call('SISMEMBER', set, word) == 0 then return false end
  end
  return true
end
local function route_problem(requires, now)
  local words, offered, active = words_of(requires), {}, 0
  for _, worker in ipairs(redis.call('ZRANGEBYSCORE', WORKERS, str(now), '+inf')) do
    if redis.call('HGET', WORKER .. worker, 'draining') ~= '1' then
      active = active + 1
      local set, all = WORKER .. worker .. OFFERS, true
      for i, word in ipairs(words) do
        if redis.call('SISMEMBER', set, word) == 1 then offered[i] = true
        else all = false end
      end
      if all then return false end
    end
  end
  if active == 0 then return NO_WORKER end
  for i, word in ipairs(words) do
    if not offered[i] then return 'no worker offers ' .. word end
  end
  return 'no single worker offers all of ' .. requires
end
local function route_wait(id, requires, now, timeout, retention, was_queued)
  local problem = problems[requires]
  if problem == nil then
    problem = route_problem(requires, now)
    problems[requires] = problem
  end
  local key = JOB .. id
  local f = redis.call('HMGET', key, 'waiting', 'waiting_since_ms')
  local waiting, since = f[1] or '', tonumber(f[2]) or 0
  if not problem then
    if waiting ~= '' then
      redis.call('HSET', key, 'waiting', '', 'waiting_since_ms', '0')
    end
    return
  end
  local since_new = since
  if problem == NO_WORKER then since_new = 0 elseif since == 0 then since_new = now end
  if waiting ~= problem or since_new ~= since then
    redis.call('HSET', key, 'waiting', problem, 'waiting_since_ms', str(since_new))
  end
  if since_new > 0 and timeout > 0 and now - since_new >= timeout then
    finish(id, 'failed', problem .. ' (waited ' .. str(now - since_new) .. ' ms)', now,
           retention, was_queued)
  end
end
-- A job whose client vanished is cancelled, as a claim would; any other
-- waits (or fails) for its route.
local function route_settle(id, state, requires, heartbeat_until, now, timeout, retention)
  if lapsed(heartbeat_until, now) then
    finish(id, 'cancelled', LAPSED, now, retention, state == 'queued')
  else
    route_wait(id, requires, now, timeout, retention, state == 'queued')
  end
end
local function route_sweep(now, timeout, retention)
  local due = redis.call('ZRANGEBYSCORE', LEASES, '-inf', str(now),
                         'LIMIT', 0, ROUTE_SCAN)
  for _, id in ipairs(due) do
    local f = redis.call('HMGET', JOB .. id, 'state', 'requires', 'heartbeat_until_ms')
    if (f[1] == 'queued' or f[1] == 'running') and f[2] and f[2] ~= '' then
      route_settle(id, f[1], f[2], f[3], now, timeout, retention)
    end
  end
  for _, id in ipairs(redis.call('LRANGE', QUEUE, 0, ROUTE_SCAN - 1)) do
    local f = redis.call('HMGET', JOB .. id, 'state', 'requires', 'heartbeat_until_ms')
    if f[1] == 'queued' and f[2] and f[2] ~= '' then
      route_settle(id, f[1], f[2], f[3], now, timeout, retention)
    end
  end
end
