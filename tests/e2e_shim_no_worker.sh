#!/usr/bin/env bash
# e2e_shim_no_worker.sh -- a stream whose pool has no live worker does not
# hang for as long as Jellyfin waits: the shim says what its job waits for
# and, after shim.queued_timeout_ms with nobody claiming it, cancels it and
# exits 1; a worker that comes back within that time makes the stream as
# if nothing had happened. A real pool (scripts/pool with no worker), the
# real shim with Jellyfin's 10.8 line (tests/corpus/002-*) on a clip.
#
#   tests/e2e_shim_no_worker.sh [--keep]
#
# Checks, each printed as ok/FAIL:
#   - no worker at all, shim.queued_timeout_ms 4 s: the shim says the job
#     is waiting and why, exits 1 after 4 to 8 s naming the wait, and the
#     job ends cancelled (not left queued for a worker that comes later);
#   - the same line with 20 s, a worker starting 3 s after the submit: the
#     shim exits 0 and the playlist is complete.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_shim_no_worker
[ "${1:-}" = --keep ] && keep=1
shim_pid=""
stop_shim() { if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi; }
e2e_at_exit stop_shim

mkdir -p "$dir/media"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 6 \
  -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$clip"

# The line goes to the pool whatever it offers (no local ffmpeg here).
export FFPOOL_SHIM_NO_POOL_POLICY=fail
export FFPOOL_SHIM_CAPS_CACHE=$dir/caps.cache
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 0 --dir "$pool" >/dev/null 2>&1
# shellcheck disable=SC1091
. "$pool/env"
job_state() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$1" state; }

# ---- no worker at all ---------------------------------------------------------
e2e_shim_args "$clip" "$dir/none"
mkdir -p "$dir/none"
started=$(date +%s%N)
rc=0
FFPOOL_SHIM_QUEUED_TIMEOUT_MS=4000 timeout 30 "$build/jellyfin/ffmpeg" "${args[@]}" </dev/null \
  2>"$dir/none.log" || rc=$?
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
job=$(e2e_job_id "$dir/none.log")
check "with no worker the shim exits 1 (exit $rc)" test "$rc" = 1
check "after the 4 s bound, not before and not much after ($elapsed_ms ms)" \
  test "$elapsed_ms" -ge 4000 -a "$elapsed_ms" -lt 8000
check "it says what the job waits for" grep -q "ffpool: job $job is waiting: " "$dir/none.log"
check "its error names the wait" grep -q "waited 4 s with no worker" "$dir/none.log"
check "the job ends cancelled (job $job: $(job_state "$job"))" test "$(job_state "$job")" = cancelled

# ---- a worker that comes back in time --------------------------------------
e2e_shim_args "$clip" "$dir/back"
mkdir -p "$dir/back"
FFPOOL_SHIM_QUEUED_TIMEOUT_MS=20000 "$build/jellyfin/ffmpeg" "${args[@]}" </dev/null \
  2>"$dir/back.log" &
shim_pid=$!
job=$(e2e_wait_job_id "$dir/back.log")
sleep 3
check "the job is still queued 3 s in (job $job: $(job_state "$job"))" \
  test "$(job_state "$job")" = queued
FFPOOL_WORKER_ID=worker-late setsid "$build/bin/ffpool-worker" >>"$pool/worker-late.log" 2>&1 \
  </dev/null &
echo $! >"$pool/worker-late.pid"
rc=0
wait "$shim_pid" || rc=$?
shim_pid=""
check "the late worker made the stream: the shim exits 0 (exit $rc)" test "$rc" = 0
check "the playlist is complete" grep -q '^#EXT-X-ENDLIST' "$playlist"
check "the job is done (job $job: $(job_state "$job"))" test "$(job_state "$job")" = done
kill -TERM "$(cat "$pool/worker-late.pid")" 2>/dev/null || true

e2e_finish "$dir/none.log" "$dir/back.log" "$pool/scheduler.log"
