#!/usr/bin/env bash
# e2e_shim_probes.sh -- what Jellyfin reads from "ffmpeg" and "ffprobe"
# when no transcode runs: device checks, ffprobe, passthrough lines and the
# start-up probes, with the pool up, down, or not there yet. The real shim
# binary, a real pool (scripts/pool), Debian's ffmpeg/ffprobe to compare
# with, a 2 s synthetic clip.
#
#   tests/e2e_shim_probes.sh [--keep]
#
# Checks, each printed as ok/FAIL:
#   - stderr is the local program's, byte for byte, with no log line of the
#     shim's: ffprobe, an image extraction (run by a worker's ffmpeg CLI), a
#     passthrough line with an input and no output, a probe answered by the
#     pool (nothing);
#     with shim.log_file the shim's lines are in that file instead;
#   - Jellyfin's VAAPI and Vulkan device checks (no input, no output) get
#     the local ffmpeg's verbose stderr and exit status (addresses aside):
#     from the pool's worker when it opened the device (Vulkan on lavapipe
#     here), else from the local ffmpeg (VAAPI, DRM: no /dev/dri here);
#     e2e_hw_route tells the two apart;
#   - ffprobe gets Jellyfin's own paths: with a paths.map whose worker side
#     does not exist here, it prints what ffprobe prints directly (JSON
#     media info, Jellyfin's keyframe listing);
#   - start-up probes: answered by the pool, which refreshes the cache
#     (shim.caps_cache); with the scheduler gone, answered from the cache,
#     the same bytes, at the cost of one try; with no cache, a series of
#     probes costs one wait (shim.probe_wait_ms) in all, then the local
#     ffmpeg answers (shim.no_pool_policy=fallback); the note that the pool
#     was down holds for shim.pool_down_memory_ms and only for its URL;
#     with no writable place for the cache, no probe waits; a probe
#     waiting for the pool answers as soon as a worker registers.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

e2e_init e2e_shim_probes
[ "${1:-}" = --keep ] && keep=1
ffmpeg_shim=$build/jellyfin/ffmpeg
ffprobe_shim=$build/jellyfin/ffprobe
late_pid=""
stop_extra() {
  if [ -n "$late_pid" ]; then
    kill -TERM "$late_pid" 2>/dev/null
    wait "$late_pid" 2>/dev/null || true
  fi
  FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$dir/pool0" >/dev/null 2>&1 || true
}
e2e_at_exit stop_extra

mkdir -p "$dir/media" "$dir/out" "$dir/cache"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=320x240:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 2 \
  -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p -c:a aac -b:a 64k "$clip"

# The tests' own cache, so that nothing here touches the one beside the
# build's shim (other tests' probes use it).
export FFPOOL_SHIM_CAPS_CACHE=$dir/cache/caps.cache
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
for _ in $(seq 1 100); do
  [ "$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw ZCARD ffpool:workers)" -ge 1 ] && break
  sleep 0.1
done

# same_stderr NAME SHIM_COMMAND... -- CLI_COMMAND...: runs both with the
# same arguments, stderr into $dir/NAME.{shim,cli}, addresses (0x...) and
# the final stats line (speeds vary) left out; true when stderr and exit
# status agree.
same_stderr() {
  local name=$1; shift
  local shim=() cli=()
  while [ "$1" != -- ]; do shim+=("$1"); shift; done
  shift
  cli=("$@")
  local rc_shim=0 rc_cli=0
  (cd "$dir/out" && "${shim[@]}" </dev/null >/dev/null 2>"$dir/$name.shim") || rc_shim=$?
  (cd "$dir/out" && "${cli[@]}" </dev/null >/dev/null 2>"$dir/$name.cli") || rc_cli=$?
  normalize() { sed -E 's/0x[0-9a-f]+/0xADDR/g; /^frame=/d' "$1"; }
  [ "$rc_shim" = "$rc_cli" ] || { say "$name: exit $rc_shim, local $rc_cli"; return 1; }
  diff <(normalize "$dir/$name.cli") <(normalize "$dir/$name.shim") >&2 || return 1
}

# ==== stderr belongs to the local program ====
check "ffprobe: stderr is ffprobe's, byte for byte" \
  same_stderr ffprobe "$ffprobe_shim" -hide_banner "$clip" -- ffprobe -hide_banner "$clip"
check "an image extraction (on a worker's CLI): stderr is ffmpeg's" \
  same_stderr image "$ffmpeg_shim" -hide_banner -nostats -ss 1 -i "file:$clip" -frames:v 1 \
  -f image2 -y "$dir/out/thumb.jpg" -- \
  ffmpeg -hide_banner -nostats -ss 1 -i "file:$clip" -frames:v 1 -f image2 -y "$dir/out/thumb.jpg"
check "passthrough (an input, no output): stderr and exit status are ffmpeg's" \
  same_stderr no_output "$ffmpeg_shim" -hide_banner -i "$clip" -- ffmpeg -hide_banner -i "$clip"
"$ffmpeg_shim" -version >"$dir/version.out" 2>"$dir/version.err" && rc=0 || rc=$?
check "a probe the pool answers: exit 0, stdout the answer, nothing on stderr" \
  bash -c "[ $rc = 0 ] && grep -q '^ffmpeg version ' '$dir/version.out' && [ ! -s '$dir/version.err' ]"
export FFPOOL_SHIM_LOG_FILE=$dir/shim.log
check "with shim.log_file: ffprobe's stderr is still ffprobe's" \
  same_stderr ffprobe_logged "$ffprobe_shim" -hide_banner "$clip" -- ffprobe -hide_banner "$clip"
"$ffmpeg_shim" -hide_banner -encoders >/dev/null 2>"$dir/encoders.err" || true
check "with shim.log_file: the log lines are in the file (ffprobe, probe), none on stderr" \
  bash -c "grep -q 'prog=ffprobe event=passthrough ' '$dir/shim.log' &&
           grep -q 'prog=ffmpeg event=probe probe=-encoders source=pool' '$dir/shim.log' &&
           [ ! -s '$dir/encoders.err' ]"
unset FFPOOL_SHIM_LOG_FILE

# ==== Jellyfin's device checks: no input, no output ====
check "VAAPI device check: the local ffmpeg's verbose stderr and exit status" \
  same_stderr vaapi "$ffmpeg_shim" -v verbose -hide_banner -init_hw_device vaapi=va:/dev/dri/renderD128 -- \
  ffmpeg -v verbose -hide_banner -init_hw_device vaapi=va:/dev/dri/renderD128
check "Vulkan device check: the CLI's verbose stderr and exit status, from the worker" \
  same_stderr vulkan "$ffmpeg_shim" -v verbose -hide_banner -init_hw_device vulkan=vk -- \
  ffmpeg -v verbose -hide_banner -init_hw_device vulkan=vk
check "DRM + Vulkan device check: the local ffmpeg's verbose stderr and exit status" \
  same_stderr drm_vulkan "$ffmpeg_shim" -v verbose -hide_banner -init_hw_device drm=dr:/dev/dri/renderD128 \
  -init_hw_device vulkan=vk@dr -- \
  ffmpeg -v verbose -hide_banner -init_hw_device drm=dr:/dev/dri/renderD128 -init_hw_device vulkan=vk@dr

# ==== ffprobe runs here, on Jellyfin's paths ====
media_info=(-analyzeduration 200M -probesize 1G -i "file:$clip" -threads 0 -v warning
  -print_format json -show_streams -show_chapters -show_format)
# shellcheck disable=SC2054 # the commas are ffprobe's
keyframes=(-fflags +genpts -v error -skip_frame nokey -show_entries format=duration
  -show_entries stream=duration -show_entries packet=pts_time,flags -select_streams v -of csv "$clip")
export FFPOOL_PATHS_MAP="$dir/media=/ffpool-absent-worker/media"
"$ffprobe_shim" "${media_info[@]}" >"$dir/info.shim" 2>&1 && rc=0 || rc=$?
ffprobe "${media_info[@]}" >"$dir/info.cli" 2>&1
check "ffprobe with paths.map: Jellyfin's media info is ffprobe's own (exit $rc)" \
  bash -c "[ $rc = 0 ] && grep -q '\"codec_name\": \"h264\"' '$dir/info.cli' && cmp -s '$dir/info.cli' '$dir/info.shim'"
"$ffprobe_shim" "${keyframes[@]}" >"$dir/keyframes.shim" 2>&1 && rc=0 || rc=$?
ffprobe "${keyframes[@]}" >"$dir/keyframes.cli" 2>&1
check "ffprobe with paths.map: Jellyfin's keyframe listing is ffprobe's own (exit $rc)" \
  bash -c "[ $rc = 0 ] && grep -q ',K' '$dir/keyframes.cli' && cmp -s '$dir/keyframes.cli' '$dir/keyframes.shim'"
unset FFPOOL_PATHS_MAP

# ==== start-up probes and the capabilities cache ====
probes=("-version" "-hide_banner -encoders" "-hide_banner -decoders" "-hide_banner -filters"
  "-hide_banner -hwaccels" "-h filter=scale" "-h bsf=h264_mp4toannexb")
# run_probes LABEL PROGRAM: every probe through PROGRAM, stdout and exit
# status into $dir/probes/LABEL.N; prints the seconds the series took.
run_probes() {
  local label=$1 program=$2 i rc started
  mkdir -p "$dir/probes"
  started=$(now)
  for i in "${!probes[@]}"; do
    # shellcheck disable=SC2086 # each probe is several words
    "$program" ${probes[i]} </dev/null >"$dir/probes/$label.$i" 2>/dev/null && rc=0 || rc=$?
    echo "exit $rc" >>"$dir/probes/$label.$i"
  done
  elapsed "$started"
}
# same_answers A B: every probe's output under label A equals B's.
same_answers() {
  local i
  for i in "${!probes[@]}"; do
    cmp -s "$dir/probes/$1.$i" "$dir/probes/$2.$i" || { say "probe '${probes[i]}' differs ($1/$2)"; return 1; }
  done
}

took=$(run_probes up "$ffmpeg_shim")
check "pool up: ${#probes[@]} probes answered by the pool (${took}s), the cache written" \
  bash -c "grep -q '^ffmpeg version' '$dir/probes/up.0' && grep -q 'libx264' '$dir/probes/up.1' &&
           head -c 14 '$FFPOOL_SHIM_CAPS_CACHE' | grep -q '^ffpool-caps 1'"
printf 'stale' >"$FFPOOL_SHIM_CAPS_CACHE"
"$ffmpeg_shim" -version >"$dir/probes/refresh.0" 2>/dev/null && echo "exit 0" >>"$dir/probes/refresh.0"
check "pool up: a stale cache is refreshed by the pool's answer" \
  bash -c "cmp -s '$dir/probes/up.0' '$dir/probes/refresh.0' &&
           head -c 14 '$FFPOOL_SHIM_CAPS_CACHE' | grep -q '^ffpool-caps 1'"

# No pool at this URL and nothing cached for it: one wait for the series.
nowhere=tcp://127.0.0.1:$(free_port)
wait_ms=3000
export FFPOOL_SHIM_PROBE_WAIT_MS=$wait_ms FFPOOL_SHIM_POOL_DOWN_MEMORY_MS=7000
export FFPOOL_SHIM_LOG_FILE=$dir/nopool.log
took=$(FFPOOL_SCHEDULER_URL=$nowhere run_probes nopool "$ffmpeg_shim")
run_probes local /usr/bin/ffmpeg >/dev/null
check "no pool, no cache: the local ffmpeg answers all ${#probes[@]} probes" same_answers nopool local
check "no pool, no cache: the series costs one wait of ${wait_ms} ms, not one each (${took}s)" \
  bash -c "awk 'BEGIN { exit !($took >= 2.9 && $took < 7) }' &&
           [ \$(grep -c 'event=pool_unavailable' '$dir/nopool.log') = 1 ]"
unset FFPOOL_SHIM_LOG_FILE
started=$(now)
"$ffmpeg_shim" -version >"$dir/probes/live.0" 2>/dev/null && echo "exit 0" >>"$dir/probes/live.0"
took=$(elapsed "$started")
check "the note about the absent pool does not hold for the live one (${took}s)" \
  bash -c "cmp -s '$dir/probes/up.0' '$dir/probes/live.0' && awk 'BEGIN { exit !($took < 1.5) }'"
# The note lapses: 7 s after it, the next probe tries (and waits) again.
note_at=$(stat -c %Y "$FFPOOL_SHIM_CAPS_CACHE.down")
while [ "$(date +%s)" -le $((note_at + 7)) ]; do sleep 0.2; done
started=$(now)
FFPOOL_SCHEDULER_URL=$nowhere "$ffmpeg_shim" -version >/dev/null 2>&1 || true
took=$(elapsed "$started")
check "after shim.pool_down_memory_ms the pool is tried again (waited ${took}s)" \
  bash -c "awk 'BEGIN { exit !($took >= 2.9) }'"
unset FFPOOL_SHIM_PROBE_WAIT_MS FFPOOL_SHIM_POOL_DOWN_MEMORY_MS
# Nowhere to note the outcome: each probe would wait again, so none waits.
started=$(now)
FFPOOL_SCHEDULER_URL=$nowhere FFPOOL_SHIM_CAPS_CACHE=$dir/absent/caps.cache \
  "$ffmpeg_shim" -version >"$dir/probes/unwritable.0" 2>/dev/null && rc=0 || rc=$?
took=$(elapsed "$started")
check "an unwritable cache folder: one try, no wait (${took}s), the local ffmpeg answers" \
  bash -c "[ $rc = 0 ] && echo 'exit 0' >>'$dir/probes/unwritable.0' &&
           cmp -s '$dir/probes/local.0' '$dir/probes/unwritable.0' && awk 'BEGIN { exit !($took < 4) }'"

# The scheduler goes away: the cache answers, the same bytes, quickly.
sched_pid=$(cat "$pool/scheduler.pid")
kill -TERM "$sched_pid"
for _ in $(seq 1 100); do kill -0 "$sched_pid" 2>/dev/null || break; sleep 0.05; done
export FFPOOL_SHIM_LOG_FILE=$dir/cached.log
took=$(run_probes cached "$ffmpeg_shim")
unset FFPOOL_SHIM_LOG_FILE
check "scheduler down, cache present: every probe answers as the pool did" same_answers cached up
check "scheduler down, cache present: ${#probes[@]} probes in ${took}s, one try of 2 s in all" \
  bash -c "awk 'BEGIN { exit !($took < 6) }' &&
           [ \$(grep -c 'event=probe .*source=cache' '$dir/cached.log') = ${#probes[@]} ] &&
           [ \$(grep -c 'event=pool_unavailable' '$dir/cached.log') = 1 ]"

# Jellyfin starts before the pool: a probe waits for the first worker.
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 0 --dir "$dir/pool0" >/dev/null 2>&1
url0=$(sed -n 's/^export FFPOOL_SCHEDULER_URL=//p' "$dir/pool0/env")
started=$(now)
FFPOOL_SCHEDULER_URL=$url0 FFPOOL_SHIM_CAPS_CACHE=$dir/cache/late.cache FFPOOL_SHIM_PROBE_WAIT_MS=30000 \
  "$ffmpeg_shim" -version >"$dir/probes/late.0" 2>/dev/null &
probe_pid=$!
sleep 2
check "no worker yet: the probe is still waiting after 2 s" alive "$probe_pid"
(
  # shellcheck disable=SC1091
  . "$dir/pool0/env"
  FFPOOL_WORKER_ID=late exec "$build/bin/ffpool-worker" >"$dir/pool0/worker-late.log" 2>&1 </dev/null
) &
late_pid=$!
rc=0; wait "$probe_pid" || rc=$?
took=$(elapsed "$started")
echo "exit $rc" >>"$dir/probes/late.0"
check "a worker registers: the waiting probe answers from the pool (${took}s, < 30 s)" \
  bash -c "cmp -s '$dir/probes/up.0' '$dir/probes/late.0' && awk 'BEGIN { exit !($took >= 2 && $took < 29) }' &&
           head -c 14 '$dir/cache/late.cache' | grep -q '^ffpool-caps 1'"

e2e_finish "$dir"/*.log "$pool"/*.log
