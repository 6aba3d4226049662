#!/usr/bin/env bash
# e2e_cli.sh -- lines the native parser does not take run on the workers'
# own ffmpeg CLI (worker.ffmpeg), not on Jellyfin's host:
#  1. routing by CLI: an HLS line with -async 1 (Jellyfin's for WMA/ASF and
#     WTV sources; the native parser passes it through) waits while the
#     only live worker has
#     no CLI (worker.ffmpeg empty), then goes to a worker with one when it
#     joins; it is the uninterrupted reference run;
#  2. takeover: the same line again, the owner SIGKILLed after segment 2;
#     the other worker restarts its CLI at the next segment (-ss k*T,
#     -start_number k, the keyframe origin at k*T, as Jellyfin after a seek):
#     the shim exits 0, every segment is there and was published exactly
#     once by its owner, both workers wrote part of it, nothing the first
#     CLI wrote late reached the folder, each segment decodes, and every
#     video frame of the reference run is there once, segment by segment
#     (as many packets; times within one frame, see below);
#  3. work that is not a stream: a trickplay-shaped image line and a
#     subtitle extraction give exactly the files the local CLI gives on the
#     same argv, a loudness scan the same summary, and a line that fails
#     the CLI's own exit status and last error line.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

e2e_init e2e_cli
shim_pid=""
stop_shim() { if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi; }
e2e_at_exit stop_shim

duration=24
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$duration" \
  -c:v libx264 -preset ultrafast -g 50 -c:a aac "$dir/clip.mkv"
cat >"$dir/subs.srt" <<'EOF'
1
00:00:01,000 --> 00:00:03,000
First line

2
00:00:05,000 --> 00:00:08,500
Second line
EOF
ffmpeg -nostdin -v error -i "$dir/clip.mkv" -i "$dir/subs.srt" -map 0 -map 1 -c copy \
  -c:s ass "$dir/subbed.mkv"

# Corpus 003's shape (Jellyfin 10.8, x264 into MPEG-TS) with the -async 1
# EncodingHelper adds for WMA/ASF and WTV sources.
cat >"$dir/async.txt" <<'EOF'
# source: tests/corpus/003 with -async 1, written for tests/e2e_cli.sh
# kind: hls-transcode
/usr/lib/jellyfin-ffmpeg/ffmpeg -analyzeduration 200M -async 1 -f matroska,webm -autorotate 0 -i file:"/media/Show/Episode 01.mkv" -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4875352 -bufsize 9750704 -x264opts:0 subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none -force_key_frames:0 "expr:gte(t,0+n_forced*3)" -sc_threshold:v:0 0 -vf "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\,ih*a)\,640)/2)*2:trunc(ow/a/2)*2,format=yuv420p" -codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0 -hls_segment_filename "/var/lib/jellyfin/transcodes/7a1c9e3b5d2f4a60%d.ts" -hls_playlist_type vod -hls_list_size 0 -y "/var/lib/jellyfin/transcodes/7a1c9e3b5d2f4a60.m3u8"
EOF
corpus=$dir/async.txt

FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 0 --dir "$pool" 2>/dev/null
# shellcheck disable=SC1091
. "$pool/env"
rcli() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }
start_worker() { # start_worker ID [VAR=value...]: a worker beside the pool's
  local id=$1
  shift
  env FFPOOL_WORKER_ID="$id" "$@" setsid "$build/bin/ffpool-worker" >>"$pool/$id.log" 2>&1 \
    </dev/null &
  echo $! >"$pool/$id.pid"
  wait_until 30 bash -c "redis-cli -p $FFPOOL_REDIS_PORT --raw EXISTS ffpool:worker:$id:offers | grep -qx 1" ||
    say "worker $id published no offers"
}
owner_of() { rcli HGET "ffpool:job:$1" owner; }

# ---- 1. routing by CLI: the reference run ---------------------------------
start_worker worker-nocli FFPOOL_WORKER_FFMPEG=
check "a worker without a CLI offers no cli words" \
  bash -c "! redis-cli -p $FFPOOL_REDIS_PORT --raw SMEMBERS ffpool:worker:worker-nocli:offers | grep -q '^cli'"
e2e_shim_args "$dir/clip.mkv" "$dir/reference"
mkdir -p "$dir/reference"
expected=$(((duration + hls_time - 1) / hls_time))
FFPOOL_SHIM_NO_POOL_POLICY=fail "$build/jellyfin/ffmpeg" "${args[@]}" </dev/null \
  2>"$dir/reference.log" &
shim_pid=$!
job=$(e2e_wait_job_id "$dir/reference.log")
check "the line is submitted as a CLI job ($job)" \
  grep -q 'reason="cli: HLS stream on a worker.s ffmpeg (unknown option -async)"' "$dir/reference.log"
wait_until 10 bash -c "'$build/bin/ffpoolctl' job '$job' 2>/dev/null | grep -q '^waiting *no worker offers cli:ffmpeg'" || true
check "it waits while only a worker without a CLI is live" \
  bash -c "'$build/bin/ffpoolctl' job '$job' | grep -q '^waiting *no worker offers cli:ffmpeg'"
start_worker worker-1
rc=0
wait "$shim_pid" || rc=$?
shim_pid=""
check "a worker with a CLI joins and runs it: shim exited 0 (rc=$rc)" [ "$rc" = 0 ]
check "... on worker-1, never on worker-nocli ($(owner_of "$job"))" [ "$(owner_of "$job")" = worker-1 ]
# The CLI's own count (the last frames may make a short segment of their own).
listed=$(grep -c '^#EXTINF' "$playlist" || true)
check "the reference run has its $listed segments (at least $expected), all on disk ($(segment_count))" \
  [ "$listed" -ge "$expected" -a "$(segment_count)" = "$listed" ]
expected=$listed
e2e_segment_times "$dir/reference.times" "$pattern" "$init" "$start_number" "$expected"
e2e_check_timeline "reference run" "$dir/reference.times"
check "its playlist lists every segment and ends" \
  bash -c "[ \$(grep -c '^#EXTINF' '$playlist') = $expected ] && grep -qx '#EXT-X-ENDLIST' '$playlist'"
ref_playlist=$playlist

# ---- 2. takeover ----------------------------------------------------------
start_worker worker-2
e2e_shim_args "$dir/clip.mkv" "$dir/takeover"
mkdir -p "$dir/takeover"
mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"
"$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/takeover.log" &
shim_pid=$!
job=$(e2e_wait_job_id "$dir/takeover.log")
# Jellyfin's throttling pauses it (the CLI is held by SIGSTOP from the next
# segment on), so that the stream is still running when its owner dies,
# however fast this machine encodes.
wait_until 60 test -s "$(segment_path 1)" || true
printf p >&3
wait_until 10 bash -c "[ \"\$(redis-cli -p $FFPOOL_REDIS_PORT --raw HGET ffpool:job:$job paused)\" = 1 ]" || true
sleep 1
victim=$(owner_of "$job")
held=$(grep -c "event=segment job=$job " "$pool/$victim.log" || true)
sleep 1
check "paused: its CLI wrote nothing more in 1 s ($held segments)" \
  [ "$(grep -c "event=segment job=$job " "$pool/$victim.log" || true)" = "$held" ]
check "segments 0 to 1 at least are published by the first owner ($victim: $held)" \
  [ "$held" -ge 2 -a "$held" -lt "$expected" ]
kill -KILL "$(cat "$pool/$victim.pid")"
say "SIGKILLed $victim after segment $((held - 1))"
printf u >&3
rc=0
for _ in $(seq 1 1200); do kill -0 "$shim_pid" 2>/dev/null || break; sleep 0.05; done
wait "$shim_pid" || rc=$?
shim_pid=""
check "shim exited 0 through the takeover (rc=$rc)" [ "$rc" = 0 ]
state=$(rcli HMGET "ffpool:job:$job" state takeovers | tr '\n' ' ')
check "job done with one takeover ($state)" [ "$state" = "done 1 " ]
check "all $expected segments are there ($(segment_count))" [ "$(segment_count)" = "$expected" ]
grep -h "event=segment job=$job " "$pool"/worker-*.log | sed -n 's/.* segment=\([0-9]*\) .*/\1/p' |
  sort -n >"$dir/published"
check "each segment published exactly once ($(wc -l <"$dir/published") publications)" \
  bash -c "[ -z \"\$(uniq -d '$dir/published')\" ] && [ \$(wc -l <'$dir/published') = $expected ]"
check "both CLI workers wrote part of the stream" \
  [ "$(grep -h "event=segment job=$job " "$pool"/worker-*.log | sed 's/.* worker=\([^ ]*\).*/\1/' | sort -u | wc -l)" = 2 ]
check "no private folder or stray file is left beside the segments" \
  bash -c "[ -z \"\$(find '$dir/takeover' -mindepth 1 -name '.ffpool*' -o -mindepth 1 -name '*.tmp')\" ]"
undecodable=""
for ((k = start_number; k < start_number + expected; k++)); do
  [ -z "$(segment_decode_errors "$k")" ] || undecodable+=" $k"
done
check "every segment decodes on its own silently${undecodable:+ (not:$undecodable)}" [ -z "$undecodable" ]
frames() { ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$1"; }
check "every video frame once: $(frames "$playlist") frames, as the reference run's $(frames "$ref_playlist")" \
  [ "$(frames "$playlist")" = "$(frames "$ref_playlist")" ]
e2e_segment_times "$dir/takeover.times" "$pattern" "$init" "$start_number" "$expected"
# The restarted CLI cuts where the first one did: the same frames in every
# segment. Its timestamps may sit one frame earlier than the first run's
# (ffmpeg places the first frame of a run on its own frame grid; a
# Jellyfin seek restart does the same), and its audio is re-encoded from
# the seek on a grid of its own: one frame of tolerance.
rc=0
cmp_out=$(python3 "$here/tests/segment_times.py" compare "$dir/reference.times" "$dir/takeover.times" \
  --kind video --tolerance-ms 41) || rc=$?
check "video: packet count of every segment as in the reference run, times within one frame ($(tail -n 1 <<<"$cmp_out"))" \
  [ "$rc" = 0 ]

# ---- 3. work that is not a stream -----------------------------------------
# run_both NAME ARGS...: the line on the pool (outputs under pool/) and on
# the local CLI (outputs under local/), "{out}" standing for the folder.
run_both() {
  local name=$1 where a
  shift
  for where in pool local; do
    mkdir -p "$dir/$name/$where"
    local line=()
    for a in "$@"; do line+=("${a//\{out\}/$dir/$name/$where}"); done
    if [ "$where" = pool ]; then
      rc=0
      "$build/jellyfin/ffmpeg" "${line[@]}" </dev/null >"$dir/$name/pool.stdout" \
        2>"$dir/$name/pool.stderr" || rc=$?
      echo "$rc" >"$dir/$name/pool.rc"
    else
      rc=0
      ffmpeg "${line[@]}" </dev/null >"$dir/$name/local.stdout" 2>"$dir/$name/local.stderr" || rc=$?
      echo "$rc" >"$dir/$name/local.rc"
    fi
  done
}
# ran_on_pool N: N CLI jobs that are not streams have run on the workers.
ran_on_pool() { [ "$(cat "$pool"/worker-*.log | grep -c 'event=job_done job=.* cli_status=')" = "$1" ]; }

# Trickplay as Jellyfin 10.9+ makes it in software: one tile sheet.
run_both trickplay -loglevel error -an -sn -skip_frame nokey -i "$dir/clip.mkv" -threads 1 \
  -vf "fps=1/2,scale=w=160:h=90,tile=4x3" -c:v mjpeg -qscale:v 3 -f image2 -start_number 0 \
  "{out}/%08d.jpg"
check "trickplay: tile sheets written ($(ls "$dir/trickplay/pool" | wc -l) files)" \
  [ -n "$(ls "$dir/trickplay/pool")" ]
check "trickplay: the pool's tile sheets are the local CLI's, byte for byte" \
  diff -r "$dir/trickplay/pool" "$dir/trickplay/local"
check "trickplay: same exit status ($(cat "$dir/trickplay/pool.rc") and $(cat "$dir/trickplay/local.rc"))" \
  [ "$(cat "$dir/trickplay/pool.rc")" = "$(cat "$dir/trickplay/local.rc")" ]
check "trickplay ran on a worker's CLI" ran_on_pool 1

# Subtitle extraction (SubtitleEncoder: copy the ASS stream out).
run_both extract -i "$dir/subbed.mkv" -copyts -map 0:2 -an -vn -c:s copy "{out}/subs.ass"
check "extraction: the pool's file is the local CLI's, byte for byte" \
  cmp -s "$dir/extract/pool/subs.ass" "$dir/extract/local/subs.ass"
check "extraction ran on a worker's CLI" ran_on_pool 2

# Where the workers do not see the folder a run-once line writes into, it
# runs on Jellyfin's own ffmpeg (shim.fallback_ffmpeg), and the log says
# why: under a paths.map that does not cover it (Kubernetes maps only the
# transcode folder; images and subtitles go to Jellyfin's data and cache
# folders). With shim.delivery shim its files are delivered instead
# (tests/e2e_delivery.sh).
mkdir -p "$dir/unseen"
rc=0
FFPOOL_SHIM_DELIVERY=shared FFPOOL_PATHS_MAP=/nowhere=/elsewhere FFPOOL_SHIM_LOG_FILE="$dir/unseen.log" \
  "$build/jellyfin/ffmpeg" -i "$dir/subbed.mkv" -copyts -map 0:2 -an -vn -c:s copy \
  "$dir/unseen/subs.ass" </dev/null 2>/dev/null || rc=$?
check "unmapped: the extraction ran on the local ffmpeg (rc=$rc) and wrote the CLI's file" \
  bash -c "[ $rc = 0 ] && cmp -s '$dir/unseen/subs.ass' '$dir/extract/local/subs.ass'"
check "unmapped: the log says why ($(grep -o 'it writes [^"]*' "$dir/unseen.log" | head -n 1))" \
  grep -q 'the workers see' "$dir/unseen.log"
check "it did not run on a worker's CLI" ran_on_pool 2

# A loudness scan: its answer is on stderr.
run_both loudness -hide_banner -i "$dir/clip.mkv" -vn -af ebur128=framelog=verbose -f null -
summary() { sed -n '/Summary:/,$p' "$1" | sed 's/ @ 0x[0-9a-f]*//'; }
summary "$dir/loudness/pool.stderr" >"$dir/loudness/pool.summary"
summary "$dir/loudness/local.stderr" >"$dir/loudness/local.summary"
check "loudness: the pool's stderr carries the CLI's summary ($(grep 'I:' "$dir/loudness/pool.summary" | tr -s ' '))" \
  bash -c "[ -s '$dir/loudness/pool.summary' ] && cmp -s '$dir/loudness/pool.summary' '$dir/loudness/local.summary'"

check "the loudness scan ran on a worker's CLI" ran_on_pool 3

# A line that fails: the CLI's status and its last words.
run_both failing -hide_banner -i "$dir/clip.mkv" -vf "scale=w=oops" -c:v mjpeg -f image2 "{out}/%d.jpg"
check "failure: the CLI's exit status ($(cat "$dir/failing/pool.rc") and $(cat "$dir/failing/local.rc"))" \
  [ "$(cat "$dir/failing/pool.rc")" = "$(cat "$dir/failing/local.rc")" ]
check "failure: the CLI's last line ($(tail -n 1 "$dir/failing/local.stderr"))" \
  [ "$(tail -n 1 "$dir/failing/pool.stderr")" = "$(tail -n 1 "$dir/failing/local.stderr")" ]

e2e_finish "$dir/reference.log" "$dir/takeover.log" "$pool"/*.log
