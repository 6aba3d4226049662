/* defaults.h -- the defaults that more than one module applies, in one place.
 *
 * config.c lists every configuration key with its default (as text, from
 * these); queue.c applies the same values to a zero field of a struct
 * queue_config that did not come from the configuration (tests, tools). */
#ifndef FFPOOL_DEFAULTS_H
#define FFPOOL_DEFAULTS_H

#define FFPOOL_DEFAULT_REDIS_HOST "127.0.0.1"
#define FFPOOL_DEFAULT_REDIS_PORT 6379
#define FFPOOL_DEFAULT_REDIS_TIMEOUT_MS 2000
#define FFPOOL_DEFAULT_MASTER_NAME "ffpool"
/* The lease (see README "Leases and clocks"): a job renews every TTL /
 * FFPOOL_LEASE_RENEW_DIVISOR and stops writing SAFETY_MARGIN before the end
 * of a lease it could not renew. 5 s rides out a 2 s Redis stall (an AOF
 * fsync, a blackholed connection) with a full Redis time-out to spare:
 * 5000 - 500 (margin) - 1000 (interval) = 3500 >= 2000 (redis.timeout_ms),
 * which config_check_lease enforces for every configuration. */
#define FFPOOL_DEFAULT_LEASE_TTL_MS 5000
#define FFPOOL_DEFAULT_LEASE_SAFETY_MARGIN_MS 500
#define FFPOOL_LEASE_RENEW_DIVISOR 5
#define FFPOOL_DEFAULT_MAX_ATTEMPTS 3
/* A lease that lapsed (the worker died, stalled or lost Redis) is not an
 * attempt: it counts in leases_lost, and this many end the job FAILED. */
#define FFPOOL_DEFAULT_MAX_LOST_LEASES 20
#define FFPOOL_DEFAULT_RETENTION_MS 86400000
/* A worker whose Redis connection has been closed this long is dead, and its
 * jobs are taken over without waiting out their leases (queue_presence.c). */
#define FFPOOL_DEFAULT_OWNER_GONE_GRACE_MS 500

/* A number as the text of a default (FFPOOL_DEFAULT_TEXT(X) is "X"'s value). */
#define FFPOOL_DEFAULT_TEXT(x) FFPOOL_DEFAULT_TEXT_(x)
#define FFPOOL_DEFAULT_TEXT_(x) #x

#endif
