/* test_queue_bounds.c -- what keeps the pool's Redis from growing without
 * end. It runs with noeviction (deploy/k8s): a full Redis refuses every
 * write, renewals and checkpoints included, and every stream stops.
 * Against the shared redis-server (queue_test_lib.h). */
#include "queue.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>

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
