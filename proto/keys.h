/* keys.h -- the Redis key schema, in one place.
 *
 * Every key ffpool uses starts with FFPOOL_KEY_PREFIX so that one Redis can
 * be shared with other software and an operator can find (or delete) all of
 * ffpool's state with one SCAN pattern. Only queue.c builds keys from these.
 *
 *   ffpool:job:<id>          HASH  one job: spec (packed JobSpec), state,
 *                                  epoch, owner, lease_until_ms, checkpoint,
 *                                  start_number, attempts, takeovers, error,
 *                                  job_key, created_ms, updated_ms, frames,
 *                                  out_time_us, bytes, speed, progress_version,
 *                                  heartbeat_until_ms, paused
 *   ffpool:job:<id>:segments HASH  segment index -> duration in microseconds
 *   ffpool:jobkey:<key>      STRING job_key -> id of the job it created
 *   ffpool:queue             LIST  ids of new jobs, oldest at the head
 *   ffpool:leases            ZSET  ids of RUNNING jobs scored by lease expiry
 *                                  (server ms); released jobs score 0
 *   ffpool:wake              LIST  wake-up tokens for blocked workers
 *   ffpool:seq               STRING counter for job ids
 *   ffpool:worker:<id>       HASH  a worker's advertisement (capabilities,
 *                                  load), with a TTL it refreshes */
#ifndef FFPOOL_KEYS_H
#define FFPOOL_KEYS_H

#define FFPOOL_KEY_PREFIX "ffpool:"
#define FFPOOL_KEY_JOB FFPOOL_KEY_PREFIX "job:"
#define FFPOOL_KEY_SEGMENTS_SUFFIX ":segments"
#define FFPOOL_KEY_JOBKEY FFPOOL_KEY_PREFIX "jobkey:"
#define FFPOOL_KEY_QUEUE FFPOOL_KEY_PREFIX "queue"
#define FFPOOL_KEY_LEASES FFPOOL_KEY_PREFIX "leases"
#define FFPOOL_KEY_WAKE FFPOOL_KEY_PREFIX "wake"
#define FFPOOL_KEY_SEQ FFPOOL_KEY_PREFIX "seq"
#define FFPOOL_KEY_WORKER FFPOOL_KEY_PREFIX "worker:"

#endif
