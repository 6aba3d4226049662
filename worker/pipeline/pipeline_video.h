/* pipeline_video.h -- the video stage: decode, filter and encode the video
 * stream, or copy it (see pipeline_video.c). Driven by pipeline.c; hands
 * its packets to the segment writer. */
#ifndef FFPOOL_WORKER_PIPELINE_VIDEO_H
#define FFPOOL_WORKER_PIPELINE_VIDEO_H

#include <stdint.h>

#include <libavformat/avformat.h>

#include "pipeline_handoff.h"
#include "pipeline_hw.h"
#include "pipeline_input.h"
#include "pipeline_run.h"
#include "pipeline_segment.h"
#include "pipeline_timeline.h"

struct pipeline_video;

/* Opens the stage for input stream `stream` in *out (set even on failure:
 * close it): copies it when the job's video codec is "copy" (declaring it
 * to the writer now), else opens its decoder (the filter graph and the
 * encoder follow the first decoded frame) with the run's hardware hw
 * (NULL: none) set up on it. t and hw must be placed (pipeline.c) and
 * outlive the stage. Returns a pipeline_result. */
int pipeline_video_open(struct pipeline_video **out, struct pipeline_run *run,
                        const struct pipeline_timeline *t, struct segment_writer *writer,
                        struct pipeline_hw *hw, AVFormatContext *input, AVStream *stream);

/* Whether the stage's encoder can take hardware frames (a VAAPI, QSV or
 * NVENC encoder, given a frames context): such a run keeps decoding,
 * filtering and encoding on one thread, as the CLI does (pipeline.c). */
int pipeline_video_takes_hw_frames(const struct pipeline_video *v);

/* -filter_complex: opens the subtitle drawn into the graph, stream
 * `stream` of file (the input, or the external subtitle file), after
 * pipeline_video_open. Returns a pipeline_result. */
int pipeline_video_open_subtitle(struct pipeline_video *v, AVFormatContext *file, AVStream *stream);

/* A resumed run with that subtitle, before its first packet: reads back the
 * subtitles already on screen at its start (pipeline_subtitle_lookback;
 * pkt: scratch). Returns a pipeline_result. */
int pipeline_video_subtitle_lookback(struct pipeline_video *v, const struct pipeline_input *input,
                                     AVPacket *pkt);

/* Two threads (pipeline.c): with a handoff, the reader thread decodes and
 * filters and pushes each filtered frame into it; the encoding thread calls
 * pipeline_video_encode_frame and pipeline_video_finish. NULL: one thread. */
void pipeline_video_set_handoff(struct pipeline_video *v, struct pipeline_handoff *handoff);

/* Feeds one input packet; NULL drains every stage at end of input (with a
 * handoff: the decoder and the filter graph, the encoder is drained by
 * pipeline_video_finish). Returns a pipeline_result. */
int pipeline_video_packet(struct pipeline_video *v, const AVPacket *pkt);

/* Feeds one packet of the -filter_complex subtitle stream. Returns a
 * pipeline_result. */
int pipeline_video_subtitle_packet(struct pipeline_video *v, const AVPacket *pkt);

/* Encoding side of a run with a handoff: encodes one filtered frame (taking
 * its reference), and drains the encoder at the end. Return a
 * pipeline_result. */
int pipeline_video_encode_frame(struct pipeline_video *v, AVFrame *frame);
int pipeline_video_finish(struct pipeline_video *v);

/* The stage's counters (0 for a NULL stage). frames: video frames sent to
 * the encoder, or packets muxed for a copy (written by the encoding side,
 * read there for progress). decoded: frames out of the decoder, or packets
 * taken for a copy (written by the decoding side: read it once the stage
 * has finished). */
int64_t pipeline_video_frames(const struct pipeline_video *v);
int64_t pipeline_video_decoded(const struct pipeline_video *v);

/* Frees the stage (NULL is fine) and sets *v to NULL. */
void pipeline_video_close(struct pipeline_video **v);

#endif
