/* pipeline_segment.c -- cuts encoded packets into HLS segments (MPEG-TS or
 * fMP4) or writes them to one progressive file.
 *
 * The only part of the pipeline that muxes. Where the packets go is a back
 * end, a table of functions (struct segment_container) chosen once in
 * segment_writer_open, as Redis's rio chooses its back end; nothing else in
 * this file asks which one it has:
 *  - MPEG-TS segments: each segment is its own mpegts muxer writing to
 *    "<final path><temp suffix>";
 *  - fMP4 segments: one mp4 muxer per run writing into memory, each segment
 *    the fragment flushed at its end (pipeline_fmp4.c, which also writes
 *    the init segment once per job and keeps the fragments' times on the
 *    job's timeline);
 *  - a progressive output (-f mp4/matroska/mp3...): one muxer writing to
 *    spec->output directly, since Jellyfin tails the growing file;
 *    segment_done is never called for it.
 * When a segment is complete (trailer written, file closed) segment_done
 * hands it to the caller, who publishes it. The writer never creates a
 * final path itself and removes the temp file of a segment it abandons, so
 * a stopped run leaves nothing half-written.
 *
 * Where segments are cut: with video, at the packet the video stage marked
 * with a struct segment_cut (the IDR that starts segment k), or where the
 * video stage announced the cut ahead of that packet
 * (segment_writer_video_cut, when it drains a run's first encoder). Audio
 * packets belong to the segment whose video was on screen at their pts, so
 * an audio packet at or past the current segment's nominal end waits in a
 * queue until the next cut says which side of it the packet falls.
 * Audio-only runs cut on the audio packets themselves.
 *
 * Timestamps: output = input timestamp + shift_us, where shift_us is derived
 * from the input's stream start times and the encoders' delays only (see
 * segment_writer_add_stream), never from where the run started. Every worker
 * therefore muxes identical timestamps for a given frame.
 *
 * Runs on the encoding thread; owns its counters (bytes, out_time_us). It
 * calls the fMP4 muxer, the timeline and the run's error sink and
 * callbacks, nothing else of the pipeline. */
#include "pipeline_segment.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/fifo.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>

#include "pipeline_fmp4.h"

/* The ffmpeg CLI's default -max_delay (0.7 s): the mpegts muxer offsets
 * timestamps by twice this, and Jellyfin's segments carry that offset. */
#define SEGMENT_DEFAULT_MAX_DELAY_US 700000
/* Audio packets held back waiting for video (about 7 minutes of AAC at
 * 48 kHz): more means the video has stalled, not that it is late. */
#define SEGMENT_AUDIO_QUEUE_MAX 20000
/* Video packets held while a cut waits for the audio (a minute at 60 fps). */
#define SEGMENT_VIDEO_QUEUE_MAX 3600
/* Held audio this close to the next boundary waits for the cut's dts. */
#define SEGMENT_SPLIT_MARGIN_US 1000000

struct segment_output_stream {
    int expected; /* the run has this stream */
    int ready;    /* add_stream was called */
    AVCodecParameters *par;
    AVRational time_base; /* of the packets handed in */
    int64_t first_dts_us; /* absolute input time of the first dts a run from the
                             start of the input would mux; see segment_writer_add_stream */
    int mux_index;        /* index in the current muxer */
};

struct segment_container;

/* Cuts the encoded packets into HLS segments (or one progressive file). */
struct segment_writer {
    struct pipeline_run *run;
    const struct pipeline_timeline *timeline;
    const struct segment_container *container; /* the back end, chosen at open */
    struct pipeline_fmp4 *fmp4;                /* fMP4: the run's muxer */
    struct segment_output_stream streams[SEGMENT_STREAMS];
    int64_t shift_us; /* added to every output timestamp; fixed at the first open */
    int shift_known;

    AVFormatContext *mux; /* the open segment, NULL between segments */
    char temp_path[JOB_SPEC_PATH_MAX + 64];
    char final_path[JOB_SPEC_PATH_MAX];
    int opened;           /* number of segments opened in this run */
    int index;            /* file number of the open (or last) segment */
    int64_t boundary;     /* its boundary number */
    int64_t start_us;     /* stream time of its first frame */
    int64_t end_us;       /* stream time where its last packet ends */
    int64_t bytes_before; /* bytes of the segments already closed */
    int64_t bytes;        /* bytes written so far */
    int64_t out_time_us;  /* stream time of the latest packet of the cutting stream muxed */

    /* Audio packets at or past end_ts wait here until the video cut that ends
     * the open segment is known; audio before floor_ts is dropped. */
    AVFifo *audio_queue; /* of AVPacket * */
    int64_t end_ts;      /* in the video time base (or audio when audio-only) */
    int64_t floor_ts;    /* in the video time base */
    int has_floor;

    /* A cut waits until the audio reaches its split point (the cut packet's
     * dts: the hls muxer interleaves by dts, so audio before it belongs to
     * the old segment); meanwhile the new segment's video waits here. */
    int pending;
    struct segment_cut pending_cut;
    int64_t split_ts;    /* in the video time base */
    AVFifo *video_queue; /* of AVPacket * */
};

/* A back end: what the writer produces. */
struct segment_container {
    const char *kind;      /* what its file is called in messages: "segment" or "output" */
    int codec_tags;        /* the muxer honours -tag:v (mpegts has no use for codec tags) */
    int muxer_per_segment; /* each segment is a muxer of its own */
    /* Whether the muxer is of the MP4 family, which wants raw AAC and an
     * AudioSpecificConfig. */
    int (*is_mp4)(const struct job_spec *spec);
    /* The output shift (us), given base (the input's start when
     * -start_at_zero moves it to 0, else 0) and first (the earliest first
     * dts a run from the start muxes, minus base). */
    int64_t (*shift)(const struct segment_writer *w, int64_t base, int64_t first);
    /* Names segment index (temp_path, final_path) and opens w->mux on it.
     * Returns a pipeline_result. */
    int (*open)(struct segment_writer *w, int index);
    /* Writes one packet (timestamps and stream index the muxer's) to
     * w->mux. Returns 0 or an AVERROR. */
    int (*write)(struct segment_writer *w, AVPacket *pkt);
    /* Finishes the segment that was open on mux (w->mux is already NULL)
     * and sets *size to its bytes. Returns a pipeline_result. */
    int (*close)(struct segment_writer *w, AVFormatContext *mux, int64_t *size);
    /* Hands a finished segment to the caller. Returns a pipeline_result:
     * PIPELINE_STOPPED when segment_done asks to stop. */
    int (*deliver)(struct segment_writer *w, const struct pipeline_segment *segment);
    /* Frees the muxers, abandoning an open segment. */
    void (*free)(struct segment_writer *w);
};

static const struct segment_container segment_mpegts;
static const struct segment_container segment_fmp4;
static const struct segment_container segment_file;

int segment_writer_open(struct segment_writer **out, struct pipeline_run *run,
                        const struct pipeline_timeline *t, int has_video, int has_audio)
{
    const struct job_spec *spec = run->spec;
    struct segment_writer *w = *out = av_mallocz(sizeof(*w));
    if (w == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the segment writer");
    w->run = run;
    w->timeline = t;
    if (spec->output_kind == JOB_OUTPUT_PROGRESSIVE)
        w->container = &segment_file;
    else if (spec->segment_type == JOB_SEGMENT_FMP4)
        w->container = &segment_fmp4;
    else
        w->container = &segment_mpegts;
    w->streams[SEGMENT_VIDEO].expected = has_video;
    w->streams[SEGMENT_AUDIO].expected = has_audio;
    w->audio_queue = av_fifo_alloc2(64, sizeof(AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
    w->video_queue = av_fifo_alloc2(16, sizeof(AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
    if (w->audio_queue == NULL || w->video_queue == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio packet queue");
    return PIPELINE_OK;
}

int segment_writer_add_stream(struct segment_writer *w, enum segment_stream kind,
                              const AVCodecParameters *par, AVRational time_base,
                              int64_t first_dts_us)
{
    struct segment_output_stream *s = &w->streams[kind];
    s->par = avcodec_parameters_alloc();
    if (s->par == NULL)
        return pipeline_fail(w->run, AVERROR(ENOMEM), "allocate output stream parameters");
    int ret = avcodec_parameters_copy(s->par, par);
    if (ret < 0)
        return pipeline_fail(w->run, ret, "copy output stream parameters");
    /* A container's codec tag (e.g. from Matroska on copy) means nothing to mpegts. */
    s->par->codec_tag = 0;
    s->time_base = time_base;
    s->first_dts_us = first_dts_us;
    s->ready = 1;
    return PIPELINE_OK;
}

int segment_writer_muxer_per_segment(const struct segment_writer *w)
{
    return w->container->muxer_per_segment;
}

int segment_writer_is_mp4(const struct segment_writer *w)
{
    return w->container->is_mp4(w->run->spec);
}

int64_t segment_writer_bytes(const struct segment_writer *w)
{
    return w != NULL ? w->bytes : 0;
}

int64_t segment_writer_out_time_us(const struct segment_writer *w)
{
    return w != NULL ? w->out_time_us : 0;
}

/* The stream whose packets decide where segments begin and end. */
static enum segment_stream segment_cutting_stream(const struct segment_writer *w)
{
    return w->streams[SEGMENT_VIDEO].expected ? SEGMENT_VIDEO : SEGMENT_AUDIO;
}

/* Fixes shift_us the first time a segment opens. The ffmpeg CLI (with
 * -copyts -avoid_negative_ts disabled) muxes HLS through an mpegts muxer that
 * still shifts a run's timestamps so its first dts is not negative; a run
 * from the start of the input therefore comes out shifted by minus its most
 * negative first dts (the B-frame delay, the AAC priming). We apply that same
 * shift, computed from stream properties alone, to every run (each back end
 * adjusts it for its muxer). */
static int segment_fix_shift(struct segment_writer *w)
{
    if (w->shift_known)
        return PIPELINE_OK;
    const struct job_spec *spec = w->run->spec;
    int64_t first = INT64_MAX;
    for (int i = 0; i < SEGMENT_STREAMS; i++) {
        const struct segment_output_stream *s = &w->streams[i];
        if (!s->expected)
            continue;
        if (!s->ready)
            return pipeline_fail(w->run, 0, "open segment: the %s encoder is not open",
                                 i == SEGMENT_VIDEO ? "video" : "audio");
        if (s->first_dts_us < first)
            first = s->first_dts_us;
    }
    /* -start_at_zero (with -copyts): the CLI first moves the input's start
     * to 0. */
    int64_t base = spec->start_at_zero && spec->copyts ? w->timeline->origin_us : 0;
    first -= base;
    w->shift_us = w->container->shift(w, base, first);
    w->shift_known = 1;
    return PIPELINE_OK;
}

/* Adds the writer's streams to mux (what: mux's name in messages), with
 * -tag:v (e.g. hvc1) where the back end's muxer honours it. */
static int segment_add_streams(struct segment_writer *w, AVFormatContext *mux, const char *what)
{
    const struct job_spec *spec = w->run->spec;
    for (int i = 0; i < SEGMENT_STREAMS; i++) {
        struct segment_output_stream *s = &w->streams[i];
        if (!s->expected)
            continue;
        AVStream *st = avformat_new_stream(mux, NULL);
        if (st == NULL)
            return pipeline_fail(w->run, AVERROR(ENOMEM), "add a stream to %s", what);
        int averr = avcodec_parameters_copy(st->codecpar, s->par);
        if (averr < 0)
            return pipeline_fail(w->run, averr, "add a stream to %s", what);
        if (i == SEGMENT_VIDEO && strlen(spec->video_tag) == 4 && w->container->codec_tags)
            st->codecpar->codec_tag = MKTAG(spec->video_tag[0], spec->video_tag[1],
                                            spec->video_tag[2], spec->video_tag[3]);
        st->time_base = s->time_base;
        s->mux_index = st->index;
    }
    return PIPELINE_OK;
}

/* ---- back ends: what they share ------------------------------------------------ */

/* Names HLS segment index: its final path from -hls_segment_filename, and
 * the temp file beside it. Returns a pipeline_result. */
static int segment_name(struct segment_writer *w, int index)
{
    const struct job_spec *spec = w->run->spec;
    if (job_spec_segment_path(spec, index, w->final_path, sizeof(w->final_path)) != 0)
        return pipeline_fail(w->run, 0, "build the path of segment %d from \"%s\"", index,
                             spec->segment_filename);
    snprintf(w->temp_path, sizeof(w->temp_path), "%s%s", w->final_path,
             pipeline_temp_suffix(w->run));
    return PIPELINE_OK;
}

/* Opens w->mux: a muxer of format (NULL or "": guessed from the file name)
 * writing to temp_path, its header written with what add_options (NULL:
 * nothing) sets on it. Returns a pipeline_result. */
static int segment_open_muxer(struct segment_writer *w, const char *format,
                              int (*add_options)(struct segment_writer *w, AVFormatContext *mux,
                                                 AVDictionary **options))
{
    struct pipeline_run *run = w->run;
    const struct job_spec *spec = run->spec;
    AVFormatContext *mux = NULL;
    AVDictionary *options = NULL;
    int created = 0;
    int ret;
    int averr = avformat_alloc_output_context2(&mux, NULL, format[0] ? format : NULL, w->temp_path);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the %s muxer for %s", format[0] ? format : "output",
                            w->temp_path);
        goto fail;
    }
    if ((ret = segment_add_streams(w, mux, w->temp_path)) != PIPELINE_OK)
        goto fail;
    /* -copyts -avoid_negative_ts disabled: timestamps go out as given. */
    mux->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    mux->strict_std_compliance = spec->strict;
    mux->max_delay =
        spec->max_delay_us >= 0 ? (int)spec->max_delay_us : SEGMENT_DEFAULT_MAX_DELAY_US;
    if (add_options != NULL && (ret = add_options(w, mux, &options)) != PIPELINE_OK)
        goto fail;

    averr = avio_open(&mux->pb, w->temp_path, AVIO_FLAG_WRITE);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "open %s file %s", w->container->kind, w->temp_path);
        goto fail;
    }
    created = 1;
    averr = avformat_write_header(mux, &options);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "write the header of %s", w->temp_path);
        goto fail;
    }
    av_dict_free(&options);
    w->mux = mux;
    return PIPELINE_OK;

fail:
    av_dict_free(&options);
    if (mux != NULL) {
        avio_closep(&mux->pb);
        avformat_free_context(mux);
    }
    if (created)
        unlink(w->temp_path);
    return ret;
}

static int segment_write_interleaved(struct segment_writer *w, AVPacket *pkt)
{
    return av_interleaved_write_frame(w->mux, pkt);
}

/* Writes mux's trailer, closes its file and frees it; *size: the file's
 * size. Returns 0 or an AVERROR. */
static int segment_finish_muxer(AVFormatContext *mux, int64_t *size)
{
    int averr = av_write_trailer(mux);
    *size = avio_tell(mux->pb);
    int closeerr = avio_closep(&mux->pb);
    avformat_free_context(mux);
    return averr < 0 ? averr : closeerr;
}

/* Hands a finished HLS segment to the caller: from here on its temp file is
 * the caller's, published or discarded. */
static int segment_deliver(struct segment_writer *w, const struct pipeline_segment *segment)
{
    const struct pipeline_callbacks *cb = w->run->cb;
    if (cb == NULL || cb->segment_done == NULL) {
        unlink(w->temp_path);
        return PIPELINE_OK;
    }
    return cb->segment_done(cb->opaque, segment) != 0 ? PIPELINE_STOPPED : PIPELINE_OK;
}

static int segment_never_mp4(const struct job_spec *spec)
{
    return 0;
}

/* ---- back end: MPEG-TS segments ---------------------------------------------------- */

static int64_t segment_mpegts_shift(const struct segment_writer *w, int64_t base, int64_t first)
{
    return -base + (first < 0 ? -first : 0);
}

static int segment_mpegts_open(struct segment_writer *w, int index)
{
    int ret = segment_name(w, index);
    return ret != PIPELINE_OK ? ret : segment_open_muxer(w, "mpegts", NULL);
}

static int segment_mpegts_close(struct segment_writer *w, AVFormatContext *mux, int64_t *size)
{
    int averr = segment_finish_muxer(mux, size);
    if (averr < 0) {
        unlink(w->temp_path);
        return pipeline_fail(w->run, averr, "finish %s", w->temp_path);
    }
    return PIPELINE_OK;
}

static void segment_mpegts_free(struct segment_writer *w)
{
    if (w->mux == NULL)
        return;
    avio_closep(&w->mux->pb);
    avformat_free_context(w->mux);
    w->mux = NULL;
    unlink(w->temp_path);
}

static const struct segment_container segment_mpegts = {
    .kind = "segment",
    .codec_tags = 0,
    .muxer_per_segment = 1,
    .is_mp4 = segment_never_mp4,
    .shift = segment_mpegts_shift,
    .open = segment_mpegts_open,
    .write = segment_write_interleaved,
    .close = segment_mpegts_close,
    .deliver = segment_deliver,
    .free = segment_mpegts_free,
};

/* ---- back end: fMP4 segments -------------------------------------------------------- */

static int segment_always_mp4(const struct job_spec *spec)
{
    return 1;
}

/* The mp4 muxer keeps negative dts (edit list): no shift of its own. */
static int64_t segment_fmp4_shift(const struct segment_writer *w, int64_t base, int64_t first)
{
    return -base;
}

/* Names the segment; the run's first segment creates the run's muxer,
 * every segment starts a fragment in it. */
static int segment_fmp4_open(struct segment_writer *w, int index)
{
    int ret = segment_name(w, index);
    if (ret != PIPELINE_OK)
        return ret;
    if (w->fmp4 == NULL) {
        AVFormatContext *mux = NULL;
        int averr = avformat_alloc_output_context2(&mux, NULL, "mp4", NULL);
        if (averr < 0)
            return pipeline_fail(w->run, averr, "create the fmp4 muxer");
        if ((ret = segment_add_streams(w, mux, "the fmp4 muxer")) != PIPELINE_OK) {
            avformat_free_context(mux);
            return ret;
        }
        if ((ret = pipeline_fmp4_open(&w->fmp4, w->run, w->timeline, mux)) != PIPELINE_OK)
            return ret;
    }
    w->mux = pipeline_fmp4_muxer(w->fmp4);
    pipeline_fmp4_begin(w->fmp4);
    return PIPELINE_OK;
}

static int segment_fmp4_write(struct segment_writer *w, AVPacket *pkt)
{
    pipeline_fmp4_packet(w->fmp4, pkt);
    return av_interleaved_write_frame(w->mux, pkt);
}

static int segment_fmp4_close(struct segment_writer *w, AVFormatContext *mux, int64_t *size)
{
    return pipeline_fmp4_flush(w->fmp4, w->temp_path, w->opened, size);
}

static void segment_fmp4_free(struct segment_writer *w)
{
    w->mux = NULL; /* the fmp4 muxer's */
    pipeline_fmp4_free(&w->fmp4);
}

static const struct segment_container segment_fmp4 = {
    .kind = "segment",
    .codec_tags = 1,
    .muxer_per_segment = 0,
    .is_mp4 = segment_always_mp4,
    .shift = segment_fmp4_shift,
    .open = segment_fmp4_open,
    .write = segment_fmp4_write,
    .close = segment_fmp4_close,
    .deliver = segment_deliver,
    .free = segment_fmp4_free,
};

/* ---- back end: a progressive file ---------------------------------------------------- */

static int segment_file_is_mp4(const struct job_spec *spec)
{
    return strcmp(spec->output_format, "mp4") == 0 || strcmp(spec->output_format, "mov") == 0 ||
           strcmp(spec->output_format, "ipod") == 0;
}

/* Without -copyts the CLI starts a file at 0 (after any -ss); the muxer's
 * own avoid_negative_ts deals with the encoders' delays. */
static int64_t segment_file_shift(const struct segment_writer *w, int64_t base, int64_t first)
{
    const struct pipeline_timeline *t = w->timeline;
    return w->run->spec->copyts ? -base : -(t->origin_us + t->job_start_us);
}

/* The file's muxer options: the muxer's own negative-timestamp handling,
 * Jellyfin's mp3 tags (see on_id3_tags in shim/argv_options.c), -movflags. */
static int segment_file_options(struct segment_writer *w, AVFormatContext *mux,
                                AVDictionary **options)
{
    const struct job_spec *spec = w->run->spec;
    int averr;
    mux->avoid_negative_ts = AVFMT_AVOID_NEG_TS_AUTO;
    if (strcmp(mux->oformat->name, "mp3") == 0 &&
        ((averr = av_dict_set(options, "id3v2_version", "3", 0)) < 0 ||
         (averr = av_dict_set(options, "write_id3v1", "1", 0)) < 0))
        return pipeline_fail(w->run, averr, "set the mp3 tag options");
    if (spec->movflags[0] != '\0' &&
        (averr = av_dict_set(options, "movflags", spec->movflags, 0)) < 0)
        return pipeline_fail(w->run, averr, "set movflags %s", spec->movflags);
    return PIPELINE_OK;
}

/* The one "segment" is spec->output itself, written in place. */
static int segment_file_open(struct segment_writer *w, int index)
{
    const struct job_spec *spec = w->run->spec;
    snprintf(w->final_path, sizeof(w->final_path), "%s", spec->output);
    snprintf(w->temp_path, sizeof(w->temp_path), "%s", spec->output);
    return segment_open_muxer(w, spec->output_format, segment_file_options);
}

static int segment_file_close(struct segment_writer *w, AVFormatContext *mux, int64_t *size)
{
    int averr = segment_finish_muxer(mux, size);
    return averr < 0 ? pipeline_fail(w->run, averr, "finish %s", w->temp_path) : PIPELINE_OK;
}

/* The file is complete when closed: there is nothing to publish. */
static int segment_file_deliver(struct segment_writer *w, const struct pipeline_segment *segment)
{
    return PIPELINE_OK;
}

/* An unfinished progressive file stays: it is the output, not a temp file. */
static void segment_file_free(struct segment_writer *w)
{
    if (w->mux == NULL)
        return;
    avio_closep(&w->mux->pb);
    avformat_free_context(w->mux);
    w->mux = NULL;
}

static const struct segment_container segment_file = {
    .kind = "output",
    .codec_tags = 1,
    .muxer_per_segment = 0,
    .is_mp4 = segment_file_is_mp4,
    .shift = segment_file_shift,
    .open = segment_file_open,
    .write = segment_write_interleaved,
    .close = segment_file_close,
    .deliver = segment_file_deliver,
    .free = segment_file_free,
};

/* ---- opening, closing, writing ------------------------------------------------------- */

/* Opens segment `index` through the back end. Returns a pipeline_result. */
static int segment_open(struct segment_writer *w, int index, int64_t boundary, int64_t start_us)
{
    int ret = segment_fix_shift(w);
    if (ret == PIPELINE_OK)
        ret = w->container->open(w, index);
    if (ret != PIPELINE_OK)
        return ret;
    w->index = index;
    w->boundary = boundary;
    w->start_us = start_us;
    w->end_us = start_us;
    w->opened++;
    return PIPELINE_OK;
}

/* Closes the open segment and hands it to the caller. Returns a pipeline_result:
 * PIPELINE_STOPPED when segment_done asks to stop. */
static int segment_close(struct segment_writer *w, int last, int64_t duration_us)
{
    AVFormatContext *mux = w->mux;
    int64_t size = 0;
    w->mux = NULL;
    int ret = w->container->close(w, mux, &size);
    if (ret != PIPELINE_OK)
        return ret;
    if (size > 0)
        w->bytes_before += size;
    w->bytes = w->bytes_before;

    struct pipeline_segment segment = {
        .index = w->index,
        .temp_path = w->temp_path,
        .final_path = w->final_path,
        .start_us = w->start_us,
        .duration_us = duration_us,
        .last = last,
        /* The job's first segment carries its fragment base (fMP4). */
        .fmp4_base = w->opened == 1 ? pipeline_fmp4_base(w->fmp4) : NULL,
    };
    return w->container->deliver(w, &segment);
}

/* Writes one packet of stream `kind` to the open segment. Takes its reference. */
static int segment_write(struct segment_writer *w, enum segment_stream kind, AVPacket *pkt)
{
    const struct pipeline_timeline *t = w->timeline;
    struct segment_output_stream *s = &w->streams[kind];
    AVStream *st = w->mux->streams[s->mux_index];

    if (kind == segment_cutting_stream(w) && pkt->pts != AV_NOPTS_VALUE) {
        int64_t end = timeline_stream_time_us(t, pkt->pts + pkt->duration, s->time_base);
        if (end > w->end_us)
            w->end_us = end;
        w->out_time_us = timeline_stream_time_us(t, pkt->pts, s->time_base);
    }

    av_packet_rescale_ts(pkt, s->time_base, st->time_base);
    int64_t shift = av_rescale_q(w->shift_us, AV_TIME_BASE_Q, st->time_base);
    if (pkt->pts != AV_NOPTS_VALUE)
        pkt->pts += shift;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += shift;
    pkt->stream_index = s->mux_index;

    int averr = w->container->write(w, pkt);
    av_packet_unref(pkt);
    if (averr < 0)
        return pipeline_fail(w->run, averr, "write a packet to segment %s", w->temp_path);
    w->bytes = w->bytes_before + avio_tell(w->mux->pb);
    return PIPELINE_OK;
}

/* ---- the audio queue ------------------------------------------------------ */

static int audio_queue_push(struct segment_writer *w, AVPacket *pkt)
{
    if (av_fifo_can_read(w->audio_queue) >= SEGMENT_AUDIO_QUEUE_MAX) {
        av_packet_unref(pkt);
        return pipeline_fail(w->run, 0, "transcode %s: the audio is %d packets ahead of the video",
                             w->run->spec->input, SEGMENT_AUDIO_QUEUE_MAX);
    }
    AVPacket *held = av_packet_alloc();
    if (held == NULL)
        return pipeline_fail(w->run, AVERROR(ENOMEM), "hold back an audio packet");
    av_packet_move_ref(held, pkt);
    int averr = av_fifo_write(w->audio_queue, &held, 1);
    if (averr < 0) {
        av_packet_free(&held);
        return pipeline_fail(w->run, averr, "hold back an audio packet");
    }
    return PIPELINE_OK;
}

/* The pts of the oldest held packet, in the audio time base; 0 if none. */
static int audio_queue_peek(struct segment_writer *w, int64_t *pts)
{
    AVPacket *held;
    if (av_fifo_peek(w->audio_queue, &held, 1, 0) < 0)
        return 0;
    *pts = held->pts;
    return 1;
}

static AVPacket *audio_queue_pop(struct segment_writer *w)
{
    AVPacket *held = NULL;
    if (av_fifo_read(w->audio_queue, &held, 1) < 0)
        return NULL;
    return held;
}

/* Writes held audio packets with pts before limit (in the cutting stream's
 * time base; all of them when all is set) to the open segment. */
static int audio_queue_drain(struct segment_writer *w, int64_t limit, int all)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational limit_tb = w->streams[segment_cutting_stream(w)].time_base;
    int64_t pts;
    while (audio_queue_peek(w, &pts)) {
        if (!all && av_compare_ts(pts, audio_tb, limit, limit_tb) >= 0)
            break;
        AVPacket *held = audio_queue_pop(w);
        int ret = segment_write(w, SEGMENT_AUDIO, held);
        av_packet_free(&held);
        if (ret != PIPELINE_OK)
            return ret;
    }
    return PIPELINE_OK;
}

/* Drops held audio packets with pts before floor (in the video time base). */
static void audio_queue_drop_before(struct segment_writer *w, int64_t floor)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    int64_t pts;
    while (audio_queue_peek(w, &pts) && av_compare_ts(pts, audio_tb, floor, video_tb) < 0) {
        AVPacket *held = audio_queue_pop(w);
        av_packet_free(&held);
    }
}

/* ---- entry points --------------------------------------------------------- */

/* Held audio up to this (video time base) may be written to the open
 * segment: the next cut's split point (a dts) lies at most a reorder delay
 * before its boundary. */
static int64_t segment_audio_limit(const struct segment_writer *w)
{
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    int64_t half_us = w->timeline->hls_time_us / 2;
    int64_t margin_us = half_us < SEGMENT_SPLIT_MARGIN_US ? half_us : SEGMENT_SPLIT_MARGIN_US;
    return w->end_ts - av_rescale_q(margin_us, AV_TIME_BASE_Q, video_tb);
}

/* Closes the old segment at the pending cut and opens the new one with the
 * video that waited. */
static int segment_resolve_cut(struct segment_writer *w)
{
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    struct segment_cut cut = w->pending_cut;
    int ret;
    w->pending = 0;
    if ((ret = audio_queue_drain(w, w->split_ts, 0)) != PIPELINE_OK)
        return ret;
    if ((ret = segment_close(w, 0, cut.start_us - w->start_us)) != PIPELINE_OK)
        return ret;
    if ((ret = segment_open(w, cut.index, cut.boundary, cut.start_us)) != PIPELINE_OK)
        return ret;
    w->end_ts = timeline_boundary_ts(w->timeline, cut.boundary + 1, video_tb);
    AVPacket *held = NULL;
    while (av_fifo_read(w->video_queue, &held, 1) >= 0) {
        ret = segment_write(w, SEGMENT_VIDEO, held);
        av_packet_free(&held);
        if (ret != PIPELINE_OK)
            return ret;
    }
    return PIPELINE_OK;
}

/* Writes the held audio that is due: before the split point of a pending
 * cut (resolving the cut once the audio has passed it), else before the
 * open segment's limit. */
static int segment_flush_audio(struct segment_writer *w)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    int64_t pts;
    int ret;
    if (w->mux == NULL)
        return PIPELINE_OK;
    if (w->pending) {
        if ((ret = audio_queue_drain(w, w->split_ts, 0)) != PIPELINE_OK)
            return ret;
        if (!audio_queue_peek(w, &pts) || av_compare_ts(pts, audio_tb, w->split_ts, video_tb) < 0)
            return PIPELINE_OK;
        if ((ret = segment_resolve_cut(w)) != PIPELINE_OK)
            return ret;
    }
    return audio_queue_drain(w, segment_audio_limit(w), 0);
}

/* Holds a video packet of a segment whose cut is pending. Takes its reference. */
static int video_queue_push(struct segment_writer *w, AVPacket *pkt)
{
    AVPacket *held = av_packet_alloc();
    if (held == NULL)
        return pipeline_fail(w->run, AVERROR(ENOMEM), "hold back a video packet");
    av_packet_move_ref(held, pkt);
    int averr = av_fifo_write(w->video_queue, &held, 1);
    if (averr < 0) {
        av_packet_free(&held);
        return pipeline_fail(w->run, averr, "hold back a video packet");
    }
    return PIPELINE_OK;
}

/* Starts the segment `cut` whose video is about to arrive (pkt, its first
 * packet, or NULL when the cut was announced ahead of it): closes the open
 * segment, at once or, with audio, once the audio has passed the split
 * point (then pkt, if any, waits in the video queue). Returns a
 * pipeline_result; *queued is set when pkt's reference was taken. */
static int segment_begin(struct segment_writer *w, const struct segment_cut *cut, int64_t split,
                         AVPacket *pkt, int *queued)
{
    const struct pipeline_timeline *t = w->timeline;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    int ret;
    *queued = 0;
    if (w->pending && (ret = segment_resolve_cut(w)) != PIPELINE_OK)
        return ret;
    if (w->mux != NULL && w->streams[SEGMENT_AUDIO].expected) {
        /* Audio before the cut's dts still belongs to the old segment. */
        w->pending = 1;
        w->pending_cut = *cut;
        w->split_ts = split;
        if (pkt != NULL) {
            if ((ret = video_queue_push(w, pkt)) != PIPELINE_OK)
                return ret;
            *queued = 1;
        }
        return segment_flush_audio(w);
    }
    if (w->mux != NULL) {
        if ((ret = segment_close(w, 0, cut->start_us - w->start_us)) != PIPELINE_OK)
            return ret;
    } else if (w->opened == 0 && t->trim) {
        /* A run that starts mid-stream begins its audio at its first
         * cut's split point: earlier audio went into the previous
         * segment of the run that produced it. */
        w->floor_ts = split;
        w->has_floor = 1;
        audio_queue_drop_before(w, split);
    }
    if ((ret = segment_open(w, cut->index, cut->boundary, cut->start_us)) != PIPELINE_OK)
        return ret;
    w->end_ts = timeline_boundary_ts(t, cut->boundary + 1, video_tb);
    return PIPELINE_OK;
}

int segment_writer_video_cut(struct segment_writer *w, const struct segment_cut *cut)
{
    int queued;
    if (w->mux == NULL || cut->split == AV_NOPTS_VALUE)
        return pipeline_fail(w->run, 0, "announce segment %d: no open segment or no split point",
                             cut->index);
    return segment_begin(w, cut, cut->split, NULL, &queued);
}

int segment_writer_video(struct segment_writer *w, AVPacket *pkt, const struct segment_cut *cut)
{
    int has_audio = w->streams[SEGMENT_AUDIO].expected;
    int ret = PIPELINE_OK;

    if (cut != NULL) {
        int64_t split = cut->split;
        if (split == AV_NOPTS_VALUE)
            split = pkt->dts != AV_NOPTS_VALUE && pkt->dts < cut->pts ? pkt->dts : cut->pts;
        int queued;
        ret = segment_begin(w, cut, split, pkt, &queued);
        if (ret != PIPELINE_OK || queued)
            goto done;
    }
    if (w->mux == NULL)
        goto done; /* cannot happen: the first frame of a run always starts a segment */
    if (w->pending) {
        if ((ret = video_queue_push(w, pkt)) != PIPELINE_OK)
            goto done;
        /* Audio that stopped for good must not hold the video forever. */
        if (av_fifo_can_read(w->video_queue) >= SEGMENT_VIDEO_QUEUE_MAX)
            ret = segment_resolve_cut(w);
        goto done;
    }
    if ((ret = segment_write(w, SEGMENT_VIDEO, pkt)) != PIPELINE_OK)
        goto done;
    if (has_audio)
        ret = segment_flush_audio(w);
done:
    av_packet_unref(pkt);
    return ret;
}

/* Audio-only runs: segments begin at the first audio packet past each boundary. */
static int segment_writer_audio_only(struct segment_writer *w, AVPacket *pkt)
{
    const struct pipeline_timeline *t = w->timeline;
    AVRational tb = w->streams[SEGMENT_AUDIO].time_base;
    int ret;

    if (t->trim && av_compare_ts(pkt->pts, tb, t->origin_us + t->start_us, AV_TIME_BASE_Q) < 0) {
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    if (w->mux == NULL || pkt->pts >= w->end_ts) {
        int64_t start_us = timeline_stream_time_us(t, pkt->pts, tb);
        int64_t boundary = timeline_boundary_index(t, pkt->pts, tb);
        int index = t->first_index;
        if (w->mux == NULL && boundary < t->first_boundary)
            boundary = t->first_boundary;
        if (w->mux != NULL) {
            index = w->index + 1;
            if ((ret = segment_close(w, 0, start_us - w->start_us)) != PIPELINE_OK)
                goto done;
        }
        if ((ret = segment_open(w, index, boundary, start_us)) != PIPELINE_OK)
            goto done;
        w->end_ts = timeline_boundary_ts(t, boundary + 1, tb);
    }
    ret = segment_write(w, SEGMENT_AUDIO, pkt);
done:
    av_packet_unref(pkt);
    return ret;
}

int segment_writer_audio(struct segment_writer *w, AVPacket *pkt)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;

    if (pkt->pts == AV_NOPTS_VALUE)
        pkt->pts = pkt->dts;
    if (pkt->pts == AV_NOPTS_VALUE) {
        /* Nowhere to put it on the timeline. */
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    if (pkt->dts == AV_NOPTS_VALUE)
        pkt->dts = pkt->pts;
    if (!w->streams[SEGMENT_VIDEO].expected)
        return segment_writer_audio_only(w, pkt);

    if (w->has_floor && av_compare_ts(pkt->pts, audio_tb, w->floor_ts, video_tb) < 0) {
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    /* Every packet goes through the queue, so the order is kept and each
     * lands by its pts whatever the order the stages deliver in. */
    int ret = audio_queue_push(w, pkt);
    if (ret != PIPELINE_OK)
        return ret;
    return segment_flush_audio(w);
}

int segment_writer_finish(struct segment_writer *w)
{
    struct pipeline_run *run = w->run;
    if (w->mux == NULL)
        return pipeline_fail(run, 0, "transcode %s: no %s frame at or after %.3f s",
                             run->spec->input,
                             w->streams[SEGMENT_VIDEO].expected ? "video" : "audio",
                             (double)w->timeline->start_us / 1e6);
    int ret = PIPELINE_OK;
    if (w->pending)
        ret = segment_resolve_cut(w);
    if (ret == PIPELINE_OK)
        ret = audio_queue_drain(w, 0, 1);
    if (ret != PIPELINE_OK)
        return ret;
    return segment_close(w, 1, w->end_us - w->start_us);
}

void segment_writer_free(struct segment_writer **wp)
{
    struct segment_writer *w = *wp;
    if (w == NULL)
        return;
    w->container->free(w);
    if (w->audio_queue != NULL) {
        AVPacket *held;
        while ((held = audio_queue_pop(w)) != NULL)
            av_packet_free(&held);
        av_fifo_freep2(&w->audio_queue);
    }
    if (w->video_queue != NULL) {
        AVPacket *held;
        while (av_fifo_read(w->video_queue, &held, 1) >= 0)
            av_packet_free(&held);
        av_fifo_freep2(&w->video_queue);
    }
    for (int i = 0; i < SEGMENT_STREAMS; i++)
        avcodec_parameters_free(&w->streams[i].par);
    av_freep(wp);
}
