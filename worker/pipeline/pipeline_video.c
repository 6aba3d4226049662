/* pipeline_video.c -- the video stream: decode, filter, encode with libx264.
 *
 * Owns the video decoder, the libavfilter graph built from the job's -vf
 * string, and the libx264 encoder; hands every encoded packet to the segment
 * writer. The filter graph is built from the first decoded frame and the
 * encoder from the first filtered frame, as the ffmpeg CLI does, so both see
 * the real frame properties (size, format, colour signalling set by
 * setparams).
 *
 * What makes segments line up on every worker: the first frame at or past
 * each boundary k*T is forced to an IDR (forced-idr, no scene-cut keyframes,
 * pict_type cleared on every other frame), frames keep their input
 * timestamps (no frame-rate conversion), and a run that starts mid-stream
 * drops every frame before its start, so its first frame is the same frame a
 * run from the start put first in that segment.
 *
 * With a handoff (pipeline.c's two-thread run) the decoder and the filter
 * graph run on the reader thread and push each filtered frame into it; the
 * encoder runs on the caller's thread (pipeline_video_encode_frame). The
 * decoder always gets libav's automatic thread count, frame and slice
 * threads, as the CLI's does: -threads is the encoder's (and, as in the CLI,
 * the filter graph's). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/bsf.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "pipeline_internal.h"

static int video_open_copy(struct pipeline_video *v);

int pipeline_video_open(struct pipeline_video *v, struct pipeline_run *run,
                        struct segment_writer *writer, AVFormatContext *input, AVStream *stream)
{
    const struct job_spec *spec = run->spec;
    memset(v, 0, sizeof(*v));
    v->run = run;
    v->writer = writer;
    v->stream = stream;
    v->input = input;
    v->last_pts = AV_NOPTS_VALUE;
    v->next_keyframe_ts = INT64_MAX;
    /* After a seek the demuxer may start on a frame that needs earlier ones. */
    v->wait_keyframe = 1;
    v->start_ts = run->trim ? pipeline_stream_ts(run, run->start_us, stream->time_base) : INT64_MIN;
    v->frame_rate = av_guess_frame_rate(input, stream, NULL);

    if (run->copy_video)
        return video_open_copy(v);
    if (strcmp(spec->video_codec, "libx264") != 0)
        return pipeline_fail(run, 0, "video codec %s is not supported yet", spec->video_codec);
    v->encoder_codec = avcodec_find_encoder_by_name(spec->video_codec);
    if (v->encoder_codec == NULL)
        return pipeline_fail(run, AVERROR_ENCODER_NOT_FOUND, "find video encoder %s",
                             spec->video_codec);

    const AVCodec *codec = avcodec_find_decoder(stream->codecpar->codec_id);
    if (codec == NULL)
        return pipeline_fail(run, AVERROR_DECODER_NOT_FOUND,
                             "find a decoder for video stream %d (%s)", stream->index,
                             avcodec_get_name(stream->codecpar->codec_id));
    v->decoder = avcodec_alloc_context3(codec);
    v->frame = av_frame_alloc();
    v->filtered = av_frame_alloc();
    v->packet = av_packet_alloc();
    v->cuts = av_fifo_alloc2(8, sizeof(struct segment_cut), AV_FIFO_FLAG_AUTO_GROW);
    if (v->decoder == NULL || v->frame == NULL || v->filtered == NULL || v->packet == NULL ||
        v->cuts == NULL)
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
    averr = avcodec_open2(v->decoder, codec, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "open video decoder %s", codec->name);
    return PIPELINE_OK;
}

/* ---- stream copy ------------------------------------------------------------- */

void pipeline_copy_cutter_init(struct pipeline_copy_cutter *c, const struct pipeline_run *run,
                               AVRational tb)
{
    memset(c, 0, sizeof(*c));
    c->tb = tb;
    c->next_index = run->spec->start_number;
    if (run->copy_job_start_ts != INT64_MIN)
        c->start_ts = run->copy_job_start_ts; /* tb is the input video stream's, as there */
    else
        c->start_ts =
            run->job_start_us > 0 ? pipeline_stream_ts(run, run->job_start_us, tb) : INT64_MIN;
}

int pipeline_copy_cutter_step(struct pipeline_copy_cutter *c, const struct pipeline_run *run,
                              int64_t pts, int key, struct segment_cut *cut)
{
    if (!c->started) {
        if (!key || pts == AV_NOPTS_VALUE || pts < c->start_ts)
            return -1;
    } else if (!key || pts == AV_NOPTS_VALUE || pts < c->next_cut_ts) {
        return 0;
    }
    int64_t boundary = run->job_boundary + (c->next_index - run->spec->start_number);
    cut->index = c->next_index;
    cut->boundary = boundary;
    cut->pts = pts;
    cut->start_us = pipeline_stream_time_us(run, pts, c->tb);
    cut->split = AV_NOPTS_VALUE;
    c->started = 1;
    c->next_index++;
    c->next_cut_ts = pipeline_boundary_ts(run, boundary + 1, c->tb);
    return 1;
}

/* Sets up the -bsf:v chain (or a pass-through) and declares the copied
 * stream to the writer. */
static int video_open_copy(struct pipeline_video *v)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    AVStream *stream = v->stream;
    int averr;

    v->packet = av_packet_alloc();
    v->cuts = av_fifo_alloc2(8, sizeof(struct segment_cut), AV_FIFO_FLAG_AUTO_GROW);
    if (v->packet == NULL || v->cuts == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video stage");
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
    pipeline_copy_cutter_init(&v->cutter, run, stream->time_base);
    if (run->copy_start_ts != INT64_MIN) {
        /* A resumed run: its first segment starts at the keyframe the
         * replay of the cutter found (pipeline.c). */
        v->cutter.start_ts = run->copy_start_ts;
        v->cutter.next_index = run->first_index;
    }

    /* The first dts a run from the start muxes: the first frame minus the
     * reorder delay the parser reports (what the CLI's muxer shifts by). */
    int64_t first_us = run->origin_us;
    if (stream->start_time != AV_NOPTS_VALUE)
        first_us = av_rescale_q(stream->start_time, stream->time_base, AV_TIME_BASE_Q);
    first_us -= av_rescale_q(stream->codecpar->video_delay, av_inv_q(rate), AV_TIME_BASE_Q);
    return segment_writer_add_stream(v->writer, SEGMENT_VIDEO, v->bsf->par_out,
                                     v->bsf->time_base_out, first_us);
}

/* Muxes every packet the bitstream filter has ready, the queued cut on the
 * packet that starts a segment. */
static int video_copy_receive(struct pipeline_video *v)
{
    for (;;) {
        int averr = av_bsf_receive_packet(v->bsf, v->packet);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(v->run, averr, "filter video packets (%s)",
                                 v->run->spec->video_bsf);
        if (v->packet->duration <= 0)
            v->packet->duration = v->frame_duration;
        int64_t pts = v->packet->pts != AV_NOPTS_VALUE ? v->packet->pts : v->packet->dts;
        struct segment_cut cut;
        const struct segment_cut *starts = NULL;
        if (av_fifo_peek(v->cuts, &cut, 1, 0) >= 0 && pts == cut.pts) {
            av_fifo_drain2(v->cuts, 1);
            starts = &cut;
        }
        v->run->frames++;
        int ret = segment_writer_video(v->writer, v->packet, starts);
        if (ret != PIPELINE_OK)
            return ret;
    }
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
            pipeline_copy_cutter_step(&v->cutter, run, pts, pkt->flags & AV_PKT_FLAG_KEY, &cut);
        if (step < 0)
            return PIPELINE_OK;
        run->video_decoded++;
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
    return video_copy_receive(v);
}

/* ---- filter graph ---------------------------------------------------------- */

/* The filters the ffmpeg CLI puts first when -autorotate is on (its
 * default) and the input carries a display matrix: a phone's portrait video
 * comes out upright. Writes "" when there is nothing to turn. */
static void video_rotation_filters(const struct pipeline_video *v, const AVFrame *frame, char *out,
                                   size_t len)
{
    out[0] = '\0';
    if (!v->run->spec->autorotate)
        return;
    const int32_t *matrix =
        (const int32_t *)av_stream_get_side_data(v->stream, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (matrix == NULL) {
        const AVFrameSideData *sd = av_frame_get_side_data(frame, AV_FRAME_DATA_DISPLAYMATRIX);
        if (sd != NULL && sd->size >= 9 * sizeof(int32_t))
            matrix = (const int32_t *)sd->data;
    }
    if (matrix == NULL)
        return;
    /* Clockwise degrees in [0, 360), as the CLI rounds them. */
    double theta = -round(av_display_rotation_get(matrix));
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    if (fabs(theta - 90) < 1.0)
        snprintf(out, len, "transpose=%s,", matrix[3] > 0 ? "cclock_flip" : "clock");
    else if (fabs(theta - 180) < 1.0)
        snprintf(out, len, "%s%s", matrix[0] < 0 ? "hflip," : "", matrix[4] < 0 ? "vflip," : "");
    else if (fabs(theta - 270) < 1.0)
        snprintf(out, len, "transpose=%s,", matrix[3] < 0 ? "clock_flip" : "cclock");
    else if (fabs(theta) > 1.0)
        snprintf(out, len, "rotate=%f,", theta * M_PI / 180);
    else if (matrix[4] < 0)
        snprintf(out, len, "vflip,");
}

/* Links from's output pad to to's input pad through the filters of chain
 * ("" = directly). Returns 0 or an AVERROR. */
static int video_link_chain(AVFilterGraph *graph, AVFilterContext *from, int from_pad,
                            const char *chain, AVFilterContext *to, int to_pad)
{
    if (chain[0] == '\0')
        return avfilter_link(from, (unsigned)from_pad, to, (unsigned)to_pad);
    AVFilterInOut *ins = NULL;
    AVFilterInOut *outs = NULL;
    int averr = avfilter_graph_parse2(graph, chain, &ins, &outs);
    if (averr >= 0 && (ins == NULL || outs == NULL || ins->next != NULL || outs->next != NULL))
        averr = AVERROR_BUG;
    if (averr >= 0)
        averr = avfilter_link(from, (unsigned)from_pad, ins->filter_ctx, (unsigned)ins->pad_idx);
    if (averr >= 0)
        averr = avfilter_link(outs->filter_ctx, (unsigned)outs->pad_idx, to, (unsigned)to_pad);
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    return averr;
}

/* Fails the run for a graph libavfilter would not parse, naming a filter
 * the linked libavfilter lacks when that is the reason. */
static int video_graph_parse_failed(struct pipeline_video *v, int averr, const char *description)
{
    char missing[64];
    if (pipeline_filter_missing(description, missing, sizeof(missing)))
        return pipeline_fail(v->run, averr, "parse video filter \"%s\": no filter named %s",
                             description, missing);
    return pipeline_fail(v->run, averr, "parse video filter \"%s\"", description);
}

/* -filter_complex: the job's graph with its stream inputs fed by the video
 * source (through the rotation, as the CLI's input filters do) and by a
 * subtitle source of canvas-sized RGB32 frames, and its one output led
 * (through -pix_fmt) to the sink. */
static int video_link_complex(struct pipeline_video *v, const char *rotation)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    AVFilterInOut *inputs = NULL;
    AVFilterInOut *outputs = NULL;
    char chain[JOB_SPEC_SHORT_MAX + 16];
    int video_linked = 0;
    int ret = PIPELINE_OK;

    int averr = avfilter_graph_parse2(v->graph, spec->video_filter, &inputs, &outputs);
    if (averr < 0) {
        ret = video_graph_parse_failed(v, averr, spec->video_filter);
        goto end;
    }
    /* The rotation chain without its trailing comma. */
    snprintf(chain, sizeof(chain), "%s", rotation);
    if (chain[0] != '\0')
        chain[strlen(chain) - 1] = '\0';
    for (AVFilterInOut *in = inputs; in != NULL && ret == PIPELINE_OK; in = in->next) {
        int index = pipeline_complex_stream(v->input, in->name);
        if (index == v->stream->index && !video_linked) {
            video_linked = 1;
            averr = video_link_chain(v->graph, v->source, 0, chain, in->filter_ctx, in->pad_idx);
        } else if (v->has_subtitle && index == v->subtitle.stream->index && v->sub_source == NULL) {
            char args[256];
            AVRational tb = v->stream->time_base;
            snprintf(args, sizeof(args),
                     "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1",
                     v->subtitle.width, v->subtitle.height, AV_PIX_FMT_RGB32, tb.num, tb.den);
            averr = avfilter_graph_create_filter(&v->sub_source, avfilter_get_by_name("buffer"),
                                                 "sub", args, NULL, v->graph);
            if (averr >= 0)
                averr = avfilter_link(v->sub_source, 0, in->filter_ctx, (unsigned)in->pad_idx);
        } else {
            ret = pipeline_fail(run, 0,
                                "filter_complex input [%s] is not the job's video or "
                                "subtitle stream",
                                in->name ? in->name : "");
            break;
        }
        if (averr < 0)
            ret = pipeline_fail(run, averr, "connect filter_complex input [%s]", in->name);
    }
    if (ret != PIPELINE_OK)
        goto end;
    if (outputs == NULL || outputs->next != NULL) {
        ret = pipeline_fail(run, 0, "filter_complex \"%s\" must have exactly one output",
                            spec->video_filter);
        goto end;
    }
    if (spec->pix_fmt[0] != '\0')
        snprintf(chain, sizeof(chain), "format=%s", spec->pix_fmt);
    else
        chain[0] = '\0';
    averr = video_link_chain(v->graph, outputs->filter_ctx, outputs->pad_idx, chain, v->sink, 0);
    if (averr < 0)
        ret = pipeline_fail(run, averr, "connect the filter_complex output");
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    return ret;
}

/* Builds buffer -> (rotation) -> (the job's -vf) -> buffersink for frames
 * like `frame`, or the job's -filter_complex graph around them. */
static int video_build_graph(struct pipeline_video *v, const AVFrame *frame)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    AVFilterInOut *outputs = NULL;
    AVFilterInOut *inputs = NULL;
    char rotation[64];
    char description[sizeof(rotation) + JOB_SPEC_FILTER_MAX + JOB_SPEC_SHORT_MAX + 16];
    char args[512];
    int ret = PIPELINE_OK;
    int averr;

    /* Without a -vf the encoder still needs one of its formats: -pix_fmt,
     * else yuv420p (what every HLS player decodes). */
    video_rotation_filters(v, frame, rotation, sizeof(rotation));
    if (spec->filter_complex)
        snprintf(description, sizeof(description), "%s", spec->video_filter);
    else if (spec->video_filter[0] == '\0')
        snprintf(description, sizeof(description), "%sformat=%s", rotation,
                 spec->pix_fmt[0] ? spec->pix_fmt : "yuv420p");
    else if (spec->pix_fmt[0] != '\0')
        snprintf(description, sizeof(description), "%s%s,format=%s", rotation, spec->video_filter,
                 spec->pix_fmt);
    else
        snprintf(description, sizeof(description), "%s%s", rotation, spec->video_filter);

    AVRational sar = frame->sample_aspect_ratio;
    if (sar.num <= 0 || sar.den <= 0)
        sar = (AVRational){0, 1};
    AVRational tb = v->stream->time_base;
    int n = snprintf(args, sizeof(args),
                     "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", frame->width,
                     frame->height, frame->format, tb.num, tb.den, sar.num, sar.den);
    if (v->frame_rate.num > 0 && v->frame_rate.den > 0)
        snprintf(args + n, sizeof(args) - (size_t)n, ":frame_rate=%d/%d", v->frame_rate.num,
                 v->frame_rate.den);

    v->graph = avfilter_graph_alloc();
    outputs = avfilter_inout_alloc();
    inputs = avfilter_inout_alloc();
    if (v->graph == NULL || outputs == NULL || inputs == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate the video filter graph");
        goto end;
    }
    /* As the CLI: the graph (and swscale's slices in it) gets -threads,
     * 0 = one per core. */
    v->graph->nb_threads = spec->threads;
    averr = avfilter_graph_create_filter(&v->source, avfilter_get_by_name("buffer"), "in", args,
                                         NULL, v->graph);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the video filter source");
        goto end;
    }
    v->sink = avfilter_graph_alloc_filter(v->graph, avfilter_get_by_name("buffersink"), "out");
    if (v->sink == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "create the video filter sink");
        goto end;
    }
    /* Let the graph convert to a format the encoder takes, as the CLI does. */
    if (v->encoder_codec->pix_fmts != NULL) {
        averr = av_opt_set_int_list(v->sink, "pix_fmts", v->encoder_codec->pix_fmts,
                                    AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN);
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "set the video filter sink formats");
            goto end;
        }
    }
    averr = avfilter_init_str(v->sink, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the video filter sink");
        goto end;
    }

    if (spec->filter_complex) {
        if ((ret = video_link_complex(v, rotation)) != PIPELINE_OK)
            goto end;
    } else {
        outputs->name = av_strdup("in");
        outputs->filter_ctx = v->source;
        inputs->name = av_strdup("out");
        inputs->filter_ctx = v->sink;
        if (outputs->name == NULL || inputs->name == NULL) {
            ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate the video filter graph");
            goto end;
        }
        /* The string goes in as written: "\," escapes are libavfilter syntax. */
        averr = avfilter_graph_parse_ptr(v->graph, description, &inputs, &outputs, NULL);
        if (averr < 0) {
            ret = video_graph_parse_failed(v, averr, description);
            goto end;
        }
    }
    averr = avfilter_graph_config(v->graph, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "configure video filter \"%s\"", description);
        goto end;
    }
    v->sink_width = av_buffersink_get_w(v->sink);
    v->sink_height = av_buffersink_get_h(v->sink);
    v->sink_format = av_buffersink_get_format(v->sink);
    v->sink_sample_aspect_ratio = av_buffersink_get_sample_aspect_ratio(v->sink);
    v->sink_time_base = av_buffersink_get_time_base(v->sink);
    v->sink_frame_rate = av_buffersink_get_frame_rate(v->sink);
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    return ret;
}

/* ---- encoder --------------------------------------------------------------- */

static int video_set_option(struct pipeline_run *run, AVDictionary **options, const char *key,
                            const char *value)
{
    int averr = av_dict_set(options, key, value, 0);
    return averr < 0 ? pipeline_fail(run, averr, "set video encoder option %s", key) : PIPELINE_OK;
}

/* Opens libx264 for frames like `frame` (the first out of the filter graph)
 * and, for the run's first encoder (declare set), declares the video stream
 * to the writer. A later encoder has the same settings, hence the same
 * parameters and delay: the writer keeps the first one's. */
static int video_open_encoder(struct pipeline_video *v, const AVFrame *frame, int declare)
{
    struct pipeline_run *run = v->run;
    const struct job_spec *spec = run->spec;
    AVDictionary *options = NULL;
    AVCodecParameters *par = NULL;
    char number[32];
    int ret = PIPELINE_OK;
    int averr;

    AVCodecContext *enc = v->encoder = avcodec_alloc_context3(v->encoder_codec);
    if (enc == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video encoder");
    enc->width = v->sink_width;
    enc->height = v->sink_height;
    enc->pix_fmt = v->sink_format;
    enc->sample_aspect_ratio = v->sink_sample_aspect_ratio;
    /* Encoding in the filter's time base keeps every input timestamp exact. */
    enc->time_base = v->sink_time_base;
    AVRational rate = v->sink_frame_rate;
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
    /* Segment boundaries: forced frames become IDRs (closed GOP), and x264
     * adds no keyframes of its own at scene cuts. */
    if ((ret = video_set_option(run, &options, "forced-idr", "1")) ||
        (ret = video_set_option(run, &options, "sc_threshold", "0")))
        goto end;

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

    v->frame_duration = av_rescale_q(1, av_inv_q(rate), enc->time_base);
    if (v->frame_duration <= 0)
        v->frame_duration = 1;
    if (!declare)
        goto end;
    v->first_encoder = v->writer->container == SEGMENT_CONTAINER_MPEGTS;

    /* A run from the start of the input would mux its first dts one
     * reorder delay before the stream's first frame. */
    int64_t first_us = run->origin_us;
    if (v->stream->start_time != AV_NOPTS_VALUE)
        first_us = av_rescale_q(v->stream->start_time, v->stream->time_base, AV_TIME_BASE_Q);
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

/* Hands every packet the encoder has ready to the writer, with the cut that
 * starts a segment attached to its first packet. */
static int video_receive_packets(struct pipeline_video *v)
{
    for (;;) {
        int averr = avcodec_receive_packet(v->encoder, v->packet);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(v->run, averr, "encode video");
        if (v->packet->duration <= 0)
            v->packet->duration = v->frame_duration;

        struct segment_cut cut;
        const struct segment_cut *starts = NULL;
        if (av_fifo_peek(v->cuts, &cut, 1, 0) >= 0 && v->packet->pts == cut.pts) {
            av_fifo_drain2(v->cuts, 1);
            starts = &cut;
        }
        int ret = segment_writer_video(v->writer, v->packet, starts);
        if (ret != PIPELINE_OK)
            return ret;
    }
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
    int ret = video_receive_packets(v);
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
    const struct pipeline_run *run = v->run;
    int64_t interval = run->spec->keyframe_interval_us;
    if (run->spec->output_kind != JOB_OUTPUT_PROGRESSIVE || interval <= 0)
        return;
    AVRational tb = v->encoder->time_base;
    int64_t since = pipeline_stream_time_us(run, pts, tb) - run->job_start_us;
    int64_t n = pipeline_floor_div(since, interval) + 1;
    v->next_keyframe_ts = pipeline_stream_ts(run, run->job_start_us + n * interval, tb);
}

/* Sends one filtered frame (NULL: drain) to the encoder, forcing an IDR on
 * the first frame of every segment (and, progressive, every keyframe
 * interval). */
static int video_encode(struct pipeline_video *v, AVFrame *frame)
{
    struct pipeline_run *run = v->run;
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
                .index = v->started ? v->next_index : run->first_index,
                .boundary = pipeline_boundary_index(run, pts, tb),
                .pts = pts,
                .start_us = pipeline_stream_time_us(run, pts, tb),
                /* Where the uninterrupted run's IDR has its dts: the
                 * encoder's reorder delay (x264: 2 with B-pyramid) in
                 * frames before its pts. Taken from the encoder's dts
                 * instead, a resumed run would cut the audio elsewhere on
                 * a variable frame rate source: x264 derives the dts of a
                 * session's first frames from the frames after them. */
                .split = pts - (int64_t)v->encoder->has_b_frames * v->frame_duration,
            };
            if (!v->started && cut.boundary < run->first_boundary)
                cut.boundary = run->first_boundary;
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
            v->next_cut_ts = pipeline_boundary_ts(run, cut.boundary + 1, tb);
            video_plan_keyframe(v, pts);
            frame->pict_type = AV_PICTURE_TYPE_I;
        } else if (pts >= v->next_keyframe_ts) {
            video_plan_keyframe(v, pts);
            frame->pict_type = AV_PICTURE_TYPE_I;
        } else {
            /* The decoder's picture type must not leak into the encoder. */
            frame->pict_type = AV_PICTURE_TYPE_NONE;
        }
        run->frames++;
    } else if (v->encoder == NULL) {
        return PIPELINE_OK;
    }

    int averr = avcodec_send_frame(v->encoder, frame);
    if (averr < 0)
        return pipeline_fail(run, averr, "encode video");
    return video_receive_packets(v);
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
        int averr = av_buffersink_get_frame(v->sink, v->filtered);
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

/* Video frames between two pushes of an unchanged subtitle canvas: the
 * overlay holds up to this many video frames waiting for one. */
#define VIDEO_SUBTITLE_HEARTBEAT 8

/* Pushes the canvas on screen with timestamp ts into the subtitle input. */
static int video_push_subtitle(struct pipeline_video *v, int64_t ts)
{
    int averr = av_frame_ref(v->sub_frame, v->subtitle.shown);
    if (averr >= 0) {
        v->sub_frame->pts = ts;
        averr = av_buffersrc_add_frame_flags(v->sub_source, v->sub_frame, 0);
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
        &v->subtitle, av_rescale_q(ts, v->stream->time_base, AV_TIME_BASE_Q), &changed);
    if (ret != PIPELINE_OK)
        return ret;
    v->sub_last_ts = ts;
    if (changed || !v->sub_pushed || ++v->sub_since_push >= VIDEO_SUBTITLE_HEARTBEAT)
        return video_push_subtitle(v, ts);
    return PIPELINE_OK;
}

int pipeline_video_open_subtitle(struct pipeline_video *v, AVStream *stream)
{
    v->sub_frame = av_frame_alloc();
    if (v->sub_frame == NULL)
        return pipeline_fail(v->run, AVERROR(ENOMEM), "allocate the subtitle stage");
    v->has_subtitle = 1;
    return pipeline_subtitle_open(&v->subtitle, v->run, v->input, stream);
}

int pipeline_video_subtitle_packet(struct pipeline_video *v, const AVPacket *pkt)
{
    return v->has_subtitle ? pipeline_subtitle_packet(&v->subtitle, pkt) : PIPELINE_OK;
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
        run->video_decoded++;

        int ret = video_poll_stop(v);
        int64_t ts = v->frame->best_effort_timestamp;
        if (ret != PIPELINE_OK || (ts != AV_NOPTS_VALUE && ts < v->start_ts)) {
            av_frame_unref(v->frame);
            if (ret != PIPELINE_OK)
                return ret;
            continue;
        }
        v->frame->pts = ts;
        if (v->graph == NULL && (ret = video_build_graph(v, v->frame)) != PIPELINE_OK) {
            av_frame_unref(v->frame);
            return ret;
        }
        if (v->sub_source != NULL && (ret = video_feed_subtitle(v, ts)) != PIPELINE_OK) {
            av_frame_unref(v->frame);
            return ret;
        }
        averr = av_buffersrc_add_frame_flags(v->source, v->frame, 0);
        av_frame_unref(v->frame);
        if (averr < 0)
            return pipeline_fail(run, averr, "feed the video filter graph");
        if ((ret = video_pull_filtered(v)) != PIPELINE_OK)
            return ret;
    }
}

int pipeline_video_packet(struct pipeline_video *v, const AVPacket *pkt)
{
    struct pipeline_run *run = v->run;
    int ret;

    if (run->copy_video)
        return video_copy_packet(v, pkt);
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
        /* A last canvas past every video frame lets the overlay draw the
         * frames it holds before the subtitle input ends. */
        if (v->sub_source != NULL && v->sub_pushed &&
            (ret = video_push_subtitle(v, v->sub_last_ts + 1)) != PIPELINE_OK)
            return ret;
        averr = av_buffersrc_add_frame_flags(v->source, NULL, 0);
        if (averr >= 0 && v->sub_source != NULL)
            averr = av_buffersrc_add_frame_flags(v->sub_source, NULL, 0);
        if (averr < 0)
            return pipeline_fail(run, averr, "drain the video filter graph");
        if ((ret = video_pull_filtered(v)) != PIPELINE_OK)
            return ret;
    }
    return v->handoff != NULL ? PIPELINE_OK : video_encode(v, NULL);
}

void pipeline_video_close(struct pipeline_video *v)
{
    avcodec_free_context(&v->decoder);
    avcodec_free_context(&v->encoder);
    avfilter_graph_free(&v->graph);
    av_frame_free(&v->frame);
    av_frame_free(&v->filtered);
    av_packet_free(&v->packet);
    av_fifo_freep2(&v->cuts);
    av_bsf_free(&v->bsf);
    if (v->has_subtitle)
        pipeline_subtitle_close(&v->subtitle);
    av_frame_free(&v->sub_frame);
}
