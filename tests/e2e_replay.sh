#!/usr/bin/env bash
# e2e_replay.sh -- every software/copy HLS, progressive, subtitle and image
# command line of the Jellyfin corpus, through the shim and a local pool,
# compared with the ffmpeg CLI running the same argv. The shim has no local
# ffmpeg (shim.fallback_ffmpeg empty): a line the CLI can run must run in
# the pool, natively or on a worker's ffmpeg CLI.
#
#   tests/e2e_replay.sh [--corpus DIR] [--keep]
#
# For each corpus line (tests/corpus, then the folder --corpus or
# $FFPOOL_ARGV_CORPUS names, if any) whose
# kind is hls-* or progressive and that names no hardware codec: the paths
# are rewritten to a short synthetic clip and a fresh output folder, the
# line runs through build/jellyfin/ffmpeg (the shim, against `scripts/pool up
# --workers 1`) and through /usr/bin/ffmpeg, and the outputs must agree: the
# same exit status, the same files (segments, init segment, progressive
# file), and per output file the same codecs, resolution and sample rate,
# video frame counts within one frame and audio duration within one audio
# frame (fMP4 segments are read after their init segment).
#
# The clips: 8 s, keyframe every second, AAC 48 kHz; H.264 in Matroska, or
# H.265 for HEVC lines, H.264 in MPEG-TS for lines that remux a recording,
# FLAC audio for lines that copy it, a DVD subtitle track as stream 2
# for -filter_complex burn-in lines, and H.264 in MP4 (its video from 0 s)
# for a client's frame-rate cap (-r N, fps=N).
#
# Lines are adjusted where the CLI is not the reference Jellyfin means:
#  - an input -ss is placed on the clip (K = first video pts + 4 s, a
#    keyframe) with -start_number K/T, and copy lines get -hls_time 2. A copy
#    line gets -ss K+0.5, as Jellyfin writes it (a keyframe's time plus
#    0.5 s), for the pool and the CLI alike: both must start at the keyframe
#    at or before it (K), the CLI's real -ss semantics, and cut at the same
#    keyframes after it;
#  - a transcode line with -ss is compared with the CLI running it without
#    -ss from segment 0: Jellyfin's seek asks for the segments of the whole
#    film from S/T on, and the pool makes exactly those (the same cuts, the
#    same audio in each). The 5.1 CLI with -ss -copyts shifts its video
#    timeline one frame earlier against the audio, so its first segment cuts
#    the audio two AAC frames early; comparing with its -ss output would
#    test that artifact;
#  - expr:gte(t,S+n_forced*T) loses its S+ for the CLI (see
#    the README's notes on Jellyfin's contract);
#  - libfdk_aac is aac for the CLI (Debian's has no libfdk_aac; the pool
#    maps it to aac too);
#  - a frame-rate cap line runs on the MP4 clip: on the Matroska one, whose
#    video starts 21 ms in, fps=N puts the first frame on its grid's second
#    slot, and the CLI counts its keyframe clock (t) from that frame, so it
#    cuts every segment a frame after k*T, where the pool cuts (the same
#    frames at the same times otherwise: tests/test_pipeline_shapes.c).
# Absolute timestamps are not compared: after a seek the pool keeps the
# whole film's timeline (what a resumed worker continues), the CLI does not.
#
# Prints "replay: native=N cli=N local=N refused=N compared=N failed=N"
# (local: lines the shim would have run on Jellyfin's host, refused here)
# and exits 0 only if every compared line agreed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
corpus=${FFPOOL_ARGV_CORPUS:-}
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --corpus) corpus=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "e2e_replay: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -z "$corpus" ] || [ -d "$corpus" ] || { echo "e2e_replay: no corpus at $corpus" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-replay.XXXXXX")
pool=$dir/pool
failed=0
cleanup() {
  FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$pool" >/dev/null 2>&1 || true
  if [ "$keep" = 0 ] && [ "$failed" = 0 ]; then rm -rf "$dir"; else echo "e2e_replay: kept $dir" >&2; fi
}
trap cleanup EXIT

say() { echo "replay: $*" >&2; }

# ---- clips: 8 s, keyframe every second, video stream 0, audio 1 ----
make_clip() { # make_clip PATH ENCODER-ARGS...
  local path=$1; shift
  ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 8 "$@" -c:a aac -b:a 128k "$path"
}
make_clip "$dir/h264.mkv" -c:v libx264 -preset veryfast -g 25 -pix_fmt yuv420p
make_clip "$dir/h264.ts" -c:v libx264 -preset veryfast -g 25 -pix_fmt yuv420p -f mpegts
make_clip "$dir/h264.mp4" -c:v libx264 -preset veryfast -g 25 -pix_fmt yuv420p
ffmpeg -nostdin -v error -i "$dir/h264.mkv" -map 0 -c:v copy -c:a flac "$dir/h264-flac.mkv"
# For subtitle extraction: an ASS track as stream 2.
printf '1\n00:00:01,000 --> 00:00:03,000\nOne\n\n2\n00:00:05,000 --> 00:00:07,000\nTwo\n' \
  >"$dir/subs.srt"
ffmpeg -nostdin -v error -i "$dir/h264.mkv" -i "$dir/subs.srt" -map 0 -map 1 -c copy -c:s ass \
  "$dir/h264-ass.mkv"
make_clip "$dir/hevc.mkv" -c:v libx265 -preset ultrafast -x265-params keyint=25:log-level=error \
  -pix_fmt yuv420p
# For -filter_complex burn-in lines: h264.mkv plus a DVD (bitmap) subtitle
# track as stream 2 (the ffmpeg CLI cannot make bitmap subtitles).
"$build/tests/tools/subtitle_clip" "$dir/subtitles.mkv" 8 320 240
ffmpeg -nostdin -v error -i "$dir/h264.mkv" -i "$dir/subtitles.mkv" -map 0 -map 1 -c copy \
  "$dir/h264-subs.mkv"

FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"

# ---- comparing two output folders ----
compare_outputs() { # compare_outputs OURS CLI SUBSET: prints differences, returns 1 if any
  python3 - "$1" "$2" "$3" <<'PY'
import os, subprocess, sys, tempfile
ours, cli, subset = sys.argv[1], sys.argv[2], sys.argv[3] == '1'

def outputs(d):
    return sorted(f for f in os.listdir(d) if not f.endswith('.m3u8') and '.tmp' not in f)

def probe(path, init):
    src = path
    if init:
        fd, src = tempfile.mkstemp(suffix='.mp4')
        with os.fdopen(fd, 'wb') as out:
            for p in (init, path):
                with open(p, 'rb') as f:
                    out.write(f.read())
    streams = subprocess.run(['ffprobe', '-v', 'error', '-show_entries',
                              'stream=codec_type,codec_name,width,height,sample_rate',
                              '-of', 'csv=p=0', src], capture_output=True, text=True).stdout
    packets = subprocess.run(['ffprobe', '-v', 'error', '-show_entries',
                              'packet=codec_type,duration_time', '-of', 'csv=p=0', src],
                             capture_output=True, text=True).stdout
    if init:
        os.unlink(src)
    frames, audio = 0, 0.0
    for line in packets.splitlines():
        f = line.split(',')
        if f[0] == 'video':
            frames += 1
        elif f[0] == 'audio' and len(f) > 1 and f[1] not in ('', 'N/A'):
            audio += float(f[1])
    return sorted(s for s in streams.splitlines() if s), frames, audio

a, b = outputs(ours), outputs(cli)
if subset:  # the CLI also wrote the segments before the seek
    b = [f for f in b if f in a or f.endswith('-1.mp4')]
bad = 0
if a != b:
    print(f'  files differ: pool {a} cli {b}')
    sys.exit(1)
inits = [f for f in a if f.endswith('-1.mp4')]
for f in a:
    if f in inits:
        continue
    ia = os.path.join(ours, inits[0]) if inits else None
    ib = os.path.join(cli, inits[0]) if inits else None
    sa, fa, da = probe(os.path.join(ours, f), ia)
    sb, fb, db = probe(os.path.join(cli, f), ib)
    if sa != sb:
        print(f'  {f}: streams {sa} vs cli {sb}'); bad = 1
    if abs(fa - fb) > 1:
        print(f'  {f}: {fa} video frames vs cli {fb}'); bad = 1
    if abs(da - db) > 1152 / 44100 + 1e-3:
        print(f'  {f}: {da:.3f} s of audio vs cli {db:.3f}'); bad = 1
print(f'  {len(a)} files agree' if not bad else '', end='')
sys.exit(bad)
PY
}

# ---- the corpus ----
native=0; cli=0; passthrough=0; refused=0; compared=0
# The repository's corpus (real lines users pasted, and shapes written for
# these tests, such as graphical subtitle burn-in), then any other folder.
files=("$here"/tests/corpus/*.txt)
[ -n "$corpus" ] && files+=("$corpus"/*.txt)
for file in "${files[@]}"; do
  kind=$(sed -n 's/^# kind: *//p' "$file" | head -n 1)
  case $kind in hls-*|progressive|subtitle|image) ;; *) continue ;; esac
  grep -qiE '_vaapi|_qsv|_nvenc|_cuvid|cuda|videotoolbox|_omx|_mmal|dxva|d3d11|_rkmpp|_v4l2m2m|_amf' \
    "$file" && continue
  name=$(basename "$file" .txt)
  clip=$dir/h264.mkv
  case $name in
    *hevc*) clip=$dir/hevc.mkv ;;
    *recording-ts*) clip=$dir/h264.ts ;;
    *flac-audiocopy*) clip=$dir/h264-flac.mkv ;;
    *subtitle*) clip=$dir/h264-ass.mkv ;;
    *framerate-cap*) clip=$dir/h264.mp4 ;;
  esac
  grep -q -- '-filter_complex' "$file" && clip=$dir/h264-subs.mkv
  mapfile -d '' raw < <(python3 "$here/tests/jellyfin_argv.py" "$file")

  # Adjustments (see the header).
  set_args=()
  copy=0; seek=0; fdk=0; hls_time=3
  for ((i = 0; i < ${#raw[@]}; i++)); do
    case ${raw[i]} in
      copy) [[ ${raw[i-1]} == -codec:v* || ${raw[i-1]} == -c:v* || ${raw[i-1]} == -vcodec ]] && copy=1 ;;
      -ss) seek=1 ;;
      libfdk_aac) fdk=1 ;;
      -hls_time) hls_time=${raw[i+1]} ;;
    esac
  done
  [ "$copy" = 1 ] && { hls_time=2; set_args+=(--set=-hls_time=2); }
  if [ "$seek" = 1 ]; then
    first=$(ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 \
      -read_intervals %+#1 "$clip" | head -n 1)
    offset=4
    [ "$copy" = 1 ] && offset=4.5
    ss=$(python3 -c "import sys; s=float(sys.argv[1])+float(sys.argv[2]); print('00:00:%06.3f' % s)" \
      "$first" "$offset")
    set_args+=(--set=-start_number=$((4 / hls_time)))
  fi
  ours_args=()
  cli_args=(--drop-seek-offset)
  subset=0
  if [ "$seek" = 1 ] && [ "$copy" = 0 ]; then
    # A transcode after a seek is compared with the CLI's run of the whole
    # clip from the seek's segment on (see the header).
    ours_args+=(--set=-ss="$ss")
    cli_args+=(--drop=-ss --set=-start_number=0)
    subset=1
  elif [ "$seek" = 1 ]; then
    ours_args+=(--set=-ss="$ss")
    cli_args+=(--set=-ss="$ss")
  fi
  [ "$fdk" = 1 ] && cli_args+=(--set=-codec:a:0=aac --set=-c:a=aac --set=-acodec=aac)

  mkdir -p "$dir/$name/pool" "$dir/$name/cli"
  mapfile -d '' ours < <(python3 "$here/tests/jellyfin_argv.py" "$file" --input "$clip" \
    --outdir "$dir/$name/pool" "${set_args[@]}" "${ours_args[@]}")
  mapfile -d '' theirs < <(python3 "$here/tests/jellyfin_argv.py" "$file" --input "$clip" \
    --outdir "$dir/$name/cli" "${set_args[@]}" "${cli_args[@]}")

  rc_ours=0; rc_cli=0
  FFPOOL_SHIM_FALLBACK_FFMPEG='' FFPOOL_SHIM_LOG_FILE="$dir/$name/shim.log" \
    timeout 120 "$build/jellyfin/ffmpeg" "${ours[@]}" </dev/null >"$dir/$name/pool.log" 2>&1 ||
    rc_ours=$?
  timeout 120 ffmpeg -nostdin -v error "${theirs[@]}" </dev/null >"$dir/$name/cli.log" 2>&1 ||
    rc_cli=$?
  line=$(grep -h 'event=decision' "$dir/$name/shim.log" 2>/dev/null | tail -n 1 || true)
  case $line in
    *'decision=native reason="cli:'*) decision=cli; cli=$((cli + 1)) ;;
    *decision=native*) decision=native; native=$((native + 1)) ;;
    *decision=passthrough*) decision=local; passthrough=$((passthrough + 1)) ;;
    *) decision=refused; refused=$((refused + 1)) ;;
  esac

  compared=$((compared + 1))
  if [ $((rc_ours != 0)) != $((rc_cli != 0)) ]; then
    say "FAIL $name ($decision): exit $rc_ours, cli $rc_cli"
    tail -n 5 "$dir/$name/pool.log" "$dir/$name/cli.log" >&2 || true
    failed=$((failed + 1))
    continue
  fi
  if [ "$rc_cli" != 0 ]; then
    say "ok   $name ($decision): both fail (exit $rc_ours, cli $rc_cli)"
    continue
  fi
  if diff=$(compare_outputs "$dir/$name/pool" "$dir/$name/cli" "$subset"); then
    say "ok   $name ($decision):$diff"
  else
    say "FAIL $name ($decision):"
    echo "$diff" >&2
    failed=$((failed + 1))
  fi
done

echo "replay: native=$native cli=$cli local=$passthrough refused=$refused compared=$compared failed=$failed"
[ "$failed" = 0 ] && [ "$native" -gt 0 ]
