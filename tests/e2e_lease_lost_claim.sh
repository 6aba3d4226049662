#!/usr/bin/env bash
# e2e_lease_lost_claim.sh -- a claim Redis acknowledged and then lost (a
# Sentinel failover to a replica that never got it, an AOF everysec crash).
# The job hash goes back to what the replica had: queued, epoch 0, no owner
# (written here by hand, exactly the state a lost claim leaves). The same
# worker, which has a free slot, claims the job again and gets the same
# owner and the same epoch its running job process holds: credentials no
# fence in Redis can tell apart. It must kill that earlier process before
# the new one starts (event=job_process_superseded), send nothing to Redis
# on its behalf, and the stream must end complete: every frame once, each
# index published once, the job done.
# Usage: tests/e2e_lease_lost_claim.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 18 640x360
FFPOOL_WORKER_SLOTS=2 lease_pool_up 1 20000
lease_shim_start
lease_wait_segment 0 120
rc HSET "ffpool:job:$lease_job_id" paused 1 >/dev/null
owner=$(lease_job_field owner)
first_pid=$(grep -h "event=job_process_started job=$lease_job_id " "$pool"/worker-*.log |
  sed -n 's/.* pid=\([0-9]*\).*/\1/p' | head -n 1)
check "the job runs in job process $first_pid of $owner" kill -0 "${first_pid:-0}"

# The failover: Redis forgets the claim. The job process is held meanwhile
# (SIGSTOP), so that no renewal of its own can see the job queued between
# the two claims and stop it: in a failover the new master answers it only
# once it is back, by when the new claim may have been made.
kill -STOP "$first_pid"
rc HSET "ffpool:job:$lease_job_id" state queued epoch 0 owner '' lease_until_ms 0 >/dev/null
rc ZREM ffpool:leases "$lease_job_id" >/dev/null
rc RPUSH ffpool:queue "$lease_job_id" >/dev/null
rc LPUSH ffpool:wake 1 >/dev/null
superseded() { grep -h "event=job_process_superseded job=$lease_job_id " "$pool"/worker-*.log; }
wait_until 10 superseded >/dev/null || say "no job_process_superseded line"
kill -CONT "$first_pid" 2>/dev/null || true
say "  $(superseded | head -n 1)"
epoch=$(lease_job_field epoch)
check "the same worker claimed the job again at the same epoch ($(lease_job_field owner) epoch=$epoch)" \
  [ "$(lease_job_field owner):$epoch" = "$owner:1" ]
check "the worker killed the job process of the lost claim" superseded
gone() { ! kill -0 "$first_pid" 2>/dev/null; }
check "job process $first_pid is gone" wait_until 5 gone
processes=$(grep -h "event=job_process_started job=$lease_job_id " "$pool"/worker-*.log | wc -l)
check "two job processes were started for the job, one after the other ($processes)" [ "$processes" = 2 ]
rc HSET "ffpool:job:$lease_job_id" paused 0 >/dev/null
lease_shim_wait 120
lease_check_output
state=$(lease_job_field state); attempts=$(lease_job_field attempts)
check "job done with no attempt counted ($state attempts=$attempts)" [ "$state:$attempts" = "done:0" ]
lease_finish
