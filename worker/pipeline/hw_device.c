/* hw_device.c -- hardware devices as the ffmpeg 5.1 CLI creates them; see
 * hw_device.h. The grammar, the default names and every message follow
 * fftools/ffmpeg_hw.c and fftools/cmdutils.c of FFmpeg 5.1, so that a job
 * gets the devices the CLI would give it and a device check prints what the
 * CLI prints. */
#include "hw_device.h"

#include <errno.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FFPOOL_LSAN 1
#endif
#elif defined(__SANITIZE_ADDRESS__)
#define FFPOOL_LSAN 1
#endif
#ifdef FFPOOL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

int hw_device_create(AVBufferRef **ref, enum AVHWDeviceType type, const char *device,
                     AVDictionary *options, AVBufferRef *source)
{
#ifdef FFPOOL_LSAN
    /* Mesa's lavapipe allocates a block once per process while the loader
     * enumerates devices (a pthread_once in the driver) and keeps it in its
     * own globals. Freeing the last Vulkan device unloads the driver, so the
     * block loses its only reference and LeakSanitizer reports it from a
     * module it can no longer name, which no suppression can match. What is
     * allocated here is libav's and the driver's, never ffpool's. */
    __lsan_disable();
#endif
    int err = source != NULL ? av_hwdevice_ctx_create_derived(ref, type, source, 0)
                             : av_hwdevice_ctx_create(ref, type, device, options, 0);
#ifdef FFPOOL_LSAN
    __lsan_enable();
#endif
    return err;
}

const struct hw_device *hw_devices_find(const struct hw_devices *devices, const char *name)
{
    for (int i = 0; i < devices->count; i++)
        if (strcmp(devices->list[i].name, name) == 0)
            return &devices->list[i];
    return NULL;
}

const struct hw_device *hw_devices_find_type(const struct hw_devices *devices,
                                             enum AVHWDeviceType type)
{
    const struct hw_device *found = NULL;
    for (int i = 0; i < devices->count; i++) {
        if (devices->list[i].type != type)
            continue;
        if (found != NULL)
            return NULL;
        found = &devices->list[i];
    }
    return found;
}

/* "<type><n>" with the lowest n no device uses (hw_device_default_name). */
static void hw_device_default_name(const struct hw_devices *devices, enum AVHWDeviceType type,
                                   char *out, size_t outlen)
{
    for (int index = 0; index < 1000; index++) {
        snprintf(out, outlen, "%s%d", av_hwdevice_get_type_name(type), index);
        if (hw_devices_find(devices, out) == NULL)
            return;
    }
}

/* The CLI's "Invalid device specification" error. */
static int hw_device_invalid(const char *arg, const char *what, char *why, size_t whylen)
{
    av_log(NULL, AV_LOG_ERROR, "Invalid device specification \"%s\": %s\n", arg, what);
    snprintf(why, whylen, "Invalid device specification \"%s\": %s", arg, what);
    return AVERROR(EINVAL);
}

int hw_devices_add(struct hw_devices *devices, const char *arg, char *why, size_t whylen)
{
    char type_name[64], name[HW_DEVICE_NAME_MAX], device[1024];
    AVDictionary *options = NULL;
    AVBufferRef *ref = NULL;
    int err;

    if (devices->count == HW_DEVICES_MAX)
        return hw_device_invalid(arg, "too many devices", why, whylen);
    size_t k = strcspn(arg, ":=@");
    snprintf(type_name, sizeof(type_name), "%.*s", (int)(k < 63 ? k : 63), arg);
    enum AVHWDeviceType type = av_hwdevice_find_type_by_name(type_name);
    if (type == AV_HWDEVICE_TYPE_NONE)
        return hw_device_invalid(arg, "unknown device type", why, whylen);
    const char *p = arg + k;
    if (*p == '=') {
        size_t n = strcspn(p + 1, ":@,");
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) - 1 ? n : sizeof(name) - 1),
                 p + 1);
        if (hw_devices_find(devices, name) != NULL)
            return hw_device_invalid(arg, "named device already exists", why, whylen);
        p += 1 + n;
    } else {
        hw_device_default_name(devices, type, name, sizeof(name));
    }

    if (*p == '\0') {
        err = hw_device_create(&ref, type, NULL, NULL, NULL);
    } else if (*p == ':' || *p == ',') {
        const char *start = *p == ':' ? p + 1 : p;
        const char *comma = strchr(start, ',');
        size_t n = comma != NULL ? (size_t)(comma - start) : strlen(start);
        snprintf(device, sizeof(device), "%.*s",
                 (int)(n < sizeof(device) - 1 ? n : sizeof(device) - 1), start);
        if (comma != NULL && av_dict_parse_string(&options, comma + 1, "=", ",", 0) < 0) {
            av_dict_free(&options);
            return hw_device_invalid(arg, "failed to parse options", why, whylen);
        }
        err = hw_device_create(&ref, type, device[0] != '\0' ? device : NULL, options, NULL);
        av_dict_free(&options);
    } else if (*p == '@') {
        const struct hw_device *source = hw_devices_find(devices, p + 1);
        if (source == NULL)
            return hw_device_invalid(arg, "invalid source device name", why, whylen);
        err = hw_device_create(&ref, type, NULL, NULL, source->ref);
    } else {
        return hw_device_invalid(arg, "parse error", why, whylen);
    }
    if (err < 0) {
        av_log(NULL, AV_LOG_ERROR, "Device creation failed: %d.\n", err);
        snprintf(why, whylen, "Device creation failed: %d.", err);
        av_buffer_unref(&ref);
        return err;
    }
    struct hw_device *added = &devices->list[devices->count++];
    snprintf(added->name, sizeof(added->name), "%s", name);
    added->type = type;
    added->ref = ref;
    return 0;
}

int hw_devices_add_default(struct hw_devices *devices, enum AVHWDeviceType type, const char *device,
                           const struct hw_device **added, char *why, size_t whylen)
{
    char name[HW_DEVICE_NAME_MAX];
    AVBufferRef *ref = NULL;
    *added = NULL;
    if (devices->count == HW_DEVICES_MAX) {
        snprintf(why, whylen, "too many devices");
        return AVERROR(ENOMEM);
    }
    hw_device_default_name(devices, type, name, sizeof(name));
    int err = hw_device_create(&ref, type, device, NULL, NULL);
    if (err < 0) {
        av_log(NULL, AV_LOG_ERROR, "Device creation failed: %d.\n", err);
        snprintf(why, whylen, "Device creation failed: %d.", err);
        av_buffer_unref(&ref);
        return err;
    }
    struct hw_device *dev = &devices->list[devices->count++];
    snprintf(dev->name, sizeof(dev->name), "%s", name);
    dev->type = type;
    dev->ref = ref;
    *added = dev;
    return 0;
}

void hw_devices_name_for(const struct hw_devices *devices, const char *arg, char *out,
                         size_t outlen)
{
    char type_name[64];
    size_t k = strcspn(arg, ":=@");
    snprintf(type_name, sizeof(type_name), "%.*s", (int)(k < 63 ? k : 63), arg);
    enum AVHWDeviceType type = av_hwdevice_find_type_by_name(type_name);
    if (outlen > 0)
        out[0] = '\0';
    if (type == AV_HWDEVICE_TYPE_NONE)
        return;
    if (arg[k] == '=') {
        size_t n = strcspn(arg + k + 1, ":@,");
        snprintf(out, outlen, "%.*s", (int)n, arg + k + 1);
    } else {
        hw_device_default_name(devices, type, out, outlen);
    }
}

const struct hw_device *hw_devices_last(const struct hw_devices *devices)
{
    return devices->count > 0 ? &devices->list[devices->count - 1] : NULL;
}

void hw_devices_free(struct hw_devices *devices)
{
    for (int i = 0; i < devices->count; i++)
        av_buffer_unref(&devices->list[i].ref);
    devices->count = 0;
}

int hw_device_check(const char *const *args, int count)
{
    struct hw_devices devices = {0};
    char why[512];
    av_log_set_flags(AV_LOG_SKIP_REPEATED);
    av_log_set_level(AV_LOG_VERBOSE);
    for (int i = 0; i < count; i++) {
        int err = hw_devices_add(&devices, args[i], why, sizeof(why));
        if (err < 0) {
            /* cmdutils.c write_option, then ffmpeg_opt.c ffmpeg_parse_options. */
            av_log(NULL, AV_LOG_ERROR, "Failed to set value '%s' for option '%s': %s\n", args[i],
                   "init_hw_device", av_err2str(err));
            av_log(NULL, AV_LOG_FATAL, "Error parsing global options: %s\n", av_err2str(err));
            hw_devices_free(&devices);
            return 1;
        }
    }
    /* No input and no output: ffmpeg.c main prints show_usage() and fails. */
    av_log(NULL, AV_LOG_INFO, "Hyper fast Audio and Video encoder\n");
    av_log(NULL, AV_LOG_INFO,
           "usage: %s [options] [[infile options] -i infile]... {[outfile options] outfile}...\n",
           "ffmpeg");
    av_log(NULL, AV_LOG_INFO, "\n");
    av_log(NULL, AV_LOG_WARNING, "Use -h to get full help or, even better, run 'man %s'\n",
           "ffmpeg");
    hw_devices_free(&devices);
    return 1;
}

/* ---- finding the devices this machine opens --------------------------------- */

/* Whether type is one of only's comma-separated names ("" or "auto": all). */
static int hw_device_wanted(const char *only, const char *type)
{
    if (only == NULL || only[0] == '\0' || strcmp(only, "auto") == 0)
        return 1;
    size_t n = strlen(type);
    for (const char *p = only; *p != '\0';) {
        size_t k = strcspn(p, ", ");
        if (k == n && strncmp(p, type, n) == 0)
            return 1;
        p += k;
        p += strspn(p, ", ");
    }
    return 0;
}

/* In the probing child: tries each type, writes the names that open to fd. */
static void hw_device_probe_child(const char *only, int fd)
{
    av_log_set_level(AV_LOG_QUIET);
    for (enum AVHWDeviceType type = AV_HWDEVICE_TYPE_NONE;
         (type = av_hwdevice_iterate_types(type)) != AV_HWDEVICE_TYPE_NONE;) {
        const char *name = av_hwdevice_get_type_name(type);
        if (!hw_device_wanted(only, name))
            continue;
        int opened = 0;
        AVBufferRef *ref = NULL;
        if (type == AV_HWDEVICE_TYPE_DRM) {
            /* DRM has no default device: any render or primary node. */
            glob_t nodes;
            if (glob("/dev/dri/*", 0, NULL, &nodes) == 0) {
                for (size_t i = 0; i < nodes.gl_pathc && !opened; i++) {
                    opened = hw_device_create(&ref, type, nodes.gl_pathv[i], NULL, NULL) >= 0;
                    av_buffer_unref(&ref);
                }
                globfree(&nodes);
            }
        } else {
            opened = hw_device_create(&ref, type, NULL, NULL, NULL) >= 0;
            av_buffer_unref(&ref);
        }
        if (opened) {
            char line[40];
            int n = snprintf(line, sizeof(line), "%s\n", name);
            if (write(fd, line, (size_t)n) != n)
                return;
        }
    }
}

int hw_device_probe(const char *only, char types[][32], int max, int timeout_ms)
{
    int count = 0;
    if (only != NULL && strcmp(only, "none") == 0)
        return 0;
    int fds[2];
    if (pipe(fds) != 0)
        return 0;
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (child == 0) {
        close(fds[0]);
        hw_device_probe_child(only, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    char text[1024];
    size_t used = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed =
            (long)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms)
            break;
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        if (poll(&pfd, 1, (int)(timeout_ms - elapsed)) <= 0)
            break;
        ssize_t n = read(fds[0], text + used, sizeof(text) - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == sizeof(text) - 1)
            break;
    }
    close(fds[0]);
    kill(child, SIGKILL); /* a probe that hangs in a driver ends here */
    waitpid(child, NULL, 0);
    /* Only whole lines count: a child killed mid-write said nothing. */
    while (used > 0 && text[used - 1] != '\n')
        used--;
    text[used] = '\0';
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL && count < max;
         line = strtok_r(NULL, "\n", &save))
        snprintf(types[count++], 32, "%s", line);
    glob_t video;
    if (count < max && hw_device_wanted(only, "v4l2m2m") &&
        glob("/dev/video*", 0, NULL, &video) == 0) {
        snprintf(types[count++], 32, "v4l2m2m");
        globfree(&video);
    }
    return count;
}
