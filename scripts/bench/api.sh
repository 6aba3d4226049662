#!/usr/bin/env bash
# api.sh -- job API throughput (issue #6): 32 concurrent clients, each its
# own nng REQ socket, doing Submit + Status round trips on loopback against
# one ffpool-scheduler and a real redis-server (no workers: the jobs stay
# queued). Prints a markdown section: submits/s, p50/p99 latency of Submit
# and Status, and Redis commands per Submit (INFO commandstats delta over a
# submit-only run).
#
#   scripts/bench/api.sh [--clients 32] [--seconds 5] [--contexts 16]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
clients=32
seconds=5
contexts=${FFPOOL_SCHEDULER_CONTEXTS:-16}
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --contexts) contexts=$2; shift 2 ;;
    *) echo "api.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
make -s build/bench/api build/bin/ffpool-scheduler >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench-api.XXXXXX")
redis_pid=""
sched_pid=""
cleanup() {
  [ -n "$sched_pid" ] && kill -TERM "$sched_pid" 2>/dev/null && wait "$sched_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"
redis_port=$(free_port)
sched_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
  --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
url=tcp://127.0.0.1:$sched_port
FFPOOL_REDIS_PORT=$redis_port FFPOOL_SCHEDULER_LISTEN=$url FFPOOL_SCHEDULER_CONTEXTS=$contexts \
  FFPOOL_LOG_LEVEL=warn build/bin/ffpool-scheduler >"$tmp/scheduler.log" 2>&1 &
sched_pid=$!
sleep 0.3

# Sum of calls over every command, from INFO commandstats.
redis_calls() {
  redis-cli -p "$redis_port" INFO commandstats |
    awk -F'[=,:]' '/^cmdstat_/ { for (i = 1; i < NF; i++) if ($i == "calls") s += $(i + 1) } END { print s + 0 }'
}

# Commands per Submit: a short submit-only run (the 2 INFO calls excluded).
before=$(redis_calls)
submit_only=$(build/bench/api --url "$url" --clients "$clients" --seconds 2 --no-status)
after=$(redis_calls)
submits=$(sed -n 's/.* submits=\([0-9]*\) .*/\1/p' <<<"$submit_only")
per_submit=$(awk -v a="$before" -v b="$after" -v n="$submits" 'BEGIN { printf "%.2f", (b - a - 1) / n }')

# Submit + Status round trips.
before=$(redis_calls)
line=$(build/bench/api --url "$url" --clients "$clients" --seconds "$seconds")
after=$(redis_calls)
get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $line"; }
pairs=$(get submits)
per_pair=$(awk -v a="$before" -v b="$after" -v n="$pairs" 'BEGIN { printf "%.2f", (b - a - 1) / n }')

echo "## Job API: Submit + Status round trips (issue #6)"
echo
echo "$clients client threads, each with its own nng REQ socket, on loopback; one"
echo "ffpool-scheduler (scheduler.contexts=$contexts) and a real redis-server; no workers."
echo "Each iteration submits a new job (new job_key) and then reads its Status."
echo
echo "| figure | value |"
echo "|---|---|"
echo "| submits/s (with a Status after each) | $(get submits_per_s) |"
echo "| requests/s (Submit + Status) | $(get requests_per_s) |"
echo "| Submit latency p50 / p99 | $(get submit_p50_us) µs / $(get submit_p99_us) µs |"
echo "| Status latency p50 / p99 | $(get status_p50_us) µs / $(get status_p99_us) µs |"
echo "| submits/s (Submit only) | $(sed -n 's/.* submits_per_s=\([0-9]*\).*/\1/p' <<<"$submit_only") |"
echo "| Redis commands per Submit | $per_submit |"
echo "| Redis commands per Submit + Status | $per_pair |"
echo "| errors | $(get errors) |"
echo
echo "Command: \`scripts/bench/api.sh --clients $clients --seconds $seconds --contexts $contexts\`"
echo
echo "Raw: \`$line\`"
