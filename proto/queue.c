/* queue.c -- the job queue and lease protocol on Redis. See queue.h.
 *
 * This file and queue_conn.c are the only files in ffpool that talk to
 * Redis: queue_conn.c holds the connection (reconnects, Sentinel, back-off,
 * SIGPIPE) and runs the scripts; this file is the protocol, one function per
 * operation. Every state change is one Lua script (proto/lua/, see
 * queue_scripts.h) run with EVALSHA, so a claim, a renew or a checkpoint
 * costs one round trip; queue_get is a plain HMGET and queue_wait a BLPOP on
 * the wake list. Routing (which worker may claim which job) happens inside
 * the claim script; this file only turns a worker's packed capabilities
 * into routing words (routing.h) when it announces them.
 *
 * Zero config values mean the configuration's own defaults (defaults.h):
 * host 127.0.0.1, port 6379, time-out 2000 ms, lease 5000 ms, max_attempts
 * 3, max_lost_leases 20, retention 24 h, master name "ffpool" when sentinels are given. */
#include "queue_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "defaults.h"
#include "keys.h"
#include "program.h"
#include "routing.h"

static const char *const queue_state_names[] = {
    [QUEUE_JOB_QUEUED] = "queued", [QUEUE_JOB_RUNNING] = "running",     [QUEUE_JOB_DONE] = "done",
    [QUEUE_JOB_FAILED] = "failed", [QUEUE_JOB_CANCELLED] = "cancelled",
};

/* --------------------------------------------------------------- replies */

/* Reads an integer from an integer or a decimal string element. */
int queue_reply_int64(const redisReply *reply, int64_t *out)
{
    if (reply->type == REDIS_REPLY_INTEGER) {
        *out = reply->integer;
        return 0;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        *out = 0;
        return 0;
    }
    if (reply->type != REDIS_REPLY_STRING || reply->len == 0 || reply->len > 30)
        return -1;
    char text[32], *end;
    queue_copy_text(text, sizeof(text), reply->str, reply->len);
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = value;
    return 0;
}

/* queue_reply_int64 for a value that must fit an int. */
int queue_reply_int(const redisReply *reply, int *out)
{
    int64_t value;
    if (queue_reply_int64(reply, &value) != 0 || value < -2147483647LL || value > 2147483647LL)
        return -1;
    *out = (int)value;
    return 0;
}

static int reply_text(const redisReply *reply, char *out, size_t size)
{
    if (reply->type == REDIS_REPLY_NIL) {
        out[0] = '\0';
        return 0;
    }
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)
        return -1;
    queue_copy_text(out, size, reply->str, reply->len);
    return 0;
}

static int job_finished(enum queue_job_state state)
{
    return state == QUEUE_JOB_DONE || state == QUEUE_JOB_FAILED || state == QUEUE_JOB_CANCELLED;
}

/* A job read finished is shown finished only once its end is on the
 * replicas (queue_config.wait_replicas): a client told "done" must never see
 * the job run again after a fail-over. The end was written before this read;
 * a write after it (the barrier counter) on this connection, once
 * replicated, carries the end with it. QUEUE_OK or QUEUE_ERROR. */
static int queue_end_replicated(struct queue *queue, const char *id)
{
    const char *argv[] = {"INCR", FFPOOL_KEY_BARRIER};
    redisReply *reply = queue_command(queue, "the end's barrier", 2, argv, NULL);
    if (reply == NULL)
        return QUEUE_ERROR;
    if (reply->type != REDIS_REPLY_INTEGER) {
        queue_set_error(queue, "Redis refused the end's barrier: %s",
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    freeReplyObject(reply);
    char what[QUEUE_ID_MAX + 32];
    snprintf(what, sizeof(what), "the end of job %s", id);
    return queue_replicated(queue, what) == 0 ? QUEUE_OK : QUEUE_ERROR;
}

static int reply_state(const redisReply *reply, enum queue_job_state *state)
{
    if (reply->type != REDIS_REPLY_STRING)
        return -1;
    for (int i = 0; i < (int)(sizeof(queue_state_names) / sizeof(queue_state_names[0])); i++) {
        if (strlen(queue_state_names[i]) == reply->len &&
            memcmp(queue_state_names[i], reply->str, reply->len) == 0) {
            *state = (enum queue_job_state)i;
            return 0;
        }
    }
    return -1;
}

/* Maps a script's status word to a queue_status; AGAIN maps to QUEUE_AGAIN. */
int queue_script_status(struct queue *queue, redisReply *reply, enum queue_script script)
{
    static const struct {
        const char *word;
        int status;
    } words[] = {
        {"OK", QUEUE_OK},
        {"FENCED", QUEUE_FENCED},
        {"CANCELLED", QUEUE_CANCELLED},
        {"NOT_FOUND", QUEUE_NOT_FOUND},
        {"EMPTY", QUEUE_EMPTY},
        {"AGAIN", QUEUE_AGAIN},
    };
    const redisReply *word = reply->element[0];
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == word->len &&
            memcmp(words[i].word, word->str, word->len) == 0) {
            if (words[i].status != QUEUE_OK)
                queue_set_error(queue, "%s: %s", queue_scripts[script].name, words[i].word);
            return words[i].status;
        }
    }
    queue_set_error(queue, "unexpected status from the %s script", queue_scripts[script].name);
    return QUEUE_ERROR;
}

/* Runs a script whose only answer is its status word (and for renew, an
 * optional flag in element 1, stored in *flag when flag is not NULL). */
static int queue_script_simple(struct queue *queue, enum queue_script script,
                               struct queue_args *args, int *flag)
{
    redisReply *reply = queue_script_run(queue, script, args);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = queue_script_status(queue, reply, script);
    if (status == QUEUE_OK && flag != NULL) {
        int64_t value = 0;
        if (reply->elements < 2 || queue_reply_int64(reply->element[1], &value) != 0) {
            queue_set_error(queue, "malformed answer from the %s script",
                            queue_scripts[script].name);
            queue_reject_reply(queue, reply);
            return QUEUE_ERROR;
        }
        *flag = value != 0;
    }
    if (status == QUEUE_OK || status == QUEUE_FENCED || status == QUEUE_CANCELLED ||
        status == QUEUE_NOT_FOUND || status == QUEUE_EMPTY)
        queue->failures = 0;
    freeReplyObject(reply);
    /* What a fail-over must not lose (queue_config.wait_replicas). */
    if (status == QUEUE_OK &&
        (script == QUEUE_SCRIPT_CHECKPOINT || script == QUEUE_SCRIPT_COMPLETE ||
         script == QUEUE_SCRIPT_FAIL) &&
        queue_replicated(queue, queue_scripts[script].name) != 0)
        return QUEUE_ERROR;
    return status;
}

static int check_id(struct queue *queue, const char *id)
{
    if (id == NULL || id[0] == '\0' || strlen(id) >= QUEUE_ID_MAX) {
        queue_set_error(queue, "invalid job id");
        return -1;
    }
    return 0;
}

/* Fills the five arguments every owner call starts with. */
static int queue_args_owner(struct queue *queue, struct queue_args *args, const char *id,
                            const char *owner, int64_t epoch)
{
    if (check_id(queue, id) != 0)
        return -1;
    if (owner == NULL || owner[0] == '\0' || strlen(owner) >= QUEUE_OWNER_MAX) {
        queue_set_error(queue, "invalid owner");
        return -1;
    }
    queue_args_init(args);
    queue_args_text(args, id);
    queue_args_text(args, owner);
    queue_args_int(args, epoch);
    queue_args_int(args, queue->config.lease_ttl_ms);
    queue_args_int(args, queue->config.retention_ms);
    return 0;
}

/* ------------------------------------------------------------------ API */

struct queue *queue_open(const struct queue_config *config)
{
    struct queue *queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return NULL;
    if (config != NULL)
        queue->config = *config;
    struct queue_config *c = &queue->config;
    c->host[sizeof(c->host) - 1] = '\0';
    c->password[sizeof(c->password) - 1] = '\0';
    if (c->host[0] == '\0')
        snprintf(c->host, sizeof(c->host), "%s", FFPOOL_DEFAULT_REDIS_HOST);
    if (c->port <= 0)
        c->port = FFPOOL_DEFAULT_REDIS_PORT;
    if (c->timeout_ms <= 0)
        c->timeout_ms = FFPOOL_DEFAULT_REDIS_TIMEOUT_MS;
    if (c->lease_ttl_ms <= 0)
        c->lease_ttl_ms = FFPOOL_DEFAULT_LEASE_TTL_MS;
    if (c->max_attempts <= 0)
        c->max_attempts = FFPOOL_DEFAULT_MAX_ATTEMPTS;
    if (c->max_lost_leases <= 0)
        c->max_lost_leases = FFPOOL_DEFAULT_MAX_LOST_LEASES;
    if (c->heartbeat_ttl_ms < 0)
        c->heartbeat_ttl_ms = 0;
    if (c->retention_ms <= 0)
        c->retention_ms = FFPOOL_DEFAULT_RETENTION_MS;
    if (c->sentinels[0] != '\0' && c->master_name[0] == '\0')
        snprintf(c->master_name, sizeof(c->master_name), "%s", FFPOOL_DEFAULT_MASTER_NAME);
    return queue;
}

void queue_close(struct queue *queue)
{
    if (queue == NULL)
        return;
    queue_disconnect(queue);
    free(queue);
}

const char *queue_last_error(const struct queue *queue)
{
    return queue != NULL ? queue->error : "no queue";
}

const char *queue_job_state_name(enum queue_job_state state)
{
    if ((int)state < 0 ||
        (int)state >= (int)(sizeof(queue_state_names) / sizeof(queue_state_names[0])))
        return "unknown";
    return queue_state_names[state];
}

int queue_submit(struct queue *queue, const char *job_key, const uint8_t *spec, size_t spec_len,
                 int start_number, char id[QUEUE_ID_MAX], int *created)
{
    return queue_submit_routed(queue, job_key, spec, spec_len, start_number, NULL, id, created);
}

int queue_submit_routed(struct queue *queue, const char *job_key, const uint8_t *spec,
                        size_t spec_len, int start_number, const char *needs, char id[QUEUE_ID_MAX],
                        int *created)
{
    if (spec == NULL && spec_len > 0) {
        queue_set_error(queue, "submit: spec is NULL");
        return QUEUE_ERROR;
    }
    if (needs == NULL)
        needs = "";
    if (strlen(needs) >= QUEUE_REQUIRES_MAX) {
        queue_set_error(queue, "submit: requires is longer than %d bytes", QUEUE_REQUIRES_MAX - 1);
        return QUEUE_ERROR;
    }
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, job_key != NULL ? job_key : "");
    queue_args_bytes(&args, spec, spec_len);
    queue_args_int(&args, start_number);
    queue_args_int(&args, queue->config.heartbeat_ttl_ms);
    queue_args_int(&args, queue->config.retention_ms);
    queue_args_text(&args, needs);
    char tag[9];
    queue_random_hex(tag, 4);
    queue_args_text(&args, tag);
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_SUBMIT, &args);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = queue_script_status(queue, reply, QUEUE_SCRIPT_SUBMIT);
    int64_t was_created = 0;
    if (status == QUEUE_OK &&
        (reply->elements < 3 || reply->element[1]->type != REDIS_REPLY_STRING ||
         reply->element[1]->len >= QUEUE_ID_MAX ||
         queue_reply_int64(reply->element[2], &was_created) != 0)) {
        queue_set_error(queue, "malformed answer from the submit script");
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    if (status == QUEUE_OK) {
        queue_copy_text(id, QUEUE_ID_MAX, reply->element[1]->str, reply->element[1]->len);
        if (created != NULL)
            *created = was_created != 0;
        queue->failures = 0;
    }
    freeReplyObject(reply);
    return status;
}

int queue_get(struct queue *queue, const char *id, struct queue_job *job)
{
    int status = queue_peek(queue, id, job);
    if (status == QUEUE_OK && job_finished(job->state) && queue->config.wait_replicas > 0)
        return queue_end_replicated(queue, id);
    return status;
}

int queue_peek(struct queue *queue, const char *id, struct queue_job *job)
{
    static const char *const fields[] = {
        "state",
        "epoch",
        "owner",
        "checkpoint",
        "start_number",
        "attempts",
        "takeovers",
        "error",
        "frames",
        "out_time_us",
        "bytes",
        "speed",
        "progress_version",
        "paused",
        "duration_us",
        "requires",
        "waiting",
        "start_us",
        "leases_lost",
        "delivery",
    };
    enum { FIELD_COUNT = sizeof(fields) / sizeof(fields[0]) };
    if (check_id(queue, id) != 0)
        return QUEUE_ERROR;
    char key[sizeof(FFPOOL_KEY_JOB) + QUEUE_ID_MAX];
    snprintf(key, sizeof(key), FFPOOL_KEY_JOB "%s", id);
    const char *argv[2 + FIELD_COUNT] = {"HMGET", key};
    for (int i = 0; i < FIELD_COUNT; i++)
        argv[2 + i] = fields[i];

    redisReply *reply = queue_command(queue, "get", 2 + FIELD_COUNT, argv, NULL);
    if (reply == NULL)
        return QUEUE_ERROR;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != FIELD_COUNT) {
        queue_set_error(queue, "unexpected reply (type %d) to HMGET of job %s", reply->type, id);
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    queue->failures = 0;
    redisReply **f = reply->element;
    if (f[0]->type == REDIS_REPLY_NIL) {
        queue_set_error(queue, "get: no job %s", id);
        freeReplyObject(reply);
        return QUEUE_NOT_FOUND;
    }
    memset(job, 0, sizeof(*job));
    queue_copy_text(job->id, sizeof(job->id), id, strlen(id));
    char speed[64];
    int64_t paused = 0;
    if (reply_state(f[0], &job->state) != 0 || queue_reply_int64(f[1], &job->epoch) != 0 ||
        reply_text(f[2], job->owner, sizeof(job->owner)) != 0 ||
        queue_reply_int(f[3], &job->checkpoint) != 0 ||
        queue_reply_int(f[4], &job->start_number) != 0 ||
        queue_reply_int(f[5], &job->attempts) != 0 || queue_reply_int(f[6], &job->takeovers) != 0 ||
        reply_text(f[7], job->error, sizeof(job->error)) != 0 ||
        queue_reply_int64(f[8], &job->frames) != 0 ||
        queue_reply_int64(f[9], &job->out_time_us) != 0 ||
        queue_reply_int64(f[10], &job->bytes) != 0 ||
        reply_text(f[11], speed, sizeof(speed)) != 0 ||
        queue_reply_int64(f[12], &job->progress_version) != 0 ||
        queue_reply_int64(f[13], &paused) != 0 ||
        queue_reply_int64(f[14], &job->duration_us) != 0 ||
        reply_text(f[15], job->requires, sizeof(job->requires)) != 0 ||
        reply_text(f[16], job->waiting, sizeof(job->waiting)) != 0 ||
        queue_reply_int64(f[17], &job->start_us) != 0 ||
        queue_reply_int(f[18], &job->leases_lost) != 0 ||
        reply_text(f[19], job->delivery, sizeof(job->delivery)) != 0) {
        queue_set_error(queue, "job %s has a malformed record in Redis", id);
        freeReplyObject(reply);
        return QUEUE_ERROR;
    }
    job->speed = strtod(speed, NULL);
    job->paused = paused != 0;
    freeReplyObject(reply);
    return QUEUE_OK;
}

int queue_cancel(struct queue *queue, const char *id)
{
    if (check_id(queue, id) != 0)
        return QUEUE_ERROR;
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, id);
    queue_args_int(&args, queue->config.retention_ms);
    return queue_script_simple(queue, QUEUE_SCRIPT_CANCEL, &args, NULL);
}

int queue_heartbeat(struct queue *queue, const char *id)
{
    if (check_id(queue, id) != 0)
        return QUEUE_ERROR;
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, id);
    queue_args_int(&args, queue->config.heartbeat_ttl_ms);
    queue_args_int(&args, queue->config.retention_ms);
    return queue_script_simple(queue, QUEUE_SCRIPT_HEARTBEAT, &args, NULL);
}

int queue_set_paused(struct queue *queue, const char *id, int paused)
{
    if (check_id(queue, id) != 0)
        return QUEUE_ERROR;
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, id);
    queue_args_int(&args, paused ? 1 : 0);
    return queue_script_simple(queue, QUEUE_SCRIPT_SET_PAUSED, &args, NULL);
}

int queue_renew(struct queue *queue, const char *id, const char *owner, int64_t epoch, int *paused)
{
    return queue_renew_delivery(queue, id, owner, epoch, NULL, paused);
}

int queue_renew_delivery(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                         const char *delivery, int *paused)
{
    struct queue_args args;
    if (delivery != NULL && strlen(delivery) >= QUEUE_ADDRESS_MAX) {
        queue_set_error(queue, "renew: delivery address longer than %d bytes",
                        QUEUE_ADDRESS_MAX - 1);
        return QUEUE_ERROR;
    }
    if (queue_args_owner(queue, &args, id, owner, epoch) != 0)
        return QUEUE_ERROR;
    queue_args_text(&args, delivery != NULL ? delivery : "");
    int flag = 0;
    int status = queue_script_simple(queue, QUEUE_SCRIPT_RENEW, &args, &flag);
    if (status == QUEUE_OK && paused != NULL)
        *paused = flag;
    return status;
}

int queue_checkpoint(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                     int index, int64_t duration_us, int last, const char *fmp4_base, int *paused)
{
    struct queue_args args;
    if (fmp4_base != NULL && strlen(fmp4_base) >= QUEUE_FMP4_BASE_MAX) {
        queue_set_error(queue, "checkpoint: fmp4 base longer than %d bytes",
                        QUEUE_FMP4_BASE_MAX - 1);
        return QUEUE_ERROR;
    }
    if (queue_args_owner(queue, &args, id, owner, epoch) != 0)
        return QUEUE_ERROR;
    queue_args_int(&args, index);
    queue_args_int(&args, duration_us);
    queue_args_int(&args, last ? 1 : 0);
    queue_args_text(&args, fmp4_base != NULL ? fmp4_base : "");
    int flag = 0;
    int status = queue_script_simple(queue, QUEUE_SCRIPT_CHECKPOINT, &args, &flag);
    if (status == QUEUE_OK && paused != NULL)
        *paused = flag;
    return status;
}

int queue_segment_durations(struct queue *queue, const char *id, int64_t *durations_us, int count,
                            struct queue_segments *segments)
{
    if (segments != NULL) {
        segments->last_index = -1;
        segments->fmp4_base[0] = '\0';
    }
    if (check_id(queue, id) != 0)
        return QUEUE_ERROR;
    if (count < 0 || (count > 0 && durations_us == NULL)) {
        queue_set_error(queue, "segment_durations: invalid array");
        return QUEUE_ERROR;
    }
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, id);
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_SEGMENTS, &args);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = queue_script_status(queue, reply, QUEUE_SCRIPT_SEGMENTS);
    if (status != QUEUE_OK) {
        if (status == QUEUE_NOT_FOUND)
            queue->failures = 0;
        freeReplyObject(reply);
        return status;
    }
    int64_t start = 0;
    if (reply->elements < 3 || queue_reply_int64(reply->element[1], &start) != 0 ||
        reply->element[2]->type != REDIS_REPLY_ARRAY || reply->element[2]->elements % 2 != 0) {
        queue_set_error(queue, "malformed answer from the segment_durations script");
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    queue->failures = 0;
    for (int i = 0; i < count; i++)
        durations_us[i] = 0;
    const redisReply *pairs = reply->element[2];
    for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
        int64_t index, duration;
        const redisReply *field = pairs->element[i];
        if (segments != NULL && field->type == REDIS_REPLY_STRING &&
            strcmp(field->str, QUEUE_SEGMENTS_LAST_FIELD) == 0 &&
            queue_reply_int64(pairs->element[i + 1], &index) == 0 && index >= 0 &&
            index <= INT32_MAX) {
            segments->last_index = (int)index;
            continue;
        }
        if (segments != NULL && field->type == REDIS_REPLY_STRING &&
            strcmp(field->str, QUEUE_SEGMENTS_FMP4_BASE_FIELD) == 0) {
            /* One that does not fit is not ours: the run goes without. */
            reply_text(pairs->element[i + 1], segments->fmp4_base, sizeof(segments->fmp4_base));
            continue;
        }
        if (queue_reply_int64(pairs->element[i], &index) != 0 ||
            queue_reply_int64(pairs->element[i + 1], &duration) != 0)
            continue; /* a foreign field in the hash is not ours to judge */
        if (index >= start && index - start < count)
            durations_us[index - start] = duration;
    }
    freeReplyObject(reply);
    return QUEUE_OK;
}

int queue_report_progress(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                          const struct queue_progress *progress)
{
    struct queue_args args;
    if (progress == NULL) {
        queue_set_error(queue, "report_progress: progress is NULL");
        return QUEUE_ERROR;
    }
    if (queue_args_owner(queue, &args, id, owner, epoch) != 0)
        return QUEUE_ERROR;
    queue_args_int(&args, progress->frames);
    queue_args_int(&args, progress->out_time_us);
    queue_args_int(&args, progress->bytes);
    queue_args_double(&args, progress->speed);
    queue_args_int(&args, progress->duration_us);
    queue_args_int(&args, progress->start_us);
    return queue_script_simple(queue, QUEUE_SCRIPT_PROGRESS, &args, NULL);
}

/* A release; unstarted (NULL = none) is why this worker could not start
 * the job, which counts towards QUEUE_MAX_START_FAILURES. */
static int queue_release_why(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                             const char *unstarted)
{
    struct queue_args args;
    if (queue_args_owner(queue, &args, id, owner, epoch) != 0)
        return QUEUE_ERROR;
    queue_args_text(&args, unstarted != NULL ? unstarted : "");
    queue_args_int(&args, QUEUE_MAX_START_FAILURES);
    return queue_script_simple(queue, QUEUE_SCRIPT_RELEASE, &args, NULL);
}

int queue_release(struct queue *queue, const char *id, const char *owner, int64_t epoch)
{
    return queue_release_why(queue, id, owner, epoch, NULL);
}

int queue_complete(struct queue *queue, const char *id, const char *owner, int64_t epoch)
{
    return queue_complete_result(queue, id, owner, epoch, NULL, 0);
}

int queue_complete_result(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                          const char *result, int result_status)
{
    struct queue_args args;
    if (result != NULL && strlen(result) >= QUEUE_RESULT_MAX) {
        queue_set_error(queue, "complete: result longer than %d bytes", QUEUE_RESULT_MAX - 1);
        return QUEUE_ERROR;
    }
    if (queue_args_owner(queue, &args, id, owner, epoch) != 0)
        return QUEUE_ERROR;
    queue_args_text(&args, result != NULL ? result : "");
    queue_args_int(&args, result_status);
    queue_args_int(&args, result != NULL); /* a job whose outcome is a result, empty or not */
    return queue_script_simple(queue, QUEUE_SCRIPT_COMPLETE, &args, NULL);
}

int queue_job_result(struct queue *queue, const char *id, char **result, int *status)
{
    *result = NULL;
    *status = 0;
    if (check_id(queue, id) != 0)
        return QUEUE_ERROR;
    char key[sizeof(FFPOOL_KEY_JOB) + QUEUE_ID_MAX];
    snprintf(key, sizeof(key), FFPOOL_KEY_JOB "%s", id);
    const char *argv[] = {"HMGET", key, "state", "result", "result_status"};
    redisReply *reply = queue_command(queue, "job_result", 5, argv, NULL);
    if (reply == NULL)
        return QUEUE_ERROR;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        queue_set_error(queue, "unexpected reply (type %d) to HMGET of job %s", reply->type, id);
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    queue->failures = 0;
    if (reply->element[0]->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        queue_set_error(queue, "job_result: no job %s", id);
        return QUEUE_NOT_FOUND;
    }
    const redisReply *text = reply->element[1];
    int ret = queue_reply_int(reply->element[2], status) == 0 ? QUEUE_OK : QUEUE_ERROR;
    if (ret == QUEUE_OK && text->type == REDIS_REPLY_STRING) { /* "" too: a silent CLI */
        *result = malloc(text->len + 1);
        if (*result == NULL)
            ret = QUEUE_ERROR;
        else
            queue_copy_text(*result, text->len + 1, text->str, text->len);
    }
    if (ret != QUEUE_OK)
        queue_set_error(queue, "job %s has a malformed result", id);
    freeReplyObject(reply);
    return ret;
}

int queue_fail(struct queue *queue, const char *id, const char *owner, int64_t epoch,
               const char *error)
{
    struct queue_args args;
    if (queue_args_owner(queue, &args, id, owner, epoch) != 0)
        return QUEUE_ERROR;
    queue_args_int(&args, queue->config.max_attempts);
    char text[QUEUE_ERROR_MAX];
    queue_copy_text(text, sizeof(text), error != NULL ? error : "",
                    error != NULL ? strlen(error) : 0);
    queue_args_text(&args, text);
    int ended = 0;
    return queue_script_simple(queue, QUEUE_SCRIPT_FAIL, &args, &ended);
}

/* ---- ending a run, retried ----------------------------------------------- */

/* Pause between two tries of a call that ends a run. */
#define QUEUE_RETRY_MS 50

enum queue_run_end {
    QUEUE_RUN_COMPLETE,
    QUEUE_RUN_FAIL,
    QUEUE_RUN_RELEASE,
    QUEUE_RUN_RELEASE_UNSTARTED,
};

/* Sends the call that ends the run until Redis answers or no try can start
 * before deadline_ms; text is complete's result, fail's error or why an
 * unstarted job was released. */
static int queue_end_run_until(struct queue *queue, enum queue_run_end end, const char *id,
                               const char *owner, int64_t epoch, const char *text,
                               int result_status, long long deadline_ms, int *tries)
{
    int status, n = 0;
    for (;;) {
        if (end == QUEUE_RUN_COMPLETE)
            status = queue_complete_result(queue, id, owner, epoch, text, result_status);
        else if (end == QUEUE_RUN_FAIL)
            status = queue_fail(queue, id, owner, epoch, text);
        else
            status = queue_release_why(queue, id, owner, epoch,
                                       end == QUEUE_RUN_RELEASE_UNSTARTED ? text : NULL);
        n++;
        if (status != QUEUE_ERROR || program_monotonic_ms() + QUEUE_RETRY_MS >= deadline_ms)
            break;
        usleep(QUEUE_RETRY_MS * 1000);
    }
    if (tries != NULL)
        *tries = n;
    return status;
}

int queue_complete_until(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                         const char *result, int result_status, long long deadline_ms, int *tries)
{
    return queue_end_run_until(queue, QUEUE_RUN_COMPLETE, id, owner, epoch, result, result_status,
                               deadline_ms, tries);
}

int queue_fail_until(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                     const char *error, long long deadline_ms, int *tries)
{
    return queue_end_run_until(queue, QUEUE_RUN_FAIL, id, owner, epoch, error, 0, deadline_ms,
                               tries);
}

int queue_release_until(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                        long long deadline_ms, int *tries)
{
    return queue_end_run_until(queue, QUEUE_RUN_RELEASE, id, owner, epoch, NULL, 0, deadline_ms,
                               tries);
}

int queue_release_unstarted_until(struct queue *queue, const char *id, const char *owner,
                                  int64_t epoch, const char *reason, long long deadline_ms,
                                  int *tries)
{
    return queue_end_run_until(queue, QUEUE_RUN_RELEASE_UNSTARTED, id, owner, epoch, reason, 0,
                               deadline_ms, tries);
}

int queue_wait(struct queue *queue, int timeout_ms)
{
    if (timeout_ms < 1)
        timeout_ms = 1;
    int64_t deadline = program_monotonic_ms() + timeout_ms;
    if (queue_blpop(queue, "wait", FFPOOL_KEY_WAKE, timeout_ms) == 0)
        return QUEUE_OK;
    /* Unreachable: wait as asked (at most until the next connection
     * attempt is due) so that a claim + wait loop does not spin while Redis
     * is away. */
    int64_t now = program_monotonic_ms();
    int64_t until = queue->next_connect_ms < deadline ? queue->next_connect_ms : deadline;
    if (until > now)
        queue_sleep_ms(until - now);
    return QUEUE_ERROR;
}

/* ------------------------------------------------------ workers, listings */

int queue_worker_announce(struct queue *queue, const char *worker_id, int64_t ttl_ms, int slots,
                          int running, int draining, const uint8_t *caps, size_t caps_len,
                          int *need_caps, int *drain_requested)
{
    if (worker_id == NULL || worker_id[0] == '\0' || strlen(worker_id) >= QUEUE_OWNER_MAX) {
        queue_set_error(queue, "invalid worker id");
        return QUEUE_ERROR;
    }
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, worker_id);
    queue_args_int(&args, ttl_ms);
    queue_args_int(&args, slots);
    queue_args_int(&args, running);
    queue_args_int(&args, draining);
    queue_args_bytes(&args, caps != NULL ? caps : (const uint8_t *)"", caps != NULL ? caps_len : 0);
    /* The claim script matches jobs against words, not the packed message.
     * Caps that do not decode offer nothing: such a worker still runs jobs
     * without requirements. */
    char *offers = caps != NULL && caps_len > 0 ? routing_worker_offers(caps, caps_len) : NULL;
    queue_args_text(&args, offers != NULL ? offers : "");
    queue_args_int(&args, queue->config.unroutable_timeout_ms);
    queue_args_int(&args, queue->config.retention_ms);
    int64_t has_caps = 1, drain = 0;
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_WORKER_ANNOUNCE, &args);
    free(offers);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = queue_script_status(queue, reply, QUEUE_SCRIPT_WORKER_ANNOUNCE);
    if (status == QUEUE_OK &&
        (reply->elements < 3 || queue_reply_int64(reply->element[1], &has_caps) != 0 ||
         queue_reply_int64(reply->element[2], &drain) != 0)) {
        queue_set_error(queue, "malformed answer from the worker_announce script");
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    if (status == QUEUE_OK)
        queue->failures = 0;
    freeReplyObject(reply);
    if (need_caps != NULL)
        *need_caps = status == QUEUE_OK ? !has_caps : 1;
    if (drain_requested != NULL)
        *drain_requested = status == QUEUE_OK && drain != 0;
    return status;
}

int queue_worker_request_drain(struct queue *queue, const char *worker_id)
{
    if (worker_id == NULL || worker_id[0] == '\0' || strlen(worker_id) >= QUEUE_OWNER_MAX) {
        queue_set_error(queue, "invalid worker id");
        return QUEUE_ERROR;
    }
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, worker_id);
    return queue_script_simple(queue, QUEUE_SCRIPT_WORKER_DRAIN, &args, NULL);
}

int queue_job_find(struct queue *queue, const char *job_key, char id[QUEUE_ID_MAX])
{
    if (job_key == NULL || job_key[0] == '\0' || strlen(job_key) > 256) {
        queue_set_error(queue, "invalid job key");
        return QUEUE_ERROR;
    }
    char key[sizeof(FFPOOL_KEY_JOBKEY) + 260];
    snprintf(key, sizeof(key), FFPOOL_KEY_JOBKEY "%s", job_key);
    const char *argv[] = {"GET", key};
    redisReply *reply = queue_command(queue, "GET job key", 2, argv, NULL);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = QUEUE_OK;
    if (reply->type == REDIS_REPLY_NIL) {
        queue_set_error(queue, "no job was created with key %s", job_key);
        status = QUEUE_NOT_FOUND;
    } else if (reply->type != REDIS_REPLY_STRING || reply->len == 0 || reply->len >= QUEUE_ID_MAX) {
        queue_set_error(queue, "unexpected reply (type %d) for job key %s", reply->type, job_key);
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    } else {
        queue_copy_text(id, QUEUE_ID_MAX, reply->str, reply->len);
    }
    queue->failures = 0;
    freeReplyObject(reply);
    return status;
}

void queue_worker_list_free(struct queue_worker *workers, int count)
{
    for (int i = 0; workers != NULL && i < count; i++)
        free(workers[i].caps);
    free(workers);
}

int queue_worker_list(struct queue *queue, int with_caps, struct queue_worker **workers, int *count)
{
    *workers = NULL;
    *count = 0;
    struct queue_args args;
    queue_args_init(&args);
    queue_args_int(&args, with_caps ? 1 : 0);
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_WORKER_LIST, &args);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = queue_script_status(queue, reply, QUEUE_SCRIPT_WORKER_LIST);
    if (status != QUEUE_OK) {
        freeReplyObject(reply);
        return status;
    }
    const redisReply *list = reply->elements >= 2 ? reply->element[1] : NULL;
    if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
        queue_set_error(queue, "malformed answer from the worker_list script");
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    struct queue_worker *out = calloc(list->elements + 1, sizeof(*out));
    if (out == NULL) {
        freeReplyObject(reply);
        queue_set_error(queue, "out of memory");
        return QUEUE_ERROR;
    }
    int n = 0;
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *w = list->element[i];
        if (w->type != REDIS_REPLY_ARRAY || w->elements != 6 ||
            reply_text(w->element[0], out[n].id, sizeof(out[n].id)) != 0 ||
            queue_reply_int(w->element[1], &out[n].slots) != 0 ||
            queue_reply_int(w->element[2], &out[n].running) != 0 ||
            queue_reply_int(w->element[3], &out[n].draining) != 0 ||
            queue_reply_int64(w->element[4], &out[n].updated_ms) != 0)
            continue; /* a half-written advertisement: skip it */
        const redisReply *caps = w->element[5];
        if (caps->type == REDIS_REPLY_STRING && caps->len > 0) {
            out[n].caps = malloc(caps->len);
            if (out[n].caps != NULL) {
                memcpy(out[n].caps, caps->str, caps->len);
                out[n].caps_len = caps->len;
            }
        }
        n++;
    }
    queue->failures = 0;
    freeReplyObject(reply);
    *workers = out;
    *count = n;
    return QUEUE_OK;
}

int queue_job_list(struct queue *queue, int limit, char (*ids)[QUEUE_ID_MAX], int *count)
{
    *count = 0;
    struct queue_args args;
    queue_args_init(&args);
    queue_args_int(&args, limit > 0 ? limit : 1);
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_JOB_LIST, &args);
    if (reply == NULL)
        return QUEUE_ERROR;
    int status = queue_script_status(queue, reply, QUEUE_SCRIPT_JOB_LIST);
    if (status == QUEUE_OK) {
        const redisReply *list = reply->elements >= 2 ? reply->element[1] : NULL;
        for (size_t i = 0; list != NULL && list->type == REDIS_REPLY_ARRAY && i < list->elements &&
                           *count < limit;
             i++)
            if (reply_text(list->element[i], ids[*count], QUEUE_ID_MAX) == 0)
                (*count)++;
        queue->failures = 0;
    }
    freeReplyObject(reply);
    return status;
}

int queue_ping(struct queue *queue)
{
    const char *argv[] = {"PING"};
    redisReply *reply = queue_command(queue, "PING", 1, argv, NULL);
    if (reply == NULL)
        return QUEUE_ERROR;
    int ok = reply->type == REDIS_REPLY_STATUS;
    if (!ok) {
        queue_set_error(queue, "unexpected reply (type %d) to PING", reply->type);
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    queue->failures = 0;
    freeReplyObject(reply);
    return QUEUE_OK;
}

int queue_depth(struct queue *queue, int64_t *depth)
{
    const char *argv[] = {"LLEN", FFPOOL_KEY_QUEUE};
    redisReply *reply = queue_command(queue, "LLEN", 2, argv, NULL);
    if (reply == NULL)
        return QUEUE_ERROR;
    if (reply->type != REDIS_REPLY_INTEGER) {
        queue_set_error(queue, "unexpected reply (type %d) to LLEN", reply->type);
        queue_reject_reply(queue, reply);
        return QUEUE_ERROR;
    }
    *depth = reply->integer;
    queue->failures = 0;
    freeReplyObject(reply);
    return QUEUE_OK;
}
