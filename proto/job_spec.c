/* job_spec.c -- defaults, validation and protobuf form of struct job_spec.
 *
 * The only place that converts between the C struct every program uses and
 * the ffpool.JobSpec message stored in Redis and sent over nng. Unpacking
 * refuses (never truncates) a string that does not fit its field, because a
 * truncated path would write segments somewhere nobody asked for. */
#include "job_spec.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffpool.pb-c.h"
#include "routing.h"

void job_spec_init(struct job_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->analyzeduration_us = JOB_SPEC_UNSET;
    spec->probesize = JOB_SPEC_UNSET;
    spec->subtitle_analyzeduration_us = JOB_SPEC_UNSET;
    spec->subtitle_probesize = JOB_SPEC_UNSET;
    spec->seek_us = JOB_SPEC_UNSET;
    spec->accurate_seek = 1;
    spec->autorotate = 1;
    spec->video_stream = -2;
    spec->audio_stream = -2;
    spec->crf = JOB_SPEC_UNSET;
    spec->video_bitrate = JOB_SPEC_UNSET;
    spec->maxrate = JOB_SPEC_UNSET;
    spec->bufsize = JOB_SPEC_UNSET;
    spec->gop = JOB_SPEC_UNSET;
    spec->keyint_min = JOB_SPEC_UNSET;
    spec->keyframe_interval_us = JOB_SPEC_UNSET;
    spec->audio_bitrate = JOB_SPEC_UNSET;
    spec->audio_channels = JOB_SPEC_UNSET;
    spec->audio_sample_rate = JOB_SPEC_UNSET;
    spec->max_delay_us = JOB_SPEC_UNSET;
    spec->extra_hw_frames = JOB_SPEC_UNSET;
    spec->autoscale = 1;
}

int job_spec_input_option_allowed(const char *key, size_t len)
{
    static const char *const keys[] = {
        "user_agent",          "referer", "reconnect", "reconnect_at_eof", "reconnect_streamed",
        "reconnect_delay_max", NULL};
    for (int i = 0; keys[i] != NULL; i++)
        if (strlen(keys[i]) == len && strncmp(keys[i], key, len) == 0)
            return 1;
    return 0;
}

int job_spec_input_is_url(const struct job_spec *spec)
{
    return strncmp(spec->input, "http://", 7) == 0 || strncmp(spec->input, "https://", 8) == 0;
}

int job_spec_video_copies(const struct job_spec *spec)
{
    return strcmp(spec->video_codec, "copy") == 0;
}

int job_spec_audio_copies(const struct job_spec *spec)
{
    return strcmp(spec->audio_codec, "copy") == 0;
}

/* Video encoders that run on a hardware device, by their name's suffix. */
static int hardware_encoder(const char *name)
{
    static const char *const suffixes[] = {"_vaapi",        "_qsv",   "_nvenc", "_amf", "_v4l2m2m",
                                           "_videotoolbox", "_rkmpp", "_omx",   "_mf",  NULL};
    size_t n = strlen(name);
    for (const char *const *s = suffixes; *s != NULL; s++) {
        size_t k = strlen(*s);
        if (n > k && strcmp(name + n - k, *s) == 0)
            return 1;
    }
    return 0;
}

int job_spec_is_cli(const struct job_spec *spec)
{
    return spec->output_kind == JOB_OUTPUT_CLI_HLS || spec->output_kind == JOB_OUTPUT_CLI;
}

/* The bytes cli_args uses: each argument with its NUL. */
static size_t cli_args_used(const struct job_spec *spec)
{
    size_t used = 0;
    for (int i = 0; i < spec->n_cli_args; i++)
        used += strlen(spec->cli_args + used) + 1;
    return used;
}

int job_spec_cli_append(struct job_spec *spec, const char *arg)
{
    size_t used = cli_args_used(spec), n = strlen(arg);
    if (spec->n_cli_args >= JOB_SPEC_CLI_ARGC_MAX || used + n + 1 > sizeof(spec->cli_args))
        return -1;
    memcpy(spec->cli_args + used, arg, n + 1);
    spec->n_cli_args++;
    return 0;
}

void job_spec_cli_argv(const struct job_spec *spec, const char **argv)
{
    size_t used = 0;
    int i = 0;
    for (; i < spec->n_cli_args && i < JOB_SPEC_CLI_ARGC_MAX; i++) {
        argv[i] = spec->cli_args + used;
        used += strlen(argv[i]) + 1;
    }
    argv[i] = NULL;
}

int job_spec_cli_outputs(const struct job_spec *spec, char *is_output, int *pattern)
{
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(spec, args);
    const char *slash = strrchr(spec->output, '/');
    *pattern = 0;
    if (slash == NULL || slash == spec->output)
        return 0; /* no file in a folder (-f null -) */
    size_t dir_len = (size_t)(slash - spec->output);
    int last_input = -1, count = 0;
    for (int i = 0; i + 1 < spec->n_cli_args; i++)
        if (strcmp(args[i], "-i") == 0)
            last_input = i + 1;
    for (int i = 0; i < spec->n_cli_args; i++) {
        const char *arg = strncmp(args[i], "file:", 5) == 0 ? args[i] + 5 : args[i];
        int output = i > last_input && arg[0] == '/';
        if (output && (strncmp(arg, spec->output, dir_len) != 0 || arg[dir_len] != '/' ||
                       strchr(arg + dir_len + 1, '/') != NULL))
            return -1; /* a path elsewhere: an output in another folder, or not an output */
        if (is_output != NULL)
            is_output[i] = (char)output;
        count += output;
        *pattern |= output && strchr(arg + dir_len, '%') != NULL;
    }
    return count;
}

int job_spec_uses_hardware(const struct job_spec *spec)
{
    return spec->n_hw_devices > 0 || spec->filter_hw_device[0] != '\0' ||
           spec->hwaccel[0] != '\0' || spec->hwaccel_device[0] != '\0' ||
           spec->video_decoder[0] != '\0' || hardware_encoder(spec->video_codec);
}

int job_spec_environment_allowed(const char *name, size_t len)
{
    /* Driver choices only: paths and device numbers (LIBVA_DRIVERS_PATH,
     * CUDA_VISIBLE_DEVICES) describe Jellyfin's host, not the worker's. */
    static const char *const exact[] = {"AMD_DEBUG", "RADV_PERFTEST", "MESA_LOADER_DRIVER_OVERRIDE",
                                        "LIBVA_MESSAGING_LEVEL", NULL};
    if (len >= 17 && strncmp(name, "LIBVA_DRIVER_NAME", 17) == 0)
        return 1; /* LIBVA_DRIVER_NAME, and Jellyfin's LIBVA_DRIVER_NAME_JELLYFIN */
    for (const char *const *e = exact; *e != NULL; e++)
        if (strlen(*e) == len && strncmp(name, *e, len) == 0)
            return 1;
    return 0;
}

/* Finds the single integer conversion of a segment pattern. Returns its
 * offset and length (e.g. "%05d" -> 4), or -1 if there is not exactly one. */
static int pattern_find_conversion(const char *pattern, size_t *offset, size_t *length)
{
    int found = 0;
    for (size_t i = 0; pattern[i] != '\0'; i++) {
        if (pattern[i] != '%')
            continue;
        if (pattern[i + 1] == '%') {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (pattern[j] >= '0' && pattern[j] <= '9' && j - i < 4)
            j++;
        if (pattern[j] != 'd' || found)
            return -1;
        found = 1;
        *offset = i;
        *length = j - i + 1;
        i = j;
    }
    return found ? 0 : -1;
}

/* 1 if name is what the image2 pattern (one %d, %0Nd or %Nd) makes. */
static int pattern_makes(const char *pattern, const char *name)
{
    size_t offset, length;
    if (pattern_find_conversion(pattern, &offset, &length) != 0 || strstr(pattern, "%%") != NULL)
        return 0;
    const char *suffix = pattern + offset + length;
    size_t name_len = strlen(name), suffix_len = strlen(suffix);
    if (strncmp(name, pattern, offset) != 0 || name_len <= offset + suffix_len ||
        strcmp(name + name_len - suffix_len, suffix) != 0)
        return 0;
    for (const char *c = name + offset; c < name + name_len - suffix_len; c++)
        if (!isdigit((unsigned char)*c))
            return 0;
    return 1;
}

int job_spec_cli_output_named(const struct job_spec *spec, const char *name)
{
    char is_output[JOB_SPEC_CLI_ARGC_MAX];
    int pattern;
    if (name == NULL || name[0] == '\0' || job_spec_cli_outputs(spec, is_output, &pattern) <= 0)
        return 0;
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(spec, args);
    for (int i = 0; i < spec->n_cli_args; i++) {
        if (!is_output[i])
            continue;
        const char *base = strrchr(args[i], '/') + 1;
        if (strcmp(base, name) == 0 || (strchr(base, '%') != NULL && pattern_makes(base, name)))
            return 1;
    }
    return 0;
}

int job_spec_pattern_valid(const char *pattern)
{
    size_t offset, length;
    return pattern_find_conversion(pattern, &offset, &length) == 0;
}

void job_spec_init_path(const struct job_spec *spec, char *out, size_t outlen)
{
    const char *name = spec->init_filename[0] != '\0' ? spec->init_filename : "init.mp4";
    const char *slash = strrchr(spec->output, '/');
    if (name[0] == '/' || slash == NULL)
        snprintf(out, outlen, "%s", name);
    else
        snprintf(out, outlen, "%.*s/%s", (int)(slash - spec->output), spec->output, name);
}

int job_spec_segment_path(const struct job_spec *spec, int index, char *out, size_t outlen)
{
    size_t offset, length;
    if (pattern_find_conversion(spec->segment_filename, &offset, &length) != 0)
        return -1;
    char conversion[8];
    memcpy(conversion, spec->segment_filename + offset, length);
    conversion[length] = '\0';
    char number[32];
    snprintf(number, sizeof(number), conversion, index);

    /* Copy the pattern around the conversion, turning "%%" into "%". */
    size_t n = 0;
    for (size_t i = 0; spec->segment_filename[i] != '\0';) {
        const char *piece;
        size_t piece_len;
        if (i == offset) {
            piece = number;
            piece_len = strlen(number);
            i += length;
        } else if (spec->segment_filename[i] == '%' && spec->segment_filename[i + 1] == '%') {
            piece = "%";
            piece_len = 1;
            i += 2;
        } else {
            piece = &spec->segment_filename[i];
            piece_len = 1;
            i++;
        }
        if (n + piece_len + 1 > outlen)
            return -1;
        memcpy(out + n, piece, piece_len);
        n += piece_len;
    }
    out[n] = '\0';
    return 0;
}

static int known_codec(const char *name, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

/* A CLI job: its arguments (none empty of meaning to the CLI but as a
 * value), and for CLI_HLS what the stream writes, as for a native one. */
static int cli_validate(const struct job_spec *spec, char *err, size_t errlen)
{
    size_t offset, length;
    if (spec->n_cli_args <= 0 || spec->n_cli_args > JOB_SPEC_CLI_ARGC_MAX) {
        snprintf(err, errlen, "a CLI job needs its arguments (1 to %d, not %d)",
                 JOB_SPEC_CLI_ARGC_MAX, spec->n_cli_args);
        return -1;
    }
    if (routing_words_check(spec->requires, err, errlen) != 0)
        return -1;
    if (spec->output_kind == JOB_OUTPUT_CLI)
        return 0;
    if (spec->output[0] == '\0' || spec->hls_time_us <= 0 || spec->start_number < 0 ||
        pattern_find_conversion(spec->segment_filename, &offset, &length) != 0) {
        snprintf(err, errlen,
                 "a CLI HLS job needs its playlist, a positive hls_time, a start number and a "
                 "segment pattern with one %%d");
        return -1;
    }
    return 0;
}

int job_spec_validate(const struct job_spec *spec, char *err, size_t errlen)
{
    static const char *const video_codecs[] = {"", "libx264", "libx265", "copy", NULL};
    static const char *const audio_codecs[] = {"",     "aac",       "libfdk_aac", "libmp3lame",
                                               "ac3",  "eac3",      "libopus",    "flac",
                                               "alac", "libvorbis", "copy",       NULL};
    size_t offset, length;

    if (spec->n_hw_devices < 0 || spec->n_hw_devices > JOB_SPEC_HW_DEVICES_MAX) {
        snprintf(err, errlen, "%d hardware devices (at most %d)", spec->n_hw_devices,
                 JOB_SPEC_HW_DEVICES_MAX);
        return -1;
    }
    for (const char *line = spec->environment; *line != '\0';) {
        const char *eq = strchr(line, '=');
        const char *end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if (eq == NULL || eq > end || !job_spec_environment_allowed(line, (size_t)(eq - line))) {
            snprintf(err, errlen, "environment entry \"%.*s\" is not a driver variable",
                     (int)(end - line), line);
            return -1;
        }
        line = *end == '\n' ? end + 1 : end;
    }
    int pattern;
    if (spec->deliver && spec->output_kind == JOB_OUTPUT_DEVICE_CHECK) {
        snprintf(err, errlen, "a device check writes nothing to deliver");
        return -1;
    }
    if (spec->deliver && spec->output_kind == JOB_OUTPUT_CLI &&
        job_spec_cli_outputs(spec, NULL, &pattern) < 0) {
        snprintf(err, errlen, "a delivered line names a path outside its output's folder");
        return -1;
    }
    if (job_spec_is_cli(spec))
        return cli_validate(spec, err, errlen);
    if (spec->output_kind == JOB_OUTPUT_DEVICE_CHECK) {
        if (spec->n_hw_devices == 0) {
            snprintf(err, errlen, "a device check needs a -init_hw_device");
            return -1;
        }
        return 0;
    }
    if (spec->input[0] == '\0') {
        snprintf(err, errlen, "job has no input");
        return -1;
    }
    if (spec->output[0] == '\0') {
        snprintf(err, errlen, "job has no output");
        return -1;
    }
    if (!known_codec(spec->video_codec, video_codecs) && !hardware_encoder(spec->video_codec)) {
        snprintf(err, errlen, "video codec %s is not supported by the worker", spec->video_codec);
        return -1;
    }
    if (!known_codec(spec->audio_codec, audio_codecs)) {
        snprintf(err, errlen, "audio codec %s is not supported by the worker", spec->audio_codec);
        return -1;
    }
    for (const char *line = spec->input_options; *line != '\0';) {
        const char *eq = strchr(line, '=');
        const char *end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if (eq == NULL || eq > end || !job_spec_input_option_allowed(line, (size_t)(eq - line))) {
            snprintf(err, errlen, "input option \"%.*s\" is not one a job may set",
                     (int)(end - line), line);
            return -1;
        }
        line = *end == '\n' ? end + 1 : end;
    }
    if (spec->input_fflags[strspn(spec->input_fflags, "abcdefghijklmnopqrstuvwxyz+-")] != '\0') {
        snprintf(err, errlen, "input fflags \"%s\" are not libavformat flags", spec->input_fflags);
        return -1;
    }
    if (routing_words_check(spec->requires, err, errlen) != 0)
        return -1;
    if (spec->video_codec[0] == '\0' && spec->audio_codec[0] == '\0') {
        snprintf(err, errlen, "job has neither video nor audio output");
        return -1;
    }
    if (spec->filter_complex &&
        (spec->video_filter[0] == '\0' ||
         (strcmp(spec->video_codec, "libx264") != 0 && strcmp(spec->video_codec, "libx265") != 0 &&
          !hardware_encoder(spec->video_codec)))) {
        snprintf(err, errlen, "a filter_complex job needs a graph and an encoded video stream");
        return -1;
    }
    /* A second input is a local subtitle file the graph reads, nothing else. */
    if (spec->subtitle_input[0] != '\0' &&
        (!spec->filter_complex || strstr(spec->subtitle_input, "://") != NULL ||
         strncmp(spec->subtitle_input, "pipe:", 5) == 0)) {
        snprintf(err, errlen,
                 "subtitle input \"%s\": a second input must be a file read by a "
                 "filter_complex graph",
                 spec->subtitle_input);
        return -1;
    }
    if (spec->strict < -2 || spec->strict > 2) {
        snprintf(err, errlen, "strict %d is not a compliance level (-2 to 2)", spec->strict);
        return -1;
    }
    if (!(spec->readrate >= 0 && spec->readrate <= 1e6) ||
        !(spec->readrate_catchup >= 0 && spec->readrate_catchup <= 1e6) ||
        (spec->readrate_catchup > 0 && spec->readrate_catchup < spec->readrate)) {
        snprintf(err, errlen,
                 "readrate %g / readrate_catchup %g: not rates (catch-up below the rate)",
                 spec->readrate, spec->readrate_catchup);
        return -1;
    }
    if (spec->keyframe_interval_us == 0 || spec->keyframe_interval_us < JOB_SPEC_UNSET) {
        snprintf(err, errlen, "keyframe interval %lld us is not an interval",
                 (long long)spec->keyframe_interval_us);
        return -1;
    }
    if (spec->canvas_width < 0 || spec->canvas_height < 0 ||
        spec->canvas_width > JOB_SPEC_CANVAS_MAX || spec->canvas_height > JOB_SPEC_CANVAS_MAX ||
        (spec->canvas_width == 0) != (spec->canvas_height == 0)) {
        snprintf(err, errlen, "canvas size %dx%d is not a size", spec->canvas_width,
                 spec->canvas_height);
        return -1;
    }
    if (spec->output_kind == JOB_OUTPUT_HLS) {
        if (spec->hls_time_us <= 0) {
            snprintf(err, errlen, "hls_time must be positive");
            return -1;
        }
        if (pattern_find_conversion(spec->segment_filename, &offset, &length) != 0) {
            snprintf(err, errlen, "hls_segment_filename must contain exactly one %%d: %s",
                     spec->segment_filename);
            return -1;
        }
        if (spec->start_number < 0) {
            snprintf(err, errlen, "start_number must not be negative");
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Protobuf form. The tables below map each string field of the C struct to
 * the message's field so that pack and unpack cannot drift apart.
 * ------------------------------------------------------------------------- */

struct string_field {
    const char *name;
    size_t spec_offset;
    size_t spec_size;
    size_t message_offset;
};

#define STRING_FIELD(name)                                                                         \
    {                                                                                              \
#name, offsetof(struct job_spec, name), sizeof(((struct job_spec *)0)->name),              \
            offsetof(Ffpool__JobSpec, name)                                                        \
    }

static const struct string_field string_fields[] = {
    STRING_FIELD(input),
    STRING_FIELD(input_format),
    STRING_FIELD(input_fflags),
    STRING_FIELD(input_options),
    STRING_FIELD(subtitle_input),
    STRING_FIELD(video_codec),
    STRING_FIELD(preset),
    STRING_FIELD(profile),
    STRING_FIELD(level),
    STRING_FIELD(x264opts),
    STRING_FIELD(pix_fmt),
    STRING_FIELD(video_filter),
    STRING_FIELD(video_bsf),
    STRING_FIELD(video_tag),
    STRING_FIELD(audio_codec),
    STRING_FIELD(audio_filter),
    STRING_FIELD(audio_encoder_options),
    STRING_FIELD(output_format),
    STRING_FIELD(output),
    STRING_FIELD(movflags),
    STRING_FIELD(segment_filename),
    STRING_FIELD(init_filename),
    STRING_FIELD(segment_options),
    STRING_FIELD(base_url),
    STRING_FIELD(filter_hw_device),
    STRING_FIELD(hwaccel),
    STRING_FIELD(hwaccel_device),
    STRING_FIELD(hwaccel_output_format),
    STRING_FIELD(hwaccel_flags),
    STRING_FIELD(video_decoder),
    STRING_FIELD(video_encoder_options),
    STRING_FIELD(environment),
};

#define N_STRING_FIELDS (sizeof(string_fields) / sizeof(string_fields[0]))

uint8_t *job_spec_pack(const struct job_spec *spec, size_t *len)
{
    Ffpool__JobSpec message = FFPOOL__JOB_SPEC__INIT;

    for (size_t i = 0; i < N_STRING_FIELDS; i++) {
        char **slot = (char **)((char *)&message + string_fields[i].message_offset);
        *slot = (char *)spec + string_fields[i].spec_offset;
    }
    message.analyzeduration_us = spec->analyzeduration_us;
    message.probesize = spec->probesize;
    message.subtitle_analyzeduration_us = spec->subtitle_analyzeduration_us;
    message.subtitle_probesize = spec->subtitle_probesize;
    message.genpts = spec->genpts;
    message.seek_us = spec->seek_us;
    message.accurate_seek = spec->accurate_seek;
    message.autorotate = spec->autorotate;
    message.threads = spec->threads;
    message.readrate = spec->readrate;
    message.readrate_catchup = spec->readrate_catchup;
    message.video_stream = spec->video_stream;
    message.audio_stream = spec->audio_stream;
    message.canvas_width = spec->canvas_width;
    message.canvas_height = spec->canvas_height;
    message.filter_complex = spec->filter_complex;
    message.crf = spec->crf;
    message.video_bitrate = spec->video_bitrate;
    message.maxrate = spec->maxrate;
    message.bufsize = spec->bufsize;
    message.gop = spec->gop;
    message.keyint_min = spec->keyint_min;
    message.keyframe_interval_us = spec->keyframe_interval_us;
    message.audio_bitrate = spec->audio_bitrate;
    message.audio_channels = spec->audio_channels;
    message.audio_sample_rate = spec->audio_sample_rate;
    message.output_kind = (Ffpool__OutputKind)spec->output_kind;
    message.hls_time_us = spec->hls_time_us;
    message.segment_type = (Ffpool__SegmentType)spec->segment_type;
    message.start_number = spec->start_number;
    message.playlist_type = (Ffpool__PlaylistType)spec->playlist_type;
    message.max_delay_us = spec->max_delay_us;
    message.copyts = spec->copyts;
    message.start_at_zero = spec->start_at_zero;
    message.strict = spec->strict;
    message.deliver = spec->deliver;
    message.extra_hw_frames = spec->extra_hw_frames;
    message.autoscale = spec->autoscale;
    char *device_list[JOB_SPEC_HW_DEVICES_MAX];
    for (int i = 0; i < spec->n_hw_devices && i < JOB_SPEC_HW_DEVICES_MAX; i++)
        device_list[message.n_hw_devices++] = (char *)spec->hw_devices[i];
    message.hw_devices = device_list;
    const char **cli_list = NULL;
    if (spec->n_cli_args > 0) {
        cli_list = malloc(((size_t)spec->n_cli_args + 1) * sizeof(*cli_list));
        if (cli_list == NULL)
            return NULL;
        job_spec_cli_argv(spec, cli_list);
        message.n_cli_args = (size_t)spec->n_cli_args;
        message.cli_args = (char **)cli_list;
    }

    /* requires: the space-separated words become a repeated field. */
    char words[JOB_SPEC_REQUIRES_MAX];
    char *word_list[JOB_SPEC_REQUIRES_MAX / 2];
    char *save = NULL;
    snprintf(words, sizeof(words), "%s", spec->requires);
    for (char *word = strtok_r(words, " ", &save); word != NULL; word = strtok_r(NULL, " ", &save))
        word_list[message.n_requires++] = word;
    message.requires = word_list;

    *len = ffpool__job_spec__get_packed_size(&message);
    uint8_t *buffer = malloc(*len > 0 ? *len : 1);
    if (buffer != NULL)
        ffpool__job_spec__pack(&message, buffer);
    free(cli_list);
    return buffer;
}

int job_spec_unpack(const uint8_t *data, size_t len, struct job_spec *spec, char *err,
                    size_t errlen)
{
    int result = -1;
    Ffpool__JobSpec *message = ffpool__job_spec__unpack(NULL, len, data);
    if (message == NULL) {
        snprintf(err, errlen, "job spec is not a valid ffpool.JobSpec message");
        return -1;
    }
    job_spec_init(spec);
    for (size_t i = 0; i < N_STRING_FIELDS; i++) {
        const char *value = *(char **)((char *)message + string_fields[i].message_offset);
        char *slot = (char *)spec + string_fields[i].spec_offset;
        if (value == NULL)
            continue;
        if (strlen(value) >= string_fields[i].spec_size) {
            snprintf(err, errlen, "job spec field %s is too long (%zu bytes, limit %zu)",
                     string_fields[i].name, strlen(value), string_fields[i].spec_size - 1);
            goto cleanup;
        }
        memcpy(slot, value, strlen(value) + 1);
    }
    spec->analyzeduration_us = message->analyzeduration_us;
    spec->probesize = message->probesize;
    spec->subtitle_analyzeduration_us = message->subtitle_analyzeduration_us;
    spec->subtitle_probesize = message->subtitle_probesize;
    spec->genpts = message->genpts;
    spec->seek_us = message->seek_us;
    spec->accurate_seek = message->accurate_seek;
    spec->autorotate = message->autorotate;
    spec->threads = message->threads;
    spec->readrate = message->readrate;
    spec->readrate_catchup = message->readrate_catchup;
    spec->video_stream = message->video_stream;
    spec->audio_stream = message->audio_stream;
    spec->canvas_width = message->canvas_width;
    spec->canvas_height = message->canvas_height;
    spec->filter_complex = message->filter_complex;
    spec->crf = message->crf;
    spec->video_bitrate = message->video_bitrate;
    spec->maxrate = message->maxrate;
    spec->bufsize = message->bufsize;
    spec->gop = message->gop;
    spec->keyint_min = message->keyint_min;
    spec->keyframe_interval_us = message->keyframe_interval_us;
    spec->audio_bitrate = message->audio_bitrate;
    spec->audio_channels = message->audio_channels;
    spec->audio_sample_rate = message->audio_sample_rate;
    switch (message->output_kind) {
    case FFPOOL__OUTPUT_KIND__PROGRESSIVE:
        spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
        break;
    case FFPOOL__OUTPUT_KIND__DEVICE_CHECK:
        spec->output_kind = JOB_OUTPUT_DEVICE_CHECK;
        break;
    case FFPOOL__OUTPUT_KIND__CLI_HLS:
        spec->output_kind = JOB_OUTPUT_CLI_HLS;
        break;
    case FFPOOL__OUTPUT_KIND__CLI:
        spec->output_kind = JOB_OUTPUT_CLI;
        break;
    default:
        spec->output_kind = JOB_OUTPUT_HLS;
        break;
    }
    spec->hls_time_us = message->hls_time_us;
    spec->segment_type =
        message->segment_type == FFPOOL__SEGMENT_TYPE__FMP4 ? JOB_SEGMENT_FMP4 : JOB_SEGMENT_MPEGTS;
    spec->start_number = message->start_number;
    spec->playlist_type = message->playlist_type == FFPOOL__PLAYLIST_TYPE__EVENT
                              ? JOB_PLAYLIST_EVENT
                              : JOB_PLAYLIST_VOD;
    spec->max_delay_us = message->max_delay_us;
    spec->copyts = message->copyts;
    spec->start_at_zero = message->start_at_zero;
    spec->strict = message->strict;
    spec->deliver = message->deliver;
    spec->extra_hw_frames = message->extra_hw_frames;
    spec->autoscale = message->autoscale;
    if (message->n_hw_devices > JOB_SPEC_HW_DEVICES_MAX) {
        snprintf(err, errlen, "job spec has %zu hardware devices (limit %d)", message->n_hw_devices,
                 JOB_SPEC_HW_DEVICES_MAX);
        goto cleanup;
    }
    for (size_t i = 0; i < message->n_hw_devices; i++) {
        if (strlen(message->hw_devices[i]) >= sizeof(spec->hw_devices[i])) {
            snprintf(err, errlen, "job spec field hw_devices is too long (element %zu)", i);
            goto cleanup;
        }
        snprintf(spec->hw_devices[i], sizeof(spec->hw_devices[i]), "%s", message->hw_devices[i]);
    }
    spec->n_hw_devices = (int)message->n_hw_devices;
    for (size_t i = 0; i < message->n_cli_args; i++) {
        if (job_spec_cli_append(spec, message->cli_args[i]) != 0) {
            snprintf(err, errlen,
                     "job spec field cli_args is too long (limit %d arguments, %d bytes)",
                     JOB_SPEC_CLI_ARGC_MAX, JOB_SPEC_CLI_ARGS_MAX);
            goto cleanup;
        }
    }
    size_t used = 0;
    for (size_t i = 0; i < message->n_requires; i++) {
        size_t n = strlen(message->requires[i]);
        /* One word per element: an empty one or one with a space in it
         * would not come back the same from the space-separated text. */
        if (n == 0 || strchr(message->requires[i], ' ') != NULL) {
            snprintf(err, errlen,
                     "job spec field requires has an empty word or one with a space "
                     "(element %zu)",
                     i);
            goto cleanup;
        }
        if (used + n + 2 > sizeof(spec->requires)) {
            snprintf(err, errlen, "job spec field requires is too long (limit %zu bytes)",
                     sizeof(spec->requires) - 1);
            goto cleanup;
        }
        if (used > 0)
        spec->requires[used++] = ' ';
        memcpy(spec->requires + used, message->requires[i], n + 1);
        used += n;
    }
    result = 0;
cleanup:
    ffpool__job_spec__free_unpacked(message, NULL);
    return result;
}
