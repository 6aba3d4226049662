/* pipeline_complex.c -- a job's -filter_complex graph: which input streams
 * feed it, and bitmap subtitles drawn as video for it.
 *
 * Jellyfin burns graphical subtitles (PGS, DVD, DVB) into the picture with
 *   -filter_complex "[0:3]scale,...[sub];[0:0]...,format=yuv420p[main];
 *                    [main][sub]overlay=eof_action=pass:repeatlast=0"
 * The graph's inputs are labelled with stream specifiers of the one input
 * file. A video stream feeds its input with decoded frames; a subtitle
 * stream feeds it, as the ffmpeg CLI's sub2video does, with RGB32 frames of
 * the canvas size holding the subtitle on screen (transparent elsewhere).
 *
 * The video stage pushes a subtitle frame with the timestamp of the video
 * frame at which the canvas changes, so the overlay draws each canvas from
 * exactly that frame on: what a frame shows depends only on its time and the
 * subtitle events decoded before it, never on how the graph was scheduled,
 * and a resumed run's frames are the uninterrupted run's. Between changes it
 * repeats the canvas every few frames (the overlay holds video frames until
 * it has a subtitle frame past them), as the CLI's heartbeat does, rather
 * than push it beside every frame: each pushed canvas goes through the
 * graph's subtitle chain (scale, pad, crop), a full-size RGB32 picture.
 * A resumed run first reads back the subtitles of the seconds before its
 * start (pipeline.c), so one already on screen stays there. */
#include <limits.h>
#include <string.h>

#include <libavfilter/avfilter.h>

#include "pipeline_internal.h"

/* Decoded subtitles waiting for their start time: at most this many, and
 * at most this many bitmap pixels in all (a hostile file could otherwise
 * make gigabytes of them from kilobytes of run-length data). The oldest go
 * first when either is exceeded. They are kept as bitmaps and drawn on a
 * canvas only when they start. */
#define SUBTITLE_PENDING_MAX 256
#define SUBTITLE_PENDING_PIXELS (64 * 1024 * 1024)

/* A decoded subtitle, waiting for its start time. */
struct subtitle_event {
    int64_t start_us; /* absolute input time */
    int64_t end_us;   /* INT64_MAX: until the next event replaces it */
    int64_t pixels;   /* of its bitmaps */
    AVSubtitle sub;   /* owned: avsubtitle_free */
};

int pipeline_complex_stream(AVFormatContext *input, const char *label)
{
    if (label == NULL || strncmp(label, "0:", 2) != 0)
        return -1;
    for (unsigned i = 0; i < input->nb_streams; i++)
        if (avformat_match_stream_specifier(input, input->streams[i], label + 2) > 0)
            return (int)i;
    return -1;
}

int pipeline_complex_inputs(struct pipeline_run *run, AVFormatContext *input, int *video_index,
                            int *subtitle_index)
{
    const char *graph = run->spec->video_filter;
    AVFilterGraph *scratch = avfilter_graph_alloc();
    AVFilterInOut *inputs = NULL;
    AVFilterInOut *outputs = NULL;
    int ret = PIPELINE_OK;

    *video_index = -1;
    *subtitle_index = -1;
    if (scratch == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the filter_complex graph");
    int averr = avfilter_graph_parse2(scratch, graph, &inputs, &outputs);
    if (averr < 0) {
        char missing[64];
        if (pipeline_filter_missing(graph, missing, sizeof(missing)))
            ret = pipeline_fail(run, averr, "parse filter_complex \"%s\": no filter named %s",
                                graph, missing);
        else
            ret = pipeline_fail(run, averr, "parse filter_complex \"%s\"", graph);
        goto end;
    }
    if (outputs == NULL || outputs->next != NULL) {
        ret = pipeline_fail(run, 0, "filter_complex \"%s\" must have exactly one output", graph);
        goto end;
    }
    for (AVFilterInOut *in = inputs; in != NULL; in = in->next) {
        int index = pipeline_complex_stream(input, in->name);
        if (index < 0) {
            ret = pipeline_fail(run, 0, "filter_complex input [%s] names no stream of %s",
                                in->name ? in->name : "", run->spec->input);
            goto end;
        }
        enum AVMediaType type = input->streams[index]->codecpar->codec_type;
        int *slot = type == AVMEDIA_TYPE_VIDEO      ? video_index
                    : type == AVMEDIA_TYPE_SUBTITLE ? subtitle_index
                                                    : NULL;
        if (slot == NULL || *slot >= 0) {
            const char *kind = av_get_media_type_string(type);
            ret = pipeline_fail(run, 0,
                                "filter_complex input [%s] reads %s stream %d; a graph may read "
                                "one video stream and at most one subtitle stream",
                                in->name, kind ? kind : "unknown", index);
            goto end;
        }
        *slot = index;
    }
    if (*video_index < 0)
        ret = pipeline_fail(run, 0, "filter_complex \"%s\" reads no video stream", graph);
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    avfilter_graph_free(&scratch);
    return ret;
}

/* ---- sub2video --------------------------------------------------------------- */

static AVFrame *subtitle_canvas_alloc(const struct pipeline_subtitle *s)
{
    AVFrame *canvas = av_frame_alloc();
    if (canvas == NULL)
        return NULL;
    canvas->width = s->width;
    canvas->height = s->height;
    canvas->format = AV_PIX_FMT_RGB32;
    if (av_frame_get_buffer(canvas, 0) < 0) {
        av_frame_free(&canvas);
        return NULL;
    }
    for (int y = 0; y < s->height; y++)
        memset(canvas->data[0] + (size_t)y * canvas->linesize[0], 0, (size_t)s->width * 4);
    return canvas;
}

int pipeline_subtitle_open(struct pipeline_subtitle *s, struct pipeline_run *run,
                           AVFormatContext *input, AVStream *stream)
{
    const struct job_spec *spec = run->spec;
    memset(s, 0, sizeof(*s));
    s->run = run;
    s->stream = stream;

    const AVCodecDescriptor *desc = avcodec_descriptor_get(stream->codecpar->codec_id);
    if (desc == NULL || !(desc->props & AV_CODEC_PROP_BITMAP_SUB))
        return pipeline_fail(run, 0,
                             "filter_complex input subtitle stream %d (%s) is not a bitmap "
                             "subtitle: text subtitles are burned in with -vf subtitles=",
                             stream->index, avcodec_get_name(stream->codecpar->codec_id));
    const AVCodec *codec = avcodec_find_decoder(stream->codecpar->codec_id);
    if (codec == NULL)
        return pipeline_fail(run, AVERROR_DECODER_NOT_FOUND,
                             "find a decoder for subtitle stream %d (%s)", stream->index,
                             desc->name);

    /* The canvas, as the CLI sizes it: -canvas_size, else the subtitle
     * stream's own size, else the largest video stream, else PAL DVD. */
    s->width = spec->canvas_width;
    s->height = spec->canvas_height;
    if (s->width <= 0 || s->height <= 0) {
        s->width = stream->codecpar->width;
        s->height = stream->codecpar->height;
    }
    if (s->width <= 0 || s->height <= 0) {
        s->width = s->height = 0;
        for (unsigned i = 0; i < input->nb_streams; i++) {
            const AVCodecParameters *par = input->streams[i]->codecpar;
            if (par->codec_type != AVMEDIA_TYPE_VIDEO)
                continue;
            s->width = FFMAX(s->width, par->width);
            s->height = FFMAX(s->height, par->height);
        }
    }
    if (s->width <= 0 || s->height <= 0) {
        s->width = 720;
        s->height = 576;
    }
    /* A size from the file is the file's word: 8K is the most a film has. */
    if (s->width > JOB_SPEC_CANVAS_MAX || s->height > JOB_SPEC_CANVAS_MAX)
        return pipeline_fail(run, 0, "subtitle canvas %dx%d is larger than %dx%d", s->width,
                             s->height, JOB_SPEC_CANVAS_MAX, JOB_SPEC_CANVAS_MAX);

    s->decoder = avcodec_alloc_context3(codec);
    s->events = av_calloc(SUBTITLE_PENDING_MAX, sizeof(*s->events));
    s->blank = subtitle_canvas_alloc(s);
    s->shown = av_frame_alloc();
    if (s->decoder == NULL || s->events == NULL || s->blank == NULL || s->shown == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the subtitle stage");
    int averr = av_frame_ref(s->shown, s->blank);
    if (averr < 0)
        return pipeline_fail(run, averr, "allocate the subtitle stage");
    s->shown_end_us = INT64_MAX;
    averr = avcodec_parameters_to_context(s->decoder, stream->codecpar);
    if (averr < 0)
        return pipeline_fail(run, averr, "set up the subtitle decoder");
    s->decoder->pkt_timebase = stream->time_base;
    averr = avcodec_open2(s->decoder, codec, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "open subtitle decoder %s", codec->name);
    return PIPELINE_OK;
}

/* The space a subtitle's rectangles are placed in: the decoder's picture
 * size when it knows one (PGS sets it from each presentation; the CLI draws
 * on a canvas of that size), else the canvas. */
static void subtitle_space(const struct pipeline_subtitle *s, int *w, int *h)
{
    *w = s->decoder->width > 0 ? s->decoder->width : s->width;
    *h = s->decoder->height > 0 ? s->decoder->height : s->height;
}

/* Frees the rectangles that are not bitmaps inside the subtitle's space
 * (nothing would draw them) and returns the pixels of the others. */
static int64_t subtitle_keep_drawable(const struct pipeline_subtitle *s, AVSubtitle *sub)
{
    int sw, sh;
    int64_t pixels = 0;
    subtitle_space(s, &sw, &sh);
    for (unsigned i = 0; i < sub->num_rects; i++) {
        AVSubtitleRect *r = sub->rects[i];
        if (r->type != SUBTITLE_BITMAP || r->data[0] == NULL || r->data[1] == NULL || r->x < 0 ||
            r->y < 0 || r->w <= 0 || r->h <= 0 || r->x > sw - r->w || r->y > sh - r->h) {
            av_freep(&r->data[0]);
            av_freep(&r->data[1]);
            r->w = r->h = 0;
            continue;
        }
        pixels += (int64_t)r->w * r->h;
    }
    return pixels;
}

/* Draws a subtitle's bitmap rectangles on a new canvas, as the CLI's
 * sub2video does (palette entries are RGB32 pixels), scaled from the
 * subtitle's space to the canvas when the two differ (the CLI would draw
 * on a canvas of the subtitle's size, which the graph then scales). */
static AVFrame *subtitle_render(const struct pipeline_subtitle *s, const AVSubtitle *sub)
{
    int sw, sh;
    subtitle_space(s, &sw, &sh);
    AVFrame *canvas = subtitle_canvas_alloc(s);
    if (canvas == NULL)
        return NULL;
    int64_t cw = s->width, ch = s->height;
    for (unsigned i = 0; i < sub->num_rects; i++) {
        const AVSubtitleRect *r = sub->rects[i];
        if (r->w <= 0 || r->h <= 0 || r->data[0] == NULL || r->data[1] == NULL)
            continue; /* left out by subtitle_keep_drawable */
        const uint32_t *palette = (const uint32_t *)r->data[1];
        int y0 = (int)(r->y * ch / sh), y1 = (int)((r->y + r->h) * ch / sh);
        int x0 = (int)(r->x * cw / sw), x1 = (int)((r->x + r->w) * cw / sw);
        for (int ty = y0; ty < y1; ty++) {
            int sy = (int)FFMIN((int64_t)ty * sh / ch - r->y, r->h - 1);
            const uint8_t *src = r->data[0] + (size_t)FFMAX(sy, 0) * r->linesize[0];
            uint32_t *dst = (uint32_t *)(canvas->data[0] + (size_t)ty * canvas->linesize[0]);
            for (int tx = x0; tx < x1; tx++) {
                int sx = (int)FFMIN((int64_t)tx * sw / cw - r->x, r->w - 1);
                dst[tx] = palette[src[FFMAX(sx, 0)]];
            }
        }
    }
    return canvas;
}

/* Removes pending event i. */
static void subtitle_drop(struct pipeline_subtitle *s, int i)
{
    s->pending_pixels -= s->events[i].pixels;
    avsubtitle_free(&s->events[i].sub);
    memmove(&s->events[i], &s->events[i + 1], (size_t)(s->n_events - i - 1) * sizeof(*s->events));
    s->n_events--;
}

int pipeline_subtitle_packet(struct pipeline_subtitle *s, const AVPacket *pkt)
{
    AVSubtitle sub;
    int got = 0;
    /* Already decoded by the run's look-back (pipeline.c). */
    if (pkt->pos >= 0 && pkt->pos < s->skip_before_pos)
        return PIPELINE_OK;
    /* The decoder takes a non-const packet but does not change it. */
    int averr = avcodec_decode_subtitle2(s->decoder, &sub, &got, (AVPacket *)pkt);
    if (averr < 0 || !got)
        return PIPELINE_OK; /* a damaged subtitle: the CLI skips it too */
    if (sub.pts == AV_NOPTS_VALUE) {
        avsubtitle_free(&sub); /* no time to show it at */
        return PIPELINE_OK;
    }
    struct subtitle_event event = {
        .start_us = av_sat_add64(sub.pts, (int64_t)sub.start_display_time * 1000),
        /* PGS has no end time (UINT32_MAX): the next event clears it. */
        .end_us = sub.end_display_time == UINT32_MAX
                      ? INT64_MAX
                      : av_sat_add64(sub.pts, (int64_t)sub.end_display_time * 1000),
        .pixels = subtitle_keep_drawable(s, &sub),
        .sub = sub, /* the event owns it now */
    };
    /* Kept in start order: one that starts before events decoded earlier
     * replaces them (a stream that goes back in time). */
    while (s->n_events > 0 && s->events[s->n_events - 1].start_us > event.start_us)
        subtitle_drop(s, s->n_events - 1);
    while (s->n_events > 0 && (s->n_events == SUBTITLE_PENDING_MAX ||
                               s->pending_pixels + event.pixels > SUBTITLE_PENDING_PIXELS))
        subtitle_drop(s, 0);
    s->events[s->n_events++] = event;
    s->pending_pixels += event.pixels;
    return PIPELINE_OK;
}

void pipeline_subtitle_collapse(struct pipeline_subtitle *s, int64_t at_us)
{
    while (s->n_events >= 2 && s->events[1].start_us <= at_us)
        subtitle_drop(s, 0);
    if (s->n_events >= 1 && s->events[0].start_us <= at_us && s->events[0].end_us <= at_us)
        subtitle_drop(s, 0);
}

/* Puts an event that has started on screen. */
static int subtitle_show(struct pipeline_subtitle *s, const struct subtitle_event *event)
{
    av_frame_unref(s->shown);
    s->shown_end_us = event->end_us;
    if (event->pixels == 0)
        return av_frame_ref(s->shown, s->blank) < 0 ? AVERROR(ENOMEM) : 0;
    AVFrame *canvas = subtitle_render(s, &event->sub);
    if (canvas == NULL)
        return AVERROR(ENOMEM);
    av_frame_move_ref(s->shown, canvas);
    av_frame_free(&canvas);
    return 0;
}

int pipeline_subtitle_update(struct pipeline_subtitle *s, int64_t at_us, int *changed)
{
    int averr;
    *changed = 0;
    /* Each event replaces what is on screen, so of several that started
     * since the last frame only the last is drawn. */
    while (s->n_events >= 2 && s->events[1].start_us <= at_us)
        subtitle_drop(s, 0);
    if (s->n_events >= 1 && s->events[0].start_us <= at_us) {
        averr = subtitle_show(s, &s->events[0]);
        subtitle_drop(s, 0);
        if (averr < 0)
            return pipeline_fail(s->run, averr, "draw a subtitle");
        *changed = 1;
    }
    if (at_us >= s->shown_end_us) {
        av_frame_unref(s->shown);
        if ((averr = av_frame_ref(s->shown, s->blank)) < 0)
            return pipeline_fail(s->run, averr, "clear a subtitle");
        s->shown_end_us = INT64_MAX;
        *changed = 1;
    }
    return PIPELINE_OK;
}

void pipeline_subtitle_close(struct pipeline_subtitle *s)
{
    while (s->n_events > 0)
        subtitle_drop(s, s->n_events - 1);
    av_freep(&s->events);
    avcodec_free_context(&s->decoder);
    av_frame_free(&s->blank);
    av_frame_free(&s->shown);
}
