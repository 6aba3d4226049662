/* fetch.h -- the shim's side of a delivered job (shim.delivery "shim",
 * worker/delivery.h): a thread that fetches each segment from the job
 * process that owns the job and writes it into Jellyfin's folder under a
 * temporary name, renames it into place, writes the playlist that lists
 * it, and only then asks for the next one, which acknowledges it. The
 * session's status polls tell it which owner to follow. */
#ifndef FFPOOL_SHIM_FETCH_H
#define FFPOOL_SHIM_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job_spec.h"

struct shim_fetch;

/* Starts the thread for job_id; jellyfin_spec gives the paths as Jellyfin
 * sees them. Returns NULL if the thread cannot start. */
struct shim_fetch *shim_fetch_start(const struct ffpool_config *config,
                                    const struct job_spec *jellyfin_spec, const char *job_id);

/* The job's owner as the last status said (epoch, delivery address). */
void shim_fetch_follow(struct shim_fetch *fetch, int64_t epoch, const char *address);

/* The highest segment index in Jellyfin's folder, start_number - 1 if none. */
int shim_fetch_written(struct shim_fetch *fetch);

/* Why the thread gave up (a write into Jellyfin's folder kept failing: a
 * full disk, a folder gone), or NULL while it has not. */
const char *shim_fetch_failed(struct shim_fetch *fetch);

/* Stops the thread (waits for its call in progress) and frees it. Returns
 * 1 if it had given up (shim_fetch_failed, copied into why), else 0. */
int shim_fetch_stop(struct shim_fetch *fetch, char *why, size_t whylen);

#endif
