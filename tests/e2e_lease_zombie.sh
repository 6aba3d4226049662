#!/usr/bin/env bash
# e2e_lease_zombie.sh -- a worker stalled past its lease (SIGSTOP of the
# worker and its job processes: a frozen VM, a stuck NFS write) comes back
# after another worker took its job over, and must be harmless:
#   - the other worker takes over and finishes the stream (output complete,
#     decodable, every frame once, each index published once, every
#     segment's presentation times those of an uninterrupted run first made
#     on the same pool);
#   - after SIGCONT the zombie publishes nothing: no event=segment line of its
#     own, every segment written after the stall belongs to the new owner,
#     and no segment file changes (inode, mtime) after the new owner is done;
#   - the zombie says it stopped (event=fenced|self_fenced|segment_refused);
#   - the checkpoint in Redis never moves backwards (sampled every 50 ms) and
#     ends at the last segment; the job ends done, epoch 2, one takeover;
#   - the zombie process lives on and keeps serving (it is not wedged).
# Usage: tests/e2e_lease_zombie.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 24 960x540
lease_pool_up 2 3000
lease_reference
lease_shim_start
lease_wait_segment 2 120

victim_pid=$(lease_owner_pid)
victim=$(lease_job_field owner)
epoch_before=$(lease_job_field epoch)
victim_log=$pool/$victim.log
lease_signal_worker STOP "$victim_pid"
stopped_at=$(now)
published_before=$(grep -c "event=segment job=$lease_job_id .*worker=$victim " "$victim_log" || true)
say "SIGSTOPped $victim (pid $victim_pid) holding $lease_job_id epoch $epoch_before after $published_before segments"

# Sample the checkpoint until the shim is done; continue the zombie once the
# new owner has published a segment of its own (it is mid-stream then).
last_cp=-1000000; backwards=0; cont_at=""; new_owner=""
for ((k = 0; k < 2400; k++)); do
  kill -0 "$lease_shim_pid" 2>/dev/null || break
  cp=$(lease_job_field checkpoint)
  if [ -n "$cp" ]; then
    [ "$cp" -lt "$last_cp" ] && { backwards=$((backwards + 1)); say "checkpoint went back $last_cp -> $cp"; }
    last_cp=$cp
  fi
  if [ -z "$cont_at" ]; then
    owner=$(lease_job_field owner)
    if [ -n "$owner" ] && [ "$owner" != "$victim" ] &&
       grep -q "event=segment job=$lease_job_id .*worker=$owner " "$pool/$owner.log"; then
      new_owner=$owner
      lease_signal_worker CONT "$victim_pid"
      cont_at=$(now)
      say "new owner $new_owner publishing; SIGCONT $victim after $(elapsed "$stopped_at" "$cont_at") s"
    fi
  fi
  sleep 0.05
done
[ -n "$cont_at" ] || { lease_signal_worker CONT "$victim_pid"; cont_at=$(now); }
lease_shim_wait 120

snapshot() { for f in "$dir"/transcodes/*.ts; do stat -c '%n %i %.9Y' "$f"; done; }
snapshot >"$dir/files.1"
sleep 1.5 # the zombie has had time to do whatever it was going to do
snapshot >"$dir/files.2"

lease_check_output
check "checkpoint never moved backwards ($backwards times)" [ "$backwards" = 0 ]
final_cp=$(lease_job_field checkpoint)
check "final checkpoint $final_cp is the last segment" \
  [ "$final_cp" = $((lease_start_number + lease_expected - 1)) ]
state=$(lease_job_field state); epoch=$(lease_job_field epoch); takeovers=$(lease_job_field takeovers)
check "job done, epoch 2, one takeover ($state epoch=$epoch takeovers=$takeovers)" \
  [ "$state:$epoch:$takeovers" = "done:$((epoch_before + 1)):1" ]
published_after=$(grep -c "event=segment job=$lease_job_id .*worker=$victim " "$victim_log" || true)
check "zombie published nothing after the stall ($published_before before, $published_after after)" \
  [ "$published_before" = "$published_after" ]
check "zombie logged that it stopped writing" \
  grep -Eq "event=(fenced|self_fenced|segment_refused) job=$lease_job_id " "$victim_log"
late=0
while read -r n _ who; do
  m=$(stat -c %.9Y "$(segment_path "$n")")
  if awk -v a="$m" -v b="$stopped_at" 'BEGIN { exit !(a > b) }' && [ "$who" = "$victim" ]; then
    late=$((late + 1)); say "segment $n written after the stall by the zombie"
  fi
done <"$dir/owners"
check "every segment written after the stall is the new owner's" [ "$late" = 0 ]
check "no segment file replaced or touched after the end" cmp -s "$dir/files.1" "$dir/files.2"
check "zombie process still alive and serving" kill -0 "$victim_pid"
# A stopped worker keeps its connections open: it is not declared gone (that
# is for closed connections, proto/queue_presence.c) and its lease decides.
check "the stopped worker was not declared gone (its lease ran out)" \
  [ -z "$(grep -h "event=owner_gone" "$pool"/worker-*.log)" ]
grep -h "job=$lease_job_id" "$victim_log" | grep -E "event=(fenced|self_fenced|segment_refused|job_stopped)" |
  sed 's/^/  zombie: /' >&2 || true
lease_finish
