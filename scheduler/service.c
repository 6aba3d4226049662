/* service.c -- the job API's handlers (Submit, Status, Watch, Cancel,
 * Pause, Resume, the listings, Capabilities and DrainWorker), each a short
 * sequence of queue calls; see service.h. Never trusts a request: every
 * JobSpec is unpacked into the C struct and validated before it is stored,
 * and the capabilities a job needs (its routing) are derived here from the
 * spec, not taken from the client. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "confine.h"
#include "job_spec.h"
#include "log.h"
#include "program.h"
#include "routing.h"

void service_stop_begin(struct service *service)
{
    atomic_store(&service->stopping, 1);
}

void *service_thread_init(void *opaque)
{
    struct service *service = opaque;
    struct service_thread *thread = calloc(1, sizeof(*thread));
    if (thread == NULL)
        return NULL;
    thread->service = service;
    struct queue_config queue_config;
    program_queue_config(service->config, &queue_config);
    thread->queue = queue_open(&queue_config);
    if (thread->queue == NULL) {
        free(thread);
        return NULL;
    }
    return thread;
}

/* Frees what the previous reply pointed into. */
static void service_lists_free(struct service_thread *thread)
{
    for (int i = 0; thread->worker_caps != NULL && i < thread->n_workers; i++)
        if (thread->worker_caps[i] != NULL)
            ffpool__capabilities__free_unpacked(thread->worker_caps[i], NULL);
    queue_worker_list_free(thread->workers, thread->n_workers);
    free(thread->worker_caps);
    free(thread->worker_info);
    free(thread->worker_ptrs);
    free(thread->list_jobs);
    free(thread->list_status);
    free(thread->list_status_ptrs);
    free(thread->job_result);
    thread->job_result = NULL;
    thread->workers = NULL;
    thread->n_workers = 0;
    thread->worker_caps = NULL;
    thread->worker_info = NULL;
    thread->worker_ptrs = NULL;
    thread->list_jobs = NULL;
    thread->list_status = NULL;
    thread->list_status_ptrs = NULL;
}

void service_thread_free(void *opaque)
{
    struct service_thread *thread = opaque;
    if (thread == NULL)
        return;
    service_lists_free(thread);
    queue_close(thread->queue);
    free(thread);
}

/* Maps a queue status to a reply code; returns 1 if it was an error. */
static int reply_from_queue(struct service_thread *thread, int status, Ffpool__Reply *reply)
{
    switch (status) {
    case QUEUE_OK:
        return 0;
    case QUEUE_NOT_FOUND:
        reply->code = FFPOOL__ERROR_CODE__ERROR_NOT_FOUND;
        reply->message = "no such job";
        return 1;
    default:
        reply->code = FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE;
        reply->message = (char *)queue_last_error(thread->queue);
        return 1;
    }
}

/* Points a JobStatus at the fields of a queue_job (which must outlive it). */
static void job_status_fill(Ffpool__JobStatus *s, struct queue_job *job)
{
    ffpool__job_status__init(s);
    s->job_id = job->id;
    s->state = (Ffpool__JobState)job->state;
    s->epoch = job->epoch;
    s->owner = job->owner;
    s->checkpoint = job->checkpoint;
    s->start_number = job->start_number;
    s->attempts = job->attempts;
    s->takeovers = job->takeovers;
    s->leases_lost = job->leases_lost;
    s->delivery = job->delivery;
    s->error = job->error;
    s->frames = job->frames;
    s->out_time_us = job->out_time_us;
    s->start_us = job->start_us;
    s->bytes = job->bytes;
    s->speed = job->speed;
    s->progress_version = job->progress_version;
    s->paused = job->paused;
    s->duration_us = job->duration_us;
    s->waiting = job->waiting;
    s->requires = job->requires;
}

/* Reads the job back from Redis into the thread's reply buffers. */
static void reply_job(struct service_thread *thread, const char *id, Ffpool__Reply *reply)
{
    if (reply_from_queue(thread, queue_get(thread->queue, id, &thread->job), reply))
        return;
    job_status_fill(&thread->status, &thread->job);
    /* A finished job may have a result (a device check's output). */
    int result_status = 0;
    free(thread->job_result);
    thread->job_result = NULL;
    if (thread->job.state == QUEUE_JOB_DONE &&
        reply_from_queue(thread,
                         queue_job_result(thread->queue, id, &thread->job_result, &result_status),
                         reply))
        return;
    if (thread->job_result != NULL) {
        thread->status.result = thread->job_result;
        thread->status.result_status = result_status;
    }
    reply->job = &thread->status;
}

static void handle_list_jobs(struct service_thread *thread, const Ffpool__ListJobsRequest *request,
                             Ffpool__Reply *reply)
{
    int limit =
        request != NULL && request->limit > 0 && request->limit <= 1000 ? request->limit : 100;
    char(*ids)[QUEUE_ID_MAX] = calloc((size_t)limit, QUEUE_ID_MAX);
    thread->list_jobs = calloc((size_t)limit, sizeof(*thread->list_jobs));
    thread->list_status = calloc((size_t)limit, sizeof(*thread->list_status));
    thread->list_status_ptrs = calloc((size_t)limit, sizeof(*thread->list_status_ptrs));
    int count = 0;
    if (ids == NULL || thread->list_jobs == NULL || thread->list_status == NULL ||
        thread->list_status_ptrs == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "out of memory";
    } else if (!reply_from_queue(thread, queue_job_list(thread->queue, limit, ids, &count),
                                 reply)) {
        size_t n = 0;
        for (int i = 0; i < count; i++) {
            /* A listing tells no client its job ended: no wait for the
             * replicas per finished job (queue_get). */
            int status = queue_peek(thread->queue, ids[i], &thread->list_jobs[n]);
            if (status == QUEUE_NOT_FOUND)
                continue; /* expired between the listing and now */
            if (reply_from_queue(thread, status, reply))
                break;
            job_status_fill(&thread->list_status[n], &thread->list_jobs[n]);
            thread->list_status_ptrs[n] = &thread->list_status[n];
            n++;
        }
        reply->jobs = thread->list_status_ptrs;
        reply->n_jobs = n;
    }
    free(ids);
}

static void handle_list_workers(struct service_thread *thread, int with_caps, Ffpool__Reply *reply)
{
    int status = queue_worker_list(thread->queue, with_caps, &thread->workers, &thread->n_workers);
    if (reply_from_queue(thread, status, reply))
        return;
    int n = thread->n_workers;
    thread->worker_info = calloc((size_t)n + 1, sizeof(*thread->worker_info));
    thread->worker_ptrs = calloc((size_t)n + 1, sizeof(*thread->worker_ptrs));
    thread->worker_caps = calloc((size_t)n + 1, sizeof(*thread->worker_caps));
    if (thread->worker_info == NULL || thread->worker_ptrs == NULL || thread->worker_caps == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "out of memory";
        return;
    }
    for (int i = 0; i < n; i++) {
        struct queue_worker *w = &thread->workers[i];
        Ffpool__WorkerInfo *info = &thread->worker_info[i];
        ffpool__worker_info__init(info);
        info->id = w->id;
        info->slots = w->slots;
        info->running = w->running;
        info->draining = w->draining;
        info->updated_ms = w->updated_ms;
        info->same_capabilities_as = "";
        /* Identical capabilities travel once (see WorkerInfo in ffpool.proto). */
        for (int j = 0; w->caps != NULL && j < i; j++) {
            struct queue_worker *earlier = &thread->workers[j];
            if (earlier->caps != NULL && earlier->caps_len == w->caps_len &&
                thread->worker_caps[j] != NULL &&
                memcmp(earlier->caps, w->caps, w->caps_len) == 0) {
                info->same_capabilities_as = earlier->id;
                break;
            }
        }
        if (w->caps != NULL && info->same_capabilities_as[0] == '\0')
            thread->worker_caps[i] = ffpool__capabilities__unpack(NULL, w->caps_len, w->caps);
        info->capabilities = thread->worker_caps[i];
        thread->worker_ptrs[i] = info;
    }
    reply->workers = thread->worker_ptrs;
    reply->n_workers = (size_t)n;
    if (with_caps && n == 0) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE;
        reply->message = "no worker has registered with the pool";
    }
}

/* Routing is decided here, at the trust boundary: the job needs what its
 * spec implies (codecs, filters) plus whatever the client added, so a
 * client can narrow where its job runs but never widen it. Replaces
 * spec->requires with that union. Returns 0 or -1 with err. */
static int service_requires_derive(struct job_spec *spec, char *err, size_t errlen)
{
    char needs[JOB_SPEC_REQUIRES_MAX];
    if (routing_job_requires(spec, needs, sizeof(needs), err, errlen) != 0)
        return -1;
    memcpy(spec->requires, needs, sizeof(needs));
    return 0;
}

Ffpool__ErrorCode service_submit_check(const struct ffpool_config *config,
                                       const Ffpool__SubmitRequest *submit, struct job_spec *spec,
                                       uint8_t **packed, size_t *packed_len, char *message,
                                       size_t message_len)
{
    char err[1024];
    *packed = NULL;
    *packed_len = 0;
    if (submit == NULL || submit->spec == NULL || submit->job_key == NULL ||
        submit->job_key[0] == '\0' || strlen(submit->job_key) > 128) {
        snprintf(message, message_len, "submit needs a job_key (1-128 bytes) and a spec");
        return FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
    }
    size_t len = ffpool__job_spec__get_packed_size(submit->spec);
    *packed = malloc(len > 0 ? len : 1);
    if (*packed == NULL) {
        snprintf(message, message_len, "out of memory");
        return FFPOOL__ERROR_CODE__ERROR_INTERNAL;
    }
    *packed_len = ffpool__job_spec__pack(submit->spec, *packed);
    if (job_spec_unpack(*packed, *packed_len, spec, err, sizeof(err)) != 0 ||
        job_spec_validate(spec, err, sizeof(err)) != 0 ||
        confine_job_check(spec, config->paths_media_roots, config->paths_transcode_root, err,
                          sizeof(err)) != 0 ||
        service_requires_derive(spec, err, sizeof(err)) != 0) {
        snprintf(message, message_len, "job refused: %s", err);
        free(*packed);
        *packed = NULL;
        *packed_len = 0;
        return FFPOOL__ERROR_CODE__ERROR_INVALID_JOB;
    }
    return FFPOOL__ERROR_CODE__OK;
}

static void handle_submit(struct service_thread *thread, const Ffpool__SubmitRequest *submit,
                          Ffpool__Reply *reply)
{
    static _Thread_local char message[1200];
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    struct job_spec *spec = malloc(sizeof(*spec));
    if (spec == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "out of memory";
        return;
    }
    Ffpool__ErrorCode code = service_submit_check(thread->service->config, submit, spec, &packed,
                                                  &packed_len, message, sizeof(message));
    if (code != FFPOOL__ERROR_CODE__OK) {
        reply->code = code;
        reply->message = message;
        if (code == FFPOOL__ERROR_CODE__ERROR_INVALID_JOB)
            log_warn("submit_refused", "job_key=%s reason=%s", log_quote(submit->job_key),
                     log_quote(message));
        goto cleanup;
    }
    char id[QUEUE_ID_MAX];
    int created = 0;
    int status = queue_submit_routed(thread->queue, submit->job_key, packed, packed_len,
                                     spec->start_number, spec->requires, id, &created);
    if (reply_from_queue(thread, status, reply))
        goto cleanup;
    if (created)
        log_info("submit", "job=%s input=%s output=%s start_number=%d requires=%s", id,
                 log_quote(spec->input), log_quote(spec->output), spec->start_number,
                 log_quote(spec->requires));
    reply_job(thread, id, reply);
    if (reply->job != NULL)
        reply->job->created = created;

cleanup:
    free(packed);
    free(spec);
}

static int job_state_finished(enum queue_job_state state)
{
    return state == QUEUE_JOB_DONE || state == QUEUE_JOB_FAILED || state == QUEUE_JOB_CANCELLED;
}

/* Long poll: reads the job every SERVICE_WATCH_POLL_MS until its progress
 * moves past the caller's version, it finishes, the time-out passes or the
 * scheduler stops. A Watch holds this thread (one context) throughout. */
static void handle_watch(struct service_thread *thread, const Ffpool__WatchRequest *watch,
                         Ffpool__Reply *reply)
{
    int wait_ms = watch->timeout_ms > 0 && watch->timeout_ms < SERVICE_WATCH_MAX_MS
                      ? watch->timeout_ms
                      : SERVICE_WATCH_MAX_MS;
    int limit = (int)(thread->service->config->scheduler_contexts / 2);
    if (limit < 1)
        limit = 1;
    if (atomic_fetch_add(&thread->service->watches, 1) >= limit) {
        atomic_fetch_sub(&thread->service->watches, 1);
        reply->code = FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE;
        reply->message = "this scheduler already holds as many Watch requests as it allows (half "
                         "of scheduler.contexts); retry in a moment or raise scheduler.contexts";
        return;
    }
    long long deadline = program_monotonic_ms() + wait_ms;
    long long next_heartbeat = 0;
    for (;;) {
        long long now = program_monotonic_ms();
        if (watch->heartbeat && now >= next_heartbeat) {
            int status = queue_heartbeat(thread->queue, watch->job_id);
            if (status != QUEUE_OK && status != QUEUE_CANCELLED &&
                reply_from_queue(thread, status, reply))
                goto done;
            next_heartbeat = now + 1000;
        }
        int status = queue_get(thread->queue, watch->job_id, &thread->job);
        if (reply_from_queue(thread, status, reply))
            goto done;
        if (thread->job.progress_version > watch->progress_version ||
            job_state_finished(thread->job.state) || now >= deadline ||
            atomic_load(&thread->service->stopping))
            break;
        long long pause =
            deadline - now < SERVICE_WATCH_POLL_MS ? deadline - now : SERVICE_WATCH_POLL_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = pause * 1000000L};
        nanosleep(&ts, NULL);
    }
    job_status_fill(&thread->status, &thread->job);
    reply->job = &thread->status;
done:
    atomic_fetch_sub(&thread->service->watches, 1);
}

static void handle_attach(struct service_thread *thread, const Ffpool__AttachRequest *attach,
                          Ffpool__Reply *reply)
{
    if (attach->job_id != NULL && attach->job_id[0] != '\0') {
        reply_job(thread, attach->job_id, reply);
        return;
    }
    if (attach->job_key == NULL || attach->job_key[0] == '\0') {
        reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
        reply->message = "attach needs a job_id or a job_key";
        return;
    }
    char id[QUEUE_ID_MAX];
    int status = queue_job_find(thread->queue, attach->job_key, id);
    if (status == QUEUE_NOT_FOUND) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_NOT_FOUND;
        reply->message = "no job was submitted with that job_key (or it has expired)";
        return;
    }
    if (reply_from_queue(thread, status, reply))
        return;
    reply_job(thread, id, reply);
}

static void handle_drain_worker(struct service_thread *thread,
                                const Ffpool__DrainWorkerRequest *drain, Ffpool__Reply *reply)
{
    if (drain->worker_id == NULL || drain->worker_id[0] == '\0') {
        reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
        reply->message = "drain needs a worker_id (see ListWorkers)";
        return;
    }
    int status = queue_worker_request_drain(thread->queue, drain->worker_id);
    if (status == QUEUE_NOT_FOUND) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_NOT_FOUND;
        reply->message = "no live worker has that id (see ListWorkers)";
        return;
    }
    if (reply_from_queue(thread, status, reply))
        return;
    log_info("drain_requested", "worker=%s", log_quote(drain->worker_id));
}

void service_handle(void *opaque, const Ffpool__Request *request, Ffpool__Reply *reply)
{
    struct service_thread *thread = opaque;
    if (thread == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "scheduler thread has no Redis connection";
        return;
    }
    service_lists_free(thread);
    const char *id = NULL;
    switch (request->body_case) {
    case FFPOOL__REQUEST__BODY_LIST_JOBS:
        handle_list_jobs(thread, request->list_jobs, reply);
        return;
    case FFPOOL__REQUEST__BODY_LIST_WORKERS:
        handle_list_workers(thread, 1, reply);
        if (reply->code == FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE && reply->n_workers == 0 &&
            thread->workers != NULL) {
            reply->code = FFPOOL__ERROR_CODE__OK; /* an empty pool is an answer here */
            reply->message = "";
        }
        return;
    case FFPOOL__REQUEST__BODY_CAPABILITIES:
        handle_list_workers(thread, 1, reply);
        return;
    case FFPOOL__REQUEST__BODY_SUBMIT:
        handle_submit(thread, request->submit, reply);
        return;
    case FFPOOL__REQUEST__BODY_WATCH:
        if (request->watch->job_id == NULL || request->watch->job_id[0] == '\0')
            break;
        handle_watch(thread, request->watch, reply);
        return;
    case FFPOOL__REQUEST__BODY_DRAIN_WORKER:
        handle_drain_worker(thread, request->drain_worker, reply);
        return;
    case FFPOOL__REQUEST__BODY_ATTACH:
        handle_attach(thread, request->attach, reply);
        return;
    case FFPOOL__REQUEST__BODY_STATUS:
        id = request->status->job_id;
        if (id == NULL || id[0] == '\0')
            break;
        if (request->status->heartbeat) {
            int status = queue_heartbeat(thread->queue, id);
            if (status != QUEUE_OK && status != QUEUE_CANCELLED &&
                reply_from_queue(thread, status, reply))
                return;
        }
        reply_job(thread, id, reply);
        return;
    case FFPOOL__REQUEST__BODY_CANCEL:
    case FFPOOL__REQUEST__BODY_PAUSE:
    case FFPOOL__REQUEST__BODY_RESUME: {
        const Ffpool__JobRef *ref =
            request->body_case == FFPOOL__REQUEST__BODY_CANCEL  ? request->cancel
            : request->body_case == FFPOOL__REQUEST__BODY_PAUSE ? request->pause
                                                                : request->resume;
        id = ref->job_id;
        if (id == NULL || id[0] == '\0')
            break;
        int status = request->body_case == FFPOOL__REQUEST__BODY_CANCEL
                         ? queue_cancel(thread->queue, id)
                         : queue_set_paused(thread->queue, id,
                                            request->body_case == FFPOOL__REQUEST__BODY_PAUSE);
        if (reply_from_queue(thread, status, reply))
            return;
        if (request->body_case == FFPOOL__REQUEST__BODY_CANCEL)
            log_info("cancel", "job=%s", log_quote(id));
        reply_job(thread, id, reply);
        return;
    }
    default:
        reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
        reply->message = "unknown request type";
        return;
    }
    reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
    reply->message = "request needs a job_id";
}
