/* pipeline_fmp4.c -- the fMP4 segments' muxer: one mp4 muxer per run,
 * writing into memory, whose fragments become the segment files.
 *
 * The muxer is set up as the hls muxer sets it up for fmp4 (frag_custom,
 * styp/sidx per fragment, moov after the first packets, after the job's
 * -hls_segment_options); at the end of each segment the fragment is
 * flushed and written, behind the styp box the hls muxer starts every
 * segment with, to the segment's temp file. The init segment (ftyp+moov)
 * is written once per job, atomically, beside the playlist: by the job's
 * first run (over one a former job left), or by a resumed run that finds
 * none, never over one (a resumed run's moov, its edit list, differs).
 *
 * The fragments' times: the job's first run measures where its first
 * fragment's tfdt and sidx times stand from the timestamps it muxed (the
 * job's base, fmp4_times.h, handed out with the first segment); a resumed
 * run rewrites its fragments' times to that base and numbers them (mfhd)
 * where the uninterrupted run would, so a player reads one timeline across
 * a takeover.
 *
 * The segment writer (pipeline_segment.c) owns the cuts and the packets'
 * timestamps; this file owns the muxer and calls nothing of the pipeline
 * but the run's error sink, the timeline and fmp4_times. */
#include "pipeline_fmp4.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/intreadwrite.h>
#include <libavutil/mem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmp4_times.h"

/* The styp box the hls muxer starts every fMP4 segment with. */
static const uint8_t fmp4_styp[24] = {0, 0, 0, 24, 's', 't', 'y', 'p', 'm', 's', 'd', 'h',
                                      0, 0, 0, 0,  'm', 's', 'd', 'h', 'm', 's', 'i', 'x'};

/* One output stream (a track: track_id = its index in the muxer + 1). */
struct fmp4_stream {
    /* The first pts and the last dts (AV_NOPTS_VALUE if that packet had
     * none) this run muxed into the open fragment, in the muxer's time base
     * (valid once fragment_started). */
    int64_t fragment_pts;
    int64_t fragment_last_dts;
    int fragment_started;
    /* A resumed run: added to the fragment's tfdt and sidx times so they
     * continue the job's timeline (valid once delta_known). */
    int64_t decode_delta;
    int64_t presentation_delta;
    int delta_known;
};

struct pipeline_fmp4 {
    struct pipeline_run *run;
    const struct pipeline_timeline *timeline;
    AVFormatContext *mux; /* its pb a dynamic buffer (NULL only while a flush writes) */
    int init_written;     /* the init segment exists (written now or by an earlier run) */
    /* The job's fragment base: measured by the job's first run on its
     * first fragment (then also in base_text, handed out with that
     * segment), or the one cb->fmp4_base gave a resumed run. */
    struct fmp4_base base;
    char base_text[FMP4_BASE_TEXT_MAX];
    struct fmp4_stream streams[FMP4_TRACKS_MAX];
};

/* The fMP4 muxer options: -hls_segment_options, then what the hls muxer
 * adds for fmp4 (a fragment only when asked, styp/sidx per fragment, moov
 * after the first packets). */
static int fmp4_options(struct pipeline_fmp4 *f, AVDictionary **options)
{
    const struct job_spec *spec = f->run->spec;
    int averr = 0;
    if (spec->segment_options[0] != '\0')
        averr = av_dict_parse_string(options, spec->segment_options, "=", ":", 0);
    if (averr >= 0)
        averr = av_dict_set(options, "movflags", "+frag_custom+dash+delay_moov", AV_DICT_APPEND);
    if (averr < 0)
        return pipeline_fail(f->run, averr, "read -hls_segment_options \"%s\"",
                             spec->segment_options);
    return PIPELINE_OK;
}

/* Writes the muxer's header into a fresh dynamic buffer. */
static int fmp4_start(struct pipeline_fmp4 *f)
{
    struct pipeline_run *run = f->run;
    const struct pipeline_timeline *t = f->timeline;
    AVFormatContext *mux = f->mux;
    AVDictionary *options = NULL;
    int averr;
    int ret = fmp4_options(f, &options);
    if (ret != PIPELINE_OK)
        goto end;
    /* A resumed run numbers its fragments (mfhd) where the uninterrupted
     * run would be: one fragment per segment since the job's first. */
    if (timeline_resumed(t) &&
        (averr = av_dict_set_int(&options, "fragment_index", t->first_index - t->start_number + 1,
                                 0)) < 0) {
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

int pipeline_fmp4_open(struct pipeline_fmp4 **out, struct pipeline_run *run,
                       const struct pipeline_timeline *t, AVFormatContext *mux)
{
    struct pipeline_fmp4 *f = *out = av_mallocz(sizeof(*f));
    if (f == NULL) {
        avformat_free_context(mux);
        return pipeline_fail(run, AVERROR(ENOMEM), "create the fmp4 muxer");
    }
    f->run = run;
    f->timeline = t;
    f->mux = mux;
    if (mux->nb_streams > FMP4_TRACKS_MAX)
        return pipeline_fail(run, 0, "create the fmp4 muxer: %u streams", mux->nb_streams);
    /* A base that does not parse is treated as absent: the run then places
     * its fragments as if the job had started at stream time 0. */
    if (run->cb != NULL && run->cb->fmp4_base != NULL)
        fmp4_base_parse(run->cb->fmp4_base, &f->base);
    return fmp4_start(f);
}

AVFormatContext *pipeline_fmp4_muxer(const struct pipeline_fmp4 *f)
{
    return f->mux;
}

void pipeline_fmp4_begin(struct pipeline_fmp4 *f)
{
    for (int i = 0; i < FMP4_TRACKS_MAX; i++)
        f->streams[i].fragment_started = 0;
}

void pipeline_fmp4_packet(struct pipeline_fmp4 *f, const AVPacket *pkt)
{
    struct fmp4_stream *s = &f->streams[pkt->stream_index];
    if (!s->fragment_started)
        s->fragment_pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    s->fragment_last_dts = pkt->dts;
    s->fragment_started = 1;
}

const char *pipeline_fmp4_base(const struct pipeline_fmp4 *f)
{
    return f != NULL && f->base_text[0] != '\0' ? f->base_text : NULL;
}

/* ---- the fragments' times ------------------------------------------------------ */

/* The fragment times of track track_id, or NULL. */
static const struct fmp4_track_times *fmp4_track(uint32_t track_id,
                                                 const struct fmp4_track_times *times, int n)
{
    for (int t = 0; t < n; t++)
        if (times[t].track_id == track_id)
            return &times[t];
    return NULL;
}

/* The job's first run: measures, per track, how far the first fragment's
 * decode times (its last sample's) stand from the dts it muxed, and with
 * its first sample's composition offset where its presentation times
 * stand (the job's base, fmp4_times.h); keeps its text to hand out with
 * the segment. */
static int fmp4_measure_base(struct pipeline_fmp4 *f, const char *path,
                             const struct fmp4_track_times *times, int n)
{
    struct fmp4_base *base = &f->base;
    memset(base, 0, sizeof(*base));
    for (unsigned i = 0; i < f->mux->nb_streams; i++) {
        const struct fmp4_stream *s = &f->streams[i];
        if (!s->fragment_started)
            continue;
        const struct fmp4_track_times *t = fmp4_track(i + 1, times, n);
        if (t == NULL || !t->has_last_decode_time || s->fragment_last_dts == AV_NOPTS_VALUE)
            return pipeline_fail(f->run, 0, "read the decode times of segment %s", path);
        base->tracks[base->count].track_id = t->track_id;
        base->tracks[base->count].decode_offset = t->last_decode_time - s->fragment_last_dts;
        base->tracks[base->count].presentation_offset =
            base->tracks[base->count].decode_offset - t->first_composition_offset;
        base->count++;
    }
    if (fmp4_base_format(base, f->base_text, sizeof(f->base_text)) != 0)
        return pipeline_fail(f->run, 0, "record the fmp4 timeline of %s", path);
    return PIPELINE_OK;
}

/* A resumed run: rewrites the fragment's tfdt and sidx times so that they
 * stand where the job's base puts its dts and pts, as in the uninterrupted
 * run. The correction is fixed on a stream's first fragment and applied to
 * every later one (the muxer counts on from there). Without a base for a
 * track, the fragment is placed as the mp4 muxer's frag_discont would
 * place a job that started at stream time 0 (decode time = dts plus the
 * first packet's reorder delay). */
static int fmp4_rebase(struct pipeline_fmp4 *f, const char *path, uint8_t *fragment, int size,
                       const struct fmp4_track_times *times, int n)
{
    for (unsigned i = 0; i < f->mux->nb_streams; i++) {
        struct fmp4_stream *s = &f->streams[i];
        if (!s->fragment_started)
            continue;
        const struct fmp4_track_times *t = fmp4_track(i + 1, times, n);
        if (!s->delta_known) {
            if (t == NULL || !t->has_last_decode_time || s->fragment_last_dts == AV_NOPTS_VALUE)
                return pipeline_fail(f->run, 0, "read the decode times of segment %s", path);
            int64_t decode_offset, presentation_offset;
            if (!fmp4_base_find(&f->base, t->track_id, &decode_offset, &presentation_offset)) {
                decode_offset =
                    t->last_decode_time - t->decode_time - (s->fragment_last_dts - s->fragment_pts);
                presentation_offset = 0;
            }
            s->decode_delta = s->fragment_last_dts + decode_offset - t->last_decode_time;
            s->presentation_delta =
                t->has_presentation_time
                    ? s->fragment_pts + presentation_offset - t->presentation_time
                    : 0;
            s->delta_known = 1;
        }
        if (t != NULL && fmp4_fragment_shift(fragment, (size_t)size, t->track_id, s->decode_delta,
                                             s->presentation_delta) != 0)
            return pipeline_fail(f->run, 0, "move the times of segment %s onto the job's timeline",
                                 path);
    }
    return PIPELINE_OK;
}

/* Places a finished fragment on the job's timeline: measured by the job's
 * first run on its first fragment (opened: segments opened in this run),
 * rewritten by every resumed run. */
static int fmp4_timeline(struct pipeline_fmp4 *f, const char *path, int opened, uint8_t *fragment,
                         int size)
{
    int first_run = !timeline_resumed(f->timeline);
    if (first_run && opened > 1)
        return PIPELINE_OK;
    struct fmp4_track_times times[FMP4_TRACKS_MAX];
    int n = fmp4_fragment_times(fragment, (size_t)size, times, FMP4_TRACKS_MAX);
    if (n < 0)
        return pipeline_fail(f->run, 0, "read the times of segment %s", path);
    if (first_run)
        return fmp4_measure_base(f, path, times, n);
    return fmp4_rebase(f, path, fragment, size, times, n);
}

/* ---- files ------------------------------------------------------------------------ */

/* Writes the styp box (when styp is set) and size bytes of data to path
 * (created or truncated). Returns an AVERROR code. */
static int fmp4_write_file(const char *path, int styp, const uint8_t *data, int size)
{
    AVIOContext *pb = NULL;
    int averr = avio_open(&pb, path, AVIO_FLAG_WRITE);
    if (averr < 0)
        return averr;
    if (styp)
        avio_write(pb, fmp4_styp, sizeof(fmp4_styp));
    avio_write(pb, data, size);
    avio_flush(pb);
    averr = pb->error;
    int closeerr = avio_closep(&pb);
    return averr < 0 ? averr : closeerr;
}

/* Length of the leading ftyp/moov boxes of an fMP4 byte stream. */
static int fmp4_init_length(const uint8_t *data, int size)
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

/* Writes the init segment (data, init bytes) unless this run must leave
 * the one there alone. Returns a pipeline_result. */
static int fmp4_write_init(struct pipeline_fmp4 *f, const uint8_t *data, int init)
{
    struct pipeline_run *run = f->run;
    char path[JOB_SPEC_PATH_MAX + 64];
    char temp[JOB_SPEC_PATH_MAX + 128];
    struct stat st;
    job_spec_init_path(run->spec, path, sizeof(path));
    /* Written by the job's first run, over one a former job left (its edit
     * list would not match this job's fragments); a resumed run's moov
     * differs (edit list), so it writes one only if none is there. */
    if (!timeline_resumed(f->timeline) || stat(path, &st) != 0) {
        snprintf(temp, sizeof(temp), "%s%s", path, pipeline_temp_suffix(run));
        int averr = fmp4_write_file(temp, 0, data, init);
        if (averr >= 0 && rename(temp, path) != 0)
            averr = AVERROR(errno);
        if (averr < 0) {
            unlink(temp);
            return pipeline_fail(run, averr, "write the init segment %s", path);
        }
    }
    f->init_written = 1;
    return PIPELINE_OK;
}

int pipeline_fmp4_flush(struct pipeline_fmp4 *f, const char *path, int opened, int64_t *size)
{
    struct pipeline_run *run = f->run;
    AVFormatContext *mux = f->mux;
    uint8_t *data = NULL;
    /* Packets still in libavformat's interleaving queue belong to this
     * segment too. */
    int averr = av_interleaved_write_frame(mux, NULL);
    if (averr >= 0)
        averr = av_write_frame(mux, NULL);
    /* With delay_moov the first flush writes only the moov; the second
     * writes the fragment. */
    if (averr >= 0 && !f->init_written)
        averr = av_write_frame(mux, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "flush the fragment of segment %s", path);
    int length = avio_close_dyn_buf(mux->pb, &data);
    mux->pb = NULL;
    int init = fmp4_init_length(data, length);
    int ret = PIPELINE_OK;

    if (init > 0 && !f->init_written && (ret = fmp4_write_init(f, data, init)) != PIPELINE_OK)
        goto end;
    if ((ret = fmp4_timeline(f, path, opened, data + init, length - init)) != PIPELINE_OK)
        goto end;
    averr = fmp4_write_file(path, 1, data + init, length - init);
    if (averr < 0) {
        unlink(path);
        ret = pipeline_fail(run, averr, "write segment file %s", path);
        goto end;
    }
    *size = length - init + (int64_t)sizeof(fmp4_styp);
    averr = avio_open_dyn_buf(&mux->pb);
    if (averr < 0)
        ret = pipeline_fail(run, averr, "reopen the fmp4 buffer");
end:
    av_free(data);
    return ret;
}

void pipeline_fmp4_free(struct pipeline_fmp4 **fp)
{
    struct pipeline_fmp4 *f = *fp;
    if (f == NULL)
        return;
    if (f->mux != NULL) {
        uint8_t *data = NULL;
        if (f->mux->pb != NULL)
            avio_close_dyn_buf(f->mux->pb, &data);
        av_free(data);
        f->mux->pb = NULL;
        avformat_free_context(f->mux);
    }
    av_freep(fp);
}
