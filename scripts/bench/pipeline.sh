#!/usr/bin/env bash
# pipeline.sh -- `make bench`: the worker's libav pipeline against the ffmpeg
# CLI on the same argv and the same input, side by side in one run.
#
# Input: a 1080p30 60 s clip with real texture (testsrc2 + temporal noise,
# H.264 + AAC in Matroska), generated once into build/bench/. Three cases:
#   transcode  Jellyfin's HLS line (002/003 shape): scale to 720p, libx264
#              veryfast crf 23, AAC 128k stereo, HLS mpegts, 3 s segments;
#   remux      Jellyfin's video copy line (018 shape, no seek): copy +
#              h264_mp4toannexb, audio copy, HLS mpegts, 6 s segments;
#   resume     the transcode line again, one pipeline_run per segment, each
#              resumed at the next index (open, probe, seek, encoder start
#              for every segment): the per-segment cost of the resume path.
# The pipeline runs in build/bench/pipeline (argv_parse_job + pipeline_run,
# no pool, segments renamed by the tool). Each figure is the best of RUNS
# runs (default 1); wall and CPU time and peak RSS come from /usr/bin/time.
# Prints one markdown section with the figures, the commands and the ratios.
set -euo pipefail
set -f # the argv strings hold "*" (filters, expressions): no globbing

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
build=${BUILD:-build}
runs=${RUNS:-1}
make -s "$build/bench/pipeline" >&2
clip=$build/bench/pipeline-1080p30.mkv
if [ ! -s "$clip" ]; then
  echo "pipeline bench: generating $clip (once)" >&2
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 -c:v libx264 -preset ultrafast \
    -crf 20 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k "$clip.part"
  mv "$clip.part" "$clip"
fi
clip=$(cd "$(dirname "$clip")" && pwd)/$(basename "$clip")
work=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

transcode_args() { # transcode_args OUTDIR
  echo -analyzeduration 200M -f matroska,webm -i "file:$clip" -map_metadata -1 -map_chapters -1 \
    -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 \
    -maxrate 8000000 -bufsize 16000000 -profile:v:0 high -level 41 \
    -force_key_frames:0 "expr:gte(t,n_forced*3)" -sc_threshold:v:0 0 \
    -vf "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\,ih*a)\,min(1280\,720*a))/2)*2:trunc(min(max(iw/a\,ih)\,min(1280/a\,720))/2)*2,format=yuv420p" \
    -codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled \
    -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type mpegts \
    -start_number 0 -hls_segment_filename "$1/seg%d.ts" -hls_playlist_type vod -hls_list_size 0 \
    -y "$1/main.m3u8"
}
remux_args() {
  echo -analyzeduration 200M -fflags +genpts -i "file:$clip" -map_metadata -1 -map_chapters -1 \
    -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 copy -bsf:v h264_mp4toannexb -start_at_zero \
    -codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls \
    -max_delay 5000000 -hls_time 6 -hls_segment_type mpegts -start_number 0 \
    -hls_segment_filename "$1/seg%d.ts" -hls_playlist_type vod -hls_list_size 0 -y "$1/main.m3u8"
}

# measure NAME ARGS-FUNCTION RUNNER...: best wall time of $runs runs; sets
# wall_NAME cpu_NAME rss_NAME (s, s, KiB) and segs_NAME.
measure() {
  local name=$1 args_fn=$2; shift 2
  local best_wall="" best_cpu="" best_rss=""
  for ((r = 0; r < runs; r++)); do
    local out=$work/$name.$r
    rm -rf "$out"; mkdir -p "$out"
    # The arguments contain no spaces other than those between options,
    # except the filter string, which has none either.
    # shellcheck disable=SC2046
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" $($args_fn "$out") >/dev/null 2>"$work/err" ||
      { echo "pipeline bench: $name failed:" >&2; tail -n 5 "$work/err" >&2; exit 1; }
    read -r wall user sys rss <"$work/time"
    local cpu
    cpu=$(echo "$user + $sys" | bc)
    if [ -z "$best_wall" ] || [ "$(echo "$wall < $best_wall" | bc)" = 1 ]; then
      best_wall=$wall; best_cpu=$cpu; best_rss=$rss
    fi
    eval "segs_$name=$(ls "$out" | grep -c '\.ts$')"
  done
  eval "wall_$name=$best_wall cpu_$name=$best_cpu rss_$name=$best_rss"
}
ratio() { echo "scale=2; $1 / $2" | bc; }

measure t_cli transcode_args ffmpeg -nostdin -v error
measure t_ours transcode_args "$build/bench/pipeline" --
measure r_cli remux_args ffmpeg -nostdin -v error
measure r_ours remux_args "$build/bench/pipeline" --
measure t_resume transcode_args "$build/bench/pipeline" --one-segment-runs --

per_segment_ms=$(echo "scale=1; ($wall_t_resume - $wall_t_ours) * 1000 / $segs_t_ours" | bc)

cat <<EOF
## Worker pipeline vs the ffmpeg CLI

Input: 1080p30, 60 s, testsrc2 + temporal noise (H.264 ultrafast crf 20, $(du -m "$clip" | cut -f1) MB) + AAC;
best of $runs run(s). Ratios: CLI / pipeline for time (above 1: the pipeline is faster),
pipeline / CLI for RSS (below 1: the pipeline uses less).

| case | tool | wall s | CPU s | peak RSS MiB | segments |
|---|---|---:|---:|---:|---:|
| transcode 720p veryfast crf 23 + AAC, HLS 3 s | ffmpeg CLI | $wall_t_cli | $cpu_t_cli | $((rss_t_cli / 1024)) | $segs_t_cli |
| | pipeline | $wall_t_ours | $cpu_t_ours | $((rss_t_ours / 1024)) | $segs_t_ours |
| | ratio | $(ratio "$wall_t_cli" "$wall_t_ours")x | $(ratio "$cpu_t_cli" "$cpu_t_ours")x | $(ratio "$rss_t_ours" "$rss_t_cli") | |
| remux (video + audio copy), HLS 6 s | ffmpeg CLI | $wall_r_cli | $cpu_r_cli | $((rss_r_cli / 1024)) | $segs_r_cli |
| | pipeline | $wall_r_ours | $cpu_r_ours | $((rss_r_ours / 1024)) | $segs_r_ours |
| | ratio | $(ratio "$wall_r_cli" "$wall_r_ours")x | $(ratio "$cpu_r_cli" "$cpu_r_ours")x | $(ratio "$rss_r_ours" "$rss_r_cli") | |
| transcode, one resumed run per segment | pipeline | $wall_t_resume | $cpu_t_resume | $((rss_t_resume / 1024)) | $segs_t_resume |

Resume path: ${per_segment_ms} ms of wall time per segment over one continuous run
($(ratio "$wall_t_resume" "$wall_t_ours")x the continuous run's wall time).

Commands: \`build/bench/pipeline -- ARGS\` and \`ffmpeg -nostdin -v error ARGS\` with the argv
printed by \`transcode_args\` / \`remux_args\` in scripts/bench/pipeline.sh;
\`build/bench/pipeline --one-segment-runs -- ARGS\` for the resume row. Measured with
\`/usr/bin/time -f "%e %U %S %M"\` (RSS = peak of the process).
EOF
