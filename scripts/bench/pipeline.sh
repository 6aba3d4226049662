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
#   burn-in    the transcode with a DVD (bitmap) subtitle track burned in
#              through Jellyfin's -filter_complex graph (tests/corpus/101
#              shape, to 720p): the subtitle drawn as video (sub2video);
#   resume     the transcode line again, one pipeline_run per segment, each
#              resumed at the next index (open, probe, seek, encoder start
#              for every segment): the per-segment cost of the resume path;
#   vulkan     the transcode's shape with its scale on a Vulkan device
#              (-init_hw_device vulkan=vk -filter_hw_device vk, hwupload,
#              scale_vulkan to 854x480, hwdownload), on a 720p30 20 s clip;
#   opencl     the same with unsharp_opencl on an OpenCL device, on a 360p30
#              10 s clip.
# Vulkan and OpenCL run on the CPU here (Mesa's lavapipe, pocl): their
# figures compare the pipeline with the CLI on the same devices, not a GPU.
# The pipeline runs in build/bench/pipeline (argv_parse_job + pipeline_run,
# no pool, segments renamed by the tool). The transcode and remux cases run
# RUNS pairs (default 3), CLI and pipeline alternating so that both see the
# same load from whatever else runs on the machine; each pair gives a ratio
# and the section reports their medians with the load averages before and
# after. Wall and CPU time and peak RSS come from /usr/bin/time.
# BASELINE=PATH compares with a pipeline bench binary built from another
# commit instead of the CLI (before and after a refactoring; see the code).
# Prints one markdown section with the figures, the commands and the ratios.
set -euo pipefail
set -f # the argv strings hold "*" (filters, expressions): no globbing

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
build=${BUILD:-build}
runs=${RUNS:-3}
make -s "$build/bench/pipeline" "$build/tests/tools/subtitle_clip" >&2
clip=${PIPELINE_CLIP:-$build/bench/pipeline-1080p30.mkv} # another clip: a quick check of the script
if [ ! -s "$clip" ]; then
  echo "pipeline bench: generating $clip (once)" >&2
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 -c:v libx264 -preset ultrafast \
    -crf 20 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -f matroska "$clip.part"
  mv "$clip.part" "$clip"
fi
clip=$(cd "$(dirname "$clip")" && pwd)/$(basename "$clip")
subs_clip=${clip%.mkv}-subs.mkv
if [ ! -s "$subs_clip" ]; then
  echo "pipeline bench: generating $subs_clip (once)" >&2
  "$build/tests/tools/subtitle_clip" "$subs_clip.track.mkv" 60 1920 1080
  ffmpeg -nostdin -v error -y -i "$clip" -i "$subs_clip.track.mkv" -map 0 -map 1 -c copy \
    -f matroska "$subs_clip.part"
  mv "$subs_clip.part" "$subs_clip"
  rm -f "$subs_clip.track.mkv"
fi
# Smaller clips for the hardware lines (lavapipe and pocl are CPU drivers:
# pocl's unsharp runs at a few frames a second at 720p).
hw_clip() { # hw_clip PATH SIZE SECONDS
  [ -s "$1" ] && return
  echo "pipeline bench: generating $1 (once)" >&2
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=$2:rate=30,noise=alls=12:allf=t+u" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$3" -c:v libx264 -preset ultrafast \
    -crf 20 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -f matroska "$1.part"
  mv "$1.part" "$1"
}
vulkan_clip=$(dirname "$clip")/pipeline-720p30-20s.mkv
opencl_clip=$(dirname "$clip")/pipeline-360p30-10s.mkv
hw_clip "$vulkan_clip" 1280x720 20
hw_clip "$opencl_clip" 640x360 10
work=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Jellyfin's x264 options (002/003 shape), and what follows the video filter
# (aac_hls_args OUTDIR: AAC, HLS mpegts with 3 s segments into OUTDIR).
x264_args() {
  echo -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 8000000 -bufsize 16000000 \
    -profile:v:0 high -level 41 -force_key_frames:0 "expr:gte(t,n_forced*3)" -sc_threshold:v:0 0
}
aac_hls_args() {
  echo -codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled \
    -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type mpegts \
    -start_number 0 -hls_segment_filename "$1/seg%d.ts" -hls_playlist_type vod -hls_list_size 0 \
    -y "$1/main.m3u8"
}
transcode_args() { # transcode_args OUTDIR
  echo -analyzeduration 200M -f matroska,webm -i "file:$clip" -map_metadata -1 -map_chapters -1 \
    -threads 0 -map 0:0 -map 0:1 -map -0:s "$(x264_args)" \
    -vf "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\,ih*a)\,min(1280\,720*a))/2)*2:trunc(min(max(iw/a\,ih)\,min(1280/a\,720))/2)*2,format=yuv420p" \
    "$(aac_hls_args "$1")"
}
burnin_args() { # burnin_args OUTDIR
  echo -analyzeduration 200M -probesize 1G -canvas_size 1920x1080 -i "file:$subs_clip" \
    -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:0 "$(x264_args)" \
    -filter_complex "[0:2]scale,scale=-1:720:fast_bilinear,crop,pad=max(1280\,iw):max(720\,ih):(ow-iw)/2:(oh-ih)/2:black@0,crop=1280:720[sub];[0:0]setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\,ih*a)\,1280)/2)*2:trunc(ow/a/2)*2,format=yuv420p[main];[main][sub]overlay=eof_action=pass:repeatlast=0" \
    "$(aac_hls_args "$1")"
}
# hw_args OUTDIR CLIP DEVICE NAME FILTER: the transcode's shape with a
# hardware device and its filter between hwupload and hwdownload.
hw_args() {
  echo -init_hw_device "$3" -filter_hw_device "$4" -analyzeduration 200M -f matroska,webm \
    -i "file:$2" -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s \
    "$(x264_args)" \
    -vf "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,format=yuv420p,hwupload,$5,hwdownload,format=yuv420p" \
    "$(aac_hls_args "$1")"
}
vulkan_args() { hw_args "$1" "$vulkan_clip" vulkan=vk vk scale_vulkan=w=854:h=480; }
opencl_args() { hw_args "$1" "$opencl_clip" opencl=ocl ocl unsharp_opencl; }
remux_args() {
  echo -analyzeduration 200M -fflags +genpts -i "file:$clip" -map_metadata -1 -map_chapters -1 \
    -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 copy -bsf:v h264_mp4toannexb -start_at_zero \
    -codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls \
    -max_delay 5000000 -hls_time 6 -hls_segment_type mpegts -start_number 0 \
    -hls_segment_filename "$1/seg%d.ts" -hls_playlist_type vod -hls_list_size 0 -y "$1/main.m3u8"
}

# run_once NAME ARGS-FUNCTION RUNNER...: one run; sets wall cpu rss (s, s,
# KiB) and segs, and appends "wall cpu rss load" to $work/NAME.runs.
run_once() {
  local name=$1 args_fn=$2; shift 2
  local out=$work/$name.out load
  rm -rf "$out"; mkdir -p "$out"
  load=$(cut -d' ' -f1 /proc/loadavg)
  # The arguments contain no spaces other than those between options,
  # except the filter string, which has none either.
  # shellcheck disable=SC2046
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" $($args_fn "$out") >/dev/null 2>"$work/err" ||
    { echo "pipeline bench: $name failed:" >&2; tail -n 5 "$work/err" >&2; exit 1; }
  read -r wall user sys rss <"$work/time"
  cpu=$(echo "$user + $sys" | bc)
  segs=$(ls "$out" | grep -c '\.ts$' || true)
  echo "$wall $cpu $rss $load" >>"$work/$name.runs"
  echo "pipeline bench: $name wall $wall s, CPU $cpu s, RSS $((rss / 1024)) MiB, load $load" >&2
  eval "segs_$name=$segs"
}
# median FILE COLUMN: the median of a column of numbers.
median() { cut -d' ' -f"$2" "$1" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# compare CLI-NAME OURS-NAME ARGS-FUNCTION RUNNER-ARGS...: $runs pairs, CLI
# and pipeline alternating (so both see the same load), each pair giving a
# wall and a CPU ratio; sets the medians.
compare() {
  local cli=$1 ours=$2 args_fn=$3; shift 3
  : >"$work/$cli.runs"; : >"$work/$ours.runs"; : >"$work/$ours.ratios"
  for ((r = 0; r < runs; r++)); do
    run_once "$cli" "$args_fn" ffmpeg -nostdin -v error
    local cw=$wall cc=$cpu
    run_once "$ours" "$args_fn" "$@"
    echo "$(ratio "$cw" "$wall") $(ratio "$cc" "$cpu")" >>"$work/$ours.ratios"
  done
  for n in "$cli" "$ours"; do
    eval "wall_$n=$(median "$work/$n.runs" 1) cpu_$n=$(median "$work/$n.runs" 2)"
    eval "rss_$n=$(sort -g "$work/$n.runs" -k3 | tail -n 1 | cut -d' ' -f3)"
  done
  eval "wallratio_$ours=$(median "$work/$ours.ratios" 1) cpuratio_$ours=$(median "$work/$ours.ratios" 2)"
  eval "wallratios_$ours=\"$(cut -d' ' -f1 "$work/$ours.ratios" | tr '\n' ' ')\""
}
ratio() { echo "scale=2; $1 / $2" | bc; }

# BASELINE=PATH: the pipeline against a pipeline binary built from another
# commit (a refactoring's before), instead of against the CLI: the
# transcode, remux and burn-in cases in alternating pairs, and whether the
# two wrote byte-identical segments.
if [ -n "${BASELINE:-}" ]; then
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "| case | before wall / CPU / RSS | after wall / CPU / RSS | before / after (time) | segments |"
  echo "|---|---|---|---|---|"
  for c in transcode remux burnin; do
    : >"$work/${c}_before.runs"; : >"$work/${c}_after.runs"; : >"$work/${c}.ratios"
    same=yes
    for ((r = 0; r < runs; r++)); do
      run_once "${c}_before" "${c}_args" "$BASELINE" --
      bw=$wall bc_=$cpu
      run_once "${c}_after" "${c}_args" "$build/bench/pipeline" --
      echo "$(ratio "$bw" "$wall") $(ratio "$bc_" "$cpu")" >>"$work/$c.ratios"
      diff -r "$work/${c}_before.out" "$work/${c}_after.out" >/dev/null || same=no
    done
    echo "| $c | $(median "$work/${c}_before.runs" 1) s / $(median "$work/${c}_before.runs" 2) s / $(($(sort -g "$work/${c}_before.runs" -k3 | tail -n 1 | cut -d' ' -f3) / 1024)) MiB" \
      "| $(median "$work/${c}_after.runs" 1) s / $(median "$work/${c}_after.runs" 2) s / $(($(sort -g "$work/${c}_after.runs" -k3 | tail -n 1 | cut -d' ' -f3) / 1024)) MiB" \
      "| wall $(median "$work/$c.ratios" 1)x (pairs $(cut -d' ' -f1 "$work/$c.ratios" | tr '\n' ' ')), CPU $(median "$work/$c.ratios" 2)x" \
      "| byte-identical: $same |"
  done
  echo
  echo "Load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores). BASELINE=$BASELINE"
  exit 0
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
compare t_cli t_ours transcode_args "$build/bench/pipeline" --
compare r_cli r_ours remux_args "$build/bench/pipeline" --
compare b_cli b_ours burnin_args "$build/bench/pipeline" --
compare v_cli v_ours vulkan_args "$build/bench/pipeline" --
compare o_cli o_ours opencl_args "$build/bench/pipeline" --
: >"$work/t_resume.runs"
run_once t_resume transcode_args "$build/bench/pipeline" --one-segment-runs --
wall_t_resume=$wall cpu_t_resume=$cpu rss_t_resume=$rss
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

per_segment_ms=$(echo "scale=1; ($wall_t_resume - $wall_t_ours) * 1000 / $segs_t_ours" | bc)

cat <<EOF
## Worker pipeline vs the ffmpeg CLI

Input: 1080p30, 60 s, testsrc2 + temporal noise (H.264 ultrafast crf 20, $(du -m "$clip" | cut -f1) MB) + AAC.
$runs pair(s) per case, CLI and pipeline alternating; times are medians, RSS the peak over
the runs; ratios are the medians of the per-pair ratios: CLI / pipeline for time (above 1:
the pipeline is faster), pipeline / CLI for RSS (below 1: the pipeline uses less).
Load average (1, 5, 15 min) before: $load_before; after: $load_after ($(nproc) cores).

| case | tool | wall s | CPU s | peak RSS MiB | segments |
|---|---|---:|---:|---:|---:|
| transcode 720p veryfast crf 23 + AAC, HLS 3 s | ffmpeg CLI | $wall_t_cli | $cpu_t_cli | $((rss_t_cli / 1024)) | $segs_t_cli |
| | pipeline | $wall_t_ours | $cpu_t_ours | $((rss_t_ours / 1024)) | $segs_t_ours |
| | ratio | ${wallratio_t_ours}x | ${cpuratio_t_ours}x | $(ratio "$rss_t_ours" "$rss_t_cli") | |
| remux (video + audio copy), HLS 6 s | ffmpeg CLI | $wall_r_cli | $cpu_r_cli | $((rss_r_cli / 1024)) | $segs_r_cli |
| | pipeline | $wall_r_ours | $cpu_r_ours | $((rss_r_ours / 1024)) | $segs_r_ours |
| | ratio | ${wallratio_r_ours}x | ${cpuratio_r_ours}x | $(ratio "$rss_r_ours" "$rss_r_cli") | |
| burn-in: the transcode + a DVD subtitle via -filter_complex | ffmpeg CLI | $wall_b_cli | $cpu_b_cli | $((rss_b_cli / 1024)) | $segs_b_cli |
| | pipeline | $wall_b_ours | $cpu_b_ours | $((rss_b_ours / 1024)) | $segs_b_ours |
| | ratio | ${wallratio_b_ours}x | ${cpuratio_b_ours}x | $(ratio "$rss_b_ours" "$rss_b_cli") | |
| transcode, one resumed run per segment | pipeline | $wall_t_resume | $cpu_t_resume | $((rss_t_resume / 1024)) | $segs_t_resume |
| Vulkan (lavapipe): 720p30 20 s, scale_vulkan to 854x480 | ffmpeg CLI | $wall_v_cli | $cpu_v_cli | $((rss_v_cli / 1024)) | $segs_v_cli |
| | pipeline | $wall_v_ours | $cpu_v_ours | $((rss_v_ours / 1024)) | $segs_v_ours |
| | ratio | ${wallratio_v_ours}x | ${cpuratio_v_ours}x | $(ratio "$rss_v_ours" "$rss_v_cli") | |
| OpenCL (pocl): 360p30 10 s, unsharp_opencl | ffmpeg CLI | $wall_o_cli | $cpu_o_cli | $((rss_o_cli / 1024)) | $segs_o_cli |
| | pipeline | $wall_o_ours | $cpu_o_ours | $((rss_o_ours / 1024)) | $segs_o_ours |
| | ratio | ${wallratio_o_ours}x | ${cpuratio_o_ours}x | $(ratio "$rss_o_ours" "$rss_o_cli") | |

Per-pair wall ratios, transcode: ${wallratios_t_ours}; remux: ${wallratios_r_ours}; burn-in: ${wallratios_b_ours}; Vulkan: ${wallratios_v_ours}; OpenCL: ${wallratios_o_ours}.

Resume path: ${per_segment_ms} ms of wall time per segment over one continuous run
($(ratio "$wall_t_resume" "$wall_t_ours")x the continuous run's wall time).

Commands: \`build/bench/pipeline -- ARGS\` and \`ffmpeg -nostdin -v error ARGS\` with the argv
printed by \`transcode_args\` / \`remux_args\` / \`burnin_args\` / \`vulkan_args\` /
\`opencl_args\` in scripts/bench/pipeline.sh (Vulkan on Mesa's lavapipe, OpenCL on pocl: both on
the CPU);
\`build/bench/pipeline --one-segment-runs -- ARGS\` for the resume row. Measured with
\`/usr/bin/time -f "%e %U %S %M"\` (RSS = peak of the process).
EOF
