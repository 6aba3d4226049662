/* presence.c -- the worker's presence thread; see presence.h.
 *
 * The loop: block in the presence call for one interval (Redis sees the
 * named connection open; a close is seen at once and the next pass
 * reconnects), then take the pool's turn at looking for dead workers when
 * it is free. The interval is a fifth of the grace, at most
 * PRESENCE_INTERVAL_MAX_MS: a death is then noticed between grace and
 * grace + 2 intervals after it (the look that first misses the worker, and
 * the one grace later that ends its leases). */
#include "presence.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "program.h"

#define PRESENCE_INTERVAL_MAX_MS 100
#define PRESENCE_INTERVAL_MIN_MS 10
/* While Redis is unreachable, how often the thread tries again (the queue's
 * own back-off paces the connection attempts). */
#define PRESENCE_RETRY_MS 20
#define PRESENCE_REAPED_MAX 32

struct presence {
    struct queue *queue;
    char owner[QUEUE_OWNER_MAX];
    int64_t grace_ms;
    int64_t interval_ms;
    atomic_int stop;
    pthread_t thread;
};

/* Logs a failure the first time it happens, and the recovery. */
static void presence_note(struct presence *p, int ok, int *down)
{
    if (!ok && !*down)
        log_warn("presence_unavailable", "worker=%s error=%s", p->owner,
                 log_quote(queue_last_error(p->queue)));
    else if (ok && *down)
        log_info("presence_available", "worker=%s", p->owner);
    *down = !ok;
}

static void *presence_main(void *opaque)
{
    struct presence *p = opaque;
    int down = 0;
    while (!atomic_load(&p->stop)) {
        if (queue_presence_hold(p->queue, p->owner, (int)p->interval_ms) != QUEUE_OK) {
            presence_note(p, 0, &down);
            usleep(PRESENCE_RETRY_MS * 1000);
            continue;
        }
        struct queue_reaped reaped[PRESENCE_REAPED_MAX];
        int count = 0;
        int status = queue_presence_reap(p->queue, p->owner, p->interval_ms, p->grace_ms, reaped,
                                         PRESENCE_REAPED_MAX, &count);
        presence_note(p, status == QUEUE_OK, &down);
        for (int i = 0; i < count; i++)
            log_info("owner_gone", "job=%s owner=%s gone_ms=%lld by=%s", reaped[i].id,
                     reaped[i].owner, (long long)reaped[i].gone_ms, p->owner);
    }
    return NULL;
}

struct presence *presence_start(const struct queue_config *config, const char *owner,
                                int64_t grace_ms, char *err, size_t errlen)
{
    struct queue_config named = *config;
    if (queue_presence_name(owner, named.client_name, sizeof(named.client_name)) != 0) {
        snprintf(err, errlen, "worker id '%s' cannot name a Redis connection", owner);
        return NULL;
    }
    struct presence *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->queue = queue_open(&named)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(p);
        return NULL;
    }
    snprintf(p->owner, sizeof(p->owner), "%s", owner);
    p->grace_ms = grace_ms;
    p->interval_ms = grace_ms / 5;
    if (p->interval_ms > PRESENCE_INTERVAL_MAX_MS)
        p->interval_ms = PRESENCE_INTERVAL_MAX_MS;
    if (p->interval_ms < PRESENCE_INTERVAL_MIN_MS)
        p->interval_ms = PRESENCE_INTERVAL_MIN_MS;
    int rc = pthread_create(&p->thread, NULL, presence_main, p);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the presence thread: %s", strerror(rc));
        queue_close(p->queue);
        free(p);
        return NULL;
    }
    return p;
}

void presence_stop(struct presence *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    queue_close(p->queue);
    free(p);
}
