#!/usr/bin/env bash
# takeover.sh -- lease figures for BENCHMARKS.md, printed as one markdown
# section:
#   - takeover gap after SIGKILL (kill to the next new segment on disk),
#     median and worst of RUNS runs of tests/e2e_takeover.sh on a short clip;
#   - graceful-drain gap (SIGTERM to the next new segment), median and worst
#     of DRAIN_RUNS runs of tests/e2e_lease_drain.sh;
#   - Redis commands per segment, and per job-second of lease renewal, from
#     INFO commandstats deltas around one job on a one-worker pool (the job is
#     paused for PAUSE_S seconds to isolate renewal: a paused job only renews).
#
#   scripts/bench/takeover.sh [RUNS=10] [DRAIN_RUNS=5]
# Environment: TAKEOVER_SIZE (640x360), TAKEOVER_DURATION (15 s clip).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
runs=${1:-10}
drain_runs=${2:-5}
size=${TAKEOVER_SIZE:-640x360}
duration=${TAKEOVER_DURATION:-15}

stats() { # stats < numbers: "median worst n"
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan nan 0"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.3f %.3f %d\n", m, v[NR], NR }'
}

gaps=$(mktemp "${TMPDIR:-/tmp}/ffpool-bench-takeover.XXXXXX")
drains=$(mktemp "${TMPDIR:-/tmp}/ffpool-bench-drain.XXXXXX")
trap 'rm -f "$gaps" "$drains"' EXIT
for ((i = 1; i <= runs; i++)); do
  g=$(tests/e2e_takeover.sh --duration "$duration" --size "$size" --kill-at-segment 1 2>/dev/null |
    sed -n 's/^takeover_gap_s=//p' || true)
  echo "takeover run $i: gap ${g:-failed} s" >&2
  [ -n "$g" ] && [ "$g" != nan ] && echo "$g" >>"$gaps"
done
for ((i = 1; i <= drain_runs; i++)); do
  g=$(FFPOOL_DRAIN_SIZE=$size FFPOOL_DRAIN_DURATION=$duration tests/e2e_lease_drain.sh 2>/dev/null |
    sed -n 's/^drain_gap_s=//p' || true)
  echo "drain run $i: gap ${g:-failed} s" >&2
  [ -n "$g" ] && [ "$g" != nan ] && echo "$g" >>"$drains"
done
read -r t_med t_worst t_n < <(stats <"$gaps")
read -r d_med d_worst d_n < <(stats <"$drains")

# ---- Redis commands per segment and per job-second of renewal ----
# shellcheck disable=SC1091
. tests/e2e_lease_lib.sh
bench_cleanup() { rm -f "$gaps" "$drains"; }
e2e_at_exit bench_cleanup # the library's EXIT trap replaces ours
pause_s=${PAUSE_S:-6}
lease_clip "$duration" "$size"
lease_pool_up 1
cmdstats() { # "cmd calls" lines
  rc INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' | sort
}
delta() { join -a 2 -e 0 -o 0,1.2,2.2 "$1" "$2" | awk '{ print $1, $3 - $2 }'; }
sleep 2
cmdstats >"$dir/idle.0"; idle_t0=$(now); sleep 4; cmdstats >"$dir/idle.1"; idle_t1=$(now)
lease_shim_start
lease_wait_segment 0 60
rc HSET "ffpool:job:$lease_job_id" paused 1 >/dev/null
# The shim is stopped meanwhile (its status polls would count too; its
# heartbeat lasts 15 s): only the worker's renewals and announcements remain.
kill -STOP "$lease_shim_pid"
sleep 1.2 # the renew thread sees the flag within TTL/5
cmdstats >"$dir/pause.0"; p0=$(now); sleep "$pause_s"; cmdstats >"$dir/pause.1"; p1=$(now)
kill -CONT "$lease_shim_pid"
rc HSET "ffpool:job:$lease_job_id" paused 0 >/dev/null
lease_shim_wait 120
cmdstats >"$dir/job.1"
segments=$(rc HKEYS "ffpool:job:$lease_job_id:segments" | grep -c '^[0-9][0-9]*$' || true)
idle_s=$(elapsed "$idle_t0" "$idle_t1"); pause_len=$(elapsed "$p0" "$p1")
# Scripts (EVALSHA) are the lease protocol; the rest is the shim's status
# polling through the scheduler (HMGET...) and the idle worker loop (BLPOP).
idle_rate=$(delta "$dir/idle.0" "$dir/idle.1" | awk -v s="$idle_s" '$1 == "evalsha" { printf "%.2f", $2 / s }')
pause_rate=$(delta "$dir/pause.0" "$dir/pause.1" | awk -v s="$pause_len" '$1 == "evalsha" { printf "%.2f", $2 / s }')
pause_all=$(delta "$dir/pause.0" "$dir/pause.1" | awk -v s="$pause_len" '{ n += $2 } END { printf "%.2f", n / s }')
breakdown=$(delta "$dir/idle.1" "$dir/job.1" | awk '$2 > 0 { printf "%s%s %d", sep, $1, $2; sep = ", " }')
job_evalsha=$(delta "$dir/idle.1" "$dir/job.1" | awk '$1 == "evalsha" { print $2 }')
job_all=$(delta "$dir/idle.1" "$dir/job.1" | awk '{ s += $2 } END { print s }')
lease_finish >/dev/null 2>&1

cat <<EOT
## Leases: takeover and drain gaps, Redis cost

Command: \`scripts/bench/takeover.sh $runs $drain_runs\` (clip ${duration} s ${size}, the default lease settings,
corpus line 003 through the shim, 2 workers).

| figure | median | worst | runs | goal |
|---|---|---|---|---|
| takeover gap after SIGKILL (kill to next new segment) | ${t_med} s | ${t_worst} s | ${t_n} | <= 2 s |
| graceful-drain gap (SIGTERM to next new segment) | ${d_med} s | ${d_worst} s | ${d_n} | <= 1 s |

Redis cost (one worker, one job, ${segments} segments; INFO commandstats deltas):

| figure | value |
|---|---|
| EVALSHA per second, idle worker (claim + announce) | ${idle_rate} |
| EVALSHA per second, one paused job, shim stopped (renew, announce, scheduler's heartbeat) | ${pause_rate} |
| all commands per second in that state | ${pause_all} |
| EVALSHA for the whole job (claim, checkpoints, progress, renewals, complete) | ${job_evalsha} |
| EVALSHA per segment | $(awk -v a="$job_evalsha" -v n="$segments" 'BEGIN { printf "%.1f", a / n }') |
| all commands for the whole job, incl. the shim's status polling | ${job_all} |
| all commands per segment | $(awk -v a="$job_all" -v n="$segments" 'BEGIN { printf "%.1f", a / n }') |

Commands during the job, by name: ${breakdown}.
EOT
