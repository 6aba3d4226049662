/* pipeline_input.h -- the run's input: open, pick streams, seek, and find
 * where a stream copy starts (see pipeline_input.c). Called by the driver
 * (pipeline.c) and by the subtitle look-back; calls none of the stages. */
#ifndef FFPOOL_WORKER_PIPELINE_INPUT_H
#define FFPOOL_WORKER_PIPELINE_INPUT_H

#include <stdint.h>

#include <libavformat/avformat.h>

#include "pipeline_run.h"
#include "pipeline_timeline.h"

struct pipeline_input;

/* The input streams a run reads: indexes, -1 for none. */
struct pipeline_streams {
    int video;
    int audio;
    int subtitle; /* the bitmap subtitle stream a -filter_complex graph draws */
    /* ... or that stream of the second input, the external subtitle file
     * (pipeline_subinput.c), not of this one. */
    int second_subtitle;
};

/* Opens spec->input and probes its streams, in *out (set even on failure:
 * close it). like: an opening of the same input already probed (NULL if
 * none); when the headers alone give its streams (Matroska, MP4), the probe
 * (up to -analyzeduration, which Jellyfin sets to 200 s) is skipped.
 * Returns a pipeline_result. */
int pipeline_input_open(struct pipeline_input **out, struct pipeline_run *run,
                        const struct pipeline_input *like);

/* The demuxer, for the stages' stream parameters. */
AVFormatContext *pipeline_input_format(const struct pipeline_input *in);

/* The input's start time (absolute us; stream time 0), and its duration
 * (0 if unknown). */
int64_t pipeline_input_origin_us(const struct pipeline_input *in);
int64_t pipeline_input_duration_us(const struct pipeline_input *in);

/* Picks the streams the job reads (-map, -filter_complex's labels, else
 * the best of each kind; audio may be absent) into *out; second is the
 * external subtitle file's demuxer, whose streams the graph may name [1:N]
 * (NULL: none). Returns a pipeline_result: an error when a stream named is
 * missing or neither video nor audio is left. */
int pipeline_input_select(struct pipeline_input *in, AVFormatContext *second,
                          struct pipeline_streams *out);

/* Video copy with an input -ss: finds the last video keyframe at or before
 * the -ss time (the first keyframe when none precedes it), where the ffmpeg
 * CLI's copy starts (Jellyfin asks for a remux at a keyframe's time plus
 * 0.5 s for exactly that), and starts the job there on t
 * (timeline_start_job_at_keyframe). Every run of the job finds the same
 * keyframe. Returns a pipeline_result. */
int pipeline_input_copy_job_start(struct pipeline_input *in, struct pipeline_timeline *t);

/* Video copy, resumed run (t placed with timeline_place_run): finds the
 * keyframe segment t->first_index begins on, so the run cuts exactly where
 * a run from the job's start did, and sets t's resume point
 * (timeline_resume_at_keyframe). Given resume_offset_us (the sum of the
 * durations published before it; 0: none), a seek to the job's first
 * keyframe plus that sum, checked against the keyframe found there;
 * otherwise, or if the check fails, a replay of the copy cutter over the
 * video keyframes from the job's start (the whole input up to there).
 * Returns a pipeline_result. */
int pipeline_input_copy_resume_start(struct pipeline_input *in, struct pipeline_timeline *t,
                                     int64_t resume_offset_us);

/* Positions the input so that decoding reaches stream time start_us with
 * history (from a video keyframe half a second or more before it; see
 * pipeline_input.c). Near the input's start it does nothing unless force
 * (packets were read since the probe). Returns a pipeline_result. */
int pipeline_input_seek(struct pipeline_input *in, const struct pipeline_timeline *t,
                        int64_t start_us, int force);

/* The next packet: one held back by the last seek first, else a new one.
 * Returns 0 or an AVERROR code, like av_read_frame. */
int pipeline_input_read(struct pipeline_input *in, AVPacket *pkt);

/* Closes the input (NULL is fine) and sets *in to NULL. */
void pipeline_input_close(struct pipeline_input **in);

#endif
