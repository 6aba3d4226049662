/* test_queue_presence.c -- a dead worker noticed by its closed connection
 * (proto/queue_presence.c, proto/lua/reap.lua), against the shared
 * redis-server (queue_test_lib.h).
 *
 * A worker's presence is a real connection named after it; its death is
 * the server seeing that connection closed (queue_close here, as a process
 * exit closes it). The leases are 30 s long, so that only the presence
 * check can end one within the test. */
#include "queue.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "queue_test_lib.h"

#define GRACE_MS 300
#define INTERVAL_MS 1 /* every look takes the turn: the tests pace them */

/* Opens owner's presence connection and makes sure Redis has it. */
static struct queue *presence_open(const char *owner)
{
    struct queue_config config = test_config();
    cr_assert_eq(queue_presence_name(owner, config.client_name, sizeof(config.client_name)), 0);
    struct queue *queue = open_queue(&config);
    cr_assert_eq(queue_presence_hold(queue, owner, 10), QUEUE_OK, "%s", queue_last_error(queue));
    return queue;
}

/* One look by reaper; returns how many leases it ended (into *reaped). */
static int reap(struct queue *reaper, struct queue_reaped *reaped)
{
    sleep_ms(INTERVAL_MS + 1);
    int count = -1;
    int status = queue_presence_reap(reaper, "reaper", INTERVAL_MS, GRACE_MS, reaped, 4, &count);
    cr_assert_eq(status, QUEUE_OK, "reap: %s", queue_last_error(reaper));
    return count;
}

/* Closes owner's presence connection from the server's side, as a proxy or
 * CLIENT KILL would. Returns how many it closed. */
static int kill_presence(const char *owner)
{
    char name[QUEUE_OWNER_MAX + 32], field[QUEUE_OWNER_MAX + 40];
    cr_assert_eq(queue_presence_name(owner, name, sizeof(name)), 0);
    snprintf(field, sizeof(field), " name=%s ", name);
    redisReply *list = admin_command("CLIENT LIST");
    cr_assert_eq(list->type, REDIS_REPLY_STRING);
    int killed = 0;
    for (char *line = list->str; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        long long id = -1;
        if (strstr(line, field) != NULL && sscanf(line, "id=%lld ", &id) == 1)
            killed += (int)admin_integer("CLIENT KILL ID %lld", id);
        line = end != NULL ? end + 1 : NULL;
    }
    freeReplyObject(list);
    return killed;
}

Test(queue, a_closed_presence_connection_ends_the_lease_after_the_grace)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    struct queue *presence = presence_open("pw-dies");
    char id[QUEUE_ID_MAX];
    submit_new(queue, "k-dies", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "pw-dies", &claim);
    queue_claim_clear(&claim);

    struct queue_reaped reaped[4];
    cr_assert_eq(reap(queue, reaped), 0, "the owner is connected: nothing ends");
    queue_close(presence); /* the worker dies */
    sleep_ms(20);
    cr_assert_eq(reap(queue, reaped), 0, "the first look that misses it only notes the time");
    sleep_ms(GRACE_MS / 2);
    cr_assert_eq(reap(queue, reaped), 0, "half the grace: still nothing");
    sleep_ms(GRACE_MS / 2 + 50);
    cr_assert_eq(reap(queue, reaped), 1, "past the grace the lease ends");
    cr_assert_str_eq(reaped[0].id, id);
    cr_assert_str_eq(reaped[0].owner, "pw-dies");
    cr_assert_geq(reaped[0].gone_ms, GRACE_MS);

    /* Another worker takes it over now, not in 30 s. */
    struct queue_claim next;
    claim_ok(queue, "pw-lives", &next);
    cr_assert_str_eq(next.id, id);
    cr_assert_eq(next.takeover, 1);
    cr_assert_eq(next.epoch, 2);
    queue_claim_clear(&next);
    queue_close(queue);
}

Test(queue, a_connection_reopened_within_the_grace_is_not_a_death)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    struct queue *presence = presence_open("pw-blip");
    char id[QUEUE_ID_MAX];
    submit_new(queue, "k-blip", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "pw-blip", &claim);
    int64_t epoch = claim.epoch;
    queue_claim_clear(&claim);

    struct queue_reaped reaped[4];
    cr_assert_eq(reap(queue, reaped), 0);
    cr_assert_eq(kill_presence("pw-blip"), 1);
    cr_assert_eq(reap(queue, reaped), 0, "a look during the blip notes it");
    /* The worker's blocked call fails at once and the next one reconnects. */
    cr_assert_eq(queue_presence_hold(presence, "pw-blip", 10), QUEUE_ERROR);
    cr_assert_eq(queue_presence_hold(presence, "pw-blip", 10), QUEUE_OK, "%s",
                 queue_last_error(presence));
    sleep_ms(GRACE_MS + 50);
    cr_assert_eq(reap(queue, reaped), 0, "back within the grace: nothing ends");
    sleep_ms(GRACE_MS + 50);
    cr_assert_eq(reap(queue, reaped), 0, "and the blip is forgotten");
    claim_empty(queue, "pw-other");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.epoch, epoch);
    cr_assert_str_eq(job.owner, "pw-blip");
    cr_assert_eq(job.takeovers, 0);
    queue_close(presence);
    queue_close(queue);
}

Test(queue, a_worker_never_seen_connected_here_is_left_to_its_lease)
{
    /* No presence connection at all (a worker of an older version, or one
     * that has not reconnected since a failover): nothing marks it gone. */
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "k-unseen", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "pw-unseen", &claim);
    queue_claim_clear(&claim);
    struct queue_reaped reaped[4];
    cr_assert_eq(reap(queue, reaped), 0);
    sleep_ms(GRACE_MS + 50);
    cr_assert_eq(reap(queue, reaped), 0);
    claim_empty(queue, "pw-other");
    queue_close(queue);
}

Test(queue, a_live_owner_declared_gone_keeps_its_job_by_renewing_first)
{
    /* A false alarm costs nothing if the owner renews before anyone claims:
     * ending the lease moves its deadline, not its owner or epoch. */
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    struct queue *presence = presence_open("pw-alive");
    char id[QUEUE_ID_MAX];
    submit_new(queue, "k-alive", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "pw-alive", &claim);
    int64_t epoch = claim.epoch;
    queue_claim_clear(&claim);
    struct queue_reaped reaped[4];
    cr_assert_eq(reap(queue, reaped), 0);
    queue_close(presence);
    cr_assert_eq(reap(queue, reaped), 0);
    sleep_ms(GRACE_MS + 50);
    cr_assert_eq(reap(queue, reaped), 1);
    int paused = -1;
    cr_assert_eq(queue_renew(queue, id, "pw-alive", epoch, &paused), QUEUE_OK);
    claim_empty(queue, "pw-other");
    queue_close(queue);
}

Test(queue, only_one_worker_looks_per_interval)
{
    struct queue_config config = test_config();
    struct queue *a = open_queue(&config), *b = open_queue(&config);
    struct queue_reaped reaped[4];
    int count = -1;
    cr_assert_eq(queue_presence_reap(a, "pw-a", 60000, GRACE_MS, reaped, 4, &count), QUEUE_OK);
    /* The turn: "<until_ms> <owner>" (proto/lua/presence_turn.lua). */
    redisReply *turn = admin_command("GET ffpool:reaper");
    cr_assert_eq(turn->type, REDIS_REPLY_STRING);
    cr_assert(strstr(turn->str, " pw-a") != NULL, "turn: %s", turn->str);
    freeReplyObject(turn);
    cr_assert_eq(queue_presence_reap(b, "pw-b", 60000, GRACE_MS, reaped, 4, &count), QUEUE_OK);
    turn = admin_command("GET ffpool:reaper");
    cr_assert(strstr(turn->str, " pw-a") != NULL, "the turn stays with the first until it ends");
    freeReplyObject(turn);
    queue_close(a);
    queue_close(b);
}

Test(queue, a_presence_name_is_one_word)
{
    char name[64];
    cr_assert_eq(queue_presence_name("node 1\tx", name, sizeof(name)), 0);
    cr_assert_str_eq(name, "ffpool-worker:node_1_x");
    cr_assert_eq(queue_presence_name("", name, sizeof(name)), -1);
    char small[16];
    cr_assert_eq(queue_presence_name("a-rather-long-worker-id", small, sizeof(small)), -1);
}
