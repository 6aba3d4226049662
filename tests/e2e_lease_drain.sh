#!/usr/bin/env bash
# e2e_lease_drain.sh -- graceful hand-off (Kubernetes scale-down, rolling
# update): SIGTERM to the worker holding a job mid-stream.
#   - the draining worker releases the job at once (event=job_released) and
#     exits well inside terminationGracePeriodSeconds (checked: < 5 s);
#   - the other worker, blocked on the wake list, resumes from the next
#     segment without waiting for any lease to expire: the drain gap
#     (SIGTERM to the next new segment on disk) is printed and must stay
#     below the lease TTL; the job ends done with 0 takeovers and 0 attempts
#     (a hand-back is neither);
#   - the output is complete and valid, every segment's presentation times
#     those of an uninterrupted run first made on the same pool.
# Prints drain_gap_s=X and drain_exit_s=Y.
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

size=${FFPOOL_DRAIN_SIZE:-640x360}
lease_clip "${FFPOOL_DRAIN_DURATION:-30}" "$size"
lease_pool_up 2 3000
lease_reference
lease_shim_start
lease_wait_segment 2 120

victim_pid=$(lease_owner_pid)
victim=$(lease_job_field owner)
find "$dir/transcodes" -maxdepth 1 -name '*.ts' -printf '%f\n' | sort >"$dir/before"
kill -TERM "$victim_pid"
termed_at=$(now)
exit_s=nan
for ((k = 0; k < 500; k++)); do
  # Gone, or a zombie its (foreign) parent has not reaped yet: it has exited.
  alive "$victim_pid" || { exit_s=$(elapsed "$termed_at"); break; }
  sleep 0.01
done
say "SIGTERM to $victim (pid $victim_pid) holding $lease_job_id; exited after $exit_s s"
lease_shim_wait 120
lease_check_output

check "draining worker exited within 5 s ($exit_s s)" \
  awk -v s="$exit_s" 'BEGIN { exit !(s != "nan" && s < 5) }'
check "draining worker released the job" \
  grep -q "event=job_released job=$lease_job_id " "$pool/$victim.log"
state=$(lease_job_field state); takeovers=$(lease_job_field takeovers); attempts=$(lease_job_field attempts)
check "job done with no takeover and no attempt counted ($state takeovers=$takeovers attempts=$attempts)" \
  [ "$state:$takeovers:$attempts" = done:0:0 ]
check "two owners, each a contiguous run" \
  [ "$(cut -d' ' -f3 "$dir/owners" | uniq | wc -l)" = 2 ]
first_new=$(awk -v w="$victim" '$3 != w { print $1; exit }' "$dir/owners")
gap=nan
[ -n "$first_new" ] && gap=$(elapsed "$termed_at" "$(stat -c %.9Y "$(segment_path "$first_new")")")
check "drain gap $gap s is below the lease TTL (no expiry waited for)" \
  awk -v g="$gap" 'BEGIN { exit !(g != "nan" && g < 3) }'
echo "drain_gap_s=$gap"
echo "drain_exit_s=$exit_s"
lease_finish
