#!/usr/bin/env bash
# e2e_lease_stalled_read.sh -- a job whose pipeline hangs mid-stream (a read
# on a stalled network share: test hook FFPOOL_TEST_HANG_AT_SEGMENT, no
# callback and no progress, on the first run only) must not hold its lease
# until the 2-minute watchdog: after worker.job_stall_ms (3 s here) without
# progress it stops renewing, its lease lapses, and the other worker takes
# the stream over:
#   - the owner logs event=pipeline_stalled; the survivor's first segment
#     comes within 3 s + the lease + a margin of the hang (not 120 s);
#   - the stream is complete, every frame once, each index published once,
#     every segment's times those of an uninterrupted run;
#   - the job ends done: one takeover, one lost lease, no attempt.
# Usage: tests/e2e_lease_stalled_read.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 18 640x360
# The hook acts on one input only: the same clip under another name.
cp "$lease_clip" "$dir/clip-hang.mkv"
export FFPOOL_WORKER_JOB_STALL_MS=3000 FFPOOL_TEST_HANG_AT_SEGMENT=2 FFPOOL_TEST_HANG_INPUT=clip-hang
lease_pool_up 2
unset FFPOOL_WORKER_JOB_STALL_MS FFPOOL_TEST_HANG_AT_SEGMENT FFPOOL_TEST_HANG_INPUT
lease_reference
lease_shim_start "$dir/clip-hang.mkv"
lease_shim_wait 90
lease_job_id=$(e2e_job_id "$dir/shim.log")
lease_check_output
hang_line=$(grep -h "event=test_hook job=$lease_job_id .*HANG_AT_SEGMENT" "$pool"/worker-*.log | head -n 1)
stalled_line=$(grep -h "event=pipeline_stalled job=$lease_job_id " "$pool"/worker-*.log | head -n 1)
say "  $hang_line"
say "  $stalled_line"
check "the owner said its pipeline stalled" [ -n "$stalled_line" ]
ms() { date -d "$(sed -n 's/^ts=\([^ ]*\) .*/\1/p' <<<"$1")" +%s.%N; }
first_new=$(awk '$2 != 1 { print $1; exit }' "$dir/owners")
gap=nan
if [ -n "$hang_line" ] && [ -n "$first_new" ]; then
  gap=$(elapsed "$(ms "$hang_line")" "$(stat -c %.9Y "$(segment_path "$first_new")")")
fi
say "the survivor's first segment ($first_new) came $gap s after the hang"
gap_ok() { [ "$gap" != nan ] && lt "$gap" 15; }
check "the stream moved on within 15 s of the hang ($gap s; watchdog 120 s)" gap_ok
state=$(lease_job_field state); takeovers=$(lease_job_field takeovers)
lost=$(lease_job_field leases_lost); attempts=$(lease_job_field attempts)
check "job done, one takeover, one lost lease, no attempt ($state takeovers=$takeovers leases_lost=$lost attempts=$attempts)" \
  [ "$state:$takeovers:$lost:$attempts" = "done:1:1:0" ]
lease_finish
