#!/usr/bin/env bash
# e2e_lease_stall.sh -- Redis stalls mid-stream (issue 15, F2): three times
# `CLIENT PAUSE 2000 ALL` (every client's every command waits 2 s, as in an
# AOF fsync stall or a blackholed connection; DEBUG SLEEP is disabled in
# Redis 7), 1.3 s apart, while one of two workers runs a stream at the
# default lease settings. A 2 s stall is shorter than the lease, so it must
# cost nothing: the holder keeps its lease (renewals wait for Redis inside
# the safety margin instead of self-fencing), no takeover, no attempt, no
# lost lease, epoch 1, and the stream ends complete and valid with every
# segment published once (same checks as e2e_takeover.sh).
# Usage: tests/e2e_lease_stall.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 30 960x540
lease_pool_up 2 # the default lease settings: what the stall must not break
lease_shim_start
lease_wait_segment 1 120
holder=$(lease_job_field owner)
stalls=0
for _ in 1 2 3; do
  kill -0 "$lease_shim_pid" 2>/dev/null || break
  say "Redis stalled for 2 s (CLIENT PAUSE 2000 ALL) while $holder runs $lease_job_id"
  rc CLIENT PAUSE 2000 ALL >/dev/null
  stalls=$((stalls + 1))
  sleep 3.3 # the 2 s stall, then 1.3 s of Redis answering
done
check "the stream was still running through $stalls stall(s)" [ "$stalls" -ge 2 ]
lease_shim_wait 120
lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
takeovers=$(lease_job_field takeovers); attempts=$(lease_job_field attempts)
lost=$(lease_job_field leases_lost)
check "the stalls cost nothing ($state epoch=$epoch takeovers=${takeovers:-0} attempts=${attempts:-0} leases_lost=${lost:-0})" \
  [ "$state:$epoch:${takeovers:-0}:${attempts:-0}:${lost:-0}" = done:1:0:0:0 ]
check "one owner wrote the whole stream" \
  [ "$(cut -d' ' -f3 "$dir/owners" | sort -u | wc -l)" = 1 ]
check "the holder never stopped writing on its own" \
  [ "$(grep -c "event=self_fenced job=$lease_job_id " "$pool/$holder.log" || true)" = 0 ]
lease_finish
