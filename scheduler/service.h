/* service.h -- the scheduler's request handlers.
 *
 * Turns each API request into queue calls and the answer into a Reply. A
 * scheduler holds no state of its own: everything it knows it reads from
 * Redis for the request at hand, so any number of schedulers can serve the
 * same pool and a client may switch between them at any request.
 *
 * Submit refuses a job whose paths escape the configured roots (confine.h),
 * and decides the job's routing: the capabilities it needs are derived
 * here from the spec (routing.h), never taken from the client alone.
 * Watch is a long poll that holds its server context (one of
 * scheduler.contexts) while it waits, reading the job from Redis every
 * SERVICE_WATCH_POLL_MS, for at most SERVICE_WATCH_MAX_MS. At most half
 * the contexts hold a Watch at once, so that Submit and Status always find
 * one free; a Watch beyond that gets ERROR_UNAVAILABLE (retry). */
#ifndef FFPOOL_SCHEDULER_SERVICE_H
#define FFPOOL_SCHEDULER_SERVICE_H

#include <stdatomic.h>

#include "config.h"
#include "ffpool.pb-c.h"
#include "job_spec.h"
#include "queue.h"

#define SERVICE_WATCH_MAX_MS 30000
#define SERVICE_WATCH_POLL_MS 100

/* What every serving thread shares: the configuration, and a flag that
 * ends long polls at once when the scheduler stops. */
struct service {
    const struct ffpool_config *config;
    atomic_int stopping;
    atomic_int watches; /* Watches being held now */
};

/* Per-thread state: a Redis connection and the buffers a reply points into
 * until it is packed. */
struct service_thread {
    struct service *service;
    struct queue *queue;
    Ffpool__JobStatus status;
    struct queue_job job;
    char *job_result; /* the result status.result points at, NULL if none */
    /* Listings: freed at the start of the next request. */
    struct queue_job *list_jobs;
    Ffpool__JobStatus *list_status;
    Ffpool__JobStatus **list_status_ptrs;
    struct queue_worker *workers;
    int n_workers;
    Ffpool__WorkerInfo *worker_info;
    Ffpool__WorkerInfo **worker_ptrs;
    Ffpool__Capabilities **worker_caps;
};

/* Call before wire_server_stop(): pending Watches answer at once. */
void service_stop_begin(struct service *service);

/* Checks a Submit without touching Redis: a job_key, a spec that unpacks
 * and validates, and paths inside the configured roots. Returns OK with
 * *packed (malloc'd, caller frees) and *spec filled, spec->requires being
 * every capability the job needs (routing.h: the client's words plus what
 * the spec implies), or an error code with a
 * sentence in message. */
Ffpool__ErrorCode service_submit_check(const struct ffpool_config *config,
                                       const Ffpool__SubmitRequest *submit, struct job_spec *spec,
                                       uint8_t **packed, size_t *packed_len, char *message,
                                       size_t message_len);

/* For wire_server_start(): opaque is the struct service. */
void *service_thread_init(void *service);
void service_thread_free(void *thread);
void service_handle(void *thread, const Ffpool__Request *request, Ffpool__Reply *reply);

#endif
