/* pipeline_run.c -- one run's error sink and stop poll (see pipeline_run.h).
 *
 * The first error wins: a stage that fails writes one sentence naming its
 * step and libav's reason, and whatever fails after it because of it (the
 * other thread, a cleanup) leaves that sentence alone. This file calls no
 * other part of the pipeline. */
#include "pipeline_run.h"

#include <stdarg.h>
#include <stdio.h>

#include <libavfilter/avfilter.h>
#include <libavutil/error.h>

#include "routing.h"

int pipeline_fail(struct pipeline_run *run, int averr, const char *fmt, ...)
{
    if (run->errlen == 0)
        return PIPELINE_ERROR;
    pthread_mutex_lock(&run->fail_lock);
    if (!run->failed) {
        run->failed = 1;
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(run->err, run->errlen, fmt, args);
        va_end(args);
        if (averr != 0 && n >= 0 && (size_t)n < run->errlen) {
            char reason[AV_ERROR_MAX_STRING_SIZE];
            av_strerror(averr, reason, sizeof(reason));
            snprintf(run->err + n, run->errlen - (size_t)n, ": %s", reason);
        }
    }
    pthread_mutex_unlock(&run->fail_lock);
    return PIPELINE_ERROR;
}

int pipeline_fail_parse(struct pipeline_run *run, int averr, const char *what,
                        const char *description)
{
    char missing[64];
    if (pipeline_filter_missing(description, missing, sizeof(missing)))
        return pipeline_fail(run, averr, "parse %s \"%s\": no filter named %s", what, description,
                             missing);
    return pipeline_fail(run, averr, "parse %s \"%s\"", what, description);
}

int pipeline_poll_stop(const struct pipeline_run *run)
{
    const struct pipeline_callbacks *cb = run->cb;
    if (cb != NULL && cb->should_stop != NULL && cb->should_stop(cb->opaque))
        return PIPELINE_STOPPED;
    return PIPELINE_OK;
}

const char *pipeline_temp_suffix(const struct pipeline_run *run)
{
    return run->cb != NULL && run->cb->temp_suffix != NULL ? run->cb->temp_suffix : ".tmp";
}

int pipeline_filter_missing(const char *description, char *out, size_t outlen)
{
    char name[128];
    for (const char *s = description; (s = routing_filter_next(s, name, sizeof(name))) != NULL;) {
        if (avfilter_get_by_name(name) == NULL) {
            snprintf(out, outlen, "%s", name);
            return 1;
        }
    }
    return 0;
}
