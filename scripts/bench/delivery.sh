#!/usr/bin/env bash
# delivery.sh -- segments delivered through the shim (shim.delivery: shim)
# against the shared-folder mode, in the same run, on loopback, one worker:
#   1. delivery latency: per segment, from the worker's segment_made log
#      line (the segment complete in its spool) to the shim's
#      segment_delivered line (renamed into Jellyfin's folder), for a 1080p
#      stream copy (tests/corpus/018 with -hls_time 3: the source's 1080p
#      H.264 at 8 Mbit/s into 3 s MPEG-TS segments);
#   2. throughput through one shim: a 4K remux of a high-bitrate clip (the
#      same line), bytes written over the job's wall time, shim and shared;
#   3. time to first segment: exec to segment 0 on disk (a transcode:
#      tests/corpus/002, 1080p to 720p x264), shim and shared, alternating;
#   4. a progressive output through one shim: the 4K clip remuxed into one
#      Matroska file (tests/corpus/132 without its -ss), bytes over wall time.
#   scripts/bench/delivery.sh [RUNS]   (default 5)
# Prints a markdown section for BENCHMARKS.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
runs=${1:-5}
mkdir -p "$build/bench"
clip_1080=$build/bench/delivery_1080p.mkv
clip_4k=$build/bench/delivery_4k.mkv
if [ ! -s "$clip_1080" ]; then
  ffmpeg -v error -f lavfi -i "testsrc2=size=1920x1080:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 \
    -vf "noise=alls=6:allf=t" -c:v libx264 -preset veryfast -b:v 8M -maxrate 10M -bufsize 16M \
    -g 50 -pix_fmt yuv420p -c:a aac -b:a 128k "$clip_1080.tmp.mkv" && mv "$clip_1080.tmp.mkv" "$clip_1080"
fi
if [ ! -s "$clip_4k" ]; then
  ffmpeg -v error -f lavfi -i "testsrc2=size=3840x2160:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 12 \
    -vf "noise=alls=20:allf=t" -c:v libx264 -preset ultrafast -crf 16 -g 50 -pix_fmt yuv420p \
    -c:a aac -b:a 128k "$clip_4k.tmp.mkv" && mv "$clip_4k.tmp.mkv" "$clip_4k"
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench-delivery.XXXXXX")
cleanup() { FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$dir/pool" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
export FFPOOL_WORKER_SPOOL_DIR=$dir/spool
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$dir/pool" >/dev/null
# shellcheck disable=SC1091
. "$dir/pool/env"

# run MODE CORPUS CLIP NAME: one shim run; prints "seconds_to_segment0 total_seconds bytes".
run() {
  local mode=$1 corpus=$2 clip=$3 out=$dir/$4 start first="" end
  rm -rf "$out" && mkdir -p "$out"
  mapfile -d '' args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$clip" \
    --outdir "$out" --drop=-ss --set=-start_number=0 --set=-hls_time=3)
  start=$(date +%s.%N)
  FFPOOL_SHIM_DELIVERY=$mode "$build/jellyfin/ffmpeg" "${args[@]}" </dev/null 2>"$out.log" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$first" ] && [ -n "$(find "$out" -name '*.ts' -size +0 2>/dev/null)" ]; then
      first=$(date +%s.%N)
    fi
    sleep 0.005
  done
  wait "$pid"
  end=$(date +%s.%N)
  [ -n "$first" ] || first=$end
  awk -v s="$start" -v f="$first" -v e="$end" -v b="$(du -sb "$out" | cut -f1)" \
    'BEGIN { printf "%.3f %.3f %d\n", f - s, e - s, b }'
}
# progressive MODE NAME: one progressive remux; prints "total_seconds bytes".
progressive() {
  local mode=$1 out=$dir/$2 start end
  rm -rf "$out" && mkdir -p "$out"
  mapfile -d '' args < <(python3 "$here/tests/jellyfin_argv.py" "$c132" --input "$clip_4k" --drop=-ss \
    --outdir "$out")
  start=$(date +%s.%N)
  FFPOOL_SHIM_DELIVERY=$mode "$build/jellyfin/ffmpeg" "${args[@]}" </dev/null 2>"$out.log"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v b="$(du -sb "$out" | cut -f1)" 'BEGIN { printf "%.3f %d\n", e - s, b }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
c018=$(find "$here/tests/corpus" -name "018-*.txt" | head -n 1)
c002=$(find "$here/tests/corpus" -name "002-*.txt" | head -n 1)
c132=$(find "$here/tests/corpus" -name "132-*.txt" | head -n 1)

# 1. latency, from the two logs (same clock, ms resolution)
: >"$dir/latency"
for ((r = 0; r < runs; r++)); do
  run shim "$c018" "$clip_1080" lat >/dev/null
  python3 - "$dir/lat.log" "$dir/pool/worker-1.log" >>"$dir/latency" <<'PY'
import re, sys, datetime
def stamps(path, event):
    out = {}
    for line in open(path, errors="replace"):
        for m in re.finditer(r"ts=(\S+) level=info prog=\S+ event=%s job=(\S+) segment=(\d+)" % event, line):
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
            out[(m.group(2), int(m.group(3)))] = t
    return out
made, got = stamps(sys.argv[2], "segment_made"), stamps(sys.argv[1], "segment_delivered")
for key in got:
    if key in made:
        print("%.1f" % ((got[key] - made[key]) * 1000))
PY
done
seg_bytes=$(find "$dir/lat" -name '*.ts' -printf '%s\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

# 2. and 3., alternating modes
: >"$dir/remux.shared"; : >"$dir/remux.shim"; : >"$dir/first.shared"; : >"$dir/first.shim"
: >"$dir/file.shared"; : >"$dir/file.shim"
for ((r = 0; r < runs; r++)); do
  for mode in shared shim; do
    read -r _ total bytes < <(run "$mode" "$c018" "$clip_4k" "remux-$mode")
    awk -v t="$total" -v b="$bytes" 'BEGIN { printf "%.1f\n", b * 8 / t / 1e6 }' >>"$dir/remux.$mode"
    read -r first _ _ < <(run "$mode" "$c002" "$clip_1080" "first-$mode")
    echo "$first" >>"$dir/first.$mode"
    read -r total bytes < <(progressive "$mode" "file-$mode")
    awk -v t="$total" -v b="$bytes" 'BEGIN { printf "%.1f\n", b * 8 / t / 1e6 }' >>"$dir/file.$mode"
  done
done
remux_bytes=$(du -sb "$dir/remux-shim" | cut -f1)
file_bytes=$(du -sb "$dir/file-shim" | cut -f1)
file_same="sizes differ"
[ "$file_bytes" != "$(du -sb "$dir/file-shared" | cut -f1)" ] || file_same="the same size"
cat <<MD
### Delivery through the shim against the shared folder ($runs runs each, one worker, loopback)

\`scripts/bench/delivery.sh $runs\` on $(nproc) cores ($(uname -m)); commit $(git -C "$here" rev-parse --short HEAD).

| measure | shared folder | through the shim |
|---|---|---|
| segment complete on the worker -> in Jellyfin's folder, 1080p copy, median segment $((seg_bytes / 1024)) kB (ms: median / worst of $(wc -l <"$dir/latency")) | 0 (written in place) | $(median <"$dir/latency") / $(sort -g "$dir/latency" | tail -n 1) |
| 4K remux, $((remux_bytes / 1048576)) MB, Mbit/s written (median) | $(median <"$dir/remux.shared") | $(median <"$dir/remux.shim") |
| time to first segment, 1080p -> 720p x264 (s, median) | $(median <"$dir/first.shared") | $(median <"$dir/first.shim") |
| progressive 4K remux into one Matroska file, $((file_bytes / 1048576)) MB, Mbit/s written (median; the two files $file_same) | $(median <"$dir/file.shared") | $(median <"$dir/file.shim") |
MD
