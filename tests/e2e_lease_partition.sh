#!/usr/bin/env bash
# e2e_lease_partition.sh -- a network partition: two workers, each in a
# network namespace of its own made here (ip netns + a veth pair, addresses
# from 10.200.0.0/16 on the veths only, so no traffic leaves the machine),
# reach Redis across their veth. The link of the worker holding the job is
# cut mid-stream (ip link set down: packets vanish, no reset):
#   - the cut worker stops writing on its own at its local deadline
#     (event=self_fenced), before its lease can have expired in Redis;
#   - the other worker takes the job over (epoch 2, one takeover) and
#     finishes it; output complete and valid, every segment's presentation
#     times those of an uninterrupted run first made on the same pool;
#   - the link is restored: the zombie publishes nothing (no segment line of
#     its own after the cut, no segment file changes afterwards), and it
#     reconnects and keeps serving.
# Without CAP_NET_ADMIN (ip netns add fails) it prints SKIP and exits 0.
# The namespaces and veths are deleted on every exit path.
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

tag=$$
ns_a=ffpl-$tag-a; ns_b=ffpl-$tag-b
veth_a=fpl${tag}a; veth_b=fpl${tag}b
netns_made=""
partition_cleanup() {
  local n
  for n in $netns_made; do ip netns del "$n" 2>/dev/null || true; done
  ip link del "$veth_a" 2>/dev/null || true
  ip link del "$veth_b" 2>/dev/null || true
}
e2e_at_exit partition_cleanup

if ! ip netns add "$ns_a" 2>/dev/null; then
  echo "SKIP e2e_lease_partition: cannot create network namespaces (needs CAP_NET_ADMIN)"
  exit 0
fi
netns_made=$ns_a
ip netns add "$ns_b"; netns_made="$ns_a $ns_b"

# A third octet no address on this machine uses yet.
octet=""
for ((k = 0; k < 50; k++)); do
  o=$(( (RANDOM % 250) + 1 ))
  ip -o addr | grep -q "10\.200\.$o\." || { octet=$o; break; }
done
[ -n "$octet" ] || { say "no free 10.200.x.0/24"; exit 1; }
host_a=10.200.$octet.1; worker_a=10.200.$octet.2
host_b=10.200.$octet.5; worker_b=10.200.$octet.6
link_up() { # link_up VETH NS HOST_ADDR NS_ADDR
  ip link add "$1" type veth peer name "$1p"
  ip link set "$1p" netns "$2"
  ip addr add "$3/30" dev "$1"
  ip link set "$1" up
  ip netns exec "$2" ip addr add "$4/30" dev "$1p"
  ip netns exec "$2" ip link set "$1p" up
  ip netns exec "$2" ip link set lo up
}
link_up "$veth_a" "$ns_a" "$host_a" "$worker_a"
link_up "$veth_b" "$ns_b" "$host_b" "$worker_b"

# ---- the pool, by hand: Redis on loopback and both veth host addresses ----
mkdir -p "$pool/redis"
redis_port=$(free_port); sched_port=$(free_port)
setsid redis-server --port "$redis_port" --bind 127.0.0.1 "$host_a" "$host_b" \
  --dir "$pool/redis" --appendonly yes --save '' --maxmemory-policy noeviction \
  --daemonize no --protected-mode no >"$pool/redis.log" 2>&1 </dev/null &
echo $! >"$pool/redis.pid"
for ((k = 0; k < 100; k++)); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export FFPOOL_REDIS_HOST=127.0.0.1 FFPOOL_REDIS_PORT=$redis_port FFPOOL_LEASE_TTL_MS=3000 FFPOOL_REDIS_TIMEOUT_MS=1500
export FFPOOL_SCHEDULER_LISTEN=tcp://127.0.0.1:$sched_port FFPOOL_SCHEDULER_URL=tcp://127.0.0.1:$sched_port
rc() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }
setsid "$build/bin/ffpool-scheduler" >"$pool/scheduler.log" 2>&1 </dev/null &
echo $! >"$pool/scheduler.pid"
start_worker() { # start_worker NAME NS HOST_ADDR
  FFPOOL_WORKER_ID=$1 FFPOOL_REDIS_HOST=$3 ip netns exec "$2" setsid "$build/bin/ffpool-worker" \
    >"$pool/$1.log" 2>&1 </dev/null &
  echo $! >"$pool/$1.pid"
}
start_worker worker-a "$ns_a" "$host_a"
start_worker worker-b "$ns_b" "$host_b"
sleep 0.3
for f in "$pool"/*.pid; do
  kill -0 "$(cat "$f")" 2>/dev/null || { say "FAIL $(basename "$f" .pid) did not start"; cat "${f%.pid}.log" >&2; exit 1; }
done

lease_clip 24 960x540
lease_reference
lease_shim_start
lease_wait_segment 1 120
victim=$(lease_job_field owner)
victim_pid=$(lease_owner_pid)
case $victim in worker-a) cut=$veth_a ;; *) cut=$veth_b ;; esac
published_before=$(grep -c "event=segment job=$lease_job_id .*worker=$victim " "$pool/$victim.log" || true)
ip link set "$cut" down
cut_at=$(now)
say "cut $victim's link ($cut) holding $lease_job_id after $published_before segments"

# Keep the link down until the other worker has taken over and published.
for ((k = 0; k < 600; k++)); do
  owner=$(lease_job_field owner)
  if [ -n "$owner" ] && [ "$owner" != "$victim" ] &&
     grep -q "event=segment job=$lease_job_id .*worker=$owner " "$pool/$owner.log"; then
    break
  fi
  kill -0 "$lease_shim_pid" 2>/dev/null || break
  sleep 0.05
done
ip link set "$cut" up
restored_at=$(now)
say "link restored after $(elapsed "$cut_at" "$restored_at") s"
lease_shim_wait 120
snapshot() { for f in "$dir"/transcodes/*.ts; do stat -c '%n %i %.9Y' "$f"; done; }
snapshot >"$dir/files.1"
sleep 2 # the zombie reconnects meanwhile
snapshot >"$dir/files.2"

lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch); takeovers=$(lease_job_field takeovers)
check "taken over and done ($state epoch=$epoch takeovers=$takeovers)" [ "$state:$epoch:$takeovers" = done:2:1 ]
check "the cut worker stopped writing on its own" \
  grep -q "event=self_fenced job=$lease_job_id " "$pool/$victim.log"
deadline_at=$(awk -v a="$cut_at" 'BEGIN { printf "%.3f", a + 2.5 }')
late=0
while read -r n _ who; do
  m=$(stat -c %.9Y "$(segment_path "$n")")
  if [ "$who" = "$victim" ] && awk -v a="$m" -v b="$deadline_at" 'BEGIN { exit !(a > b) }'; then
    late=$((late + 1)); say "segment $n published by the cut worker after its deadline"
  fi
done <"$dir/owners"
check "the cut worker published nothing past its deadline" [ "$late" = 0 ]
check "no segment file changed after the link came back" cmp -s "$dir/files.1" "$dir/files.2"
check "the cut worker is alive" kill -0 "$victim_pid"
# Its announcement (server ms) must be refreshed after the link came back.
back=0
for ((k = 0; k < 100; k++)); do
  updated=$(rc HGET "ffpool:worker:$victim" updated_ms)
  awk -v u="${updated:-0}" -v r="$restored_at" 'BEGIN { exit !(u / 1000 > r) }' && { back=1; break; }
  sleep 0.1
done
check "the cut worker reconnects and announces itself again" [ "$back" = 1 ]
lease_finish
