/* test_queue_bounds.c -- what keeps the pool from going on for ever: the
 * job listing in Redis (which runs with noeviction, deploy/k8s: a full
 * Redis refuses every write, renewals and checkpoints included, and every
 * stream stops), and a job that no worker can even start.
 * Against the shared redis-server (queue_test_lib.h). */
#include "queue.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "queue_test_lib.h"

Test(queue, the_job_listing_forgets_expired_jobs_as_new_ones_come)
{
    /* 100 jobs whose records have expired, listed long ago: the listing's
     * own pruning looks only at the newest, so only submits can drop them. */
    for (int i = 0; i < 100; i++)
        admin_ok("ZADD ffpool:jobs %d j%d-old", 1000 + i, i);
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX], live_id[QUEUE_ID_MAX];
    submit_new(queue, "still-running", 0, live_id);
    for (int i = 0; i < 13; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        submit_new(queue, key, 0, id);
    }
    long long listed = admin_integer("ZCARD ffpool:jobs");
    cr_assert_eq(listed, 14, "%lld ids listed: only the 14 live jobs should be", listed);
    redisReply *score = admin_command("ZSCORE ffpool:jobs %s", live_id);
    cr_assert_eq(score->type, REDIS_REPLY_STRING, "a live job left the listing");
    freeReplyObject(score);
    queue_close(queue);
}

Test(queue, a_job_no_worker_can_start_fails_after_its_bound)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "unstartable", 0, id);
    /* A plain release (a drain) never counts. */
    struct queue_claim claim;
    claim_ok(queue, "w-drain", &claim);
    cr_assert_eq(queue_release(queue, id, "w-drain", claim.epoch), QUEUE_OK);
    queue_claim_clear(&claim);
    for (int i = 1; i <= QUEUE_MAX_START_FAILURES; i++) {
        claim_ok(queue, "w-start", &claim);
        cr_assert_str_eq(claim.id, id);
        cr_assert_eq(queue_release_unstarted_until(queue, id, "w-start", claim.epoch,
                                                   "fork: Cannot allocate memory", now_ms() + 1000,
                                                   NULL),
                     QUEUE_OK, "%s", queue_last_error(queue));
        queue_claim_clear(&claim);
        struct queue_job job = get_ok(queue, id);
        cr_assert_eq(job.attempts, 0, "a job that never ran used no attempt");
        if (i < QUEUE_MAX_START_FAILURES)
            cr_assert_eq(job.state, QUEUE_JOB_QUEUED, "hand-back %d", i);
        else
            cr_assert_eq(job.state, QUEUE_JOB_FAILED);
    }
    struct queue_job job = get_ok(queue, id);
    cr_assert(strstr(job.error, "no worker could start the job") != NULL, "%s", job.error);
    cr_assert(strstr(job.error, "fork: Cannot allocate memory") != NULL, "%s", job.error);
    claim_empty(queue, "w-start");
    queue_close(queue);
}
