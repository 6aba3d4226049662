#!/usr/bin/env bash
# leakcheck.sh -- the worker's memory, measured (slow; not part of make test).
#
#   scripts/leakcheck.sh [--segments N] [--jobs N] [--sample-every N] [--skip-valgrind]
#                        [--skip-rss] [--dir DIR] [--keep]
#
# 1. valgrind memcheck: one worker (build/bin/ffpool-worker) runs under
#    valgrind --leak-check=full --trace-children=yes (the job runs in a job
#    process of its own, which valgrind follows; one log per process) while
#    it transcodes one job of N segments
#    (default 50: a 160x90 clip cut into 1 s segments through the shim with a
#    real Jellyfin command line), then is stopped with SIGTERM. Prints the
#    definitely / indirectly / possibly lost bytes and the error count, and
#    keeps the full valgrind log.
# 2. RSS over consecutive jobs: a plain worker runs N small jobs (default 200,
#    6 s clips at 160x90, two segments each) one after the other; VmRSS of
#    the worker process (the supervisor: each job runs in a fresh job
#    process) is sampled from /proc every few jobs. Prints first / last / max.
# Exits non-zero if valgrind reports definitely or indirectly lost bytes or
# memory errors, or if a job fails. Redis, scheduler and worker run on free
# loopback ports in a temporary folder and are stopped on every exit path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
bin=$build/bin
corpus=$(ls "$here"/tests/corpus/003-*.txt 2>/dev/null | head -n 1)
segments=50
jobs=200
sample_every=10
do_valgrind=1
do_rss=1
dir=""
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --segments) segments=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --sample-every) sample_every=$2; shift 2 ;;
    --skip-valgrind) do_valgrind=0; shift ;;
    --skip-rss) do_rss=0; shift ;;
    --dir) dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "leakcheck: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$corpus" ] && [ -f "$corpus" ] || { echo "leakcheck: corpus line not found" >&2; exit 2; }
[ "$do_valgrind" = 0 ] || command -v valgrind >/dev/null || { echo "leakcheck: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-leakcheck.XXXXXX")
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pids=()
status=0

say() { echo "leakcheck: $*" >&2; }
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  exec 3>&- 2>/dev/null || true
  if [ "$keep" = 0 ] && [ "$status" = 0 ]; then rm -rf "$dir"; else say "kept $dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"

redis_port=$(free_port)
sched_port=$(free_port)
export FFPOOL_REDIS_HOST=127.0.0.1 FFPOOL_REDIS_PORT=$redis_port
export FFPOOL_SCHEDULER_LISTEN=tcp://127.0.0.1:$sched_port FFPOOL_SCHEDULER_URL=tcp://127.0.0.1:$sched_port
# valgrind slows the worker twenty-fold or more: a long lease keeps it the owner.
export FFPOOL_LEASE_TTL_MS=60000 FFPOOL_LEASE_SAFETY_MARGIN_MS=5000
mkdir -p "$dir/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --save '' --appendonly no \
  --maxmemory-policy noeviction --daemonize no >"$dir/redis.log" 2>&1 </dev/null &
pids+=("$!")
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$bin/ffpool-scheduler" >"$dir/scheduler.log" 2>&1 </dev/null &
pids+=("$!")
mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"   # held open and never written: the shim's stdin stays open

# run_job CLIP OUTDIR HLS_TIME: the corpus line through the shim, with the
# segment length (and its keyframe expression) set to HLS_TIME. Sets rc.
run_job() {
  local a args=() i
  mkdir -p "$2"
  mapfile -d '' a < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$1" --outdir "$2")
  for ((i = 0; i < ${#a[@]}; i++)); do
    case ${a[i]} in
      -hls_time) args+=(-hls_time "$3"); i=$((i + 1)) ;;
      expr:gte\(t,*n_forced*\)) args+=("expr:gte(t,n_forced*$3)") ;;
      *) args+=("${a[i]}") ;;
    esac
  done
  rc=0
  "$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/shim.log" || rc=$?
}

# ---- 1. valgrind memcheck of one job of N segments ----
if [ "$do_valgrind" = 1 ]; then
  ffmpeg -v error -f lavfi -i "testsrc2=size=160x90:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$segments" \
    -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 64k "$dir/long.mkv"
  # libx264's SIMD code reads up to 16 bytes past the end of its own
  # buffers (within its allocation's alignment slack, harmless, and known to
  # valgrind users): thousands of "Invalid read of size 16" entirely inside
  # libx264's threads. Suppressed, and the count printed.
  cat >"$dir/x264.supp" <<'EOF'
{
   libx264-simd-overread-16
   Memcheck:Addr16
   obj:*/libx264.so*
}
{
   libx264-simd-overread-32
   Memcheck:Addr32
   obj:*/libx264.so*
}
{
   libx264-simd-overread-8
   Memcheck:Addr8
   obj:*/libx264.so*
}
EOF
  # No watchdog: under valgrind a job process spends many seconds loading
  # libav before its first progress line.
  FFPOOL_WORKER_JOB_WATCHDOG_MS=0 FFPOOL_WORKER_ID=valgrind-worker valgrind --tool=memcheck \
    --leak-check=full --trace-children=yes --suppressions="$dir/x264.supp" \
    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect \
    --num-callers=30 --log-file="$dir/valgrind.%p.log" "$bin/ffpool-worker" \
    >"$dir/worker-valgrind.log" 2>&1 </dev/null &
  vg_pid=$!
  pids+=("$vg_pid")
  started=$(date +%s)
  run_job "$dir/long.mkv" "$dir/out-valgrind" 1
  published=$(ls "$dir/out-valgrind" | grep -c '\.ts$' || true)
  say "valgrind job: shim rc=$rc, $published segments in $(( $(date +%s) - started )) s"
  [ "$rc" = 0 ] && [ "$published" -ge "$segments" ] || { say "FAIL the job under valgrind did not complete"; status=1; tail -n 5 "$dir/shim.log" "$dir/worker-valgrind.log" >&2; }
  stop_pid "$vg_pid"
  for log in "$dir"/valgrind.*.log; do
    lost() { # lost KIND: bytes and blocks from the LEAK SUMMARY
      sed -n "s/.*$1 lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 bytes in \2 blocks/p" "$log" | tail -n 1
    }
    definite=$(lost definitely)
    indirect=$(lost indirectly)
    possible=$(lost possibly)
    reachable=$(sed -n 's/.*still reachable: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 bytes in \2 blocks/p' "$log" | tail -n 1)
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -n 1)
    suppressed=$(sed -n 's/.*ERROR SUMMARY: .*(suppressed: \([0-9,]*\) from.*/\1/p' "$log" | tail -n 1)
    if grep -q -- '--run-job' "$log"; then what="job process"; else what="worker process"; fi
    echo "valgrind memcheck, $what, one job of $published segments (160x90, 1 s segments):"
    echo "  definitely lost: ${definite:-no leak summary}"
    echo "  indirectly lost: ${indirect:-none}"
    echo "  possibly lost:   ${possible:-none}"
    echo "  still reachable: ${reachable:-none}"
    echo "  error summary:   ${errors:-?} errors (leaks of definite/indirect kind count as errors)," \
      "${suppressed:-0} suppressed (libx264 SIMD over-reads)"
    echo "  full log: $log"
    if [ -z "$definite" ] && ! grep -q 'All heap blocks were freed' "$log"; then
      say "FAIL valgrind wrote no leak summary in $log (did the process exit?)"; status=1
    fi
    case ${definite:-0 bytes}:${indirect:-0 bytes} in
      "0 bytes"*:"0 bytes"*) ;;
      *) say "FAIL memory leaked (see $log)"; status=1 ;;
    esac
    [ "${errors:-1}" = 0 ] || { say "FAIL valgrind reported ${errors:-?} errors in $log"; status=1; }
  done
  [ "$(ls "$dir"/valgrind.*.log | wc -l)" -ge 2 ] || { say "FAIL valgrind did not follow the job process"; status=1; }
fi

# ---- 2. RSS of one worker over consecutive jobs ----
if [ "$do_rss" = 1 ]; then
  export FFPOOL_LEASE_TTL_MS=3000 FFPOOL_LEASE_SAFETY_MARGIN_MS=500 FFPOOL_REDIS_TIMEOUT_MS=1500
  ffmpeg -v error -f lavfi -i "testsrc2=size=160x90:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 6 \
    -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 64k "$dir/short.mkv"
  FFPOOL_WORKER_ID=rss-worker "$bin/ffpool-worker" >"$dir/worker-rss.log" 2>&1 </dev/null &
  rss_pid=$!
  pids+=("$rss_pid")
  rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$rss_pid/status"; }
  sleep 0.5
  echo "worker RSS over $jobs consecutive jobs (kB, sampled every $sample_every jobs):"
  printf '  %-6s %s\n' jobs rss_kB
  printf '  %-6s %s\n' 0 "$(rss)"
  first="" last="" max=0 failed_jobs=0
  started=$(date +%s)
  for ((j = 1; j <= jobs; j++)); do
    run_job "$dir/short.mkv" "$dir/out-rss/$j" 3
    [ "$rc" = 0 ] || { failed_jobs=$((failed_jobs + 1)); tail -n 3 "$dir/shim.log" >&2; }
    rm -rf "$dir/out-rss/$j"
    if [ $((j % sample_every)) = 0 ] || [ "$j" = 1 ]; then
      kb=$(rss)
      printf '  %-6s %s\n' "$j" "$kb"
      [ -n "$first" ] || first=$kb
      last=$kb
      [ "$kb" -gt "$max" ] && max=$kb
    fi
  done
  echo "  first (after job 1) $first kB, last (after job $jobs) $last kB, max $max kB," \
    "growth $((last - first)) kB; $failed_jobs failed jobs; $(( $(date +%s) - started )) s"
  [ "$failed_jobs" = 0 ] || status=1
fi
exit "$status"
