/* session.h -- one native job of the shim, from submit to exit.
 *
 * shim_run_job() submits (or attaches to) the job and behaves as the ffmpeg
 * process Jellyfin thinks it started: progress lines on stderr, q on stdin
 * and SIGTERM/SIGINT end it within a second (the cancel is sent behind it
 * by shim_cancel_run() in a detached process), p/u pause and resume, an
 * empty placeholder for segment N+1 as soon as N is published, and the exit
 * status of ffmpeg. A device check job prints nothing but its result: the
 * stderr and exit status the CLI had on the worker. */
#ifndef FFPOOL_SHIM_SESSION_H
#define FFPOOL_SHIM_SESSION_H

#include "config.h"
#include "job_spec.h"

/* Runs a native job: spec as the workers see it, jellyfin_spec with
 * Jellyfin's own paths (for the placeholders), argv as Jellyfin gave it (it
 * names the job and travels with it). Returns the exit status; q and the
 * signals end the process from the key thread instead of returning. */
int shim_run_job(const struct ffpool_config *config, const struct job_spec *spec,
                 const struct job_spec *jellyfin_spec, int argc, char **argv);

/* Copies into spec->environment (replacing it) the variables of envp
 * ("NAME=value", e.g. environ) that job_spec_environment_allowed() accepts:
 * the driver settings Jellyfin put in its own environment for its ffmpeg
 * (LIBVA_DRIVER_NAME=i965, AMD_DEBUG=noefc...), which a worker's driver must
 * see too. A name set twice counts once, as getenv() reads it. Returns how
 * many were copied, or -1 with a sentence in err when they do not fit the
 * field or a value holds a newline: the job would run with other driver
 * settings than Jellyfin asked for. */
int shim_environment_forward(struct job_spec *spec, char *const *envp, char *err, size_t errlen);

/* `ffpool-shim --cancel-job ID`: what a stopped shim leaves behind. Sends
 * the cancel, retrying while no scheduler answers for at most the job's
 * heartbeat TTL. Returns the exit status. */
int shim_cancel_run(const struct ffpool_config *config, const char *job_id);

#endif
