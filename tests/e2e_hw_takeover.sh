#!/usr/bin/env bash
# e2e_hw_takeover.sh -- the takeover test (tests/e2e_takeover.sh) on hardware
# lines: a Jellyfin-shaped HLS transcode whose video goes through a Vulkan
# device (-init_hw_device vulkan=vk -filter_hw_device vk and
# "...,format=yuv420p,hwupload,scale_vulkan=w=480:h=270,hwdownload,format=yuv420p"),
# run through the shim by a pool of two workers; the worker holding the job is
# SIGKILLed after segment 2 and the other finishes the stream. Every check of
# e2e_takeover.sh applies: each segment's first and last presentation times,
# video and audio (fMP4 after its init segment), equal the uninterrupted run's
# within 1 ms, every frame of the clip is there once, the job ends done with
# one takeover.
#
# Vulkan runs here on Mesa's lavapipe (on the CPU; scripts/deps.sh installs
# mesa-vulkan-drivers); a worker routes the job only if it opened a Vulkan
# device at start-up. Two lines: the 10.8 MPEG-TS shape (tests/corpus/003)
# and the 10.11 fMP4 shape (tests/corpus/122, audio copied, frag_discont),
# each with the hardware options Jellyfin puts before -i. Jellyfin itself
# sends no Vulkan filters to a pool of Debian 5.1 workers (it wants
# jellyfin-ffmpeg's libplacebo and overlay_vulkan for its Vulkan path), so
# these lines are written for this test, from its shapes. Options go to both
# runs (e.g. --duration 12).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-hw-takeover.XXXXXX")
trap 'rm -rf "$work"' EXIT

hw='-init_hw_device vulkan=vk -filter_hw_device vk'
vulkan='format=yuv420p,hwupload,scale_vulkan=w=480:h=270,hwdownload,format=yuv420p'
setparams='setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709'
cat >"$work/vulkan-mpegts.txt" <<EOF
# source: tests/corpus/003 (Jellyfin 10.8, x264 into MPEG-TS) with a Vulkan device and filter chain, written for tests/e2e_hw_takeover.sh
# kind: hls-transcode
/usr/lib/jellyfin-ffmpeg/ffmpeg $hw -analyzeduration 200M -f matroska,webm -autorotate 0 -i file:"/media/Show/Episode 01.mkv" -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4875352 -bufsize 9750704 -x264opts:0 subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none -force_key_frames:0 "expr:gte(t,0+n_forced*3)" -sc_threshold:v:0 0 -vf "$setparams,$vulkan" -codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0 -hls_segment_filename "/var/lib/jellyfin/transcodes/5e1f0c2a9b8d4e7f%d.ts" -hls_playlist_type vod -hls_list_size 0 -y "/var/lib/jellyfin/transcodes/5e1f0c2a9b8d4e7f.m3u8"
EOF
cat >"$work/vulkan-fmp4.txt" <<EOF
# source: tests/corpus/122 (Jellyfin 10.11, x264 into fMP4, audio copied, frag_discont) with a Vulkan device and filter chain, written for tests/e2e_hw_takeover.sh
# kind: hls-transcode
/usr/lib/jellyfin-ffmpeg/ffmpeg $hw -analyzeduration 200M -probesize 1G -f matroska -i file:"/data/movies/Feature (2024)/Feature (2024).mkv" -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4812784 -bufsize 9625568 -profile:v:0 high -level 51 -x264opts:0 subme=0:me_range=16:rc_lookahead=10:me=hex:open_gop=0 -force_key_frames:0 "expr:gte(t,n_forced*3)" -sc_threshold:v:0 0 -vf "$setparams,$vulkan" -codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type fmp4 -hls_fmp4_init_filename "3c9a7e51d0b24f6e-1.mp4" -start_number 0 -hls_segment_filename "/config/cache/transcodes/3c9a7e51d0b24f6e%d.mp4" -hls_playlist_type vod -hls_list_size 0 -hls_segment_options movflags=+frag_discont -y "/config/cache/transcodes/3c9a7e51d0b24f6e.m3u8"
EOF

# Both runs must be the pool's: a hardware line goes to the local ffmpeg
# while no live worker has announced the device (shim.no_pool_policy
# fallback), which the workers do a moment after the pool comes up. Under
# fail the shim submits it at once and the job waits for such a worker.
export FFPOOL_SHIM_NO_POOL_POLICY=fail
failed=()
for line in vulkan-mpegts vulkan-fmp4; do
  echo "e2e_hw_takeover: $line" >&2
  "$here/tests/e2e_takeover.sh" --corpus "$work/$line.txt" --duration 15 "$@" || failed+=("$line")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "e2e_hw_takeover: FAIL ${failed[*]} (checks above)" >&2
  exit 1
fi
echo "e2e_hw_takeover: all checks passed (Vulkan MPEG-TS and fMP4 lines)" >&2
