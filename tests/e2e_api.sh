#!/usr/bin/env bash
# e2e_api.sh -- the job API end to end: two stateless schedulers on one
# Redis, a client that knows both, and one of them SIGKILLed mid-stream.
#
#   tests/e2e_api.sh [--keep]
#
# A local pool (scripts/pool: redis-server, scheduler A, one worker) plus a
# second scheduler B, both confined to DIR/media (inputs) and
# DIR/transcodes (outputs). Exits 0 only if every check passes:
#   - a Jellyfin HLS command line through the shim, with
#     FFPOOL_SCHEDULER_URL=A,B, exits 0 although A was SIGKILLed while the
#     job was running, and every segment is on disk;
#   - `ffpoolctl follow` (Watch long polls) started before the kill follows
#     the job to `done` through B;
#   - after the kill, B alone answers Status and ListJobs;
#   - a job whose input is a symlink out of the media root is refused with
#     the confinement message, and nothing is queued for it.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_api
[ "${1:-}" = --keep ] && keep=1
shim_pid=""
follow_pid=""
second_pid=""
stop_clients() {
  for p in $shim_pid $follow_pid; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$second_pid" ]; then
    kill -TERM "$second_pid" 2>/dev/null || true
    wait "$second_pid" 2>/dev/null || true
  fi
}
e2e_at_exit stop_clients

mkdir -p "$dir/media" "$dir/transcodes" "$dir/outside"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 18 \
  -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 64k "$clip"
cp "$clip" "$dir/outside/secret.mkv"
ln -s ../outside/secret.mkv "$dir/media/escape.mkv"

# ---- pool with scheduler A, then scheduler B on the same Redis ----------
export FFPOOL_PATHS_MEDIA_ROOTS=$dir/media
export FFPOOL_PATHS_TRANSCODE_ROOT=$dir/transcodes
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
url_a=$FFPOOL_SCHEDULER_URL
url_b=tcp://127.0.0.1:$(free_port)
FFPOOL_SCHEDULER_LISTEN=$url_b "$build/bin/ffpool-scheduler" >"$dir/scheduler-b.log" 2>&1 &
second_pid=$!
export FFPOOL_SCHEDULER_URL=$url_a,$url_b
for _ in $(seq 1 100); do
  FFPOOL_SCHEDULER_URL=$url_b "$build/bin/ffpoolctl" jobs >/dev/null 2>&1 && break
  sleep 0.05
done

# ---- confinement: a symlink out of the media root is refused ------------
mapfile -d '' bad_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" \
  --input "$dir/media/escape.mkv" --outdir "$dir/transcodes/bad")
bad_rc=0
"$build/jellyfin/ffmpeg" "${bad_args[@]}" </dev/null >/dev/null 2>"$dir/bad.log" || bad_rc=$?
check "escaping input refused (rc=$bad_rc)" [ "$bad_rc" != 0 ]
check "refusal names the media root" grep -q "outside paths.media_roots" "$dir/bad.log"
check "nothing queued for the refused job" \
  [ "$(redis-cli -p "$FFPOOL_REDIS_PORT" ZCARD ffpool:jobs)" = 0 ]

# ---- a real stream through the shim, with both schedulers -------------
e2e_shim_args "$clip" "$dir/transcodes"
: >"$dir/shim.log"
"$build/jellyfin/ffmpeg" "${args[@]}" </dev/null 2>>"$dir/shim.log" &
shim_pid=$!

job_id=$(e2e_wait_job_id "$dir/shim.log")
check "shim submitted a job ($job_id)" [ -n "$job_id" ]
: >"$dir/follow.out"
"$build/bin/ffpoolctl" --json follow "$job_id" >>"$dir/follow.out" 2>"$dir/follow.err" &
follow_pid=$!

for _ in $(seq 1 1200); do [ -e "$(segment_path 1)" ] && break; sleep 0.05; done
state_at_kill=$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job_id" state)
lines_at_kill=$(wc -l <"$dir/follow.out")
kill -KILL "$(cat "$pool/scheduler.pid")"
say "SIGKILLed scheduler A with the job $state_at_kill after segment 1"
check "job was still running when A died (state=$state_at_kill)" [ "$state_at_kill" = running ]

shim_rc=0
for _ in $(seq 1 1200); do kill -0 "$shim_pid" 2>/dev/null || break; sleep 0.05; done
wait "$shim_pid" || shim_rc=$?
shim_pid=""
follow_rc=0
for _ in $(seq 1 400); do kill -0 "$follow_pid" 2>/dev/null || break; sleep 0.05; done
wait "$follow_pid" || follow_rc=$?
follow_pid=""

check "shim exited 0 through scheduler B (rc=$shim_rc)" [ "$shim_rc" = 0 ]
check "ffpoolctl follow ended with the job done (rc=$follow_rc)" [ "$follow_rc" = 0 ]
check "follow printed progress after the kill ($lines_at_kill lines before)" \
  [ "$(wc -l <"$dir/follow.out")" -gt "$lines_at_kill" ]
check "follow's last line says done" grep -q '"state":"done"' <(tail -n 1 "$dir/follow.out")
count=$(ls "$dir/transcodes" | grep -c '\.ts$' || true)
check "all 6 segments on disk ($count)" [ "$count" = 6 ]
only_b() { FFPOOL_SCHEDULER_URL=$url_b "$build/bin/ffpoolctl" job "$job_id" >/dev/null; }
check "B alone answers Status" only_b
only_a() { ! FFPOOL_SCHEDULER_URL=$url_a FFPOOL_SCHEDULER_TIMEOUT_MS=500 \
  "$build/bin/ffpoolctl" job "$job_id" 2>"$dir/only-a.err"; }
check "a client that knows only A fails with an error, not a hang" only_a

e2e_finish "$dir/shim.log" "$dir/follow.err"
