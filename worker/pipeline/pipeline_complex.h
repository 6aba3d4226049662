/* pipeline_complex.h -- the input streams a -filter_complex graph reads
 * (see pipeline_complex.c). */
#ifndef FFPOOL_WORKER_PIPELINE_COMPLEX_H
#define FFPOOL_WORKER_PIPELINE_COMPLEX_H

#include <libavformat/avformat.h>

#include "pipeline_run.h"

/* Which input a graph input label names: 0 ("0:3"), 1 ("1:0", the
 * external subtitle file), or -1. */
int pipeline_complex_label_file(const char *label);

/* The stream of input (the file the label names; NULL: none) a graph input
 * label names ("0:3", "0:v", "1:0"): the first stream matching the
 * specifier after "N:", or -1. */
int pipeline_complex_stream(AVFormatContext *input, const char *label);

/* Parses the job's -filter_complex graph and resolves its input labels: the
 * one video stream it reads (of input), and the subtitle stream, of input
 * (*subtitle_index) or of second, the external subtitle file
 * (*second_subtitle_index; second may be NULL), -1 if none. Refuses a graph
 * without exactly one output, or with an input that is not a stream, an
 * audio stream, or a second video or subtitle stream. Returns a
 * pipeline_result. */
int pipeline_complex_inputs(struct pipeline_run *run, AVFormatContext *input,
                            AVFormatContext *second, int *video_index, int *subtitle_index,
                            int *second_subtitle_index);

#endif
