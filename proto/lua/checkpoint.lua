--! script CHECKPOINT checkpoint
--! uses prelude owner_args
-- Owner call; ARGV[6] index, ARGV[7] duration_us, ARGV[8] 1 if it is the
-- stream's last segment (kept in the segments hash as field 'last'), ARGV[9]
-- the job's fMP4 fragment base ('' = none; kept as field 'fmp4_base').
-- Records the segment, raises (never lowers) the checkpoint and renews.
-- Returns {'OK', paused}, as RENEW does.

local index = tonumber(ARGV[6])
local bad, job = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
redis.call('HSET', JOB .. id .. SEGMENTS, str(index), ARGV[7])
if ARGV[8] == '1' then redis.call('HSET', JOB .. id .. SEGMENTS, 'last', str(index)) end
if ARGV[9] ~= '' then redis.call('HSET', JOB .. id .. SEGMENTS, 'fmp4_base', ARGV[9]) end
if index > (tonumber(job.checkpoint) or index - 1) then
  redis.call('HSET', JOB .. id, 'checkpoint', str(index))
end
redis.call('HINCRBY', JOB .. id, 'progress_version', 1)
extend_lease(id, now, ttl)
if job.paused == '1' then return {'OK', 1} end
return {'OK', 0}
