/* pipeline_segment.c -- cuts encoded packets into HLS segments (MPEG-TS or
 * fMP4) or writes them to one progressive file.
 *
 * The only part of the pipeline that muxes. An MPEG-TS segment is its own
 * mpegts muxer writing to "<final path>.tmp"; an fMP4 run has one mp4
 * muxer (frag_custom, as the hls muxer sets it up) writing into memory, and
 * each segment is the fragment flushed at its end, written to its temp file.
 * The fMP4 init segment (ftyp+moov) is written once per job: a run that
 * finds it already there leaves it alone, because a resumed run's moov (edit
 * list) would differ. When a segment is complete (trailer written, file
 * closed) segment_done hands it to the caller, who publishes it.
 *
 * A progressive output (-f mp4/matroska/mp3...) is one muxer writing to
 * spec->output directly, since Jellyfin tails the growing file; segment_done
 * is never called for it. The writer never creates a final path itself and removes the temp file
 * of a segment it abandons, so a stopped run leaves nothing half-written.
 *
 * Where segments are cut: with video, at the packet the video stage marked
 * with a struct segment_cut (the IDR that starts segment k), or where the
 * video stage announced the cut ahead of that packet
 * (segment_writer_video_cut, when it drains a run's first encoder). Audio packets
 * belong to the segment whose video was on screen at their pts, so an audio
 * packet at or past the current segment's nominal end waits in a queue until
 * the next cut says which side of it the packet falls. Audio-only runs cut
 * on the audio packets themselves.
 *
 * Timestamps: output = input timestamp + shift_us, where shift_us is derived
 * from the input's stream start times and the encoders' delays only (see
 * segment_writer_add_stream), never from where the run started. Every worker
 * therefore muxes identical timestamps for a given frame. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <errno.h>

#include <libavutil/intreadwrite.h>
#include <libavutil/mathematics.h>
#include <sys/stat.h>

#include "pipeline_internal.h"

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

int segment_writer_init(struct segment_writer *w, struct pipeline_run *run, int has_video,
                        int has_audio)
{
    memset(w, 0, sizeof(*w));
    w->run = run;
    if (run->spec->output_kind == JOB_OUTPUT_PROGRESSIVE)
        w->container = SEGMENT_CONTAINER_FILE;
    else if (run->spec->segment_type == JOB_SEGMENT_FMP4)
        w->container = SEGMENT_CONTAINER_FMP4;
    else
        w->container = SEGMENT_CONTAINER_MPEGTS;
    w->streams[SEGMENT_VIDEO].expected = has_video;
    w->streams[SEGMENT_AUDIO].expected = has_audio;
    /* A base that does not parse is treated as absent: the run then places
     * its fragments as if the job had started at stream time 0. */
    if (run->cb != NULL && run->cb->fmp4_base != NULL)
        fmp4_base_parse(run->cb->fmp4_base, &w->fmp4_base);
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

/* The stream whose packets decide where segments begin and end. */
static enum segment_stream segment_cutting_stream(const struct segment_writer *w)
{
    return w->streams[SEGMENT_VIDEO].expected ? SEGMENT_VIDEO : SEGMENT_AUDIO;
}

/* Whether this run starts the job (its first segment is start_number), as
 * opposed to resuming it. */
static int segment_job_first_run(const struct pipeline_run *run)
{
    return run->first_index == run->spec->start_number;
}

static int run_starts_at_zero(const struct pipeline_run *run)
{
    return run->spec->start_at_zero && run->spec->copyts;
}

/* Fixes shift_us the first time a segment opens. The ffmpeg CLI (with
 * -copyts -avoid_negative_ts disabled) muxes HLS through an mpegts muxer that
 * still shifts a run's timestamps so its first dts is not negative; a run
 * from the start of the input therefore comes out shifted by minus its most
 * negative first dts (the B-frame delay, the AAC priming). We apply that same
 * shift, computed from stream properties alone, to every run. */
static int segment_fix_shift(struct segment_writer *w)
{
    if (w->shift_known)
        return PIPELINE_OK;
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
    int64_t base = run_starts_at_zero(w->run) ? w->run->origin_us : 0;
    first -= base;
    w->shift_us = -base + (first < 0 ? -first : 0);
    if (w->container == SEGMENT_CONTAINER_FMP4)
        w->shift_us = -base; /* the mp4 muxer keeps negative dts (edit list) */
    if (w->container == SEGMENT_CONTAINER_FILE) {
        /* Without -copyts the CLI starts a file at 0 (after any -ss); the
         * muxer's own avoid_negative_ts deals with the encoders' delays. */
        const struct job_spec *spec = w->run->spec;
        w->shift_us = spec->copyts ? -base : -(w->run->origin_us + w->run->job_start_us);
    }
    w->shift_known = 1;
    return PIPELINE_OK;
}

/* Adds the writer's streams to mux. For mp4 the -tag:v (e.g. hvc1) is
 * honoured; mpegts has no use for codec tags. */
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
        if (i == SEGMENT_VIDEO && strlen(spec->video_tag) == 4 &&
            w->container != SEGMENT_CONTAINER_MPEGTS)
            st->codecpar->codec_tag = MKTAG(spec->video_tag[0], spec->video_tag[1],
                                            spec->video_tag[2], spec->video_tag[3]);
        st->time_base = s->time_base;
        s->mux_index = st->index;
    }
    return PIPELINE_OK;
}

/* The fMP4 muxer options: -hls_segment_options, then what the hls muxer
 * adds for fmp4 (a fragment only when asked, styp/sidx per fragment, moov
 * after the first packets). */
static int segment_fmp4_options(struct segment_writer *w, AVDictionary **options)
{
    const struct job_spec *spec = w->run->spec;
    int averr = 0;
    if (spec->segment_options[0] != '\0')
        averr = av_dict_parse_string(options, spec->segment_options, "=", ":", 0);
    if (averr >= 0)
        averr = av_dict_set(options, "movflags", "+frag_custom+dash+delay_moov", AV_DICT_APPEND);
    if (averr < 0)
        return pipeline_fail(w->run, averr, "read -hls_segment_options \"%s\"",
                             spec->segment_options);
    return PIPELINE_OK;
}

/* Creates the run's fMP4 muxer, writing into memory. */
static int segment_fmp4_create(struct segment_writer *w)
{
    struct pipeline_run *run = w->run;
    AVDictionary *options = NULL;
    AVFormatContext *mux = NULL;
    int ret;
    int averr = avformat_alloc_output_context2(&mux, NULL, "mp4", NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "create the fmp4 muxer");
    w->fmp4 = mux;
    if ((ret = segment_add_streams(w, mux, "the fmp4 muxer")) != PIPELINE_OK)
        goto end;
    if ((ret = segment_fmp4_options(w, &options)) != PIPELINE_OK)
        goto end;
    /* A resumed run numbers its fragments (mfhd) where the uninterrupted
     * run would be: one fragment per segment since the job's first. */
    if (!segment_job_first_run(run) &&
        (averr = av_dict_set_int(&options, "fragment_index",
                                 run->first_index - run->spec->start_number + 1, 0)) < 0) {
        ret = pipeline_fail(run, averr, "set the fmp4 fragment index");
        goto end;
    }
    mux->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    mux->strict_std_compliance = run->spec->strict;
    averr = avio_open_dyn_buf(&mux->pb);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the fmp4 muxer");
        goto end;
    }
    averr = avformat_write_header(mux, &options);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "write the fmp4 header");
        goto end;
    }
    const AVDictionaryEntry *unused = av_dict_get(options, "", NULL, AV_DICT_IGNORE_SUFFIX);
    if (unused != NULL)
        ret =
            pipeline_fail(run, 0, "-hls_segment_options: option %s is not recognised", unused->key);
end:
    av_dict_free(&options);
    return ret;
}

/* Opens segment `index`: its own mpegts muxer on its temp file, the run's
 * fMP4 muxer, or the progressive file. Returns a pipeline_result. */
static int segment_open(struct segment_writer *w, int index, int64_t boundary, int64_t start_us)
{
    struct pipeline_run *run = w->run;
    const struct job_spec *spec = run->spec;
    AVFormatContext *mux = NULL;
    AVDictionary *options = NULL;
    int created = 0;
    int ret = segment_fix_shift(w);
    if (ret != PIPELINE_OK)
        return ret;

    if (w->container == SEGMENT_CONTAINER_FILE) {
        snprintf(w->final_path, sizeof(w->final_path), "%s", spec->output);
        snprintf(w->temp_path, sizeof(w->temp_path), "%s", spec->output);
    } else {
        if (job_spec_segment_path(spec, index, w->final_path, sizeof(w->final_path)) != 0)
            return pipeline_fail(run, 0, "build the path of segment %d from \"%s\"", index,
                                 spec->segment_filename);
        const char *suffix =
            run->cb != NULL && run->cb->temp_suffix != NULL ? run->cb->temp_suffix : ".tmp";
        snprintf(w->temp_path, sizeof(w->temp_path), "%s%s", w->final_path, suffix);
    }

    if (w->container == SEGMENT_CONTAINER_FMP4) {
        if (w->fmp4 == NULL && (ret = segment_fmp4_create(w)) != PIPELINE_OK)
            return ret;
        w->mux = w->fmp4;
        for (int i = 0; i < SEGMENT_STREAMS; i++)
            w->streams[i].fragment_started = 0;
        goto opened;
    }

    const char *format = w->container == SEGMENT_CONTAINER_FILE ? spec->output_format : "mpegts";
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
    if (w->container == SEGMENT_CONTAINER_FILE) {
        mux->avoid_negative_ts = AVFMT_AVOID_NEG_TS_AUTO;
        /* Jellyfin's mp3 tags (see on_id3_tags in shim/argv.c). */
        if (strcmp(mux->oformat->name, "mp3") == 0 &&
            ((averr = av_dict_set(&options, "id3v2_version", "3", 0)) < 0 ||
             (averr = av_dict_set(&options, "write_id3v1", "1", 0)) < 0)) {
            ret = pipeline_fail(run, averr, "set the mp3 tag options");
            goto fail;
        }
        if (spec->movflags[0] != '\0' &&
            (averr = av_dict_set(&options, "movflags", spec->movflags, 0)) < 0) {
            ret = pipeline_fail(run, averr, "set movflags %s", spec->movflags);
            goto fail;
        }
    }

    averr = avio_open(&mux->pb, w->temp_path, AVIO_FLAG_WRITE);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "open %s file %s",
                            w->container == SEGMENT_CONTAINER_FILE ? "output" : "segment",
                            w->temp_path);
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
opened:
    w->index = index;
    w->boundary = boundary;
    w->start_us = start_us;
    w->end_us = start_us;
    w->opened++;
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

/* Writes size bytes to path (created or truncated). Returns an AVERROR code. */
static int segment_write_file(const char *path, const uint8_t *data, int size)
{
    AVIOContext *pb = NULL;
    int averr = avio_open(&pb, path, AVIO_FLAG_WRITE);
    if (averr < 0)
        return averr;
    avio_write(pb, data, size);
    avio_flush(pb);
    averr = pb->error;
    int closeerr = avio_closep(&pb);
    return averr < 0 ? averr : closeerr;
}

/* Writes an fMP4 segment file: the styp box the hls muxer starts every
 * segment with, then the fragment. Returns an AVERROR code. */
static int segment_write_segment(const char *path, const uint8_t *data, int size)
{
    static const uint8_t styp[24] = {0, 0, 0, 24, 's', 't', 'y', 'p', 'm', 's', 'd', 'h',
                                     0, 0, 0, 0,  'm', 's', 'd', 'h', 'm', 's', 'i', 'x'};
    AVIOContext *pb = NULL;
    int averr = avio_open(&pb, path, AVIO_FLAG_WRITE);
    if (averr < 0)
        return averr;
    avio_write(pb, styp, sizeof(styp));
    avio_write(pb, data, size);
    avio_flush(pb);
    averr = pb->error;
    int closeerr = avio_closep(&pb);
    return averr < 0 ? averr : closeerr;
}

/* Where the fMP4 init segment goes: -hls_fmp4_init_filename, relative to
 * the playlist's folder ("init.mp4" when not given, as the hls muxer). */
static void segment_init_path(const struct job_spec *spec, char *out, size_t len)
{
    const char *name = spec->init_filename[0] != '\0' ? spec->init_filename : "init.mp4";
    if (name[0] == '/') {
        snprintf(out, len, "%s", name);
        return;
    }
    const char *slash = strrchr(spec->output, '/');
    int dir = slash != NULL ? (int)(slash - spec->output) : 0;
    if (slash != NULL)
        snprintf(out, len, "%.*s/%s", dir, spec->output, name);
    else
        snprintf(out, len, "%s", name);
}

/* Length of the leading ftyp/moov boxes of an fMP4 byte stream. */
static int segment_init_length(const uint8_t *data, int size)
{
    int at = 0;
    while (at + 8 <= size) {
        uint32_t box = AV_RB32(data + at);
        if (memcmp(data + at + 4, "ftyp", 4) != 0 && memcmp(data + at + 4, "moov", 4) != 0)
            break;
        if (box < 8 || box > (uint32_t)(size - at))
            break;
        at += (int)box;
    }
    return at;
}

/* The fragment times of the track of stream s, or NULL. */
static const struct fmp4_track_times *segment_fmp4_track(const struct segment_output_stream *s,
                                                         const struct fmp4_track_times *times,
                                                         int n)
{
    for (int t = 0; t < n; t++)
        if (times[t].track_id == (uint32_t)s->mux_index + 1)
            return &times[t];
    return NULL;
}

/* The job's first run: measures, per track, how far the first fragment's
 * decode times (its last sample's) stand from the dts it muxed, and with
 * its first sample's composition offset where its presentation times
 * stand (the job's base, fmp4_times.h); keeps its text to hand out with
 * the segment. */
static int segment_fmp4_measure_base(struct segment_writer *w,
                                     const struct fmp4_track_times *times, int n)
{
    struct fmp4_base *base = &w->fmp4_base;
    memset(base, 0, sizeof(*base));
    for (int i = 0; i < SEGMENT_STREAMS; i++) {
        const struct segment_output_stream *s = &w->streams[i];
        if (!s->expected || !s->fragment_started)
            continue;
        const struct fmp4_track_times *t = segment_fmp4_track(s, times, n);
        if (t == NULL || !t->has_last_decode_time || s->fragment_last_dts == AV_NOPTS_VALUE)
            return pipeline_fail(w->run, 0, "read the decode times of segment %s", w->temp_path);
        base->tracks[base->count].track_id = t->track_id;
        base->tracks[base->count].decode_offset = t->last_decode_time - s->fragment_last_dts;
        base->tracks[base->count].presentation_offset =
            base->tracks[base->count].decode_offset - t->first_composition_offset;
        base->count++;
    }
    if (fmp4_base_format(base, w->fmp4_base_text, sizeof(w->fmp4_base_text)) != 0)
        return pipeline_fail(w->run, 0, "record the fmp4 timeline of %s", w->temp_path);
    return PIPELINE_OK;
}

/* A resumed run: rewrites the fragment's tfdt and sidx times so that they
 * stand where the job's base puts its dts and pts, as in the uninterrupted
 * run. The correction is fixed on a stream's first fragment and applied to
 * every later one (the muxer counts on from there). Without a base for a
 * track, the fragment is placed as the mp4 muxer's frag_discont would
 * place a job that started at stream time 0 (decode time = dts plus the
 * first packet's reorder delay). */
static int segment_fmp4_rebase(struct segment_writer *w, uint8_t *fragment, int size,
                               const struct fmp4_track_times *times, int n)
{
    for (int i = 0; i < SEGMENT_STREAMS; i++) {
        struct segment_output_stream *s = &w->streams[i];
        if (!s->expected || !s->fragment_started)
            continue;
        const struct fmp4_track_times *t = segment_fmp4_track(s, times, n);
        if (!s->delta_known) {
            if (t == NULL || !t->has_last_decode_time || s->fragment_last_dts == AV_NOPTS_VALUE)
                return pipeline_fail(w->run, 0, "read the decode times of segment %s",
                                     w->temp_path);
            int64_t decode_offset, presentation_offset;
            if (!fmp4_base_find(&w->fmp4_base, t->track_id, &decode_offset,
                                &presentation_offset)) {
                decode_offset = t->last_decode_time - t->decode_time -
                                (s->fragment_last_dts - s->fragment_pts);
                presentation_offset = 0;
            }
            s->decode_delta = s->fragment_last_dts + decode_offset - t->last_decode_time;
            s->presentation_delta = t->has_presentation_time ? s->fragment_pts +
                                                                    presentation_offset -
                                                                    t->presentation_time
                                                              : 0;
            s->delta_known = 1;
        }
        if (t != NULL && fmp4_fragment_shift(fragment, (size_t)size, t->track_id, s->decode_delta,
                                             s->presentation_delta) != 0)
            return pipeline_fail(w->run, 0, "move the times of segment %s onto the job's timeline",
                                 w->temp_path);
    }
    return PIPELINE_OK;
}

/* Places a finished fragment on the job's timeline: measured by the job's
 * first run on its first fragment, rewritten by every resumed run. */
static int segment_fmp4_timeline(struct segment_writer *w, uint8_t *fragment, int size)
{
    int first_run = segment_job_first_run(w->run);
    if (first_run && w->opened > 1)
        return PIPELINE_OK;
    struct fmp4_track_times times[FMP4_TRACKS_MAX];
    int n = fmp4_fragment_times(fragment, (size_t)size, times, FMP4_TRACKS_MAX);
    if (n < 0)
        return pipeline_fail(w->run, 0, "read the times of segment %s", w->temp_path);
    if (first_run)
        return segment_fmp4_measure_base(w, times, n);
    return segment_fmp4_rebase(w, fragment, size, times, n);
}

/* fMP4: flushes the open segment's fragment and writes its bytes (and, in
 * the job's first run, the init segment) to their files. */
static int segment_fmp4_flush(struct segment_writer *w, int64_t *size)
{
    struct pipeline_run *run = w->run;
    AVFormatContext *mux = w->fmp4;
    uint8_t *data = NULL;
    /* Packets still in libavformat's interleaving queue belong to this
     * segment too. */
    int averr = av_interleaved_write_frame(mux, NULL);
    if (averr >= 0)
        averr = av_write_frame(mux, NULL);
    /* With delay_moov the first flush writes only the moov; the second
     * writes the fragment. */
    if (averr >= 0 && !w->init_written)
        averr = av_write_frame(mux, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "flush the fragment of segment %s", w->temp_path);
    int length = avio_close_dyn_buf(mux->pb, &data);
    mux->pb = NULL;
    int init = segment_init_length(data, length);
    int ret = PIPELINE_OK;

    if (init > 0 && !w->init_written) {
        char path[JOB_SPEC_PATH_MAX + 64];
        char temp[JOB_SPEC_PATH_MAX + 128];
        struct stat st;
        segment_init_path(run->spec, path, sizeof(path));
        /* Written by the job's first run, over one a former job left (its
         * edit list would not match this job's fragments); a resumed run's
         * moov differs (edit list), so it writes one only if none is there. */
        if (segment_job_first_run(run) || stat(path, &st) != 0) {
            const char *suffix =
                run->cb != NULL && run->cb->temp_suffix != NULL ? run->cb->temp_suffix : ".tmp";
            snprintf(temp, sizeof(temp), "%s%s", path, suffix);
            averr = segment_write_file(temp, data, init);
            if (averr >= 0 && rename(temp, path) != 0)
                averr = AVERROR(errno);
            if (averr < 0) {
                unlink(temp);
                ret = pipeline_fail(run, averr, "write the init segment %s", path);
                goto end;
            }
        }
        w->init_written = 1;
    }
    if ((ret = segment_fmp4_timeline(w, data + init, length - init)) != PIPELINE_OK)
        goto end;
    averr = segment_write_segment(w->temp_path, data + init, length - init);
    if (averr < 0) {
        unlink(w->temp_path);
        ret = pipeline_fail(run, averr, "write segment file %s", w->temp_path);
        goto end;
    }
    *size = length - init + 24;
    averr = avio_open_dyn_buf(&mux->pb);
    if (averr < 0)
        ret = pipeline_fail(run, averr, "reopen the fmp4 buffer");
end:
    av_free(data);
    return ret;
}

/* Closes the open segment and hands it to the caller. Returns a pipeline_result:
 * PIPELINE_STOPPED when segment_done asks to stop. */
static int segment_close(struct segment_writer *w, int last, int64_t duration_us)
{
    struct pipeline_run *run = w->run;
    AVFormatContext *mux = w->mux;
    int64_t size = 0;
    w->mux = NULL;

    if (w->container == SEGMENT_CONTAINER_FMP4) {
        int ret = segment_fmp4_flush(w, &size);
        if (ret != PIPELINE_OK)
            return ret;
    } else {
        int averr = av_write_trailer(mux);
        size = avio_tell(mux->pb);
        int closeerr = avio_closep(&mux->pb);
        avformat_free_context(mux);
        if (averr < 0 || closeerr < 0) {
            if (w->container != SEGMENT_CONTAINER_FILE)
                unlink(w->temp_path);
            return pipeline_fail(run, averr < 0 ? averr : closeerr, "finish %s", w->temp_path);
        }
    }
    if (size > 0)
        w->bytes_before += size;
    run->bytes = w->bytes_before;

    struct pipeline_segment segment = {
        .index = w->index,
        .temp_path = w->temp_path,
        .final_path = w->final_path,
        .start_us = w->start_us,
        .duration_us = duration_us,
        .last = last,
        /* The job's first segment carries its fragment base (fMP4). */
        .fmp4_base = w->fmp4_base_text[0] != '\0' && w->opened == 1 ? w->fmp4_base_text : NULL,
    };
    /* A progressive file is complete now; there is nothing to publish. */
    if (w->container == SEGMENT_CONTAINER_FILE)
        return PIPELINE_OK;
    /* From here on the temp file is the caller's: published or discarded. */
    if (run->cb == NULL || run->cb->segment_done == NULL) {
        unlink(w->temp_path);
        return PIPELINE_OK;
    }
    return run->cb->segment_done(run->cb->opaque, &segment) != 0 ? PIPELINE_STOPPED : PIPELINE_OK;
}

/* Writes one packet of stream `kind` to the open segment. Takes its reference. */
static int segment_write(struct segment_writer *w, enum segment_stream kind, AVPacket *pkt)
{
    struct pipeline_run *run = w->run;
    struct segment_output_stream *s = &w->streams[kind];
    AVStream *st = w->mux->streams[s->mux_index];

    if (kind == segment_cutting_stream(w) && pkt->pts != AV_NOPTS_VALUE) {
        int64_t end = pipeline_stream_time_us(run, pkt->pts + pkt->duration, s->time_base);
        if (end > w->end_us)
            w->end_us = end;
        run->out_time_us = pipeline_stream_time_us(run, pkt->pts, s->time_base);
    }

    av_packet_rescale_ts(pkt, s->time_base, st->time_base);
    int64_t shift = av_rescale_q(w->shift_us, AV_TIME_BASE_Q, st->time_base);
    if (pkt->pts != AV_NOPTS_VALUE)
        pkt->pts += shift;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += shift;
    pkt->stream_index = s->mux_index;
    if (w->container == SEGMENT_CONTAINER_FMP4) {
        if (!s->fragment_started)
            s->fragment_pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        s->fragment_last_dts = pkt->dts;
        s->fragment_started = 1;
    }

    int averr = av_interleaved_write_frame(w->mux, pkt);
    av_packet_unref(pkt);
    if (averr < 0)
        return pipeline_fail(run, averr, "write a packet to segment %s", w->temp_path);
    run->bytes = w->bytes_before + avio_tell(w->mux->pb);
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
    int64_t margin_us = w->run->hls_time_us / 2 < SEGMENT_SPLIT_MARGIN_US ? w->run->hls_time_us / 2
                                                                          : SEGMENT_SPLIT_MARGIN_US;
    return w->end_ts - av_rescale_q(margin_us, AV_TIME_BASE_Q, video_tb);
}

/* Closes the old segment at the pending cut and opens the new one with the
 * video that waited. */
static int segment_resolve_cut(struct segment_writer *w)
{
    struct pipeline_run *run = w->run;
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
    w->end_ts = pipeline_boundary_ts(run, cut.boundary + 1, video_tb);
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
    struct pipeline_run *run = w->run;
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
    } else if (w->opened == 0 && run->trim) {
        /* A run that starts mid-stream begins its audio at its first
         * cut's split point: earlier audio went into the previous
         * segment of the run that produced it. */
        w->floor_ts = split;
        w->has_floor = 1;
        audio_queue_drop_before(w, split);
    }
    if ((ret = segment_open(w, cut->index, cut->boundary, cut->start_us)) != PIPELINE_OK)
        return ret;
    w->end_ts = pipeline_boundary_ts(run, cut->boundary + 1, video_tb);
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
    struct pipeline_run *run = w->run;
    AVRational tb = w->streams[SEGMENT_AUDIO].time_base;
    int ret;

    if (run->trim &&
        av_compare_ts(pkt->pts, tb, run->origin_us + run->start_us, AV_TIME_BASE_Q) < 0) {
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    if (w->mux == NULL || pkt->pts >= w->end_ts) {
        int64_t start_us = pipeline_stream_time_us(run, pkt->pts, tb);
        int64_t boundary = pipeline_boundary_index(run, pkt->pts, tb);
        int index = run->first_index;
        if (w->mux == NULL && boundary < run->first_boundary)
            boundary = run->first_boundary;
        if (w->mux != NULL) {
            index = w->index + 1;
            if ((ret = segment_close(w, 0, start_us - w->start_us)) != PIPELINE_OK)
                goto done;
        }
        if ((ret = segment_open(w, index, boundary, start_us)) != PIPELINE_OK)
            goto done;
        w->end_ts = pipeline_boundary_ts(run, boundary + 1, tb);
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
        return pipeline_fail(
            run, 0, "transcode %s: no %s frame at or after %.3f s", run->spec->input,
            w->streams[SEGMENT_VIDEO].expected ? "video" : "audio", (double)run->start_us / 1e6);
    int ret = PIPELINE_OK;
    if (w->pending)
        ret = segment_resolve_cut(w);
    if (ret == PIPELINE_OK)
        ret = audio_queue_drain(w, 0, 1);
    if (ret != PIPELINE_OK)
        return ret;
    return segment_close(w, 1, w->end_us - w->start_us);
}

void segment_writer_free(struct segment_writer *w)
{
    if (w->mux != NULL && w->container != SEGMENT_CONTAINER_FMP4) {
        avio_closep(&w->mux->pb);
        avformat_free_context(w->mux);
        if (w->container != SEGMENT_CONTAINER_FILE)
            unlink(w->temp_path);
    }
    w->mux = NULL;
    if (w->fmp4 != NULL) {
        uint8_t *data = NULL;
        if (w->fmp4->pb != NULL)
            avio_close_dyn_buf(w->fmp4->pb, &data);
        av_free(data);
        w->fmp4->pb = NULL;
        avformat_free_context(w->fmp4);
        w->fmp4 = NULL;
    }
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
}
