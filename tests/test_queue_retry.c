/* test_queue_retry.c -- the calls that end an owner's run (complete, fail,
 * release) sent until Redis answers: queue_complete_until and friends.
 *
 * Against the shared redis-server (queue_test_lib.h), with real faults: the
 * queue's own connection closed by the server (CLIENT KILL, as a restart, a
 * failover or a proxy's idle cut would close it), and a port nothing
 * listens on. A retry must land after a dropped connection, stop at once on
 * any answer of the script's, give up by its deadline, and never count an
 * attempt twice when the first call had landed. */
#include "queue.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"
#include "queue_test_lib.h"

/* Closes, from the server's side, every connection to this test's database
 * but the admin one: the queue's. Returns how many were closed. */
static int kill_queue_connections(void)
{
    long long admin_id = admin_integer("CLIENT ID");
    redisReply *list = admin_command("CLIENT LIST");
    cr_assert_eq(list->type, REDIS_REPLY_STRING);
    char db_field[32];
    snprintf(db_field, sizeof(db_field), " db=%d ", test.db);
    int killed = 0;
    for (char *line = list->str; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        long long id = -1;
        if (sscanf(line, "id=%lld ", &id) == 1 && id != admin_id && strstr(line, db_field) != NULL)
            killed += (int)admin_integer("CLIENT KILL ID %lld", id);
        line = end != NULL ? end + 1 : NULL;
    }
    freeReplyObject(list);
    return killed;
}

/* Submits a job, claims it as owner; returns the claim's epoch. */
static int64_t claimed_job(struct queue *queue, const char *job_key, const char *owner,
                           char id[QUEUE_ID_MAX])
{
    submit_new(queue, job_key, 0, id);
    struct queue_claim claim;
    claim_ok(queue, owner, &claim);
    cr_assert_str_eq(claim.id, id);
    int64_t epoch = claim.epoch;
    queue_claim_clear(&claim);
    return epoch;
}

Test(queue, complete_after_a_dropped_connection_lands_on_a_retry)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    int64_t epoch = claimed_job(queue, "dropped", "worker-a", id);

    /* The fault is real: a single complete on the dropped connection fails. */
    cr_assert_geq(kill_queue_connections(), 1);
    cr_assert_eq(queue_complete(queue, id, "worker-a", epoch), QUEUE_ERROR);
    cr_assert_eq(get_ok(queue, id).state, QUEUE_JOB_RUNNING);

    cr_assert_geq(kill_queue_connections(), 1);
    int tries = 0;
    int status = queue_complete_until(queue, id, "worker-a", epoch, NULL, 0,
                                      program_monotonic_ms() + 2000, &tries);
    cr_assert_eq(status, QUEUE_OK, "complete: %s", queue_last_error(queue));
    cr_assert_eq(tries, 2, "tries: %d", tries);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_DONE);
    cr_assert_eq(job.epoch, epoch);
    cr_assert_eq(job.attempts, 0);
    queue_close(queue);
}

Test(queue, a_fenced_answer_is_final_and_not_retried)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    int64_t epoch = claimed_job(queue, "fenced", "worker-a", id);

    int64_t started = now_ms();
    int tries = 0;
    cr_assert_eq(queue_complete_until(queue, id, "worker-a", epoch + 1, NULL, 0,
                                      program_monotonic_ms() + 2000, &tries),
                 QUEUE_FENCED);
    cr_assert_eq(tries, 1);
    cr_assert_eq(
        queue_fail_until(queue, id, "worker-b", epoch, "no", program_monotonic_ms() + 2000, &tries),
        QUEUE_FENCED);
    cr_assert_eq(tries, 1);
    cr_assert_eq(
        queue_release_until(queue, id, "worker-b", epoch, program_monotonic_ms() + 2000, &tries),
        QUEUE_FENCED);
    cr_assert_eq(tries, 1);
    cr_assert_lt(now_ms() - started, 1000, "took %lld ms", (long long)(now_ms() - started));
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_eq(job.attempts, 0);
    queue_close(queue);
}

Test(queue, gives_up_by_its_deadline_when_redis_is_gone)
{
    struct queue_config config = test_config();
    config.port = free_port(); /* nothing listens there */
    config.timeout_ms = 200;
    struct queue *queue = open_queue(&config);

    int64_t started = now_ms();
    int tries = 0;
    cr_assert_eq(queue_complete_until(queue, "j1", "worker-a", 1, NULL, 0,
                                      program_monotonic_ms() + 400, &tries),
                 QUEUE_ERROR);
    int64_t took = now_ms() - started;
    cr_assert_geq(tries, 2, "tries: %d", tries);
    /* The last try starts before the deadline and may take a time-out. */
    cr_assert_lt(took, 400 + 200 + 300, "took %lld ms", (long long)took);
    cr_assert_neq(queue_last_error(queue)[0], '\0');

    /* A deadline already past: one try, no wait. */
    started = now_ms();
    cr_assert_eq(
        queue_release_until(queue, "j1", "worker-a", 1, program_monotonic_ms() - 1, &tries),
        QUEUE_ERROR);
    cr_assert_eq(tries, 1);
    cr_assert_lt(now_ms() - started, 300);
    queue_close(queue);
}

Test(queue, a_fail_or_release_repeated_after_it_landed_changes_nothing)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    int64_t epoch = claimed_job(queue, "failed", "worker-a", id);

    /* The retry of a fail whose reply was lost: the first one was applied. */
    cr_assert_eq(queue_fail(queue, id, "worker-a", epoch, "broken"), QUEUE_OK);
    int tries = 0;
    cr_assert_eq(queue_fail_until(queue, id, "worker-a", epoch, "broken",
                                  program_monotonic_ms() + 2000, &tries),
                 QUEUE_FENCED);
    cr_assert_eq(tries, 1);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_eq(job.attempts, 1, "attempts: %d", job.attempts);

    struct queue_claim again;
    claim_ok(queue, "worker-a", &again);
    epoch = again.epoch;
    queue_claim_clear(&again);
    cr_assert_eq(queue_release(queue, id, "worker-a", epoch), QUEUE_OK);
    cr_assert_eq(
        queue_release_until(queue, id, "worker-a", epoch, program_monotonic_ms() + 2000, &tries),
        QUEUE_FENCED);
    job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_eq(job.attempts, 1, "attempts: %d", job.attempts);
    queue_close(queue);
}
