/* offers.h -- what the pool's live workers can do, asked of the scheduler
 * (its Capabilities request), for the start-up probes and for the lines
 * the shim sends to the pool only when a worker can run them.
 *
 * A hardware line names devices (device:vaapi...) that only some workers
 * have, or none. Under shim.no_pool_policy=fallback such a line runs on the
 * local ffmpeg, as before the pool, when no live worker has them; the same
 * goes for Jellyfin's device checks, whose answer must describe the
 * hardware that will really run its lines. */
#ifndef FFPOOL_SHIM_OFFERS_H
#define FFPOOL_SHIM_OFFERS_H

#include <stddef.h>

#include "config.h"
#include "ffpool.pb-c.h"

/* One try at the pool lasts at most this long (or scheduler.timeout_ms if
 * shorter). */
#define OFFERS_TRY_TIMEOUT_MS 2000
/* Pause between tries while waiting for the pool. */
#define OFFERS_RETRY_MS 250

/* 1 when a Capabilities reply holds any worker's capabilities. */
int offers_reply_has_caps(const Ffpool__Reply *reply);

/* Asks the scheduler(s) for the live workers' capabilities, trying again
 * until wait_ms has passed (a single try of OFFERS_TRY_TIMEOUT_MS when 0).
 * Returns a reply with capabilities (free with
 * ffpool__reply__free_unpacked), or NULL with a sentence in err. */
Ffpool__Reply *offers_fetch(const struct ffpool_config *config, long long wait_ms, char *err,
                            size_t errlen);

/* Whether one live worker that is not draining offers every word of
 * requires (routing words, space-separated). Returns 1, or 0 with a
 * sentence in why ("no live worker offers device:vaapi"), or -1 with why
 * when the reply cannot be read. */
int offers_can_run(const Ffpool__Reply *reply, const char *requires, char *why, size_t whylen);

#endif
