#!/usr/bin/env bash
# e2e_lease_slow_start.sh -- a job process slow to start (issue 15, F8): the
# lease counts from the claim, and a fork and exec on a loaded node, an
# image on a network filesystem or a sanitizer build can use seconds of it
# before the job's threads run. The test hook FFPOOL_TEST_SLOW_START_MS
# makes the job's first run sleep 3.5 s before starting (at the default 5 s
# lease, the self-fence point is 4.5 s after the claim). The first renewal
# comes at the job's start, not one interval later, so the job keeps its
# lease: done, epoch 1, no takeover, no attempt, no lost lease, no
# self-fence, and the stream complete and valid (same checks as
# e2e_takeover.sh). Without the fix the first renewal came one interval
# (1 s, 1.7 s before issue 15) after the start, past the self-fence point:
# the job stopped writing and was taken over.
# Usage: tests/e2e_lease_slow_start.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 9 640x360
export FFPOOL_TEST_SLOW_START_MS=3500 FFPOOL_TEST_SLOW_START_INPUT=clip.mkv
lease_pool_up 2 # the default lease settings
lease_shim_start
lease_shim_wait 120
lease_job_id=$(e2e_job_id "$dir/shim.log")
lease_check_output
holder=$(lease_job_field owner)
check "the job process slept before starting (test hook)" \
  grep -q "event=test_hook job=$lease_job_id .*FFPOOL_TEST_SLOW_START_MS" "$pool"/worker-*.log
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
takeovers=$(lease_job_field takeovers); attempts=$(lease_job_field attempts)
lost=$(lease_job_field leases_lost)
check "the slow start cost nothing ($state epoch=$epoch takeovers=${takeovers:-0} attempts=${attempts:-0} leases_lost=${lost:-0})" \
  [ "$state:$epoch:${takeovers:-0}:${attempts:-0}:${lost:-0}" = done:1:0:0:0 ]
check "the job never stopped writing on its own" \
  [ "$(grep -c "event=self_fenced job=$lease_job_id " "$pool"/worker-*.log | awk -F: '{s += $NF} END {print s + 0}')" = 0 ]
check "one owner ($holder) wrote the whole stream" \
  [ "$(cut -d' ' -f3 "$dir/owners" | sort -u | wc -l)" = 1 ]
lease_finish
