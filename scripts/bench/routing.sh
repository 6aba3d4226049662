#!/usr/bin/env bash
# routing.sh -- what routing costs a worker's claim (issue 6, routing): the
# median time of an empty claim with nothing queued, and with --jobs jobs
# queued ahead that need an encoder the worker lacks (h264_vaapi). The
# claim script looks at the first 64 of them only, so the two should be
# close whatever --jobs is. Prints a markdown section.
#
#   scripts/bench/routing.sh [--jobs 10000] [--claims 2000]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
jobs=10000
claims=2000
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) jobs=$2; shift 2 ;;
    --claims) claims=$2; shift 2 ;;
    *) echo "routing.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
make -s build/bench/routing >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench-routing.XXXXXX")
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
  --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

line=$(build/bench/routing --port "$port" --jobs "$jobs" --claims "$claims")
get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $line"; }

echo "## Routing: cost of a claim (issue 6)"
echo
echo "One worker offering libx264 only, real redis-server on loopback; median"
echo "of $claims empty claims."
echo
echo "| figure | value |"
echo "|---|---|"
echo "| empty claim, nothing queued | $(get empty_claim_p50_us) µs |"
echo "| empty claim, $jobs jobs queued needing h264_vaapi | $(get blocked_claim_p50_us) µs |"
echo
echo "Command: \`scripts/bench/routing.sh --jobs $jobs --claims $claims\`"
echo
echo "Raw: \`$line\`"
