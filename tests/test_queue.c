/* test_queue.c -- the queue and lease protocol, against a real redis-server:
 * submit and get, claims and leases (takeover, fencing, checkpoints,
 * release, failures), cancel and heartbeats, waking up, 50 claimers racing
 * for 200 jobs, and the operators' drain and attach. The queue when Redis
 * misbehaves is tested in test_queue_redis.c, routing in
 * test_queue_routing.c; the server, the per-test database and the helpers
 * the three share are in queue_test_lib.h. */
#include "queue.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_test_lib.h"

/* ------------------------------------------------------- submit and get */

Test(queue, submit_is_idempotent_on_job_key)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char first[QUEUE_ID_MAX], again[QUEUE_ID_MAX], other[QUEUE_ID_MAX];
    submit_new(queue, "session-1", 5, first);

    int created = -1;
    cr_assert_eq(queue_submit(queue, "session-1", (const uint8_t *)"x", 1, 5, again, &created),
                 QUEUE_OK);
    cr_assert_eq(created, 0);
    cr_assert_str_eq(again, first);
    submit_new(queue, "session-2", 0, other);
    cr_assert_str_neq(other, first);

    struct queue_job job = get_ok(queue, first);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_eq(job.start_number, 5);
    cr_assert_eq(job.checkpoint, 4);
    cr_assert_eq(job.epoch, 0);
    cr_assert_eq(job.attempts, 0);

    /* Still the same job while it runs. */
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, first);
    cr_assert_eq(queue_submit(queue, "session-1", NULL, 0, 5, again, &created), QUEUE_OK);
    cr_assert_eq(created, 0);
    cr_assert_str_eq(again, first);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, finished_job_with_same_key_creates_a_new_job)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char first[QUEUE_ID_MAX], second[QUEUE_ID_MAX], third[QUEUE_ID_MAX];
    submit_new(queue, "session-1", 0, first);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(queue_complete(queue, claim.id, "worker-a", claim.epoch), QUEUE_OK);
    queue_claim_clear(&claim);

    submit_new(queue, "session-1", 0, second);
    cr_assert_str_neq(second, first);
    cr_assert_eq(get_ok(queue, first).state, QUEUE_JOB_DONE);

    cr_assert_eq(queue_cancel(queue, second), QUEUE_OK);
    submit_new(queue, "session-1", 0, third);
    cr_assert_str_neq(third, second);
    cr_assert_eq(get_ok(queue, second).state, QUEUE_JOB_CANCELLED);
    cr_assert_eq(get_ok(queue, third).state, QUEUE_JOB_QUEUED);
    queue_close(queue);
}

Test(queue, claim_returns_the_spec_bytes_intact)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    uint8_t spec[300];
    for (size_t i = 0; i < sizeof(spec); i++)
        spec[i] = (uint8_t)(i * 7);
    char id[QUEUE_ID_MAX];
    int created = 0;
    cr_assert_eq(queue_submit(queue, NULL, spec, sizeof(spec), 0, id, &created), QUEUE_OK);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(claim.spec_len, sizeof(spec));
    cr_assert_arr_eq(claim.spec, spec, sizeof(spec));
    cr_assert_eq(claim.epoch, 1);
    cr_assert_eq(claim.checkpoint, -1);
    cr_assert_eq(claim.takeover, 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, get_of_unknown_job_is_not_found)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    struct queue_job job;
    cr_assert_eq(queue_get(queue, "j999", &job), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_cancel(queue, "j999"), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_heartbeat(queue, "j999"), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_set_paused(queue, "j999", 1), QUEUE_NOT_FOUND);
    int64_t durations[2];
    cr_assert_eq(queue_segment_durations(queue, "j999", durations, 2, NULL), QUEUE_NOT_FOUND);
    /* A worker call on a job that does not exist is fenced: stop writing. */
    cr_assert_eq(queue_renew(queue, "j999", "worker-a", 1, NULL), QUEUE_FENCED);
    claim_empty(queue, "worker-a");
    queue_close(queue);
}

/* ---------------------------------------------------- claims and leases */

Test(queue, claim_prefers_expired_leases_over_new_jobs)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char old[QUEUE_ID_MAX], older[QUEUE_ID_MAX], fresh[QUEUE_ID_MAX];
    submit_new(queue, "older", 0, older);
    submit_new(queue, "old", 0, old);
    struct queue_claim first, second;
    claim_ok(queue, "worker-a", &first);
    cr_assert_str_eq(first.id, older);
    cr_assert_eq(queue_checkpoint(queue, older, "worker-a", first.epoch, 0, 6000000, 0, NULL, NULL),
                 QUEUE_OK);
    sleep_ms(50);
    claim_ok(queue, "worker-b", &second);
    cr_assert_str_eq(second.id, old);
    submit_new(queue, "fresh", 0, fresh);
    sleep_ms(PAST_SHORT_LEASE_MS);

    /* Both leases expired: the one that expired first comes first, and both
     * come before the new job. */
    struct queue_claim claim;
    claim_ok(queue, "worker-c", &claim);
    cr_assert_str_eq(claim.id, older);
    cr_assert_eq(claim.takeover, 1);
    cr_assert_eq(claim.epoch, 2);
    cr_assert_eq(claim.checkpoint, 0);
    queue_claim_clear(&claim);
    claim_ok(queue, "worker-c", &claim);
    cr_assert_str_eq(claim.id, old);
    cr_assert_eq(claim.takeover, 1);
    queue_claim_clear(&claim);
    claim_ok(queue, "worker-c", &claim);
    cr_assert_str_eq(claim.id, fresh);
    cr_assert_eq(claim.takeover, 0);
    cr_assert_eq(claim.epoch, 1);
    queue_claim_clear(&claim);

    struct queue_job job = get_ok(queue, older);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_str_eq(job.owner, "worker-c");
    cr_assert_eq(job.takeovers, 1);
    cr_assert_eq(job.attempts, 0); /* a lapsed lease is not an attempt */
    cr_assert_eq(job.leases_lost, 1);
    queue_claim_clear(&first);
    queue_claim_clear(&second);
    queue_close(queue);
}

Test(queue, stale_owner_is_fenced_on_renew_checkpoint_complete)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim stale, fresh;
    claim_ok(queue, "worker-a", &stale);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", stale.epoch, 0, 6000000, 0, NULL, NULL),
                 QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", stale.epoch, 1, 6000000, 0, NULL, NULL),
                 QUEUE_OK);
    sleep_ms(PAST_SHORT_LEASE_MS);

    claim_ok(queue, "worker-b", &fresh);
    cr_assert_str_eq(fresh.id, id);
    cr_assert_eq(fresh.epoch, stale.epoch + 1);
    cr_assert_eq(fresh.checkpoint, 1);
    cr_assert_eq(fresh.takeover, 1);

    int paused = -1;
    struct queue_progress progress = {.frames = 99, .out_time_us = 1, .bytes = 1, .speed = 1.0};
    cr_assert_eq(queue_renew(queue, id, "worker-a", stale.epoch, &paused), QUEUE_FENCED);
    cr_assert_eq(paused, -1, "a fenced renew must not report a pause state");
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", stale.epoch, 7, 6000000, 0, NULL, NULL),
                 QUEUE_FENCED);
    cr_assert_eq(queue_report_progress(queue, id, "worker-a", stale.epoch, &progress),
                 QUEUE_FENCED);
    cr_assert_eq(queue_release(queue, id, "worker-a", stale.epoch), QUEUE_FENCED);
    cr_assert_eq(queue_fail(queue, id, "worker-a", stale.epoch, "late"), QUEUE_FENCED);
    cr_assert_eq(queue_complete(queue, id, "worker-a", stale.epoch), QUEUE_FENCED);
    /* The right owner with a wrong epoch is fenced too. */
    cr_assert_eq(queue_renew(queue, id, "worker-b", stale.epoch, NULL), QUEUE_FENCED);

    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_str_eq(job.owner, "worker-b");
    cr_assert_eq(job.epoch, fresh.epoch);
    cr_assert_eq(job.checkpoint, 1, "the stale checkpoint moved it to %d", job.checkpoint);
    cr_assert_eq(job.frames, 0);
    cr_assert_eq(job.attempts, 0);
    cr_assert_eq(job.leases_lost, 1);
    int64_t durations[8];
    cr_assert_eq(queue_segment_durations(queue, id, durations, 8, NULL), QUEUE_OK);
    cr_assert_eq(durations[7], 0, "the stale segment 7 was recorded");

    cr_assert_eq(queue_renew(queue, id, "worker-b", fresh.epoch, NULL), QUEUE_OK);
    cr_assert_eq(queue_complete(queue, id, "worker-b", fresh.epoch), QUEUE_OK);
    /* A repeated completion (a retry after a lost reply) is still OK. */
    cr_assert_eq(queue_complete(queue, id, "worker-b", fresh.epoch), QUEUE_OK);
    cr_assert_eq(get_ok(queue, id).state, QUEUE_JOB_DONE);
    cr_assert_eq(queue_renew(queue, id, "worker-b", fresh.epoch, NULL), QUEUE_FENCED);
    queue_claim_clear(&stale);
    queue_claim_clear(&fresh);
    queue_close(queue);
}

Test(queue, owner_may_renew_an_expired_lease_nobody_took)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    /* The epoch still holds, so nothing can have been written by another. */
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_OK);
    claim_empty(queue, "worker-b");
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, checkpoint_never_moves_backwards)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 3, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(claim.checkpoint, 2);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 5, 5000000, 0, NULL, NULL),
                 QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 3, 3000000, 0, NULL, NULL),
                 QUEUE_OK);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.checkpoint, 5);
    cr_assert_eq(job.progress_version, 2);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 6, 6000000, 0, NULL, NULL),
                 QUEUE_OK);
    cr_assert_eq(get_ok(queue, id).checkpoint, 6);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, segment_durations_rebuild_the_playlist_after_a_takeover)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 10, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    /* The job's first segment carries its fMP4 fragment base. */
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 10, 6000000, 0,
                                  "1:1024:-1024 2:0:0", NULL),
                 QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 11, 6006000, 0, NULL, NULL),
                 QUEUE_OK);
    struct queue_segments segments;
    int64_t durations[5] = {-1, -1, -1, -1, -1};
    cr_assert_eq(queue_segment_durations(queue, id, durations, 5, &segments), QUEUE_OK);
    cr_assert_eq(segments.last_index, -1, "no segment was marked last yet");
    cr_assert_str_eq(segments.fmp4_base, "1:1024:-1024 2:0:0");
    /* The stream's last segment: a run taking over after it has nothing to do. */
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 12, 2500000, 1, NULL, NULL),
                 QUEUE_OK);
    queue_claim_clear(&claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_ok(queue, "worker-b", &claim);
    cr_assert_eq(claim.checkpoint, 12);

    cr_assert_eq(queue_segment_durations(queue, id, durations, 5, &segments), QUEUE_OK);
    cr_assert_eq(segments.last_index, 12, "the last segment is known: %d", segments.last_index);
    cr_assert_str_eq(segments.fmp4_base, "1:1024:-1024 2:0:0",
                     "the base outlives later checkpoints");
    cr_assert_eq(durations[0], 6000000);
    cr_assert_eq(durations[1], 6006000);
    cr_assert_eq(durations[2], 2500000);
    cr_assert_eq(durations[3], 0);
    cr_assert_eq(durations[4], 0);
    /* A base longer than the field is refused before it reaches Redis. */
    char long_base[QUEUE_FMP4_BASE_MAX + 8];
    memset(long_base, '1', sizeof(long_base) - 1);
    long_base[sizeof(long_base) - 1] = '\0';
    cr_assert_eq(
        queue_checkpoint(queue, id, "worker-b", claim.epoch, 12, 2500000, 1, long_base, NULL),
        QUEUE_ERROR);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, release_makes_job_claimable_at_once_without_takeover_count)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char released[QUEUE_ID_MAX], waiting[QUEUE_ID_MAX];
    submit_new(queue, "first", 0, released);
    submit_new(queue, "second", 0, waiting);
    struct queue_claim draining, next;
    claim_ok(queue, "worker-a", &draining);
    cr_assert_str_eq(draining.id, released);
    cr_assert_eq(queue_checkpoint(queue, released, "worker-a", draining.epoch, 4, 1, 0, NULL, NULL),
                 QUEUE_OK);
    cr_assert_eq(queue_release(queue, released, "worker-a", draining.epoch), QUEUE_OK);

    /* Long lease (30 s), yet the released job is claimable now, ahead of the
     * job that has waited in the queue. */
    claim_ok(queue, "worker-b", &next);
    cr_assert_str_eq(next.id, released);
    cr_assert_eq(next.takeover, 0);
    cr_assert_eq(next.epoch, draining.epoch + 1);
    cr_assert_eq(next.checkpoint, 4);
    struct queue_job job = get_ok(queue, released);
    cr_assert_eq(job.takeovers, 0);
    cr_assert_eq(job.attempts, 0);
    cr_assert_str_eq(job.owner, "worker-b");

    cr_assert_eq(queue_renew(queue, released, "worker-a", draining.epoch, NULL), QUEUE_FENCED);
    cr_assert_eq(queue_checkpoint(queue, released, "worker-a", draining.epoch, 9, 1, 0, NULL, NULL),
                 QUEUE_FENCED);
    cr_assert_eq(get_ok(queue, released).checkpoint, 4);
    queue_claim_clear(&draining);
    queue_claim_clear(&next);
    queue_close(queue);
}

Test(queue, fail_requeues_until_max_attempts_then_fails_with_error)
{
    struct queue_config config = test_config();
    config.max_attempts = 3;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX], other[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    for (int attempt = 1; attempt <= 3; attempt++) {
        struct queue_claim claim;
        claim_ok(queue, "worker-a", &claim);
        cr_assert_str_eq(claim.id, id);
        cr_assert_eq(claim.epoch, attempt);
        cr_assert_eq(claim.takeover, 0);
        if (attempt == 1)
            submit_new(queue, "other", 0, other); /* a requeued job goes first */
        char error[64];
        snprintf(error, sizeof(error), "decoder crashed (%d)", attempt);
        cr_assert_eq(queue_fail(queue, id, "worker-a", claim.epoch, error), QUEUE_OK);
        cr_assert_eq(queue_fail(queue, id, "worker-a", claim.epoch, "twice"), QUEUE_FENCED);
        struct queue_job job = get_ok(queue, id);
        cr_assert_eq(job.attempts, attempt);
        cr_assert_str_eq(job.error, error);
        cr_assert_eq(job.state, attempt < 3 ? QUEUE_JOB_QUEUED : QUEUE_JOB_FAILED);
        queue_claim_clear(&claim);
    }
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, other);
    queue_claim_clear(&claim);
    claim_empty(queue, "worker-a");
    queue_close(queue);
}

/* A lapsed lease is not the job's fault (its worker died, stalled or lost
 * Redis): it costs no attempt, only a lost lease, and max_lost_leases of
 * them end the job FAILED with an error naming that bound. */
Test(queue, lost_leases_are_not_attempts_and_are_bounded_apart)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    config.max_attempts = 2;
    config.max_lost_leases = 3;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "poison", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    queue_claim_clear(&claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_ok(queue, "worker-b", &claim);
    cr_assert_eq(claim.takeover, 1);
    queue_claim_clear(&claim);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.attempts, 0, "a lapsed lease is not an attempt");
    cr_assert_eq(job.leases_lost, 1);
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_ok(queue, "worker-c", &claim); /* past max_attempts lost leases: still runs */
    queue_claim_clear(&claim);
    job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_eq(job.attempts, 0);
    cr_assert_eq(job.leases_lost, 2);
    sleep_ms(PAST_SHORT_LEASE_MS);

    claim_empty(queue, "worker-d");
    job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_FAILED);
    cr_assert_eq(job.attempts, 0);
    cr_assert_eq(job.leases_lost, 3);
    cr_assert_str_eq(job.error, "the job lost its worker 3 times (lease.max_lost_leases)");
    queue_close(queue);
}

/* Failures of the job itself still count as attempts beside lost leases. */
Test(queue, failures_and_lost_leases_are_counted_apart)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    config.max_attempts = 2;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "mixed", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    queue_claim_clear(&claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_ok(queue, "worker-b", &claim);
    cr_assert_eq(queue_fail(queue, id, "worker-b", claim.epoch, "decoder error"), QUEUE_OK);
    queue_claim_clear(&claim);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_eq(job.attempts, 1);
    cr_assert_eq(job.leases_lost, 1);
    claim_ok(queue, "worker-c", &claim);
    cr_assert_eq(queue_fail(queue, id, "worker-c", claim.epoch, "decoder error"), QUEUE_OK);
    queue_claim_clear(&claim);
    job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_FAILED);
    cr_assert_eq(job.attempts, 2);
    cr_assert_str_eq(job.error, "decoder error");
    queue_close(queue);
}

/* ------------------------------------------------ cancel and heartbeats */

Test(queue, cancel_stops_owner)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char running[QUEUE_ID_MAX], waiting[QUEUE_ID_MAX];
    submit_new(queue, "running", 0, running);
    submit_new(queue, "waiting", 0, waiting);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, running);

    cr_assert_eq(queue_cancel(queue, running), QUEUE_OK);
    cr_assert_eq(queue_renew(queue, running, "worker-a", claim.epoch, NULL), QUEUE_CANCELLED);
    cr_assert_eq(queue_checkpoint(queue, running, "worker-a", claim.epoch, 0, 1, 0, NULL, NULL),
                 QUEUE_CANCELLED);
    cr_assert_eq(queue_complete(queue, running, "worker-a", claim.epoch), QUEUE_CANCELLED);
    cr_assert_eq(get_ok(queue, running).state, QUEUE_JOB_CANCELLED);

    cr_assert_eq(queue_cancel(queue, waiting), QUEUE_OK);
    cr_assert_eq(queue_cancel(queue, waiting), QUEUE_OK, "cancel is idempotent");
    cr_assert_eq(get_ok(queue, waiting).state, QUEUE_JOB_CANCELLED);
    claim_empty(queue, "worker-b");
    cr_assert_eq(admin_integer("LLEN ffpool:queue"), 0);
    cr_assert_eq(admin_integer("ZCARD ffpool:leases"), 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, heartbeat_lapse_cancels)
{
    struct queue_config config = test_config();
    config.heartbeat_ttl_ms = 300;
    struct queue *client = open_queue(&config);
    struct queue *worker = open_queue(&config);
    char running[QUEUE_ID_MAX], waiting[QUEUE_ID_MAX];
    submit_new(client, "running", 0, running);
    struct queue_claim claim;
    claim_ok(worker, "worker-a", &claim);

    /* Heartbeats keep the job alive well past one TTL. */
    for (int i = 0; i < 4; i++) {
        sleep_ms(150);
        cr_assert_eq(queue_heartbeat(client, running), QUEUE_OK);
        cr_assert_eq(queue_renew(worker, running, "worker-a", claim.epoch, NULL), QUEUE_OK);
    }
    sleep_ms(450);
    cr_assert_eq(queue_renew(worker, running, "worker-a", claim.epoch, NULL), QUEUE_CANCELLED);
    struct queue_job job = get_ok(client, running);
    cr_assert_eq(job.state, QUEUE_JOB_CANCELLED);
    cr_assert_str_eq(job.error, "the client stopped sending heartbeats");
    cr_assert_eq(queue_heartbeat(client, running), QUEUE_CANCELLED, "a lapse is final");

    /* A queued job whose client vanished is never handed out. */
    submit_new(client, "waiting", 0, waiting);
    sleep_ms(450);
    claim_empty(worker, "worker-a");
    cr_assert_eq(get_ok(client, waiting).state, QUEUE_JOB_CANCELLED);
    queue_claim_clear(&claim);
    queue_close(client);
    queue_close(worker);
}

Test(queue, progress_and_pause_reach_the_other_side)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    struct queue_progress progress = {.frames = 1234,
                                      .out_time_us = 51200000,
                                      .start_us = 48000000,
                                      .bytes = 987654321,
                                      .speed = 3.25};
    cr_assert_eq(queue_report_progress(queue, id, "worker-a", claim.epoch, &progress), QUEUE_OK);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.frames, 1234);
    cr_assert_eq(job.out_time_us, 51200000);
    cr_assert_eq(job.start_us, 48000000);
    cr_assert_eq(job.bytes, 987654321);
    cr_assert_float_eq(job.speed, 3.25, 1e-9);
    cr_assert_eq(job.progress_version, 1);

    int paused = -1;
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, &paused), QUEUE_OK);
    cr_assert_eq(paused, 0);
    cr_assert_eq(queue_set_paused(queue, id, 1), QUEUE_OK);
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, &paused), QUEUE_OK);
    cr_assert_eq(paused, 1);
    cr_assert_eq(get_ok(queue, id).paused, 1);
    /* A checkpoint carries the pause too: it holds at the next segment. */
    paused = -1;
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 3000000, 0, NULL, &paused),
                 QUEUE_OK);
    cr_assert_eq(paused, 1);
    cr_assert_eq(queue_set_paused(queue, id, 0), QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 1, 3000000, 0, NULL, &paused),
                 QUEUE_OK);
    cr_assert_eq(paused, 0);
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, &paused), QUEUE_OK);
    cr_assert_eq(paused, 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, finished_jobs_expire_after_retention)
{
    struct queue_config config = test_config();
    config.retention_ms = 60000;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(admin_integer("PTTL ffpool:job:%s", id), -1, "a live job must not expire");
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 1, 0, NULL, NULL),
                 QUEUE_OK);
    cr_assert_eq(queue_complete(queue, id, "worker-a", claim.epoch), QUEUE_OK);
    long long ttl = admin_integer("PTTL ffpool:job:%s", id);
    cr_assert(ttl > 50000 && ttl <= 60000, "job PTTL %lld", ttl);
    ttl = admin_integer("PTTL ffpool:job:%s:segments", id);
    cr_assert(ttl > 50000 && ttl <= 60000, "segments PTTL %lld", ttl);
    ttl = admin_integer("PTTL ffpool:jobkey:session");
    cr_assert(ttl > 50000 && ttl <= 60000, "jobkey PTTL %lld", ttl);
    cr_assert_eq(admin_integer("ZCARD ffpool:leases"), 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

/* ----------------------------------------------------------- waking up */

static void *submit_later(void *arg)
{
    const struct queue_config *config = arg;
    struct queue *queue = queue_open(config);
    sleep_ms(200);
    char id[QUEUE_ID_MAX];
    int created;
    int status = queue_submit(queue, "late", NULL, 0, 0, id, &created);
    queue_close(queue);
    return (void *)(intptr_t)status;
}

Test(queue, wait_wakes_on_submit_and_times_out_when_idle)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);

    int64_t start = now_ms();
    cr_assert_eq(queue_wait(queue, 300), QUEUE_OK, "%s", queue_last_error(queue));
    int64_t waited = now_ms() - start;
    cr_assert(waited >= 250 && waited < 1500, "idle wait took %lld ms", (long long)waited);

    /* A block longer than the command time-out must not trip it. */
    config.timeout_ms = 100;
    struct queue *short_timeout = open_queue(&config);
    cr_assert_eq(queue_wait(short_timeout, 400), QUEUE_OK, "%s", queue_last_error(short_timeout));
    queue_close(short_timeout);

    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, submit_later, &config), 0);
    start = now_ms();
    cr_assert_eq(queue_wait(queue, 5000), QUEUE_OK);
    waited = now_ms() - start;
    void *status;
    pthread_join(thread, &status);
    cr_assert_eq((int)(intptr_t)status, QUEUE_OK);
    cr_assert(waited >= 100 && waited < 2000, "woken after %lld ms", (long long)waited);
    cr_assert(admin_integer("LLEN ffpool:wake") <= 16, "the wake list must stay short");
    queue_close(queue);
}

Test(queue, wake_list_stays_short)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    for (int i = 0; i < 100; i++) {
        char id[QUEUE_ID_MAX];
        int created;
        cr_assert_eq(queue_submit(queue, NULL, NULL, 0, 0, id, &created), QUEUE_OK);
    }
    cr_assert_leq(admin_integer("LLEN ffpool:wake"), 16);
    queue_close(queue);
}

/* ------------------------------------------------------------- the race */

#define RACE_CLAIMERS 50
#define RACE_JOBS 200

struct race {
    struct queue_config config;
    pthread_barrier_t start;
    char ids[RACE_JOBS][QUEUE_ID_MAX];
    int claims[RACE_JOBS];
    int completions[RACE_JOBS];
    int errors;
};

struct racer {
    struct race *race;
    int number;
};

static int race_index(const struct race *race, const char *id)
{
    for (int i = 0; i < RACE_JOBS; i++)
        if (strcmp(race->ids[i], id) == 0)
            return i;
    return -1;
}

static void *race_claimer(void *arg)
{
    struct racer *racer = arg;
    struct race *race = racer->race;
    char owner[32];
    snprintf(owner, sizeof(owner), "racer-%d", racer->number);
    struct queue *queue = queue_open(&race->config);
    pthread_barrier_wait(&race->start);
    for (;;) {
        struct queue_claim claim;
        int status = queue_claim(queue, owner, &claim);
        if (status == QUEUE_EMPTY)
            break;
        int index = status == QUEUE_OK ? race_index(race, claim.id) : -1;
        if (index < 0) {
            __atomic_fetch_add(&race->errors, 1, __ATOMIC_SEQ_CST);
            queue_claim_clear(&claim);
            break;
        }
        __atomic_fetch_add(&race->claims[index], 1, __ATOMIC_SEQ_CST);
        if (queue_complete(queue, claim.id, owner, claim.epoch) == QUEUE_OK)
            __atomic_fetch_add(&race->completions[index], 1, __ATOMIC_SEQ_CST);
        else
            __atomic_fetch_add(&race->errors, 1, __ATOMIC_SEQ_CST);
        queue_claim_clear(&claim);
    }
    queue_close(queue);
    return NULL;
}

Test(queue, race_50_claimers_200_jobs_each_completed_exactly_once)
{
    struct race *race = calloc(1, sizeof(*race));
    cr_assert_not_null(race);
    race->config = test_config();
    struct queue *queue = open_queue(&race->config);
    for (int i = 0; i < RACE_JOBS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "race-%d", i);
        submit_new(queue, key, 0, race->ids[i]);
    }
    pthread_barrier_init(&race->start, NULL, RACE_CLAIMERS);
    pthread_t threads[RACE_CLAIMERS];
    struct racer racers[RACE_CLAIMERS];
    for (int i = 0; i < RACE_CLAIMERS; i++) {
        racers[i] = (struct racer){.race = race, .number = i};
        cr_assert_eq(pthread_create(&threads[i], NULL, race_claimer, &racers[i]), 0);
    }
    for (int i = 0; i < RACE_CLAIMERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&race->start);

    cr_assert_eq(race->errors, 0);
    for (int i = 0; i < RACE_JOBS; i++) {
        cr_assert_eq(race->claims[i], 1, "job %s claimed %d times", race->ids[i], race->claims[i]);
        cr_assert_eq(race->completions[i], 1, "job %s completed %d times", race->ids[i],
                     race->completions[i]);
        struct queue_job job = get_ok(queue, race->ids[i]);
        cr_assert_eq(job.state, QUEUE_JOB_DONE);
        cr_assert_eq(job.epoch, 1);
        cr_assert_eq(job.takeovers, 0);
        cr_assert(strncmp(job.owner, "racer-", 6) == 0);
    }
    cr_assert_eq(admin_integer("LLEN ffpool:queue"), 0);
    cr_assert_eq(admin_integer("ZCARD ffpool:leases"), 0);
    queue_close(queue);
    free(race);
}

/* ---------------------------------------------- operators: drain, attach */

Test(queue, drain_request_reaches_the_worker_in_its_next_announcement)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    int need_caps = -1, drain = -1;
    cr_assert_eq(queue_worker_request_drain(queue, "worker-d"), QUEUE_NOT_FOUND,
                 "a worker that never announced itself cannot be drained");
    cr_assert_eq(queue_worker_announce(queue, "worker-d", 5000, 1, 0, 0, (const uint8_t *)"c", 1,
                                       &need_caps, &drain),
                 QUEUE_OK, "%s", queue_last_error(queue));
    cr_assert_eq(need_caps, 0);
    cr_assert_eq(drain, 0);
    cr_assert_eq(queue_worker_request_drain(queue, "worker-d"), QUEUE_OK, "%s",
                 queue_last_error(queue));
    cr_assert_eq(
        queue_worker_announce(queue, "worker-d", 5000, 1, 0, 0, NULL, 0, &need_caps, &drain),
        QUEUE_OK);
    cr_assert_eq(drain, 1);
    cr_assert_eq(need_caps, 0, "the stored capabilities are kept");
    /* Another worker is not affected. */
    cr_assert_eq(
        queue_worker_announce(queue, "worker-e", 5000, 1, 0, 0, NULL, 0, &need_caps, &drain),
        QUEUE_OK);
    cr_assert_eq(drain, 0);
    cr_assert_eq(need_caps, 1, "a new worker is asked for its capabilities");
    queue_close(queue);
}

Test(queue, job_find_returns_the_job_a_key_created)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX], found[QUEUE_ID_MAX];
    submit_new(queue, "session-find", 0, id);
    cr_assert_eq(queue_job_find(queue, "session-find", found), QUEUE_OK, "%s",
                 queue_last_error(queue));
    cr_assert_str_eq(found, id);
    cr_assert_eq(queue_job_find(queue, "no-such-key", found), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_job_find(queue, "", found), QUEUE_ERROR);
    queue_close(queue);
}
