/* worker_metrics.c -- registers the worker's metrics; see worker_metrics.h. */
#include "worker_metrics.h"

#include <time.h>

#include "program.h"

void worker_metrics_init(struct worker_metrics *m, struct metrics *r)
{
    static const double job_buckets[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200};
    m->registry = r;
    m->jobs_in_progress = metrics_gauge(r, "ffpool_worker_jobs_in_progress",
                                        "Jobs this worker is running now.");
    m->job_duration = metrics_histogram(r, "ffpool_job_duration_seconds",
                                        "Wall time of one job run on this worker, by outcome.",
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
