#!/usr/bin/env bash
# wait.sh -- what redis.wait_replicas costs (issue 15, lost writes): the
# median and 99th percentile of a checkpoint (one per segment) answered by
# the master alone and only once its replica holds it (Redis WAIT), on a
# real master and replica on loopback, both with AOF as the manifests run
# them. Prints a markdown section.
#
#   scripts/bench/wait.sh [--checkpoints 2000]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
checkpoints=2000
while [ $# -gt 0 ]; do
  case $1 in
    --checkpoints) checkpoints=$2; shift 2 ;;
    *) echo "wait.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
make -s build/bench/wait >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench-wait.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
master=$(free_port)
replica=$(free_port)
mkdir -p "$tmp/master" "$tmp/replica"
redis-server --port "$master" --bind 127.0.0.1 --dir "$tmp/master" --save '' --appendonly yes \
  --appendfsync everysec --daemonize no >"$tmp/master.log" 2>&1 &
pids+=($!)
redis-server --port "$replica" --bind 127.0.0.1 --dir "$tmp/replica" --save '' --appendonly yes \
  --appendfsync everysec --replicaof 127.0.0.1 "$master" --daemonize no >"$tmp/replica.log" 2>&1 &
pids+=($!)
# The replica is up once the master counts it (its first REPLCONF ACK).
for _ in $(seq 1 200); do
  redis-cli -p "$master" info replication 2>/dev/null | grep -q '^slave0:.*state=online' && break
  sleep 0.05
done
sleep 1.1

line=$(build/bench/wait --port "$master" --checkpoints "$checkpoints")
get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $line"; }

echo "## Lost writes: what WAIT costs a checkpoint (issue 15)"
echo
echo "A real master and replica on loopback (AOF, everysec); $checkpoints checkpoints"
echo "of one job each way."
echo
echo "| checkpoint answered | median | p99 |"
echo "|---|---|---|"
echo "| by the master alone (redis.wait_replicas 0) | $(get master_alone_p50_us) µs | $(get master_alone_p99_us) µs |"
echo "| once a replica holds it (redis.wait_replicas 1) | $(get wait_1_replica_p50_us) µs | $(get wait_1_replica_p99_us) µs |"
echo
echo "Command: \`scripts/bench/wait.sh --checkpoints $checkpoints\`"
echo
echo "Raw: \`$line\`"
