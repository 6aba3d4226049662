#!/usr/bin/env bash
# e2e_lease_complete_retry.sh -- the owner's complete meets a dropped Redis
# connection. The job process is held after its last segment, checkpoint and
# playlist, before it completes (test hook
# FFPOOL_TEST_STOP_BEFORE_COMPLETE_INPUT: SIGSTOP), Redis drops its
# connections (CLIENT KILL of that process's sockets: a real connection
# fault, as a Redis restart, a failover or a proxy's idle cut would cause),
# and the job process is continued: its first complete fails at the
# connection level, and the retry must land:
#   - the job ends done in the owner's one run: epoch 1, no takeover, no
#     attempt counted, claimed once;
#   - the worker logged the completion with more than one try;
#   - the stream is complete (ENDLIST, decodes, every frame once, each index
#     published once) and the shim exits 0.
# One worker: had the completion been lost, its lease would lapse and the
# same worker would take the job over (epoch 2, an attempt). A 10 s lease:
# the hold, however slow the machine, ends well before its deadline, up to
# which the completion is retried.
# Usage: tests/e2e_lease_complete_retry.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 9 640x360
export FFPOOL_TEST_STOP_BEFORE_COMPLETE_INPUT=clip.mkv
lease_pool_up 1 10000
unset FFPOOL_TEST_STOP_BEFORE_COMPLETE_INPUT
held_pid=""
continue_held() { [ -z "$held_pid" ] || kill -CONT "$held_pid" 2>/dev/null || true; }
e2e_at_exit continue_held
lease_shim_start
lease_wait_segment 0 120

hook_line() { grep -h "event=test_hook job=$lease_job_id .*STOP_BEFORE_COMPLETE" "$pool"/worker-*.log; }
wait_until 60 hook_line >/dev/null || { say "FAIL the hook never held the owner"; exit 1; }
held_pid=$(hook_line | sed -n 's/.* pid=\([0-9]*\) .*/\1/p' | head -n 1)
stopped() { [ "$(awk '/^State:/ { print $2 }' "/proc/$held_pid/status" 2>/dev/null)" = T ]; }
wait_until 10 stopped || { say "FAIL job process $held_pid is not stopped"; exit 1; }

# The held process's connections to Redis (its job thread's, and its renew
# thread's once it has renewed), by their local address as Redis sees it.
mapfile -t addrs < <(ss -Htnp state established "( dport = :$FFPOOL_REDIS_PORT )" |
  awk -v pid="pid=$held_pid," 'index($0, pid) { print $3 }')
killed=0
for addr in "${addrs[@]}"; do
  n=$(rc CLIENT KILL ADDR "$addr" 2>/dev/null || true) # how many it closed
  killed=$((killed + ${n:-0}))
done
say "job process $held_pid held before complete; Redis dropped $killed of its connections (${addrs[*]})"
check "Redis dropped the held job process's connections ($killed)" [ "$killed" -ge 1 ]
kill -CONT "$held_pid"
held_pid=""
lease_shim_wait 60

done_line=$(grep -h "event=job_done job=$lease_job_id " "$pool"/worker-*.log | head -n 1)
say "  $done_line"
tries=$(sed -n 's/.* tries=\([0-9]*\).*/\1/p' <<<"$done_line")
check "the first complete failed and a retry landed (tries=${tries:-?})" [ "${tries:-0}" -ge 2 ]
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
takeovers=$(lease_job_field takeovers); attempts=$(lease_job_field attempts)
check "job done in its one run ($state epoch=$epoch takeovers=$takeovers attempts=$attempts)" \
  [ "$state:$epoch:$takeovers:$attempts" = "done:1:0:0" ]
claims=$(cat "$pool"/worker-*.log | grep -c "event=claimed job=$lease_job_id " || true)
check "the job was claimed once ($claims)" [ "$claims" = 1 ]
lease_check_output
lease_finish
