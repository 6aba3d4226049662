/* argv.c -- reading an ffmpeg command line into a struct job_spec: the
 * walk, the checks that need the whole line, and the job key.
 *
 * The parser walks argv once, left to right, the way ffmpeg does: options
 * before -i belong to the input, options after it to the output, and the
 * first non-option argument after that is the output file. Each option is
 * looked up in the option table (argv_options.c), which knows its arity, so
 * an option is always consumed with the right number of values even when
 * its value rules the native path out. An option that is not in the table
 * stops the walk: its arity is unknown, so nothing after it can be read
 * reliably, and a local ffmpeg must run the line.
 *
 * What the walk finds is recorded in the parser state (argv_state.c) as
 * blockers and refusals. finish() then runs the checks that need the whole
 * line, one step each (read rate, streams, paths, output muxer, codecs,
 * frame rate, HLS), and argv_parse_job() turns the state into the decision
 * and its reason. Jellyfin's device check (-v verbose -hide_banner -init_hw_device
 * ..., no input, no output) is a job of its own kind, which a worker with
 * the device answers as the CLI would; any other line with no output goes
 * to the local ffmpeg, whose own messages are the answer.
 *
 * The parser's files call one way (argv_internal.h): argv.c calls
 * argv_options.c, argv_state.c and argv_value.c; argv_options.c calls
 * argv_hardware.c (the hardware options' handlers) and the last two;
 * argv_hardware.c calls those two, which call nothing. This file never allocates, never logs and
 * never touches the file system. */
#include "argv.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "argv_internal.h"

/* ---------------------------------------------------------------------------
 * The walk
 * ------------------------------------------------------------------------- */

/* Returns the index of the last argument consumed. */
static int parse_input(struct argv_parse *p, int argc, char *const argv[], int i)
{
    if (i + 1 >= argc) {
        parse_refuse(p, "-i needs a value");
        return i;
    }
    const char *url = argv[i + 1];
    if (p->phase != PHASE_INPUT) {
        parse_block(p, RANK_FEATURE,
                    p->second_input && p->phase == PHASE_OUTPUT
                        ? "more than two inputs not native"
                        : "more than one input, or an input after the output");
        p->stopped = 1;
        return i + 1;
    }
    p->have_input = 1;
    p->phase = PHASE_OUTPUT;
    if (strncmp(url, "file:", 5) == 0) {
        url += 5;
    } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        /* Live TV, a recording in progress, a remote or .strm source: the
         * worker opens the URL, which it must be able to reach. */
        if (name_url_is_loopback(url)) {
            parse_block(p, RANK_FEATURE, "input is on Jellyfin's own loopback address");
            return i + 1;
        }
    } else if (name_is_protocol(url)) {
        parse_block(p, RANK_FEATURE, "input is neither a local file nor an HTTP URL");
        return i + 1;
    }
    if (url[0] == '\0') {
        parse_refuse(p, "empty input file name");
        return i + 1;
    }
    parse_store(p, "-i", p->spec->input, sizeof(p->spec->input), url);
    return i + 1;
}

/* The options Jellyfin writes before an external subtitle file it adds as
 * a second input (EncodingHelper.GetInputArgument, 10.9 to 10.11). */
static int second_input_option(const char *arg)
{
    return strcmp(arg, "-analyzeduration") == 0 || strcmp(arg, "-probesize") == 0 ||
           strcmp(arg, "-ss") == 0 || strcmp(arg, "-canvas_size") == 0;
}

/* Reads one option of the second input into its fields. */
static void parse_second_input_option(struct argv_parse *p, const char *opt, const char *value)
{
    struct job_spec *spec = p->spec;
    int64_t v;
    int w, h, end = 0;
    if (strcmp(opt, "-analyzeduration") == 0) {
        if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
            spec->subtitle_analyzeduration_us = v;
    } else if (strcmp(opt, "-probesize") == 0) {
        if (parse_integer(p, opt, value, 1, 32, INT64_MAX, &v) == 0)
            spec->subtitle_probesize = v;
    } else if (strcmp(opt, "-ss") == 0) {
        if (value_parse_duration_us(value, &v) != VALUE_OK || v < 0) {
            parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
            return;
        }
        p->second_seek_given = 1;
        p->second_seek_us = v;
    } else if (sscanf(value, "%dx%d%n", &w, &h, &end) != 2 || value[end] != '\0' || w <= 0 ||
               h <= 0 || w > JOB_SPEC_CANVAS_MAX || h > JOB_SPEC_CANVAS_MAX) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    } else {
        p->second_canvas_width = w;
        p->second_canvas_height = h;
    }
}

/* After the first input: Jellyfin's external subtitle file, "[-analyzeduration
 * D] [-probesize S] [-ss T] [-canvas_size WxH] -i file:PATH", starts at
 * argv[i] if the options Jellyfin writes there lead to a -i. Reads it and
 * returns the index of its last argument, or returns -1 (argv[i] is an
 * output option) with nothing read. Whether the line may use it natively
 * is settled at the end (finish_second_input). */
static int parse_second_input(struct argv_parse *p, int argc, char *const argv[], int i)
{
    if (p->phase != PHASE_OUTPUT || p->second_input)
        return -1;
    int j = i;
    while (j + 1 < argc && second_input_option(argv[j]))
        j += 2;
    if (j + 1 >= argc || strcmp(argv[j], "-i") != 0)
        return -1;
    for (int k = i; k < j; k += 2)
        parse_second_input_option(p, argv[k], argv[k + 1]);
    p->second_input = 1;
    const char *url = argv[j + 1];
    if (strncmp(url, "file:", 5) == 0)
        url += 5;
    else if (name_is_protocol(url))
        parse_block(p, RANK_FEATURE, "second input is not a local file");
    if (url[0] == '\0')
        parse_refuse(p, "empty input file name");
    else
        parse_store(p, "-i", p->spec->subtitle_input, sizeof(p->spec->subtitle_input), url);
    return j + 1;
}

static void parse_output(struct argv_parse *p, const char *path)
{
    if (p->phase == PHASE_AFTER_OUTPUT) {
        parse_block(p, RANK_FEATURE, "more than one output");
        p->stopped = 1;
        return;
    }
    p->phase = PHASE_AFTER_OUTPUT;
    p->have_output = 1;
    if (strncmp(path, "file:", 5) == 0)
        path += 5;
    else if (name_is_protocol(path)) {
        parse_block(p, RANK_FEATURE, "output is not a local file");
        return;
    }
    if (path[0] == '\0') {
        parse_refuse(p, "empty output file name");
        return;
    }
    parse_store(p, "output", p->spec->output, sizeof(p->spec->output), path);
}

/* Returns the index of the last argument consumed, or argc to stop. */
static int parse_option(struct argv_parse *p, int argc, char *const argv[], int i)
{
    const char *arg = argv[i];
    const char *specifier;
    const struct option_def *def = option_find(arg, &specifier);

    if (def == NULL) {
        parse_block(p, RANK_UNKNOWN, "unknown option %.64s", arg);
        p->stopped = 1;
        return argc;
    }
    if (def->flags & OPT_PROBE) {
        /* Normally caught by the pre-scan; kept so the walk never calls a
         * NULL handler. */
        parse_block(p, RANK_FEATURE, "probe %.64s", arg);
        p->stopped = 1;
        return argc;
    }
    if (p->phase == PHASE_AFTER_OUTPUT) {
        /* ffmpeg ignores trailing options or starts a second output; both
         * are outside what a pool job describes. */
        parse_block(p, RANK_FEATURE, "option %.64s after the output file", arg);
        p->stopped = 1;
        return argc;
    }
    const char *value = NULL;
    if (def->flags & OPT_VALUE) {
        if (i + 1 >= argc) {
            parse_refuse(p, "%.64s needs a value", arg);
            return argc;
        }
        value = argv[++i];
    }
    unsigned where = p->phase == PHASE_INPUT ? OPT_INPUT : OPT_OUTPUT;
    if (!(def->flags & where)) {
        parse_block(p, RANK_FEATURE, "%.64s %s -i not native", arg,
                    p->phase == PHASE_INPUT ? "before" : "after");
        return i;
    }
    char kind = option_stream_kind(def, specifier);
    if (kind == 0) {
        parse_block(p, RANK_FEATURE, "stream specifier in %.64s not native", arg);
        return i;
    }
    def->handle(p, arg, kind, value);
    return i;
}

/* ---------------------------------------------------------------------------
 * Finish: the checks that need the whole line
 * ------------------------------------------------------------------------- */

/* Settles -readrate, -re and -readrate_catchup as ffmpeg (8.0) does: a
 * negative rate, or a catch-up below the rate, is an error; -re alone is
 * rate 1; a catch-up without a rate is ignored. Returns 0, or -1 after
 * refusing the line. */
static int finish_readrate(struct argv_parse *p)
{
    double rate = p->readrate;
    if (rate < 0) {
        parse_refuse(p, "-readrate is %.3f; it must be non-negative", rate);
        return -1;
    }
    if (rate == 0 && p->rate_emulation)
        rate = 1;
    double catchup = 0;
    if (rate > 0 && p->readrate_catchup_given) {
        if (p->readrate_catchup < rate) {
            parse_refuse(p, "-readrate_catchup is %.3f; it must be at least equal to %.3f",
                         p->readrate_catchup, rate);
            return -1;
        }
        catchup = p->readrate_catchup;
    }
    p->spec->readrate = rate;
    p->spec->readrate_catchup = catchup;
    return 0;
}

/* -filter_complex makes the output's video (the worker finds the graph's
 * input streams); the one map left is the audio. */
static void finish_filter_complex(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;

    spec->filter_complex = 1;
    if (p->simple_video_filter_given)
        parse_block(p, RANK_FEATURE, "-vf with -filter_complex not native");
    /* The graph's output is its last pad: labelled ("...overlay[out]")
     * only if the graph ends with the label. The CLI fails on a label
     * that is not an output, and on an output label left unmapped; the
     * local ffmpeg says so in its own words. */
    const char *graph = spec->video_filter;
    size_t glen = strlen(graph), llen = strlen(p->map_label);
    while (glen > 0 && isspace((unsigned char)graph[glen - 1]))
        glen--;
    int labelled_output = glen > 0 && graph[glen - 1] == ']';
    if (p->map_label[0] != '\0' &&
        (glen < llen || strncmp(graph + glen - llen, p->map_label, llen) != 0))
        parse_block(p, RANK_FEATURE, "-map %.32s is not the -filter_complex output", p->map_label);
    else if (p->map_label[0] == '\0' && labelled_output)
        parse_block(p, RANK_FEATURE, "-filter_complex output label not mapped");
    if (p->map_count > 1 || (p->map_count == 1 && p->audio_disabled))
        parse_block(p, RANK_FEATURE, "a mapped video stream beside -filter_complex not native");
    if (p->map_count == 0 && !p->audio_disabled)
        parse_block(p, RANK_FEATURE, "-filter_complex without an audio -map not native");
    spec->video_stream = -2;
    spec->audio_stream = p->map_count == 1 ? p->maps[0] : -1;
}

/* Which inputs the -filter_complex graph's stream labels name ("[0:3]",
 * "[1:0]"; link labels like "[main]" are the graph's own): bit N for
 * input N, bit 31 for input 31 or beyond. */
static unsigned complex_label_inputs(const char *graph)
{
    unsigned inputs = 0;
    for (const char *at = strchr(graph, '['); at != NULL; at = strchr(at + 1, '[')) {
        if (!isdigit((unsigned char)at[1]))
            continue;
        long n = strtol(at + 1, NULL, 10);
        inputs |= 1u << (n >= 0 && n < 31 ? n : 31);
    }
    return inputs;
}

/* A second input is native in one use: Jellyfin's external graphical
 * subtitle, read by the -filter_complex graph as [1:N], seeked as the first
 * input is (the same -ss), with Jellyfin's void "-map 1:N -sn" at most.
 * Any other use (external audio -map 1:a, a stream of it mapped to the
 * output) is the CLI's. Its -canvas_size is the one its subtitle is drawn
 * on. */
static void finish_second_input(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;
    unsigned inputs = p->filter_complex_given ? complex_label_inputs(spec->video_filter) : 0;
    if (inputs & ~3u) {
        parse_block(p, RANK_FEATURE, "-filter_complex reading a third input not native");
        return;
    }
    if (!p->second_input) {
        if (inputs & 2u)
            parse_block(p, RANK_FEATURE, "-filter_complex reading a second input not native");
        return;
    }
    if (p->second_map[0] != '\0') {
        char label[40];
        snprintf(label, sizeof(label), "[%s]", p->second_map);
        if (!p->subtitles_disabled || !p->filter_complex_given ||
            strstr(spec->video_filter, label) == NULL) {
            parse_block(p, RANK_FEATURE,
                        "-map %.32s: a second input's stream in the output (external audio or "
                        "subtitles) not native",
                        p->second_map);
            return;
        }
    }
    if (!(inputs & 2u)) {
        parse_block(p, RANK_FEATURE, "a second input not read by -filter_complex not native");
        return;
    }
    if (p->second_seek_given != (spec->seek_us != JOB_SPEC_UNSET) ||
        (p->second_seek_given && p->second_seek_us != spec->seek_us)) {
        parse_block(p, RANK_FEATURE, "a second input seeked unlike the first (-ss) not native");
        return;
    }
    spec->canvas_width = p->second_canvas_width;
    spec->canvas_height = p->second_canvas_height;
}

/* Which input streams the output takes. Which input stream a map names is
 * unknown without probing; Jellyfin maps video first, then audio, so two
 * maps are (video, audio) and a single map is the audio stream only under
 * -vn. */
static void finish_streams(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;

    /* A source without audio: "-map 0:V -map -0:a" leaves the video alone,
     * as -an would (Jellyfin then writes no audio options at all). */
    if (p->audio_unmapped)
        p->audio_disabled = 1;
    if (p->filter_complex_given) {
        finish_filter_complex(p);
    } else if (p->map_label[0] != '\0') {
        parse_refuse(p, "-map %s without -filter_complex", p->map_label);
    } else if (p->map_count == 2) {
        spec->video_stream = p->maps[0];
        spec->audio_stream = p->maps[1];
    } else if (p->map_count == 1) {
        spec->video_stream = p->video_disabled ? -1 : p->maps[0];
        spec->audio_stream = p->video_disabled ? p->maps[0] : -1;
    } else {
        spec->video_stream = -2;
        spec->audio_stream = -2;
    }
    if (p->video_disabled) {
        spec->video_stream = -1;
        spec->video_codec[0] = '\0';
    }
    if (p->audio_disabled) {
        spec->audio_stream = -1;
        spec->audio_codec[0] = '\0';
    }
    if (p->video_disabled && p->audio_disabled)
        parse_block(p, RANK_FEATURE, "neither video nor audio output");
}

/* Whether path is absolute: "/...", a Windows drive ("C:\\..." or "C:/...")
 * or a UNC share ("\\\\server\\..."). */
static int path_is_absolute(const char *path)
{
    if (path[0] == '/')
        return 1;
    if (path[0] == '\\' && path[1] == '\\')
        return 1;
    return isalpha((unsigned char)path[0]) && path[1] == ':' && (path[2] == '\\' || path[2] == '/');
}

/* A worker on another machine does not share Jellyfin's working
 * directory, so only absolute paths mean the same thing there. */
static void finish_paths(struct argv_parse *p)
{
    const struct job_spec *spec = p->spec;

    if (spec->input[0] != '\0' && !path_is_absolute(spec->input) && !job_spec_input_is_url(spec))
        parse_block(p, RANK_FEATURE, "relative input path not native");
    if (spec->subtitle_input[0] != '\0' && !path_is_absolute(spec->subtitle_input))
        parse_block(p, RANK_FEATURE, "relative second input path not native");
    if (spec->output[0] != '\0' && !path_is_absolute(spec->output))
        parse_block(p, RANK_FEATURE, "relative output path not native");
    if (p->segment_filename_given && !path_is_absolute(spec->segment_filename))
        parse_block(p, RANK_FEATURE, "relative -hls_segment_filename not native");
}

/* Picks the output muxer and kind from -f or the file name. */
static void finish_output(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;
    const char *format = p->output_format;
    if (format[0] == '\0') {
        format = name_guess_muxer(spec->output);
        if (format == NULL) {
            spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
            parse_block(p, RANK_FEATURE,
                        "output format not given and not guessable from the "
                        "file name");
            return;
        }
    }
    if (strcmp(format, "hls") == 0) {
        spec->output_kind = JOB_OUTPUT_HLS;
        return;
    }
    spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
    snprintf(spec->output_format, sizeof(spec->output_format), "%s", format);
    if (strcmp(format, "segment") == 0 || strcmp(format, "ssegment") == 0 ||
        strcmp(format, "stream_segment") == 0)
        parse_block(p, RANK_FEATURE, "segment muxer not native");
    else if (name_is_native_progressive_muxer(format))
        return;
    else if (name_is_progressive_muxer(format))
        parse_block(p, RANK_FEATURE, "progressive output format %.32s not native", format);
    else
        parse_block(p, RANK_FEATURE, "output format %.32s not native", format);
}

/* Whether the pipeline encodes video with this encoder: libx264, libx265,
 * or a hardware encoder on a worker that has its device. */
static int video_encoder_native(const char *codec)
{
    return strcmp(codec, "libx264") == 0 || strcmp(codec, "libx265") == 0 ||
           name_is_pool_hardware_encoder(codec);
}

/* Which codecs the native path runs: libx264, libx265 or a pool hardware encoder
 * (also behind -filter_complex) or copy for video, the pipeline's audio
 * encoders or copy for audio. */
static void finish_codecs(struct argv_parse *p)
{
    const struct job_spec *spec = p->spec;

    if (p->filter_complex_given && (p->video_disabled || !video_encoder_native(spec->video_codec)))
        parse_block(p, RANK_FEATURE, "-filter_complex into %.32s not native",
                    p->video_disabled ? "no video" : spec->video_codec);
    if (p->video_disabled)
        ; /* audio only: the pipeline cuts on the audio timestamps */
    else if (!p->video_codec_given)
        parse_block(p, RANK_FEATURE, "no video codec given");
    else if (!video_encoder_native(spec->video_codec) && strcmp(spec->video_codec, "copy") != 0)
        parse_block(p, RANK_FEATURE, "video codec %.32s not native", spec->video_codec);

    if (!p->audio_disabled) {
        if (!p->audio_codec_given)
            parse_block(p, RANK_FEATURE, "no audio codec given");
        else if (!name_is_native_audio_codec(spec->audio_codec))
            parse_block(p, RANK_FEATURE, "audio codec %.32s not native", spec->audio_codec);
    }

    /* The ipod muxer refuses what it has no tag for (MP3, HEVC): the CLI
     * fails there, and says so in its own words. */
    if (spec->output_kind == JOB_OUTPUT_PROGRESSIVE && strcmp(spec->output_format, "ipod") == 0) {
        if (!name_ipod_takes_codec(spec->video_codec))
            parse_block(p, RANK_FEATURE, "video codec %.32s into ipod not native",
                        spec->video_codec);
        if (!name_ipod_takes_codec(spec->audio_codec))
            parse_block(p, RANK_FEATURE, "audio codec %.32s into ipod not native",
                        spec->audio_codec);
    }
}

/* -r N (a client's frame-rate cap): the CLI encodes at N frames a second,
 * duplicating or dropping frames to fit (vsync cfr). Jellyfin puts fps=N
 * first in -vf as well, so when every filter after it hands on one frame
 * per frame, the graph already makes frames at N on N's time base and the
 * CLI's -r has nothing left to duplicate or drop: the pipeline, which
 * encodes the graph's frames on its time base, makes the same frames.
 * Any other -r (no fps=N first, a filter that may change the rate after
 * it, -filter_complex, no encoder) is the CLI's. */
static void finish_frame_rate(struct argv_parse *p)
{
    const struct job_spec *spec = p->spec;
    if (p->frame_rate[0] == '\0')
        return;
    if (p->video_disabled || !video_encoder_native(spec->video_codec)) {
        parse_block(p, RANK_FEATURE, "-r without a native video encoder not native");
        return;
    }
    if (p->filter_complex_given) {
        parse_block(p, RANK_FEATURE, "-r with -filter_complex not native");
        return;
    }
    const char *cursor = spec->video_filter;
    struct filter_item item;
    if (value_filter_next(&cursor, &item) != VALUE_OK || item.name_len != 3 ||
        strncmp(item.name, "fps", 3) != 0 || strlen(p->frame_rate) != item.args_len ||
        strncmp(item.args, p->frame_rate, item.args_len) != 0) {
        parse_block(p, RANK_FEATURE, "-r %s without fps=%s first in -vf not native", p->frame_rate,
                    p->frame_rate);
        return;
    }
    enum value_status status;
    while ((status = value_filter_next(&cursor, &item)) == VALUE_OK) {
        if (!name_filter_keeps_frame_rate(&item)) {
            int n = (int)(item.name_len + (item.args_len > 0 ? item.args_len + 1 : 0));
            parse_block(p, RANK_FEATURE, "-r %s with %.*s after fps in -vf not native",
                        p->frame_rate, n < 48 ? n : 48, item.name);
            return;
        }
    }
    if (status == VALUE_UNREADABLE)
        parse_block(p, RANK_FEATURE, "-r %s with a -vf that is not one chain not native",
                    p->frame_rate);
}

/* HLS output: the segment length and pattern the pool depends on (refused
 * if wrong), then the muxer options Jellyfin always writes. */
static void finish_hls(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;

    if (!p->hls_time_given)
        spec->hls_time_us = 2000000; /* the hls muxer's default */
    if (spec->hls_time_us <= 0) {
        parse_refuse(p, "-hls_time must be positive");
        return;
    }
    if (p->segment_filename_given && !job_spec_pattern_valid(spec->segment_filename)) {
        parse_refuse(p, "-hls_segment_filename must contain exactly one %%d");
        return;
    }

    /* Jellyfin always writes these; without them ffmpeg's defaults are a
     * 5-entry sliding playlist with no type, which the spec cannot
     * describe. */
    if (!p->segment_filename_given)
        parse_block(p, RANK_FEATURE, "HLS without -hls_segment_filename not native");
    if (!p->hls_list_size_given || p->hls_list_size != 0)
        parse_block(p, RANK_FEATURE, "HLS without -hls_list_size 0 not native");
    if (!p->playlist_type_given)
        parse_block(p, RANK_FEATURE, "HLS without -hls_playlist_type not native");
    if (p->keyframe_interval_us != JOB_SPEC_UNSET && p->keyframe_interval_us != spec->hls_time_us)
        parse_block(p, RANK_FEATURE, "-force_key_frames interval differs from -hls_time");
}

/* The checks that need the whole line, one step each. The first blocker
 * of the lowest rank is the one reported, so the steps keep the order the
 * reasons have always had. finish_hls() may refuse after finish_codecs()
 * has recorded blockers: that ends as a refusal before them would, since a
 * refusal outranks every blocker and finish_codecs() only reads the spec. */
static void finish(struct argv_parse *p)
{
    if (p->device_check) {
        p->spec->output_kind = JOB_OUTPUT_DEVICE_CHECK;
        return;
    }
    if (!p->have_output) {
        /* Jellyfin's device checks (-v verbose -init_hw_device ...) have no
         * input and no output: what it reads is ffmpeg's own verbose stderr
         * and exit status, which only the local ffmpeg can give. */
        parse_block(p, RANK_FEATURE,
                    "no output file and not a device check: the local ffmpeg "
                    "answers");
        return;
    }
    if (!p->have_input) {
        parse_refuse(p, "no input (-i)");
        return;
    }
    if (finish_readrate(p) != 0)
        return;
    p->spec->keyframe_interval_us = p->keyframe_interval_us;

    finish_second_input(p);
    finish_streams(p);
    finish_paths(p);
    finish_output(p);
    finish_codecs(p);
    finish_frame_rate(p);
    if (p->spec->output_kind == JOB_OUTPUT_HLS)
        finish_hls(p);
}

/* Writes "<prefix><text>" into the caller's buffer. */
static void reason_write(char *reason, size_t reasonlen, const char *prefix, const char *text)
{
    if (reason != NULL && reasonlen > 0)
        snprintf(reason, reasonlen, "%s%s", prefix, text);
}

/* Whether argv[0] names ffprobe (Jellyfin runs the same binary under that
 * name, from the same folder). */
static int program_is_ffprobe(const char *program)
{
    const char *base = program;
    for (const char *s = program; *s != '\0'; s++)
        if (*s == '/' || *s == '\\')
            base = s + 1;
    return strncasecmp(base, "ffprobe", 7) == 0;
}

/* Whether argv is Jellyfin's device check exactly: one or more
 * -init_hw_device, -hide_banner and the verbose log level (-v or -loglevel),
 * and nothing else. A worker answers such a line as the CLI would (its
 * stderr byte for byte); any other line without an output is ffmpeg's to
 * answer, since only the CLI knows what it prints. */
static int device_check_shape(int argc, char *const argv[])
{
    int devices = 0, banner = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-hide_banner") == 0) {
            banner++;
        } else if (i + 1 < argc && strcmp(arg, "-init_hw_device") == 0) {
            devices++;
            i++;
        } else if (i + 1 < argc && (strcmp(arg, "-v") == 0 || strcmp(arg, "-loglevel") == 0) &&
                   strcmp(argv[i + 1], "verbose") == 0) {
            verbose++;
            i++;
        } else {
            return 0;
        }
    }
    return devices > 0 && banner == 1 && verbose == 1;
}

enum argv_decision argv_parse_job(int argc, char *const argv[], struct job_spec *spec, char *reason,
                                  size_t reasonlen)
{
    if (spec == NULL) {
        reason_write(reason, reasonlen, "refuse: ", "no job spec to fill");
        return ARGV_REFUSE;
    }
    job_spec_init(spec);
    if (argv == NULL || argc < 1 || argv[0] == NULL) {
        reason_write(reason, reasonlen, "refuse: ", "empty command line");
        return ARGV_REFUSE;
    }
    /* A NULL entry ends argv early, so a short vector with a large argc
     * cannot be read past its terminator. */
    for (int i = 1; i < argc; i++) {
        if (argv[i] == NULL) {
            argc = i;
            break;
        }
    }

    if (program_is_ffprobe(argv[0])) {
        reason_write(reason, reasonlen, "passthrough: ", "probe (ffprobe)");
        return ARGV_PASSTHROUGH;
    }

    struct argv_parse p;
    parse_init(&p, spec);
    p.device_check = device_check_shape(argc, argv);

    /* ffmpeg answers a probe option (-version, -encoders...) and exits
     * before it looks at anything else, so look for one first. */
    for (int i = 1; i < argc; i++) {
        const char *specifier;
        const struct option_def *def;
        if (argv[i][0] != '-' || argv[i][1] == '\0')
            continue;
        if (strcmp(argv[i], "-i") == 0) {
            i++;
            continue;
        }
        def = option_find(argv[i], &specifier);
        if (def == NULL)
            break; /* arity unknown from here on */
        if (def->flags & OPT_PROBE) {
            char text[ARGV_REASON_MAX];
            snprintf(text, sizeof(text), "probe %.64s", argv[i]);
            reason_write(reason, reasonlen, "passthrough: ", text);
            return ARGV_PASSTHROUGH;
        }
        if (def->flags & OPT_VALUE)
            i++;
    }

    for (int i = 1; i < argc && !p.stopped; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] != '\0') {
            int second = parse_second_input(&p, argc, argv, i);
            if (second >= 0)
                i = second;
            else if (strcmp(arg, "-i") == 0)
                i = parse_input(&p, argc, argv, i);
            else
                i = parse_option(&p, argc, argv, i);
        } else {
            parse_output(&p, arg);
        }
    }

    if (!p.refused && !p.stopped)
        finish(&p);

    if (p.refused) {
        reason_write(reason, reasonlen, "refuse: ", p.refuse_reason);
        return ARGV_REFUSE;
    }
    if (p.blocker_rank != RANK_NONE) {
        reason_write(reason, reasonlen, "passthrough: ", p.blocker_reason);
        return ARGV_PASSTHROUGH;
    }

    /* Last guard: the spec must satisfy what every consumer relies on. */
    char err[ARGV_REASON_MAX];
    if (job_spec_validate(spec, err, sizeof(err)) != 0) {
        reason_write(reason, reasonlen, "passthrough: job spec invalid: ", err);
        return ARGV_PASSTHROUGH;
    }
    char text[ARGV_REASON_MAX];
    if (spec->output_kind == JOB_OUTPUT_DEVICE_CHECK)
        snprintf(text, sizeof(text), "device check of %d device%s", spec->n_hw_devices,
                 spec->n_hw_devices == 1 ? "" : "s");
    else
        snprintf(text, sizeof(text), "%s %.32s+%.32s",
                 spec->output_kind == JOB_OUTPUT_HLS ? "HLS" : "progressive",
                 spec->video_codec[0] == '\0' ? "no video" : spec->video_codec,
                 spec->audio_codec[0] == '\0' ? "no audio" : spec->audio_codec);
    reason_write(reason, reasonlen, "native: ", text);
    return ARGV_NATIVE;
}

const char *argv_decision_name(enum argv_decision decision)
{
    switch (decision) {
    case ARGV_NATIVE:
        return "native";
    case ARGV_PASSTHROUGH:
        return "passthrough";
    case ARGV_REFUSE:
        return "refuse";
    }
    return "unknown";
}

/* ---------------------------------------------------------------------------
 * Job key
 * ------------------------------------------------------------------------- */

#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv1a_bytes(uint64_t hash, const void *data, size_t n)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < n; i++) {
        hash ^= bytes[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

void argv_job_key(int argc, char *const argv[], char out[33])
{
    /* The second half starts from a different state and sees every byte
     * inverted, so the two halves do not collide together. */
    uint64_t first = FNV_OFFSET_BASIS, second = FNV_OFFSET_BASIS ^ 0x6666706f6f6c2121ULL;
    for (int i = 1; argv != NULL && i < argc && argv[i] != NULL; i++) {
        /* Each argument is prefixed with its length so that ("ab", "c")
         * and ("a", "bc") hash differently. */
        uint64_t length = strlen(argv[i]);
        unsigned char prefix[8];
        for (int k = 0; k < 8; k++)
            prefix[k] = (unsigned char)(length >> (8 * k));
        first = fnv1a_bytes(first, prefix, sizeof(prefix));
        first = fnv1a_bytes(first, argv[i], (size_t)length);
        for (int k = 0; k < 8; k++)
            prefix[k] = (unsigned char)~prefix[k];
        second = fnv1a_bytes(second, prefix, sizeof(prefix));
        for (size_t k = 0; k < length; k++) {
            unsigned char inverted = (unsigned char)~(unsigned char)argv[i][k];
            second = fnv1a_bytes(second, &inverted, 1);
        }
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)first, (unsigned long long)second);
}
