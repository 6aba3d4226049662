/* confine.h -- where a job may read and write.
 *
 * The scheduler refuses a job whose input does not resolve (symlinks
 * followed, `..` collapsed) under one of paths.media_roots, or whose outputs
 * (the playlist or file, the segment pattern's directory, the fMP4 init
 * file) do not resolve under paths.transcode_root. Outputs need not exist
 * yet: the nearest existing ancestor is resolved and the rest is appended,
 * with `..` refused in the part that does not exist.
 *
 * An empty media_roots turns input confinement off and an empty
 * transcode_root turns output confinement off (the defaults: a pool on one
 * machine trusts its one client). Confinement checks the paths as the
 * scheduler sees them, so the scheduler must mount the media and transcode
 * folders at the same paths as the workers; it is a gate at submission, not
 * a sandbox (a symlink swapped in after the check is the workers' concern).
 *
 * Pure functions over the file system: no Redis, no sockets. */
#ifndef FFPOOL_SCHEDULER_CONFINE_H
#define FFPOOL_SCHEDULER_CONFINE_H

#include <stddef.h>

#include "job_spec.h"

/* Resolves path to an absolute path without symlinks into out. A path that
 * does not exist (when must_exist is 0) resolves through its nearest
 * existing ancestor. Returns 0, or -1 with a sentence in err. */
int confine_path_resolve(const char *path, int must_exist, char *out, size_t outlen, char *err,
                         size_t errlen);

/* Returns 1 if the resolved path lies under one of the comma-separated
 * roots (each resolved in turn; one that does not exist is skipped), 0 if
 * not, -1 with err if no root resolves at all. */
int confine_path_under(const char *resolved, const char *roots, char *err, size_t errlen);

/* Checks every path of a validated job. Returns 0, or -1 with a sentence a
 * person can act on in err. */
int confine_job_check(const struct job_spec *spec, const char *media_roots,
                      const char *transcode_root, char *err, size_t errlen);

#endif
