/* caps_cache.h -- what the shim remembers about the pool from one run to
 * the next: the pool's last capabilities, and when the pool last failed to
 * give them.
 *
 * Jellyfin asks "ffmpeg" what it can do once, at start-up, in about 21
 * separate processes, and keeps the answers for its whole life. Each probe
 * is a new shim, so what one learned must be on disk for the next:
 *
 *   - the cache file holds the last Capabilities reply the pool gave, so
 *     that a probe while the pool is unreachable still answers what the
 *     pool will run (not what the local ffmpeg would);
 *   - a note beside it (PATH.down) says when the pool last gave nothing,
 *     so that the probes right after it do not each wait for it again.
 *
 * Both name the scheduler URL they are about (a record about another URL
 * counts as absent) and are replaced atomically: a temporary file in the
 * same folder, then rename(2), so a reader sees a whole old file or a whole
 * new one. This module only touches files: no network, no logging. */
#ifndef FFPOOL_SHIM_CAPS_CACHE_H
#define FFPOOL_SHIM_CAPS_CACHE_H

#include <stddef.h>

#include "ffpool.pb-c.h"

/* The cache's file name beside the shim, and inside a cache folder. */
#define CAPS_CACHE_BESIDE_NAME "ffpool-caps.cache"
#define CAPS_CACHE_FOLDER_NAME "caps.cache"

/* Picks the cache file of a shim started as argv0: ffpool-caps.cache in
 * argv0's folder when that folder is writable, else caps.cache in
 * $XDG_CACHE_HOME/ffpool, $HOME/.cache/ffpool or /tmp/ffpool-UID (the
 * first that exists or can be made; a /tmp folder must be ours, a real
 * folder and private). Returns 0, or -1 with err when none will do. */
int caps_cache_default_path(const char *argv0, char *out, size_t outlen, char *err, size_t errlen);

/* 1 when the folder of path takes new files (the cache and the note can
 * be written there), else 0. */
int caps_cache_writable(const char *path);

/* Stores reply, a Capabilities reply from the scheduler(s) at url, at
 * path. A file that holds exactly this already is only touched (its time
 * is when the pool last confirmed it). Returns 0, or -1 with err. */
int caps_cache_save(const char *path, const char *url, const Ffpool__Reply *reply, char *err,
                    size_t errlen);

/* Reads the reply stored for url. Returns it (free with
 * ffpool__reply__free_unpacked) and, when age_ms is not NULL, how long ago
 * the pool last confirmed it; or NULL with err: no file, a file about
 * another url, or one that does not decode. */
Ffpool__Reply *caps_cache_load(const char *path, const char *url, long long *age_ms, char *err,
                               size_t errlen);

/* Notes that the pool at url gave no capabilities at now_ms (milliseconds
 * of the wall clock). Returns 0, or -1 with err. */
int caps_cache_note_down(const char *path, const char *url, long long now_ms, char *err,
                         size_t errlen);

/* Returns 1 when a note says the pool at url gave nothing less than
 * window_ms before now_ms (its age then goes to *age_ms if not NULL), else
 * 0. A note from the future (the clock was set back) does not count. */
int caps_cache_down_recently(const char *path, const char *url, long long window_ms,
                             long long now_ms, long long *age_ms);

/* Removes the note if it is about url: that pool has answered. */
void caps_cache_clear_down(const char *path, const char *url);

#endif
