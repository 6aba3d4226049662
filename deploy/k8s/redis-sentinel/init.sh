#!/bin/sh
# init.sh -- init container of each Redis node: writes /conf/redis.conf and
# /conf/sentinel.conf. The master is whatever the running Sentinels say
# (after a fail-over it is not node 0); only when none answers, on the very
# first start, is node 0 the master.
set -eu
: "${REDIS_PASSWORD:?}" "${POD_NAME:?}"
service=${HEADLESS_SERVICE:-ffpool-redis-headless}
set_name=${SENTINEL_MASTER_SET:-ffpool}
nodes=${NODES:-3}
quorum=${QUORUM:-2}
conf=${CONF_DIR:-/conf}
sts=${POD_NAME%-*}
self=$POD_NAME.$service

# Sentinel resolves the names it is given at start-up: wait until this
# pod's own name is published (the headless Service publishes not-ready pods).
i=0
until getent hosts "$self" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge "${DNS_WAIT_SECONDS:-60}" ]; then
    echo "init: $self does not resolve after ${DNS_WAIT_SECONDS:-60} s" >&2
    exit 1
  fi
  sleep 1
done

master=""
i=0
while [ "$i" -lt "$nodes" ]; do
  node=$sts-$i.$service
  if [ "$node" != "$self" ]; then
    answer=$(timeout 3 redis-cli -h "$node" -p 26379 --raw \
      SENTINEL get-master-addr-by-name "$set_name" 2>/dev/null | head -n 1) || answer=""
    case $answer in
      ""|*ERR*|*NOAUTH*) ;;
      *) master=$answer; break ;;
    esac
  fi
  i=$((i + 1))
done
[ -n "$master" ] || master=$sts-0.$service
echo "init: this node is $self; master is $master"

cat >"$conf/redis.conf" <<CONF
port 6379
dir /data
appendonly yes
appendfsync everysec
maxmemory ${MAXMEMORY:-768mb}
maxmemory-policy noeviction
requirepass "$REDIS_PASSWORD"
masterauth "$REDIS_PASSWORD"
replica-announce-ip $self
# A master cut off from every replica refuses writes once none has
# acknowledged for 1 s, so its workers' renewals fail and they stop writing
# (lease.ttl_ms - lease.safety_margin_ms after their last renewal) before
# the Sentinels can promote another master (down-after-milliseconds below):
# (1 + 1) s + 5 s - 0.5 s < 8 s. Without it a partitioned master keeps
# renewing its owners' leases while a new master hands the same jobs to
# other workers. The price: with no replica up, the pool cannot write.
# tests/test_queue_failover.c checks these numbers against the lease.
min-replicas-to-write 1
min-replicas-max-lag 1
CONF
if [ "$master" != "$self" ]; then
  echo "replicaof $master 6379" >>"$conf/redis.conf"
fi

cat >"$conf/sentinel.conf" <<CONF
port 26379
dir /tmp
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor $set_name $master 6379 $quorum
sentinel auth-pass $set_name $REDIS_PASSWORD
sentinel down-after-milliseconds $set_name 8000
sentinel failover-timeout $set_name 60000
sentinel parallel-syncs $set_name 1
CONF
