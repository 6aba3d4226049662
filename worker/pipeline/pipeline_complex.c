/* pipeline_complex.c -- which input streams a job's -filter_complex graph
 * reads.
 *
 * Jellyfin burns graphical subtitles (PGS, DVD, DVB) into the picture with
 *   -filter_complex "[0:3]scale,...[sub];[0:0]...,format=yuv420p[main];
 *                    [main][sub]overlay=eof_action=pass:repeatlast=0"
 * The graph's inputs are labelled with stream specifiers of the input file
 * ([0:N]), and of an external subtitle file given as a second input ([1:N],
 * pipeline_subinput.c). This file resolves those labels (for the input, which picks the
 * run's streams by them, and for the video graph, which links them); the
 * graph itself is built by pipeline_graph.c and the subtitle stream drawn
 * for it by pipeline_subtitle.c. It calls nothing of the pipeline but the
 * run's error sink. */
#include "pipeline_complex.h"

#include <string.h>

#include <libavfilter/avfilter.h>

int pipeline_complex_label_file(const char *label)
{
    if (label == NULL || (label[0] != '0' && label[0] != '1') || label[1] != ':')
        return -1;
    return label[0] - '0';
}

int pipeline_complex_stream(AVFormatContext *input, const char *label)
{
    if (input == NULL || pipeline_complex_label_file(label) < 0)
        return -1;
    for (unsigned i = 0; i < input->nb_streams; i++)
        if (avformat_match_stream_specifier(input, input->streams[i], label + 2) > 0)
            return (int)i;
    return -1;
}

/* Puts the stream one graph input label names in its slot: the video
 * stream of the first input, or the subtitle stream of either (at most one
 * in all). Returns a pipeline_result. */
static int complex_input_place(struct pipeline_run *run, AVFormatContext *input,
                               AVFormatContext *second, const char *label, int *video_index,
                               int *subtitle_index, int *second_subtitle_index)
{
    int file = pipeline_complex_label_file(label);
    AVFormatContext *format = file == 0 ? input : file == 1 ? second : NULL;
    int index = pipeline_complex_stream(format, label);
    if (index < 0)
        return pipeline_fail(run, 0, "filter_complex input [%s] names no stream of %s",
                             label ? label : "",
                             file == 1 && second != NULL ? run->spec->subtitle_input
                             : file == 1                 ? "a second input (none given)"
                                                         : run->spec->input);
    enum AVMediaType type = format->streams[index]->codecpar->codec_type;
    int subtitle_taken = *subtitle_index >= 0 || *second_subtitle_index >= 0;
    int *slot = type == AVMEDIA_TYPE_VIDEO && file == 0 ? video_index
                : type == AVMEDIA_TYPE_SUBTITLE && !subtitle_taken
                    ? (file == 0 ? subtitle_index : second_subtitle_index)
                    : NULL;
    if (slot == NULL || *slot >= 0) {
        const char *kind = av_get_media_type_string(type);
        return pipeline_fail(run, 0,
                             "filter_complex input [%s] reads %s stream %d; a graph may read "
                             "one video stream and at most one subtitle stream",
                             label, kind ? kind : "unknown", index);
    }
    *slot = index;
    return PIPELINE_OK;
}

int pipeline_complex_inputs(struct pipeline_run *run, AVFormatContext *input,
                            AVFormatContext *second, int *video_index, int *subtitle_index,
                            int *second_subtitle_index)
{
    const char *graph = run->spec->video_filter;
    AVFilterGraph *scratch = avfilter_graph_alloc();
    AVFilterInOut *inputs = NULL;
    AVFilterInOut *outputs = NULL;
    int ret = PIPELINE_OK;

    *video_index = -1;
    *subtitle_index = -1;
    *second_subtitle_index = -1;
    if (scratch == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the filter_complex graph");
    int averr = avfilter_graph_parse2(scratch, graph, &inputs, &outputs);
    if (averr < 0) {
        ret = pipeline_fail_parse(run, averr, "filter_complex", graph);
        goto end;
    }
    if (outputs == NULL || outputs->next != NULL) {
        ret = pipeline_fail(run, 0, "filter_complex \"%s\" must have exactly one output", graph);
        goto end;
    }
    for (AVFilterInOut *in = inputs; in != NULL && ret == PIPELINE_OK; in = in->next)
        ret = complex_input_place(run, input, second, in->name, video_index, subtitle_index,
                                  second_subtitle_index);
    if (ret == PIPELINE_OK && *video_index < 0)
        ret = pipeline_fail(run, 0, "filter_complex \"%s\" reads no video stream", graph);
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    avfilter_graph_free(&scratch);
    return ret;
}
