/* presence.h -- the worker's presence in Redis, and its share of noticing
 * the workers that died.
 *
 * A thread of the worker process holds one Redis connection named after the
 * worker for as long as the worker lives (proto/queue_presence.c says how a
 * closed one is told from a slow one) and, when its turn comes, ends the
 * leases of workers whose connection has closed, so their streams move to
 * a live worker at once instead of when the lease runs out. Job processes
 * hold no presence of their own: they die with their worker (the
 * supervisor sets PR_SET_PDEATHSIG), and a job process that dies alone is
 * handed back by its worker at once (worker/supervisor.c). */
#ifndef FFPOOL_PRESENCE_H
#define FFPOOL_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

struct presence;

/* Starts the thread for worker owner, whose jobs are declared lost when
 * another worker has seen its connection gone for grace_ms. Returns NULL
 * with err set if it cannot start (owner too long, out of memory, no
 * thread). */
struct presence *presence_start(const struct queue_config *config, const char *owner,
                                int64_t grace_ms, char *err, size_t errlen);

/* Stops the thread and closes the connection (Redis then sees the worker
 * gone: call it only when the worker holds no lease). NULL is ignored. */
void presence_stop(struct presence *presence);

#endif
