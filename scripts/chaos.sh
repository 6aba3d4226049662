#!/usr/bin/env bash
# chaos.sh -- chaos soak of a local pool, bounded in time and count, on
# loopback only. Keeps K streams running through the shim (a real Jellyfin
# HLS command line each; a finished stream is replaced by a new one while
# time remains) on a pool of N workers, and meanwhile, every 1.5-3.5 s:
#   - SIGKILLs a worker (most often one holding a stream) and starts a fresh
#     one in its place, so that the pool stays at N workers;
#   - or SIGSTOPs a worker with its job processes (its process group) for
#     0.5 s to 2 lease lengths, then SIGCONTs them (long stops make it a
#     stale owner that must not publish); a SIGKILLed worker's job processes
#     die with it (PR_SET_PDEATHSIG);
#   - or stalls Redis (CLIENT PAUSE ALL) for 0.3 s to 2 s, as an AOF fsync,
#     a fork for a snapshot or an overloaded node does: every renewal,
#     checkpoint and claim waits;
# and restarts Redis once, half way (same port, same folder, AOF), starting
# one more stream right after it, as a Jellyfin would.
# When the time is up it stops the chaos, lets the streams finish and checks
# every stream: the shim exited 0; the job ended `done`; every segment index
# is on disk, and none was published twice (worker logs, `event=segment`);
# every segment decodes on its own; every video frame of the clip is in the
# output once (the segments' frame counts add up to the clip's);
# and the timeline is continuous: segment k+1's first video pts is within one
# frame of segment k's end. Prints a table, and exits 0 only if every check
# passed.
#
# --sentinel: Redis is a master and a replica (min-replicas-to-write 1,
# min-replicas-max-lag 1, as in deploy/k8s/redis-sentinel) watched by 3
# Sentinels (quorum 2), and every ffpool process finds the master through
# them (FFPOOL_REDIS_SENTINELS; no fixed Redis address). Instead of the Redis
# restart, the soak fails over with lost writes, the first time 30-60 s in and
# then every 60-120 s: the replica is SIGSTOPped; the master, still within
# min-replicas-max-lag, acknowledges a marker key and whatever the pool
# writes for 0.2-0.7 s (more under load); then the master and the stopped
# replica are SIGKILLed (the writes sitting in the replica's socket buffer
# die with it: a SIGSTOP alone loses nothing, the kernel still receives the
# stream) and the replica restarts at once from its own AOF, without those
# writes; the Sentinels promote it, and the old master restarts from its own
# folder as a replica of the new one (as the manifest's init.sh does). Each
# fail-over is logged with the time until the new master answered and
# accepted writes, and whether the marker is gone from the new master (the
# soak fails if no fail-over lost it). The checks are the same; a segment
# published again because its checkpoint was lost fails the published-once
# check, which then names the fail-over, and a job claimed again after its
# shim saw it end (its end lost) fails too.
#
# --delivery: no shared transcode folder (shim.delivery shim): the workers
# write into spool folders of their own (DIR/spool) and the shims fetch
# every segment into the streams' folders; the checks are the same, plus
# every segment's delivery logged by its shim.
#
#   scripts/chaos.sh [--duration S] [--streams K] [--workers N] [--clip-seconds S]
#                    [--size WxH] [--lease-ttl-ms MS] [--seed N] [--dir DIR] [--keep]
#                    [--sentinel] [--delivery]
#
# Defaults: 600 s, 3 streams, 4 workers, 120 s clips at 640x360, lease 2000 ms.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
bin=$build/bin
corpus=$(ls "$here"/tests/corpus/003-*.txt 2>/dev/null | head -n 1)
duration=600
streams=3
workers=4
clip_seconds=120
size=640x360
rate=25
lease_ttl_ms=2000
seed=$$
dir=""
keep=0
sentinel=0
delivery=0
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --clip-seconds) clip_seconds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --lease-ttl-ms) lease_ttl_ms=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --sentinel) sentinel=1; shift ;;
    --delivery) delivery=1; shift ;;
    -h | --help) sed -n '2,55p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "chaos: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$corpus" ] && [ -f "$corpus" ] || { echo "chaos: corpus line not found (tests/corpus/003-*.txt)" >&2; exit 2; }
for b in ffpool-worker ffpool-scheduler ffpool-shim; do
  [ -x "$bin/$b" ] || { echo "chaos: $bin/$b is missing; run make first" >&2; exit 2; }
done
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-chaos.XXXXXX")
mkdir -p "$dir/out"
dir=$(cd "$dir" && pwd)
# A private copy of the programs: a rebuild during the soak (make in another
# shell) must neither break a shim start nor mix versions among the workers.
mkdir -p "$dir/bin" "$dir/jellyfin"
cp "$bin"/ffpool-worker "$bin"/ffpool-scheduler "$bin"/ffpool-shim "$bin"/ffpoolctl "$dir/bin/"
ln -s ../bin/ffpool-shim "$dir/jellyfin/ffmpeg"
bin=$dir/bin
pool=$dir/pool
if [ "$delivery" = 1 ]; then
  export FFPOOL_SHIM_DELIVERY=shim FFPOOL_WORKER_SPOOL_DIR=$dir/spool
else
  export FFPOOL_SHIM_DELIVERY=shared # one machine: the workers see the folder
fi
RANDOM=$seed
failures=0
stopped_pid=""
stopped_node_pid="" # a Redis replica SIGSTOPped by a fail-over
declare -A shim_pid=() shim_rc=()
active=()
all_streams=()

say() { echo "chaos: $*" >&2; }
check() { # check DESCRIPTION COMMAND...: records a failed check without stopping
  local what=$1; shift
  if "$@"; then say "ok   $what"; else say "FAIL $what"; failures=$((failures + 1)); fi
}
cleanup() {
  local s
  [ -n "$stopped_pid" ] && kill -CONT -- "-$stopped_pid" 2>/dev/null || true
  for s in "${active[@]}"; do kill -KILL "${shim_pid[$s]}" 2>/dev/null || true; done
  FFPOOL_BIN=$bin "$here/scripts/pool" down --dir "$pool" >/dev/null 2>&1 || true
  if [ -n "$stopped_node_pid" ]; then kill -CONT "$stopped_node_pid" 2>/dev/null || true; fi
  for f in "$pool"/sentinel-?.pid "$pool"/redis-?.pid; do # sentinel mode's own
    [ -e "$f" ] || continue
    { kill -KILL "$(cat "$f")"; wait "$(cat "$f")"; } 2>/dev/null || true
  done
  exec 3>&- 2>/dev/null || true
  if [ "$keep" = 0 ] && [ "$failures" = 0 ]; then rm -rf "$dir"; else say "kept $dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- one clip, shaped like Jellyfin's input, shared by every stream ----
clip=$dir/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=$size:rate=$rate" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$clip_seconds" \
  -c:v libx264 -preset veryfast -g $((rate * 2)) -pix_fmt yuv420p -c:a aac -b:a 96k "$clip"
clip_frames=$(ffprobe -v error -count_packets -select_streams v:0 \
  -show_entries stream=nb_read_packets -of csv=p=0 "$clip")

# ---- sentinel mode: a master and a replica, 3 Sentinels, ffpool through them ----
# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"
master_name=ffpool
declare -A node_port=()
sentinel_ports=()
failovers=0          # promotions done by the Sentinels
lost_failovers=0     # of which the acknowledged marker was indeed lost
lost_bytes=0         # replication stream the old masters acknowledged and lost

node_start() { # node_start NAME [MASTER_PORT]: Redis node NAME (a or b) on its own folder
  local name=$1 extra=()
  [ -n "${2:-}" ] && extra=(--replicaof 127.0.0.1 "$2")
  mkdir -p "$pool/redis-$name"
  setsid redis-server --port "${node_port[$name]}" --bind 127.0.0.1 --dir "$pool/redis-$name" \
    --appendonly yes --appendfsync everysec --save '' --maxmemory-policy noeviction \
    --daemonize no --protected-mode yes --min-replicas-to-write 1 --min-replicas-max-lag 1 \
    --repl-diskless-sync-delay 0 "${extra[@]}" >>"$pool/redis-$name.log" 2>&1 </dev/null &
  echo $! >"$pool/redis-$name.pid"
}
node_answers() { redis-cli -p "${node_port[$1]}" ping >/dev/null 2>&1; }
link_up() { # link_up NAME: node NAME is a replica in sync with its master
  redis-cli -p "${node_port[$1]}" INFO replication 2>/dev/null | grep -q '^master_link_status:up'
}
repl_offset() {
  redis-cli -p "$1" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^master_repl_offset://p'
}
role_of() { timeout 2 redis-cli -p "$1" --raw ROLE 2>/dev/null | head -n 1; }
sentinel_answer() { # sentinel_answer PORT: the master's port that Sentinel PORT names
  timeout 2 redis-cli -p "$1" --raw SENTINEL get-master-addr-by-name "$master_name" 2>/dev/null |
    sed -n 2p
}
master_port() { # the master's port: the first Sentinel's answer that ROLE confirms
  local p a first=""
  for p in "${sentinel_ports[@]}"; do
    a=$(sentinel_answer "$p" || true)
    case $a in '' | *[!0-9]*) continue ;; esac
    [ -n "$first" ] || first=$a
    [ "$(role_of "$a")" = master ] && { echo "$a"; return 0; }
  done
  [ -z "$first" ] || echo "$first"
}
sentinel_ready() { # Sentinel PORT knows the master, the replica and the 2 other Sentinels
  redis-cli -p "$1" --raw SENTINEL master "$master_name" 2>/dev/null |
    awk 'NR % 2 == 1 { k = $0; next } { v[k] = $0 }
         END { exit !(v["num-slaves"] == 1 && v["num-other-sentinels"] == 2) }'
}
start_proc() { # start_proc NAME COMMAND...: as scripts/pool starts its processes
  local name=$1; shift
  setsid "$@" >>"$pool/$name.log" 2>&1 </dev/null &
  echo $! >"$pool/$name.pid"
}

sentinel_up() { # what scripts/pool up does, with Redis behind Sentinels
  local k p sched_port redis_timeout_ms fit
  mkdir -p "$pool"
  node_port[a]=$(free_port)
  node_port[b]=$(free_port)
  node_start a
  wait_until 10 node_answers a || { say "redis node a did not start (see $pool/redis-a.log)"; exit 2; }
  node_start b "${node_port[a]}"
  wait_until 30 link_up b || { say "redis node b did not sync (see $pool/redis-b.log)"; exit 2; }
  # The manifest's bound (tests/test_queue_failover.c) with this soak's
  # lease: an owner cut off with its master stops writing (1 + 1) s +
  # lease - margin (500 ms) after the cut, before the Sentinels may promote.
  down_after_ms=$((lease_ttl_ms + 2000))
  for k in 1 2 3; do
    p=$(free_port)
    sentinel_ports+=("$p")
    mkdir -p "$pool/sentinel-$k"
    cat >"$pool/sentinel-$k/sentinel.conf" <<CONF
port $p
bind 127.0.0.1
daemonize no
dir $pool/sentinel-$k
sentinel monitor $master_name 127.0.0.1 ${node_port[a]} 2
sentinel down-after-milliseconds $master_name $down_after_ms
sentinel failover-timeout $master_name 10000
sentinel parallel-syncs $master_name 1
CONF
    start_proc "sentinel-$k" redis-server "$pool/sentinel-$k/sentinel.conf" --sentinel
  done
  for p in "${sentinel_ports[@]}"; do
    wait_until 30 sentinel_ready "$p" || { say "Sentinel on port $p did not see the others"; exit 2; }
  done
  # As scripts/pool: a short lease gets a Redis time-out that fits it.
  redis_timeout_ms=${FFPOOL_REDIS_TIMEOUT_MS:-}
  fit=$((lease_ttl_ms - 500 - lease_ttl_ms / 5))
  [ -n "$redis_timeout_ms" ] || [ "$fit" -ge 2000 ] || redis_timeout_ms=$fit
  sched_port=$(free_port)
  cat >"$pool/env" <<EOT
unset FFPOOL_REDIS_HOST FFPOOL_REDIS_PORT
export FFPOOL_REDIS_SENTINELS=$(printf '127.0.0.1:%s,' "${sentinel_ports[@]}" | sed 's/,$//')
export FFPOOL_REDIS_MASTER_NAME=$master_name
export FFPOOL_SCHEDULER_LISTEN=tcp://127.0.0.1:$sched_port
export FFPOOL_SCHEDULER_URL=tcp://127.0.0.1:$sched_port
export FFPOOL_LEASE_TTL_MS=$lease_ttl_ms
${redis_timeout_ms:+export FFPOOL_REDIS_TIMEOUT_MS=$redis_timeout_ms}
export FFPOOL_POOL_DIR=$pool
EOT
  # shellcheck disable=SC1091
  . "$pool/env"
  start_proc scheduler "$bin/ffpool-scheduler"
  for k in $(seq 1 "$workers"); do
    FFPOOL_WORKER_ID=worker-$k start_proc "worker-$k" "$bin/ffpool-worker"
  done
  p=${node_port[a]}
  for k in $(seq 1 "$workers"); do
    wait_until 30 bash -c "redis-cli -p $p --raw EXISTS ffpool:worker:worker-$k:offers | grep -qx 1" ||
      { say "worker-$k published no offers within 30 s (see $pool/worker-$k.log)"; exit 2; }
  done
  say "sentinel mode: master a 127.0.0.1:${node_port[a]}, replica b 127.0.0.1:${node_port[b]}," \
    "Sentinels $FFPOOL_REDIS_SENTINELS (quorum 2, down-after $down_after_ms ms)"
}

# ---- the pool: lost leases must not end a stream, however many ----
export FFPOOL_LEASE_MAX_ATTEMPTS=1000 FFPOOL_LEASE_MAX_LOST_LEASES=1000
if [ "$sentinel" = 1 ]; then
  sentinel_up
  rcli() { redis-cli -p "$(master_port)" --raw "$@"; }
else
  FFPOOL_BIN=$bin "$here/scripts/pool" up --workers "$workers" --dir "$pool" \
    --lease-ttl-ms "$lease_ttl_ms" >/dev/null
  # shellcheck disable=SC1091
  . "$pool/env"
  rcli() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }
  # Redis rewrites its own command line, so its restart repeats scripts/pool's.
  redis_cmd=(redis-server --port "$FFPOOL_REDIS_PORT" --bind 127.0.0.1 --dir "$pool/redis"
    --appendonly yes --appendfsync everysec --save '' --maxmemory-policy noeviction
    --daemonize no --protected-mode yes)
fi

mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"   # held open and never written: the shims' stdin stays open

# ---- streams ----
mapfile -d '' template < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$clip" \
  --outdir "@OUT@")
hls_time=3
for ((i = 0; i < ${#template[@]} - 1; i++)); do
  [ "${template[i]}" = -hls_time ] && hls_time=${template[i+1]}
done
expected=$(( (clip_seconds + hls_time - 1) / hls_time ))
stream_count=0

start_stream() {
  stream_count=$((stream_count + 1))
  local s=s$stream_count a
  mkdir -p "$dir/out/$s"
  local args=()
  for a in "${template[@]}"; do args+=("${a//@OUT@/$dir/out/$s}"); done
  "$dir/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/out/$s.log" &
  shim_pid[$s]=$!
  active+=("$s")
  all_streams+=("$s")
}

reap_streams() {
  local s still=() rc
  for s in "${active[@]}"; do
    if kill -0 "${shim_pid[$s]}" 2>/dev/null; then still+=("$s"); continue; fi
    rc=0
    wait "${shim_pid[$s]}" || rc=$?
    shim_rc[$s]=$rc
    say "$(elapsed) s: stream $s ended (shim exit $rc)"
  done
  active=("${still[@]}")
}

# ---- chaos ----
kills=0
stops=0
stalls=0
redis_restarts=0
worker_gen=0

restart_worker() { # restart_worker I: a fresh worker process (new id) in slot I
  worker_gen=$((worker_gen + 1))
  FFPOOL_WORKER_ID=worker-$1-r$worker_gen setsid "$bin/ffpool-worker" >>"$pool/worker-$1.log" 2>&1 </dev/null &
  echo $! >"$pool/worker-$1.pid"
}

pick_worker() { # prints a slot number, most often the owner of a running stream
  local s job owner
  if [ $((RANDOM % 10)) -lt 7 ] && [ ${#active[@]} -gt 0 ]; then
    s=${active[$((RANDOM % ${#active[@]}))]}
    job=$(sed -n 's/^ffpool: job \([^ ]*\) for .*/\1/p' "$dir/out/$s.log" | head -n 1)
    if [ -n "$job" ]; then
      owner=$(rcli HGET "ffpool:job:$job" owner 2>/dev/null || true)
      case $owner in worker-*) owner=${owner#worker-}; echo "${owner%%-*}"; return ;; esac
    fi
  fi
  echo $((RANDOM % workers + 1))
}

restart_redis() {
  local pid
  pid=$(cat "$pool/redis.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  setsid "${redis_cmd[@]}" >>"$pool/redis.log" 2>&1 </dev/null &
  echo $! >"$pool/redis.pid"
  for _ in $(seq 1 100); do rcli ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis_restarts=$((redis_restarts + 1))
}

# A fail-over with lost writes (sentinel mode): see the header. Returns
# non-zero only when the pool was left without a master.
failover() {
  local m r mp rp mpid rpid n marker ack stop_ms off0 off1 t_stop t0 t1 t2 k p named lost
  n=$((failovers + 1))
  mp=$(master_port)
  [ -n "$mp" ] || { say "FAIL failover $n: no Sentinel names a master"; failures=$((failures + 1)); return 1; }
  if [ "$mp" = "${node_port[a]}" ]; then m=a r=b; else m=b r=a; fi
  rp=${node_port[$r]}
  # Only a replica in sync has writes to miss.
  wait_until 20 link_up "$r" || { say "FAIL failover $n: replica $r is not in sync"; failures=$((failures + 1)); return 0; }
  mpid=$(cat "$pool/redis-$m.pid")
  rpid=$(cat "$pool/redis-$r.pid")
  marker=chaos:lost-write:$n
  off0=$(repl_offset "$mp")
  kill -STOP "$rpid"
  stopped_node_pid=$rpid
  t_stop=$(now)
  # Within min-replicas-max-lag the master still takes writes: the marker,
  # and whatever the pool writes (claims, renewals, checkpoints, submits).
  ack=$(redis-cli -p "$mp" --raw SET "$marker" "$(elapsed)" 2>&1 || true)
  stop_ms=$((200 + RANDOM % 501))
  sleep "$(awk -v m="$stop_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  off1=$(repl_offset "$mp")
  # The writes the master sent are in the stopped replica's socket buffer:
  # SIGCONT alone would apply them. The replica dies with them and restarts
  # from its own AOF, that is with what it had applied before the stop.
  {
    kill -KILL "$mpid"
    t0=$(now)
    kill -KILL "$rpid"
    wait "$mpid"
    wait "$rpid"
  } 2>/dev/null || true
  stopped_node_pid=""
  # The window in which acknowledged writes were lost (the checks use it).
  echo "$n $t_stop $t0" >>"$dir/lost_windows"
  node_start "$r" "$mp"
  # The Sentinels see the master down after down-after-milliseconds and
  # promote the replica: done when a Sentinel names it and ROLE agrees.
  named=0
  for ((k = 0; k < 600 && named == 0; k++)); do
    for p in "${sentinel_ports[@]}"; do
      [ "$(sentinel_answer "$p" || true)" = "$rp" ] && [ "$(role_of "$rp")" = master ] && { named=1; break; }
    done
    [ "$named" = 1 ] || sleep 0.1
  done
  t1=$(now)
  if [ "$named" = 0 ]; then
    say "FAIL failover $n: the Sentinels promoted nothing within 60 s of the master's death; restarting $m as master"
    failures=$((failures + 1))
    node_start "$m"
    return 1
  fi
  # The old master comes back from its own folder (it still holds the lost
  # writes) as a replica of the new master, as the manifest's init.sh makes
  # a restarted node (the Sentinels' answer, a volume that outlives the pod);
  # the full resync replaces its data. Until it has synced, the new master
  # refuses writes (min-replicas-to-write 1).
  node_start "$m" "$rp"
  for ((k = 0; k < 600; k++)); do
    [ "$(redis-cli -p "$rp" --raw SET chaos:failover-probe "$n" 2>/dev/null)" = OK ] && break
    sleep 0.1
  done
  t2=$(now)
  lost=$(redis-cli -p "$rp" --raw EXISTS "$marker" 2>/dev/null || true)
  failovers=$n
  if [ "$ack" = OK ] && [ "$lost" = 0 ]; then
    lost_failovers=$((lost_failovers + 1))
    lost_bytes=$((lost_bytes + off1 - off0))
  fi
  say "$(elapsed) s: failover $n: SIGSTOPped replica $r for $(awk -v a="$t_stop" -v b="$t0" 'BEGIN { printf "%d", (b - a) * 1000 }') ms" \
    "(slept $stop_ms ms); master $m acknowledged the" \
    "marker ($ack) and $((off1 - off0)) bytes of replication stream meanwhile; SIGKILLed master $m" \
    "and the stopped replica $r, restarted $r from its AOF; the Sentinels named $r master" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after the kill; $m rejoined" \
    "(old folder) as its replica; writable $(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s" \
    "after the kill; marker lost: $([ "$lost" = 0 ] && echo yes || echo "NO ($lost)")"
  [ "$k" -lt 600 ] || { say "FAIL failover $n: the new master took no write within 60 s"; failures=$((failures + 1)); }
  return 0
}

say "seed $seed: $duration s, $streams streams of ${clip_seconds} s at $size, $workers workers, lease $lease_ttl_ms ms"
started=$(now)
end_at=$(awk -v a="$started" -v d="$duration" 'BEGIN { printf "%.3f", a + d }')
redis_at=$(awk -v a="$started" -v d="$duration" 'BEGIN { printf "%.3f", a + d / 2 }')
# Sentinel mode: the first fail-over 30-60 s in (half way in a shorter soak),
# then every 60-120 s.
failover_at=$(awk -v a="$started" -v d="$duration" -v r=$((30 + RANDOM % 31)) \
  'BEGIN { printf "%.3f", a + (r < d / 2 ? r : d / 2) }')
for ((i = 0; i < streams; i++)); do start_stream; done
sleep 2
while awk -v t="$(now)" -v e="$end_at" 'BEGIN { exit !(t < e) }'; do
  reap_streams
  while [ ${#active[@]} -lt "$streams" ]; do start_stream; done
  if [ "$sentinel" = 1 ] && awk -v t="$(now)" -v r="$failover_at" 'BEGIN { exit !(t >= r) }'; then
    failover || break
    say "$(elapsed) s: starting one more stream at once"
    start_stream
    failover_at=$(awk -v t="$(now)" -v r=$((60 + RANDOM % 61)) 'BEGIN { printf "%.3f", t + r }')
  elif [ "$sentinel" = 0 ] && [ "$redis_restarts" = 0 ] && awk -v t="$(now)" -v r="$redis_at" 'BEGIN { exit !(t >= r) }'; then
    restart_redis
    say "$(elapsed) s: restarted redis; starting one more stream at once"
    # Jellyfin does not wait for Redis to settle: a transcode starting right
    # after the restart must be served like any other.
    start_stream
  else
    w=$(pick_worker)
    pid=$(cat "$pool/worker-$w.pid")
    action=$((RANDOM % 5))
    if [ "$action" = 4 ]; then
      ms=$((300 + RANDOM % 1701))
      rcli CLIENT PAUSE "$ms" ALL >/dev/null 2>&1 || true
      sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
      stalls=$((stalls + 1))
      say "$(elapsed) s: stalled redis for $ms ms"
    elif [ "$action" -lt 2 ]; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      kills=$((kills + 1))
      restart_worker "$w"
      say "$(elapsed) s: SIGKILLed worker slot $w (pid $pid), restarted"
    else
      ms=$((500 + RANDOM % (2 * lease_ttl_ms - 500)))
      kill -STOP -- "-$pid" 2>/dev/null || true # the worker and its job processes
      stopped_pid=$pid
      sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
      kill -CONT -- "-$pid" 2>/dev/null || true
      stopped_pid=""
      stops=$((stops + 1))
      say "$(elapsed) s: SIGSTOPped worker slot $w (pid $pid) for $ms ms"
    fi
  fi
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 1.5 + 2 * r / 32767 }')"
done
say "$(elapsed) s: chaos over; letting ${#active[@]} stream(s) finish"
for i in $(seq 1 "$workers"); do
  kill -0 "$(cat "$pool/worker-$i.pid")" 2>/dev/null || { say "worker slot $i was dead; restarted"; restart_worker "$i"; }
done
finish_by=$(awk -v t="$(now)" -v c="$clip_seconds" 'BEGIN { printf "%.3f", t + 60 + c }')
while [ ${#active[@]} -gt 0 ] && awk -v t="$(now)" -v e="$finish_by" 'BEGIN { exit !(t < e) }'; do
  sleep 0.2
  reap_streams
done
for s in "${active[@]}"; do
  say "FAIL stream $s still running $((60 + clip_seconds)) s after the chaos ended"
  failures=$((failures + 1))
  kill -KILL "${shim_pid[$s]}" 2>/dev/null || true
  wait "${shim_pid[$s]}" 2>/dev/null || true
  shim_rc[$s]=124
done
active=()
soak_seconds=$(elapsed)

# ---- checks, per stream ----
cat "$pool"/worker-*.log >"$dir/workers.log"
complete=0
unlogged=0
total_segments=0
total_takeovers=0
worst_pts_gap_ms=0
worst_stall_s=0
printf '%-6s %-6s %-5s %-8s %-9s %-9s %-15s %-13s\n' stream job rc state segments takeovers worst_pts_gap_ms worst_stall_s >"$dir/streams.txt"
for s in "${all_streams[@]}"; do
  job=$(sed -n 's/^ffpool: job \([^ ]*\) for .*/\1/p' "$dir/out/$s.log" | head -n 1)
  rc=${shim_rc[$s]:-none}
  state=$(rcli HGET "ffpool:job:$job" state 2>/dev/null || true)
  takeovers=$(rcli HGET "ffpool:job:$job" takeovers 2>/dev/null || true)
  takeovers=${takeovers:-0}
  total_takeovers=$((total_takeovers + takeovers))
  ok=1
  [ "$rc" = 0 ] || { say "FAIL $s ($job): shim exit $rc; $(grep -m1 '^Error' "$dir/out/$s.log" || true)"; ok=0; }
  [ "$state" = "done" ] || { say "FAIL $s ($job): job state '$state'"; ok=0; }
  pattern=""
  for ((i = 0; i < ${#template[@]} - 1; i++)); do
    [ "${template[i]}" = -hls_segment_filename ] && pattern=${template[i+1]//@OUT@/$dir/out/$s}
  done
  count=$(ls "$dir/out/$s" | grep -c '\.ts$' || true)
  total_segments=$((total_segments + count))
  [ "$count" = "$expected" ] || { say "FAIL $s: $count segments, expected $expected"; ok=0; }
  [ -z "$(ls "$dir/out/$s" | grep '\.tmp$' || true)" ] || { say "FAIL $s: temporary files left"; ok=0; }
  { [ -n "$job" ] && grep "event=segment job=$job " "$dir/workers.log" || true; } |
    sed -n 's/.* segment=\([0-9]*\) epoch=.*/\1/p' | sort -n >"$dir/out/$s.published"
  dups=$(uniq -d "$dir/out/$s.published" | tr '\n' ' ')
  if [ -n "$dups" ]; then
    # Sentinel mode: say which were first published while a fail-over was
    # losing acknowledged writes (their checkpoints were lost with them).
    why=""
    for d in $dups; do
      first=$(grep -h "event=segment job=$job segment=$d " "$dir/workers.log" | sort | head -n 1 |
        sed -n 's/^ts=\([^ ]*\) .*/\1/p')
      w=""
      if [ -n "$first" ] && [ -s "$dir/lost_windows" ]; then
        w=$(awk -v t="$(date -d "$first" +%s.%N)" '$2 - 0.2 <= t && t <= $3 { print $1; exit }' "$dir/lost_windows")
      fi
      why="$why $d${w:+ (first published in the lost-write window of fail-over $w)}"
    done
    say "FAIL $s: segment index(es) published more than once:$why"
    ok=0
  fi
  # Delivered: the shim wrote every index once (its log, event=segment_delivered).
  if [ "$delivery" = 1 ]; then
    delivered=$(grep -c "event=segment_delivered job=$job " "$dir/out/$s.log" || true)
    ddups=$(sed -n "s/.*event=segment_delivered job=$job segment=\([0-9]*\) .*/\1/p" "$dir/out/$s.log" |
      sort -n | uniq -d | tr '\n' ' ')
    [ "$delivered" = "$expected" ] && [ -z "$ddups" ] ||
      { say "FAIL $s ($job): the shim delivered $delivered segment(s), expected $expected${ddups:+; twice: $ddups}"; ok=0; }
  fi
  # A job claimed again after its shim saw it end: its end was lost (a
  # fail-over), and a worker transcodes into the stream's folder after the
  # transcode is over for Jellyfin.
  finished=$(sed -n 's/^ts=\([^ ]*\) .*event=finished .*/\1/p' "$dir/out/$s.log" | head -n 1)
  if [ -n "$finished" ] && [ -n "$job" ]; then
    late=$(grep -h "event=claimed job=$job " "$dir/workers.log" | sed -n 's/^ts=\([^ ]*\) .* epoch=\([0-9]*\) .*/\1 \2/p' |
      awk -v f="$finished" '$1 > f { printf "%s epoch %s at %s", sep, $2, $1; sep = ", " }')
    [ -z "$late" ] || { say "FAIL $s ($job): claimed again after its shim had finished ($finished): $late"; ok=0; }
  fi
  # A worker SIGKILLed between its checkpoint and its log line leaves a
  # segment published but unlogged: counted, not failed (the segment itself
  # is checked on disk below).
  unlogged=$((unlogged + expected - $(sort -u "$dir/out/$s.published" | wc -l)))
  # Every segment on its own: decodes cleanly (one ffprobe, two at a time,
  # decodes every frame of every stream and prints the video frames' pts).
  mkdir -p "$dir/out/$s.probe"
  for ((n = 0; n < expected; n++)); do
    p=$(printf "${pattern//%d/%s}" "$n")
    if [ -e "$p" ]; then printf '%s\0%s\0' "$p" "$dir/out/$s.probe/$n"; else say "FAIL $s: segment $n missing"; ok=0; fi
  done | xargs -r -0 -n 2 -P 2 sh -c 'ffprobe -v error -show_entries frame=stream_index,pts_time \
           -of csv=p=0 "$0" >"$1.frames" 2>"$1.err" || echo "ffprobe exit $?" >>"$1.err"'
  : >"$dir/out/$s.timeline"
  for ((n = 0; n < expected; n++)); do
    p=$(printf "${pattern//%d/%s}" "$n")
    [ -e "$p" ] || { ok=0; continue; }  # reported above, in the pipeline's subshell
    [ ! -s "$dir/out/$s.probe/$n.err" ] ||
      { say "FAIL $s: segment $n does not decode cleanly: $(head -c 300 "$dir/out/$s.probe/$n.err")"; ok=0; }
    awk -F, -v n="$n" -v m="$(stat -c %.3Y "$p")" '$1 == 0 && $2 != "N/A" { t = $2 + 0; if (c == 0 || t < lo) lo = t; if (c == 0 || t > hi) hi = t; c++ }
        END { printf "%d %.6f %.6f %d %s\n", n, lo, hi, c, m }' "$dir/out/$s.probe/$n.frames" >>"$dir/out/$s.timeline"
  done
  read -r gap_ms stall < <(sort -n "$dir/out/$s.timeline" | awk -v r="$rate" '
      { if (NR > 1) { g = ($2 - prev_end) * 1000; if (g < 0) g = -g; if (g > worst) worst = g;
                      st = $5 - prev_m; if (st > stall) stall = st }
        prev_end = $3 + 1 / r; prev_m = $5 }
      END { printf "%.1f %.2f\n", worst, stall }')
  awk -v g="$gap_ms" -v r="$rate" 'BEGIN { exit !(g <= 1000 / r + 0.5) }' ||
    { say "FAIL $s: timeline gap of $gap_ms ms between segments (more than one frame)"; ok=0; }
  frames=$(awk '{ c += $4 } END { print c + 0 }' "$dir/out/$s.timeline")
  [ "$frames" = "$clip_frames" ] || { say "FAIL $s: $frames of $clip_frames frames in the output"; ok=0; }
  worst_pts_gap_ms=$(awk -v a="$worst_pts_gap_ms" -v b="$gap_ms" 'BEGIN { print (b > a) ? b : a }')
  worst_stall_s=$(awk -v a="$worst_stall_s" -v b="$stall" 'BEGIN { print (b > a) ? b : a }')
  printf '%-6s %-6s %-5s %-8s %-9s %-9s %-15s %-13s\n' "$s" "$job" "$rc" "${state:-?}" "$count" "$takeovers" "$gap_ms" "$stall" >>"$dir/streams.txt"
  if [ "$ok" = 1 ]; then complete=$((complete + 1)); else failures=$((failures + 1)); fi
done
fenced=$(grep -c 'event=segment_refused' "$dir/workers.log" || true)
takeover_claims=$(grep -c 'event=claimed .* takeover=1' "$dir/workers.log" || true)
if [ "$sentinel" = 1 ]; then
  alive=("$pool"/redis-?.pid "$pool"/sentinel-?.pid "$pool"/scheduler.pid)
  [ "$lost_failovers" -gt 0 ] || { say "FAIL no fail-over lost acknowledged writes ($failovers fail-over(s))"; failures=$((failures + 1)); }
else
  alive=("$pool"/redis.pid "$pool"/scheduler.pid)
fi
for f in "${alive[@]}"; do
  kill -0 "$(cat "$f")" 2>/dev/null || { say "FAIL $(basename "$f" .pid) died"; failures=$((failures + 1)); }
done
leases=$(rcli ZCARD ffpool:leases)
[ "$leases" = 0 ] || { say "FAIL $leases lease(s) left behind"; failures=$((failures + 1)); }
# Stopped first, so that a LeakSanitizer report at exit (make asan) is in the logs too.
FFPOOL_BIN=$bin "$here/scripts/pool" down --dir "$pool" >/dev/null 2>&1 || true
crashes=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error' "$pool"/*.log 2>/dev/null || true)
[ -z "$crashes" ] || { say "FAIL sanitizer report in $crashes"; failures=$((failures + 1)); }

echo
cat "$dir/streams.txt"
echo
printf '%-8s %-9s %-9s %-9s %-6s %-6s %-7s %-14s %-10s %-22s %-16s %-13s %s\n' streams complete segments takeovers kills stops stalls redis_restarts failovers fenced_writes_rejected worst_pts_gap_ms worst_stall_s soak_s
printf '%-8s %-9s %-9s %-9s %-6s %-6s %-7s %-14s %-10s %-22s %-16s %-13s %s\n' "${#all_streams[@]}" "$complete" "$total_segments" \
  "$total_takeovers" "$kills" "$stops" "$stalls" "$redis_restarts" "${failovers:-0}" "$fenced" "$worst_pts_gap_ms" "$worst_stall_s" "$soak_seconds"
echo "(takeover claims logged by workers: $takeover_claims; publications left unlogged by a SIGKILL: $unlogged;" \
  "seed $seed; $workers workers; lease $lease_ttl_ms ms)"
[ "$sentinel" = 0 ] || echo "(sentinel mode: $failovers fail-over(s), $lost_failovers of them with the acknowledged marker lost;" \
  "$lost_bytes bytes of acknowledged replication stream lost in all)"
if [ "$failures" != 0 ]; then
  say "$failures check(s) failed"
  exit 1
fi
say "all checks passed"
