/* metrics_test_lib.h -- what the test_metrics*.c files share: a strict
 * reader of the Prometheus text exposition format 0.0.4 (exposition_parse,
 * sample_value), render(), and the watchdog their threaded suites arm.
 *
 * Each test binary includes it once. Every helper is static and marked
 * unused, so that a file calling only some of them builds without a
 * warning. */
#ifndef FFPOOL_METRICS_TEST_LIB_H
#define FFPOOL_METRICS_TEST_LIB_H

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* ======================================================================
 * A strict reader of the text exposition format
 * ==================================================================== */

struct sample {
    char name[METRICS_NAME_MAX + 16];
    int has_label;
    char label_name[METRICS_NAME_MAX + 1];
    char label_value[512]; /* unescaped */
    double value;
};

static __attribute__((unused)) int parse_name(const char **p, char *out, size_t outlen,
                                              int colon_allowed)
{
    size_t n = 0;
    const char *s = *p;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
           (colon_allowed && *s == ':') || (n > 0 && *s >= '0' && *s <= '9')) {
        if (n + 1 >= outlen)
            return -1;
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = s;
    return n > 0 ? 0 : -1;
}

static __attribute__((unused)) int parse_value(const char *s, const char *end, double *value)
{
    size_t len = (size_t)(end - s);
    if (len == 4 && strncmp(s, "+Inf", 4) == 0) {
        *value = INFINITY;
        return 0;
    }
    if (len == 4 && strncmp(s, "-Inf", 4) == 0) {
        *value = -INFINITY;
        return 0;
    }
    if (len == 3 && strncmp(s, "NaN", 3) == 0) {
        *value = NAN;
        return 0;
    }
    char copy[64];
    if (len == 0 || len >= sizeof(copy))
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    char *stop = NULL;
    *value = strtod(copy, &stop);
    return *stop == '\0' ? 0 : -1;
}

/* Does sample name belong to the family declared by "# TYPE family type"? */
static __attribute__((unused)) int sample_in_family(const char *name, const char *family,
                                                    const char *type)
{
    if (strcmp(name, family) == 0)
        return strcmp(type, "histogram") != 0;
    if (strcmp(type, "histogram") != 0)
        return 0;
    size_t len = strlen(family);
    if (strncmp(name, family, len) != 0)
        return 0;
    const char *suffix = name + len;
    return strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_sum") == 0 ||
           strcmp(suffix, "_count") == 0;
}

/* Parses text into samples. Fails the test (with the offending line) on
 * anything a Prometheus 0.0.4 parser would reject: a line without its
 * newline, a bad name, a bad escape, a sample outside its TYPE's family, a
 * family declared twice or split, an unparsable value. Returns the count. */
static __attribute__((unused)) int exposition_parse(const char *text, struct sample *samples,
                                                    int max)
{
    char family[METRICS_NAME_MAX + 16] = "";
    char type[32] = "";
    char seen[64][METRICS_NAME_MAX + 16];
    int n_seen = 0;
    int n = 0;
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        cr_assert_not_null(end, "last line lacks its newline: \"%s\"", line);
        const char *p = line;
        if (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0) {
            int is_type = p[2] == 'T';
            char name[METRICS_NAME_MAX + 16];
            p += 7;
            cr_assert_eq(parse_name(&p, name, sizeof(name), 1), 0, "bad name in: %.*s",
                         (int)(end - line), line);
            cr_assert_eq(*p, ' ', "no space after the name in: %.*s", (int)(end - line), line);
            p++;
            if (is_type) {
                size_t len = (size_t)(end - p);
                cr_assert(len < sizeof(type));
                memcpy(type, p, len);
                type[len] = '\0';
                cr_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                              strcmp(type, "histogram") == 0,
                          "unknown type \"%s\"", type);
                for (int i = 0; i < n_seen; i++)
                    cr_assert_str_neq(seen[i], name, "family %s declared twice", name);
                cr_assert(n_seen < 64);
                snprintf(seen[n_seen++], sizeof(seen[0]), "%s", name);
                snprintf(family, sizeof(family), "%s", name);
            } else {
                for (; p < end; p++) {
                    if (*p != '\\')
                        continue;
                    cr_assert(p[1] == '\\' || p[1] == 'n', "bad escape in HELP: %.*s",
                              (int)(end - line), line);
                    p++; /* the escaped character */
                }
            }
        } else {
            cr_assert_neq(*p, '#', "unexpected comment: %.*s", (int)(end - line), line);
            cr_assert_lt(n, max, "more samples than expected");
            struct sample *s = &samples[n];
            memset(s, 0, sizeof(*s));
            cr_assert_eq(parse_name(&p, s->name, sizeof(s->name), 1), 0, "bad sample name: %.*s",
                         (int)(end - line), line);
            cr_assert(family[0] != '\0' && sample_in_family(s->name, family, type),
                      "sample %s outside its family (last TYPE: %s %s)", s->name, family, type);
            if (*p == '{') {
                p++;
                s->has_label = 1;
                cr_assert_eq(parse_name(&p, s->label_name, sizeof(s->label_name), 0), 0,
                             "bad label name: %.*s", (int)(end - line), line);
                cr_assert(p[0] == '=' && p[1] == '"', "bad label: %.*s", (int)(end - line), line);
                p += 2;
                size_t v = 0;
                while (*p != '"') {
                    cr_assert(p < end, "unterminated label value: %.*s", (int)(end - line), line);
                    char c = *p++;
                    if (c == '\\') {
                        char e = *p++;
                        cr_assert(e == '\\' || e == '"' || e == 'n', "bad escape \\%c", e);
                        c = e == 'n' ? '\n' : e;
                    }
                    cr_assert(v + 1 < sizeof(s->label_value));
                    s->label_value[v++] = c;
                }
                p++;
                cr_assert_eq(*p, '}', "one label expected: %.*s", (int)(end - line), line);
                p++;
            }
            cr_assert_eq(*p, ' ', "no space before the value: %.*s", (int)(end - line), line);
            p++;
            cr_assert_eq(parse_value(p, end, &s->value), 0, "bad value: %.*s", (int)(end - line),
                         line);
            n++;
        }
        line = end + 1;
    }
    return n;
}

/* The value of the sample with this name (and label value, if given). */
static __attribute__((unused)) double sample_value(const struct sample *samples, int n,
                                                   const char *name, const char *label_value)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(samples[i].name, name) != 0)
            continue;
        if (label_value != NULL &&
            (!samples[i].has_label || strcmp(samples[i].label_value, label_value) != 0))
            continue;
        return samples[i].value;
    }
    cr_assert_fail("no sample %s{%s}", name, label_value ? label_value : "");
    return NAN;
}

static __attribute__((unused)) char *render(struct metrics *metrics)
{
    size_t len = 12345;
    char *text = metrics_render(metrics, &len);
    cr_assert_not_null(text);
    cr_assert_eq(len, strlen(text));
    return text;
}

/* ======================================================================
 * A watchdog for the suites with threads
 * ==================================================================== */

/* A hung test (a deadlocked stop, a server that never answers) is killed by
 * SIGALRM and reported as a crash. An alarm rather than criterion's
 * .timeout: in criterion 2.4.1 the runner itself leaks 48 bytes under
 * LeakSanitizer when tests with .timeout run in parallel, which would fail
 * `make asan` for nothing. */
static __attribute__((unused)) void watchdog_arm(void)
{
    alarm(60);
}

#endif
