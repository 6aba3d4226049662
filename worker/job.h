/* job.h -- one claimed job on a worker: its lease, its pipeline run, its
 * segments' publication.
 *
 * A job runs in a job process of its own (worker/job_process.c, supervised
 * by the worker through worker/supervisor.c), in a job thread with a second
 * thread renewing its lease at once, then every TTL/5 (each renewal's
 * Redis call cut short at the self-fence point and retried until it; see
 * job_renew_main in job.c). The invariant that makes takeover
 * safe: a segment or the playlist is only published (renamed to the name
 * Jellyfin serves) while this worker's lease is certainly still valid by its
 * own monotonic clock, i.e. before last successful renew + TTL - safety
 * margin. Past that, the job stops writing by itself, before any other
 * worker can have claimed it.
 *
 * Clocks. The lease's end is Redis TIME (the server's wall clock) + TTL,
 * and only the scripts compare it, with Redis TIME again. The worker never
 * reads the server's clock: its deadline is its own CLOCK_MONOTONIC, read
 * before the renew was sent, + TTL - margin, and every wait here (the renew
 * thread's condition variable too) is on CLOCK_MONOTONIC, so stepping the
 * worker's wall clock changes nothing. Stepping the server's wall clock
 * does: forward by more than the margin, leases end early and another
 * worker may claim a job whose owner still writes until its next renew is
 * fenced (at most TTL/5; every running job is charged a lost lease); back,
 * a dead worker's jobs are taken over that much later. A failover compares
 * with the new master's clock. Redis nodes need a slewing NTP, never a
 * stepping one. (CLOCK_MONOTONIC stops during a system suspend, the
 * server's clock does not: a worker that slept through its lease is stopped
 * by its next renew, fenced if another worker took the job meanwhile.) */
#ifndef FFPOOL_WORKER_JOB_H
#define FFPOOL_WORKER_JOB_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "delivery.h"
#include "job_spec.h"
#include "queue.h"
#include "worker_metrics.h"

enum job_stop_reason {
    JOB_RUNNING = 0,
    JOB_STOP_FENCED,    /* another owner holds the job: write nothing more */
    JOB_STOP_CANCELLED, /* the client cancelled or vanished */
    JOB_STOP_LEASE,     /* could not renew in time: self-fenced */
    JOB_STOP_DRAIN,     /* worker shutting down: hand the job back */
};

struct job {
    char id[QUEUE_ID_MAX];
    char owner[QUEUE_OWNER_MAX];
    int64_t epoch;
    int first_index; /* segment this run starts at */
    int takeover;
    struct job_spec spec;
    const struct ffpool_config *config;
    struct queue_config queue_config;
    int report_fd;                     /* event lines to the worker (-1: none) */
    long long last_progress_report_ms; /* job thread only */

    atomic_int stop_reason; /* enum job_stop_reason, first one wins */
    atomic_int paused;
    atomic_llong lease_deadline_ms; /* monotonic; no publishing after it */
    /* Monotonic ms the pipeline last showed it moves (a callback, or a
     * pause by request); 0 until it first does. */
    atomic_llong pipeline_alive_ms;
    atomic_int finished; /* set when the job thread is done */

    /* A deliver job (spec.deliver, delivery.h): this run's folder in
     * worker.spool_dir (the spec's output paths point into it), the server
     * that hands its segments to the shim, and the address the renewals
     * record. */
    char spool[JOB_SPEC_PATH_MAX];
    struct delivery *delivery;
    char delivery_address[QUEUE_ADDRESS_MAX];
    int delivery_file;         /* the output is one file, served as it grows (delivery.h) */
    atomic_int delivered;      /* segments the shim acknowledged */
    atomic_int delivered_last; /* 1 once the stream's last one is acknowledged */

    pthread_t thread;
    pthread_t renew_thread;
    int threads_started; /* 1: the renew thread, 2: the job thread */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* wakes the renew thread early to exit; CLOCK_MONOTONIC */
};

/* Builds a job from a claim; the job reports metric updates and progress to
 * the worker as worker_event lines on report_fd (-1: nowhere). Returns NULL
 * with err if the stored spec cannot be read (the caller fails the job with
 * err). */
struct job *job_create(const struct ffpool_config *config, const struct queue_config *queue_config,
                       int report_fd, const char *owner, const struct queue_claim *claim, char *err,
                       size_t errlen);

/* Starts the job and renew threads. claim_started_ms is the monotonic time
 * just before the claim was sent: the lease is counted from then. Returns 0,
 * or -1 (nothing started). */
int job_start(struct job *job, long long claim_started_ms);

/* Asks a running job to stop for `reason` (only the first reason sticks). */
void job_request_stop(struct job *job, enum job_stop_reason reason);

/* Joins both threads and frees the job. */
void job_destroy(struct job *job);

#endif
