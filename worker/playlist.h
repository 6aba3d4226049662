/* playlist.h -- the HLS playlist a worker writes beside its segments.
 *
 * The worker writes the .m3u8 itself (never libavformat's hls muxer): after
 * a takeover the new owner rebuilds the whole list from the segment
 * durations recorded in Redis, with no #EXT-X-DISCONTINUITY, because the
 * stream did not break. The file is replaced atomically (write + rename), so
 * a reader never sees half a playlist; each writer writes a temporary file
 * of its own, so two never share one. */
#ifndef FFPOOL_WORKER_PLAYLIST_H
#define FFPOOL_WORKER_PLAYLIST_H

#include <stddef.h>
#include <stdint.h>

#include "job_spec.h"

/* Writes the playlist listing segments start_number .. start_number+count-1
 * with durations_us[i] for segment start_number+i (ended adds
 * #EXT-X-ENDLIST) into the file temp, which only this writer uses; the
 * caller puts it in place by renaming it over spec->output (a job does that
 * under its lease: worker/job.c). Returns 0, or -1 with err (temp removed). */
int playlist_write_temp(const struct job_spec *spec, const int64_t *durations_us, int count,
                        int ended, const char *temp, char *err, size_t errlen);

/* The same playlist as text (malloc'd, *len bytes), for a delivered job,
 * whose shim writes it. Returns NULL with err. */
char *playlist_text(const struct job_spec *spec, const int64_t *durations_us, int count, int ended,
                    size_t *len, char *err, size_t errlen);

/* playlist_write_temp into "<spec->output>.tmp", then the rename: for a
 * writer that is sure to be the only one (a benchmark), never for a job,
 * whose former owner may still be writing. Returns 0, or -1 with err. */
int playlist_write(const struct job_spec *spec, const int64_t *durations_us, int count, int ended,
                   char *err, size_t errlen);

#endif
