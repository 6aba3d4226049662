/* argv_hardware.c -- the hardware options of an ffmpeg command line:
 * devices, hardware decoding, and the options of the hardware encoders,
 * read as the ffmpeg 5.1 CLI reads them (fftools/ffmpeg_opt.c,
 * ffmpeg_hw.c). Their handlers sit in argv_options.c's option table; the
 * job carries the values as written and the worker applies them with the
 * CLI's semantics.
 *
 * What every ffmpeg rejects is refused, as the CLI refuses it: a
 * -filter_hw_device naming no device defined before it, a second one, a
 * device name used twice, a derived device's unknown source, device options
 * that do not parse. What only libav 5.1 lacks (a device type, hwaccel or
 * flag of a later ffmpeg, e.g. Jellyfin's -hwaccel_flags +unsafe_output or
 * -sei -a53_cc for ffmpeg 6 and later) goes to the local ffmpeg, which may
 * be newer: it runs the line or prints the real error. So does hardware no
 * Linux worker has (VideoToolbox, DXVA2, D3D11VA, MediaCodec...).
 *
 * Never allocates, never logs, never touches the file system. */
#include "argv_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The option's name as libav knows it: "-forced-idr" -> "forced-idr",
 * "-flags:v" -> "flags". */
static void option_key(const char *opt, char *out, size_t outlen)
{
    const char *name = opt[0] == '-' ? opt + 1 : opt;
    snprintf(out, outlen, "%.*s", (int)strcspn(name, ":"), name);
}

/* Whether a device of that name is defined so far. */
static int hw_device_defined(const struct argv_parse *p, const char *name, size_t len)
{
    for (int i = 0; i < p->hw_device_count; i++)
        if (strlen(p->hw_device_names[i]) == len && strncmp(p->hw_device_names[i], name, len) == 0)
            return 1;
    return 0;
}

/* Checks device options "k=v,k=v" as av_dict_parse_string(&d, s, "=", ",",
 * 0) reads them: every pair needs a key and a value. Returns 1 if they
 * parse, 0 if not, -1 for quotes, escapes or empty pairs, which
 * av_get_token reads in ways this does not follow. */
static int hw_device_options_check(const char *options)
{
    const char *s = options;
    if (strpbrk(s, "'\\ \t") != NULL)
        return -1;
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        const char *equals = memchr(s, '=', n);
        if (n == 0)
            return -1;
        if (equals == NULL || equals == s || equals + 1 == s + n)
            return 0;
        s += n;
        if (*s == ',')
            s++;
    }
    return 1;
}

/* Records the device an -init_hw_device argument creates
 * (hw_device_init_from_string): TYPE[=NAME][:DEVICE[,OPTIONS]],
 * TYPE[=NAME][,OPTIONS] or TYPE[=NAME]@SOURCE, named NAME or, without one,
 * TYPE followed by the lowest number no device has ("vaapi0"). */
static void hw_device_add(struct argv_parse *p, const char *opt, const char *arg)
{
    struct job_spec *spec = p->spec;
    if (p->hw_devices_untracked)
        return; /* the line already goes to the local ffmpeg */
    if (strlen(arg) >= sizeof(spec->hw_devices[0])) {
        parse_block(p, RANK_FEATURE, "value of %.64s too long for the job spec", opt);
        p->hw_devices_untracked = 1;
        return;
    }
    if (p->hw_device_count == JOB_SPEC_HW_DEVICES_MAX) {
        parse_block(p, RANK_FEATURE, "more than %d hardware devices not native",
                    JOB_SPEC_HW_DEVICES_MAX);
        p->hw_devices_untracked = 1;
        return;
    }
    char type[JOB_SPEC_SHORT_MAX], name[JOB_SPEC_SHORT_MAX];
    size_t k = strcspn(arg, ":=@");
    snprintf(type, sizeof(type), "%.*s", (int)k, arg);
    const char *rest = arg + k;
    if (!name_is_hwdevice_type(type)) {
        /* The CLI's "unknown device type"; a later ffmpeg may know it
         * (jellyfin-ffmpeg's rkmpp, d3d12va...). */
        parse_block(p, RANK_HARDWARE_OPTION, "hardware device type %.32s unknown to libav 5.1",
                    type);
        p->hw_devices_untracked = 1;
        return;
    }
    if (!name_is_worker_hwdevice_type(type))
        parse_block(p, RANK_HARDWARE_OPTION, "hardware device type %.32s runs on no Linux worker",
                    type);
    if (*rest == '=') {
        size_t n = strcspn(rest + 1, ":@,");
        snprintf(name, sizeof(name), "%.*s", (int)n, rest + 1);
        rest += 1 + n;
        if (hw_device_defined(p, name, strlen(name))) {
            parse_refuse(p, "Invalid device specification \"%.64s\": named device already exists",
                         arg);
            return;
        }
    } else {
        for (int index = 0;; index++) {
            snprintf(name, sizeof(name), "%s%d", type, index);
            if (!hw_device_defined(p, name, strlen(name)))
                break;
        }
    }
    int options = 1;
    if (*rest == '@' && !hw_device_defined(p, rest + 1, strlen(rest + 1))) {
        parse_refuse(p, "Invalid device specification \"%.64s\": invalid source device name", arg);
        return;
    }
    if (*rest == ':' && strchr(rest, ',') != NULL)
        options = hw_device_options_check(strchr(rest, ',') + 1);
    else if (*rest == ',')
        options = hw_device_options_check(rest + 1);
    if (options == 0) {
        parse_refuse(p, "Invalid device specification \"%.64s\": failed to parse options", arg);
        return;
    }
    if (options < 0) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.64s'", opt, arg);
        p->hw_devices_untracked = 1;
        return;
    }
    memcpy(p->hw_device_names[p->hw_device_count++], name, strlen(name) + 1);
    memcpy(spec->hw_devices[spec->n_hw_devices++], arg, strlen(arg) + 1);
}

void on_init_hw_device(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "list") == 0) {
        /* The CLI prints the device types it was built with and exits. */
        parse_block(p, RANK_FEATURE, "-init_hw_device list prints the device types");
        return;
    }
    hw_device_add(p, opt, value);
}

/* -vaapi_device DEV and -qsv_device DEV: the CLI's shorthands for
 * -init_hw_device vaapi:DEV and qsv=__qsv_device:hw_any,child_device=DEV. */
void on_device_shorthand(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    char arg[JOB_SPEC_SHORT_MAX * 2];
    int n = strcmp(opt, "-vaapi_device") == 0
                ? snprintf(arg, sizeof(arg), "vaapi:%s", value)
                : snprintf(arg, sizeof(arg), "qsv=__qsv_device:hw_any,child_device=%s", value);
    if (n < 0 || (size_t)n >= sizeof(arg)) {
        parse_block(p, RANK_FEATURE, "value of %.64s too long for the job spec", opt);
        p->hw_devices_untracked = 1;
        return;
    }
    hw_device_add(p, opt, arg);
}

/* -filter_hw_device NAME: the device every filter gets. The CLI looks the
 * name up when it reads the option (a global option, applied in order), so
 * the device must be defined before it. */
void on_filter_hw_device(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->filter_hw_device_given) {
        parse_refuse(p, "-filter_hw_device given twice (ffmpeg: Only one filter device can be "
                        "used.)");
        return;
    }
    p->filter_hw_device_given = 1;
    if (!p->hw_devices_untracked && !hw_device_defined(p, value, strlen(value))) {
        parse_refuse(p,
                     "-filter_hw_device %.64s names no device defined before it (ffmpeg: "
                     "Invalid filter device %.64s.)",
                     value, value);
        return;
    }
    parse_store(p, opt, p->spec->filter_hw_device, sizeof(p->spec->filter_hw_device), value);
}

/* -hwaccel TYPE|auto|none (nvdec and cuvid are the CLI's names for cuda):
 * the decoder's hardware, kept as written. */
void on_hwaccel(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    const char *type = value;
    if (strcmp(value, "nvdec") == 0 || strcmp(value, "cuvid") == 0)
        type = "cuda";
    if (strcmp(type, "none") != 0 && strcmp(type, "auto") != 0) {
        if (!name_is_hwdevice_type(type))
            /* The CLI's "Unrecognized hwaccel". */
            parse_block(p, RANK_HARDWARE_OPTION, "-hwaccel %.32s unknown to libav 5.1", value);
        else if (!name_is_worker_hwdevice_type(type))
            parse_block(p, RANK_HARDWARE_OPTION, "-hwaccel %.32s runs on no Linux worker", value);
    }
    parse_store(p, opt, p->spec->hwaccel, sizeof(p->spec->hwaccel), value);
}

/* -hwaccel_device and -hwaccel_output_format: kept as written. An empty
 * value means something to the CLI that "not given" does not. */
void on_hwaccel_string(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (value[0] == '\0') {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value ''", opt);
        return;
    }
    if (strncmp(opt, "-hwaccel_device", 15) == 0)
        parse_store(p, opt, p->spec->hwaccel_device, sizeof(p->spec->hwaccel_device), value);
    else
        parse_store(p, opt, p->spec->hwaccel_output_format, sizeof(p->spec->hwaccel_output_format),
                    value);
}

/* -hwaccel_flags before -i: a decoder option, whose 5.1 constants are
 * ignore_level, allow_high_depth and allow_profile_mismatch (unsafe_output
 * and low_priority came later: the 5.1 decoder fails to open). */
void on_hwaccel_flags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const flags[] = {"ignore_level", "allow_high_depth",
                                        "allow_profile_mismatch", NULL};
    char unknown[64];
    enum value_status status = value_check_flags(value, flags, unknown, sizeof(unknown));
    if (status == VALUE_RANGE)
        parse_block(p, RANK_HARDWARE_OPTION, "-hwaccel_flags %.32s unknown to libav 5.1", unknown);
    else if (status != VALUE_OK)
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    parse_store(p, opt, p->spec->hwaccel_flags, sizeof(p->spec->hwaccel_flags), value);
}

/* -extra_hw_frames N before -i: the decoder's extra surfaces (-1 to
 * INT_MAX). */
void on_extra_hw_frames(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, -1, INT_MAX, &v) == 0)
        p->spec->extra_hw_frames = (int)v;
}

static void encoder_option_set(struct argv_parse *p, const char *opt, const char *key,
                               const char *value)
{
    parse_option_line_set(p, opt, p->spec->video_encoder_options,
                          sizeof(p->spec->video_encoder_options), key, value, 0);
}

void audio_encoder_option_set(struct argv_parse *p, const char *opt, const char *key,
                              const char *value)
{
    parse_option_line_set(p, opt, p->spec->audio_encoder_options,
                          sizeof(p->spec->audio_encoder_options), key, value, 1);
}

/* Boolean encoder options (-low_power, -look_ahead, -forced_idr,
 * -forced-idr): the forms av_opt_set reads for them. */
void on_encoder_boolean(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const forms[] = {"-1", "0",   "1", "true", "false",  "auto",    "yes", "no",
                                        "on", "off", "y", "n",    "enable", "disable", NULL};
    char key[64];
    option_key(opt, key, sizeof(key));
    for (const char *const *form = forms; *form != NULL; form++) {
        if (strcmp(value, *form) == 0) {
            encoder_option_set(p, opt, key, value);
            return;
        }
    }
    parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
}

/* Integer encoder options (-async_depth, -compression_level,
 * -rc_init_occupancy, -mbbrc, -bf), within libav's ranges, kept as plain
 * decimal. */
void on_encoder_integer(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    char key[64], text[32];
    int64_t v, min = INT_MIN, max = INT_MAX;
    option_key(opt, key, sizeof(key));
    if (strcmp(key, "async_depth") == 0)
        min = 1;
    else if (strcmp(key, "bf") == 0)
        min = -1;
    else if (strcmp(key, "mbbrc") == 0)
        min = -1, max = 1;
    if (parse_integer(p, opt, value, 1, min, max, &v) != 0)
        return;
    snprintf(text, sizeof(text), "%lld", (long long)v);
    encoder_option_set(p, opt, key, text);
}

/* String encoder options (-x265-params "k=v:k=v"), kept as written; the
 * encoder reads them when it opens, as it does for the CLI. */
void on_encoder_string(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    char key[64];
    option_key(opt, key, sizeof(key));
    encoder_option_set(p, opt, key, value);
}

/* -rc_mode (VAAPI encoders): 5.1's modes by name or number. */
void on_rc_mode(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const modes[] = {"auto", "CQP", "CBR", "VBR", "ICQ", "QVBR", "AVBR", "0",
                                        "1",    "2",   "3",   "4",   "5",   "6",    NULL};
    for (const char *const *mode = modes; *mode != NULL; mode++) {
        if (strcmp(value, *mode) == 0) {
            encoder_option_set(p, opt, "rc_mode", value);
            return;
        }
    }
    parse_block(p, RANK_HARDWARE_OPTION, "-rc_mode %.32s unknown to libav 5.1", value);
}

/* -sei (VAAPI encoders): the SEI flags 5.1 writes. a53_cc is ffmpeg 6's
 * (Jellyfin writes "-sei -a53_cc" for it); 5.1 fails to parse it. */
void on_sei(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const flags[] = {"identifier", "timing", "recovery_point", "hdr", NULL};
    char unknown[64];
    enum value_status status = value_check_flags(value, flags, unknown, sizeof(unknown));
    if (status == VALUE_RANGE)
        parse_block(p, RANK_HARDWARE_OPTION, "-sei %.32s unknown to libav 5.1", unknown);
    else if (status != VALUE_OK)
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    else
        encoder_option_set(p, opt, "sei", value);
}

/* -flags:v (e.g. "-global_header" for hevc_vaapi on AMD): the video
 * encoder's codec flags; -flags:a the audio encoder's; a bare -flags both
 * (Jellyfin's "-flags -global_header" on live TV with MPEG-TS segments). */
void on_codec_flags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const flags[] = {"global_header", "cgop", "low_delay", "bitexact", "ildct",
                                        "ilme",          "loop", "gray",      "psnr",     "mv4",
                                        "qpel",          "aic",  "qscale",    NULL};
    char unknown[64];
    if (kind != 'v' && kind != 'a' && kind != '*') {
        parse_block(p, RANK_FEATURE, "%.64s not native (only -flags, -flags:v, -flags:a)", opt);
        return;
    }
    enum value_status status = value_check_flags(value, flags, unknown, sizeof(unknown));
    if (status == VALUE_RANGE) {
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, unknown);
        return;
    }
    if (status != VALUE_OK) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    if (kind != 'a')
        encoder_option_set(p, opt, "flags", value);
    if (kind != 'v')
        audio_encoder_option_set(p, opt, "flags", value);
}
