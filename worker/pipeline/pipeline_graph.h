/* pipeline_graph.h -- the video stage's filter graph (-vf or
 * -filter_complex; see pipeline_graph.c). Used by the video stage only. */
#ifndef FFPOOL_WORKER_PIPELINE_GRAPH_H
#define FFPOOL_WORKER_PIPELINE_GRAPH_H

#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>

#include "pipeline_run.h"

struct pipeline_graph;

/* What comes out of the sink: what the encoder is set up for. */
struct pipeline_graph_output {
    int width, height;
    int format; /* enum AVPixelFormat */
    AVRational sample_aspect_ratio;
    AVRational time_base;
    AVRational frame_rate; /* 0/0 when the graph does not know it */
};

/* What the graph is built around. */
struct pipeline_graph_source {
    AVFormatContext *input;              /* whose streams -filter_complex labels name */
    AVStream *stream;                    /* the video stream its frames come from */
    AVRational frame_rate;               /* the stream's, as guessed (0/0: unknown) */
    const enum AVPixelFormat *pix_fmts;  /* the encoder's formats (NULL: any) */
    AVFormatContext *subtitle_file;      /* the file of the subtitle stream: input, or
                                            the external subtitle file ([1:N]) */
    int subtitle_index;                  /* the subtitle stream drawn for it, -1: none */
    int subtitle_width, subtitle_height; /* its canvas */
    /* The device every filter the job's graph parses gets (the CLI's
     * hw_device_setup_for_filter), NULL: none. Not owned. */
    AVBufferRef *hw_device;
    /* A graph built again mid-run because the decoded frames changed
     * (pipeline_graph_accepts): the first graph's output, which the open
     * encoder takes, so the sink keeps its format and, with -autoscale (the
     * default), a scale keeps its size, as the CLI's configure_filtergraph
     * does on a reconfiguration. NULL for the run's first graph. */
    const struct pipeline_graph_output *first;
};

/* Builds the job's graph for frames like frame (the first decoded one, or
 * the first of a change) in *out (set even on failure: free it). Hardware
 * frames enter the graph with their frames context. Returns a
 * pipeline_result. */
int pipeline_graph_build(struct pipeline_graph **out, struct pipeline_run *run,
                         const struct pipeline_graph_source *src, const AVFrame *frame);

/* Whether frame has what the graph was built for: the same format and
 * size, and the same hardware frames context (or none), the CLI's
 * conditions for keeping a filter graph. */
int pipeline_graph_accepts(const struct pipeline_graph *g, const AVFrame *frame);

/* Fixed when the graph is built and never changed: the encoding thread may
 * read it (after a frame the graph produced has reached it) while the
 * decoding thread goes on feeding the graph. */
const struct pipeline_graph_output *pipeline_graph_output(const struct pipeline_graph *g);

/* Whether the graph has a subtitle input (pipeline_graph_send_subtitle). */
int pipeline_graph_has_subtitle(const struct pipeline_graph *g);

/* Feeds a video frame (NULL: end of input), taking its reference; feeds a
 * subtitle canvas the same way. Return 0 or an AVERROR. */
int pipeline_graph_send(struct pipeline_graph *g, AVFrame *frame);
int pipeline_graph_send_subtitle(struct pipeline_graph *g, AVFrame *canvas);

/* Ends the video input at pts (the stream's time base), where the CLI ends
 * it: the last frame's end, which filters that fill time (fps=N) run up to;
 * AV_NOPTS_VALUE: at the last frame's pts. Returns 0 or an AVERROR. */
int pipeline_graph_close(struct pipeline_graph *g, int64_t pts);

/* The next filtered frame into frame. Returns 0, AVERROR(EAGAIN) (feed
 * more), AVERROR_EOF or another AVERROR. */
int pipeline_graph_receive(struct pipeline_graph *g, AVFrame *frame);

/* Frees the graph (NULL is fine) and sets *g to NULL. */
void pipeline_graph_free(struct pipeline_graph **g);

#endif
