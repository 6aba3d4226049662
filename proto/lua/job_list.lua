--! script JOB_LIST job_list
--! uses prelude
-- ARGV: limit. Returns {'OK', {id...}}, newest first, after pruning ids
-- whose job record has expired.

local limit = tonumber(ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', JOBS, 0, limit * 2)) do
  if redis.call('EXISTS', JOB .. id) == 1 then
    if #out < limit then table.insert(out, id) end
  else
    redis.call('ZREM', JOBS, id)
  end
end
return {'OK', out}
