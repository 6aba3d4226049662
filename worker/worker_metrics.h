/* worker_metrics.h -- the worker's Prometheus metrics, one handle each.
 *
 * Created once in main(); jobs update them from their threads. With
 * metrics.listen empty the registry is NULL and every handle is NULL, which
 * the metrics functions accept, so callers never check. */
#ifndef FFPOOL_WORKER_METRICS_H
#define FFPOOL_WORKER_METRICS_H

#include <stdatomic.h>

#include "metrics.h"

struct worker_metrics {
    struct metrics *registry;
    struct metrics_gauge *jobs_in_progress;
    struct metrics_histogram *job_duration;
    struct metrics_counter *segments;
    struct metrics_counter *takeovers;
    struct metrics_counter *leases_lost;
    struct metrics_counter *fenced_writes;
    struct metrics_counter *redis_errors;
    struct metrics_counter *jobs_failed;
    struct metrics_gauge *last_progress;
    struct metrics_gauge_vec *encode_speed;
    /* Monotonic ms of the last pass of the claim loop or a segment: the
     * worker's own liveness, never Redis reachability. */
    atomic_llong last_tick_ms;
};

/* Registers every metric in registry (which may be NULL). */
void worker_metrics_init(struct worker_metrics *m, struct metrics *registry);

/* Records that the worker made progress now (liveness, last_progress). */
void worker_metrics_tick(struct worker_metrics *m);

#endif
