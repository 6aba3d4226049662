#!/usr/bin/env bash
# e2e_hostile.sh -- nothing a file can do takes the pool down. Generates
# hostile inputs (never committed), submits each through the shim with a real
# Jellyfin command line to a pool of two workers while a valid stream is being
# transcoded, and checks that:
#   - every hostile job ends with a clear error: the shim exits non-zero with
#     an "Error: ..." line, and the job's Redis record is `failed` with the
#     error text kept (inputs that libav legitimately transcodes -- a file
#     truncated or corrupted mid-stream -- may instead end `done`, and then
#     every segment they produced must decode);
#   - no daemon died (redis, scheduler, both workers still alive);
#   - no lease is left behind (ZCARD ffpool:leases = 0) and no job is still
#     queued or running;
#   - the concurrent valid stream is complete and intact: every segment
#     decodes, and every frame of the clip is in the output.
#
#   tests/e2e_hostile.sh [--dir DIR] [--keep] [--noise-mb N]
#
# Prints one line per hostile input with the job's final state and error.
# A worker that dies on an input (a SIGSEGV inside libav) fails the test and
# its log tail is printed: that is what per-job process isolation is for.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
corpus=$(ls "$here"/tests/corpus/003-*.txt 2>/dev/null | head -n 1)
dir=""
keep=0
noise_mb=50
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --noise-mb) noise_mb=$2; shift 2 ;;
    *) echo "e2e_hostile: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$corpus" ] && [ -f "$corpus" ] || { echo "e2e_hostile: corpus line not found (tests/corpus/003-*.txt)" >&2; exit 2; }
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-hostile.XXXXXX")
mkdir -p "$dir/media"
dir=$(cd "$dir" && pwd)
pool=$dir/pool
failures=0
shim_pids=()

say() { echo "e2e_hostile: $*" >&2; }
check() { # check DESCRIPTION COMMAND...: records a failed check without stopping
  local what=$1; shift
  if "$@"; then say "ok   $what"; else say "FAIL $what"; failures=$((failures + 1)); fi
}
cleanup() {
  local pid
  for pid in "${shim_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$pool" >/dev/null 2>&1 || true
  exec 3>&- 2>/dev/null || true
  if [ "$keep" = 0 ] && [ "$failures" = 0 ]; then rm -rf "$dir"; else say "kept $dir"; fi
}
trap cleanup EXIT

# ---- media: one valid clip, and the hostile ones derived from it ----
m=$dir/media
rate=25
valid_duration=90
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$valid_duration" \
  -c:v libx264 -preset veryfast -g $((rate * 2)) -pix_fmt yuv420p -c:a aac -b:a 96k "$m/valid.mkv"
valid_frames=$(ffprobe -v error -count_packets -select_streams v:0 \
  -show_entries stream=nb_read_packets -of csv=p=0 "$m/valid.mkv")
ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 12 \
  -c:v libx264 -preset veryfast -g $((rate * 2)) -pix_fmt yuv420p -c:a aac -b:a 96k "$m/small.mkv"
ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 6 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 96k "$m/small.mp4"
ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 6 \
  -c:v mjpeg -q:v 5 -pix_fmt yuvj420p -c:a aac -b:a 96k "$m/mjpeg.mkv"
printf '1\n00:00:00,000 --> 00:00:02,000\nno audio, no video\n' >"$m/only.srt"
ffmpeg -v error -i "$m/only.srt" -c:s srt "$m/subtitles-only.mkv"

: >"$m/zero-length.mkv"
size=$(stat -c %s "$m/small.mkv")
head -c $((size / 2)) "$m/small.mkv" >"$m/truncated.mkv"
cp "$m/small.mkv" "$m/flipped.mkv"
# 64 KiB of random bytes over the middle of the file: headers intact,
# clusters and frames corrupted.
dd if=/dev/urandom of="$m/flipped.mkv" bs=1 count=65536 seek=$((size / 2 - 32768)) \
  conv=notrunc status=none
# Matroska header (up to and including the first cluster's own header), then
# random bytes: no frame decodes; and the same with 2 KiB of the first
# cluster kept, so that a damaged keyframe may decode. Both must fail.
python3 - "$m/small.mkv" "$m/header-garbage.mkv" "$m/frame-garbage.mkv" <<'EOF'
import os, sys
data = open(sys.argv[1], 'rb').read()
cluster = data.find(b'\x1f\x43\xb6\x75')
assert cluster > 0, 'no Matroska cluster found'
for path, keep in ((sys.argv[2], 16), (sys.argv[3], 2048)):
    open(path, 'wb').write(data[:cluster + keep] + os.urandom(256 * 1024))
EOF
cp "$m/small.mp4" "$m/mp4-named.mkv"
# Every JPEG frame claims 16000x16000 (the container still says 320x180):
# 384 MB per decoded frame if the decoder believed it.
python3 - "$m/mjpeg.mkv" "$m/absurd-jpeg.mkv" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
sof = b'\xff\xc0\x00\x11\x08\x00\xb4\x01\x40'  # SOF0, 8 bit, 180 x 320
assert data.count(sof) > 0, 'no SOF0 marker for 320x180 found'
open(sys.argv[2], 'wb').write(data.replace(sof, b'\xff\xc0\x00\x11\x08\x3e\x80\x3e\x80'))
EOF
# Raw video whose Matroska header says 65535x255 (the frames hold 320x180):
# the decoder would expect 25 MB per frame.
ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 1 \
  -c:v rawvideo -pix_fmt yuv420p -c:a pcm_s16le "$m/raw.mkv"
python3 - "$m/raw.mkv" "$m/absurd-header.mkv" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
for old, new in ((b'\xb0\x82\x01\x40', b'\xb0\x82\xff\xff'),  # PixelWidth 320 -> 65535
                 (b'\xba\x81\xb4', b'\xba\x81\xff')):           # PixelHeight 180 -> 255
    at = data.find(old)
    assert at > 0, 'Matroska PixelWidth/PixelHeight not found'
    data = data[:at] + new + data[at + len(old):]
open(sys.argv[2], 'wb').write(data)
EOF
{ for _ in $(seq 1 200); do echo "This is a text file, not a film. Lorem ipsum dolor sit amet."; done; } \
  >"$m/text.mkv"
head -c $((noise_mb * 1024 * 1024)) /dev/urandom >"$m/noise.mkv"

# name file expectation argv-mode
#   expectation: fail (must end failed) or any (failed, or done and decodable)
#   argv-mode:   jellyfin (the corpus line as is: -f matroska,webm, video and
#                audio mapped) or probe (the same without the forced -f)
cases=(
  "zero-length      zero-length.mkv      fail jellyfin"
  "truncated        truncated.mkv        any  jellyfin"
  "flipped-bytes    flipped.mkv          any  jellyfin"
  "header-garbage   header-garbage.mkv   fail jellyfin"
  "frame-garbage    frame-garbage.mkv    fail jellyfin"
  "wrong-extension  mp4-named.mkv        fail jellyfin"
  "wrong-ext-probed mp4-named.mkv        any  probe"
  "absurd-jpeg-dims absurd-jpeg.mkv      fail jellyfin"
  "absurd-header    absurd-header.mkv    fail jellyfin"
  "no-av-streams    subtitles-only.mkv   fail jellyfin"
  "text-file        text.mkv             fail jellyfin"
  "text-file-probed text.mkv             fail probe"
  "noise-${noise_mb}MB      noise.mkv            fail jellyfin"
  "noise-probed     noise.mkv            fail probe"
)

# ---- the pool ----
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 2 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
rcli() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }

# jellyfin_args NAME INPUT MODE: fills args[] with the corpus line for INPUT,
# writing into $dir/out/NAME.
jellyfin_args() {
  local name=$1 input=$2 mode=$3 a i
  mkdir -p "$dir/out/$name"
  mapfile -d '' a < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$input" \
    --outdir "$dir/out/$name")
  args=()
  for ((i = 0; i < ${#a[@]}; i++)); do
    case $mode:${a[i]} in
      probe:-f) [ "${a[i+1]}" = matroska,webm ] && { i=$((i + 1)); continue; } ;;
    esac
    args+=("${a[i]}")
  done
}

mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"   # held open and never written: the shims' stdin stays open

# start_shim NAME: runs the shim with args[] in the background.
start_shim() {
  "$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/out/$1.log" &
  shim_pids+=($!)
  eval "pid_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)=$!"
}
pid_of() { eval "echo \$pid_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)"; }
job_of() { sed -n 's/^ffpool: job \([^ ]*\) for .*/\1/p' "$dir/out/$1.log" | head -n 1; }

# wait_shim NAME SECONDS: waits for the shim; sets rc to its exit status
# (124 when it had to be killed). Not in a subshell: only this shell can wait.
wait_shim() {
  local pid k
  pid=$(pid_of "$1")
  rc=0
  for ((k = 0; k < $2 * 10; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rc=124
    return
  fi
  wait "$pid" 2>/dev/null || rc=$?
}

# ---- the valid stream first, then every hostile input while it runs ----
jellyfin_args valid "$m/valid.mkv" jellyfin
valid_args=("${args[@]}")
start_shim valid
for _ in $(seq 1 200); do [ -n "$(job_of valid)" ] && break; sleep 0.05; done
valid_job=$(job_of valid)
[ -n "$valid_job" ] || { say "FAIL the valid job was not submitted"; failures=1; cat "$dir/out/valid.log" >&2; exit 1; }
for c in "${cases[@]}"; do
  read -r name file _ mode <<<"$c"
  jellyfin_args "$name" "$m/$file" "$mode"
  start_shim "$name"
done

# ---- results ----
printf '%-18s %-6s %-8s %s\n' input rc state error
for c in "${cases[@]}"; do
  read -r name file expect mode <<<"$c"
  wait_shim "$name" 180
  job=$(job_of "$name")
  state="" error=""
  if [ -n "$job" ]; then
    state=$(rcli HGET "ffpool:job:$job" state)
    error=$(rcli HGET "ffpool:job:$job" error)
  fi
  printf '%-18s %-6s %-8s %s\n' "$name" "$rc" "${state:-none}" "${error:-$(grep -m1 '^Error' "$dir/out/$name.log" || true)}"
  if [ "$expect" = any ] && [ "$rc" = 0 ]; then
    check "$name: shim exit 0 and job done" [ "$state" = done ]
    bad=0
    for s in "$dir/out/$name"/*.ts; do
      [ -e "$s" ] || { bad=1; break; }
      out=$(ffmpeg -v error -i "$s" -f null - 2>&1 || echo "exit $?")
      [ -z "$out" ] || bad=$((bad + 1))
    done
    check "$name: every segment it produced decodes" [ "$bad" = 0 ]
    continue
  fi
  check "$name: shim exits non-zero (rc=$rc), not by time-out" [ "$rc" != 0 -a "$rc" != 124 ]
  check "$name: shim prints an Error: line" grep -q '^Error: ..*' "$dir/out/$name.log"
  if [ -n "$job" ]; then
    check "$name: job record ends failed (state=$state)" [ "$state" = failed ]
    check "$name: job record keeps the error text" [ -n "$error" ]
  else
    # Refused before submission (the scheduler or shim said why): no job, no lease.
    check "$name: refused before submission with a reason" grep -q '^Error: ..*' "$dir/out/$name.log"
  fi
done

# ---- the valid stream ----
wait_shim valid 240
check "valid stream: shim exited 0 (rc=$rc)" [ "$rc" = 0 ]
playlist=${valid_args[${#valid_args[@]}-1]}
count=$(ls "$dir/out/valid" | grep -c '\.ts$' || true)
check "valid stream: segment count $count = $((valid_duration / 3))" [ "$count" = $((valid_duration / 3)) ]
bad=0
for s in "$dir/out/valid"/*.ts; do
  out=$(ffmpeg -v error -i "$s" -f null - 2>&1 || echo "exit $?")
  [ -z "$out" ] || { bad=$((bad + 1)); say "$(basename "$s"): $out"; }
done
check "valid stream: every segment decodes" [ "$bad" = 0 ]
frames=$(ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 "$playlist" | grep -c . || true)
check "valid stream: every frame of the clip is there ($frames of $valid_frames)" [ "$frames" = "$valid_frames" ]
check "valid stream: job record done" [ "$(rcli HGET "ffpool:job:$valid_job" state)" = done ]

# ---- the pool survived ----
for f in "$pool"/*.pid; do
  name=$(basename "$f" .pid)
  if kill -0 "$(cat "$f")" 2>/dev/null; then
    say "ok   $name still running"
  else
    say "FAIL $name died; its log ends:"; failures=$((failures + 1))
    tail -n 20 "$pool/$name.log" >&2 || true
  fi
done
leases=$(rcli ZCARD ffpool:leases)
check "no lease left behind (ZCARD ffpool:leases = $leases)" [ "$leases" = 0 ]
queued=$(rcli LLEN ffpool:queue)
check "nothing left queued (LLEN ffpool:queue = $queued)" [ "$queued" = 0 ]
running=0
while read -r key; do
  [ -n "$key" ] || continue
  case $(rcli HGET "$key" state) in queued | running) running=$((running + 1)) ;; esac
done < <(rcli --scan --pattern 'ffpool:job:*' | grep -v ':segments$' || true)
check "no job still queued or running ($running)" [ "$running" = 0 ]
# Stopped first, so that a LeakSanitizer report at exit (make asan) is in the logs too.
FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$pool" >/dev/null 2>&1 || true
crashes=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Aborted' "$pool"/*.log 2>/dev/null || true)
check "no sanitizer report or crash in any daemon log, through shutdown" [ -z "$crashes" ]

if [ "$failures" != 0 ]; then
  say "$failures check(s) failed; logs:"
  tail -n 15 "$pool"/*.log >&2 || true
  exit 1
fi
say "all checks passed"
