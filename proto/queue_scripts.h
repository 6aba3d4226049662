/* queue_scripts.h -- the Lua scripts behind queue.c, one per state change.
 *
 * Included by queue.c only. Each script runs atomically on the Redis server
 * and reads the clock with TIME and nothing else, so worker clocks never
 * matter. queue.c loads a script once per connection owner (SCRIPT LOAD),
 * then runs it with EVALSHA and falls back to EVAL when the server answers
 * NOSCRIPT (restart, failover, SCRIPT FLUSH).
 *
 * Key names are pasted in from keys.h at compile time. The scripts build the
 * name of a job's keys themselves (a claim cannot know which job it will get
 * before it runs), so all of ffpool's keys must live on one Redis node: Redis
 * Cluster is not supported.
 *
 * Every script answers an array whose first element is a status word: OK,
 * FENCED, CANCELLED, NOT_FOUND, EMPTY or AGAIN (claim only: it cleaned up
 * many dead entries and wants to be called again). The rest depends on the
 * script and is documented above it.
 *
 * Scripts that act for the worker holding a job ("owner calls") all start
 * with the same five arguments: id, owner, epoch, lease_ttl_ms,
 * retention_ms. They change nothing unless the job is RUNNING under that
 * owner and epoch. */
#ifndef FFPOOL_QUEUE_SCRIPTS_H
#define FFPOOL_QUEUE_SCRIPTS_H

#include "keys.h"

/* Lua is laid out by hand, one line of script per line of C. */
// clang-format off
/* Shared by every script: key names, the clock and the transitions that more
 * than one script makes. Everything is local (Redis 7 forbids globals).
 *
 * finish() ends a job: a final state, out of the leases (and of the queue
 * list if it was still waiting there), and every key of the job set to
 * expire after retention_ms.
 *
 * owned() is the fence: it answers nil (and the job's fields) only when the
 * job is RUNNING under owner and epoch. A job whose client stopped sending
 * heartbeats is cancelled here, by whoever notices first. */
#define QUEUE_LUA_PRELUDE                                                                          \
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"                       \
    "local JOB = '" FFPOOL_KEY_JOB "'\n"                                                           \
    "local SEGMENTS = '" FFPOOL_KEY_SEGMENTS_SUFFIX "'\n"                                          \
    "local JOBKEY = '" FFPOOL_KEY_JOBKEY "'\n"                                                     \
    "local QUEUE = '" FFPOOL_KEY_QUEUE "'\n"                                                       \
    "local LEASES = '" FFPOOL_KEY_LEASES "'\n"                                                     \
    "local WAKE = '" FFPOOL_KEY_WAKE "'\n"                                                         \
    "local SEQ = '" FFPOOL_KEY_SEQ "'\n"                                                           \
    "local JOBS = '" FFPOOL_KEY_JOBS "'\n"                                                          \
    "local WORKER = '" FFPOOL_KEY_WORKER "'\n"                                                      \
    "local WORKERS = '" FFPOOL_KEY_WORKERS "'\n"                                                    \
    "local OFFERS = '" FFPOOL_KEY_OFFERS_SUFFIX "'\n"                                               \
    "local WAKE_KEEP = 16\n"                                                                       \
    "local LAPSED = 'the client stopped sending heartbeats'\n"                                     \
    "local function now_ms()\n"                                                                    \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"                                                                                        \
    "local function str(n) return string.format('%d', n) end\n"                                    \
    "local function finished(state)\n"                                                             \
    "  return state == 'done' or state == 'failed' or state == 'cancelled'\n"                      \
    "end\n"                                                                                        \
    "local function lapsed(heartbeat_until, now)\n"                                                \
    "  local h = tonumber(heartbeat_until) or 0\n"                                                 \
    "  return h > 0 and now > h\n"                                                                 \
    "end\n"                                                                                        \
    "local function wake()\n"                                                                      \
    "  redis.call('LPUSH', WAKE, '1')\n"                                                           \
    "  redis.call('LTRIM', WAKE, 0, WAKE_KEEP - 1)\n"                                              \
    "end\n"                                                                                        \
    "local function finish(id, state, err, now, retention, was_queued)\n"                          \
    "  local key = JOB .. id\n"                                                                    \
    "  redis.call('HSET', key, 'state', state, 'lease_until_ms', '0', 'updated_ms', str(now))\n"   \
    "  if err then redis.call('HSET', key, 'error', err) end\n"                                    \
    "  redis.call('ZREM', LEASES, id)\n"                                                           \
    "  if was_queued then redis.call('LREM', QUEUE, 0, id) end\n"                                  \
    "  redis.call('PEXPIRE', key, retention)\n"                                                    \
    "  redis.call('PEXPIRE', key .. SEGMENTS, retention)\n"                                        \
    "  local job_key = redis.call('HGET', key, 'job_key')\n"                                       \
    "  if job_key and job_key ~= '' and redis.call('GET', JOBKEY .. job_key) == id then\n"         \
    "    redis.call('PEXPIRE', JOBKEY .. job_key, retention)\n"                                    \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function extend_lease(id, now, ttl)\n"                                                  \
    "  local lease_until = str(now + ttl)\n"                                                       \
    "  redis.call('HSET', JOB .. id, 'lease_until_ms', lease_until, 'updated_ms', str(now),\n"      \
    "             'waiting', '', 'waiting_since_ms', '0')\n"                                       \
    "  redis.call('ZADD', LEASES, lease_until, id)\n"                                              \
    "end\n"                                                                                        \
    "local function touch_heartbeat(id, heartbeat_until, stored_ttl, ttl, now)\n"                  \
    "  if (tonumber(heartbeat_until) or 0) <= 0 then return end\n"                                 \
    "  if ttl <= 0 then ttl = tonumber(stored_ttl) or 0 end\n"                                     \
    "  if ttl > 0 then redis.call('HSET', JOB .. id, 'heartbeat_until_ms', str(now + ttl)) end\n"  \
    "end\n"                                                                                        \
    "local function owned(id, owner, epoch, now, retention)\n"                                     \
    "  local f = redis.call('HMGET', JOB .. id, 'state', 'owner', 'epoch',\n"                      \
    "                       'heartbeat_until_ms', 'checkpoint', 'paused')\n"                       \
    "  local job = {state = f[1], owner = f[2], epoch = f[3], checkpoint = f[5], paused = f[6]}\n" \
    "  if not job.state then return 'FENCED', job end\n"                                           \
    "  if job.state == 'cancelled' then return 'CANCELLED', job end\n"                             \
    "  if not finished(job.state) and lapsed(f[4], now) then\n"                                    \
    "    finish(id, 'cancelled', LAPSED, now, retention, job.state == 'queued')\n"                 \
    "    return 'CANCELLED', job\n"                                                                \
    "  end\n"                                                                                      \
    "  if job.state ~= 'running' or job.owner ~= owner or job.epoch ~= epoch then\n"               \
    "    return 'FENCED', job\n"                                                                   \
    "  end\n"                                                                                      \
    "  return nil, job\n"                                                                          \
    "end\n"

/* The five arguments every owner call starts with. */
#define QUEUE_LUA_OWNER_ARGS                                                                       \
    "local id, owner, epoch = ARGV[1], ARGV[2], ARGV[3]\n"                                         \
    "local ttl, retention = tonumber(ARGV[4]), tonumber(ARGV[5])\n"                                \
    "local now = now_ms()\n"

/* ARGV: job_key ('' = none), spec, start_number, heartbeat_ttl_ms, retention_ms,
 * requires (space-separated "kind:name" words, '' = any worker).
 * Returns {'OK', id, created}. A job_key naming a QUEUED or RUNNING job
 * attaches to it (and counts as a heartbeat); otherwise a new job is queued. */
static const char queue_script_submit[] = QUEUE_LUA_PRELUDE
    "local job_key, spec = ARGV[1], ARGV[2]\n"
    "local start_number = tonumber(ARGV[3])\n"
    "local heartbeat_ttl, retention = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local now = now_ms()\n"
    "if job_key ~= '' then\n"
    "  local existing = redis.call('GET', JOBKEY .. job_key)\n"
    "  if existing then\n"
    "    local f = redis.call('HMGET', JOB .. existing, 'state', 'heartbeat_until_ms',\n"
    "                         'heartbeat_ttl_ms')\n"
    "    if f[1] and not finished(f[1]) then\n"
    "      if not lapsed(f[2], now) then\n"
    "        touch_heartbeat(existing, f[2], f[3], heartbeat_ttl, now)\n"
    "        return {'OK', existing, 0}\n"
    "      end\n"
    "      finish(existing, 'cancelled', LAPSED, now, retention, f[1] == 'queued')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local id = 'j' .. str(redis.call('INCR', SEQ))\n"
    "local heartbeat_until = 0\n"
    "if heartbeat_ttl > 0 then heartbeat_until = now + heartbeat_ttl end\n"
    "redis.call('HSET', JOB .. id, 'spec', spec, 'state', 'queued', 'epoch', '0', 'owner', '',\n"
    "  'lease_until_ms', '0', 'checkpoint', str(start_number - 1),\n"
    "  'start_number', str(start_number), 'attempts', '0', 'takeovers', '0', 'error', '',\n"
    "  'job_key', job_key, 'created_ms', str(now), 'updated_ms', str(now), 'frames', '0',\n"
    "  'out_time_us', '0', 'bytes', '0', 'speed', '0', 'progress_version', '0',\n"
    "  'heartbeat_until_ms', str(heartbeat_until), 'heartbeat_ttl_ms', str(heartbeat_ttl),\n"
    "  'paused', '0', 'requires', ARGV[6], 'waiting', '', 'waiting_since_ms', '0')\n"
    "redis.call('RPUSH', QUEUE, id)\n"
    "redis.call('ZADD', JOBS, now, id)\n"
    "if job_key ~= '' then redis.call('SET', JOBKEY .. job_key, id) end\n"
    "wake()\n"
    "return {'OK', id, 1}\n";

/* Routing, for the claim script. A job with `requires` goes only to a
 * worker whose offers set holds every word. A job the claiming worker cannot
 * run is left where it is, and route_wait() records why it waits:
 *   - some live, non-draining worker offers every word: nothing (it waits
 *     its turn for that worker);
 *   - no worker is live at all: 'no worker is live', with no deadline (a
 *     pool restarting must not fail every job);
 *   - otherwise: 'no worker offers <word>' (or 'no single worker offers all
 *     of ...'), and once that has held for unroutable_timeout_ms (> 0) the
 *     job ends FAILED with that reason.
 * route_problem() costs one SISMEMBER per live worker and word; a script
 * computes it once per distinct requires string (the memo `problems`).
 *
 * route_sweep() applies route_wait() to the jobs a claim would look at (the
 * first ROUTE_SCAN due leases and new jobs). Every announcement runs it, so
 * the deadline holds even while every worker is busy and nobody claims. */
#define QUEUE_LUA_ROUTING                                                                          \
    "local ROUTE_SCAN = 64\n"                                                                      \
    "local NO_WORKER = 'no worker is live'\n"                                                      \
    "local problems = {}\n"                                                                        \
    "local function words_of(requires)\n"                                                          \
    "  local words = {}\n"                                                                         \
    "  for word in string.gmatch(requires, '%S+') do words[#words + 1] = word end\n"               \
    "  return words\n"                                                                             \
    "end\n"                                                                                        \
    "local function offers_all(worker, words)\n"                                                   \
    "  local set = WORKER .. worker .. OFFERS\n"                                                   \
    "  for _, word in ipairs(words) do\n"                                                          \
    "    if redis.call('SISMEMBER', set, word) == 0 then return false end\n"                       \
    "  end\n"                                                                                      \
    "  return true\n"                                                                              \
    "end\n"                                                                                        \
    "local function route_problem(requires, now)\n"                                                \
    "  local words, offered, active = words_of(requires), {}, 0\n"                                 \
    "  for _, worker in ipairs(redis.call('ZRANGEBYSCORE', WORKERS, str(now), '+inf')) do\n"       \
    "    if redis.call('HGET', WORKER .. worker, 'draining') ~= '1' then\n"                        \
    "      active = active + 1\n"                                                                  \
    "      local set, all = WORKER .. worker .. OFFERS, true\n"                                    \
    "      for i, word in ipairs(words) do\n"                                                      \
    "        if redis.call('SISMEMBER', set, word) == 1 then offered[i] = true\n"                  \
    "        else all = false end\n"                                                               \
    "      end\n"                                                                                  \
    "      if all then return false end\n"                                                         \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  if active == 0 then return NO_WORKER end\n"                                                 \
    "  for i, word in ipairs(words) do\n"                                                          \
    "    if not offered[i] then return 'no worker offers ' .. word end\n"                          \
    "  end\n"                                                                                      \
    "  return 'no single worker offers all of ' .. requires\n"                                     \
    "end\n"                                                                                        \
    "local function route_wait(id, requires, now, timeout, retention, was_queued)\n"               \
    "  local problem = problems[requires]\n"                                                       \
    "  if problem == nil then\n"                                                                   \
    "    problem = route_problem(requires, now)\n"                                                 \
    "    problems[requires] = problem\n"                                                           \
    "  end\n"                                                                                      \
    "  local key = JOB .. id\n"                                                                    \
    "  local f = redis.call('HMGET', key, 'waiting', 'waiting_since_ms')\n"                        \
    "  local waiting, since = f[1] or '', tonumber(f[2]) or 0\n"                                   \
    "  if not problem then\n"                                                                      \
    "    if waiting ~= '' then\n"                                                                  \
    "      redis.call('HSET', key, 'waiting', '', 'waiting_since_ms', '0')\n"                      \
    "    end\n"                                                                                    \
    "    return\n"                                                                                 \
    "  end\n"                                                                                      \
    "  local since_new = since\n"                                                                  \
    "  if problem == NO_WORKER then since_new = 0 elseif since == 0 then since_new = now end\n"    \
    "  if waiting ~= problem or since_new ~= since then\n"                                         \
    "    redis.call('HSET', key, 'waiting', problem, 'waiting_since_ms', str(since_new))\n"        \
    "  end\n"                                                                                      \
    "  if since_new > 0 and timeout > 0 and now - since_new >= timeout then\n"                     \
    "    finish(id, 'failed', problem .. ' (waited ' .. str(now - since_new) .. ' ms)', now,\n"    \
    "           retention, was_queued)\n"                                                          \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "-- A job whose client vanished is cancelled, as a claim would; any other\n"                   \
    "-- waits (or fails) for its route.\n"                                                          \
    "local function route_settle(id, state, requires, heartbeat_until, now, timeout, retention)\n" \
    "  if lapsed(heartbeat_until, now) then\n"                                                     \
    "    finish(id, 'cancelled', LAPSED, now, retention, state == 'queued')\n"                     \
    "  else\n"                                                                                     \
    "    route_wait(id, requires, now, timeout, retention, state == 'queued')\n"                   \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function route_sweep(now, timeout, retention)\n"                                        \
    "  local due = redis.call('ZRANGEBYSCORE', LEASES, '-inf', str(now),\n"                        \
    "                         'LIMIT', 0, ROUTE_SCAN)\n"                                           \
    "  for _, id in ipairs(due) do\n"                                                              \
    "    local f = redis.call('HMGET', JOB .. id, 'state', 'requires', 'heartbeat_until_ms')\n"    \
    "    if (f[1] == 'queued' or f[1] == 'running') and f[2] and f[2] ~= '' then\n"                \
    "      route_settle(id, f[1], f[2], f[3], now, timeout, retention)\n"                          \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  for _, id in ipairs(redis.call('LRANGE', QUEUE, 0, ROUTE_SCAN - 1)) do\n"                   \
    "    local f = redis.call('HMGET', JOB .. id, 'state', 'requires', 'heartbeat_until_ms')\n"    \
    "    if f[1] == 'queued' and f[2] and f[2] ~= '' then\n"                                       \
    "      route_settle(id, f[1], f[2], f[3], now, timeout, retention)\n"                          \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "end\n"

/* ARGV: owner, lease_ttl_ms, retention_ms, max_attempts, unroutable_timeout_ms.
 * Returns {'OK', id, epoch, checkpoint, takeover, spec}, {'EMPTY', due_in_ms}
 * (ms until the earliest lease still running expires, -1 if none) or
 * {'AGAIN'} (it cleaned up dead entries and there may be more to look at).
 *
 * Looks at up to ROUTE_SCAN due entries of the lease set (expired leases,
 * and handed-back jobs at score 0), lowest score first, then up to
 * ROUTE_SCAN jobs at the head of the queue list, and claims the first one
 * this worker can run (routing above): takeovers keep their priority over
 * new jobs, and a job nobody here can run does not block the ones behind it. The bound keeps
 * a claim cheap however many jobs wait for a capability this worker lacks.
 * A lost lease counts as an attempt: the job ends FAILED once max_attempts
 * is reached instead of crash-looping the pool. Dead entries (finished,
 * gone, client vanished) are cleaned up on the way. */
static const char queue_script_claim[] = QUEUE_LUA_PRELUDE QUEUE_LUA_ROUTING
    "local owner, ttl = ARGV[1], tonumber(ARGV[2])\n"
    "local retention, max_attempts = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local timeout = tonumber(ARGV[5])\n"
    "local now = now_ms()\n"
    "local cleaned = 0\n"
    "local function try(id, from_leases)\n"
    "  local key = JOB .. id\n"
    "  local f = redis.call('HMGET', key, 'state', 'owner', 'heartbeat_until_ms', 'requires')\n"
    "  local state = f[1]\n"
    "  local claimable = state == 'queued' or (from_leases and state == 'running')\n"
    "  if not claimable then\n"
    "    if from_leases then redis.call('ZREM', LEASES, id)\n"
    "    else redis.call('LREM', QUEUE, 1, id) end\n"
    "    cleaned = cleaned + 1\n"
    "    return nil\n"
    "  end\n"
    "  if lapsed(f[3], now) then\n"
    "    finish(id, 'cancelled', LAPSED, now, retention, not from_leases)\n"
    "    cleaned = cleaned + 1\n"
    "    return nil\n"
    "  end\n"
    "  local requires = f[4] or ''\n"
    "  if requires ~= '' and not offers_all(owner, words_of(requires)) then\n"
    "    route_wait(id, requires, now, timeout, retention, state == 'queued')\n"
    "    return nil\n"
    "  end\n"
    "  if not from_leases then redis.call('LREM', QUEUE, 1, id) end\n"
    "  local lost = state == 'running'\n"
    "  local attempts = 0\n"
    "  if lost then attempts = redis.call('HINCRBY', key, 'attempts', 1) end\n"
    "  if lost and attempts >= max_attempts then\n"
    "    finish(id, 'failed', 'worker lost the job ' .. str(attempts) .. ' times', now,\n"
    "           retention, false)\n"
    "    cleaned = cleaned + 1\n"
    "    return nil\n"
    "  end\n"
    "  local takeover = 0\n"
    "  if lost and f[2] ~= owner then\n"
    "    takeover = 1\n"
    "    redis.call('HINCRBY', key, 'takeovers', 1)\n"
    "  end\n"
    "  local epoch = redis.call('HINCRBY', key, 'epoch', 1)\n"
    "  redis.call('HSET', key, 'state', 'running', 'owner', owner, 'waiting', '',\n"
    "             'waiting_since_ms', '0')\n"
    "  extend_lease(id, now, ttl)\n"
    "  local g = redis.call('HMGET', key, 'checkpoint', 'spec')\n"
    "  return {'OK', id, epoch, tonumber(g[1]) or 0, takeover, g[2] or ''}\n"
    "end\n"
    "local due = redis.call('ZRANGEBYSCORE', LEASES, '-inf', str(now), 'LIMIT', 0, ROUTE_SCAN)\n"
    "for _, id in ipairs(due) do\n"
    "  local answer = try(id, true)\n"
    "  if answer then return answer end\n"
    "end\n"
    "local new = redis.call('LRANGE', QUEUE, 0, ROUTE_SCAN - 1)\n"
    "for _, id in ipairs(new) do\n"
    "  local answer = try(id, false)\n"
    "  if answer then return answer end\n"
    "end\n"
    "if cleaned > 0 and (#due == ROUTE_SCAN or #new == ROUTE_SCAN) then return {'AGAIN'} end\n"
    "local first = redis.call('ZRANGEBYSCORE', LEASES, '(' .. str(now), '+inf', 'WITHSCORES',\n"
    "                         'LIMIT', 0, 1)\n"
    "if first[2] then return {'EMPTY', tonumber(first[2]) - now} end\n"
    "return {'EMPTY', -1}\n";

/* Owner call. Returns {'OK', paused}. */
static const char queue_script_renew[] = QUEUE_LUA_PRELUDE QUEUE_LUA_OWNER_ARGS
    "local bad, job = owned(id, owner, epoch, now, retention)\n"
    "if bad then return {bad} end\n"
    "extend_lease(id, now, ttl)\n"
    "if job.paused == '1' then return {'OK', 1} end\n"
    "return {'OK', 0}\n";

/* Owner call; ARGV[6] index, ARGV[7] duration_us, ARGV[8] 1 if it is the
 * stream's last segment (kept in the segments hash as field 'last'), ARGV[9]
 * the job's fMP4 fragment base ('' = none; kept as field 'fmp4_base').
 * Records the segment, raises (never lowers) the checkpoint and renews.
 * Returns {'OK'}. */
static const char queue_script_checkpoint[] = QUEUE_LUA_PRELUDE QUEUE_LUA_OWNER_ARGS
    "local index = tonumber(ARGV[6])\n"
    "local bad, job = owned(id, owner, epoch, now, retention)\n"
    "if bad then return {bad} end\n"
    "redis.call('HSET', JOB .. id .. SEGMENTS, str(index), ARGV[7])\n"
    "if ARGV[8] == '1' then redis.call('HSET', JOB .. id .. SEGMENTS, 'last', str(index)) end\n"
    "if ARGV[9] ~= '' then redis.call('HSET', JOB .. id .. SEGMENTS, 'fmp4_base', ARGV[9]) end\n"
    "if index > (tonumber(job.checkpoint) or index - 1) then\n"
    "  redis.call('HSET', JOB .. id, 'checkpoint', str(index))\n"
    "end\n"
    "redis.call('HINCRBY', JOB .. id, 'progress_version', 1)\n"
    "extend_lease(id, now, ttl)\n"
    "return {'OK'}\n";

/* Owner call; ARGV[6..11] frames, out_time_us, bytes, speed, duration_us,
 * start_us. Also renews: a worker that reports progress is alive. Returns
 * {'OK'}. */
static const char queue_script_progress[] = QUEUE_LUA_PRELUDE QUEUE_LUA_OWNER_ARGS
    "local bad = owned(id, owner, epoch, now, retention)\n"
    "if bad then return {bad} end\n"
    "redis.call('HSET', JOB .. id, 'frames', ARGV[6], 'out_time_us', ARGV[7], 'bytes', ARGV[8],\n"
    "           'speed', ARGV[9], 'duration_us', ARGV[10], 'start_us', ARGV[11])\n"
    "redis.call('HINCRBY', JOB .. id, 'progress_version', 1)\n"
    "extend_lease(id, now, ttl)\n"
    "return {'OK'}\n";

/* Owner call. The job goes back to QUEUED without an owner, at score 0 in
 * the lease set so the next claim takes it before any new job (and does not
 * count a takeover). Returns {'OK'}. */
static const char queue_script_release[] = QUEUE_LUA_PRELUDE QUEUE_LUA_OWNER_ARGS
    "local bad = owned(id, owner, epoch, now, retention)\n"
    "if bad then return {bad} end\n"
    "redis.call('HSET', JOB .. id, 'state', 'queued', 'owner', '', 'lease_until_ms', '0',\n"
    "           'updated_ms', str(now))\n"
    "redis.call('ZADD', LEASES, '0', id)\n"
    "wake()\n"
    "return {'OK'}\n";

/* Owner call. Idempotent: repeating a completion that already succeeded
 * (same owner and epoch) answers OK again. Returns {'OK'}. */
static const char queue_script_complete[] = QUEUE_LUA_PRELUDE QUEUE_LUA_OWNER_ARGS
    "local bad, job = owned(id, owner, epoch, now, retention)\n"
    "if bad == 'FENCED' and job.state == 'done' and job.owner == owner\n"
    "   and job.epoch == epoch then\n"
    "  return {'OK'}\n"
    "end\n"
    "if bad then return {bad} end\n"
    "finish(id, 'done', nil, now, retention, false)\n"
    "return {'OK'}\n";

/* Owner call; ARGV[6] max_attempts, ARGV[7] error. Returns {'OK', ended}:
 * ended is 1 when the job is now FAILED, 0 when it was requeued (claimable
 * at once, ahead of new jobs). */
static const char queue_script_fail[] = QUEUE_LUA_PRELUDE QUEUE_LUA_OWNER_ARGS
    "local max_attempts, err = tonumber(ARGV[6]), ARGV[7]\n"
    "local bad = owned(id, owner, epoch, now, retention)\n"
    "if bad then return {bad} end\n"
    "local attempts = redis.call('HINCRBY', JOB .. id, 'attempts', 1)\n"
    "if attempts >= max_attempts then\n"
    "  finish(id, 'failed', err, now, retention, false)\n"
    "  return {'OK', 1}\n"
    "end\n"
    "redis.call('HSET', JOB .. id, 'state', 'queued', 'owner', '', 'lease_until_ms', '0',\n"
    "           'error', err, 'updated_ms', str(now))\n"
    "redis.call('ZADD', LEASES, '0', id)\n"
    "wake()\n"
    "return {'OK', 0}\n";

/* ARGV: id, retention_ms. Returns {'OK'} (also for a job already finished)
 * or {'NOT_FOUND'}. */
static const char queue_script_cancel[] = QUEUE_LUA_PRELUDE
    "local id, retention = ARGV[1], tonumber(ARGV[2])\n"
    "local now = now_ms()\n"
    "local state = redis.call('HGET', JOB .. id, 'state')\n"
    "if not state then return {'NOT_FOUND'} end\n"
    "if not finished(state) then\n"
    "  finish(id, 'cancelled', nil, now, retention, state == 'queued')\n"
    "end\n"
    "return {'OK'}\n";

/* ARGV: id, heartbeat_ttl_ms (0 = the TTL given at submit), retention_ms.
 * Returns {'OK'}, {'CANCELLED'} (also when the heartbeat had already
 * lapsed: a lapse is final) or {'NOT_FOUND'}. */
static const char queue_script_heartbeat[] = QUEUE_LUA_PRELUDE
    "local id, ttl, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local now = now_ms()\n"
    "local f = redis.call('HMGET', JOB .. id, 'state', 'heartbeat_until_ms', 'heartbeat_ttl_ms')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "if f[1] == 'cancelled' then return {'CANCELLED'} end\n"
    "if finished(f[1]) then return {'OK'} end\n"
    "if lapsed(f[2], now) then\n"
    "  finish(id, 'cancelled', LAPSED, now, retention, f[1] == 'queued')\n"
    "  return {'CANCELLED'}\n"
    "end\n"
    "touch_heartbeat(id, f[2], f[3], ttl, now)\n"
    "return {'OK'}\n";

/* ARGV: id, paused (0 or 1). Returns {'OK'} or {'NOT_FOUND'}. */
static const char queue_script_set_paused[] = QUEUE_LUA_PRELUDE
    "local id = ARGV[1]\n"
    "if not redis.call('HGET', JOB .. id, 'state') then return {'NOT_FOUND'} end\n"
    "redis.call('HSET', JOB .. id, 'paused', ARGV[2], 'updated_ms', str(now_ms()))\n"
    "return {'OK'}\n";

/* ARGV: id. Returns {'OK', start_number, {index, duration_us, ...}} or
 * {'NOT_FOUND'}. Read-only. */
static const char queue_script_segments[] = QUEUE_LUA_PRELUDE
    "local id = ARGV[1]\n"
    "local start = redis.call('HGET', JOB .. id, 'start_number')\n"
    "if not start then return {'NOT_FOUND'} end\n"
    "return {'OK', tonumber(start), redis.call('HGETALL', JOB .. id .. SEGMENTS)}\n";

/* ARGV: worker id, ttl_ms, slots, running, draining, caps ('' = unchanged),
 * offers (the caps as space-separated routing words, replacing the offers
 * set when caps are given; the set also holds the member 'announced', not a
 * routing word, so that it exists even when the caps offer nothing).
 * Returns {'OK', has_caps, drain_requested}: has_caps 0 asks the worker to
 * send its capabilities (first announcement, or Redis lost them);
 * drain_requested 1 asks it to drain (an operator's DrainWorker).
 * ARGV[8] unroutable_timeout_ms and ARGV[9] retention_ms are for the
 * routing sweep (above): a worker announces every few seconds whether or
 * not it has a free slot, so routing deadlines are kept while all are busy. */
static const char queue_script_worker_announce[] = QUEUE_LUA_PRELUDE QUEUE_LUA_ROUTING
    "local id, ttl = ARGV[1], tonumber(ARGV[2])\n"
    "local now = now_ms()\n"
    "local key = WORKER .. id\n"
    "redis.call('HSET', key, 'slots', ARGV[3], 'running', ARGV[4], 'draining', ARGV[5],\n"
    "  'updated_ms', str(now))\n"
    "local offers = key .. OFFERS\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('HSET', key, 'caps', ARGV[6])\n"
    "  redis.call('DEL', offers)\n"
    "  local batch = {'announced'}\n"
    "  for word in string.gmatch(ARGV[7], '%S+') do\n"
    "    batch[#batch + 1] = word\n"
    "    if #batch == 500 then redis.call('SADD', offers, unpack(batch)); batch = {} end\n"
    "  end\n"
    "  if #batch > 0 then redis.call('SADD', offers, unpack(batch)) end\n"
    "end\n"
    "redis.call('PEXPIRE', key, ttl)\n"
    "redis.call('PEXPIRE', offers, ttl)\n"
    "redis.call('ZADD', WORKERS, now + ttl, id)\n"
    "redis.call('ZREMRANGEBYSCORE', WORKERS, '-inf', now)\n"
    "route_sweep(now, tonumber(ARGV[8]), tonumber(ARGV[9]))\n"
    "local drain = tonumber(redis.call('HGET', key, 'drain_requested') or '0') or 0\n"
    "local has_caps = 0\n"
    "if redis.call('HEXISTS', key, 'caps') == 1 and redis.call('EXISTS', offers) == 1 then\n"
    "  has_caps = 1\n"
    "end\n"
    "return {'OK', has_caps, drain}\n";

/* ARGV: worker id. Returns {'OK'}, or {'NOT_FOUND'} when no live worker has
 * that id. The worker sees the request in the answer to its next
 * announcement. */
static const char queue_script_worker_drain[] = QUEUE_LUA_PRELUDE
    "local key = WORKER .. ARGV[1]\n"
    "if redis.call('EXISTS', key) == 0 then return {'NOT_FOUND'} end\n"
    "redis.call('HSET', key, 'drain_requested', '1')\n"
    "return {'OK'}\n";

/* ARGV: with_caps (0 or 1). Returns {'OK', {id, slots, running, draining,
 * updated_ms, caps}...} for every live worker. Read-only. */
static const char queue_script_worker_list[] = QUEUE_LUA_PRELUDE
    "local now = now_ms()\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', WORKERS, now, '+inf')) do\n"
    "  local f = redis.call('HMGET', WORKER .. id, 'slots', 'running', 'draining',\n"
    "                       'updated_ms', 'caps')\n"
    "  if f[1] then\n"
    "    local caps = ''\n"
    "    if ARGV[1] == '1' and f[5] then caps = f[5] end\n"
    "    table.insert(out, {id, f[1], f[2], f[3], f[4], caps})\n"
    "  end\n"
    "end\n"
    "return {'OK', out}\n";

/* ARGV: limit. Returns {'OK', {id...}}, newest first, after pruning ids
 * whose job record has expired. */
static const char queue_script_job_list[] = QUEUE_LUA_PRELUDE
    "local limit = tonumber(ARGV[1])\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZREVRANGE', JOBS, 0, limit * 2)) do\n"
    "  if redis.call('EXISTS', JOB .. id) == 1 then\n"
    "    if #out < limit then table.insert(out, id) end\n"
    "  else\n"
    "    redis.call('ZREM', JOBS, id)\n"
    "  end\n"
    "end\n"
    "return {'OK', out}\n";

// clang-format on

enum queue_script {
    QUEUE_SCRIPT_SUBMIT,
    QUEUE_SCRIPT_CLAIM,
    QUEUE_SCRIPT_RENEW,
    QUEUE_SCRIPT_CHECKPOINT,
    QUEUE_SCRIPT_PROGRESS,
    QUEUE_SCRIPT_RELEASE,
    QUEUE_SCRIPT_COMPLETE,
    QUEUE_SCRIPT_FAIL,
    QUEUE_SCRIPT_CANCEL,
    QUEUE_SCRIPT_HEARTBEAT,
    QUEUE_SCRIPT_SET_PAUSED,
    QUEUE_SCRIPT_SEGMENTS,
    QUEUE_SCRIPT_WORKER_ANNOUNCE,
    QUEUE_SCRIPT_WORKER_LIST,
    QUEUE_SCRIPT_WORKER_DRAIN,
    QUEUE_SCRIPT_JOB_LIST,
    QUEUE_SCRIPT_COUNT
};

static const struct queue_script_source {
    const char *name; /* for error messages: the queue_* call it serves */
    const char *text;
} queue_scripts[QUEUE_SCRIPT_COUNT] = {
    [QUEUE_SCRIPT_SUBMIT] = {"submit", queue_script_submit},
    [QUEUE_SCRIPT_CLAIM] = {"claim", queue_script_claim},
    [QUEUE_SCRIPT_RENEW] = {"renew", queue_script_renew},
    [QUEUE_SCRIPT_CHECKPOINT] = {"checkpoint", queue_script_checkpoint},
    [QUEUE_SCRIPT_PROGRESS] = {"report_progress", queue_script_progress},
    [QUEUE_SCRIPT_RELEASE] = {"release", queue_script_release},
    [QUEUE_SCRIPT_COMPLETE] = {"complete", queue_script_complete},
    [QUEUE_SCRIPT_FAIL] = {"fail", queue_script_fail},
    [QUEUE_SCRIPT_CANCEL] = {"cancel", queue_script_cancel},
    [QUEUE_SCRIPT_HEARTBEAT] = {"heartbeat", queue_script_heartbeat},
    [QUEUE_SCRIPT_SET_PAUSED] = {"set_paused", queue_script_set_paused},
    [QUEUE_SCRIPT_SEGMENTS] = {"segment_durations", queue_script_segments},
    [QUEUE_SCRIPT_WORKER_ANNOUNCE] = {"worker_announce", queue_script_worker_announce},
    [QUEUE_SCRIPT_WORKER_LIST] = {"worker_list", queue_script_worker_list},
    [QUEUE_SCRIPT_WORKER_DRAIN] = {"worker_request_drain", queue_script_worker_drain},
    [QUEUE_SCRIPT_JOB_LIST] = {"job_list", queue_script_job_list},
};

#endif
