#!/usr/bin/env bash
# e2e_lease_publish_error.sh -- a finished segment that cannot be put in
# place (here a directory sits at segment 2's path, so rename(2) fails with
# EISDIR; in production a permission, a full or read-only disk, a stale NFS
# handle) fails the job with that error, through the fenced fail like any
# error of the job's, instead of leaving the lease to lapse and the job to
# end "lost by its worker" with the cause nowhere:
#   - the shim exits 1 and its Error line names the segment and the error;
#   - the job ends failed with that error after lease.max_attempts runs;
#   - no lease was lost on the way (no takeover).
# Usage: tests/e2e_lease_publish_error.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 12 320x240
lease_pool_up 1
lease_shim_start
mkdir -p "$(segment_path $((lease_start_number + 2)))"
lease_shim_wait 120
lease_job_id=$(e2e_job_id "$dir/shim.log")
error_line=$(grep -m1 '^Error' "$dir/shim.log" || true)
say "  $error_line"
check "the shim exited 1 (rc=$lease_shim_rc)" [ "$lease_shim_rc" = 1 ]
check "its Error line names the segment and the error" \
  grep -q "^Error: cannot put segment $((lease_start_number + 2)) in place at .*: Is a directory" "$dir/shim.log"
state=$(lease_job_field state); takeovers=$(lease_job_field takeovers)
check "the job failed with that error, no lease lost ($state takeovers=$takeovers)" \
  [ "$state:$takeovers" = "failed:0" ]
rmdir "$(segment_path $((lease_start_number + 2)))"
lease_finish
