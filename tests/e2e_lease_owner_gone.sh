#!/usr/bin/env bash
# e2e_lease_owner_gone.sh -- a dead worker is noticed when its connection to
# Redis closes, not when its lease runs out, and a live worker whose
# connection is cut loses nothing (proto/queue_presence.c, worker/presence.c).
# The lease is 20 s here, so that only the presence check can explain a
# takeover within seconds.
#   1. False alarms: with the job held mid-stream (Jellyfin's pause, so the
#      job only renews), Redis closes every worker's presence connection
#      five times 200 ms apart, then once more with a 1.5 s CLIENT PAUSE
#      right after (the reconnecting workers cannot name their connections
#      until it ends), then closes every client connection at once. The job
#      must stay with its owner: epoch 1, no takeover, no owner_gone line.
#   2. A death: the owner, still held, is SIGKILLed (with its job processes)
#      and the pause lifted. The other
#      worker must log owner_gone for it and put its first segment on disk
#      within 5 s of the kill (a quarter of the lease), and the stream must
#      be complete, every frame once, each index published once, every
#      segment's times those of an uninterrupted run; epoch 2, one takeover.
# Prints owner_gone_gap_s=X (kill to the survivor's first segment on disk).
# Usage: tests/e2e_lease_owner_gone.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 24 640x360
lease_pool_up 2 20000
lease_reference
lease_shim_start
lease_wait_segment 1 120

# ---- 1. false alarms ------------------------------------------------------
rc HSET "ffpool:job:$lease_job_id" paused 1 >/dev/null
owner=$(lease_job_field owner)
# presence_ids: the Redis client ids of the workers' presence connections.
presence_ids() { rc CLIENT LIST TYPE normal | awk '/ name=ffpool-worker:/ { sub("^id=", "", $1); print $1 }'; }
wait_until 10 presence_ids >/dev/null || { say "FAIL no presence connection in CLIENT LIST"; exit 1; }
check "each worker holds a presence connection ($(presence_ids | wc -l) of 2)" \
  [ "$(presence_ids | wc -l)" = 2 ]
closed=0
for ((round = 0; round < 5; round++)); do
  for id in $(presence_ids); do rc CLIENT KILL ID "$id" >/dev/null && closed=$((closed + 1)); done
  sleep 0.2
done
for id in $(presence_ids); do rc CLIENT KILL ID "$id" >/dev/null && closed=$((closed + 1)); done
rc CLIENT PAUSE 1500 ALL >/dev/null
sleep 2.5
all=$(rc CLIENT KILL TYPE normal)
sleep 2
say "closed $closed presence connections, paused Redis 1.5 s, closed all $all client connections"
check "Redis closed the presence connections ($closed >= 12)" [ "$closed" -ge 12 ]
check "every worker named its connection again ($(presence_ids | wc -l) of 2)" \
  [ "$(presence_ids | wc -l)" = 2 ]
epoch=$(lease_job_field epoch); takeovers=$(lease_job_field takeovers)
check "the job stayed with its owner $owner ($(lease_job_field owner) epoch=$epoch takeovers=$takeovers)" \
  [ "$(lease_job_field owner):$epoch:$takeovers" = "$owner:1:0" ]
check "no worker was declared gone" \
  [ -z "$(grep -h "event=owner_gone" "$pool"/worker-*.log)" ]

# ---- 2. a death -----------------------------------------------------------
# Killed while held by the pause, so that it dies between two segments (no
# segment of its own half-published), and the pause lifted at once.
victim=$(lease_job_field owner)
# The gap: from the kill to the survivor's first segment on disk.
lease_kill_held_owner "$victim"
gap=$lease_gap
say "SIGKILLed $victim (pid $lease_victim_pid); the survivor's first segment ($lease_gap_first) came $gap s later"
echo "owner_gone_gap_s=$gap"
gap_ok() { [ "$gap" != nan ] && lt "$gap" 5; }
check "the survivor's first segment came within 5 s of the kill ($gap s; lease 20 s)" gap_ok
check "a worker declared $victim gone" \
  grep -q "event=owner_gone job=$lease_job_id owner=$victim " "$pool"/worker-*.log
state=$(lease_job_field state); epoch=$(lease_job_field epoch); takeovers=$(lease_job_field takeovers)
check "job done, epoch 2, one takeover ($state epoch=$epoch takeovers=$takeovers)" \
  [ "$state:$epoch:$takeovers" = "done:2:1" ]
lease_finish
