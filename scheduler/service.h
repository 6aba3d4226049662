/* service.h -- the scheduler's request handlers.
 *
 * Turns each API request into queue calls and the answer into a Reply. A
 * scheduler holds no state of its own: everything it knows it reads from
 * Redis for the request at hand, so any number of schedulers can serve the
 * same pool and a client may switch between them at any request. */
#ifndef FFPOOL_SCHEDULER_SERVICE_H
#define FFPOOL_SCHEDULER_SERVICE_H

#include "config.h"
#include "ffpool.pb-c.h"
#include "queue.h"

/* Per-thread state: a Redis connection and the buffers a reply points into
 * until it is packed. */
struct service_thread {
    struct queue *queue;
    Ffpool__JobStatus status;
    struct queue_job job;
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

/* For wire_server_start(): opaque is the struct ffpool_config. */
void *service_thread_init(void *config);
void service_thread_free(void *thread);
void service_handle(void *thread, const Ffpool__Request *request, Ffpool__Reply *reply);

#endif
