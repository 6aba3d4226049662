/* pipeline_subtitle.c -- a bitmap subtitle stream drawn as video for a
 * -filter_complex graph (the ffmpeg CLI's sub2video).
 *
 * Decoded subtitle events are kept as bitmaps until they start, then drawn
 * on a transparent RGB32 canvas of the canvas size (-canvas_size, else the
 * subtitle stream's size, else the largest video stream's), shown from
 * their start time until their end or the next event. The video stage
 * (pipeline_video.c) asks what is on screen at each video frame's time and
 * pushes a changed canvas into the graph with that frame's timestamp, so
 * the overlay draws each canvas from exactly that frame on: what a frame
 * shows depends only on its time and the subtitle events decoded before it,
 * never on how the graph was scheduled, and a resumed run's frames are the
 * uninterrupted run's. Between changes the video stage repeats the canvas
 * every few frames (the overlay holds video frames until it has a subtitle
 * frame past them), as the CLI's heartbeat does, rather than push it beside
 * every frame: each pushed canvas goes through the graph's subtitle chain
 * (scale, pad, crop), a full-size RGB32 picture.
 *
 * A resumed run first reads back the subtitles of the seconds before its
 * start from a second opening of the input (pipeline_subtitle_lookback),
 * so one already on screen stays there. Runs on the thread that decodes
 * video; owns its decoder, its events and its canvases. It never touches
 * the filter graph (the video stage feeds it) and calls nothing of the
 * pipeline but the input (that second opening) and the run's error sink. */
#include "pipeline_subtitle.h"

#include <limits.h>
#include <string.h>

#include <libavutil/mem.h>

/* Decoded subtitles waiting for their start time: at most this many, and
 * at most this many bitmap pixels in all (a hostile file could otherwise
 * make gigabytes of them from kilobytes of run-length data). The oldest go
 * first when either is exceeded. They are kept as bitmaps and drawn on a
 * canvas only when they start. */
#define SUBTITLE_PENDING_MAX 256
#define SUBTITLE_PENDING_PIXELS (64 * 1024 * 1024)
/* A mid-stream run looks this far back for the subtitle on screen at its
 * start (PGS and DVD subtitles last seconds). */
#define SUBTITLE_LOOKBACK_US 10000000
/* Packets the look-back reads at most (a 4K remux has about 10,000 in 10 s). */
#define SUBTITLE_LOOKBACK_PACKETS 200000

/* A decoded subtitle, waiting for its start time. */
struct subtitle_event {
    int64_t start_us; /* absolute input time */
    int64_t end_us;   /* INT64_MAX: until the next event replaces it */
    int64_t pixels;   /* of its bitmaps */
    AVSubtitle sub;   /* owned: avsubtitle_free */
};

struct pipeline_subtitle {
    struct pipeline_run *run;
    AVFormatContext *file; /* the stream's: the input, or the external subtitle file */
    AVStream *stream;
    AVCodecContext *decoder;
    int width, height;             /* the canvas */
    AVFrame *blank;                /* nothing on screen */
    AVFrame *shown;                /* a reference to what is on screen now */
    int64_t shown_end_us;          /* absolute input time it disappears, INT64_MAX: never */
    struct subtitle_event *events; /* decoded, not yet started, in start order */
    int n_events;
    int64_t pending_pixels;  /* of their bitmaps */
    int64_t skip_before_pos; /* subtitle packets before this byte position were
                                decoded by the run's look-back */
};

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

int pipeline_subtitle_open(struct pipeline_subtitle **out, struct pipeline_run *run,
                           AVFormatContext *input, AVStream *stream)
{
    const struct job_spec *spec = run->spec;
    struct pipeline_subtitle *s = *out = av_mallocz(sizeof(*s));
    if (s == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the subtitle stage");
    s->run = run;
    s->file = input;
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
    /* Already decoded by the run's look-back (pipeline_subtitle_lookback). */
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

/* Drops the pending events that nothing will show at or after absolute
 * input time at_us: replaced or ended by then (the run's look-back). */
static void subtitle_collapse(struct pipeline_subtitle *s, int64_t at_us)
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

/* ---- the look-back --------------------------------------------------------- */

/* A mid-stream run with a subtitle input: the subtitle on screen at its
 * start may have begun before the keyframe the run decodes from, so the
 * subtitle packets of the look-back window before the start are decoded
 * from a second opening of the input (packets are only read, video is not
 * decoded). It stops at the first video packet at or past the start, whose
 * byte position is kept: the main read skips the subtitle packets before
 * it, so every subtitle packet reaches the decoder once and in file order (a
 * PGS display set can span several packets), and a resumed run draws what a
 * run from the start draws. */
/* Decodes the subtitle packets of input (the second opening) from the
 * look-back window up to the run's start. Returns a pipeline_result. */
static int subtitle_read_back(struct pipeline_subtitle *s, AVFormatContext *input,
                              const struct pipeline_timeline *t, int video_index, AVPacket *pkt)
{
    struct pipeline_run *run = s->run;
    int64_t start = t->origin_us + t->start_us;
    int64_t from = start - SUBTITLE_LOOKBACK_US;
    int64_t stop_pos = 0; /* the main read skips subtitle packets before it */
    int ret = PIPELINE_OK;
    if (from > t->origin_us) {
        int averr = avformat_seek_file(input, -1, INT64_MIN, from, from, 0);
        if (averr < 0)
            return pipeline_fail(run, averr, "seek %s to %.3f s for subtitles", run->spec->input,
                                 (double)(from - t->origin_us) / 1e6);
    }
    for (int n = 0; n < SUBTITLE_LOOKBACK_PACKETS; n++) {
        if ((ret = pipeline_poll_stop(run)) != PIPELINE_OK)
            return ret;
        int averr = av_read_frame(input, pkt);
        if (averr == AVERROR_EOF) {
            stop_pos = INT64_MAX; /* every subtitle packet was seen */
            break;
        }
        if (averr < 0)
            return pipeline_fail(run, averr, "read %s", run->spec->input);
        if (pkt->pos >= 0)
            stop_pos = pkt->pos + 1; /* the budget may end here */
        AVStream *st = input->streams[pkt->stream_index];
        int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
        int64_t at =
            ts != AV_NOPTS_VALUE ? av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q) : INT64_MIN;
        /* Past the start: the run's first video packet, or any packet well
         * past it (a video stream without timestamps). */
        if (at != INT64_MIN && at != INT64_MAX && pkt->pos >= 0 &&
            ((pkt->stream_index == video_index && at >= start) ||
             at >= start + SUBTITLE_LOOKBACK_US)) {
            stop_pos = pkt->pos;
            av_packet_unref(pkt);
            break;
        }
        if (pkt->stream_index == s->stream->index) {
            ret = pipeline_subtitle_packet(s, pkt);
            /* Subtitles that ended or were replaced before the start are
             * not kept waiting. */
            subtitle_collapse(s, start - 1);
        }
        av_packet_unref(pkt);
        if (ret != PIPELINE_OK)
            return ret;
    }
    /* The start, the end of the input, or the packet budget (timestamps
     * that never get there): what was read up to stop_pos is not read again. */
    s->skip_before_pos = stop_pos;
    return PIPELINE_OK;
}

int pipeline_subtitle_lookback(struct pipeline_subtitle *s, const struct pipeline_input *main,
                               const struct pipeline_timeline *t, int video_index, AVPacket *pkt)
{
    struct pipeline_input *second = NULL;
    int ret = pipeline_input_open(&second, s->run, main);
    if (ret == PIPELINE_OK)
        ret = subtitle_read_back(s, pipeline_input_format(second), t, video_index, pkt);
    pipeline_input_close(&second);
    return ret;
}

void pipeline_subtitle_source(const struct pipeline_subtitle *s, AVFormatContext **file, int *index,
                              int *width, int *height)
{
    *file = s->file;
    *index = s->stream->index;
    *width = s->width;
    *height = s->height;
}

const AVFrame *pipeline_subtitle_shown(const struct pipeline_subtitle *s)
{
    return s->shown;
}

void pipeline_subtitle_close(struct pipeline_subtitle **sp)
{
    struct pipeline_subtitle *s = *sp;
    if (s == NULL)
        return;
    if (s->events != NULL)
        while (s->n_events > 0)
            subtitle_drop(s, s->n_events - 1);
    av_freep(&s->events);
    avcodec_free_context(&s->decoder);
    av_frame_free(&s->blank);
    av_frame_free(&s->shown);
    av_freep(sp);
}
