/* hw_check.h -- what the worker outside the pipeline may ask of the
 * hardware: Jellyfin's device check, and which device types this machine
 * opens. Implemented in hw_device.c; no libav type appears here. */
#ifndef FFPOOL_WORKER_HW_CHECK_H
#define FFPOOL_WORKER_HW_CHECK_H

/* `ffpool-worker --device-check ARG...` runs hw_device_check(ARG...). */
#define HW_DEVICE_CHECK_FLAG "--device-check"
/* Device types hw_device_probe() reports at most. */
#define HW_DEVICE_TYPES_MAX 16

/* Jellyfin's device check: creates each argument's device in order with
 * libav logging at verbose level on stderr (fd 2) and prints what
 * `ffmpeg -v verbose -hide_banner -init_hw_device ARG...` prints after that
 * (its usage text, or its three failure lines). Returns the CLI's exit
 * status (1: a line with no output is always an error to ffmpeg). Changes
 * the process's libav log settings, and drivers (Vulkan, OpenCL) start
 * threads: run it in a fresh process of its own (HW_DEVICE_CHECK_FLAG), not
 * in a child forked from a process with threads. */
int hw_device_check(const char *const *args, int count);

/* The hardware device types this machine can open (a default device of
 * each type libav was built with; drm on each /dev/dri node), found in a
 * child process that is given timeout_ms; "v4l2m2m" too when a /dev/video*
 * node exists. only: a comma-separated list of types to try ("" or "auto":
 * every type; "none": none). Writes up to max names into types and returns
 * how many. */
int hw_device_probe(const char *only, char types[][32], int max, int timeout_ms);

#endif
