/* pipeline_video.c -- the video stream: decode, filter, encode with libx264, libx265
 * or a hardware encoder (VAAPI, QSV, NVENC), or copy its packets; either
 * way, mark where segments begin.
 *
 * Owns the video decoder, the filter graph (pipeline_graph.c), the encoder,
 * the subtitle drawn into a -filter_complex graph (pipeline_subtitle.c),
 * or, for a copy, the -bsf:v chain; hands every encoded (or copied) packet
 * to the segment writer, the first packet of each segment with its struct
 * segment_cut. Whether the stream is copied or encoded is chosen once, in
 * pipeline_video_open, as a table of functions (struct video_mode): nothing
 * after that asks again.
 *
 * Encoding: the filter graph is built from the first decoded frame and the
 * encoder from the first filtered frame, as the ffmpeg CLI does, so both
 * see the real frame properties (size, format, colour signalling set by
 * setparams, a hardware frames context). What makes segments line up on
 * every worker: the first frame at or past each boundary k*T is forced to
 * an IDR (pict_type I, with the options each encoder needs to make it an
 * IDR and to make none of its own: struct video_encoder_kind), pict_type is
 * cleared on every other frame, frames keep their input timestamps (no
 * frame-rate conversion), and a run that starts mid-stream drops every
 * frame before its start, so its first frame is the same frame a run from
 * the start put first in that segment.
 *
 * Hardware (pipeline_hw.c does what the CLI does at each step): the decoder
 * (-c:v before -i may name one, as h264_cuvid) gets its device and
 * get_format before it opens; decoded surfaces are downloaded unless
 * -hwaccel_output_format keeps them; the graph gets the filter device and
 * the frames' hardware frames context; the encoder gets the filtered
 * frames' frames context or a device. Frames that change (size, format,
 * another hardware frames context) get a graph built again, as the CLI's
 * reconfiguration, scaled back to the first size unless -noautoscale.
 *
 * Copying: packets go through the -bsf:v chain and segments start on
 * source keyframes by the CLI's rule (timeline_cutter, pipeline_timeline.h).
 *
 * With a handoff (pipeline.c's two-thread run) the decoder and the filter
 * graph run on the reader thread and push each filtered frame into it; the
 * encoder runs on the caller's thread (pipeline_video_encode_frame). The
 * decoder always gets libav's automatic thread count, frame and slice
 * threads, as the CLI's does: -threads is the encoder's (and, as in the CLI,
 * the filter graph's). This stage's counters are its own: `decoded` is
 * written by the decoding side only, `frames` by the encoding side only.
 * It calls the segment writer, its graph and subtitle, the run's hardware,
 * the handoff, the timeline and the run's error sink, never the driver. */
#include "pipeline_video.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/bsf.h>
#include <libavutil/fifo.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>

#include "pipeline_graph.h"
#include "pipeline_subtitle.h"

/* Video frames between two pushes of an unchanged subtitle canvas: the
 * overlay holds up to this many video frames waiting for one. */
#define VIDEO_SUBTITLE_HEARTBEAT 8

struct video_mode;

struct pipeline_video {
    struct pipeline_run *run;
    const struct pipeline_timeline *timeline;
    struct segment_writer *writer;
    const struct video_mode *mode; /* copy or encode, chosen at open */
    AVStream *stream;
    AVFormatContext *input; /* for -filter_complex's stream labels and the canvas size */
    AVRational frame_rate;  /* guessed from the input, for the filter graph and x264 */
    AVPacket *packet;       /* encoded, or copied */
    AVFifo *cuts;           /* of struct segment_cut, not yet out of the encoder (bsf) */
    int64_t frame_duration; /* in the encoder's (bsf's output) time base */
    int64_t frames;         /* encoding side: frames sent to the encoder (packets muxed) */
    int64_t decoded;        /* decoding side: frames decoded (packets taken) */

    /* Encoding. */
    struct pipeline_hw *hw; /* the run's hardware, NULL: none (not owned) */
    AVCodecContext *decoder;
    const AVCodec *encoder_codec;
    const struct video_encoder_kind *encoder_kind;
    struct pipeline_graph *graph; /* built from the first decoded frame */
    /* The first graph's output, which the encoder is opened for: written by
     * the decoding side before it hands on the graph's first frame, read by
     * the encoding side after; a graph built again later keeps to it. */
    struct pipeline_graph_output sink;
    int graph_built;
    AVCodecContext *encoder;
    AVFrame *frame; /* decoded */
    AVFrame *filtered;
    int wait_keyframe;        /* drop input packets until a keyframe (after a seek) */
    int64_t start_ts;         /* in the stream time base: earlier frames are dropped */
    int64_t end_ts;           /* decoding side: where the last frame fed to the graph ends
                                 (stream time base), AV_NOPTS_VALUE: none fed */
    int started;              /* the first segment's frame has been sent */
    int next_index;           /* file number of the next segment */
    int64_t next_cut_ts;      /* in the encoder time base: frames at or past it start a segment */
    int64_t next_keyframe_ts; /* progressive with a keyframe interval: frames at or past it
                                 are forced IDRs (encoder time base); INT64_MAX: none */
    int64_t last_pts;         /* of the latest frame sent to the encoder */
    /* The run's first segment has an encoder of its own, drained when the
     * next segment's first frame arrives (see video_encode): when each
     * segment is a muxer of its own (MPEG-TS). Set while that first encoder
     * is the open one. */
    int first_encoder;
    /* The encoder's reorder delay was worked out, not told by the encoder
     * (libx265): its first packet must bear it out. */
    int delay_unchecked;
    /* With a handoff the reader thread decodes and filters and pushes each
     * filtered frame into it; the encoding thread encodes. */
    struct pipeline_handoff *handoff;

    /* -filter_complex with a subtitle stream: its canvas feeds the graph's
     * subtitle input, pushed when it changes and every few frames. */
    struct pipeline_subtitle *subtitle;
    AVFrame *sub_frame;
    int sub_pushed;      /* a canvas has been pushed */
    int sub_since_push;  /* video frames fed since the last canvas was pushed */
    int64_t sub_last_ts; /* of the latest video frame fed */

    /* Copying. */
    AVBSFContext *bsf;
    struct timeline_cutter cutter;
};

/* One way of turning the stream's packets into muxed packets. */
struct video_mode {
    /* Sets the mode up, after the fields every mode shares. */
    int (*open)(struct pipeline_video *v);
    /* Takes one input packet (NULL: end of input, drain). */
    int (*packet)(struct pipeline_video *v, const AVPacket *pkt);
    /* Takes the next packet ready for the muxer into pkt; *got 0 when none
     * is. */
    int (*receive)(struct pipeline_video *v, AVPacket *pkt, int *got);
};

static const struct video_mode video_copy_mode;
static const struct video_mode video_encode_mode;

int pipeline_video_open(struct pipeline_video **out, struct pipeline_run *run,
                        const struct pipeline_timeline *t, struct segment_writer *writer,
                        struct pipeline_hw *hw, AVFormatContext *input, AVStream *stream)
{
    struct pipeline_video *v = *out = av_mallocz(sizeof(*v));
    if (v == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video stage");
    v->run = run;
    v->hw = hw;
    v->timeline = t;
    v->writer = writer;
    v->stream = stream;
    v->input = input;
    v->last_pts = AV_NOPTS_VALUE;
    v->end_ts = AV_NOPTS_VALUE;
    v->next_keyframe_ts = INT64_MAX;
    /* After a seek the demuxer may start on a frame that needs earlier ones. */
    v->wait_keyframe = 1;
    v->start_ts = t->trim ? timeline_stream_ts(t, t->start_us, stream->time_base) : INT64_MIN;
    v->frame_rate = av_guess_frame_rate(input, stream, NULL);
    v->mode = strcmp(run->spec->video_codec, "copy") == 0 ? &video_copy_mode : &video_encode_mode;
    v->packet = av_packet_alloc();
    v->cuts = av_fifo_alloc2(8, sizeof(struct segment_cut), AV_FIFO_FLAG_AUTO_GROW);
    if (v->packet == NULL || v->cuts == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video stage");
    return v->mode->open(v);
}

/* Hands every packet the mode has ready to the writer, with the queued cut
 * attached to the packet that starts a segment. */
static int video_mux_ready(struct pipeline_video *v)
{
    for (;;) {
        int got;
        int ret = v->mode->receive(v, v->packet, &got);
        if (ret != PIPELINE_OK || !got)
            return ret;
        if (v->packet->duration <= 0)
            v->packet->duration = v->frame_duration;
        int64_t pts = v->packet->pts != AV_NOPTS_VALUE ? v->packet->pts : v->packet->dts;
        struct segment_cut cut;
        const struct segment_cut *starts = NULL;
        if (av_fifo_peek(v->cuts, &cut, 1, 0) >= 0 && pts == cut.pts) {
            av_fifo_drain2(v->cuts, 1);
            starts = &cut;
        }
        if ((ret = segment_writer_video(v->writer, v->packet, starts)) != PIPELINE_OK)
            return ret;
    }
}

/* ---- stream copy ------------------------------------------------------------- */

/* Sets up the -bsf:v chain (or a pass-through) and declares the copied
 * stream to the writer. */
static int video_copy_open(struct pipeline_video *v)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    AVStream *stream = v->stream;
    int averr;

    if (spec->video_bsf[0] != '\0')
        averr = av_bsf_list_parse_str(spec->video_bsf, &v->bsf);
    else
        averr = av_bsf_get_null_filter(&v->bsf);
    if (averr < 0)
        return pipeline_fail(run, averr, "set up video bitstream filter \"%s\"", spec->video_bsf);
    averr = avcodec_parameters_copy(v->bsf->par_in, stream->codecpar);
    if (averr < 0)
        return pipeline_fail(run, averr, "set up video bitstream filter \"%s\"", spec->video_bsf);
    v->bsf->time_base_in = stream->time_base;
    averr = av_bsf_init(v->bsf);
    if (averr < 0)
        return pipeline_fail(run, averr, "set up video bitstream filter \"%s\" for %s",
                             spec->video_bsf, avcodec_get_name(stream->codecpar->codec_id));

    AVRational rate = v->frame_rate;
    if (rate.num <= 0 || rate.den <= 0)
        rate = (AVRational){25, 1};
    v->frame_duration = av_rescale_q(1, av_inv_q(rate), v->bsf->time_base_out);
    if (v->frame_duration <= 0)
        v->frame_duration = 1;
    timeline_cutter_init_run(&v->cutter, v->timeline, stream->time_base);

    /* The first dts a run from the start muxes: the first frame minus the
     * reorder delay the parser reports (what the CLI's muxer shifts by). */
    int64_t first_us = v->timeline->origin_us;
    if (stream->start_time != AV_NOPTS_VALUE)
        first_us = av_rescale_q(stream->start_time, stream->time_base, AV_TIME_BASE_Q);
    first_us -= av_rescale_q(stream->codecpar->video_delay, av_inv_q(rate), AV_TIME_BASE_Q);
    return segment_writer_add_stream(v->writer, SEGMENT_VIDEO, v->bsf->par_out,
                                     v->bsf->time_base_out, first_us);
}

static int video_copy_receive(struct pipeline_video *v, AVPacket *pkt, int *got)
{
    int averr = av_bsf_receive_packet(v->bsf, pkt);
    *got = averr >= 0;
    if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
        return PIPELINE_OK;
    if (averr < 0)
        return pipeline_fail(v->run, averr, "filter video packets (%s)", v->run->spec->video_bsf);
    v->frames++;
    return PIPELINE_OK;
}

/* One packet of copied video (NULL: end of input). */
static int video_copy_packet(struct pipeline_video *v, const AVPacket *pkt)
{
    struct pipeline_run *run = v->run;
    int averr;
    if (pkt != NULL) {
        int ret = pipeline_poll_stop(run);
        if (ret != PIPELINE_OK)
            return ret;
        int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        struct segment_cut cut;
        int step =
            timeline_cutter_step(&v->cutter, v->timeline, pts, pkt->flags & AV_PKT_FLAG_KEY, &cut);
        if (step < 0)
            return PIPELINE_OK;
        v->decoded++;
        if (step > 0 && (averr = av_fifo_write(v->cuts, &cut, 1)) < 0)
            return pipeline_fail(run, averr, "queue a segment cut");
        averr = av_packet_ref(v->packet, pkt);
        if (averr < 0)
            return pipeline_fail(run, averr, "copy a video packet");
        averr = av_bsf_send_packet(v->bsf, v->packet);
        av_packet_unref(v->packet);
    } else {
        averr = av_bsf_send_packet(v->bsf, NULL);
    }
    if (averr < 0 && averr != AVERROR_EOF)
        return pipeline_fail(run, averr, "filter video packets (%s)", run->spec->video_bsf);
    return video_mux_ready(v);
}

static const struct video_mode video_copy_mode = {
    .open = video_copy_open,
    .packet = video_copy_packet,
    .receive = video_copy_receive,
};

/* ---- the encoders segments are cut with ----------------------------------------- */

/* How an encoder is made to start each segment with an IDR on the frame
 * given pict_type I, and to make no IDR of its own in between (which the
 * uninterrupted run would have where a resumed one would not): options set
 * after the job's own, and the GOP it gets. */
struct video_encoder_kind {
    const char *name;
    const char *const *options; /* key, value, ..., NULL */
    int gop;                    /* 0: -g as given; else this GOP */
};

/* x264: forced frames are IDRs, no scene-cut keyframes (its keyint counts
 * from each forced IDR). */
static const char *const video_x264_options[] = {"forced-idr", "1", "sc_threshold", "0", NULL};
/* x265 likewise (forced-idr); its scene cuts are turned off in
 * -x265-params (video_x265_params), where x265 reads them. */
static const char *const video_x265_options[] = {"forced-idr", "1", NULL};
/* VAAPI makes a forced frame an IDR by itself and restarts its GOP counter
 * there (vaapi_encode.c), so its -g (Jellyfin gives none: 120) puts any
 * GOP IDR at the same offset from its segment's start in every run. */
static const char *const video_vaapi_options[] = {NULL};
/* QSV and NVENC make a forced frame an I frame only, unless told
 * (forced_idr / forced-idr, which Jellyfin never passes); whether a forced
 * IDR restarts their GOP is the driver's business, so their GOP is made one
 * they never reach: QSV's GopPicSize is 16 bits and h264's IdrInterval (I
 * frames between IDRs, 16 bits) at its largest, hevc's "begin_only" (its
 * first frame only: every later IDR is forced); NVENC's gopLength and
 * idrPeriod at INT_MAX frames, and no scene-cut I frames with lookahead. */
static const char *const video_qsv_h264_options[] = {"forced_idr", "1", "idr_interval", "65535",
                                                     NULL};
static const char *const video_qsv_hevc_options[] = {"forced_idr", "1", "idr_interval",
                                                     "begin_only", NULL};
static const char *const video_nvenc_options[] = {"forced-idr", "1", "no-scenecut", "1", NULL};

static const struct video_encoder_kind video_encoder_kinds[] = {
    {"libx264", video_x264_options, 0},           {"libx265", video_x265_options, 0},
    {"h264_vaapi", video_vaapi_options, 0},       {"hevc_vaapi", video_vaapi_options, 0},
    {"h264_qsv", video_qsv_h264_options, 65535},  {"hevc_qsv", video_qsv_hevc_options, 65535},
    {"h264_nvenc", video_nvenc_options, INT_MAX}, {"hevc_nvenc", video_nvenc_options, INT_MAX},
};

/* ---- decoder ------------------------------------------------------------------ */

/* Opens the decoder (-c:v before -i names one, as h264_cuvid, else the
 * stream's default), with the run's hardware set up on it first; the
 * filter graph and the encoder follow the first decoded frame. */
static int video_decode_open(struct pipeline_video *v)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    AVStream *stream = v->stream;
    AVDictionary *options = NULL;

    for (size_t i = 0; i < sizeof(video_encoder_kinds) / sizeof(video_encoder_kinds[0]); i++)
        if (strcmp(spec->video_codec, video_encoder_kinds[i].name) == 0)
            v->encoder_kind = &video_encoder_kinds[i];
    if (v->encoder_kind == NULL)
        return pipeline_fail(run, 0, "video codec %s is not supported yet", spec->video_codec);
    v->encoder_codec = avcodec_find_encoder_by_name(spec->video_codec);
    if (v->encoder_codec == NULL)
        return pipeline_fail(run, AVERROR_ENCODER_NOT_FOUND, "find video encoder %s",
                             spec->video_codec);

    const AVCodec *codec;
    if (spec->video_decoder[0] != '\0') {
        codec = avcodec_find_decoder_by_name(spec->video_decoder);
        if (codec == NULL || codec->type != AVMEDIA_TYPE_VIDEO)
            return pipeline_fail(run, AVERROR_DECODER_NOT_FOUND, "find video decoder %s",
                                 spec->video_decoder);
    } else {
        codec = avcodec_find_decoder(stream->codecpar->codec_id);
    }
    if (codec == NULL)
        return pipeline_fail(run, AVERROR_DECODER_NOT_FOUND,
                             "find a decoder for video stream %d (%s)", stream->index,
                             avcodec_get_name(stream->codecpar->codec_id));
    v->decoder = avcodec_alloc_context3(codec);
    v->frame = av_frame_alloc();
    v->filtered = av_frame_alloc();
    if (v->decoder == NULL || v->frame == NULL || v->filtered == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video stage");

    int averr = avcodec_parameters_to_context(v->decoder, stream->codecpar);
    if (averr < 0)
        return pipeline_fail(run, averr, "set up the video decoder");
    v->decoder->pkt_timebase = stream->time_base;
    v->decoder->framerate = v->frame_rate;
    /* Decoding threads are the worker's business (-threads sets the
     * encoder's): as many as the CLI's decoder gets by default. */
    v->decoder->thread_count = 0;
    v->decoder->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    /* A decoder named for a stream of another codec decodes it as its own
     * (the CLI sets the stream's codec id to the decoder's). */
    v->decoder->codec_id = codec->id;
    int ret = PIPELINE_OK;
    if (v->hw != NULL)
        ret = pipeline_hw_setup_decoder(v->hw, v->decoder, &options);
    if (ret == PIPELINE_OK) {
        averr = avcodec_open2(v->decoder, codec, &options);
        if (averr < 0)
            ret = pipeline_fail(run, averr, "open video decoder %s", codec->name);
    }
    av_dict_free(&options);
    return ret;
}

/* ---- encoder --------------------------------------------------------------- */

static int video_set_option(struct pipeline_run *run, AVDictionary **options, const char *key,
                            const char *value)
{
    int averr = av_dict_set(options, key, value, 0);
    return averr < 0 ? pipeline_fail(run, averr, "set video encoder option %s", key) : PIPELINE_OK;
}

/* Adds the job's further encoder options ("key=value" lines, as a hardware
 * encoder's rc_mode or low_power) to options. Returns a pipeline_result. */
static int video_set_further_options(struct pipeline_run *run, AVDictionary **options)
{
    const char *lines = run->spec->video_encoder_options;
    while (*lines != '\0') {
        size_t n = strcspn(lines, "\n");
        char line[sizeof(run->spec->video_encoder_options)];
        snprintf(line, sizeof(line), "%.*s", (int)n, lines);
        lines += n + (lines[n] == '\n');
        char *eq = strchr(line, '=');
        if (eq == NULL || eq == line)
            return pipeline_fail(run, AVERROR(EINVAL),
                                 "video encoder option \"%s\" is not key=value", line);
        *eq = '\0';
        int ret = video_set_option(run, options, line, eq + 1);
        if (ret != PIPELINE_OK)
            return ret;
    }
    return PIPELINE_OK;
}

/* libx265 has no sc_threshold: a scene cut is turned off in its
 * -x265-params, appended to the job's own unless they already say
 * (Jellyfin 10.10+ writes no-scenecut=1; 10.9 only no-info=1). */
static int video_x265_params(struct pipeline_run *run, AVDictionary **options)
{
    const AVDictionaryEntry *given = av_dict_get(*options, "x265-params", NULL, 0);
    if (given != NULL && strstr(given->value, "scenecut") != NULL)
        return PIPELINE_OK;
    char params[sizeof(run->spec->video_encoder_options) + 16];
    snprintf(params, sizeof(params), "%s%sscenecut=0", given != NULL ? given->value : "",
             given != NULL && given->value[0] != '\0' ? ":" : "");
    return video_set_option(run, options, "x265-params", params);
}

/* Whether an x265 boolean parameter's value ("", "1", "true", "yes", "on")
 * is true. */
static int video_x265_true(const char *value)
{
    return value[0] == '\0' || strcmp(value, "1") == 0 || strcmp(value, "true") == 0 ||
           strcmp(value, "yes") == 0 || strcmp(value, "on") == 0;
}

/* libx265 in libav 5.1 leaves has_b_frames at 0 while its dts trail its
 * pts by x265's reorder delay: none without B-frames, 2 with a B-pyramid
 * (every preset's default), 1 without. Worked out as x265 sets its
 * parameters: the preset's (B-frames and a pyramid in every one), then -bf,
 * then -x265-params in order ("bframes=N", "[no-]b-pyramid[=V]"). The
 * first packet checks it (video_encoder_receive). */
static int video_x265_delay(const AVCodecContext *enc, const AVDictionary *options)
{
    const AVDictionaryEntry *bf = av_dict_get(options, "bf", NULL, 0);
    int max_b_frames = bf != NULL ? atoi(bf->value) : enc->max_b_frames;
    int bframes = max_b_frames >= 0 ? max_b_frames : 4, pyramid = 1;
    const AVDictionaryEntry *params = av_dict_get(options, "x265-params", NULL, 0);
    for (const char *p = params != NULL ? params->value : ""; *p != '\0';) {
        char token[128], *value;
        size_t n = strcspn(p, ":");
        snprintf(token, sizeof(token), "%.*s", (int)(n < sizeof(token) ? n : sizeof(token) - 1), p);
        p += n + (p[n] == ':');
        value = strchr(token, '=');
        if (value != NULL)
            *value++ = '\0';
        int negated = strncmp(token, "no-", 3) == 0;
        const char *key = negated ? token + 3 : token;
        if (strcmp(key, "bframes") == 0 && value != NULL)
            bframes = atoi(value);
        else if (strcmp(key, "b-pyramid") == 0)
            pyramid = video_x265_true(value != NULL ? value : "") != negated;
    }
    return bframes <= 0 ? 0 : pyramid ? 2 : 1;
}

/* The first option in options that enc (with its private options) does
 * not have, or NULL: refused before the encoder opens, so the error names
 * it even where the encoder's device is missing. */
static const AVDictionaryEntry *video_unknown_option(AVCodecContext *enc,
                                                     const AVDictionary *options)
{
    const AVDictionaryEntry *e = NULL;
    while ((e = av_dict_get(options, "", e, AV_DICT_IGNORE_SUFFIX)) != NULL)
        if (av_opt_find(enc, e->key, NULL, 0, AV_OPT_SEARCH_CHILDREN) == NULL)
            return e;
    return NULL;
}

/* Opens the video encoder for frames like `frame` (the first out of the
 * filter graph) and, for the run's first encoder (declare set), declares
 * the video stream to the writer. A later encoder has the same settings,
 * hence the same parameters and delay: the writer keeps the first one's. A
 * hardware encoder gets the frames' hardware frames context, or a device
 * (pipeline_hw_setup_encoder). */
static int video_open_encoder(struct pipeline_video *v, const AVFrame *frame, int declare)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    const struct pipeline_graph_output *sink = &v->sink;
    AVDictionary *options = NULL;
    AVCodecParameters *par = NULL;
    char number[32];
    int ret = PIPELINE_OK;
    int averr;

    AVCodecContext *enc = v->encoder = avcodec_alloc_context3(v->encoder_codec);
    if (enc == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video encoder");
    enc->width = sink->width;
    enc->height = sink->height;
    enc->pix_fmt = sink->format;
    enc->sample_aspect_ratio = sink->sample_aspect_ratio;
    /* Encoding in the filter's time base keeps every input timestamp exact. */
    enc->time_base = sink->time_base;
    AVRational rate = sink->frame_rate;
    if (rate.num <= 0 || rate.den <= 0)
        rate = v->frame_rate;
    if (rate.num <= 0 || rate.den <= 0)
        rate = (AVRational){25, 1};
    /* x264's rate control needs the real frame rate, not 1/time_base. */
    enc->framerate = rate;
    enc->color_range = frame->color_range;
    enc->color_primaries = frame->color_primaries;
    enc->color_trc = frame->color_trc;
    enc->colorspace = frame->colorspace;
    enc->chroma_sample_location = frame->chroma_location;
    enc->thread_count = spec->threads;
    if (spec->gop > 0)
        enc->gop_size = spec->gop;
    if (spec->keyint_min > 0)
        enc->keyint_min = spec->keyint_min;
    if (spec->video_bitrate > 0)
        enc->bit_rate = spec->video_bitrate;
    if (spec->maxrate > 0)
        enc->rc_max_rate = spec->maxrate;
    if (spec->bufsize > 0)
        enc->rc_buffer_size = (int)spec->bufsize;

    if (spec->preset[0] && (ret = video_set_option(run, &options, "preset", spec->preset)))
        goto end;
    if (spec->crf >= 0) {
        snprintf(number, sizeof(number), "%d", spec->crf);
        if ((ret = video_set_option(run, &options, "crf", number)))
            goto end;
    }
    if (spec->profile[0] && (ret = video_set_option(run, &options, "profile", spec->profile)))
        goto end;
    if (spec->level[0] && (ret = video_set_option(run, &options, "level", spec->level)))
        goto end;
    if (spec->x264opts[0] && (ret = video_set_option(run, &options, "x264opts", spec->x264opts)))
        goto end;
    if ((ret = video_set_further_options(run, &options)) != PIPELINE_OK)
        goto end;
    /* Segment boundaries: forced frames become IDRs, and the encoder makes
     * none of its own (struct video_encoder_kind). */
    for (const char *const *kv = v->encoder_kind->options; kv[0] != NULL; kv += 2)
        if ((ret = video_set_option(run, &options, kv[0], kv[1])) != PIPELINE_OK)
            goto end;
    if (v->encoder_kind->gop > 0)
        enc->gop_size = v->encoder_kind->gop;
    if (v->encoder_kind->options == video_x265_options &&
        (ret = video_x265_params(run, &options)) != PIPELINE_OK)
        goto end;
    const AVDictionaryEntry *unknown = video_unknown_option(enc, options);
    if (unknown != NULL) {
        ret = pipeline_fail(run, 0, "open video encoder %s: option %s is not recognised",
                            v->encoder_codec->name, unknown->key);
        goto end;
    }
    if (v->hw != NULL && (ret = pipeline_hw_setup_encoder(v->hw, enc, frame)) != PIPELINE_OK)
        goto end;

    int x265_delay = video_x265_delay(enc, options);
    averr = avcodec_open2(enc, v->encoder_codec, &options);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "open video encoder %s", v->encoder_codec->name);
        goto end;
    }
    const AVDictionaryEntry *unused = av_dict_get(options, "", NULL, AV_DICT_IGNORE_SUFFIX);
    if (unused != NULL) {
        ret = pipeline_fail(run, 0, "open video encoder %s: option %s is not recognised",
                            v->encoder_codec->name, unused->key);
        goto end;
    }
    if (v->encoder_kind->options == video_x265_options) {
        enc->has_b_frames = x265_delay;
        v->delay_unchecked = 1;
    }

    v->frame_duration = av_rescale_q(1, av_inv_q(rate), enc->time_base);
    if (v->frame_duration <= 0)
        v->frame_duration = 1;
    if (!declare)
        goto end;
    v->first_encoder = segment_writer_muxer_per_segment(v->writer);

    /* A run from the start of the input would mux its first dts one
     * reorder delay before the stream's first frame, as the graph puts it
     * on its time base's grid (fps=25: 0.021 s -> 0.04 s, as the CLI's). */
    int64_t first_us = v->timeline->origin_us;
    if (v->stream->start_time != AV_NOPTS_VALUE) {
        int64_t first = av_rescale_q_rnd(v->stream->start_time, v->stream->time_base,
                                         enc->time_base, AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX);
        first_us = av_rescale_q(first, enc->time_base, AV_TIME_BASE_Q);
    }
    int64_t delay_us = av_rescale_q(enc->has_b_frames, av_inv_q(rate), AV_TIME_BASE_Q);

    par = avcodec_parameters_alloc();
    if (par == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate video stream parameters");
        goto end;
    }
    averr = avcodec_parameters_from_context(par, enc);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "read video encoder parameters");
        goto end;
    }
    ret = segment_writer_add_stream(v->writer, SEGMENT_VIDEO, par, enc->time_base,
                                    first_us - delay_us);
end:
    avcodec_parameters_free(&par);
    av_dict_free(&options);
    return ret;
}

static int video_encoder_receive(struct pipeline_video *v, AVPacket *pkt, int *got)
{
    int averr = avcodec_receive_packet(v->encoder, pkt);
    *got = averr >= 0;
    if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
        return PIPELINE_OK;
    if (averr < 0)
        return pipeline_fail(v->run, averr, "encode video");
    /* An encoder's first packet is its first frame, whose dts trails its
     * pts by the reorder delay assumed (video_x265_delay). */
    if (v->delay_unchecked && pkt->pts != AV_NOPTS_VALUE && pkt->dts != AV_NOPTS_VALUE) {
        v->delay_unchecked = 0;
        int64_t lag = pkt->pts - pkt->dts;
        int64_t frames = (lag + v->frame_duration / 2) / v->frame_duration;
        if (frames != v->encoder->has_b_frames)
            return pipeline_fail(v->run, 0,
                                 "encode video: %s delays its dts by %lld frames, not %d as ffpool "
                                 "worked out from its options",
                                 v->encoder_codec->name, (long long)frames,
                                 v->encoder->has_b_frames);
    }
    return PIPELINE_OK;
}

/* The run's first segment is complete once its last frame leaves the
 * encoder, but x264 holds a frame back for its lookahead, B-frame reorder
 * and frame threads (18 frames with Jellyfin's veryfast line): with one
 * encoder, segment 0 would be closed only when the IDR of segment 1 comes
 * out, that many frames later. So the first segment's encoder is drained
 * when segment `cut` (the next one) gets its first frame, the writer is
 * told the segment ends there, and a fresh encoder takes the rest of the
 * run: what a run resumed at that segment does, so the output is the same
 * (every segment starts with an IDR; the new encoder's first dts is its
 * IDR's pts minus the same reorder delay, where the uninterrupted encoder
 * puts it). MPEG-TS only: each segment there is its own muxer, while an
 * fMP4 run's one muxer would see the two encoders' dts meet, which x264
 * does not promise to keep increasing on a variable frame rate source.
 * Returns a pipeline_result. */
static int video_switch_encoder(struct pipeline_video *v, const AVFrame *frame,
                                const struct segment_cut *cut)
{
    int averr = avcodec_send_frame(v->encoder, NULL);
    if (averr < 0)
        return pipeline_fail(v->run, averr, "drain the first segment's video encoder");
    int ret = video_mux_ready(v);
    if (ret != PIPELINE_OK)
        return ret;
    /* Segment 0 may be handed over now: before the encoder is closed and
     * the next one opened. */
    v->first_encoder = 0;
    if ((ret = segment_writer_video_cut(v->writer, cut)) != PIPELINE_OK)
        return ret;
    int delay = v->encoder->has_b_frames;
    avcodec_free_context(&v->encoder);
    if ((ret = video_open_encoder(v, frame, 0)) != PIPELINE_OK)
        return ret;
    /* The cuts' split points and the writer's shift assume one delay. */
    if (v->encoder->has_b_frames != delay)
        return pipeline_fail(v->run, 0, "reopen video encoder %s: reorder delay %d, was %d",
                             v->encoder_codec->name, v->encoder->has_b_frames, delay);
    return PIPELINE_OK;
}

/* A progressive output with -force_key_frames "expr:gte(t,n_forced*K)":
 * after the IDR at pts, the next one goes on the first frame at or after
 * the next multiple of K of output time (counted from the job's start, as
 * the CLI's t is without -copyts). HLS keyframes are the segment cuts. */
static void video_plan_keyframe(struct pipeline_video *v, int64_t pts)
{
    const struct job_spec *spec = v->run->spec;
    const struct pipeline_timeline *t = v->timeline;
    int64_t interval = spec->keyframe_interval_us;
    if (spec->output_kind != JOB_OUTPUT_PROGRESSIVE || interval <= 0)
        return;
    AVRational tb = v->encoder->time_base;
    int64_t since = timeline_stream_time_us(t, pts, tb) - t->job_start_us;
    int64_t n = timeline_floor_div(since, interval) + 1;
    v->next_keyframe_ts = timeline_stream_ts(t, t->job_start_us + n * interval, tb);
}

/* Sends one filtered frame (NULL: drain) to the encoder, forcing an IDR on
 * the first frame of every segment (and, progressive, every keyframe
 * interval). */
static int video_encode(struct pipeline_video *v, AVFrame *frame)
{
    struct pipeline_run *run = v->run;
    const struct pipeline_timeline *t = v->timeline;
    int ret;

    if (frame != NULL) {
        if (v->encoder == NULL && (ret = video_open_encoder(v, frame, 1)) != PIPELINE_OK)
            return ret;
        AVRational tb = v->encoder->time_base;
        int64_t pts = frame->pts;
        /* x264 refuses equal or backward timestamps; nudge them forward. */
        if (pts == AV_NOPTS_VALUE)
            pts = v->last_pts == AV_NOPTS_VALUE ? 0 : v->last_pts + v->frame_duration;
        else if (v->last_pts != AV_NOPTS_VALUE && pts <= v->last_pts)
            pts = v->last_pts + 1;
        frame->pts = pts;
        v->last_pts = pts;

        if (!v->started || pts >= v->next_cut_ts) {
            struct segment_cut cut = {
                .index = v->started ? v->next_index : t->first_index,
                .boundary = timeline_boundary_index(t, pts, tb),
                .pts = pts,
                .start_us = timeline_stream_time_us(t, pts, tb),
                /* Where the uninterrupted run's IDR has its dts: the
                 * encoder's reorder delay (x264: 2 with B-pyramid) in
                 * frames before its pts. Taken from the encoder's dts
                 * instead, a resumed run would cut the audio elsewhere on
                 * a variable frame rate source: x264 derives the dts of a
                 * session's first frames from the frames after them. */
                .split = pts - (int64_t)v->encoder->has_b_frames * v->frame_duration,
            };
            if (!v->started && cut.boundary < t->first_boundary)
                cut.boundary = t->first_boundary;
            if (v->started && v->first_encoder) {
                /* The writer has the cut: the new encoder's first packet
                 * goes in without one. */
                if ((ret = video_switch_encoder(v, frame, &cut)) != PIPELINE_OK)
                    return ret;
            } else {
                int averr = av_fifo_write(v->cuts, &cut, 1);
                if (averr < 0)
                    return pipeline_fail(run, averr, "queue a segment cut");
            }
            v->started = 1;
            v->next_index = cut.index + 1;
            v->next_cut_ts = timeline_boundary_ts(t, cut.boundary + 1, tb);
            video_plan_keyframe(v, pts);
            frame->pict_type = AV_PICTURE_TYPE_I;
        } else if (pts >= v->next_keyframe_ts) {
            video_plan_keyframe(v, pts);
            frame->pict_type = AV_PICTURE_TYPE_I;
        } else {
            /* The decoder's picture type must not leak into the encoder. */
            frame->pict_type = AV_PICTURE_TYPE_NONE;
        }
        v->frames++;
    } else if (v->encoder == NULL) {
        return PIPELINE_OK;
    }

    int averr = avcodec_send_frame(v->encoder, frame);
    if (averr < 0)
        return pipeline_fail(run, averr, "encode video");
    return video_mux_ready(v);
}

int pipeline_video_encode_frame(struct pipeline_video *v, AVFrame *frame)
{
    int ret = video_encode(v, frame);
    av_frame_unref(frame);
    return ret;
}

int pipeline_video_finish(struct pipeline_video *v)
{
    return video_encode(v, NULL);
}

/* ---- decoding and filtering ------------------------------------------------------ */

/* Whether the decoding side should stop: with a handoff it runs on the
 * reader thread, which never calls the run's callbacks and stops when the
 * encoding side aborts the queue. */
static int video_poll_stop(const struct pipeline_video *v)
{
    if (v->handoff != NULL)
        return pipeline_handoff_aborted(v->handoff) ? PIPELINE_STOPPED : PIPELINE_OK;
    return pipeline_poll_stop(v->run);
}

/* Encodes (or hands to the encoding thread) every frame the filter graph
 * has ready. */
static int video_pull_filtered(struct pipeline_video *v)
{
    for (;;) {
        int averr = pipeline_graph_receive(v->graph, v->filtered);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(v->run, averr, "filter video");
        if (v->handoff == NULL) {
            int ret = pipeline_video_encode_frame(v, v->filtered);
            if (ret != PIPELINE_OK)
                return ret;
            continue;
        }
        averr = pipeline_handoff_push_frame(v->handoff, v->filtered);
        if (averr == AVERROR_EXIT)
            return PIPELINE_STOPPED;
        if (averr < 0)
            return pipeline_fail(v->run, averr, "hand a video frame to the encoder");
    }
}

/* Pushes the canvas on screen with timestamp ts into the subtitle input. */
static int video_push_subtitle(struct pipeline_video *v, int64_t ts)
{
    int averr = av_frame_ref(v->sub_frame, pipeline_subtitle_shown(v->subtitle));
    if (averr >= 0) {
        v->sub_frame->pts = ts;
        averr = pipeline_graph_send_subtitle(v->graph, v->sub_frame);
        av_frame_unref(v->sub_frame);
    }
    if (averr < 0)
        return pipeline_fail(v->run, averr, "feed the subtitle into the filter graph");
    v->sub_pushed = 1;
    v->sub_since_push = 0;
    return PIPELINE_OK;
}

/* -filter_complex with a subtitle input, before the video frame at ts: a
 * canvas that changes at this frame is pushed with its timestamp, so the
 * overlay draws it from this frame on; an unchanged one is repeated every
 * few frames so the overlay can let the frames before it go. */
static int video_feed_subtitle(struct pipeline_video *v, int64_t ts)
{
    /* A frame without a time (or at the end of time) cannot be paired: the
     * overlay keeps it with the canvas pushed last. */
    if (ts == AV_NOPTS_VALUE || ts == INT64_MAX || (v->sub_pushed && ts <= v->sub_last_ts))
        return PIPELINE_OK;
    int changed;
    int ret = pipeline_subtitle_update(
        v->subtitle, av_rescale_q(ts, v->stream->time_base, AV_TIME_BASE_Q), &changed);
    if (ret != PIPELINE_OK)
        return ret;
    v->sub_last_ts = ts;
    if (changed || !v->sub_pushed || ++v->sub_since_push >= VIDEO_SUBTITLE_HEARTBEAT)
        return video_push_subtitle(v, ts);
    return PIPELINE_OK;
}

/* Builds the filter graph around the first decoded frame, or again around
 * the first frame of a change (the CLI's reconfiguration: what the old
 * graph still holds is dropped, as the CLI drops it; the new one keeps the
 * encoder's format and, with autoscale, its size; the subtitle canvas goes
 * in again). */
static int video_build_graph(struct pipeline_video *v, const AVFrame *frame)
{
    struct pipeline_graph_source src = {
        .input = v->input,
        .stream = v->stream,
        .frame_rate = v->frame_rate,
        .pix_fmts = v->encoder_codec->pix_fmts,
        .subtitle_index = -1,
        .hw_device = v->hw != NULL ? pipeline_hw_filter_device(v->hw) : NULL,
        .first = v->graph_built ? &v->sink : NULL,
    };
    if (v->subtitle != NULL)
        pipeline_subtitle_source(v->subtitle, &src.subtitle_file, &src.subtitle_index,
                                 &src.subtitle_width, &src.subtitle_height);
    pipeline_graph_free(&v->graph);
    v->sub_pushed = 0;
    int ret = pipeline_graph_build(&v->graph, v->run, &src, frame);
    if (ret == PIPELINE_OK && !v->graph_built) {
        v->sink = *pipeline_graph_output(v->graph);
        v->graph_built = 1;
    }
    return ret;
}

/* Notes where frame (about to enter the graph) ends, where the CLI ends the
 * graph's input: after its duration, else one frame at the decoder's rate. */
static void video_note_end(struct pipeline_video *v, const AVFrame *frame)
{
    if (frame->pts == AV_NOPTS_VALUE)
        return;
    int64_t duration = frame->pkt_duration;
    AVRational rate = v->decoder->framerate;
    if (duration <= 0 && rate.num > 0 && rate.den > 0)
        duration = av_rescale_q(1, av_inv_q(rate), v->stream->time_base);
    v->end_ts = frame->pts + (duration > 0 ? duration : 0);
}

/* Filters and encodes every frame the decoder has ready. */
static int video_receive_frames(struct pipeline_video *v)
{
    struct pipeline_run *run = v->run;
    for (;;) {
        int averr = avcodec_receive_frame(v->decoder, v->frame);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr == AVERROR_INVALIDDATA)
            continue; /* a damaged frame: the CLI skips it too */
        if (averr < 0)
            return pipeline_fail(run, averr, "decode video");
        v->decoded++;

        int ret = video_poll_stop(v);
        int64_t ts = v->frame->best_effort_timestamp;
        if (ret != PIPELINE_OK || (ts != AV_NOPTS_VALUE && ts < v->start_ts)) {
            av_frame_unref(v->frame);
            if (ret != PIPELINE_OK)
                return ret;
            continue;
        }
        v->frame->pts = ts;
        video_note_end(v, v->frame);
        if (v->hw != NULL && (averr = pipeline_hw_retrieve(v->hw, v->frame)) < 0) {
            av_frame_unref(v->frame);
            return pipeline_fail(run, averr, "transfer a decoded video frame to memory (%s)",
                                 run->spec->hwaccel_output_format[0] != '\0'
                                     ? run->spec->hwaccel_output_format
                                     : "its frames' own format");
        }
        if ((v->graph == NULL || !pipeline_graph_accepts(v->graph, v->frame)) &&
            (ret = video_build_graph(v, v->frame)) != PIPELINE_OK) {
            av_frame_unref(v->frame);
            return ret;
        }
        if (pipeline_graph_has_subtitle(v->graph) &&
            (ret = video_feed_subtitle(v, ts)) != PIPELINE_OK) {
            av_frame_unref(v->frame);
            return ret;
        }
        averr = pipeline_graph_send(v->graph, v->frame);
        av_frame_unref(v->frame);
        if (averr < 0)
            return pipeline_fail(run, averr, "feed the video filter graph");
        if ((ret = video_pull_filtered(v)) != PIPELINE_OK)
            return ret;
    }
}

/* One packet of encoded video (NULL: end of input): decode, filter and
 * encode (or hand to the encoding thread). */
static int video_decode_packet(struct pipeline_video *v, const AVPacket *pkt)
{
    struct pipeline_run *run = v->run;
    int ret;

    if (pkt != NULL) {
        if (v->wait_keyframe && !(pkt->flags & AV_PKT_FLAG_KEY))
            return PIPELINE_OK;
        v->wait_keyframe = 0;
    }
    int averr = avcodec_send_packet(v->decoder, pkt);
    if (averr == AVERROR_INVALIDDATA)
        return PIPELINE_OK; /* a damaged packet: skip it, as the CLI does */
    if (averr < 0 && averr != AVERROR_EOF)
        return pipeline_fail(run, averr, "decode video");
    if ((ret = video_receive_frames(v)) != PIPELINE_OK)
        return ret;
    if (pkt != NULL)
        return PIPELINE_OK;

    /* End of input: drain the filter graph, then the encoder. */
    if (v->graph != NULL) {
        int subtitle = pipeline_graph_has_subtitle(v->graph);
        /* A last canvas past every video frame lets the overlay draw the
         * frames it holds before the subtitle input ends. */
        if (subtitle && v->sub_pushed &&
            (ret = video_push_subtitle(v, v->sub_last_ts + 1)) != PIPELINE_OK)
            return ret;
        averr = pipeline_graph_close(v->graph, v->end_ts);
        if (averr >= 0 && subtitle)
            averr = pipeline_graph_send_subtitle(v->graph, NULL);
        if (averr < 0)
            return pipeline_fail(run, averr, "drain the video filter graph");
        if ((ret = video_pull_filtered(v)) != PIPELINE_OK)
            return ret;
    }
    return v->handoff != NULL ? PIPELINE_OK : video_encode(v, NULL);
}

static const struct video_mode video_encode_mode = {
    .open = video_decode_open,
    .packet = video_decode_packet,
    .receive = video_encoder_receive,
};

/* ---- the stage's other entry points ---------------------------------------------- */

int pipeline_video_packet(struct pipeline_video *v, const AVPacket *pkt)
{
    return v->mode->packet(v, pkt);
}

int pipeline_video_open_subtitle(struct pipeline_video *v, AVFormatContext *file, AVStream *stream)
{
    v->sub_frame = av_frame_alloc();
    if (v->sub_frame == NULL)
        return pipeline_fail(v->run, AVERROR(ENOMEM), "allocate the subtitle stage");
    return pipeline_subtitle_open(&v->subtitle, v->run, file, stream);
}

int pipeline_video_subtitle_lookback(struct pipeline_video *v, const struct pipeline_input *input,
                                     AVPacket *pkt)
{
    return pipeline_subtitle_lookback(v->subtitle, input, v->timeline, v->stream->index, pkt);
}

int pipeline_video_subtitle_packet(struct pipeline_video *v, const AVPacket *pkt)
{
    return v->subtitle != NULL ? pipeline_subtitle_packet(v->subtitle, pkt) : PIPELINE_OK;
}

void pipeline_video_set_handoff(struct pipeline_video *v, struct pipeline_handoff *handoff)
{
    v->handoff = handoff;
}

int pipeline_video_takes_hw_frames(const struct pipeline_video *v)
{
    if (v == NULL || v->encoder_codec == NULL)
        return 0;
    for (int i = 0;; i++) {
        const AVCodecHWConfig *config = avcodec_get_hw_config(v->encoder_codec, i);
        if (config == NULL)
            return 0;
        if (config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_FRAMES_CTX)
            return 1;
    }
}

int64_t pipeline_video_frames(const struct pipeline_video *v)
{
    return v != NULL ? v->frames : 0;
}

int64_t pipeline_video_decoded(const struct pipeline_video *v)
{
    return v != NULL ? v->decoded : 0;
}

void pipeline_video_close(struct pipeline_video **vp)
{
    struct pipeline_video *v = *vp;
    if (v == NULL)
        return;
    avcodec_free_context(&v->decoder);
    avcodec_free_context(&v->encoder);
    pipeline_graph_free(&v->graph);
    av_frame_free(&v->frame);
    av_frame_free(&v->filtered);
    av_packet_free(&v->packet);
    av_fifo_freep2(&v->cuts);
    av_bsf_free(&v->bsf);
    pipeline_subtitle_close(&v->subtitle);
    av_frame_free(&v->sub_frame);
    av_freep(vp);
}
