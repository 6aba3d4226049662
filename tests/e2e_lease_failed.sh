#!/usr/bin/env bash
# e2e_lease_failed.sh -- a job that cannot succeed does not crash-loop the
# pool: a corrupt input file fails on every attempt, and after
# lease.max_attempts (3) attempts the job ends FAILED with its last error
# kept in Redis; the shim exits non-zero printing that error; and the same
# workers go on to serve a good job to the end.
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 6 320x240
lease_pool_up 2 3000

# Corrupt: bytes no demuxer recognises.
corrupt=$dir/corrupt.mkv
head -c 200000 /dev/urandom >"$corrupt"
lease_shim_start "$corrupt"
lease_shim_wait 60
lease_job_id=$(e2e_job_id "$dir/shim.log")
state=$(lease_job_field state); attempts=$(lease_job_field attempts); error=$(lease_job_field error)
say "corrupt input: job $lease_job_id state=$state attempts=$attempts error=$error"
check "shim exited non-zero (rc=$lease_shim_rc)" [ "$lease_shim_rc" != 0 -a "$lease_shim_rc" != 124 ]
check "job ended failed after 3 attempts ($state attempts=$attempts)" [ "$state:$attempts" = failed:3 ]
check "the last error is kept and names the input" grep -q "corrupt.mkv" <<<"$error"
check "the shim printed the error" grep -q "^Error: .*corrupt.mkv" "$dir/shim.log"
failed_logs=$(grep -h "event=job_failed job=$lease_job_id " "$pool"/worker-*.log | grep -c . || true)
check "each attempt was logged as job_failed ($failed_logs)" [ "$failed_logs" = 3 ]
check "no segment was published for the failed job" \
  [ -z "$(find "$dir/transcodes" -name '*.ts')" ]
for f in "$pool"/worker-*.pid; do
  check "$(basename "$f" .pid) still running" kill -0 "$(cat "$f")"
done

# The pool serves the next job.
good_id_before=$lease_job_id
lease_shim_start
lease_shim_wait 60
lease_job_id=$(e2e_job_id "$dir/shim.log")
check "a new job ($lease_job_id after $good_id_before)" [ "$lease_job_id" != "$good_id_before" ]
lease_check_output
check "good job done" [ "$(lease_job_field state)" = "done" ]
lease_finish
