/* test_queue_stall.c -- the queue while Redis stalls (issue 15, F2 and F7),
 * against a real redis-server: a claim whose reply is lost in a stall is
 * retried with its token and gets the same job back instead of leaving a
 * phantom lease, and a call with a deadline returns by it however long
 * Redis stays silent.
 *
 * The stall is a busy Lua script run on a connection of its own: Redis
 * answers no client until it ends. (CLIENT PAUSE would not do here: a paused
 * client that goes away has its waiting command dropped, so a claim cut
 * short during a pause never runs; a command queued behind a busy script is
 * read, and run, before its closed connection is noticed, exactly as a
 * reply lost on the way back.) Both tests stall the shared server for
 * under a second, well inside every other test's 2 s time-out. */
#include "queue.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_test_lib.h"

/* Keeps Redis busy for ARGV[1] ms (TIME in a loop). */
static const char busy_script[] =
    "local t = redis.call('TIME') "
    "local start = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "repeat t = redis.call('TIME') "
    "until tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - start >= tonumber(ARGV[1]) "
    "return 1";

/* Starts a stall of ms milliseconds on a connection of its own and returns
 * once Redis is inside it; stall_end waits for its end. */
static redisContext *stall_begin(int ms)
{
    redisContext *busy = redisConnect("127.0.0.1", test.port);
    cr_assert(busy != NULL && !busy->err, "cannot connect the stalling client");
    cr_assert_eq(redisAppendCommand(busy, "EVAL %s 0 %d", busy_script, ms), REDIS_OK);
    int done = 0;
    while (!done)
        cr_assert_eq(redisBufferWrite(busy, &done), REDIS_OK);
    sleep_ms(100); /* the script is running: nobody is answered until it ends */
    return busy;
}

static void stall_end(redisContext *busy)
{
    redisReply *reply = NULL;
    cr_assert_eq(redisGetReply(busy, (void **)&reply), REDIS_OK, "stall: %s", busy->errstr);
    cr_assert_eq(reply->type, REDIS_REPLY_INTEGER);
    freeReplyObject(reply);
    redisFree(busy);
}

Test(queue, claim_with_a_lost_reply_is_retried_with_its_token_and_leaves_no_phantom)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    claim_empty(queue, "worker-a"); /* connected, claim script loaded */
    char id[QUEUE_ID_MAX];
    submit_new(queue, "lost-claim-reply", 0, id);

    /* The claim reaches Redis during the stall; the worker stops waiting
     * for its reply at the call deadline (a time-out), and Redis runs it
     * after the stall: the job is now RUNNING under worker-a, who does not
     * know it. */
    char token[QUEUE_CLAIM_TOKEN_MAX];
    queue_claim_token_new(token);
    cr_assert_eq(strlen(token), 32);
    redisContext *busy = stall_begin(800);
    struct queue_claim claim;
    int64_t sent = now_ms();
    queue_set_call_deadline(queue, sent + 200);
    int status = queue_claim_with_token(queue, "worker-a", token, &claim);
    int64_t waited = now_ms() - sent;
    queue_set_call_deadline(queue, 0);
    cr_assert_eq(status, QUEUE_ERROR, "the stalled claim got an answer (%d)", status);
    cr_assert_lt(waited, 600, "the claim returned after %lld ms, past its deadline",
                 (long long)waited);
    stall_end(busy);
    sleep_ms(100);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING, "the lost claim did not run");
    cr_assert_str_eq(job.owner, "worker-a");
    cr_assert_eq(job.epoch, 1);

    /* Without the token the job is a phantom: claimed, and nobody runs it. */
    char other[QUEUE_CLAIM_TOKEN_MAX];
    queue_claim_token_new(other);
    cr_assert_str_neq(other, token);
    cr_assert_eq(queue_claim_with_token(queue, "worker-a", other, &claim), QUEUE_EMPTY);
    queue_claim_clear(&claim);
    /* The retry with the same token gets the claim the lost reply carried. */
    status = queue_claim_with_token(queue, "worker-a", token, &claim);
    cr_assert_eq(status, QUEUE_OK, "retried claim: %d (%s)", status, queue_last_error(queue));
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(claim.epoch, 1);
    cr_assert_eq(claim.takeover, 0);
    cr_assert_eq(claim.checkpoint, -1);
    cr_assert_eq(claim.spec_len, 5);
    queue_claim_clear(&claim);
    job = get_ok(queue, id);
    cr_assert_eq(job.epoch, 1);
    cr_assert_eq(job.attempts, 0);
    cr_assert_eq(job.leases_lost, 0);
    cr_assert_eq(job.takeovers, 0);
    /* The retried claim is a claim like any other: its owner renews it. */
    cr_assert_eq(queue_renew(queue, id, "worker-a", 1, NULL), QUEUE_OK);

    /* A token answers only while the job is still its claim's: once
     * released (or taken over), the same token claims afresh. */
    cr_assert_eq(queue_release(queue, id, "worker-a", 1), QUEUE_OK);
    status = queue_claim_with_token(queue, "worker-b", token, &claim);
    cr_assert_eq(status, QUEUE_OK);
    cr_assert_eq(claim.epoch, 2);
    queue_claim_clear(&claim);
    cr_assert_eq(queue_claim_with_token(queue, "worker-a", token, &claim), QUEUE_EMPTY);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, renewal_with_a_call_deadline_returns_by_it_during_a_stall_then_renews)
{
    struct queue_config config = test_config();
    config.timeout_ms = 2000; /* the default: longer than the stall */
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "stalled-renewal", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_OK);

    redisContext *busy = stall_begin(900);
    int64_t sent = now_ms();
    queue_set_call_deadline(queue, sent + 250);
    int status = queue_renew(queue, id, "worker-a", claim.epoch, NULL);
    int64_t waited = now_ms() - sent;
    cr_assert_eq(status, QUEUE_ERROR);
    cr_assert_lt(waited, 600, "the renewal returned after %lld ms, past its deadline",
                 (long long)waited);
    /* Past the deadline a call fails at once, without waiting at all. */
    sleep_ms(300);
    sent = now_ms();
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_ERROR);
    cr_assert_lt(now_ms() - sent, 50);
    cr_assert(strstr(queue_last_error(queue), "call deadline") != NULL, "%s",
              queue_last_error(queue));
    stall_end(busy);

    /* The stall is over: the same lease renews, nothing lost. */
    queue_set_call_deadline(queue, now_ms() + 1000);
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_OK, "%s",
                 queue_last_error(queue));
    queue_set_call_deadline(queue, 0);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_eq(job.epoch, claim.epoch);
    cr_assert_eq(job.leases_lost, 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}
