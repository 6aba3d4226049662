/* queue_conn.c -- the Redis connection behind queue.c.
 *
 * Connection handling: the hiredis context is opened on first use. After any
 * failure (no reply, an error reply, a reply of an unexpected shape) the
 * context is freed and the next call reconnects; consecutive failures space
 * the reconnect attempts out (immediately, then 50 ms doubling up to 1 s),
 * and calls made before the next attempt is due fail at once with
 * QUEUE_ERROR instead of touching the network. queue_wait sleeps through
 * that pause, so a worker loop of claim + wait never spins on a dead Redis.
 *
 * Sentinel: with config.sentinels set, every connect asks the sentinels in
 * turn (SENTINEL get-master-addr-by-name) and keeps the first address whose
 * ROLE says master. A failover then shows up as an error on the old
 * connection (READONLY from a demoted master, UNBLOCKED on a BLPOP, or a
 * closed socket), which drops it; the reconnect asks the sentinels again.
 *
 * SIGPIPE: hiredis writes with write(2), which raises SIGPIPE on a socket
 * the server has closed. Every Redis call blocks SIGPIPE in the calling
 * thread and discards one raised meanwhile (as libpq does), so a library
 * call never kills the process whatever the program's signal setup.
 *
 * Call deadline: with queue_set_call_deadline, every connect and command
 * gets the configured time-out or the time left, whichever is shorter, and
 * one with no time left fails at once; a lease renewal thus returns before
 * its self-fence point however long Redis stalls. A call cut short by it
 * is a failed call like any other time-out (the connection is dropped: its
 * reply may still come).
 *
 * Scripts: each is loaded once per connection owner (SCRIPT LOAD) and run
 * with EVALSHA, falling back to EVAL when the server answers NOSCRIPT
 * (restart, failover, SCRIPT FLUSH). */
#include "queue_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "program.h"

/* ---------------------------------------------------------------- helpers */

void queue_sleep_ms(int64_t ms)
{
    int64_t deadline = program_monotonic_ms() + ms;
    for (int64_t left = ms; left > 0; left = deadline - program_monotonic_ms()) {
        struct timespec pause = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        if (nanosleep(&pause, NULL) == 0)
            break;
    }
}

/* Fills out with 2*bytes random hex digits and a terminator (getrandom,
 * else the clock and pid: unique enough for a name, never a secret). */
void queue_random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    if (getrandom(raw, bytes, 0) != (ssize_t)bytes) {
        uint64_t mix =
            (uint64_t)program_monotonic_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
        for (size_t i = 0; i < bytes;
             i++, mix = mix * 6364136223846793005ULL + 1442695040888963407ULL)
            raw[i] = (unsigned char)(mix >> 56);
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    out[2 * bytes] = '\0';
}

struct timeval queue_timeval_from_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

void queue_set_error(struct queue *queue, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(queue->error, sizeof(queue->error), fmt, ap);
    va_end(ap);
}

/* Copies at most size-1 bytes and always terminates. */
void queue_copy_text(char *out, size_t size, const char *text, size_t length)
{
    if (length >= size)
        length = size - 1;
    memcpy(out, text, length);
    out[length] = '\0';
}

/* Blocks SIGPIPE in this thread for the duration of a Redis call. */
struct sigpipe_guard {
    sigset_t saved_mask;
    int was_pending;
};

static void sigpipe_guard_begin(struct sigpipe_guard *guard)
{
    sigset_t block, pending;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &guard->saved_mask);
    sigemptyset(&pending);
    sigpending(&pending);
    guard->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

/* Discards a SIGPIPE raised during the call, then restores the mask. */
static void sigpipe_guard_end(struct sigpipe_guard *guard)
{
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    if (!guard->was_pending && sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe_only;
        struct timespec no_wait = {0, 0};
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        while (sigtimedwait(&pipe_only, NULL, &no_wait) == -1 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &guard->saved_mask, NULL);
}

/* ------------------------------------------------------------- arguments */

void queue_args_init(struct queue_args *args)
{
    memset(args, 0, sizeof(*args));
    args->count = 3;
}

void queue_args_bytes(struct queue_args *args, const void *data, size_t length)
{
    if (args->count >= QUEUE_ARGS_MAX) {
        args->overflow = 1;
        return;
    }
    args->value[args->count] = length > 0 ? data : "";
    args->length[args->count] = length;
    args->count++;
}

void queue_args_text(struct queue_args *args, const char *text)
{
    queue_args_bytes(args, text, strlen(text));
}

void queue_args_int(struct queue_args *args, int64_t n)
{
    if (args->count >= QUEUE_ARGS_MAX) {
        args->overflow = 1;
        return;
    }
    char *slot = args->number[args->count];
    snprintf(slot, sizeof(args->number[0]), "%lld", (long long)n);
    queue_args_text(args, slot);
}

void queue_args_double(struct queue_args *args, double d)
{
    if (args->count >= QUEUE_ARGS_MAX) {
        args->overflow = 1;
        return;
    }
    char *slot = args->number[args->count];
    snprintf(slot, sizeof(args->number[0]), "%.17g", d);
    queue_args_text(args, slot);
}

/* ------------------------------------------------------------ connection */

void queue_set_call_deadline(struct queue *queue, long long deadline_ms)
{
    queue->call_deadline_ms = deadline_ms > 0 ? deadline_ms : 0;
}

/* The time-out of the next connect or command, in ms: the configured one,
 * or the time left before the call deadline if that is shorter. Returns 0
 * (error set) when the deadline has passed. */
static int64_t queue_call_timeout_ms(struct queue *queue, const char *what)
{
    int64_t timeout = queue->config.timeout_ms;
    if (queue->call_deadline_ms <= 0)
        return timeout;
    int64_t left = queue->call_deadline_ms - program_monotonic_ms();
    if (left <= 0) {
        queue_set_error(queue, "no time left for %s before the call deadline", what);
        return 0;
    }
    return left < timeout ? left : timeout;
}

void queue_disconnect(struct queue *queue)
{
    if (queue->redis != NULL)
        redisFree(queue->redis);
    queue->redis = NULL;
}

/* Records a failed call: drops the connection (a hiredis context that
 * returned an error is never reused) and schedules the next connect. The
 * first failure reconnects at once (a restart or a failover is over fast);
 * later ones wait 50 ms, 100 ms, ... up to QUEUE_BACKOFF_MAX_MS. */
void queue_note_failure(struct queue *queue)
{
    queue_disconnect(queue);
    int64_t delay = 0;
    if (queue->failures > 0) {
        delay = QUEUE_BACKOFF_FIRST_MS;
        for (int i = 1; i < queue->failures && delay < QUEUE_BACKOFF_MAX_MS; i++)
            delay *= 2;
        if (delay > QUEUE_BACKOFF_MAX_MS)
            delay = QUEUE_BACKOFF_MAX_MS;
    }
    if (queue->failures < 1000)
        queue->failures++;
    queue->next_connect_ms = program_monotonic_ms() + delay;
    queue_copy_text(queue->failure, sizeof(queue->failure), queue->error, strlen(queue->error));
}

/* Sends AUTH or SELECT during connect. Returns 0 or -1 with the error set. */
static int queue_connect_command(struct queue *queue, redisContext *redis, const char *what,
                                 int argc, const char **argv)
{
    redisReply *reply = redisCommandArgv(redis, argc, argv, NULL);
    int result = -1;
    if (reply == NULL)
        queue_set_error(queue, "Redis at %s:%d dropped the connection during %s: %s",
                        queue->server_host, queue->server_port, what, redis->errstr);
    else if (reply->type == REDIS_REPLY_ERROR)
        queue_set_error(queue, "Redis at %s:%d refused %s: %s", queue->server_host,
                        queue->server_port, what, reply->str);
    else
        result = 0;
    if (reply != NULL)
        freeReplyObject(reply);
    return result;
}

/* Opens a context to host:port with the configured time-out. Returns it, or
 * NULL with the error set. */
static redisContext *queue_connect_open(struct queue *queue, const char *what, const char *host,
                                        int port)
{
    int64_t timeout_ms = queue_call_timeout_ms(queue, "a connection");
    if (timeout_ms <= 0)
        return NULL;
    struct timeval timeout = queue_timeval_from_ms(timeout_ms);
    redisContext *redis = redisConnectWithTimeout(host, port, timeout);
    if (redis == NULL) {
        queue_set_error(queue, "cannot allocate a Redis connection");
        return NULL;
    }
    if (redis->err) {
        queue_set_error(queue, "cannot connect to %s at %s:%d: %s", what, host, port,
                        redis->errstr);
        redisFree(redis);
        return NULL;
    }
    if (redisSetTimeout(redis, timeout) != REDIS_OK) {
        queue_set_error(queue, "cannot set the Redis time-out: %s", redis->errstr);
        redisFree(redis);
        return NULL;
    }
    /* Not inherited by the programs the caller starts (a worker's job
     * processes): a connection must close when its owner dies, which is how
     * Redis learns that a worker is gone (queue_presence.c). */
    int flags = fcntl(redis->fd, F_GETFD);
    if (flags >= 0)
        fcntl(redis->fd, F_SETFD, flags | FD_CLOEXEC);
    return redis;
}

/* Asks one sentinel for the master's address. Returns 0 with
 * queue->server_host/port set, or -1 with the error set. */
static int queue_sentinel_ask(struct queue *queue, const char *sentinel)
{
    char host[256];
    const char *colon = strrchr(sentinel, ':');
    int port = colon != NULL ? atoi(colon + 1) : 26379;
    size_t host_len = colon != NULL ? (size_t)(colon - sentinel) : strlen(sentinel);
    queue_copy_text(host, sizeof(host), sentinel, host_len);
    if (host[0] == '\0' || port <= 0 || port > 65535) {
        queue_set_error(queue, "invalid sentinel address '%s' (want host:port)", sentinel);
        return -1;
    }
    redisContext *redis = queue_connect_open(queue, "sentinel", host, port);
    if (redis == NULL)
        return -1;
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", queue->config.master_name};
    redisReply *reply = redisCommandArgv(redis, 3, argv, NULL);
    int result = -1;
    if (reply == NULL)
        queue_set_error(queue, "sentinel %s:%d did not answer: %s", host, port, redis->errstr);
    else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
             reply->element[0]->type != REDIS_REPLY_STRING ||
             reply->element[1]->type != REDIS_REPLY_STRING)
        queue_set_error(queue, "sentinel %s:%d knows no master named '%s'%s%s", host, port,
                        queue->config.master_name, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    else {
        queue_copy_text(queue->server_host, sizeof(queue->server_host), reply->element[0]->str,
                        reply->element[0]->len);
        queue->server_port = atoi(reply->element[1]->str);
        result = 0;
    }
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(redis);
    return result;
}

/* ROLE on a fresh connection: 0 if the server is a master, -1 (error set)
 * if it is a replica, e.g. a demoted master the sentinels have not caught up
 * with yet. */
static int queue_role_check(struct queue *queue, redisContext *redis)
{
    const char *argv[] = {"ROLE"};
    redisReply *reply = redisCommandArgv(redis, 1, argv, NULL);
    int result = -1;
    if (reply == NULL)
        queue_set_error(queue, "Redis at %s:%d dropped the connection during ROLE: %s",
                        queue->server_host, queue->server_port, redis->errstr);
    else if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
             reply->element[0]->type != REDIS_REPLY_STRING)
        queue_set_error(queue, "Redis at %s:%d gave an unexpected answer to ROLE",
                        queue->server_host, queue->server_port);
    else if (strcmp(reply->element[0]->str, "master") != 0)
        queue_set_error(queue, "Redis at %s:%d named master '%s' by the sentinels is a %s",
                        queue->server_host, queue->server_port, queue->config.master_name,
                        reply->element[0]->str);
    else
        result = 0;
    if (reply != NULL)
        freeReplyObject(reply);
    return result;
}

/* Connects to queue->server_host:port, authenticates and selects the
 * database; with sentinels, also confirms the server is the master. Returns
 * the context or NULL with the error set. */
static redisContext *queue_connect_server(struct queue *queue)
{
    const struct queue_config *config = &queue->config;
    redisContext *redis =
        queue_connect_open(queue, "Redis", queue->server_host, queue->server_port);
    if (redis == NULL)
        return NULL;
    if (config->password[0] != '\0') {
        const char *auth[] = {"AUTH", config->password};
        if (queue_connect_command(queue, redis, "AUTH", 2, auth) != 0)
            goto failed;
    }
    if (config->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", config->db);
        const char *select[] = {"SELECT", db};
        if (queue_connect_command(queue, redis, "SELECT", 2, select) != 0)
            goto failed;
    }
    if (config->sentinels[0] != '\0' && queue_role_check(queue, redis) != 0)
        goto failed;
    if (config->client_name[0] != '\0') {
        const char *name[] = {"CLIENT", "SETNAME", config->client_name};
        if (queue_connect_command(queue, redis, "CLIENT SETNAME", 3, name) != 0)
            goto failed;
    }
    return redis;
failed:
    redisFree(redis);
    return NULL;
}

/* Makes sure queue->redis is usable. Without sentinels it connects to the
 * configured host; with them it asks each sentinel in turn for the master
 * (on every connect: a failover may have moved it) and takes the first
 * answer that ROLE confirms. Returns 0 or -1 with the error set. */
int queue_connect(struct queue *queue)
{
    const struct queue_config *config = &queue->config;
    if (queue->redis != NULL)
        return 0;
    int64_t wait = queue->next_connect_ms - program_monotonic_ms();
    if (wait > 0) {
        queue_set_error(queue, "%s (next connection attempt in %lld ms)", queue->failure,
                        (long long)wait);
        return -1;
    }

    struct sigpipe_guard guard;
    sigpipe_guard_begin(&guard);
    redisContext *redis = NULL;
    if (config->sentinels[0] == '\0') {
        queue_copy_text(queue->server_host, sizeof(queue->server_host), config->host,
                        strlen(config->host));
        queue->server_port = config->port;
        redis = queue_connect_server(queue);
    } else {
        char list[sizeof(config->sentinels)], *save = NULL;
        queue_copy_text(list, sizeof(list), config->sentinels, strlen(config->sentinels));
        for (char *one = strtok_r(list, ", ", &save); one != NULL && redis == NULL;
             one = strtok_r(NULL, ", ", &save))
            if (queue_sentinel_ask(queue, one) == 0)
                redis = queue_connect_server(queue);
    }
    sigpipe_guard_end(&guard);
    if (redis == NULL) {
        queue_note_failure(queue);
        return -1;
    }
    queue->redis = redis;
    return 0;
}

/* Runs one command. Returns the reply (any type, the caller frees it) or
 * NULL with the error set and the connection dropped. */
redisReply *queue_command(struct queue *queue, const char *what, int argc, const char **argv,
                          const size_t *length)
{
    if (queue_connect(queue) != 0)
        return NULL;
    int64_t timeout_ms = queue_call_timeout_ms(queue, what);
    if (timeout_ms <= 0)
        return NULL;
    /* A deadline shortens this command's time-out only: the next call
     * without one gets the configured time-out back. */
    if (queue->call_deadline_ms > 0)
        redisSetTimeout(queue->redis, queue_timeval_from_ms(timeout_ms));
    struct sigpipe_guard guard;
    sigpipe_guard_begin(&guard);
    redisReply *reply = redisCommandArgv(queue->redis, argc, argv, length);
    sigpipe_guard_end(&guard);
    if (reply != NULL && queue->call_deadline_ms > 0)
        redisSetTimeout(queue->redis, queue_timeval_from_ms(queue->config.timeout_ms));
    if (reply == NULL) {
        queue_set_error(queue, "Redis at %s:%d did not answer %s: %s", queue->server_host,
                        queue->server_port, what,
                        queue->redis->errstr[0] ? queue->redis->errstr : "connection lost");
        queue_note_failure(queue);
    }
    return reply;
}

/* Runs commands in one MULTI ... EXEC, so that Redis runs them with nothing
 * in between. Returns EXEC's reply (an array of each command's reply; the
 * caller frees it) or NULL with the error set and the connection dropped. */
redisReply *queue_transaction(struct queue *queue, const char *what, int count, const int *argc,
                              const char **const *argv)
{
    if (queue_connect(queue) != 0)
        return NULL;
    struct sigpipe_guard guard;
    sigpipe_guard_begin(&guard);
    redisAppendCommand(queue->redis, "MULTI");
    for (int i = 0; i < count; i++)
        redisAppendCommandArgv(queue->redis, argc[i], argv[i], NULL);
    redisAppendCommand(queue->redis, "EXEC");
    redisReply *reply = NULL;
    int ok = 1;
    for (int i = 0; i < count + 2 && ok; i++) {
        void *one = NULL;
        ok = redisGetReply(queue->redis, &one) == REDIS_OK;
        if (ok && i < count + 1 && ((redisReply *)one)->type == REDIS_REPLY_ERROR) {
            queue_set_error(queue, "Redis refused %s: %s", what, ((redisReply *)one)->str);
            ok = 0;
        } else if (!ok) {
            queue_set_error(queue, "Redis at %s:%d did not answer %s: %s", queue->server_host,
                            queue->server_port, what,
                            queue->redis->errstr[0] ? queue->redis->errstr : "connection lost");
        }
        if (ok && i == count + 1)
            reply = one;
        else if (one != NULL)
            freeReplyObject(one);
    }
    sigpipe_guard_end(&guard);
    if (ok &&
        (reply == NULL || reply->type != REDIS_REPLY_ARRAY || (int)reply->elements != count)) {
        queue_set_error(queue, "Redis did not run %s (%s)", what,
                        reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                                          : "transaction aborted");
        ok = 0;
    }
    if (!ok) {
        if (reply != NULL)
            freeReplyObject(reply);
        queue_note_failure(queue);
        return NULL;
    }
    return reply;
}

/* Blocks up to timeout_ms in a BLPOP on key (what names it in errors).
 * The socket time-out is stretched to outlast the block, or hiredis would
 * give up first, and set back after. Returns 0 (a value or the time-out)
 * or -1 with the error set and the connection dropped. */
int queue_blpop(struct queue *queue, const char *what, const char *key, int timeout_ms)
{
    if (queue_connect(queue) != 0)
        return -1;
    if (redisSetTimeout(queue->redis,
                        queue_timeval_from_ms(timeout_ms + queue->config.timeout_ms)) != REDIS_OK) {
        queue_set_error(queue, "cannot set the Redis time-out: %s", queue->redis->errstr);
        queue_note_failure(queue);
        return -1;
    }
    char seconds[32];
    snprintf(seconds, sizeof(seconds), "%d.%03d", timeout_ms / 1000, timeout_ms % 1000);
    const char *argv[] = {"BLPOP", key, seconds};
    redisReply *reply = queue_command(queue, what, 3, argv, NULL);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_NIL && reply->type != REDIS_REPLY_ARRAY) {
        if (reply->type == REDIS_REPLY_ERROR)
            queue_set_error(queue, "Redis refused %s: %s", what, reply->str);
        else
            queue_set_error(queue, "unexpected reply (type %d) to BLPOP", reply->type);
        queue_reject_reply(queue, reply);
        return -1;
    }
    freeReplyObject(reply);
    if (redisSetTimeout(queue->redis, queue_timeval_from_ms(queue->config.timeout_ms)) !=
        REDIS_OK) {
        queue_set_error(queue, "cannot set the Redis time-out: %s", queue->redis->errstr);
        queue_note_failure(queue);
        return -1;
    }
    queue->failures = 0;
    return 0;
}

/* The longest single WAIT: the caller retries a shorter one until its own
 * deadline, and a stop request is seen between two. */
#define QUEUE_WAIT_MAX_MS 500
/* What a WAIT leaves of the call's time-out, so that it answers before
 * hiredis gives up on the socket. */
#define QUEUE_WAIT_SLACK_MS 100

int queue_replicated(struct queue *queue, const char *what)
{
    int want = queue->config.wait_replicas;
    if (want <= 0)
        return 0;
    /* WAIT counts the replicas holding every write of this connection, so
     * it must follow the write on the same one. Every script writes (the
     * scripts' clock, prelude.lua), so a call repeated on a new connection
     * is a write there too, and WAIT covers what the old one wrote. */
    if (queue->redis == NULL) {
        queue_set_error(queue, "the connection closed before %s was known to be on a replica",
                        what);
        return -1;
    }
    int64_t timeout_ms = queue_call_timeout_ms(queue, what);
    if (timeout_ms <= 0)
        return -1;
    int64_t wait_ms = timeout_ms - QUEUE_WAIT_SLACK_MS;
    if (wait_ms > QUEUE_WAIT_MAX_MS)
        wait_ms = QUEUE_WAIT_MAX_MS;
    if (wait_ms < 1)
        wait_ms = 1;
    char replicas[16], ms[32];
    snprintf(replicas, sizeof(replicas), "%d", want);
    snprintf(ms, sizeof(ms), "%lld", (long long)wait_ms);
    const char *argv[] = {"WAIT", replicas, ms};
    redisReply *reply = queue_command(queue, what, 3, argv, NULL);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_INTEGER) {
        queue_set_error(queue, "Redis refused WAIT after %s: %s", what,
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        queue_reject_reply(queue, reply);
        return -1;
    }
    long long got = reply->integer;
    freeReplyObject(reply);
    if (got < want) {
        /* The connection is sound; the replicas are slow or cut off. */
        queue_set_error(queue,
                        "%s is on %lld of the %d replica(s) redis.wait_replicas asks for after "
                        "%lld ms: not yet safe from a fail-over",
                        what, got, want, (long long)wait_ms);
        return -1;
    }
    return 0;
}

/* Drops a reply that cannot be used, with the error already set. */
void queue_reject_reply(struct queue *queue, redisReply *reply)
{
    freeReplyObject(reply);
    queue_note_failure(queue);
}

/* Loads a script into the server's cache and remembers its SHA1. */
static int queue_script_load(struct queue *queue, enum queue_script script)
{
    const char *argv[] = {"SCRIPT", "LOAD", queue_scripts[script].text};
    redisReply *reply = queue_command(queue, "SCRIPT LOAD", 3, argv, NULL);
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_ERROR) {
        queue_set_error(queue, "Redis refused to load the %s script: %s",
                        queue_scripts[script].name, reply->str);
        queue_reject_reply(queue, reply);
        return -1;
    }
    if (reply->type != REDIS_REPLY_STRING || reply->len != QUEUE_SHA_SIZE - 1) {
        queue_set_error(queue, "unexpected reply (type %d) to SCRIPT LOAD", reply->type);
        queue_reject_reply(queue, reply);
        return -1;
    }
    memcpy(queue->script_sha[script], reply->str, QUEUE_SHA_SIZE - 1);
    queue->script_sha[script][QUEUE_SHA_SIZE - 1] = '\0';
    freeReplyObject(reply);
    return 0;
}

/* Runs a script with EVALSHA (EVAL if the server lost it). Returns an array
 * reply whose first element is the status word, or NULL with the error set. */
redisReply *queue_script_run(struct queue *queue, enum queue_script script, struct queue_args *args)
{
    const char *name = queue_scripts[script].name;
    if (args->overflow) {
        queue_set_error(queue, "too many arguments for the %s script", name);
        return NULL;
    }
    if (queue_connect(queue) != 0)
        return NULL;
    if (queue->script_sha[script][0] == '\0' && queue_script_load(queue, script) != 0)
        return NULL;

    args->value[0] = "EVALSHA";
    args->length[0] = 7;
    args->value[1] = queue->script_sha[script];
    args->length[1] = QUEUE_SHA_SIZE - 1;
    args->value[2] = "0";
    args->length[2] = 1;
    redisReply *reply = queue_command(queue, name, args->count, args->value, args->length);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(reply);
        args->value[0] = "EVAL";
        args->length[0] = 4;
        args->value[1] = queue_scripts[script].text;
        args->length[1] = strlen(queue_scripts[script].text);
        reply = queue_command(queue, name, args->count, args->value, args->length);
    }
    if (reply == NULL)
        return NULL;
    if (reply->type == REDIS_REPLY_ERROR) {
        queue_set_error(queue, "Redis refused %s: %s", name, reply->str);
        queue_reject_reply(queue, reply);
        return NULL;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        queue_set_error(queue, "unexpected reply (type %d) from the %s script", reply->type, name);
        queue_reject_reply(queue, reply);
        return NULL;
    }
    return reply;
}
