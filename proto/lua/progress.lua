--! script PROGRESS report_progress
--! uses prelude owner_args
-- Owner call; ARGV[6..11] frames, out_time_us, bytes, speed, duration_us,
-- start_us. Also renews: a worker that reports progress is alive. Returns
-- {'OK'}.

local bad = owned(id, owner, epoch, now, retention)
if bad then return {bad} end
redis.call('HSET', JOB .. id, 'frames', ARGV[6], 'out_time_us', ARGV[7], 'bytes', ARGV[8],
           'speed', ARGV[9], 'duration_us', ARGV[10], 'start_us', ARGV[11])
redis.call('HINCRBY', JOB .. id, 'progress_version', 1)
extend_lease(id, now, ttl)
return {'OK'}
