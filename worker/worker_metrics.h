/* worker_metrics.h -- the worker's Prometheus metrics, one handle each, and
 * the one-line events through which job processes update them.
 *
 * Created once in main(); with metrics.listen empty the registry is NULL and
 * every handle is NULL, which the metrics functions accept, so callers never
 * check. A job runs in a child process (worker/supervisor.c) that has no
 * registry: it reports each update as one short text line ("segment 1",
 * "speed 2.31") on its report pipe, and the worker applies the line to its
 * own metrics. Every line is also a sign of progress for the watchdog. */
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
    struct metrics_counter *job_crashes;        /* killed by a signal or exited abnormally */
    struct metrics_counter *job_watchdog_kills; /* no progress for worker.job_watchdog_ms */
    struct metrics_counter *job_memory_kills;   /* above worker.job_memory_limit_mb */
    struct metrics_gauge *last_progress;
    struct metrics_gauge_vec *encode_speed;
    /* Monotonic ms of the last pass of the claim loop or a segment: the
     * worker's own liveness, never Redis reachability. */
    atomic_llong last_tick_ms;
};

/* What a job process reports to its worker. */
enum worker_event {
    WORKER_EVENT_PROGRESS,     /* the pipeline is moving (frames, or a client pause) */
    WORKER_EVENT_SEGMENT,      /* a segment was published */
    WORKER_EVENT_LEASE_LOST,   /* fenced, or self-fenced */
    WORKER_EVENT_FENCED_WRITE, /* a segment was not published: lease not certainly ours */
    WORKER_EVENT_REDIS_ERROR,
    WORKER_EVENT_JOB_FAILED, /* the pipeline failed; the job process recorded it */
    WORKER_EVENT_SPEED,      /* value: encode speed in multiples of real time */
};

/* Registers every metric in registry (which may be NULL). */
void worker_metrics_init(struct worker_metrics *m, struct metrics *registry);

/* Records that the worker made progress now (liveness, last_progress). */
void worker_metrics_tick(struct worker_metrics *m);

/* Job process side: writes one event line to fd. Never blocks (fd is
 * non-blocking; a line that does not fit in a full pipe is dropped) and
 * never fails the caller. Safe from any thread: a line is one write() of
 * fewer than PIPE_BUF bytes, so lines never interleave. */
void worker_event_send(int fd, enum worker_event event, double value);

/* Worker side: applies one line (without its newline) from the job
 * process of job_id. Returns 0, or -1 for a line it does not know (ignored). */
int worker_event_apply(struct worker_metrics *m, const char *job_id, const char *line);

#endif
