#!/usr/bin/env bash
# e2e_lease_clock_step.sh -- the Redis server's wall clock steps mid-stream
# (issue 15, F6: an NTP step, a VM resumed, a failover to a node whose clock
# is off). Leases, heartbeats, worker expiry and routing deadlines are server
# times, so the scripts keep them on a clock of their own that never goes
# back and does not follow a jump (proto/lua/prelude.lua). redis-server runs
# with tests/clock_step.c preloaded (its gettimeofday/time/CLOCK_REALTIME
# read the real clock plus the offset in a file); the workers and the shim
# keep the real clock. Three workers, the default lease settings (5 s
# lease, 15 s client heartbeat, 500 ms owner-gone grace).
#   1. Back 30 s, then a death: with stream A held mid-stream (Jellyfin's
#      pause: the job only renews), the server's clock goes back 30 s; the
#      stream must stay with its owner (epoch 1). Half a second later
#      (before its next renewal) the owner is SIGKILLed with its job
#      processes: the presence reaper must declare it gone and another
#      worker put its first segment on disk within 5 s of the kill, as with
#      no step (on the stepped-back clock its lease, and the reaper's turn,
#      would both last the 30 s of the step longer).
#   2. Forward 30 s (twice the heartbeat's TTL): with stream B held
#      mid-stream, the clock jumps 30 s ahead; the job must still be RUNNING
#      under its owner 3 s later: not cancelled ("the client stopped sending
#      heartbeats"), not taken over, nothing charged (epoch 1, leases_lost
#      0, attempts 0).
# Each stream must end complete and valid (the e2e_takeover.sh checks).
# Prints clock_step_kill_gap_s=X (kill to the survivor's first segment).
# Usage: tests/e2e_lease_clock_step.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

cc -shared -fPIC -O2 -o "$dir/clock_step.so" "$here/tests/clock_step.c"
export CLOCK_STEP_FILE=$dir/clock_offset_ms
# server_clock MS: the server's clock is now the real one + MS (a rename:
# the server never reads a half-written file).
server_clock() { echo "$1" >"$CLOCK_STEP_FILE.new" && mv "$CLOCK_STEP_FILE.new" "$CLOCK_STEP_FILE"; }
server_clock 0
lease_clip 24 640x360
FFPOOL_REDIS_PRELOAD=$dir/clock_step.so lease_pool_up 3
server_seconds() { rc TIME | head -n 1; }
real_step() { # real_step MS: server_clock MS and say by how much TIME moved
  local before after
  before=$(server_seconds); server_clock "$1"; after=$(server_seconds)
  say "server clock stepped: TIME went from $before to $after ($1 ms off the real clock)"
}

# ---- 1. back 30 s, then a death ------------------------------------------
lease_shim_start
lease_wait_segment 1 120
rc HSET "ffpool:job:$lease_job_id" paused 1 >/dev/null
owner=$(lease_job_field owner)
real_step -30000
sleep 0.5
check "after the step back the job stayed with $owner ($(lease_job_field owner) epoch=$(lease_job_field epoch) state=$(lease_job_field state))" \
  [ "$(lease_job_field owner):$(lease_job_field epoch):$(lease_job_field state)" = "$owner:1:running" ]
lease_kill_held_owner "$owner"
gap=$lease_gap
say "SIGKILLed $owner (pid $lease_victim_pid) 0.5 s after the step back; the next owner's first segment ($lease_gap_first) came $gap s later"
echo "clock_step_kill_gap_s=$gap"
gap_ok() { [ "$gap" != nan ] && lt "$gap" 5; }
check "another worker's first segment came within 5 s of the kill ($gap s)" gap_ok
check "a worker declared $owner gone (its presence connection closed)" \
  grep -q "event=owner_gone job=$lease_job_id owner=$owner " "$pool"/worker-*.log
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
check "stream A done at epoch 2 ($state epoch=$epoch)" [ "$state:$epoch" = done:2 ]

# ---- 2. forward 30 s ------------------------------------------------------
lease_shim_start
lease_wait_segment 1 120
rc HSET "ffpool:job:$lease_job_id" paused 1 >/dev/null
owner=$(lease_job_field owner)
real_step 0
sleep 3
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
lost=$(lease_job_field leases_lost); attempts=$(lease_job_field attempts)
error=$(lease_job_field error)
check "after the step forward the job is still running under $owner ($state owner=$(lease_job_field owner) epoch=$epoch leases_lost=$lost attempts=$attempts${error:+ error: $error})" \
  [ "$state:$(lease_job_field owner):$epoch:$lost:$attempts" = "running:$owner:1:0:0" ]
rc HSET "ffpool:job:$lease_job_id" paused 0 >/dev/null
lease_shim_wait 120
lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
takeovers=$(lease_job_field takeovers); lost=$(lease_job_field leases_lost)
check "stream B done by one owner, nothing charged ($state epoch=$epoch takeovers=$takeovers leases_lost=$lost)" \
  [ "$state:$epoch:$takeovers:$lost" = done:1:0:0 ]
lease_finish
