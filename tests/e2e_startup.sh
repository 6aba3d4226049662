#!/usr/bin/env bash
# e2e_startup.sh -- start-up without dependencies, and a full disk.
#
# 1. A worker and a scheduler started while Redis is down: they keep running
#    (no crash loop), log that Redis is unavailable and why, do not flood the
#    log, answer /healthz 200 (liveness never depends on Redis) and /readyz
#    503; once Redis starts on that port they turn ready by themselves and
#    serve a job end to end through the shim.
# 2. A full disk: the transcode folder is a 2 MB tmpfs (SKIPPED, with a line
#    saying so, where mounting is not permitted). A job writing more than
#    that fails with a clear error naming the lack of space, the shim exits
#    non-zero with an "Error:" line, the lease is freed (ZCARD ffpool:leases
#    = 0), no temporary segment is left on the full disk, and the worker
#    survives and serves the next job.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 003)
e2e_init e2e_startup
pool="" # no scripts/pool here: the processes are started by hand
bin=$build/bin
pids=()
mounted=""
stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "$mounted" ] && umount "$mounted" 2>/dev/null || true
}
e2e_at_exit stop_all
trap 'exit 130' INT TERM

http_status() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true; }
wait_status() { # wait_status URL CODE SECONDS
  local k
  for ((k = 0; k < $3 * 10; k++)); do [ "$(http_status "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}

redis_port=$(free_port)
sched_port=$(free_port)
worker_metrics=http://127.0.0.1:$(free_port)
sched_metrics=http://127.0.0.1:$(free_port)
export FFPOOL_REDIS_HOST=127.0.0.1 FFPOOL_REDIS_PORT=$redis_port
export FFPOOL_SCHEDULER_LISTEN=tcp://127.0.0.1:$sched_port FFPOOL_SCHEDULER_URL=tcp://127.0.0.1:$sched_port
# A short lease for a quick test, with a Redis time-out that fits in it
# (config_check_lease).
export FFPOOL_LEASE_TTL_MS=2000 FFPOOL_REDIS_TIMEOUT_MS=1000

# ---- 1. Redis down at start ----
FFPOOL_METRICS_LISTEN=$sched_metrics "$bin/ffpool-scheduler" >"$dir/scheduler.log" 2>&1 </dev/null &
sched_pid=$!
pids+=("$sched_pid")
FFPOOL_WORKER_ID=startup-worker FFPOOL_METRICS_LISTEN=$worker_metrics "$bin/ffpool-worker" \
  >"$dir/worker.log" 2>&1 </dev/null &
worker_pid=$!
pids+=("$worker_pid")
sleep 5
check "scheduler still running 5 s after starting without Redis" kill -0 "$sched_pid"
check "worker still running 5 s after starting without Redis" kill -0 "$worker_pid"
check "worker logs that Redis is unavailable, naming it" \
  grep -q "event=redis_unavailable .*127.0.0.1:$redis_port" "$dir/worker.log"
check "scheduler logs that Redis is unavailable, naming it" \
  grep -q "event=redis_unavailable .*127.0.0.1:$redis_port" "$dir/scheduler.log"
lines=$(cat "$dir/worker.log" "$dir/scheduler.log" | wc -l)
check "no log flood while Redis is down ($lines lines in 5 s)" [ "$lines" -le 20 ]
code=$(http_status "$worker_metrics/readyz")
check "worker /readyz says 503 without Redis (got $code)" [ "$code" = 503 ]
code=$(http_status "$worker_metrics/healthz")
check "worker /healthz says 200 without Redis (got $code)" [ "$code" = 200 ]
code=$(http_status "$sched_metrics/readyz")
check "scheduler /readyz says 503 without Redis (got $code)" [ "$code" = 503 ]

mkdir -p "$dir/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes \
  --save '' --maxmemory-policy noeviction --daemonize no >"$dir/redis.log" 2>&1 </dev/null &
pids+=("$!")
check "worker /readyz turns 200 within 10 s of Redis starting" wait_status "$worker_metrics/readyz" 200 10
check "scheduler /readyz turns 200 within 10 s of Redis starting" wait_status "$sched_metrics/readyz" 200 10
# Before any job exists: the line must come from noticing Redis, not from a claim.
logged_back() {
  local k
  for ((k = 0; k < 50; k++)); do grep -q "event=redis_available" "$dir/worker.log" && return 0; sleep 0.1; done
  return 1
}
check "worker logs that Redis is back, before any job is submitted" logged_back
check "worker and scheduler never restarted (same pids)" kill -0 "$worker_pid" "$sched_pid"

mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"   # held open and never written: the shim's stdin stays open
# run_job NAME CLIP OUTDIR: runs the corpus line through the shim; sets rc, job.
run_job() {
  local args
  mkdir -p "$3"
  mapfile -d '' args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$2" --outdir "$3")
  rc=0
  timeout -s KILL 120 "$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/$1.log" || rc=$?
  job=$(e2e_job_id "$dir/$1.log")
}
rcli() { redis-cli -p "$redis_port" --raw "$@"; }

ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 6 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$dir/small.mkv"
run_job first "$dir/small.mkv" "$dir/out-first"
check "a job submitted after Redis came up succeeds (shim rc=$rc)" [ "$rc" = 0 ]
count=$(ls "$dir/out-first" | grep -c '\.ts$' || true)
check "it wrote 2 segments ($count)" [ "$count" = 2 ]
bad=0
for s in "$dir/out-first"/*.ts; do
  [ -z "$(ffmpeg -v error -i "$s" -f null - 2>&1)" ] || bad=$((bad + 1))
done
check "every segment decodes" [ "$bad" = 0 ]

# ---- 2. a full disk ----
full=$dir/full
mkdir -p "$full"
if ! mount -t tmpfs -o size=2m ffpool-full "$full" 2>"$dir/mount.err"; then
  say "SKIP full disk: cannot mount a tmpfs here ($(head -n 1 "$dir/mount.err"))"
else
  mounted=$full
  # ~8 s at high bitrate: far more than 2 MB of segments.
  ffmpeg -v error -f lavfi -i "testsrc2=size=1280x720:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 8 \
    -c:v libx264 -preset ultrafast -qp 10 -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$dir/big.mkv"
  run_job full "$dir/big.mkv" "$full/out"
  error=""
  [ -n "$job" ] && error=$(rcli HGET "ffpool:job:$job" error)
  say "full disk: shim rc=$rc, job error: $error"
  check "full disk: shim exits non-zero (rc=$rc), not by time-out" [ "$rc" != 0 -a "$rc" != 137 ]
  check "full disk: shim prints an Error: line" grep -q '^Error: ..*' "$dir/full.log"
  check "full disk: job ends failed (state=$(rcli HGET "ffpool:job:$job" state))" \
    [ "$(rcli HGET "ffpool:job:$job" state)" = failed ]
  check "full disk: the error says there is no space" grep -qi 'no space' <<<"$error"
  leases=$(rcli ZCARD ffpool:leases)
  check "full disk: lease freed (ZCARD ffpool:leases = $leases)" [ "$leases" = 0 ]
  tmps=$(find "$full" -name '*.tmp' | wc -l)
  check "full disk: no temporary segment left on the full disk ($tmps)" [ "$tmps" = 0 ]
  check "full disk: worker still running" kill -0 "$worker_pid"
  run_job after "$dir/small.mkv" "$dir/out-after"
  check "the worker serves the next job after the full disk (shim rc=$rc)" [ "$rc" = 0 ]
fi

# Stopped first, so that a LeakSanitizer report at exit (make asan) is in the logs too.
for pid in "$worker_pid" "$sched_pid"; do
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
check "worker and scheduler exit on SIGTERM within 10 s" [ -z "$(for p in "$worker_pid" "$sched_pid"; do kill -0 "$p" 2>/dev/null && echo "$p"; done)" ]
crashes=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error' "$dir"/*.log 2>/dev/null || true)
check "no sanitizer report in any log, through shutdown" [ -z "$crashes" ]
e2e_finish "$dir/worker.log" "$dir/scheduler.log"
