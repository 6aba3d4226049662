#!/usr/bin/env bash
# e2e_lease_progressive_unwritten.sh -- a progressive output (Jellyfin tails
# the file as it grows, so no run may rewrite what another wrote) whose job
# is claimed at an epoch above 1 with nothing written yet: a run handed back
# before it started (a start failure, a drain at once, a lost claim) moves
# the epoch without writing a byte. The run must go ahead, not fail as
# "cannot be resumed", since there is nothing to resume:
#   - the worker is held (SIGSTOP) while the shim submits corpus line 034
#     (an audio transcode to MP3), the job's epoch is
#     set to 1 as such a hand-back leaves it, and the worker continued;
#   - the shim exits 0, the job ends done at epoch 2, the output decodes.
# Usage: tests/e2e_lease_progressive_unwritten.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 8 320x240
lease_pool_up 1
worker_pid=$(cat "$pool"/worker-1.pid)
lease_signal_worker STOP "$worker_pid"
out=$dir/progressive
mkdir -p "$out"
mapfile -d '' args < <(python3 "$here/tests/jellyfin_argv.py" "$(e2e_corpus 034)" \
  --input "$lease_clip" --outdir "$out")
output=${args[${#args[@]}-1]}
[ -e "$dir/stdin" ] || mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"
# With the only worker held the pool looks empty: submit and wait anyway.
FFPOOL_SHIM_NO_POOL_POLICY=fail "$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/shim.log" &
lease_shim_pid=$!
lease_job_id=$(e2e_wait_job_id "$dir/shim.log")
check "the shim submitted the job ($lease_job_id)" [ -n "$lease_job_id" ]
rc HSET "ffpool:job:$lease_job_id" epoch 1 >/dev/null
lease_signal_worker CONT "$worker_pid"
lease_shim_wait 60
check "the shim exited 0 (rc=$lease_shim_rc; $(grep -m1 '^Error' "$dir/shim.log" || true))" \
  [ "$lease_shim_rc" = 0 ]
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
check "the job ended done at epoch 2 ($state epoch=$epoch)" [ "$state:$epoch" = "done:2" ]
decoded=$(timeout 60 ffmpeg -v error -i "$output" -f null - 2>&1 || echo "exit $?")
check "the output decodes silently" [ -z "$decoded" ]
check "the output is not empty" [ -s "$output" ]
lease_finish
