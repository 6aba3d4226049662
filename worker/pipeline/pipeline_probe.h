/* pipeline_probe.h -- what a run of the worker's ffmpeg CLI needs to know
 * of an input before it starts (see worker/cli_job.c): a leaf of the
 * pipeline that opens the input on its own and calls nothing else of it. */
#ifndef FFPOOL_WORKER_PIPELINE_PROBE_H
#define FFPOOL_WORKER_PIPELINE_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* The presentation time (us from the input's start, as -ss counts) of the first video
 * frame at or after from_us (0: the first frame of the input), or of the
 * first audio frame when there is no video: the frame ffmpeg's output
 * starts with, read from the packets of the first seconds after a seek
 * there (B-frames make the first packet not the first frame). format: the
 * demuxer (-f before -i), "" to probe. Returns 0, or -1 with a sentence in
 * err. */
int pipeline_probe_first_pts(const char *input, const char *format, int64_t from_us,
                             int64_t *pts_us, char *err, size_t errlen);

#endif
