/* pipeline_run.h -- what every stage of one pipeline_run() call shares: the
 * job, the caller's callbacks, and the two ways a stage ends the run early
 * (a failure, a stop request).
 *
 * A leaf of the pipeline: it calls no other part of it, so every stage may
 * use it and none calls back up into the driver (pipeline.c). Every
 * function in the pipeline that can fail returns a pipeline_result
 * (pipeline.h): PIPELINE_OK, PIPELINE_STOPPED when a callback asked to
 * stop, PIPELINE_ERROR with one sentence in the run's err (pipeline_fail),
 * so a result can be passed up unchanged. Nothing here is visible outside
 * worker/pipeline/. */
#ifndef FFPOOL_WORKER_PIPELINE_RUN_H
#define FFPOOL_WORKER_PIPELINE_RUN_H

#include <pthread.h>
#include <stddef.h>

#include "job_spec.h"
#include "pipeline.h"

/* One run's context. Set up by pipeline.c before any stage opens and never
 * changed afterwards, except for the error (under fail_lock): the reader
 * thread and the encoding thread may both use it. */
struct pipeline_run {
    const struct job_spec *spec;
    const struct pipeline_callbacks *cb; /* may be NULL */
    char *err;
    size_t errlen;
    int failed;                /* an error is in err; later ones do not overwrite it */
    pthread_mutex_t fail_lock; /* PTHREAD_MUTEX_INITIALIZER */
};

/* Writes "<step>: <libav reason>" (or just the step when averr is 0) into
 * run->err unless an earlier error is already there. Returns PIPELINE_ERROR. */
int pipeline_fail(struct pipeline_run *run, int averr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails for a filter graph description libavfilter would not parse:
 * "parse <what> "<description>"", naming a filter the linked libavfilter
 * lacks when that is the reason. Returns PIPELINE_ERROR. */
int pipeline_fail_parse(struct pipeline_run *run, int averr, const char *what,
                        const char *description);

/* Returns PIPELINE_STOPPED if the caller's should_stop says so, else PIPELINE_OK. */
int pipeline_poll_stop(const struct pipeline_run *run);

/* What a temporary file's name gets after its final path: the caller's
 * temp_suffix, else ".tmp". */
const char *pipeline_temp_suffix(const struct pipeline_run *run);

/* Finds the first filter named in a libavfilter graph description that the
 * linked libavfilter lacks (e.g. tonemapx). Returns 1 with its name in out,
 * 0 if every name is known. */
int pipeline_filter_missing(const char *description, char *out, size_t outlen);

#endif
