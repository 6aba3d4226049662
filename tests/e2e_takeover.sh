#!/usr/bin/env bash
# e2e_takeover.sh -- the whole promise, end to end: a real Jellyfin HLS
# command line through the shim, a local pool (redis-server, scheduler, two
# workers), a SIGKILL of the worker holding the job halfway through, and the
# other worker finishing the stream from the next segment, with the times a
# player reads from each segment those of the same line run without a kill.
#
#   tests/e2e_takeover.sh [--corpus FILE|NUMBER] [--drop OPTION] [--set OPTION=VALUE]
#                         [--duration S] [--size WxH] [--hevc] [--dir DIR]
#                         [--kill-at-segment N] [--subtitles] [--summary] [--keep]
#
# --corpus names the Jellyfin line (a file, or the number of one in
# tests/corpus; 003 by default: x264 into MPEG-TS); --drop and --set adjust
# it (tests/jellyfin_argv.py), e.g. --drop -ss --set -start_number=0 for a
# seek line run from the start. --hevc makes the clip H.265 (for lines that
# copy HEVC). --subtitles adds a DVD (bitmap) subtitle track to the clip as
# stream 2, for lines that burn it in with -filter_complex; the survivor's
# first segment must then show the subtitle box where the clip has one.
# Leaves DIR/result (key=value: the output's layout and the job's record)
# for tests that play the output (tests/e2e_player.sh).
#
# First the line runs once uninterrupted through the same pool (into
# DIR/reference), then again (into DIR/transcodes) with the kill: the worker
# holding the job is SIGKILLed once segment N (--kill-at-segment, 2 by
# default) is published. So that the kill lands mid-stream on any machine
# (a stream copy of a short clip is over in well under a second), the
# workers' temporary file for segment N+2 is a FIFO: a worker that gets
# there blocks opening it, as on a stalled share, and publishes nothing
# past N+1. The survivor removes it with the other stale temporary files.
#
# Exits 0 only if every check passes:
#   - both shims exit 0, the second having waited across the takeover;
#   - segment count = ceil(duration / hls_time), indexes contiguous from
#     start_number, no temporary files left;
#   - every segment decodes on its own (an fMP4 one after its init segment),
#     and the playlist decodes end to end with `-v error` printing nothing;
#   - every video frame of the clip is in the output once, and the output
#     duration is within one frame of the clip's;
#   - each segment's first and last presentation time and packet count,
#     video and audio, read as a player reads them, equal those of the same
#     segment of the uninterrupted run within 1 ms (e2e_check_segment_times
#     in e2e_lib.sh), and each segment continues the previous one's timeline;
#   - each segment index was published by exactly one owner, the killed
#     worker's and the survivor's segments meet without a gap;
#   - the job's Redis record ends `done` with one takeover.
# Prints `takeover_gap_s=X` (kill to the next new segment on disk).
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

duration=24
size=640x360
rate=25
kill_at=2
summary=0
subtitles=0
hevc=0
argv_options=()
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --drop) argv_options+=("--drop=$2"); shift 2 ;;
    --set) argv_options+=("--set=$2"); shift 2 ;;
    --hevc) hevc=1; shift ;;
    --dir) dir=$2; shift 2 ;;
    --kill-at-segment) kill_at=$2; shift 2 ;;
    --subtitles) subtitles=1; shift ;;
    --summary) summary=1; shift ;;
    --keep) keep=1; shift ;;
    *) echo "e2e_takeover: unknown option $1" >&2; exit 2 ;;
  esac
done
case $corpus in
  "") corpus=$(e2e_corpus 003) ;;
  [0-9]*) [ -f "$corpus" ] || corpus=$(e2e_corpus "$corpus") ;;
esac
[ -f "$corpus" ] || { echo "e2e_takeover: corpus line not found ($corpus)" >&2; exit 2; }
e2e_init e2e_takeover
say "line $(basename "$corpus")${argv_options[*]:+ (${argv_options[*]})}; ${duration}s clip at $size"
mkdir -p "$dir/transcodes" "$dir/reference"
shim_pid=""
stop_shim() { if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi; }
e2e_at_exit stop_shim
holds=()
remove_holds() { rm -f "${holds[@]}"; }
e2e_at_exit remove_holds

# ---- a clip shaped like Jellyfin's input: mkv, video stream 0, audio 1 ----
clip=$dir/clip.mkv
video_codec=(-c:v libx264 -preset veryfast)
[ "$hevc" = 0 ] || video_codec=(-c:v libx265 -preset ultrafast -x265-params log-level=error)
# A keyframe every 2 s: a stream copy cuts its segments there.
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=$size:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$duration" \
  "${video_codec[@]}" -g $((rate * 2)) -pix_fmt yuv420p -c:a aac -b:a 128k "$clip"
if [ "$subtitles" = 1 ]; then
  "$build/tests/tools/subtitle_clip" "$dir/subtitles.mkv" "$duration" "${size%x*}" "${size#*x}"
  ffmpeg -nostdin -v error -i "$clip" -i "$dir/subtitles.mkv" -map 0 -map 1 -c copy "$dir/clip-subs.mkv"
  mv "$dir/clip-subs.mkv" "$clip"
fi
clip_frames=$(ffprobe -v error -count_packets -select_streams v:0 \
  -show_entries stream=nb_read_packets -of csv=p=0 "$clip")

# ---- the pool ----
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 2 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"

wait_for_file() { # wait_for_file PATH SECONDS
  local n=$(( $2 * 20 ))
  for ((k = 0; k < n; k++)); do [ -e "$1" ] && return 0; sleep 0.05; done
  return 1
}

# wait_shim SECONDS: waits for the shim; sets shim_rc (124: killed when
# still running after SECONDS).
wait_shim() {
  shim_rc=0
  for ((k = 0; k < $1 * 20; k++)); do kill -0 "$shim_pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$shim_pid" 2>/dev/null; then
    say "FAIL shim still running $1 s on"; failures=$((failures + 1))
    kill -KILL "$shim_pid"; shim_rc=124
  fi
  wait "$shim_pid" || shim_rc=$?
  shim_pid=""
}

# ---- the uninterrupted run: what every segment must look like ----
e2e_shim_args "$clip" "$dir/reference" "${argv_options[@]}"
[ -n "$hls_time" ] || hls_time=3
expected=$(( (duration + hls_time - 1) / hls_time ))
"$build/jellyfin/ffmpeg" "${args[@]}" </dev/null 2>"$dir/reference.log" &
shim_pid=$!
wait_shim 120
check "uninterrupted run: shim exited 0 (rc=$shim_rc)" [ "$shim_rc" = 0 ]
count=$(segment_count)
check "uninterrupted run: $count segments = ceil($duration/$hls_time) = $expected" [ "$count" = "$expected" ]
e2e_segment_times "$dir/reference.times" "$pattern" "$init" "$start_number" "$expected"
e2e_check_timeline "uninterrupted run" "$dir/reference.times"
reference_job=$(e2e_job_id "$dir/reference.log")

# ---- the shim, exactly as Jellyfin runs it (stdin kept open for `q`) ----
e2e_shim_args "$clip" "$dir/transcodes" "${argv_options[@]}"
[ -n "$hls_time" ] || hls_time=3
hold=$((start_number + kill_at + 2))
if [ $((kill_at + 2)) -lt "$expected" ]; then
  for f in "$pool"/worker-*.pid; do
    holds+=("$(segment_path "$hold").$(basename "$f" .pid).e1.tmp")
    mkfifo "${holds[${#holds[@]}-1]}"
  done
fi

mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"
started=$(now)
"$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/shim.log" &
shim_pid=$!

# Jellyfin's readiness rule: segment N is served once N+1 exists.
if ! wait_for_file "$(segment_path $((start_number + kill_at + 1)))" 120; then
  say "FAIL segment $((start_number + kill_at + 1)) never appeared"; failures=1
  tail -n 20 "$dir/shim.log" "$pool"/worker-*.log >&2 || true
  exit 1
fi
job_id=$(e2e_job_id "$dir/shim.log")
own_job=0
[ -z "$job_id" ] || [ "$job_id" = "$reference_job" ] || own_job=1
check "the run with the kill is a job of its own ($job_id; uninterrupted: $reference_job)" [ "$own_job" = 1 ]
owner=$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job_id" owner)
victim_pid=$(cat "$pool/$owner.pid")
last_before=$(segment_count)
kill -KILL "$victim_pid"
killed=$(now)
say "SIGKILLed $owner (pid $victim_pid) holding $job_id after $last_before segments"

# ---- the shim must carry on through the takeover and succeed ----
wait_shim 120
finished=$(now)

# ---- checks ----
check "shim exited 0 (rc=$shim_rc)" [ "$shim_rc" = 0 ]
count=$(segment_count)
check "segment count $count = ceil($duration/$hls_time) = $expected" [ "$count" = "$expected" ]
missing=0
for ((n = start_number; n < start_number + expected; n++)); do
  [ -s "$(segment_path $n)" ] || missing=$((missing + 1))
done
check "no segment index missing" [ "$missing" = 0 ]
check "no temporary files left" [ -z "$(find "$dir/transcodes" -name '*.tmp')" ]

bad=0
for ((n = start_number; n < start_number + expected; n++)); do
  out=$(segment_decode_errors $n)
  [ -z "$out" ] || { bad=$((bad + 1)); say "segment $n: $out"; }
done
check "every segment decodes without errors${init:+ after the init segment}" [ "$bad" = 0 ]
out=$(timeout 60 ffmpeg -nostdin -v error -i "$playlist" -f null - 2>&1 || echo "exit $?")
check "playlist decodes end to end with -v error printing nothing" [ -z "$out" ]

read -r out_frames first_pts last_pts < <(timeout 60 ffprobe -v error -select_streams v:0 \
  -show_entries packet=pts_time -of csv=p=0 "$playlist" |
  awk -F, 'NF { n++; t=$1+0; if (n==1 || t<min) min=t; if (n==1 || t>max) max=t }
           END { printf "%d %.6f %.6f\n", n, min, max }')
check "output has every frame of the clip ($out_frames of $clip_frames)" [ "$out_frames" = "$clip_frames" ]
span_ok=$(awk -v a="$first_pts" -v b="$last_pts" -v r="$rate" -v d="$duration" \
  'BEGIN { s = b - a + 1/r; print (s - d < 1/r + 1e-6 && d - s < 1/r + 1e-6) ? 1 : 0 }')
check "output duration within one frame of ${duration}s (first pts $first_pts, last $last_pts)" [ "$span_ok" = 1 ]

# What a player reads, segment by segment, against the uninterrupted run.
e2e_segment_times "$dir/transcodes.times" "$pattern" "$init" "$start_number" "$expected"
e2e_check_segment_times "segment times" "$dir/reference.times" "$dir/transcodes.times"
e2e_check_timeline "taken-over run" "$dir/transcodes.times"

# Who published what: the workers log one `event=segment` line per segment.
grep -h "event=segment job=$job_id " "$pool"/worker-*.log |
  sed -n 's/.* segment=\([0-9]*\) epoch=\([0-9]*\) worker=\([^ ]*\) .*/\1 \2 \3/p' | sort -n >"$dir/owners"
dups=$(cut -d' ' -f1 "$dir/owners" | uniq -d | wc -l)
check "each segment index published exactly once" [ "$dups" = 0 ]
# A worker logs a segment after its checkpoint, so the SIGKILL can land
# between the two: the victim's last segment may be published, recorded and
# kept (the survivor starts after it) without its log line. Any other
# unlogged index is a failure.
logged=$(wc -l <"$dir/owners")
unlogged_ok=0
if [ "$logged" = "$expected" ]; then
  unlogged_ok=1
elif [ "$logged" = $((expected - 1)) ]; then
  victim_last=$(awk -v w="$owner" '$3 == w { n = $1 } END { print n }' "$dir/owners")
  survivor_first=$(awk -v w="$owner" '$3 != w { print $1; exit }' "$dir/owners")
  if [ -n "$victim_last" ] && [ -n "$survivor_first" ] &&
    [ "$survivor_first" = $((victim_last + 2)) ]; then
    unlogged_ok=1
    say "segment $((victim_last + 1)) was published by $owner and not logged (killed in between)"
  fi
fi
check "every segment's publication was logged ($logged of $expected; the killed worker's last may be unlogged)" \
  [ "$unlogged_ok" = 1 ]
owners=$(cut -d' ' -f3 "$dir/owners" | uniq | tr '\n' ' ')
check "killed worker then survivor wrote the stream, each a contiguous run ($owners)" \
  [ "$(cut -d' ' -f3 "$dir/owners" | uniq | wc -l)" = 2 ]
state=$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job_id" state)
takeovers=$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job_id" takeovers)
check "job record ends done (state=$state) with one takeover (takeovers=$takeovers)" \
  [ "$state:$takeovers" = done:1 ]

# Gap: from the kill to the first segment the survivor put on disk.
first_new=$(awk -v w="$owner" '$3 != w { print $1; exit }' "$dir/owners")
gap=nan
if [ -n "$first_new" ]; then
  mtime=$(stat -c %.9Y "$(segment_path "$first_new")")
  gap=$(elapsed "$killed" "$mtime")
fi
echo "takeover_gap_s=$gap"

# Burn-in: the survivor's first segment is the one the ffmpeg CLI makes from
# the same line (PSNR; a missing subtitle box scores about 20 dB).
if [ "$subtitles" = 1 ] && [ -n "$first_new" ]; then
  mkdir -p "$dir/cli"
  mapfile -d '' cli_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$clip" \
    --outdir "$dir/cli" "${argv_options[@]}")
  ffmpeg -nostdin -v error "${cli_args[@]}" </dev/null
  ours=$(segment_path "$first_new")
  theirs=$dir/cli/$(basename "$ours")
  psnr=$(ffmpeg -nostdin -hide_banner -i "$theirs" -i "$ours" \
    -lavfi '[0:v]setpts=N[a];[1:v]setpts=N[b];[a][b]psnr' -f null - 2>&1 |
    sed -n 's/.*average:\([0-9.inf]*\).*/\1/p' | tail -n 1)
  [ "$psnr" = inf ] && psnr=100
  check "the survivor's first segment ($first_new) burns in the subtitle as the CLI does (PSNR ${psnr:-none} dB >= 30)" \
    awk -v p="${psnr:-0}" 'BEGIN { exit !(p >= 30) }'
fi

# For tests that go on with this output (tests/e2e_player.sh).
cat >"$dir/result" <<EOF
duration=$duration
rate=$rate
hls_time=$hls_time
start_number=$start_number
expected=$expected
segment_type=$segment_type
pattern=$pattern
init=$init
reference_pattern=$dir/reference/$(basename "$pattern")
reference_init=${init:+$dir/reference/$(basename "$init")}
state=$state
takeovers=$takeovers
victim=$owner
survivor_first=$first_new
EOF

if [ "$summary" = 1 ]; then
  echo
  echo "segment  worker     epoch  written_at_s  bytes     video pts (first..last)"
  while read -r n epoch who; do
    p=$(segment_path "$n")
    printf '%-8s %-10s %-6s %-13s %-9s %s\n' "$n" "$who" "$epoch" \
      "$(awk -v a="$started" -v b="$(stat -c %.9Y "$p")" 'BEGIN { printf "%.2f", b - a }')" \
      "$(stat -c %s "$p")" \
      "$(awk -v n="$n" '$1 == n && $2 == "video" { print $3 ".." $4 }' "$dir/transcodes.times")"
  done <"$dir/owners"
  echo
  echo "killed $owner at $(awk -v a="$started" -v b="$killed" 'BEGIN { printf "%.2f", b - a }') s;" \
    "the survivor's first new segment ($first_new) appeared $gap s later" \
    "(lease TTL ${FFPOOL_LEASE_TTL_MS} ms)."
  echo "total $(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.2f", b - a }') s for a ${duration} s clip;" \
    "$count segments; output $out_frames/$clip_frames frames, pts $first_pts..$last_pts."
fi

e2e_finish "$dir/shim.log" "$pool"/*.log
