#!/usr/bin/env bash
# e2e_drain_worker.sh -- an operator drains a busy worker through the API:
# `ffpoolctl drain WORKER` while that worker holds a running stream. The
# worker must see the request in its next announcement, hand the job back at
# once (a release, not a lost lease: no takeover, no attempt counted), and
# exit; the other worker must finish the stream from the next segment, and
# the shim must exit 0 with every segment present exactly once, each with
# the presentation times (video and audio, first and last, packet count) of
# the same segment of an uninterrupted run of the line made first on the
# same pool. Also: Attach by an unknown job_key is a clear not-found.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 003)
e2e_init e2e_drain_worker
shim_pid=""
stop_shim() { if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi; }
e2e_at_exit stop_shim

duration=45
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$duration" \
  -c:v libx264 -preset ultrafast -g 50 -c:a aac "$dir/clip.mkv"
mkdir -p "$dir/transcodes" "$dir/reference"
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 2 --dir "$pool" 2>/dev/null
# shellcheck disable=SC1091
. "$pool/env"

# The uninterrupted run: what every segment must look like.
e2e_shim_args "$dir/clip.mkv" "$dir/reference"
expected=$(( (duration + hls_time - 1) / hls_time ))
rc=0
timeout 120 "$build/jellyfin/ffmpeg" "${args[@]}" </dev/null 2>"$dir/reference.log" || rc=$?
check "uninterrupted run: shim exited 0 (rc=$rc)" [ "$rc" = 0 ]
e2e_segment_times "$dir/reference.times" "$pattern" "$init" "$start_number" "$expected"
e2e_check_timeline "uninterrupted run" "$dir/reference.times"

e2e_shim_args "$dir/clip.mkv" "$dir/transcodes"

mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"
"$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/shim.log" &
shim_pid=$!

for _ in $(seq 1 1200); do [ -s "$(segment_path 1)" ] && break; sleep 0.05; done
job_id=$(e2e_job_id "$dir/shim.log")
owner=$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job_id" owner)
owner_pid=$(cat "$pool/$owner.pid")
check "the job $job_id is running on $owner" [ -n "$job_id" -a -n "$owner" ]
# Paused first (Jellyfin's throttling), so that the stream cannot end before
# the worker sees the drain request, however fast this machine encodes.
printf p >&3
for _ in $(seq 1 100); do
  [ "$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job_id" paused)" = 1 ] && break
  sleep 0.05
done

# shellcheck disable=SC2016 # $0 is for the inner shell
check "draining an unknown worker is refused" \
  bash -c '! "$0" drain no-such-worker 2>/dev/null' "$build/bin/ffpoolctl"
"$build/bin/ffpoolctl" drain "$owner" >"$dir/drain.out"
check "ffpoolctl drain $owner is accepted" grep -q "drain requested for $owner" "$dir/drain.out"

# The announcement comes every 2 s; the drain itself takes milliseconds.
exited=0
for _ in $(seq 1 100); do
  alive "$owner_pid" || { exited=1; break; }
  sleep 0.1
done
check "the drained worker exited within 10 s" [ "$exited" = 1 ]
check "it logged the operator's request and released the job" \
  grep -q "event=job_released job=$job_id" "$pool/$owner.log"
printf u >&3 # the other worker carries on

rc=0
for _ in $(seq 1 1200); do kill -0 "$shim_pid" 2>/dev/null || break; sleep 0.05; done
wait "$shim_pid" || rc=$?
shim_pid=""
check "shim exited 0 (rc=$rc)" [ "$rc" = 0 ]
count=$(segment_count)
check "all $expected segments are there ($count)" [ "$count" = "$expected" ]
grep -h "event=segment job=$job_id " "$pool"/worker-*.log |
  sed -n 's/.* segment=\([0-9]*\) .*/\1/p' | sort -n >"$dir/published"
check "each segment published exactly once" [ -z "$(uniq -d "$dir/published")" ]
check "both workers wrote part of the stream" \
  [ "$(grep -h "event=segment job=$job_id " "$pool"/worker-*.log | sed 's/.* worker=\([^ ]*\).*/\1/' | sort -u | wc -l)" = 2 ]
state=$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HMGET "ffpool:job:$job_id" state takeovers attempts | tr '\n' ' ')
check "job done with no takeover and no attempt counted ($state)" [ "$state" = "done 0 0 " ]
out=$(timeout 60 ffmpeg -nostdin -v error -i "$playlist" -f null - 2>&1 || echo failed)
check "the playlist decodes end to end silently" [ -z "$out" ]
e2e_segment_times "$dir/transcodes.times" "$pattern" "$init" "$start_number" "$expected"
e2e_check_segment_times "segment times" "$dir/reference.times" "$dir/transcodes.times"

attach_out=$("$build/bin/ffpoolctl" attach-key no-such-key 2>&1 || true)
check "attach by an unknown job_key is a clear not-found" grep -q "not found" <<<"$attach_out"

e2e_finish "$dir/shim.log" "$pool"/*.log
