/* device_check.h -- runs Jellyfin's device check for a job.
 *
 * A device-check job (JOB_OUTPUT_DEVICE_CHECK) has no input and no output:
 * Jellyfin runs `ffmpeg -v verbose -hide_banner -init_hw_device ...` to
 * learn which driver a GPU has, reads the stderr and ignores the rest. The
 * job process runs the check in a fresh process of the worker's binary
 * (`ffpool-worker --device-check ARG...`, hw_device.h) with the driver
 * environment Jellyfin set (spec->environment), and keeps what it printed
 * on stderr and its exit status as the job's result. */
#ifndef FFPOOL_WORKER_DEVICE_CHECK_H
#define FFPOOL_WORKER_DEVICE_CHECK_H

#include <stddef.h>

#include "job_spec.h"

/* Runs the check spec describes, giving it timeout_ms. Returns 0 with the
 * check's stderr in a malloc'd *output (at most output_max - 1 bytes; the
 * caller frees it) and its exit status in *status, or -1 with a sentence in
 * err when the check could not be run (or ran out of time). */
int device_check_run(const struct job_spec *spec, int timeout_ms, size_t output_max, char **output,
                     int *status, char *err, size_t errlen);

#endif
