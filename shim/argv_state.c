/* argv_state.c -- the command-line parser's state, and how it records what
 * it found.
 *
 * While the walk reads a line, anything that rules the native path out is
 * recorded as a "blocker" with a rank (parse_block); the reason reported is
 * the most specific blocker (a hardware encoder says more than an unknown
 * option it needs). A refusal (parse_refuse) is kept for lines that even
 * ffmpeg could not run (missing values, no input, values ffmpeg rejects
 * such as a negative -readrate) and for the checks the pool depends on
 * (segment length > 0, a segment pattern with one %d). A value this parser
 * cannot read, or that does not fit the spec (parse_store), is a blocker,
 * so the line is a PASSTHROUGH: the real ffmpeg then decides, and Jellyfin
 * sees its real error if there is one.
 *
 * The state is one struct argv_parse on the caller's stack (argv_internal.h):
 * nothing here allocates, logs or touches the file system. */
#include "argv_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void parse_init(struct argv_parse *p, struct job_spec *spec)
{
    memset(p, 0, sizeof(*p));
    p->spec = spec;
    p->phase = PHASE_INPUT;
    p->blocker_rank = RANK_NONE;
    p->keyframe_interval_us = JOB_SPEC_UNSET;
}

void parse_block(struct argv_parse *p, enum blocker_rank rank, const char *fmt, ...)
{
    if (rank >= p->blocker_rank)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->blocker_reason, sizeof(p->blocker_reason), fmt, ap);
    va_end(ap);
    p->blocker_rank = rank;
}

void parse_refuse(struct argv_parse *p, const char *fmt, ...)
{
    if (p->refused)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->refuse_reason, sizeof(p->refuse_reason), fmt, ap);
    va_end(ap);
    p->refused = 1;
}

int parse_store(struct argv_parse *p, const char *opt, char *field, size_t size, const char *value)
{
    size_t n = strlen(value);
    if (n >= size) {
        parse_block(p, RANK_FEATURE, "value of %.64s too long for the job spec", opt);
        return -1;
    }
    memcpy(field, value, n + 1);
    return 0;
}

int parse_integer(struct argv_parse *p, const char *opt, const char *value, int allow_suffix,
                  int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    enum value_status status = value_parse_int64(value, allow_suffix, &v);
    if (status == VALUE_OK && (v < min || v > max))
        status = VALUE_RANGE;
    if (status == VALUE_UNREADABLE) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return -1;
    }
    if (status == VALUE_RANGE) {
        parse_block(p, RANK_FEATURE, "%.64s value out of range", opt);
        return -1;
    }
    *out = v;
    return 0;
}

/* Sets "key=value" in a spec's option lines (options, size bytes);
 * a later value of the same key replaces an earlier one, as in the CLI's
 * option dictionary, except where append is set and the later value is
 * relative ("+flag", "-flag"): it then applies on top of the earlier one,
 * as the CLI's -qscale (a flag set directly) and -flags (the dictionary)
 * both take effect. */
void parse_option_line_set(struct argv_parse *p, const char *opt, char *options, size_t size,
                           const char *key, const char *value, int append)
{
    char previous[JOB_SPEC_SHORT_MAX] = "";
    size_t key_len = strlen(key);
    if (value[0] == '\0' || strchr(value, '\n') != NULL) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value", opt);
        return;
    }
    for (char *line = options; *line != '\0';) {
        char *end = strchr(line, '\n');
        if (strncmp(line, key, key_len) == 0 && line[key_len] == '=') {
            const char *old = line + key_len + 1;
            size_t old_len = end != NULL ? (size_t)(end - old) : strlen(old);
            if (append && (value[0] == '+' || value[0] == '-'))
                snprintf(previous, sizeof(previous), "%.*s", (int)old_len, old);
            if (end != NULL)
                memmove(line, end + 1, strlen(end + 1) + 1);
            else
                line[line > options ? -1 : 0] = '\0';
            break;
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
    size_t used = strlen(options);
    int n = snprintf(options + used, size - used, "%s%s=%s%s", used > 0 ? "\n" : "", key, previous,
                     value);
    if (n < 0 || (size_t)n >= size - used) {
        options[used] = '\0';
        parse_block(p, RANK_FEATURE, "value of %.64s too long for the job spec", opt);
    }
}
