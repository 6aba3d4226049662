/* pipeline_graph.c -- the video stage's libavfilter graph: the job's -vf,
 * or its -filter_complex graph, with -autorotate's filters first and a
 * format the encoder takes last.
 *
 * Built from the first decoded frame, as the ffmpeg CLI does, so that the
 * graph sees the real frame properties (size, format, display matrix); the
 * encoder is then set up from what the sink gives (pipeline_graph_output),
 * including the colour signalling setparams sets. A -filter_complex graph
 * reads the video stream through a buffer source and, when it burns in a
 * bitmap subtitle, a second buffer source of canvas-sized RGB32 frames
 * (pipeline_subtitle.c draws them, the video stage pushes them). Strings
 * go to libavfilter as written: "\," escapes are libavfilter syntax.
 *
 * Hardware, as the 5.1 CLI's configure_filtergraph: every filter the job's
 * graph parses gets the filter device (hwupload and hwmap upload or map to
 * it), hardware frames enter through the buffer source with their frames
 * context (av_buffersrc_parameters_set) and are never turned by
 * -autorotate, and the subtitle canvas stays a software source (a graph
 * that overlays it on hardware frames uploads it itself). A graph built
 * again for frames that changed keeps the encoder's format and, unless
 * -noautoscale, the first graph's size.
 *
 * Owns the graph; runs on the thread that decodes video. It calls nothing
 * of the pipeline but the run's error sink and the -filter_complex label
 * resolution. */
#include "pipeline_graph.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/display.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "pipeline_complex.h"

struct pipeline_graph {
    struct pipeline_run *run;
    struct pipeline_graph_source src;
    AVFilterGraph *graph;
    AVFilterContext *source;     /* the video frames */
    AVFilterContext *sub_source; /* the subtitle canvases, NULL without */
    AVFilterContext *sink;
    struct pipeline_graph_output output;
    /* What the video source was set up for (pipeline_graph_accepts). */
    int in_width, in_height, in_format;
    AVBufferRef *in_frames; /* the frames' hardware frames context, NULL: software */
};

/* Whether format is a hardware surface format (AV_PIX_FMT_VAAPI...). */
static int graph_hardware_format(int format)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(format);
    return desc != NULL && (desc->flags & AV_PIX_FMT_FLAG_HWACCEL);
}

/* Gives the filter device to every filter of the graph from index `from`
 * on: the filters a parse just created, as the CLI's 5.1
 * hw_device_setup_for_filter does after avfilter_graph_parse2 (hwupload
 * and hwmap upload or map to it; hardware filters with no hardware input
 * use it). Returns 0 or an AVERROR. */
static int graph_give_device(struct pipeline_graph *g, unsigned from)
{
    if (g->src.hw_device == NULL)
        return 0;
    for (unsigned i = from; i < g->graph->nb_filters; i++) {
        AVFilterContext *filter = g->graph->filters[i];
        av_buffer_unref(&filter->hw_device_ctx);
        filter->hw_device_ctx = av_buffer_ref(g->src.hw_device);
        if (filter->hw_device_ctx == NULL)
            return AVERROR(ENOMEM);
    }
    return 0;
}

/* The filters the ffmpeg CLI puts first when -autorotate is on (its
 * default) and the input carries a display matrix: a phone's portrait video
 * comes out upright. Writes "" when there is nothing to turn. */
static void graph_rotation_filters(const struct pipeline_graph *g, const AVFrame *frame, char *out,
                                   size_t len)
{
    out[0] = '\0';
    /* The CLI turns only software frames (configure_input_video_filter). */
    if (!g->run->spec->autorotate || graph_hardware_format(frame->format))
        return;
    const int32_t *matrix =
        (const int32_t *)av_stream_get_side_data(g->src.stream, AV_PKT_DATA_DISPLAYMATRIX, NULL);
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
static int graph_link_chain(AVFilterGraph *graph, AVFilterContext *from, int from_pad,
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

/* -filter_complex: the job's graph with its stream inputs fed by the video
 * source (through the rotation, as the CLI's input filters do) and by a
 * subtitle source of canvas-sized RGB32 frames, and its one output led
 * (through -pix_fmt) to the sink. */
static int graph_link_complex(struct pipeline_graph *g, const char *rotation)
{
    struct pipeline_run *run = g->run;
    const struct job_spec *spec = run->spec;
    AVFilterInOut *inputs = NULL;
    AVFilterInOut *outputs = NULL;
    char chain[JOB_SPEC_SHORT_MAX + 64];
    int video_linked = 0;
    int ret = PIPELINE_OK;

    unsigned parsed = g->graph->nb_filters;
    int averr = avfilter_graph_parse2(g->graph, spec->video_filter, &inputs, &outputs);
    if (averr < 0) {
        ret = pipeline_fail_parse(run, averr, "video filter", spec->video_filter);
        goto end;
    }
    if ((averr = graph_give_device(g, parsed)) < 0) {
        ret = pipeline_fail(run, averr, "give the filters their hardware device");
        goto end;
    }
    /* The rotation chain without its trailing comma. */
    snprintf(chain, sizeof(chain), "%s", rotation);
    if (chain[0] != '\0')
        chain[strlen(chain) - 1] = '\0';
    for (AVFilterInOut *in = inputs; in != NULL && ret == PIPELINE_OK; in = in->next) {
        /* [0:N] names a stream of the input, [1:N] one of the external
         * subtitle file (when the subtitle is not the input's own). */
        int file = pipeline_complex_label_file(in->name);
        AVFormatContext *format = file == 0 ? g->src.input
                                  : file == 1 && g->src.subtitle_file != g->src.input
                                      ? g->src.subtitle_file
                                      : NULL;
        int index = pipeline_complex_stream(format, in->name);
        if (file == 0 && index == g->src.stream->index && !video_linked) {
            video_linked = 1;
            averr = graph_link_chain(g->graph, g->source, 0, chain, in->filter_ctx, in->pad_idx);
        } else if (g->src.subtitle_index >= 0 && format == g->src.subtitle_file &&
                   index == g->src.subtitle_index && g->sub_source == NULL) {
            char args[256];
            AVRational tb = g->src.stream->time_base;
            snprintf(
                args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1",
                g->src.subtitle_width, g->src.subtitle_height, AV_PIX_FMT_RGB32, tb.num, tb.den);
            averr = avfilter_graph_create_filter(&g->sub_source, avfilter_get_by_name("buffer"),
                                                 "sub", args, NULL, g->graph);
            if (averr >= 0)
                averr = avfilter_link(g->sub_source, 0, in->filter_ctx, (unsigned)in->pad_idx);
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
    /* A rebuilt graph's autoscale, then -pix_fmt, as the CLI's output filters. */
    int n = 0;
    chain[0] = '\0';
    if (g->src.first != NULL && spec->autoscale)
        n = snprintf(chain, sizeof(chain), "scale=%d:%d", g->src.first->width,
                     g->src.first->height);
    if (spec->pix_fmt[0] != '\0')
        snprintf(chain + n, sizeof(chain) - (size_t)n, "%sformat=%s", n > 0 ? "," : "",
                 spec->pix_fmt);
    averr = graph_link_chain(g->graph, outputs->filter_ctx, outputs->pad_idx, chain, g->sink, 0);
    if (averr < 0)
        ret = pipeline_fail(run, averr, "connect the filter_complex output");
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    return ret;
}

/* Builds buffer -> (rotation) -> (the job's -vf) -> buffersink for frames
 * like `frame`, or the job's -filter_complex graph around them. */
/* Builds g's graph around frames like frame. Returns a pipeline_result. */
static int graph_build(struct pipeline_graph *g, const AVFrame *frame)
{
    struct pipeline_run *run = g->run;
    const struct job_spec *spec = run->spec;
    AVFilterInOut *outputs = NULL;
    AVFilterInOut *inputs = NULL;
    char rotation[64];
    char scale[64] = "";
    char description[sizeof(rotation) + sizeof(scale) + JOB_SPEC_FILTER_MAX + JOB_SPEC_SHORT_MAX +
                     16];
    char args[512];
    int ret = PIPELINE_OK;
    int averr;

    /* Without a -vf the encoder still needs one of its formats: -pix_fmt,
     * else yuv420p (what every HLS player decodes). A graph built again
     * mid-run keeps the first one's size (autoscale) after the job's
     * filters and before -pix_fmt's format, where the CLI puts its scale. */
    graph_rotation_filters(g, frame, rotation, sizeof(rotation));
    if (g->src.first != NULL && spec->autoscale)
        snprintf(scale, sizeof(scale), "scale=%d:%d,", g->src.first->width, g->src.first->height);
    if (spec->filter_complex)
        snprintf(description, sizeof(description), "%s", spec->video_filter);
    else if (spec->video_filter[0] == '\0')
        snprintf(description, sizeof(description), "%s%sformat=%s", rotation, scale,
                 spec->pix_fmt[0] ? spec->pix_fmt : "yuv420p");
    else if (spec->pix_fmt[0] != '\0')
        snprintf(description, sizeof(description), "%s%s,%sformat=%s", rotation, spec->video_filter,
                 scale, spec->pix_fmt);
    else if (scale[0] != '\0')
        snprintf(description, sizeof(description), "%s%s,%.*s", rotation, spec->video_filter,
                 (int)strlen(scale) - 1, scale);
    else
        snprintf(description, sizeof(description), "%s%s", rotation, spec->video_filter);

    AVRational sar = frame->sample_aspect_ratio;
    if (sar.num <= 0 || sar.den <= 0)
        sar = (AVRational){0, 1};
    AVRational tb = g->src.stream->time_base;
    int n = snprintf(args, sizeof(args),
                     "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", frame->width,
                     frame->height, frame->format, tb.num, tb.den, sar.num, sar.den);
    AVRational rate = g->src.frame_rate;
    if (rate.num > 0 && rate.den > 0)
        snprintf(args + n, sizeof(args) - (size_t)n, ":frame_rate=%d/%d", rate.num, rate.den);

    g->graph = avfilter_graph_alloc();
    outputs = avfilter_inout_alloc();
    inputs = avfilter_inout_alloc();
    if (g->graph == NULL || outputs == NULL || inputs == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate the video filter graph");
        goto end;
    }
    /* As the CLI: the graph (and swscale's slices in it) gets -threads,
     * 0 = one per core. */
    g->graph->nb_threads = spec->threads;
    averr = avfilter_graph_create_filter(&g->source, avfilter_get_by_name("buffer"), "in", args,
                                         NULL, g->graph);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the video filter source");
        goto end;
    }
    /* Hardware frames come with their frames context, which the first
     * hardware filter reads (the CLI's av_buffersrc_parameters_set). */
    g->in_width = frame->width;
    g->in_height = frame->height;
    g->in_format = frame->format;
    if (frame->hw_frames_ctx != NULL) {
        AVBufferSrcParameters *par = av_buffersrc_parameters_alloc();
        g->in_frames = av_buffer_ref(frame->hw_frames_ctx);
        averr = par != NULL && g->in_frames != NULL ? 0 : AVERROR(ENOMEM);
        if (averr >= 0) {
            par->format = AV_PIX_FMT_NONE;
            par->hw_frames_ctx = frame->hw_frames_ctx;
            averr = av_buffersrc_parameters_set(g->source, par);
        }
        av_free(par);
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "give the video filter source its hardware frames");
            goto end;
        }
    }
    g->sink = avfilter_graph_alloc_filter(g->graph, avfilter_get_by_name("buffersink"), "out");
    if (g->sink == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "create the video filter sink");
        goto end;
    }
    /* Let the graph convert to a format the encoder takes, as the CLI does;
     * once the encoder is open, to the one it took. */
    const enum AVPixelFormat *pix_fmts = g->src.pix_fmts;
    enum AVPixelFormat encoder_format[2] = {AV_PIX_FMT_NONE, AV_PIX_FMT_NONE};
    if (g->src.first != NULL) {
        encoder_format[0] = g->src.first->format;
        pix_fmts = encoder_format;
    }
    if (pix_fmts != NULL) {
        averr = av_opt_set_int_list(g->sink, "pix_fmts", pix_fmts, AV_PIX_FMT_NONE,
                                    AV_OPT_SEARCH_CHILDREN);
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "set the video filter sink formats");
            goto end;
        }
    }
    averr = avfilter_init_str(g->sink, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the video filter sink");
        goto end;
    }

    if (spec->filter_complex) {
        if ((ret = graph_link_complex(g, rotation)) != PIPELINE_OK)
            goto end;
    } else {
        outputs->name = av_strdup("in");
        outputs->filter_ctx = g->source;
        inputs->name = av_strdup("out");
        inputs->filter_ctx = g->sink;
        if (outputs->name == NULL || inputs->name == NULL) {
            ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate the video filter graph");
            goto end;
        }
        /* The string goes in as written: "\," escapes are libavfilter syntax. */
        unsigned parsed = g->graph->nb_filters;
        averr = avfilter_graph_parse_ptr(g->graph, description, &inputs, &outputs, NULL);
        if (averr < 0) {
            ret = pipeline_fail_parse(run, averr, "video filter", description);
            goto end;
        }
        if ((averr = graph_give_device(g, parsed)) < 0) {
            ret = pipeline_fail(run, averr, "give the filters their hardware device");
            goto end;
        }
    }
    averr = avfilter_graph_config(g->graph, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "configure video filter \"%s\"", description);
        goto end;
    }
    g->output.width = av_buffersink_get_w(g->sink);
    g->output.height = av_buffersink_get_h(g->sink);
    g->output.format = av_buffersink_get_format(g->sink);
    g->output.sample_aspect_ratio = av_buffersink_get_sample_aspect_ratio(g->sink);
    g->output.time_base = av_buffersink_get_time_base(g->sink);
    g->output.frame_rate = av_buffersink_get_frame_rate(g->sink);
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    return ret;
}

int pipeline_graph_build(struct pipeline_graph **out, struct pipeline_run *run,
                         const struct pipeline_graph_source *src, const AVFrame *frame)
{
    struct pipeline_graph *g = *out = av_mallocz(sizeof(*g));
    if (g == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the video filter graph");
    g->run = run;
    g->src = *src;
    return graph_build(g, frame);
}

const struct pipeline_graph_output *pipeline_graph_output(const struct pipeline_graph *g)
{
    return &g->output;
}

int pipeline_graph_accepts(const struct pipeline_graph *g, const AVFrame *frame)
{
    if (frame->format != g->in_format || frame->width != g->in_width ||
        frame->height != g->in_height)
        return 0;
    if (g->in_frames == NULL || frame->hw_frames_ctx == NULL)
        return g->in_frames == NULL && frame->hw_frames_ctx == NULL;
    return g->in_frames->data == frame->hw_frames_ctx->data;
}

int pipeline_graph_has_subtitle(const struct pipeline_graph *g)
{
    return g->sub_source != NULL;
}

int pipeline_graph_send(struct pipeline_graph *g, AVFrame *frame)
{
    return av_buffersrc_add_frame_flags(g->source, frame, 0);
}

int pipeline_graph_close(struct pipeline_graph *g, int64_t pts)
{
    if (pts == AV_NOPTS_VALUE)
        return av_buffersrc_add_frame_flags(g->source, NULL, 0);
    return av_buffersrc_close(g->source, pts, 0);
}

int pipeline_graph_send_subtitle(struct pipeline_graph *g, AVFrame *canvas)
{
    return av_buffersrc_add_frame_flags(g->sub_source, canvas, 0);
}

int pipeline_graph_receive(struct pipeline_graph *g, AVFrame *frame)
{
    return av_buffersink_get_frame(g->sink, frame);
}

void pipeline_graph_free(struct pipeline_graph **gp)
{
    if (*gp == NULL)
        return;
    avfilter_graph_free(&(*gp)->graph);
    av_buffer_unref(&(*gp)->in_frames);
    av_freep(gp);
}
