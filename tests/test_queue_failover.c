/* test_queue_failover.c -- writes a Redis master acknowledged and then lost
 * in a failover (asynchronous replication: the replica promoted never got
 * them), and what bounds a master cut off from its replicas.
 *
 * Real servers of the test's own: a master and a replica replicating from
 * it. "The failover" is the replica promoted (REPLICAOF NO ONE, as a
 * Sentinel does) while the master still takes writes: everything the
 * master acknowledges after that is lost to the pool, which then talks to
 * the promoted replica. */
#include "queue.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "queue_test_lib.h"

#define SENTINEL_INIT "deploy/k8s/redis-sentinel/init.sh"

struct pair {
    char dir[64];
    int master_port, replica_port;
    pid_t master, replica;
};

static redisReply *port_command(int port, const char *fmt, ...)
{
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *redis = redisConnectWithTimeout("127.0.0.1", port, tv);
    cr_assert(redis != NULL && !redis->err, "cannot connect to port %d", port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(redis, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "port %d: %s", port, redis->errstr);
    redisFree(redis);
    return reply;
}

static void port_ok(int port, const char *command)
{
    redisReply *reply = port_command(port, command);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "%s: %s", command, reply->str);
    freeReplyObject(reply);
}

/* Starts a master and a replica of it, and waits until the link is up. */
static void pair_start(struct pair *p)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/ffpool-test-failover-XXXXXX");
    cr_assert_not_null(mkdtemp(p->dir));
    p->master_port = free_port();
    p->master = redis_spawn(p->master_port, p->dir);
    p->replica_port = free_port();
    p->replica = redis_spawn(p->replica_port, p->dir);
    cr_assert(redis_ready(p->master_port, 10000) && redis_ready(p->replica_port, 10000));
    char command[64];
    snprintf(command, sizeof(command), "REPLICAOF 127.0.0.1 %d", p->master_port);
    port_ok(p->replica_port, command);
    for (int64_t deadline = now_ms() + 10000;; sleep_ms(20)) {
        redisReply *info = port_command(p->replica_port, "INFO replication");
        int up = strstr(info->str, "master_link_status:up") != NULL;
        freeReplyObject(info);
        if (up)
            break;
        cr_assert_lt(now_ms(), deadline, "the replica never caught up");
    }
    /* The replica reports its link up before its first acknowledgement puts
     * it online on the master's side, and a WAIT on a connection that wrote
     * nothing asks for no offset: a write acknowledged by the replica, on
     * one connection, proves the acknowledgements flow before any test
     * counts on them. */
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *redis = redisConnectWithTimeout("127.0.0.1", p->master_port, tv);
    cr_assert(redis != NULL && !redis->err, "cannot connect to the master");
    for (int64_t deadline = now_ms() + 10000;; sleep_ms(20)) {
        redisReply *set = redisCommand(redis, "SET test:pair_started 1");
        redisReply *reply = set != NULL ? redisCommand(redis, "WAIT 1 1000") : NULL;
        int acknowledged =
            reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
        if (set != NULL)
            freeReplyObject(set);
        if (reply != NULL)
            freeReplyObject(reply);
        if (acknowledged)
            break;
        cr_assert_lt(now_ms(), deadline, "the replica never acknowledged a write");
    }
    redisFree(redis);
}

/* Makes sure the replica has everything the master has acknowledged. */
static void pair_sync(struct pair *p)
{
    redisReply *reply = port_command(p->master_port, "WAIT 1 5000");
    cr_assert_eq(reply->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(reply->integer, 1, "the replica did not acknowledge");
    freeReplyObject(reply);
}

static void pair_stop(struct pair *p)
{
    redis_stop(p->master);
    redis_stop(p->replica);
    remove_tree(p->dir);
}

static struct queue *queue_on(int port)
{
    struct queue_config config = test_config();
    config.port = port;
    config.db = 0;
    config.timeout_ms = 1000;
    return open_queue(&config);
}

TestSuite(failover, .timeout = 60);

Test(failover, a_job_id_lost_in_a_failover_is_never_issued_again)
{
    struct pair p;
    pair_start(&p);
    struct queue *old = queue_on(p.master_port);
    char first[QUEUE_ID_MAX], lost[QUEUE_ID_MAX], next[QUEUE_ID_MAX];
    int created = 0;
    cr_assert_eq(queue_submit(old, "client-a", (const uint8_t *)"a", 1, 0, first, &created),
                 QUEUE_OK);
    pair_sync(&p);

    /* The failover: the replica is promoted; the master still acknowledges a
     * submit (client B's), which the new master never sees. */
    port_ok(p.replica_port, "REPLICAOF NO ONE");
    cr_assert_eq(queue_submit(old, "client-b", (const uint8_t *)"b", 1, 0, lost, &created),
                 QUEUE_OK);
    cr_assert_eq(created, 1);

    /* Client C submits on the new master: its job must not take B's id, or
     * B's shim would poll, heartbeat and cancel C's job as its own. */
    struct queue *promoted = queue_on(p.replica_port);
    cr_assert_eq(queue_submit(promoted, "client-c", (const uint8_t *)"c", 1, 0, next, &created),
                 QUEUE_OK);
    cr_assert_eq(created, 1);
    cr_assert_str_neq(next, lost, "the new master issued the lost job's id %s again", lost);
    cr_assert_str_neq(next, first);
    /* B's shim sees its job gone (and submits it again, shim/session.c). */
    struct queue_job job;
    cr_assert_eq(queue_get(promoted, lost, &job), QUEUE_NOT_FOUND);

    queue_close(old);
    queue_close(promoted);
    pair_stop(&p);
}

/* 1 if the replica holds segment index of job id (a checkpoint). */
static int replica_has_segment(struct pair *p, const char *id, int index)
{
    redisReply *reply =
        port_command(p->replica_port, "HEXISTS ffpool:job:%s:segments %d", id, index);
    int has = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return has;
}

Test(failover, a_checkpoint_claim_or_end_is_acknowledged_only_once_a_replica_holds_it)
{
    /* With redis.wait_replicas, what a worker acts on (its claim, the
     * checkpoint that lets it publish the next segment, its job's end) and
     * what a client is told (the job ended) is on a replica first: a
     * fail-over to that replica cannot lose it. Without, a stopped replica
     * changes nothing: every call answers OK from the master alone. */
    struct pair p;
    pair_start(&p);
    struct queue_config config = test_config();
    config.port = p.master_port;
    config.db = 0;
    config.timeout_ms = 1000;
    config.wait_replicas = 1;
    struct queue *worker = open_queue(&config);
    struct queue *client = open_queue(&config);
    char id[QUEUE_ID_MAX], second[QUEUE_ID_MAX];
    submit_new(client, "durable", 0, id);
    struct queue_claim claim;
    claim_ok(worker, "owner", &claim);
    int64_t epoch = claim.epoch;
    queue_claim_clear(&claim);
    cr_assert_eq(queue_checkpoint(worker, id, "owner", epoch, 0, 3000000, 0, NULL, NULL), QUEUE_OK);
    cr_assert(replica_has_segment(&p, id, 0), "a checkpoint answered OK is not on the replica");

    /* The replica stops acknowledging (SIGSTOP: a hung node, a cut link). */
    cr_assert_eq(kill(p.replica, SIGSTOP), 0);
    int64_t asked = now_ms();
    cr_assert_eq(queue_checkpoint(worker, id, "owner", epoch, 1, 3000000, 0, NULL, NULL),
                 QUEUE_ERROR, "a checkpoint no replica holds was acknowledged");
    cr_assert(strstr(queue_last_error(worker), "not yet safe from a fail-over") != NULL, "%s",
              queue_last_error(worker));
    cr_assert_lt(now_ms() - asked, config.timeout_ms, "WAIT outlasted the call's time-out");
    submit_new(client, "second", 0, second);
    char token[QUEUE_CLAIM_TOKEN_MAX];
    queue_claim_token_new(token);
    cr_assert_eq(queue_claim_with_token(worker, "owner-2", token, &claim), QUEUE_ERROR,
                 "a claim no replica holds was acknowledged");

    /* The replica is back: the same calls, repeated as the worker repeats
     * them, answer OK, and the claim is the same one. */
    cr_assert_eq(kill(p.replica, SIGCONT), 0);
    cr_assert_eq(queue_checkpoint(worker, id, "owner", epoch, 1, 3000000, 0, NULL, NULL), QUEUE_OK,
                 "%s", queue_last_error(worker));
    cr_assert(replica_has_segment(&p, id, 1));
    cr_assert_eq(queue_claim_with_token(worker, "owner-2", token, &claim), QUEUE_OK, "%s",
                 queue_last_error(worker));
    cr_assert_str_eq(claim.id, second, "the repeated claim took another job");
    int64_t second_epoch = claim.epoch;
    queue_claim_clear(&claim);

    /* The end, while the replica is stopped again: neither the worker nor a
     * client reading the job takes it for done. */
    cr_assert_eq(kill(p.replica, SIGSTOP), 0);
    cr_assert_eq(queue_complete(worker, id, "owner", epoch), QUEUE_ERROR,
                 "a job's end no replica holds was acknowledged");
    struct queue_job job;
    cr_assert_eq(queue_get(client, id, &job), QUEUE_ERROR,
                 "a client was told of an end no replica holds");
    cr_assert_eq(queue_peek(client, id, &job), QUEUE_OK, "%s", queue_last_error(client));
    cr_assert_eq(job.state, QUEUE_JOB_DONE, "a listing shows the job as the master has it");
    cr_assert_eq(kill(p.replica, SIGCONT), 0);
    cr_assert_eq(queue_complete(worker, id, "owner", epoch), QUEUE_OK, "%s",
                 queue_last_error(worker));
    cr_assert_eq(queue_get(client, id, &job), QUEUE_OK, "%s", queue_last_error(client));
    cr_assert_eq(job.state, QUEUE_JOB_DONE);

    /* Without wait_replicas the master alone answers. */
    config.wait_replicas = 0;
    struct queue *plain = open_queue(&config);
    cr_assert_eq(kill(p.replica, SIGSTOP), 0);
    cr_assert_eq(
        queue_checkpoint(plain, second, "owner-2", second_epoch, 0, 3000000, 0, NULL, NULL),
        QUEUE_OK);
    cr_assert_eq(kill(p.replica, SIGCONT), 0);
    queue_close(plain);
    queue_close(worker);
    queue_close(client);
    pair_stop(&p);
}

/* The value of "NAME N" in the Sentinel manifest's init script, or -1. */
static long long manifest_setting(const char *name)
{
    FILE *f = fopen(SENTINEL_INIT, "r");
    cr_assert_not_null(f, "%s not found (run from the repository root)", SENTINEL_INIT);
    char line[512];
    long long value = -1;
    size_t n = strlen(name);
    while (value < 0 && fgets(line, sizeof(line), f) != NULL) {
        const char *at = strstr(line, name);
        if (at != NULL && (at == line || at[-1] == ' ') && at[n] == ' ') {
            const char *number = strrchr(line, ' ');
            value = atoll(number + 1);
        }
    }
    fclose(f);
    return value;
}

Test(failover, an_isolated_master_stops_its_owners_before_a_replica_can_be_promoted)
{
    /* The manifest's bound on a cut-off master, applied to a real one. */
    long long min_replicas = manifest_setting("min-replicas-to-write");
    long long max_lag_s = manifest_setting("min-replicas-max-lag");
    long long down_after_ms = manifest_setting("down-after-milliseconds");
    cr_assert_geq(min_replicas, 1, "the manifest sets no min-replicas-to-write");
    cr_assert_gt(max_lag_s, 0, "the manifest sets no min-replicas-max-lag");
    cr_assert_gt(down_after_ms, 0);
    /* An owner's last write the cut-off master can accept comes at most
     * max_lag + 1 s (replicas acknowledge once a second) after the cut; it
     * stops writing lease.ttl_ms - safety margin after that write. The
     * Sentinels promote no sooner than down-after after the cut. */
    long long margin_ms = FFPOOL_DEFAULT_LEASE_SAFETY_MARGIN_MS;
    long long owner_stops_ms = (max_lag_s + 1) * 1000 + FFPOOL_DEFAULT_LEASE_TTL_MS - margin_ms;
    cr_assert_lt(owner_stops_ms, down_after_ms,
                 "an owner on a cut-off master may write until %lld ms after the cut, but the "
                 "Sentinels may promote another master at %lld ms",
                 owner_stops_ms, down_after_ms);

    struct pair p;
    pair_start(&p);
    char command[96];
    snprintf(command, sizeof(command), "CONFIG SET min-replicas-to-write %lld", min_replicas);
    port_ok(p.master_port, command);
    snprintf(command, sizeof(command), "CONFIG SET min-replicas-max-lag %lld", max_lag_s);
    port_ok(p.master_port, command);
    /* The replica's link is up before the master has its first REPLCONF ACK
     * (sent once a second): until then the master counts no good replica and
     * refuses every write. */
    for (int64_t deadline = now_ms() + 5000;; sleep_ms(20)) {
        redisReply *info = port_command(p.master_port, "INFO replication");
        int good = strstr(info->str, "min_slaves_good_slaves:1") != NULL;
        freeReplyObject(info);
        if (good)
            break;
        cr_assert_lt(now_ms(), deadline, "the master never counted its replica as good");
    }
    struct queue *queue = queue_on(p.master_port);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "isolated", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "owner", &claim);
    int64_t epoch = claim.epoch;
    queue_claim_clear(&claim);
    int paused = 0;
    cr_assert_eq(queue_renew(queue, id, "owner", epoch, &paused), QUEUE_OK);

    /* The cut: the replica stops replicating (promoted elsewhere). */
    int64_t cut = now_ms();
    port_ok(p.replica_port, "REPLICAOF NO ONE");
    int status = QUEUE_OK;
    while (status == QUEUE_OK && now_ms() - cut < 10000) {
        sleep_ms(100);
        status = queue_renew(queue, id, "owner", epoch, &paused);
    }
    int64_t refused_after = now_ms() - cut;
    cr_assert_eq(status, QUEUE_ERROR, "the cut-off master still accepts renewals");
    cr_assert(strstr(queue_last_error(queue), "NOREPLICAS") != NULL, "%s", queue_last_error(queue));
    cr_assert_leq(refused_after, (max_lag_s + 2) * 1000, "refused only after %lld ms",
                  (long long)refused_after);
    queue_close(queue);
    pair_stop(&p);
}
