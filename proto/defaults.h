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
#define FFPOOL_DEFAULT_LEASE_TTL_MS 3000
#define FFPOOL_DEFAULT_MAX_ATTEMPTS 3
#define FFPOOL_DEFAULT_RETENTION_MS 86400000
/* A worker whose Redis connection has been closed this long is dead, and its
 * jobs are taken over without waiting out their leases (queue_presence.c). */
#define FFPOOL_DEFAULT_OWNER_GONE_GRACE_MS 500

/* A number as the text of a default (FFPOOL_DEFAULT_TEXT(X) is "X"'s value). */
#define FFPOOL_DEFAULT_TEXT(x) FFPOOL_DEFAULT_TEXT_(x)
#define FFPOOL_DEFAULT_TEXT_(x) #x

#endif
