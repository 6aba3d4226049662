/* argv_options.c -- the options the native path knows: one table, and a
 * handler for each option.
 *
 * Every option the native path knows is in option_table with its arity,
 * where it may appear (before -i, after it, or both) and which stream
 * specifiers it takes, so the walk (argv.c) always consumes an option with
 * the right number of values, even when its value rules the native path
 * out. A handler reads its value into the job spec or the parser state, and
 * records a blocker or a refusal (argv_state.c) for anything the native path
 * cannot serve; checks that need the whole line wait for finish() in argv.c.
 * Options ffmpeg answers and exits on (-version, -encoders...) are in the
 * table too, flagged OPT_PROBE and without a handler. The hardware options'
 * handlers are in argv_hardware.c.
 *
 * Never allocates, never logs, never touches the file system. */
#include "argv_internal.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Reading integer values into the state
 * ------------------------------------------------------------------------- */

static int parse_int(struct argv_parse *p, const char *opt, const char *value, int min, int *out)
{
    int64_t v;
    if (parse_integer(p, opt, value, 0, min, INT_MAX, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Option handlers. Each gets the option as written (for reasons), the
 * stream kind its specifier selected ('v', 'a', 's', or '*' for none) and
 * its value (NULL for options without one).
 * ------------------------------------------------------------------------- */

static void on_ignore(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* Accepted and meaningless for a pool job (banner, log level, -y). */
}

static void on_format(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->phase == PHASE_INPUT) {
        if (parse_store(p, opt, p->spec->input_format, sizeof(p->spec->input_format), value) != 0)
            return;
        if (!name_is_file_demuxer(value))
            parse_block(p, RANK_FEATURE, "input format %.32s not native", value);
        return;
    }
    if (value[0] == '\0' || strlen(value) >= sizeof(p->output_format)) {
        parse_block(p, RANK_FEATURE, "cannot read output format");
        return;
    }
    strcpy(p->output_format, value);
}

static void on_analyzeduration(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
        p->spec->analyzeduration_us = v;
}

static void on_probesize(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 32, INT64_MAX, &v) == 0)
        p->spec->probesize = v;
}

/* -fflags is a flag set: "+genpts", "+igndts+genpts", "genpts". genpts has
 * its own field; the other flags Jellyfin writes (igndts for tuners,
 * ignidx for recordings in progress, discardcorrupt, fastseek) go to
 * libavformat's "fflags" as written. */
static void on_fflags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    const char *s = value;
    if (*s == '\0') {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value", opt);
        return;
    }
    while (*s != '\0') {
        int set = 1;
        if (*s == '+' || *s == '-')
            set = *s++ == '+';
        size_t n = strcspn(s, "+-");
        char name[32];
        if (n == 0 || n >= sizeof(name)) {
            parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
            return;
        }
        memcpy(name, s, n);
        name[n] = '\0';
        s += n;
        if (strcmp(name, "genpts") == 0) {
            p->spec->genpts = set;
            continue;
        }
        if (!name_is_native_input_fflag(name)) {
            parse_block(p, RANK_FEATURE, "-fflags flag %s not native", name);
            continue;
        }
        size_t used = strlen(p->spec->input_fflags);
        size_t room = sizeof(p->spec->input_fflags) - used;
        if ((size_t)snprintf(p->spec->input_fflags + used, room, "%c%s", set ? '+' : '-', name) >=
            room) {
            p->spec->input_fflags[used] = '\0';
            parse_block(p, RANK_FEATURE, "value of %.64s too long for the job spec", opt);
        }
    }
}

/* -user_agent, -referer: the HTTP protocol's options for a URL input (M3U
 * tuners, .strm sources with headers), as written. */
static void on_input_protocol_string(struct argv_parse *p, const char *opt, char kind,
                                     const char *value)
{
    parse_option_line_set(p, opt, p->spec->input_options, sizeof(p->spec->input_options), opt + 1,
                          value, 0);
}

/* -reconnect, -reconnect_at_eof, -reconnect_streamed (booleans) and
 * -reconnect_delay_max (seconds): the HTTP protocol's reconnection. */
static void on_input_protocol_integer(struct argv_parse *p, const char *opt, char kind,
                                      const char *value)
{
    int64_t v;
    char text[32];
    if (parse_integer(p, opt, value, 0, 0, INT_MAX, &v) != 0)
        return;
    snprintf(text, sizeof(text), "%lld", (long long)v);
    parse_option_line_set(p, opt, p->spec->input_options, sizeof(p->spec->input_options), opt + 1,
                          text, 0);
}

static void on_seek(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t us;
    enum value_status status = value_parse_duration_us(value, &us);
    if (status != VALUE_OK) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    if (p->phase != PHASE_INPUT) {
        parse_block(p, RANK_FEATURE, "output-side -ss not native");
        return;
    }
    if (us < 0) {
        parse_block(p, RANK_FEATURE, "negative -ss not native");
        return;
    }
    p->spec->seek_us = us;
}

static void on_accurate_seek(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->spec->accurate_seek = strcmp(opt, "-accurate_seek") == 0;
}

/* -autorotate and -autoscale take 0/1 in ffmpeg < 6 (HAS_ARG|OPT_BOOL). */
static int parse_boolean(struct argv_parse *p, const char *opt, const char *value, int *out)
{
    if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0) {
        *out = value[0] == '1';
        return 0;
    }
    parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    return -1;
}

static void on_autorotate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (value == NULL)
        p->spec->autorotate = 0; /* -noautorotate */
    else
        parse_boolean(p, opt, value, &p->spec->autorotate);
}

/* -noautoscale / -autoscale 0: no scaler after a mid-stream size change
 * (Jellyfin's hardware lines, whose frames a software scale cannot take). */
static void on_autoscale(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (value == NULL)
        p->spec->autoscale = 0; /* -noautoscale */
    else
        parse_boolean(p, opt, value, &p->spec->autoscale);
}

/* -threads before -i sets decoder threads, after it encoder threads. The
 * spec has one count, the encoder's: decoding threads are the worker's
 * business, so the input value is checked and dropped. */
static void on_threads(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int threads;
    if (strcmp(value, "auto") == 0)
        threads = 0;
    else if (parse_int(p, opt, value, 0, &threads) != 0)
        return;
    if (p->phase != PHASE_INPUT)
        p->spec->threads = threads;
}

/* Reads "0:N" (input 0, stream N). Returns N, or -1 for any other form. */
static int map_stream_index(const char *value)
{
    size_t digits = strncmp(value, "0:", 2) == 0 ? strspn(value + 2, "0123456789") : 0;
    if (digits == 0 || digits > 9 || value[2 + digits] != '\0')
        return -1;
    return atoi(value + 2); /* at most 9 digits: fits */
}

static void on_map(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (value[0] == '-') {
        if (strcmp(value, "-0:a") == 0) {
            /* "-map 0:V -map -0:a": Jellyfin's line for a source without
             * audio (and no audio options after it). It takes every audio
             * stream out of the maps before it, which by Jellyfin's order
             * (video, then audio) is the second one. With no -map before
             * it ffmpeg fails ("matches no streams"), in its own words. */
            if (!p->maps_given) {
                parse_block(p, RANK_FEATURE, "-map %.32s without a -map before it", value);
                return;
            }
            if (p->map_count == 2)
                p->map_count = 1;
            p->audio_unmapped = 1;
            return;
        }
        /* "-map -0:N" takes stream N back out of the maps before it (Jellyfin
         * maps its video and then unmaps it when -filter_complex makes the
         * video). Other negative maps ("-0:s") drop subtitles, which a
         * native job never outputs anyway. */
        int index = map_stream_index(value + 1);
        int kept = 0;
        for (int i = 0; i < p->map_count; i++)
            if (p->maps[i] != index)
                p->maps[kept++] = p->maps[i];
        p->map_count = kept;
        return;
    }
    if (value[0] == '[') {
        /* A -filter_complex output, checked against the graph at the end.
         * It must be the first output stream: the ":0" in -codec:v:0 and
         * the other per-stream options mean it. */
        size_t n = strlen(value);
        if (n < 3 || n >= sizeof(p->map_label) || value[n - 1] != ']' || p->map_label[0] != '\0' ||
            p->map_count > 0)
            parse_block(p, RANK_FEATURE, "-map %.32s not native", value);
        else {
            memcpy(p->map_label, value, n + 1);
            p->maps_given = 1;
        }
        return;
    }
    if (strncmp(value, "1:", 2) == 0) {
        /* A stream of the second input: Jellyfin's "-map 1:N -sn" beside an
         * external subtitle burned in is void (-sn drops a subtitle map);
         * anything else (external audio) is checked at the end
         * (finish_second_input, argv.c). */
        if (p->second_map[0] != '\0' || strlen(value) >= sizeof(p->second_map))
            parse_block(p, RANK_FEATURE,
                        "-map %.32s: more than one stream of a second input "
                        "not native",
                        value);
        else
            strcpy(p->second_map, value);
        return;
    }
    int index = map_stream_index(value);
    if (index < 0) {
        parse_block(p, RANK_FEATURE, "-map %.32s not native", value);
        return;
    }
    if (p->map_count == 2) {
        parse_block(p, RANK_FEATURE, "more than two mapped streams not native");
        return;
    }
    p->maps[p->map_count++] = index;
    p->maps_given = 1;
    p->audio_unmapped = 0;
}

static void on_map_minus_one(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "-1") != 0)
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, value);
}

static void codec_set_video(struct argv_parse *p, const char *opt, const char *name)
{
    p->video_codec_given = 1;
    if (parse_store(p, opt, p->spec->video_codec, sizeof(p->spec->video_codec), name) != 0)
        return;
    if (name_is_hardware_codec(name) && !name_is_pool_hardware_encoder(name))
        parse_block(p, RANK_HARDWARE_CODEC, "hardware encoder %.64s not run by the pool", name);
}

static void codec_set_audio(struct argv_parse *p, const char *opt, const char *name)
{
    p->audio_codec_given = 1;
    /* libfdk_aac and ffmpeg's aac write the same format; the pool has one. */
    if (strcmp(name, "libfdk_aac") == 0)
        name = "aac";
    parse_store(p, opt, p->spec->audio_codec, sizeof(p->spec->audio_codec), name);
}

static void on_codec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->phase == PHASE_INPUT) {
        /* Before -i a codec option picks the decoder: the video one is part
         * of the job (hevc_cuvid, h264_qsv, Jellyfin's av1 on ffmpeg < 6),
         * routed to workers that have it and its device. */
        if (kind != 'v')
            parse_block(p, RANK_FEATURE, "decoder choice %.64s %.64s not native", opt, value);
        else if (name_is_hardware_codec(value) && !name_is_pool_hardware_decoder(value))
            parse_block(p, RANK_HARDWARE_CODEC, "hardware decoder %.64s not run by the pool",
                        value);
        else if (strcmp(value, "copy") == 0 || value[0] == '\0')
            parse_block(p, RANK_FEATURE, "decoder choice %.64s '%.64s' not native", opt, value);
        else
            parse_store(p, opt, p->spec->video_decoder, sizeof(p->spec->video_decoder), value);
        return;
    }
    if (kind == 's' || kind == 'd' || kind == 't') {
        parse_block(p, RANK_FEATURE, "subtitle or data output (%.64s) not native", opt);
        return;
    }
    if (kind == 'v' || kind == '*')
        codec_set_video(p, opt, value);
    if (kind == 'a' || kind == '*')
        codec_set_audio(p, opt, value);
}

static void on_vcodec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_codec(p, opt, 'v', value);
}

static void on_acodec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_codec(p, opt, 'a', value);
}

static void on_scodec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_codec(p, opt, 's', value);
}

static void on_preset(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->preset, sizeof(p->spec->preset), value);
}

static void on_crf(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->crf);
}

/* -b:v / -b:a / -ab; -b without a specifier is ambiguous in ffmpeg. */
static void on_bitrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (kind == '*') {
        parse_block(p, RANK_FEATURE, "%.64s without a stream type not native", opt);
        return;
    }
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) != 0)
        return;
    if (kind == 'a')
        p->spec->audio_bitrate = v;
    else
        p->spec->video_bitrate = v;
}

static void on_audio_bitrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_bitrate(p, opt, 'a', value);
}

static void on_maxrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
        p->spec->maxrate = v;
}

static void on_bufsize(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
        p->spec->bufsize = v;
}

static void on_profile(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->profile, sizeof(p->spec->profile), value);
}

static void on_level(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->level, sizeof(p->spec->level), value);
}

static void on_x264opts(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->x264opts, sizeof(p->spec->x264opts), value);
}

static void on_pix_fmt(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->pix_fmt, sizeof(p->spec->pix_fmt), value);
}

static void on_gop(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->gop);
}

static void on_keyint_min(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->keyint_min);
}

/* The pool always disables scene-cut keyframes (segments are cut at forced
 * keyframes), so only the value that says so is native. */
static void on_sc_threshold(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int threshold;
    if (parse_int(p, opt, value, INT_MIN, &threshold) == 0 && threshold != 0)
        parse_block(p, RANK_FEATURE, "%.64s %d not native", opt, threshold);
}

/* -r N after -i: the output's frame rate. Kept as written, to be checked
 * against the -vf chain once the line is read (finish_frame_rate, argv.c). */
static void on_frame_rate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    double rate;
    if (value_parse_frame_rate(value, &rate) != VALUE_OK ||
        strlen(value) >= sizeof(p->frame_rate)) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    strcpy(p->frame_rate, value);
}

static void on_force_key_frames(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t interval;
    if (value_parse_keyframe_interval(value, &interval) != VALUE_OK || interval <= 0) {
        parse_block(p, RANK_FEATURE, "-force_key_frames '%.48s' not native", value);
        return;
    }
    p->keyframe_interval_us = interval;
}

/* The graph goes to the worker as written: hardware filters, hwupload,
 * hwmap and hwdownload are filter names like any other, routed by name
 * (routing_job_requires), with the device the line defines. */
static void store_video_filter(struct argv_parse *p, const char *opt, const char *value)
{
    parse_store(p, opt, p->spec->video_filter, sizeof(p->spec->video_filter), value);
}

static void on_video_filter(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->simple_video_filter_given = 1;
    store_video_filter(p, opt, value);
}

/* -filter_complex: the one graph that makes the output's video. Its stream
 * inputs are resolved by the worker (a bitmap subtitle stream among them is
 * drawn as video, as the CLI's sub2video does); which inputs its labels
 * name is checked once every input is read (finish_second_input, argv.c). */
static void on_filter_complex(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->filter_complex_given) {
        parse_block(p, RANK_FEATURE, "more than one -filter_complex not native");
        return;
    }
    p->filter_complex_given = 1;
    store_video_filter(p, opt, value);
}

/* -canvas_size WxH (before -i): the size subtitles are drawn on. */
static void on_canvas_size(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int w, h, end = 0;
    if (sscanf(value, "%dx%d%n", &w, &h, &end) != 2 || value[end] != '\0' || w <= 0 || h <= 0 ||
        w > JOB_SPEC_CANVAS_MAX || h > JOB_SPEC_CANVAS_MAX) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    p->spec->canvas_width = w;
    p->spec->canvas_height = h;
}

/* Reads a rate option (-readrate, -readrate_catchup). A value that is not
 * a number is refused, as ffmpeg refuses it; one this parser cannot read
 * goes to the local ffmpeg. Returns 0 with *out set, or -1. */
static int parse_rate(struct argv_parse *p, const char *opt, const char *value, double *out)
{
    enum value_status status = value_parse_double(value, out);
    if (status == VALUE_RANGE)
        parse_refuse(p, "expected a number for %.64s but found '%.32s'", opt, value);
    else if (status == VALUE_UNREADABLE)
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    return status == VALUE_OK ? 0 : -1;
}

/* -readrate R: read the input no faster than R x real time. Checked with
 * -re and -readrate_catchup once the line is read (finish_readrate, argv.c). */
static void on_readrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_rate(p, opt, value, &p->readrate);
}

/* -re: -readrate 1, unless -readrate says otherwise. */
static void on_rate_emulation(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->rate_emulation = 1;
}

/* -readrate_catchup C (ffmpeg 8.0): how fast a read that fell behind R may
 * catch up. */
static void on_readrate_catchup(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (parse_rate(p, opt, value, &p->readrate_catchup) == 0)
        p->readrate_catchup_given = 1;
}

/* -qscale:a Q (-q:a): variable bit rate at quality Q, as the CLI sets it on
 * the encoder: its qscale flag and global_quality Q x FF_QP2LAMBDA (118).
 * Jellyfin writes it with libmp3lame and libvorbis ("VBR audio encoding").
 * A video -qscale (trickplay's mjpeg) is not a line the pipeline runs. */
static void on_qscale(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    double q;
    if (kind != 'a') {
        parse_block(p, RANK_FEATURE, "%.64s not native (only for audio)", opt);
        return;
    }
    enum value_status status = value_parse_double(value, &q);
    if (status != VALUE_OK || q < 0 || q > 1e6) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    char quality[32];
    snprintf(quality, sizeof(quality), "%d", (int)(118 * q));
    audio_encoder_option_set(p, opt, "flags", "+qscale");
    audio_encoder_option_set(p, opt, "global_quality", quality);
}

/* -abr:a 1: libmp3lame's average bit rate mode, at -b:a (Jellyfin's VBR
 * setting for bit rates outside lame's VBR range). The encoder refuses it
 * if it has no such option, as the CLI's would. */
static void on_audio_abr(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, 1, &v) == 0)
        audio_encoder_option_set(p, opt, "abr", v ? "1" : "0");
}

static void on_audio_filter(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->audio_filter, sizeof(p->spec->audio_filter), value);
}

/* -filter:v / -filter:a */
static void on_filter(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (kind == 'v')
        on_video_filter(p, opt, kind, value);
    else if (kind == 'a')
        on_audio_filter(p, opt, kind, value);
    else
        parse_block(p, RANK_FEATURE, "%.64s without a video or audio specifier not native", opt);
}

static void on_bsf(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* Jellyfin's -bsf:a aac_adtstoasc (AAC copied from MPEG-TS into fMP4):
     * the worker applies it wherever AAC is copied into an MP4 muxer, and
     * the MPEG-TS muxer takes either form. */
    if (kind == 'a' && strcmp(value, "aac_adtstoasc") == 0)
        return;
    if (kind != 'v') {
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native (only -bsf:v and aac_adtstoasc)", opt,
                    value);
        return;
    }
    parse_store(p, opt, p->spec->video_bsf, sizeof(p->spec->video_bsf), value);
}

static void on_tag(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (kind != 'v') {
        parse_block(p, RANK_FEATURE, "%.64s not native (only -tag:v)", opt);
        return;
    }
    parse_store(p, opt, p->spec->video_tag, sizeof(p->spec->video_tag), value);
}

static void on_audio_channels(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 1, &p->spec->audio_channels);
}

static void on_audio_sample_rate(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    parse_int(p, opt, value, 1, &p->spec->audio_sample_rate);
}

static void on_disable(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* -sn: a native job never writes subtitles; it makes a subtitle -map void. */
    if (strcmp(opt, "-sn") == 0)
        p->subtitles_disabled = 1;
    else if (strcmp(opt, "-vn") == 0)
        p->video_disabled = 1;
    else if (strcmp(opt, "-an") == 0)
        p->audio_disabled = 1;
}

/* mp3 tags: the worker's mp3 muxer writes what Jellyfin asks for
 * (-id3v2_version 3 -write_id3v1 1), so only those values are native. */
static void on_id3_tags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    const char *native = strcmp(opt, "-id3v2_version") == 0 ? "3" : "1";
    if (strcmp(value, native) != 0)
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, value);
}

static void on_copyts(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->spec->copyts = 1;
}

static void on_start_at_zero(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->spec->start_at_zero = 1;
}

/* The worker writes timestamps as they are (with -copyts), which is
 * "disabled"; the other modes shift them. */
static void on_avoid_negative_ts(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    if (strcmp(value, "disabled") != 0)
        parse_block(p, RANK_FEATURE, "-avoid_negative_ts %.32s not native", value);
}

static void on_max_muxing_queue_size(struct argv_parse *p, const char *opt, char kind,
                                     const char *value)
{
    int size;
    parse_int(p, opt, value, 1, &size);
}

static void on_max_delay(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 0, -1, INT_MAX, &v) == 0)
        p->spec->max_delay_us = v;
}

/* -strict: the muxers get it (Jellyfin's "-strict -2" lets FLAC, TrueHD
 * or DTS be copied into MP4). */
static void on_strict(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const names[] = {"very",       "strict",       "normal",
                                        "unofficial", "experimental", NULL};
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(value, names[i]) == 0) {
            p->spec->strict = 2 - i;
            return;
        }
    }
    int level;
    if (parse_int(p, opt, value, -2, &level) != 0)
        return;
    if (level > 2)
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    else
        p->spec->strict = level;
}

/* -vsync / -fps_mode: the worker keeps ffmpeg's default (auto); Jellyfin
 * writes it explicitly as "-vsync -1". */
static void on_fps_mode(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "-1") != 0 && strcmp(value, "auto") != 0)
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, value);
}

static void on_hls_time(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t us;
    enum value_status status = value_parse_duration_us(value, &us);
    if (status != VALUE_OK) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    p->spec->hls_time_us = us;
    p->hls_time_given = 1;
}

static void on_hls_segment_type(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "mpegts") == 0)
        p->spec->segment_type = JOB_SEGMENT_MPEGTS;
    else if (strcmp(value, "fmp4") == 0)
        p->spec->segment_type = JOB_SEGMENT_FMP4;
    else
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
}

static void on_hls_init_filename(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    parse_store(p, opt, p->spec->init_filename, sizeof(p->spec->init_filename), value);
}

static void on_start_number(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->start_number);
}

static void on_hls_segment_filename(struct argv_parse *p, const char *opt, char kind,
                                    const char *value)
{
    if (parse_store(p, opt, p->spec->segment_filename, sizeof(p->spec->segment_filename), value) ==
        0)
        p->segment_filename_given = 1;
}

static void on_hls_playlist_type(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    if (strcmp(value, "vod") == 0)
        p->spec->playlist_type = JOB_PLAYLIST_VOD;
    else if (strcmp(value, "event") == 0)
        p->spec->playlist_type = JOB_PLAYLIST_EVENT;
    else {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    p->playlist_type_given = 1;
}

static void on_hls_list_size(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (parse_int(p, opt, value, 0, &p->hls_list_size) == 0)
        p->hls_list_size_given = 1;
}

static void on_hls_base_url(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->base_url, sizeof(p->spec->base_url), value);
}

static void on_hls_segment_options(struct argv_parse *p, const char *opt, char kind,
                                   const char *value)
{
    parse_store(p, opt, p->spec->segment_options, sizeof(p->spec->segment_options), value);
}

static void on_movflags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->movflags, sizeof(p->spec->movflags), value);
}

/* ---------------------------------------------------------------------------
 * The option table
 * ------------------------------------------------------------------------- */

static const struct option_def option_table[] = {
    /* Global. */
    {"y", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"hide_banner", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"nostats", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"stats", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"nostdin", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"loglevel", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_ignore},
    {"v", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_ignore},
    {"threads", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_threads},
    {"f", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_format},
    {"ss", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_seek},

    /* Hardware devices: global options, anywhere before the output, applied
     * in order. */
    {"init_hw_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_init_hw_device},
    {"vaapi_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_device_shorthand},
    {"qsv_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_device_shorthand},
    {"filter_hw_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_filter_hw_device},

    /* Hardware decoding: input options (-hwaccel_flags and -extra_hw_frames
     * are decoder options there; after -i the CLI rejects them). */
    {"hwaccel", OPT_INPUT | OPT_VALUE, STREAMS_VIDEO, on_hwaccel},
    {"hwaccel_device", OPT_INPUT | OPT_VALUE, STREAMS_VIDEO, on_hwaccel_string},
    {"hwaccel_output_format", OPT_INPUT | OPT_VALUE, STREAMS_VIDEO, on_hwaccel_string},
    {"hwaccel_flags", OPT_INPUT | OPT_VALUE, STREAMS_VIDEO, on_hwaccel_flags},
    {"extra_hw_frames", OPT_INPUT | OPT_VALUE, STREAMS_VIDEO, on_extra_hw_frames},

    /* Input. */
    {"analyzeduration", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_analyzeduration},
    {"probesize", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_probesize},
    {"fflags", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_fflags},
    {"noaccurate_seek", OPT_INPUT, STREAMS_NONE, on_accurate_seek},
    {"accurate_seek", OPT_INPUT, STREAMS_NONE, on_accurate_seek},
    {"autorotate", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_autorotate},
    {"noautorotate", OPT_INPUT, STREAMS_NONE, on_autorotate},
    {"canvas_size", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_canvas_size},
    /* Read-speed caps: Jellyfin's -readrate 10 on HLS stream copies when it
     * deletes old segments (-readrate_catchup 1000 once the version is 8.0
     * or later), so that the remux does not finish at once. */
    {"readrate", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_readrate},
    {"readrate_catchup", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_readrate_catchup},
    {"re", OPT_INPUT, STREAMS_NONE, on_rate_emulation},
    /* A URL input's HTTP options. */
    {"user_agent", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_input_protocol_string},
    {"referer", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_input_protocol_string},
    {"reconnect", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_input_protocol_integer},
    {"reconnect_at_eof", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_input_protocol_integer},
    {"reconnect_streamed", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_input_protocol_integer},
    {"reconnect_delay_max", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_input_protocol_integer},

    /* Stream selection and metadata. */
    {"id3v2_version", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_id3_tags},
    {"write_id3v1", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_id3_tags},
    {"map", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_map},
    {"map_metadata", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_map_minus_one},
    {"map_chapters", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_map_minus_one},
    {"vn", OPT_OUTPUT, STREAMS_NONE, on_disable},
    {"an", OPT_OUTPUT, STREAMS_NONE, on_disable},
    {"sn", OPT_OUTPUT, STREAMS_NONE, on_disable},

    /* Codecs (before -i they choose a decoder). */
    {"codec", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_codec},
    {"c", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_codec},
    {"vcodec", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_vcodec},
    {"acodec", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_acodec},
    {"scodec", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_scodec},

    /* Video. */
    {"preset", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_preset},
    {"crf", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_crf},
    {"b", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_bitrate},
    {"maxrate", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_maxrate},
    {"bufsize", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_bufsize},
    {"profile", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_profile},
    {"level", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_level},
    {"x264opts", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_x264opts},
    {"pix_fmt", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_pix_fmt},
    {"g", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_gop},
    {"keyint_min", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_keyint_min},
    {"sc_threshold", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_sc_threshold},
    {"force_key_frames", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_force_key_frames},
    {"r", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_frame_rate},
    {"vf", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_video_filter},
    {"filter_complex", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_filter_complex},
    {"filter", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_filter},
    {"bsf", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_bsf},
    {"tag", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_tag},
    {"vsync", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_fps_mode},
    {"fps_mode", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_fps_mode},
    {"autoscale", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_autoscale},
    {"noautoscale", OPT_OUTPUT, STREAMS_NONE, on_autoscale},

    /* Video encoder options Jellyfin gives hardware encoders (VAAPI: rc_mode,
     * low_power, compression_level, async_depth, sei; QSV: low_power,
     * look_ahead, mbbrc, rc_init_occupancy, async_depth, forced_idr; NVENC:
     * forced-idr), as "key=value" lines for the encoder. */
    {"rc_mode", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_rc_mode},
    {"low_power", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_boolean},
    {"look_ahead", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_boolean},
    {"mbbrc", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_integer},
    {"bf", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_integer},
    {"x265-params", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_string},
    {"forced_idr", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_boolean},
    {"forced-idr", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_boolean},
    {"async_depth", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_integer},
    {"compression_level", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_integer},
    {"rc_init_occupancy", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_encoder_integer},
    {"sei", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_sei},
    {"flags", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_codec_flags},

    /* Audio. */
    {"ab", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_audio_bitrate},
    {"ac", OPT_OUTPUT | OPT_VALUE, STREAMS_AUDIO, on_audio_channels},
    {"ar", OPT_OUTPUT | OPT_VALUE, STREAMS_AUDIO, on_audio_sample_rate},
    {"af", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_audio_filter},
    {"qscale", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_qscale},
    {"q", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_qscale},
    {"abr", OPT_OUTPUT | OPT_VALUE, STREAMS_AUDIO, on_audio_abr},
    {"strict", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_strict},

    /* Muxing. */
    {"copyts", OPT_OUTPUT, STREAMS_NONE, on_copyts},
    {"start_at_zero", OPT_OUTPUT, STREAMS_NONE, on_start_at_zero},
    {"avoid_negative_ts", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_avoid_negative_ts},
    {"max_muxing_queue_size", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_max_muxing_queue_size},
    {"max_delay", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_max_delay},
    {"movflags", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_movflags},

    /* HLS muxer. */
    {"hls_time", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_time},
    {"hls_segment_type", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_segment_type},
    {"hls_fmp4_init_filename", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_init_filename},
    {"start_number", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_start_number},
    {"hls_segment_filename", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_segment_filename},
    {"hls_playlist_type", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_playlist_type},
    {"hls_list_size", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_list_size},
    {"hls_base_url", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_base_url},
    {"hls_segment_options", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_segment_options},

    /* Probes: ffmpeg prints and exits, whatever else the line says. */
    {"version", OPT_PROBE, STREAMS_NONE, NULL},
    {"buildconf", OPT_PROBE, STREAMS_NONE, NULL},
    {"formats", OPT_PROBE, STREAMS_NONE, NULL},
    {"muxers", OPT_PROBE, STREAMS_NONE, NULL},
    {"demuxers", OPT_PROBE, STREAMS_NONE, NULL},
    {"devices", OPT_PROBE, STREAMS_NONE, NULL},
    {"codecs", OPT_PROBE, STREAMS_NONE, NULL},
    {"decoders", OPT_PROBE, STREAMS_NONE, NULL},
    {"encoders", OPT_PROBE, STREAMS_NONE, NULL},
    {"bsfs", OPT_PROBE, STREAMS_NONE, NULL},
    {"protocols", OPT_PROBE, STREAMS_NONE, NULL},
    {"filters", OPT_PROBE, STREAMS_NONE, NULL},
    {"pix_fmts", OPT_PROBE, STREAMS_NONE, NULL},
    {"layouts", OPT_PROBE, STREAMS_NONE, NULL},
    {"sample_fmts", OPT_PROBE, STREAMS_NONE, NULL},
    {"dispositions", OPT_PROBE, STREAMS_NONE, NULL},
    {"colors", OPT_PROBE, STREAMS_NONE, NULL},
    {"hwaccels", OPT_PROBE, STREAMS_NONE, NULL},
    {"sources", OPT_PROBE, STREAMS_NONE, NULL},
    {"sinks", OPT_PROBE, STREAMS_NONE, NULL},
    {"h", OPT_PROBE, STREAMS_NONE, NULL},
    {"help", OPT_PROBE, STREAMS_NONE, NULL},
    {"?", OPT_PROBE, STREAMS_NONE, NULL},
    {"L", OPT_PROBE, STREAMS_NONE, NULL},
};

const struct option_def *option_find(const char *arg, const char **specifier)
{
    const char *name = arg + 1;
    size_t n = strcspn(name, ":");
    *specifier = name[n] == ':' ? name + n + 1 : name + n;
    for (size_t i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++)
        if (strlen(option_table[i].name) == n && strncmp(option_table[i].name, name, n) == 0)
            return &option_table[i];
    return NULL;
}

char option_stream_kind(const struct option_def *def, const char *specifier)
{
    char kind = '*';
    int bare_index = 0;

    if (specifier[0] != '\0') {
        if (strchr("vVasdt", specifier[0]) != NULL &&
            (specifier[1] == '\0' || strcmp(specifier + 1, ":0") == 0))
            kind = specifier[0] == 'V' ? 'v' : specifier[0];
        else if (strcmp(specifier, "0") == 0)
            kind = 'v', bare_index = 1;
        else
            return 0;
    }
    switch (def->streams) {
    case STREAMS_NONE:
        return specifier[0] == '\0' ? '*' : 0;
    case STREAMS_VIDEO:
        return kind == '*' || kind == 'v' ? 'v' : 0;
    case STREAMS_AUDIO:
        return kind == '*' || kind == 'a' ? 'a' : 0;
    case STREAMS_ANY:
        /* "-c:0" (a bare index) is not Jellyfin's form and is ambiguous. */
        return bare_index ? 0 : kind;
    }
    return 0;
}
