/* worker_metrics.c -- registers the worker's metrics and carries the job
 * processes' event lines; see worker_metrics.h. */
#include "worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "program.h"

void worker_metrics_init(struct worker_metrics *m, struct metrics *r)
{
    static const double job_buckets[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200};
    m->registry = r;
    m->jobs_in_progress =
        metrics_gauge(r, "ffpool_worker_jobs_in_progress", "Jobs this worker is running now.");
    m->job_duration = metrics_histogram(
        r, "ffpool_job_duration_seconds", "Wall time of one job run on this worker, by outcome.",
        job_buckets, (int)(sizeof(job_buckets) / sizeof(job_buckets[0])));
    m->segments = metrics_counter(r, "ffpool_segments_total", "Segments published.");
    m->takeovers = metrics_counter(r, "ffpool_takeovers_total",
                                   "Jobs claimed after their previous owner's lease expired.");
    m->leases_lost = metrics_counter(r, "ffpool_leases_lost_total",
                                     "Jobs this worker stopped because it was fenced or could not "
                                     "renew its lease in time.");
    m->fenced_writes = metrics_counter(r, "ffpool_fenced_writes_rejected_total",
                                       "Segment writes refused because the lease was no longer "
                                       "this worker's.");
    m->redis_errors = metrics_counter(r, "ffpool_redis_errors_total", "Failed Redis calls.");
    m->jobs_failed = metrics_counter(r, "ffpool_jobs_failed_total", "Job runs that failed.");
    m->job_crashes = metrics_counter(r, "ffpool_job_process_crashes_total",
                                     "Job processes killed by a signal or exited abnormally.");
    m->job_watchdog_kills = metrics_counter(r, "ffpool_job_process_watchdog_kills_total",
                                            "Job processes killed for making no progress for "
                                            "worker.job_watchdog_ms.");
    m->job_memory_kills = metrics_counter(r, "ffpool_job_process_memory_kills_total",
                                          "Job processes killed for using more memory than "
                                          "worker.job_memory_limit_mb.");
    m->last_progress = metrics_gauge(r, "ffpool_last_progress_timestamp_seconds",
                                     "Unix time of the worker's last progress (claim loop pass "
                                     "or segment).");
    m->encode_speed = metrics_gauge_vec(r, "ffpool_job_encode_speed",
                                        "Encode speed of each running job, in multiples of "
                                        "real time.",
                                        "job");
    worker_metrics_tick(m);
}

void worker_metrics_tick(struct worker_metrics *m)
{
    atomic_store(&m->last_tick_ms, program_monotonic_ms());
    metrics_gauge_set(m->last_progress, (double)time(NULL));
}

/* ---- job process events ------------------------------------------------- */

/* The word on the wire for each event, indexed by enum worker_event. */
static const char *const worker_event_names[] = {
    [WORKER_EVENT_PROGRESS] = "progress",
    [WORKER_EVENT_SEGMENT] = "segment",
    [WORKER_EVENT_LEASE_LOST] = "lease_lost",
    [WORKER_EVENT_FENCED_WRITE] = "fenced_write",
    [WORKER_EVENT_REDIS_ERROR] = "redis_error",
    [WORKER_EVENT_JOB_FAILED] = "job_failed",
    [WORKER_EVENT_SPEED] = "speed",
};

#define N_WORKER_EVENTS (sizeof(worker_event_names) / sizeof(worker_event_names[0]))

void worker_event_send(int fd, enum worker_event event, double value)
{
    if (fd < 0 || (size_t)event >= N_WORKER_EVENTS)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "%s %.3f\n", worker_event_names[event], value);
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    ssize_t ignored = write(fd, line, (size_t)n);
    (void)ignored;
}

int worker_event_apply(struct worker_metrics *m, const char *job_id, const char *line)
{
    const char *space = strchr(line, ' ');
    if (space == NULL)
        return -1;
    size_t name_len = (size_t)(space - line);
    double value = strtod(space + 1, NULL);
    for (size_t i = 0; i < N_WORKER_EVENTS; i++) {
        if (strlen(worker_event_names[i]) != name_len ||
            strncmp(worker_event_names[i], line, name_len) != 0)
            continue;
        switch ((enum worker_event)i) {
        case WORKER_EVENT_PROGRESS:
            break;
        case WORKER_EVENT_SEGMENT:
            metrics_counter_add(m->segments, 1);
            worker_metrics_tick(m);
            break;
        case WORKER_EVENT_LEASE_LOST:
            metrics_counter_add(m->leases_lost, 1);
            break;
        case WORKER_EVENT_FENCED_WRITE:
            metrics_counter_add(m->fenced_writes, 1);
            break;
        case WORKER_EVENT_REDIS_ERROR:
            metrics_counter_add(m->redis_errors, 1);
            break;
        case WORKER_EVENT_JOB_FAILED:
            metrics_counter_add(m->jobs_failed, 1);
            break;
        case WORKER_EVENT_SPEED:
            metrics_gauge_vec_set(m->encode_speed, job_id, value);
            break;
        }
        return 0;
    }
    return -1;
}
