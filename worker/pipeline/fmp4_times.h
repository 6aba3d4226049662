/* fmp4_times.h -- the times an fMP4 media segment says it starts at, and
 * how a resumed run makes its segments say what the uninterrupted run's do.
 *
 * A player places an fMP4 fragment on the timeline by its boxes, not by
 * the playlist: each track's decode time comes from the fragment's `tfdt`
 * (baseMediaDecodeTime) plus the sample durations of its `trun` boxes, and
 * the segment index's `sidx` gives its earliest presentation time.
 * libavformat's mp4 muxer counts both from the first packet its run wrote,
 * so a run that resumes a job at segment k would start them again at 0.
 * The job's first run therefore measures, per track, how far its boxes
 * stand from the timestamps it muxed (the job's base: the decode time of
 * the fragment's last sample = its dts + decode_offset; the earliest
 * presentation time = the first packet's pts + presentation_offset, where
 * presentation_offset = decode_offset minus the first sample's composition
 * offset, since the muxer counts both from its first sample and clamps a
 * negative earliest presentation time to 0), the
 * worker records that base with the job's checkpoints, and every later run
 * rewrites its fragments' boxes to the same base. The last sample is the
 * one measured because the first packets of a stream may reach the muxer
 * without a dts (Matroska), which the muxer then invents. Both fields are
 * 64-bit in what the muxer writes (tfdt and sidx version 1), so the
 * rewrite never changes a box's size.
 *
 * Pure byte work on buffers the caller owns: no libav, no I/O. */
#ifndef FFPOOL_WORKER_FMP4_TIMES_H
#define FFPOOL_WORKER_FMP4_TIMES_H

#include <stddef.h>
#include <stdint.h>

#define FMP4_TRACKS_MAX 4
/* The textual form of a base: "track:decode_offset:presentation_offset"
 * per track, space-separated; fits in this many bytes with its NUL. */
#define FMP4_BASE_TEXT_MAX 256

/* What one fragment says about one track, in that track's timescale.
 * Times are the boxes' unsigned 64-bit fields read as two's complement: a
 * muxer that starts a track at a negative time (AAC priming under
 * frag_discont) writes it that way. */
struct fmp4_track_times {
    uint32_t track_id;
    int has_decode_time;              /* the fragment has a tfdt for it */
    int64_t decode_time;              /* tfdt */
    int has_last_decode_time;         /* every sample duration is known */
    int64_t last_decode_time;         /* of its last sample: tfdt plus the durations of the
                                         samples before it */
    uint32_t samples;                 /* in its trun boxes */
    int64_t first_composition_offset; /* of its first sample (pts - dts), 0 if none */
    int has_presentation_time;        /* the segment has a sidx for it */
    int64_t presentation_time;        /* sidx earliest_presentation_time */
};

/* Per track: decode time of a sample = its dts + decode_offset; earliest
 * presentation time of a fragment = its first packet's pts +
 * presentation_offset (timestamps in the track's timescale). */
struct fmp4_base {
    int count;
    struct {
        uint32_t track_id;
        int64_t decode_offset;
        int64_t presentation_offset;
    } tracks[FMP4_TRACKS_MAX];
};

/* Reads the tfdt and sidx times of every track of one media segment
 * (styp/sidx/moof/mdat boxes, in any order). Returns the number of tracks
 * found (at most max), or -1 if the boxes are malformed. */
int fmp4_fragment_times(const uint8_t *data, size_t size, struct fmp4_track_times *out, int max);

/* Adds decode_delta to the tfdt and presentation_delta to the sidx
 * earliest_presentation_time of track_id, in place (modulo 2^64, as the
 * fields are read). Returns 0, or -1 if the boxes are malformed or a box is
 * a 32-bit version. */
int fmp4_fragment_shift(uint8_t *data, size_t size, uint32_t track_id, int64_t decode_delta,
                        int64_t presentation_delta);

/* Writes base as text (FMP4_BASE_TEXT_MAX bytes suffice). Returns 0, or -1
 * if it does not fit. */
int fmp4_base_format(const struct fmp4_base *base, char *out, size_t outlen);

/* Parses the text form. Returns 0, or -1 (base emptied) if text is not one. */
int fmp4_base_parse(const char *text, struct fmp4_base *base);

/* Looks up track_id's offsets. Returns 1 if base has it, else 0. */
int fmp4_base_find(const struct fmp4_base *base, uint32_t track_id, int64_t *decode_offset,
                   int64_t *presentation_offset);

#endif
