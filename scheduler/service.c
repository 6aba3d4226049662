/* service.c -- Submit, Status, Cancel, Pause and Resume, each a short
 * sequence of queue calls; see service.h. Never trusts a request: every
 * JobSpec is unpacked into the C struct and validated before it is stored. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_spec.h"
#include "log.h"
#include "program.h"

void *service_thread_init(void *opaque)
{
    const struct ffpool_config *config = opaque;
    struct service_thread *thread = calloc(1, sizeof(*thread));
    if (thread == NULL)
        return NULL;
    struct queue_config queue_config;
    program_queue_config(config, &queue_config);
    thread->queue = queue_open(&queue_config);
    if (thread->queue == NULL) {
        free(thread);
        return NULL;
    }
    return thread;
}

void service_thread_free(void *opaque)
{
    struct service_thread *thread = opaque;
    if (thread == NULL)
        return;
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

/* Reads the job back from Redis into the thread's reply buffers. */
static void reply_job(struct service_thread *thread, const char *id, Ffpool__Reply *reply)
{
    if (reply_from_queue(thread, queue_get(thread->queue, id, &thread->job), reply))
        return;
    struct queue_job *job = &thread->job;
    Ffpool__JobStatus *s = &thread->status;
    ffpool__job_status__init(s);
    s->job_id = job->id;
    s->state = (Ffpool__JobState)job->state;
    s->epoch = job->epoch;
    s->owner = job->owner;
    s->checkpoint = job->checkpoint;
    s->start_number = job->start_number;
    s->attempts = job->attempts;
    s->takeovers = job->takeovers;
    s->error = job->error;
    s->frames = job->frames;
    s->out_time_us = job->out_time_us;
    s->bytes = job->bytes;
    s->speed = job->speed;
    s->progress_version = job->progress_version;
    s->paused = job->paused;
    reply->job = s;
}

static void handle_submit(struct service_thread *thread, const Ffpool__SubmitRequest *submit,
                          Ffpool__Reply *reply)
{
    static _Thread_local char message[600];
    struct job_spec *spec = NULL;
    uint8_t *packed = NULL;
    size_t packed_len;

    if (submit->spec == NULL || submit->job_key == NULL || submit->job_key[0] == '\0' ||
        strlen(submit->job_key) > 128) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
        reply->message = "submit needs a job_key (1-128 bytes) and a spec";
        return;
    }
    packed_len = ffpool__job_spec__get_packed_size(submit->spec);
    packed = malloc(packed_len > 0 ? packed_len : 1);
    spec = malloc(sizeof(*spec));
    if (packed == NULL || spec == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "out of memory";
        goto cleanup;
    }
    ffpool__job_spec__pack(submit->spec, packed);

    char err[512];
    if (job_spec_unpack(packed, packed_len, spec, err, sizeof(err)) != 0 ||
        job_spec_validate(spec, err, sizeof(err)) != 0) {
        snprintf(message, sizeof(message), "job refused: %s", err);
        reply->code = FFPOOL__ERROR_CODE__ERROR_INVALID_JOB;
        reply->message = message;
        goto cleanup;
    }
    char id[QUEUE_ID_MAX];
    int created = 0;
    int status = queue_submit(thread->queue, submit->job_key, packed, packed_len,
                              spec->start_number, id, &created);
    if (reply_from_queue(thread, status, reply))
        goto cleanup;
    if (created)
        log_info("submit", "job=%s input=%s output=%s start_number=%d", id,
                 log_quote(spec->input), log_quote(spec->output), spec->start_number);
    reply_job(thread, id, reply);
    if (reply->job != NULL)
        reply->job->created = created;

cleanup:
    free(packed);
    free(spec);
}

void service_handle(void *opaque, const Ffpool__Request *request, Ffpool__Reply *reply)
{
    struct service_thread *thread = opaque;
    if (thread == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "scheduler thread has no Redis connection";
        return;
    }
    const char *id = NULL;
    switch (request->body_case) {
    case FFPOOL__REQUEST__BODY_SUBMIT:
        handle_submit(thread, request->submit, reply);
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
        const Ffpool__JobRef *ref = request->body_case == FFPOOL__REQUEST__BODY_CANCEL
                                        ? request->cancel
                                        : request->body_case == FFPOOL__REQUEST__BODY_PAUSE
                                              ? request->pause
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
