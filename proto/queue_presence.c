/* queue_presence.c -- a dead worker noticed in well under its lease.
 *
 * A process that dies (SIGKILL, an OOM kill, a crashed pod) closes its
 * sockets at once, and Redis drops a closed client at once. Each worker
 * keeps one connection named QUEUE_PRESENCE_CLIENT_PREFIX + its id for as
 * long as it lives (queue_presence_hold, from a thread of its own in the
 * worker), and the workers take turns (one per interval, the ffpool:reaper
 * key) reading CLIENT LIST: a worker that holds leases but whose connection
 * has gone is declared dead after grace_ms, and its leases end at once, so
 * another worker takes each job over at its next segment (proto/lua/reap.lua
 * says what protects a live worker from a false alarm). A worker that
 * vanishes without closing anything (a frozen machine, a cut cable) keeps
 * its connection in CLIENT LIST and is noticed when its lease runs out, as
 * before.
 *
 * Cost: per interval, one short script per worker (presence_turn), and one
 * MULTI (TIME, CLIENT LIST) plus one script for the worker whose turn it
 * is; each worker's presence connection sits in a BLPOP that nothing ever
 * wakes.
 *
 * Part of the queue layer: like queue.c, it speaks to Redis and nothing
 * else does. */
#include "queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "program.h"

/* Sets the name a worker's presence connection carries: the prefix, then
 * its id with anything CLIENT SETNAME refuses (spaces, control characters)
 * replaced by '_'. Returns 0, or -1 if the id does not fit. */
int queue_presence_name(const char *owner, char *out, size_t size)
{
    int n = snprintf(out, size, "%s%s", QUEUE_PRESENCE_CLIENT_PREFIX, owner);
    if (n < 0 || (size_t)n >= size || owner[0] == '\0')
        return -1;
    for (char *c = out; *c != '\0'; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 127)
            *c = '_';
    return 0;
}

/* Blocks in a BLPOP on the owner's own never-written key for wait_ms: the
 * connection (named by the queue's client_name) stays open and waiting, so
 * a close by the server or a proxy is seen at once, and the next call
 * reconnects. QUEUE_OK after the wait, QUEUE_ERROR if Redis is unreachable
 * (the call then returns at once; the caller paces its retries). */
int queue_presence_hold(struct queue *queue, const char *owner, int wait_ms)
{
    char key[QUEUE_OWNER_MAX + 64];
    snprintf(key, sizeof(key), "%s%s", FFPOOL_KEY_PRESENCE_WAIT, owner);
    return queue_blpop(queue, "presence", key, wait_ms < 1 ? 1 : wait_ms) == 0 ? QUEUE_OK
                                                                               : QUEUE_ERROR;
}

/* Writes to present (one id per line) the id of every presence connection
 * on database db in a CLIENT LIST text (several pools may share one Redis,
 * a database each). Returns 0, or -1 if present is too small. */
static int presence_names(const char *list, size_t length, int db, char *present, size_t size)
{
    static const char field[] = " name=" QUEUE_PRESENCE_CLIENT_PREFIX;
    char db_field[32];
    int db_length = snprintf(db_field, sizeof(db_field), " db=%d ", db);
    size_t used = 0;
    const char *end = list + length;
    for (const char *line = list; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        const char *at = NULL;
        for (const char *p = line; p + sizeof(field) - 1 <= eol && at == NULL; p++)
            if (memcmp(p, field, sizeof(field) - 1) == 0)
                at = p + sizeof(field) - 1;
        int same_db = 0;
        for (const char *p = line; p + db_length <= eol && !same_db; p++)
            same_db = memcmp(p, db_field, (size_t)db_length) == 0;
        if (at != NULL && same_db) {
            const char *stop = at;
            while (stop < eol && *stop != ' ' && *stop != '\r')
                stop++;
            size_t n = (size_t)(stop - at);
            if (n > 0) {
                if (used + n + 2 > size)
                    return -1;
                memcpy(present + used, at, n);
                used += n;
                present[used++] = '\n';
            }
        }
        line = eol + 1;
    }
    present[used] = '\0';
    return 0;
}

/* Takes the pool's turn to look for dead workers if nobody has taken it
 * within the last interval_ms (proto/lua/presence_turn.lua). Returns 1 (our
 * turn), 0 (someone else's) or -1 (Redis unreachable, error set). */
static int presence_take_turn(struct queue *queue, const char *owner, int64_t interval_ms)
{
    struct queue_args args;
    queue_args_init(&args);
    queue_args_text(&args, owner);
    queue_args_int(&args, interval_ms);
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_REAP_TURN, &args);
    if (reply == NULL)
        return -1;
    int turn = reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_INTEGER &&
               reply->element[1]->integer == 1;
    freeReplyObject(reply);
    return turn;
}

/* Looks for workers gone from Redis (see the top of this file) if it is
 * this worker's turn, and ends the leases of those gone for grace_ms.
 * reaped (up to max entries) gets the jobs taken back, *count their number.
 * QUEUE_OK (also when it was not our turn or the look was stale: *count 0),
 * QUEUE_ERROR if Redis is unreachable or refused (CLIENT LIST needs the
 * @admin ACL category; queue_last_error says so). */
int queue_presence_reap(struct queue *queue, const char *owner, int64_t interval_ms,
                        int64_t grace_ms, struct queue_reaped *reaped, int max, int *count)
{
    *count = 0;
    int turn = presence_take_turn(queue, owner, interval_ms);
    if (turn <= 0)
        return turn == 0 ? QUEUE_OK : QUEUE_ERROR;

    const char *time_argv[] = {"TIME"};
    const char *list_argv[] = {"CLIENT", "LIST", "TYPE", "normal"};
    const int argc[] = {1, 4};
    const char **const argv[] = {time_argv, list_argv};
    redisReply *look = queue_transaction(queue, "presence_look", 2, argc, argv);
    if (look == NULL)
        return QUEUE_ERROR;
    const redisReply *time = look->element[0], *list = look->element[1];
    if (time->type != REDIS_REPLY_ARRAY || time->elements != 2 ||
        time->element[0]->type != REDIS_REPLY_STRING ||
        time->element[1]->type != REDIS_REPLY_STRING || list->type != REDIS_REPLY_STRING) {
        queue_set_error(queue, "unexpected reply to TIME / CLIENT LIST");
        queue_reject_reply(queue, look);
        return QUEUE_ERROR;
    }
    int64_t observed_ms = strtoll(time->element[0]->str, NULL, 10) * 1000 +
                          strtoll(time->element[1]->str, NULL, 10) / 1000;
    size_t size = list->len + 1;
    char *present = malloc(size);
    if (present == NULL ||
        presence_names(list->str, list->len, queue->config.db, present, size) != 0) {
        free(present);
        freeReplyObject(look);
        queue_set_error(queue, "out of memory reading CLIENT LIST");
        return QUEUE_ERROR;
    }
    freeReplyObject(look);

    struct queue_args args;
    queue_args_init(&args);
    queue_args_int(&args, observed_ms);
    queue_args_int(&args, grace_ms);
    queue_args_text(&args, present);
    redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_REAP, &args);
    free(present);
    if (reply == NULL)
        return QUEUE_ERROR;
    if (strcmp(reply->element[0]->str, "OK") == 0) {
        for (size_t i = 1; i + 2 < reply->elements && *count < max; i += 3) {
            const redisReply *id = reply->element[i], *who = reply->element[i + 1],
                             *gone = reply->element[i + 2];
            if (id->type != REDIS_REPLY_STRING || who->type != REDIS_REPLY_STRING ||
                gone->type != REDIS_REPLY_STRING)
                break;
            struct queue_reaped *r = &reaped[(*count)++];
            queue_copy_text(r->id, sizeof(r->id), id->str, id->len);
            queue_copy_text(r->owner, sizeof(r->owner), who->str, who->len);
            r->gone_ms = strtoll(gone->str, NULL, 10);
        }
    }
    freeReplyObject(reply);
    return QUEUE_OK;
}
