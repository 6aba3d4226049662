/* bench_pipeline.c -- runs the worker's libav pipeline on an ffmpeg command
 * line, without a pool: the benchmark's and the tests' direct way in.
 *
 *   build/bench/pipeline [--first N] [--one-segment-runs [--no-resume-offset]]
 *                        -- FFMPEG-ARGS...
 *
 * FFMPEG-ARGS is what Jellyfin would pass to "ffmpeg" (without the program
 * name). The line goes through argv_parse_job, exactly as the shim reads it;
 * a line that is not native exits 2 with the reason. The pipeline then runs
 * from segment N (default: the start number) to the end, publishing each
 * segment by rename and rewriting the playlist, as worker/job.c does.
 *
 * --one-segment-runs: a new pipeline_run per segment, each resumed at the
 * next index and stopped after its first segment: every segment pays the
 * resume path (open, probe, seek, encoder start), which is what the
 * benchmark measures against one continuous run. Each resumed run gets the
 * sum of the durations published before it, as a worker taking over does
 * (a stream copy then seeks instead of reading from the start), and the
 * fMP4 base the first segment handed out; --no-resume-offset withholds the
 * durations.
 *
 * Prints "segments=N" on stdout. Exit status 0 on success, 1 on a pipeline
 * error (the error on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "fmp4_times.h"
#include "job_spec.h"
#include "pipeline.h"
#include "playlist.h"

#define BENCH_MAX_SEGMENTS 100000

struct bench_state {
    const struct job_spec *spec;
    int64_t *durations_us;
    int published;                      /* segments published */
    int stop_after;                     /* stop the run after this many segments in it (0: never) */
    int in_run;                         /* segments of the current run */
    int last_seen;                      /* the last segment of the input was delivered */
    char fmp4_base[FMP4_BASE_TEXT_MAX]; /* handed out with the job's first segment */
};

static int bench_segment_done(void *opaque, const struct pipeline_segment *segment)
{
    struct bench_state *state = opaque;
    const struct job_spec *spec = state->spec;
    char err[256];
    if (spec->output_kind == JOB_OUTPUT_HLS &&
        rename(segment->temp_path, segment->final_path) != 0) {
        perror(segment->final_path);
        return 1;
    }
    int slot = segment->index - spec->start_number;
    if (slot >= 0 && slot < BENCH_MAX_SEGMENTS)
        state->durations_us[slot] = segment->duration_us;
    state->published++;
    state->in_run++;
    state->last_seen = segment->last;
    if (segment->fmp4_base != NULL)
        snprintf(state->fmp4_base, sizeof(state->fmp4_base), "%s", segment->fmp4_base);
    if (spec->output_kind == JOB_OUTPUT_HLS && slot >= 0 && slot < BENCH_MAX_SEGMENTS &&
        playlist_write(spec, state->durations_us, slot + 1, segment->last, err, sizeof(err)) != 0)
        fprintf(stderr, "playlist: %s\n", err);
    return state->stop_after > 0 && state->in_run >= state->stop_after;
}

int main(int argc, char **argv)
{
    int first = -1;
    int one_segment_runs = 0;
    int resume_offset = 1;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--first") == 0 && i + 1 < argc)
            first = atoi(argv[++i]);
        else if (strcmp(argv[i], "--one-segment-runs") == 0)
            one_segment_runs = 1;
        else if (strcmp(argv[i], "--no-resume-offset") == 0)
            resume_offset = 0;
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [--first N] [--one-segment-runs] -- FFMPEG-ARGS...\n", argv[0]);
        return 2;
    }

    /* argv_parse_job wants the program name first. */
    char **line = calloc((size_t)(argc - i + 2), sizeof(*line));
    struct job_spec *spec = malloc(sizeof(*spec));
    int64_t *durations = calloc(BENCH_MAX_SEGMENTS, sizeof(*durations));
    int status = 1;
    if (line == NULL || spec == NULL || durations == NULL) {
        fprintf(stderr, "out of memory\n");
        goto end;
    }
    line[0] = "ffmpeg";
    for (int j = i; j < argc; j++)
        line[j - i + 1] = argv[j];
    char reason[512];
    enum argv_decision decision = argv_parse_job(argc - i + 1, line, spec, reason, sizeof(reason));
    if (decision != ARGV_NATIVE) {
        fprintf(stderr, "%s\n", reason);
        status = 2;
        goto end;
    }

    struct bench_state state = {
        .spec = spec,
        .durations_us = durations,
        .stop_after = one_segment_runs ? 1 : 0,
    };
    struct pipeline_callbacks cb = {.opaque = &state, .segment_done = bench_segment_done};
    char err[1024];
    int index = first >= 0 ? first : spec->start_number;
    for (;;) {
        state.in_run = 0;
        cb.resume_offset_us = 0;
        for (int k = spec->start_number; resume_offset && k < index; k++)
            cb.resume_offset_us += durations[k - spec->start_number];
        cb.fmp4_base = state.fmp4_base[0] != '\0' ? state.fmp4_base : NULL;
        int result = pipeline_run(spec, index, &cb, err, sizeof(err));
        if (result == PIPELINE_ERROR) {
            fprintf(stderr, "pipeline: %s\n", err);
            goto end;
        }
        if (!one_segment_runs || state.last_seen || state.in_run == 0)
            break;
        index++;
    }
    printf("segments=%d\n", state.published);
    status = 0;
end:
    free(line);
    free(spec);
    free(durations);
    return status;
}
