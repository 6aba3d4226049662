#!/usr/bin/env bash
# e2e_lease_redis_restart.sh -- Redis restarted mid-stream (AOF on, as
# scripts/pool runs it), twice, on one pool of two workers:
#   1. a short outage (Redis stopped with SIGTERM, which flushes the AOF, and
#      started again on the same port and folder 1 s later, well inside TTL
#      minus the safety margin even with a slow restart): the worker reconnects and carries on under the
#      same lease: epoch 1, no takeover, no attempt counted, and every
#      segment checkpointed (the segments hash has all of them: nothing lost);
#   2. a long outage (7 s, past the 5 s TTL): the worker stops writing on its
#      own (event=self_fenced), and when Redis is back the job is claimed
#      again (epoch 2) and finished from the last checkpoint; that costs a
#      lost lease, not an attempt (an attempt is the job's own failure).
# Both streams end complete and valid (same checks as e2e_takeover.sh), each
# segment with the presentation times of an uninterrupted run first made on
# the same pool.
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

redis_restart() { # redis_restart OUTAGE_SECONDS
  # The same command line scripts/pool up uses (redis-server rewrites its
  # own argv, so /proc cannot tell it).
  local pid cmd
  pid=$(cat "$pool/redis.pid")
  cmd=(redis-server --port "$FFPOOL_REDIS_PORT" --bind 127.0.0.1 --dir "$pool/redis"
    --appendonly yes --appendfsync everysec --save '' --maxmemory-policy noeviction
    --daemonize no --protected-mode yes)
  kill -TERM "$pid"
  for ((k = 0; k < 200; k++)); do alive "$pid" || break; sleep 0.02; done
  sleep "$1"
  setsid "${cmd[@]}" >>"$pool/redis.log" 2>&1 </dev/null &
  echo $! >"$pool/redis.pid"
  for ((k = 0; k < 200; k++)); do rc PING >/dev/null 2>&1 && break; sleep 0.02; done
}

lease_clip 24 960x540
# TTL 5 s (the default): renewals every 1 s, retried every 100 ms after a
# failure, a local deadline 4.5 s after each success, so a 1 s outage plus
# a restart slowed by a loaded machine stays inside it.
lease_pool_up 2 5000
lease_reference

# ---- 1: short outage ----
lease_shim_start
lease_wait_segment 1 120
holder=$(lease_job_field owner)
say "stopping Redis for 1 s while $holder runs $lease_job_id"
redis_restart 1
lease_shim_wait 120
lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
takeovers=$(lease_job_field takeovers); attempts=$(lease_job_field attempts)
check "short outage: same lease carried on ($state epoch=$epoch takeovers=$takeovers attempts=$attempts)" \
  [ "$state:$epoch:$takeovers:$attempts" = done:1:0:0 ]
# Segment indexes only: the hash also marks the last one (field "last").
recorded=$(rc HKEYS "ffpool:job:$lease_job_id:segments" | grep -c '^[0-9][0-9]*$' || true)
check "short outage: every segment checkpointed ($recorded of $lease_expected)" \
  [ "$recorded" = "$lease_expected" ]
check "short outage: one owner wrote the whole stream" \
  [ "$(cut -d' ' -f3 "$dir/owners" | sort -u | wc -l)" = 1 ]

# ---- 2: long outage ----
mv "$dir/transcodes" "$dir/transcodes.1"
lease_shim_start
lease_wait_segment 1 120
holder=$(lease_job_field owner)
say "stopping Redis for 7 s while $holder runs $lease_job_id"
redis_restart 7
lease_shim_wait 120
lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
check "long outage: job claimed again and done ($state epoch=$epoch)" [ "$state:$epoch" = done:2 ]
attempts=$(lease_job_field attempts); lost=$(lease_job_field leases_lost)
check "long outage: a lost lease, not an attempt (attempts=$attempts leases_lost=$lost)" \
  [ "$attempts:$lost" = 0:1 ]
check "long outage: the holder stopped writing on its own" \
  grep -q "event=self_fenced job=$lease_job_id " "$pool/$holder.log"
lease_finish
