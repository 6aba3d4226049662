#!/usr/bin/env bash
# e2e_observability.sh -- what an operator sees while a job runs: the
# worker's /metrics counters move, /healthz and /readyz answer, and
# `ffpoolctl jobs` / `ffpoolctl workers` show the running job with its
# progress. A pool of one worker (metrics on a free loopback port) runs a
# Jellyfin HLS line on a clip long enough to be scraped twice mid-job.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_observability
shim_pid=""
stop_shim() { if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi; }
e2e_at_exit stop_shim

ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=1280x720:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 \
  -c:v libx264 -preset ultrafast -g 50 -c:a aac "$dir/clip.mkv"
mkdir -p "$dir/transcodes"
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --metrics --dir "$pool" 2>/dev/null
# shellcheck disable=SC1091
. "$pool/env"
metrics=$(awk '$1 == "worker-1" { print $2 }' "$pool/metrics")
scheduler_metrics=$(awk '$1 == "scheduler" { print $2 }' "$pool/metrics")

scrape() { curl -fsS --max-time 5 "$metrics/metrics"; }
sample() { awk -v m="$1" '$1 == m { print $2 }'; }

check "/healthz answers 200" curl -fsS --max-time 5 -o /dev/null "$metrics/healthz"
# Ready once its first claim has reached Redis (a moment after start).
wait_until 10 curl -fsS --max-time 5 -o /dev/null "$metrics/readyz" || true
check "/readyz answers 200 with Redis up" curl -fsS --max-time 5 -o /dev/null "$metrics/readyz"
sleep 1.1 # the scheduler checks Redis once a second
check "scheduler /readyz answers 200" curl -fsS --max-time 5 -o /dev/null "$scheduler_metrics/readyz"
check "scheduler exports the queue depth" \
  grep -q '^ffpool_queue_depth 0' <(curl -fsS --max-time 5 "$scheduler_metrics/metrics")

e2e_shim_args "$dir/clip.mkv" "$dir/transcodes"
# stdin stays open (a fifo we hold), as Jellyfin keeps it for `q`.
mkfifo "$dir/stdin"
exec 3<>"$dir/stdin"
"$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/stdin" 2>"$dir/shim.log" &
shim_pid=$!

wait_for() { for _ in $(seq 1 600); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }
wait_for "$(segment_path 1)" || { say "FAIL segment 1 never appeared"; failures=1; exit 1; }
first=$(scrape)
segments_1=$(sample ffpool_segments_total <<<"$first")
sleep 1.2 # at least one progress report (once a second) has reached Redis
jobs_table=$("$build/bin/ffpoolctl" jobs)
workers_table=$("$build/bin/ffpoolctl" workers)
wait_for "$(segment_path $((segments_1 + 2)))" || { say "FAIL segment $((segments_1 + 2)) never appeared"; failures=1; exit 1; }
second=$(scrape)
segments_2=$(sample ffpool_segments_total <<<"$second")
check "ffpool_segments_total moves during the job ($segments_1 -> $segments_2)" \
  awk -v a="$segments_1" -v b="$segments_2" 'BEGIN { exit !(b > a && a >= 1) }'
check "one job in progress (ffpool_worker_jobs_in_progress)" \
  [ "$(sample ffpool_worker_jobs_in_progress <<<"$second")" = 1 ]
check "the running job's encode speed is exported" \
  grep -Eq '^ffpool_job_encode_speed\{job="j1-[0-9a-f]+"\} ' <<<"$second"
check "last progress timestamp is recent" \
  awk -v t="$(sample ffpool_last_progress_timestamp_seconds <<<"$second")" -v now="$(date +%s)" \
  'BEGIN { exit !(now - t < 10) }'
check "metric families carry HELP and TYPE" grep -q '^# TYPE ffpool_segments_total counter' <<<"$second"
echo "$jobs_table" >&2
check "ffpoolctl jobs shows j1 running on worker-1 with a progress bar" \
  grep -Eq '^j1-[0-9a-f]+ +running +worker-1 .*\[#+\.*\] +[0-9]+%' <<<"$jobs_table"
check "ffpoolctl workers shows worker-1 busy with its libav" \
  grep -Eq '^worker-1 +1 +1 +no +[0-9]+\.[0-9]' <<<"$workers_table"

wait "$shim_pid" && rc=0 || rc=$?
shim_pid=""
check "shim exited 0 (rc=$rc)" [ "$rc" = 0 ]
# The shim exits once Redis says done; the worker counts the job as ended
# when it reaps the job process, a poll later.
for _ in $(seq 1 50); do
  done_metrics=$(scrape)
  [ "$(sample ffpool_worker_jobs_in_progress <<<"$done_metrics")" = 0 ] && break
  sleep 0.1
done
check "no job in progress after the end" [ "$(sample ffpool_worker_jobs_in_progress <<<"$done_metrics")" = 0 ]
check "job duration histogram counted the job" [ "$(sample ffpool_job_duration_seconds_count <<<"$done_metrics")" = 1 ]

e2e_finish "$dir/shim.log" "$pool"/*.log
