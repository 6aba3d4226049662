/* pipeline_segment.h -- the segment writer: cuts the video and audio
 * stages' packets into HLS segments (MPEG-TS or fMP4) or one progressive
 * file, and hands each finished segment to the caller (see
 * pipeline_segment.c). Runs on the encoding thread. */
#ifndef FFPOOL_WORKER_PIPELINE_SEGMENT_H
#define FFPOOL_WORKER_PIPELINE_SEGMENT_H

#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "pipeline_run.h"
#include "pipeline_timeline.h"

enum segment_stream {
    SEGMENT_VIDEO = 0,
    SEGMENT_AUDIO = 1,
    SEGMENT_STREAMS = 2,
};

struct segment_writer;

/* Prepares an empty writer in *out (set even on failure: free it), its
 * back end chosen from the job's output (MPEG-TS segments, fMP4 segments,
 * a progressive file). t must be placed (pipeline.c) and outlive the
 * writer. Returns a pipeline_result. */
int segment_writer_open(struct segment_writer **out, struct pipeline_run *run,
                        const struct pipeline_timeline *t, int has_video, int has_audio);

/* Declares an output stream before its first packet. first_dts_us is the
 * absolute input time of the first dts that a run from the very start of the
 * input would produce for this stream (e.g. start time minus the B-frame
 * delay). Every run derives the same output shift from these, so timestamps
 * never depend on where a run started. Returns a pipeline_result. */
int segment_writer_add_stream(struct segment_writer *w, enum segment_stream kind,
                              const AVCodecParameters *par, AVRational time_base,
                              int64_t first_dts_us);

/* Whether each segment is a muxer of its own (MPEG-TS), so that the video
 * stage may switch encoders between two segments. */
int segment_writer_muxer_per_segment(const struct segment_writer *w);

/* Whether the muxer is of the MP4 family (fMP4 segments, a progressive mp4
 * or mov), which wants raw AAC and an AudioSpecificConfig. */
int segment_writer_is_mp4(const struct segment_writer *w);

/* Muxes one video packet; cut is non-NULL on the first packet of a segment.
 * Takes the packet's reference. Returns a pipeline_result. */
int segment_writer_video(struct segment_writer *w, AVPacket *pkt, const struct segment_cut *cut);

/* Announces that the open segment's video is complete and that the next
 * video packet (handed in without a cut) is the first of segment `cut`,
 * whose split must be known (not AV_NOPTS_VALUE). The open segment is
 * closed now, or with audio as soon as the audio passes the split point,
 * without waiting for that packet. Returns a pipeline_result. */
int segment_writer_video_cut(struct segment_writer *w, const struct segment_cut *cut);

/* Muxes (or holds back, or drops) one audio packet. Takes the packet's
 * reference. Returns a pipeline_result. */
int segment_writer_audio(struct segment_writer *w, AVPacket *pkt);

/* End of input: delivers the open segment as the last one. Returns a
 * pipeline_result. */
int segment_writer_finish(struct segment_writer *w);

/* The writer's counters, for progress (0 for a NULL writer): bytes written
 * to segment files in this run, and the stream time of the latest packet
 * of the stream segments are cut on. */
int64_t segment_writer_bytes(const struct segment_writer *w);
int64_t segment_writer_out_time_us(const struct segment_writer *w);

/* Frees everything (NULL is fine), removes the temp file of a segment still
 * open, and sets *w to NULL. */
void segment_writer_free(struct segment_writer **w);

#endif
