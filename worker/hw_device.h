/* hw_device.h -- hardware devices as the ffmpeg 5.1 CLI creates them.
 *
 * A job's `-init_hw_device` arguments are created in order with the CLI's
 * own grammar and names (fftools/ffmpeg_hw.c hw_device_init_from_string):
 *
 *   TYPE[=NAME][:DEVICE[,key=value...]]   av_hwdevice_ctx_create
 *   TYPE[=NAME][,key=value...]            (options, no device string)
 *   TYPE[=NAME]@SOURCE                    av_hwdevice_ctx_create_derived from
 *                                         the device named SOURCE
 *
 * A device without =NAME gets "<type><n>", the lowest n not in use. The
 * consumers find them as the CLI does: by name (-filter_hw_device,
 * -hwaccel_device, @SOURCE), by type when exactly one device has it
 * (decoders and encoders), and the last one created for filters.
 *
 * hw_device_check() is Jellyfin's device check (`-v verbose -hide_banner
 * -init_hw_device ...` with no input and no output): it prints on stderr
 * what the CLI prints and returns its exit status. hw_device_probe() finds
 * the device types this machine can really open, in a child process so
 * that a driver that crashes or hangs costs nothing but the probe.
 *
 * Errors are reported as the CLI's own sentences (also logged with
 * av_log at AV_LOG_ERROR, where the CLI logs them). */
#ifndef FFPOOL_WORKER_HW_DEVICE_H
#define FFPOOL_WORKER_HW_DEVICE_H

#include <stddef.h>

#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>

#define HW_DEVICES_MAX 16
/* `ffpool-worker --device-check ARG...` runs hw_device_check(ARG...). */
#define HW_DEVICE_CHECK_FLAG "--device-check"
#define HW_DEVICE_NAME_MAX 64
/* Device types hw_device_probe() reports at most. */
#define HW_DEVICE_TYPES_MAX 16

struct hw_device {
    char name[HW_DEVICE_NAME_MAX];
    enum AVHWDeviceType type;
    AVBufferRef *ref; /* AVHWDeviceContext */
};

/* The devices of one job, in the order they were created. */
struct hw_devices {
    struct hw_device list[HW_DEVICES_MAX];
    int count;
};

/* Creates the device one -init_hw_device argument describes and adds it.
 * Returns 0, or an AVERROR with the CLI's sentence in why ("Device creation
 * failed: -22.", "Invalid device specification \"x\": unknown device
 * type"...). */
int hw_devices_add(struct hw_devices *devices, const char *arg, char *why, size_t whylen);

/* The device named name, or NULL. */
const struct hw_device *hw_devices_find(const struct hw_devices *devices, const char *name);

/* The one device of type, or NULL when there is none or more than one (as
 * the CLI's hw_device_get_by_type). */
const struct hw_device *hw_devices_find_type(const struct hw_devices *devices,
                                             enum AVHWDeviceType type);

/* Releases every device. */
void hw_devices_free(struct hw_devices *devices);

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
