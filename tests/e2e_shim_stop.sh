#!/usr/bin/env bash
# e2e_shim_stop.sh -- Jellyfin stopping a transcode: `q` on stdin (a seek
# restart, the kill timer, playback stopped) or SIGTERM, while the
# scheduler does not answer. A real pool (scripts/pool, one worker), the
# real shim binary with a real 10.8 command line (tests/corpus/002-*) on a
# synthetic clip, the scheduler frozen with SIGSTOP.
#
#   tests/e2e_shim_stop.sh [--keep]
#
# Jellyfin writes q and SIGKILLs the process 5 s later, and a seek restart
# waits for that exit; then it deletes the newest segment file, taking it
# for the one ffmpeg left unfinished. Checks, each printed as ok/FAIL:
#   - q with the scheduler frozen (the shim's status call hanging): the
#     shim exits 0 within 1 s, saying what ffmpeg says;
#   - the job still ends cancelled once the scheduler answers again, by the
#     cancel the shim left behind (the heartbeat TTL here is 60 s, so it is
#     not the heartbeat lapsing);
#   - the folder as ffmpeg would leave it: the newest segment file is the
#     empty placeholder after the last complete segment, which is what
#     Jellyfin deletes (never a complete segment);
#   - the same for SIGTERM (exit 255 within 1 s, cancelled afterwards,
#     the placeholder kept).
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_shim_stop
[ "${1:-}" = --keep ] && keep=1
ffmpeg_shim=$build/jellyfin/ffmpeg
shim_pids=()
sched_pid=""
cleanup_stop() {
  local pid
  [ -n "$sched_pid" ] && kill -CONT "$sched_pid" 2>/dev/null
  for pid in "${shim_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
e2e_at_exit cleanup_stop

mkdir -p "$dir/media"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 \
  -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$clip"

export FFPOOL_LEASE_HEARTBEAT_TTL_MS=60000
export FFPOOL_SHIM_CAPS_CACHE=$dir/caps.cache
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
sched_pid=$(cat "$pool/scheduler.pid")

job_state() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$1" state; }
wait_state() { # JOB STATE SECONDS
  local k
  for ((k = 0; k < $3 * 20; k++)); do [ "$(job_state "$1")" = "$2" ] && return 0; sleep 0.05; done
  return 1
}
wait_exit() { # PID SECONDS
  local k
  for ((k = 0; k < $2 * 20; k++)); do alive "$1" || return 0; sleep 0.05; done
  return 1
}
segments() { find "$(dirname "$pattern")" -maxdepth 1 -name '*.ts' | wc -l; }
# newest_segment: the segment file Jellyfin would delete (newest mtime).
newest_segment() {
  find "$(dirname "$pattern")" -maxdepth 1 -name '*.ts' -printf '%T@ %f\n' | sort -n | tail -n 1 | cut -d' ' -f2
}
index_of() { sed 's/.*[^0-9]\([0-9]*\)\.ts$/\1/' <<<"$1"; }

# session NAME HOW: a transcode stopped by HOW (q or TERM) after segment 2,
# with the job paused first (Jellyfin's throttling), so that the folder is
# still when it stops, and the scheduler frozen.
session() {
  local name=$1 how=$2 k
  mkdir -p "$dir/$name"
  e2e_shim_args "$clip" "$dir/$name"
  mkfifo "$dir/$name.in"
  exec {key_fd}<>"$dir/$name.in"
  "$ffmpeg_shim" "${args[@]}" <"$dir/$name.in" 2>"$dir/$name.err" &
  local pid=$!
  shim_pids+=("$pid")
  for ((k = 0; k < 1200; k++)); do [ -e "$(segment_path 3)" ] && break; sleep 0.05; done
  local job
  job=$(e2e_wait_job_id "$dir/$name.err")
  printf p >&"$key_fd"
  for ((k = 0; k < 100; k++)); do
    [ "$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job" paused)" = 1 ] && break
    sleep 0.05
  done
  # The worker sees the pause at its next renewal: wait for a still folder,
  # and for the shim to have seen the last checkpoint (one status poll).
  local count
  count=$(segments)
  for ((k = 0; k < 20; k++)); do
    sleep 1.5
    [ "$(segments)" = "$count" ] && break
    count=$(segments)
  done
  local last_complete
  last_complete=$(find "$(dirname "$pattern")" -name '*.ts' -size +0 | sed 's/.*[^0-9]\([0-9]*\)\.ts$/\1/' | sort -n | tail -n 1)
  kill -STOP "$sched_pid"
  sleep 1 # the shim's next status call now hangs on the frozen scheduler
  local stopped_at rc=0
  stopped_at=$(now)
  if [ "$how" = q ]; then printf 'q\n' >&"$key_fd"; else kill -TERM "$pid"; fi
  wait_exit "$pid" 5 || true
  local took
  took=$(elapsed "$stopped_at")
  wait "$pid" || rc=$?
  local want=0 message='^\[q\] command received. Exiting.$'
  [ "$how" = TERM ] && want=255 message='Exiting normally, received signal 15\.$'
  check "$name: $how with the scheduler frozen: the shim exits within 1 s (${took}s), status $want ($rc)" \
    bash -c "awk 'BEGIN { exit !($took < 1) }' && [ $rc = $want ] && grep -q '$message' '$dir/$name.err'"
  local newest
  newest=$(newest_segment)
  check "$name: the newest segment file ($newest) is the empty placeholder after segment $last_complete" \
    bash -c "[ -n '$newest' ] && [ ! -s '$(dirname "$pattern")/$newest' ] &&
             [ '$(index_of "$newest")' = $((last_complete + 1)) ]"
  check "$name: the job is not cancelled while the scheduler is frozen ($(job_state "$job"))" \
    [ "$(job_state "$job")" = running ]
  kill -CONT "$sched_pid"
  check "$name: once the scheduler answers, the job ends cancelled (the cancel left behind)" \
    wait_state "$job" cancelled 15
}

session quit q
session term TERM

e2e_finish "$dir"/*.err "$pool"/*.log
