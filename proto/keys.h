/* keys.h -- the Redis key schema, in one place.
 *
 * Every key ffpool uses starts with FFPOOL_KEY_PREFIX so that one Redis can
 * be shared with other software and an operator can find (or delete) all of
 * ffpool's state with one SCAN pattern. Only queue.c (and the Lua scripts in
 * proto/lua, into which scripts/lua_embed.py pastes these names) builds keys
 * from these. The
 * scripts compute job key names at run time, so all keys must live on one
 * Redis node (no Redis Cluster).
 *
 *   ffpool:job:<id>          HASH  one job: spec (packed JobSpec), state
 *                                  (queued|running|done|failed|cancelled),
 *                                  epoch, owner, lease_until_ms, checkpoint,
 *                                  start_number, attempts (failures of the
 *                                  job itself: its error, crash, hang or
 *                                  memory; max_attempts of them fail it),
 *                                  leases_lost (leases that lapsed: its
 *                                  worker died, stalled or lost Redis;
 *                                  max_lost_leases of them fail it),
 *                                  takeovers, error,
 *                                  start_failures (hand-backs by workers
 *                                  that could not start it),
 *                                  job_key, created_ms, updated_ms, frames,
 *                                  out_time_us, start_us (stream time of the
 *                                  job's first output), bytes, speed,
 *                                  progress_version,
 *                                  heartbeat_until_ms (0 = no heartbeat),
 *                                  heartbeat_ttl_ms, paused (0|1),
 *                                  requires (space-separated "kind:name"
 *                                  words, proto/routing.h; "" = any worker),
 *                                  waiting (why no live worker can run it,
 *                                  "" = none), waiting_since_ms (when that
 *                                  began, 0 = not waiting for a capability),
 *                                  delivery (a deliver job: the address its
 *                                  owner's job process serves segments on,
 *                                  set by the owner's renewals)
 *   ffpool:job:<id>:segments HASH  segment index -> duration in microseconds,
 *                                  field "last" -> the index of the
 *                                  stream's last segment once published, and
 *                                  (fMP4) field "fmp4_base" -> the fragment
 *                                  time base the job's first run measured
 *                                  (worker/pipeline/fmp4_times.h), set with the
 *                                  checkpoint of its first segment
 *   ffpool:jobkey:<key>      STRING job_key -> id of the job it created
 *   ffpool:queue             LIST  ids of new jobs, oldest at the head
 *   ffpool:leases            ZSET  ids of RUNNING jobs scored by lease expiry
 *                                  (server ms), and of QUEUED jobs handed back
 *                                  by release or a retryable fail at score 0;
 *                                  claim takes due entries before the list
 *   ffpool:wake              LIST  wake-up tokens for blocked workers (kept to
 *                                  16 entries)
 *   ffpool:seq               STRING counter for job ids ("j<n>-<random hex>")
 *   ffpool:worker:<id>       HASH  a worker's advertisement: caps (packed
 *                                  Capabilities), slots, running, draining,
 *                                  updated_ms; expires unless refreshed
 *   ffpool:worker:<id>:offers SET  the "kind:name" words the worker's libav
 *                                  offers (from its caps); expires with
 *                                  the advertisement
 *   ffpool:workers           ZSET  live worker ids scored by the expiry of
 *                                  their advertisement (server ms)
 *   ffpool:claim:<owner>     HASH  the owner's last claim: token (random,
 *                                  sent with the claim), id, epoch,
 *                                  takeover; a claim retried with the same
 *                                  token after its reply was lost answers
 *                                  that claim again (queue_claim.c);
 *                                  expires 60 s after the claim
 *   ffpool:jobs              ZSET  job ids scored by creation time, for
 *                                  listing; ids of expired jobs are pruned
 *                                  when listed, and by each submit among
 *                                  the oldest
 *   ffpool:presence:<run_id> HASH  worker id -> server ms it was last seen
 *                                  connected (its presence connection named
 *                                  ffpool-worker:<id> in CLIENT LIST) on the
 *                                  Redis process <run_id>; kept for an hour
 *                                  after a worker was last seen
 *   ffpool:presence:<run_id>:gone HASH worker id -> server ms of the first
 *                                  look that found a worker holding leases
 *                                  disconnected (queue_presence.c)
 *   ffpool:reaper            STRING the server ms (ffpool:clock) until which
 *                                  a worker has the turn to look for dead
 *                                  workers, then its id (expires after one
 *                                  interval)
 *   ffpool:presence-wait:<id> LIST never written: a worker's presence
 *                                  connection blocks on it so that a closed
 *                                  connection is noticed at once
 *   ffpool:barrier           STRING a counter a client increments after
 *                                  reading a finished job, and waits until
 *                                  the replicas hold (redis.wait_replicas)
 *   ffpool:clock             HASH  the scripts' clock (proto/lua/prelude.lua):
 *                                  raw (the last Redis TIME a script read,
 *                                  ms), offset (ms added to TIME: a step of
 *                                  the server's wall clock is absorbed
 *                                  here); every *_ms server time above
 *                                  is TIME + offset
 *
 * Finished jobs (done, failed, cancelled) keep their job, segments and
 * jobkey keys for retention_ms, then Redis expires them. */
#ifndef FFPOOL_KEYS_H
#define FFPOOL_KEYS_H

#define FFPOOL_KEY_PREFIX "ffpool:"
#define FFPOOL_KEY_JOB FFPOOL_KEY_PREFIX "job:"
#define FFPOOL_KEY_SEGMENTS_SUFFIX ":segments"
#define QUEUE_SEGMENTS_LAST_FIELD "last"
#define QUEUE_SEGMENTS_FMP4_BASE_FIELD "fmp4_base"
#define FFPOOL_KEY_JOBKEY FFPOOL_KEY_PREFIX "jobkey:"
#define FFPOOL_KEY_QUEUE FFPOOL_KEY_PREFIX "queue"
#define FFPOOL_KEY_LEASES FFPOOL_KEY_PREFIX "leases"
#define FFPOOL_KEY_WAKE FFPOOL_KEY_PREFIX "wake"
#define FFPOOL_KEY_SEQ FFPOOL_KEY_PREFIX "seq"
#define FFPOOL_KEY_WORKER FFPOOL_KEY_PREFIX "worker:"
#define FFPOOL_KEY_OFFERS_SUFFIX ":offers"
#define FFPOOL_KEY_WORKERS FFPOOL_KEY_PREFIX "workers"
#define FFPOOL_KEY_JOBS FFPOOL_KEY_PREFIX "jobs"
#define FFPOOL_KEY_PRESENCE FFPOOL_KEY_PREFIX "presence:"
#define FFPOOL_KEY_REAPER FFPOOL_KEY_PREFIX "reaper"
#define FFPOOL_KEY_BARRIER FFPOOL_KEY_PREFIX "barrier"
#define FFPOOL_KEY_PRESENCE_WAIT FFPOOL_KEY_PREFIX "presence-wait:"
/* The CLIENT SETNAME of a worker's presence connection: this, then its id. */
#define QUEUE_PRESENCE_CLIENT_PREFIX "ffpool-worker:"
#define FFPOOL_KEY_CLAIM FFPOOL_KEY_PREFIX "claim:"
#define FFPOOL_KEY_CLOCK FFPOOL_KEY_PREFIX "clock"

#endif
