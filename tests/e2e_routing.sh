#!/usr/bin/env bash
# e2e_routing.sh -- routing end to end: a real scheduler and a real worker
# (scripts/pool), jobs through the shim.
#
#   tests/e2e_routing.sh [--keep]
#
# The worker's libav is Debian's, which has no tonemapx (jellyfin-ffmpeg's
# tone-mapping filter). Exits 0 only if every check passes:
#   - a Jellyfin HLS line whose -vf uses tonemapx is submitted, stays queued
#     and `ffpoolctl job ID` says "waiting  no worker offers filter:tonemapx";
#   - a normal line submitted after it runs to the end on the same pool
#     (the unroutable job at the head of the queue does not block it);
#   - after routing.unroutable_timeout_ms the tonemapx job ends failed with
#     that reason, and the shim exits non-zero printing it, as ffmpeg does.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_routing
[ "${1:-}" = --keep ] && keep=1
odd_pid=""
plain_pid=""
stop_shims() { for p in $odd_pid $plain_pid; do kill -KILL "$p" 2>/dev/null || true; done; }
e2e_at_exit stop_shims

mkdir -p "$dir/media" "$dir/odd" "$dir/plain"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 9 \
  -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 64k "$clip"

# The worker enforces the deadline in its claims; the shim reads it back.
export FFPOOL_ROUTING_UNROUTABLE_TIMEOUT_MS=6000
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"

# ---- a job needing a filter no worker has --------------------------------
tonemap="setparams=color_primaries=bt709,tonemapx=tonemap=bt2390:desat=0,format=yuv420p"
mapfile -d '' odd_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$clip" \
  --outdir "$dir/odd" "--set=-vf=$tonemap")
: >"$dir/odd.log"
"$build/jellyfin/ffmpeg" "${odd_args[@]}" </dev/null 2>>"$dir/odd.log" &
odd_pid=$!
odd_id=$(e2e_wait_job_id "$dir/odd.log")
check "shim submitted the tonemapx job ($odd_id)" [ -n "$odd_id" ]

ctl_job() { "$build/bin/ffpoolctl" job "$odd_id" 2>&1 || true; }
for _ in $(seq 1 200); do
  ctl_job >"$dir/odd-job.txt"
  grep -q '^waiting' "$dir/odd-job.txt" && break
  sleep 0.05
done
check "ffpoolctl shows it queued" grep -q '^state *queued' "$dir/odd-job.txt"
check "ffpoolctl says why: no worker offers filter:tonemapx" \
  grep -q '^waiting *no worker offers filter:tonemapx$' "$dir/odd-job.txt"
check "ffpoolctl jobs shows the reason in the job's row" \
  bash -c "'$build/bin/ffpoolctl' jobs | grep -q '^$odd_id .* waiting: no worker offers filter:tonemapx'"
check "ffpoolctl lists what it requires" \
  grep -q '^requires *encoder:libx264 filter:setparams filter:tonemapx filter:format$' \
  "$dir/odd-job.txt"

# ---- a normal job on the same pool, queued behind it ---------------------
mapfile -d '' plain_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$clip" \
  --outdir "$dir/plain")
plain_rc=0
"$build/jellyfin/ffmpeg" "${plain_args[@]}" </dev/null 2>"$dir/plain.log" || plain_rc=$?
check "the normal job ran to the end (rc=$plain_rc)" [ "$plain_rc" = 0 ]
count=$(ls "$dir/plain" | grep -c '\.ts$' || true)
check "all 3 of its segments on disk ($count)" [ "$count" = 3 ]

# ---- the deadline --------------------------------------------------------
odd_rc=0
for _ in $(seq 1 1200); do kill -0 "$odd_pid" 2>/dev/null || break; sleep 0.05; done
wait "$odd_pid" || odd_rc=$?
odd_pid=""
check "the tonemapx shim exited non-zero (rc=$odd_rc)" [ "$odd_rc" != 0 ] && [ "$odd_rc" != 127 ]
check "the shim printed the reason once while waiting" \
  [ "$(grep -c 'is waiting: no worker offers filter:tonemapx' "$dir/odd.log")" = 1 ]
check "the shim's error names the missing filter" \
  grep -q '^Error: no worker offers filter:tonemapx (waited [0-9]* ms)$' "$dir/odd.log"
ctl_job >"$dir/odd-job.txt"
check "ffpoolctl shows it failed" grep -q '^state *failed' "$dir/odd-job.txt"
check "with that reason" grep -q '^error *no worker offers filter:tonemapx (waited' "$dir/odd-job.txt"
check "no segment was written for it" [ -z "$(ls "$dir/odd")" ]

e2e_finish "$dir/odd.log" "$dir/plain.log" "$pool"/*.log
