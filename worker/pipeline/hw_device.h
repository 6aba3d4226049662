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
#include <libavutil/dict.h>
#include <libavutil/hwcontext.h>

#include "hw_check.h"

#define HW_DEVICES_MAX 16
#define HW_DEVICE_NAME_MAX 64

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

/* av_hwdevice_ctx_create(ref, type, device, options, 0), or
 * av_hwdevice_ctx_create_derived from source when source is not NULL. Every
 * device ffpool opens is opened here (see the note on drivers in
 * hw_device.c). */
int hw_device_create(AVBufferRef **ref, enum AVHWDeviceType type, const char *device,
                     AVDictionary *options, AVBufferRef *source);

/* Creates the device one -init_hw_device argument describes and adds it.
 * Returns 0, or an AVERROR with the CLI's sentence in why ("Device creation
 * failed: -22.", "Invalid device specification \"x\": unknown device
 * type"...). */
int hw_devices_add(struct hw_devices *devices, const char *arg, char *why, size_t whylen);

/* Creates a device of type with no options (the CLI's
 * hw_device_init_from_type, which decoders use when no device fits: a
 * default name, device NULL for the type's default) and adds it; *added
 * points at it. Returns 0, or an AVERROR with the CLI's sentence in why. */
int hw_devices_add_default(struct hw_devices *devices, enum AVHWDeviceType type, const char *device,
                           const struct hw_device **added, char *why, size_t whylen);

/* The name the device of an -init_hw_device argument gets (its =NAME, else
 * the default name of its type), or "" when arg names no known type. */
void hw_devices_name_for(const struct hw_devices *devices, const char *arg, char *out,
                         size_t outlen);

/* The device created last, or NULL (the CLI's filter device by default). */
const struct hw_device *hw_devices_last(const struct hw_devices *devices);

/* The device named name, or NULL. */
const struct hw_device *hw_devices_find(const struct hw_devices *devices, const char *name);

/* The one device of type, or NULL when there is none or more than one (as
 * the CLI's hw_device_get_by_type). */
const struct hw_device *hw_devices_find_type(const struct hw_devices *devices,
                                             enum AVHWDeviceType type);

/* Releases every device. */
void hw_devices_free(struct hw_devices *devices);

#endif
