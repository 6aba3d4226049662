/* test_queue_redis.c -- the queue when Redis misbehaves: its script cache
 * flushed, the server gone and back, a password and a database, keys that
 * hold something else; and how a lease's expiry is announced and followed,
 * with a Redis Sentinel failover.
 *
 * These tests start and kill redis-servers (and a redis-sentinel) of their
 * own, beside the shared one (queue_test_lib.h). */
#include "queue.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "queue_test_lib.h"

/* ------------------------------------------------- Redis going away */

Test(queue, script_cache_flush_falls_back_to_eval)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "before", 0, id);
    /* Server-wide; other tests just take the same fallback. */
    admin_ok("SCRIPT FLUSH");
    submit_new(queue, "after", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, redis_down_gives_queue_error_not_crash_and_reconnects_when_it_returns)
{
    char dir[] = "/tmp/ffpool-test-down-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int port = free_port();
    pid_t server = redis_spawn(port, dir);
    cr_assert(redis_ready(port, 10000), "own redis-server did not start");

    struct queue_config config = test_config();
    config.port = port;
    config.db = 0;
    config.timeout_ms = 500;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);

    redis_stop(server);
    struct queue_job job;
    struct queue_claim none;
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_ERROR);
    cr_assert(strstr(queue_last_error(queue), "Redis") != NULL, "error: %s",
              queue_last_error(queue));
    cr_assert_eq(queue_claim(queue, "worker-a", &none), QUEUE_ERROR);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 1, 0, NULL, NULL),
                 QUEUE_ERROR);
    cr_assert_eq(queue_complete(queue, id, "worker-a", claim.epoch), QUEUE_ERROR);
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    cr_assert_eq(queue_submit(queue, "other", NULL, 0, 0, id, NULL), QUEUE_ERROR);
    cr_assert_neq(queue_last_error(queue)[0], '\0');

    /* A worker loop of claim + wait paces itself instead of spinning. */
    int loops = 0;
    for (int64_t start = now_ms(); now_ms() - start < 1000; loops++) {
        cr_assert_eq(queue_claim(queue, "worker-a", &none), QUEUE_ERROR);
        cr_assert_eq(queue_wait(queue, 100), QUEUE_ERROR);
    }
    cr_assert(loops <= 25, "%d claim+wait rounds in 1 s against a dead Redis", loops);

    server = redis_spawn(port, dir);
    cr_assert(redis_ready(port, 10000), "own redis-server did not restart");
    int64_t back = now_ms();
    int status = QUEUE_ERROR;
    while (status == QUEUE_ERROR && now_ms() - back < 5000) {
        status = queue_submit(queue, "session", NULL, 0, 0, id, NULL);
        if (status == QUEUE_ERROR)
            sleep_ms(20);
    }
    cr_assert_eq(status, QUEUE_OK, "no reconnect: %s", queue_last_error(queue));
    cr_assert(now_ms() - back < 2500, "reconnect took %lld ms", (long long)(now_ms() - back));
    queue_claim_clear(&claim);
    /* The restarted server has no persistence: the job is new, and claim
     * works with scripts the new server had never seen (NOSCRIPT -> EVAL). */
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(claim.epoch, 1);
    queue_claim_clear(&claim);

    queue_close(queue);
    redis_stop(server);
    remove_tree(dir);
}

Test(queue, password_and_database_are_used_on_connect)
{
    char dir[] = "/tmp/ffpool-test-auth-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int port = free_port();
    pid_t server = redis_spawn_auth(port, dir, "s3cret pass");
    cr_assert(redis_ready(port, 10000), "own redis-server did not start");

    struct queue_config config = test_config();
    config.port = port;
    config.db = 7;
    snprintf(config.password, sizeof(config.password), "s3cret pass");
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);

    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    redisContext *check = redisConnectWithTimeout("127.0.0.1", port, tv);
    cr_assert(check != NULL && !check->err);
    redisReply *reply = redisCommand(check, "AUTH %s", "s3cret pass");
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = redisCommand(check, "SELECT 7");
    freeReplyObject(reply);
    reply = redisCommand(check, "EXISTS ffpool:job:%s", id);
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1,
              "the job is not in database 7");
    freeReplyObject(reply);
    redisFree(check);

    snprintf(config.password, sizeof(config.password), "wrong");
    struct queue *intruder = open_queue(&config);
    struct queue_job job;
    cr_assert_eq(queue_get(intruder, id, &job), QUEUE_ERROR);
    cr_assert(strstr(queue_last_error(intruder), "AUTH") != NULL, "error: %s",
              queue_last_error(intruder));
    queue_close(intruder);

    queue_close(queue);
    redis_stop(server);
    remove_tree(dir);
}

Test(queue, corrupt_keys_give_queue_error_not_crash)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);

    /* Someone else's value where the queue keeps its list. */
    admin_ok("DEL ffpool:queue");
    admin_ok("SET ffpool:queue not-a-list");
    struct queue_claim claim;
    cr_assert_eq(queue_claim(queue, "worker-a", &claim), QUEUE_ERROR);
    cr_assert(strstr(queue_last_error(queue), "WRONGTYPE") != NULL, "error: %s",
              queue_last_error(queue));
    queue_claim_clear(&claim);
    admin_ok("DEL ffpool:queue");
    claim_empty(queue, "worker-a"); /* reconnected after the error */

    /* A job record that does not parse. */
    admin_ok("HSET ffpool:job:%s epoch not-a-number", id);
    struct queue_job job;
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    admin_ok("HSET ffpool:job:%s state sleeping epoch 0", id);
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    admin_ok("DEL ffpool:job:%s", id);
    admin_ok("SET ffpool:job:%s a-string", id);
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    cr_assert_eq(queue_renew(queue, id, "worker-a", 1, NULL), QUEUE_ERROR);

    /* Bad arguments are refused before reaching Redis. */
    char long_id[QUEUE_ID_MAX + 8];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    cr_assert_eq(queue_get(queue, long_id, &job), QUEUE_ERROR);
    cr_assert_eq(queue_renew(queue, "j1", "", 1, NULL), QUEUE_ERROR);
    cr_assert_eq(queue_claim(queue, NULL, &claim), QUEUE_ERROR);
    queue_claim_clear(&claim);
    cr_assert_str_eq(queue_job_state_name(QUEUE_JOB_CANCELLED), "cancelled");
    cr_assert_str_eq(queue_job_state_name((enum queue_job_state)42), "unknown");
    queue_close(queue);
}

/* ------------------------------------------------ lease expiry, sentinel */

Test(queue, empty_claim_tells_when_the_next_lease_expires)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = 3000;
    struct queue *queue = open_queue(&config);
    struct queue_claim claim;
    cr_assert_eq(queue_claim(queue, "worker-a", &claim), QUEUE_EMPTY);
    cr_assert_eq(claim.next_due_ms, -1, "no lease held: %lld", (long long)claim.next_due_ms);

    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim held;
    claim_ok(queue, "worker-a", &held);
    cr_assert_eq(queue_claim(queue, "worker-b", &claim), QUEUE_EMPTY);
    cr_assert(claim.next_due_ms > 2500 && claim.next_due_ms <= 3000, "due in %lld ms",
              (long long)claim.next_due_ms);

    /* Waking at the announced time finds the expired lease. */
    sleep_ms((int)claim.next_due_ms + 2);
    struct queue_claim taken;
    claim_ok(queue, "worker-b", &taken);
    cr_assert_str_eq(taken.id, id);
    cr_assert_eq(taken.takeover, 1);
    queue_claim_clear(&held);
    queue_claim_clear(&taken);
    queue_close(queue);
}

/* A command on a fresh connection to 127.0.0.1:port; NULL if unreachable. */
static redisReply *port_command(int port, const char *fmt, ...)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *redis = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *reply = NULL;
    if (redis != NULL && !redis->err) {
        va_list ap;
        va_start(ap, fmt);
        reply = redisvCommand(redis, fmt, ap);
        va_end(ap);
    }
    if (redis != NULL)
        redisFree(redis);
    return reply;
}

/* The port the sentinel names as master, or -1. */
static int sentinel_master_port(int sentinel_port)
{
    redisReply *reply = port_command(sentinel_port, "SENTINEL get-master-addr-by-name ffm");
    int port = -1;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        port = atoi(reply->element[1]->str);
    if (reply != NULL)
        freeReplyObject(reply);
    return port;
}

/* 1 once the sentinel sees a healthy replica it could promote. */
static int sentinel_has_replica(int sentinel_port)
{
    redisReply *reply = port_command(sentinel_port, "SENTINEL replicas ffm");
    int ok = 0;
    for (size_t i = 0; reply != NULL && reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        const redisReply *fields = reply->element[i];
        for (size_t k = 0; k + 1 < fields->elements; k += 2)
            if (strcmp(fields->element[k]->str, "flags") == 0 &&
                strcmp(fields->element[k + 1]->str, "slave") == 0)
                ok = 1;
    }
    if (reply != NULL)
        freeReplyObject(reply);
    return ok;
}

Test(queue, sentinel_finds_the_master_and_follows_a_failover)
{
    char dir[] = "/tmp/ffpool-test-sentinel-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int master_port = free_port(), replica_port = free_port(), sentinel_port = free_port();
    char master_text[16], replica_text[16], conf[sizeof(dir) + 32];
    snprintf(master_text, sizeof(master_text), "%d", master_port);
    snprintf(replica_text, sizeof(replica_text), "%d", replica_port);
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", dir);
    FILE *file = fopen(conf, "w");
    cr_assert_not_null(file);
    fprintf(file,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor ffm 127.0.0.1 %d 1\n"
            "sentinel down-after-milliseconds ffm 1000\n"
            "sentinel failover-timeout ffm 5000\n",
            sentinel_port, dir, master_port);
    fclose(file);
    // clang-format off
    char *master_argv[] = {"redis-server", "--port", master_text, "--bind", "127.0.0.1", "--dir",
                           dir, "--save", "", "--appendonly", "no", "--dbfilename", "m.rdb", NULL};
    char *replica_argv[] = {"redis-server", "--port", replica_text, "--bind", "127.0.0.1",
                            "--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename",
                            "r.rdb", "--replicaof", "127.0.0.1", master_text, NULL};
    // clang-format on
    char *sentinel_argv[] = {"redis-sentinel", conf, NULL};
    pid_t master = spawn_argv(master_argv);
    pid_t replica = spawn_argv(replica_argv);
    cr_assert(redis_ready(master_port, 10000) && redis_ready(replica_port, 10000));
    pid_t sentinel = spawn_argv(sentinel_argv);
    cr_assert(redis_ready(sentinel_port, 10000), "redis-sentinel did not start");
    int64_t deadline = now_ms() + 20000;
    while (!sentinel_has_replica(sentinel_port) && now_ms() < deadline)
        sleep_ms(100);
    cr_assert(sentinel_has_replica(sentinel_port), "the sentinel never saw the replica");

    /* host:port point at the replica: only the sentinel can lead to the
     * master; the first sentinel listed is dead and is skipped. */
    struct queue_config config = test_config();
    config.port = replica_port;
    config.db = 0;
    config.timeout_ms = 1000;
    snprintf(config.sentinels, sizeof(config.sentinels), "127.0.0.1:%d, 127.0.0.1:%d", free_port(),
             sentinel_port);
    snprintf(config.master_name, sizeof(config.master_name), "ffm");
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    /* The claim has reached the replica before the failover. */
    int replicated = 0;
    for (deadline = now_ms() + 10000; !replicated && now_ms() < deadline; sleep_ms(20)) {
        redisReply *state = port_command(replica_port, "HGET ffpool:job:%s state", id);
        replicated = state != NULL && state->type == REDIS_REPLY_STRING &&
                     strcmp(state->str, "running") == 0;
        if (state != NULL)
            freeReplyObject(state);
    }
    cr_assert(replicated, "the replica never caught up");
    redisReply *reply = port_command(master_port, "DEL ffpool:wake");
    cr_assert_not_null(reply);
    freeReplyObject(reply);

    /* A second worker, idle, connected to the old master. */
    struct queue *idle = open_queue(&config);
    cr_assert_eq(queue_wait(idle, 1), QUEUE_OK);
    reply = port_command(sentinel_port, "SENTINEL FAILOVER ffm");
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STATUS, "SENTINEL FAILOVER: %s",
              reply != NULL && reply->str != NULL ? reply->str : "no answer");
    freeReplyObject(reply);
    deadline = now_ms() + 20000;
    while (sentinel_master_port(sentinel_port) != replica_port && now_ms() < deadline)
        sleep_ms(50);
    cr_assert_eq(sentinel_master_port(sentinel_port), replica_port, "no failover");
    /* Until the sentinel has demoted the old master, writes there still
     * succeed (and are lost when it resyncs): the split-brain window that
     * fencing by epoch absorbs. The test waits it out. */
    int demoted = 0;
    while (!demoted && now_ms() < deadline) {
        reply = port_command(master_port, "ROLE");
        demoted = reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
                  strcmp(reply->element[0]->str, "slave") == 0;
        if (reply != NULL)
            freeReplyObject(reply);
        if (!demoted)
            sleep_ms(50);
    }
    cr_assert(demoted, "the old master was never demoted");

    /* The old connection hits a demoted master (READONLY) or a dropped
     * socket: the queue reconnects through the sentinel and carries on with
     * the same lease on the new master. */
    int status = QUEUE_ERROR;
    int64_t start = now_ms();
    while (status == QUEUE_ERROR && now_ms() - start < 10000) {
        status = queue_renew(queue, id, "worker-a", claim.epoch, NULL);
        if (status == QUEUE_ERROR)
            sleep_ms(50);
    }
    cr_assert_eq(status, QUEUE_OK, "renew after failover: %s", queue_last_error(queue));
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 3000000, 0, NULL, NULL),
                 QUEUE_OK);
    reply = port_command(replica_port, "HGET ffpool:job:%s checkpoint", id);
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "0") == 0,
              "checkpoint not on the new master");
    freeReplyObject(reply);

    /* The idle worker's loop (wait, claim) errs once on the demoted master
     * (READONLY, UNBLOCKED or a killed socket), reconnects through the
     * sentinel and claims what is submitted on the new master. A wait never
     * outlasts the scan interval, so this holds even when a blocked BLPOP
     * is not unblocked by the demotion (Redis 7.0.15 under Sentinel: seen). */
    char second[QUEUE_ID_MAX];
    submit_new(queue, "session-2", 0, second);
    struct queue_claim next;
    status = QUEUE_ERROR;
    for (start = now_ms(); status != QUEUE_OK && now_ms() - start < 10000;) {
        queue_wait(idle, 500);
        status = queue_claim(idle, "worker-b", &next);
    }
    cr_assert_eq(status, QUEUE_OK, "idle worker did not follow: %s", queue_last_error(idle));
    cr_assert_str_eq(next.id, second);
    queue_claim_clear(&next);
    queue_close(idle);

    queue_claim_clear(&claim);
    queue_close(queue);
    redis_stop(sentinel);
    redis_stop(replica);
    redis_stop(master);
    remove_tree(dir);
}

/* A CLI job that printed nothing (-v quiet) still has its exit status;
 * a stream's completion has no result at all. */
Test(queue, a_silent_result_keeps_its_exit_status)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char quiet[QUEUE_ID_MAX], stream[QUEUE_ID_MAX];
    struct queue_claim claim;
    submit_new(queue, "quiet", 0, quiet);
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(queue_complete_result(queue, claim.id, "worker-a", claim.epoch, "", 1), QUEUE_OK);
    queue_claim_clear(&claim);
    char *result = NULL;
    int status = -1;
    cr_assert_eq(queue_job_result(queue, quiet, &result, &status), QUEUE_OK);
    cr_assert_not_null(result, "an empty result is a result");
    cr_assert_str_eq(result, "");
    cr_assert_eq(status, 1);
    free(result);

    submit_new(queue, "stream", 0, stream);
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(queue_complete(queue, claim.id, "worker-a", claim.epoch), QUEUE_OK);
    queue_claim_clear(&claim);
    cr_assert_eq(queue_job_result(queue, stream, &result, &status), QUEUE_OK);
    cr_assert_null(result);
    cr_assert_eq(status, 0);
    queue_close(queue);
}
