/* test_metrics.c -- what proto/metrics.c promises: the exact Prometheus text
 * format 0.0.4 for every metric kind, exact counts under many threads, and
 * an HTTP server that answers /metrics, /healthz and /readyz over a real TCP
 * socket on 127.0.0.1, survives anything a client sends, and fails to start
 * with a sentence rather than a crash.
 *
 * Every server listens on port 0 and the test asks it for the port it got,
 * so parallel test processes never race for a port. Responses are read
 * with a plain socket so that the bytes on the wire are what is checked. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
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

static int parse_name(const char **p, char *out, size_t outlen, int colon_allowed)
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

static int parse_value(const char *s, const char *end, double *value)
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
static int sample_in_family(const char *name, const char *family, const char *type)
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
static int exposition_parse(const char *text, struct sample *samples, int max)
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
static double sample_value(const struct sample *samples, int n, const char *name,
                           const char *label_value)
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

static char *render(struct metrics *metrics)
{
    size_t len = 12345;
    char *text = metrics_render(metrics, &len);
    cr_assert_not_null(text);
    cr_assert_eq(len, strlen(text));
    return text;
}

/* ======================================================================
 * The format, kind by kind
 * ==================================================================== */

Test(metrics_format, empty_registry_renders_as_empty_text)
{
    struct metrics *m = metrics_create();
    char *text = render(m);
    cr_assert_str_eq(text, "");
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, counter_renders_help_type_and_the_sum_of_its_adds)
{
    struct metrics *m = metrics_create();
    struct metrics_counter *c =
        metrics_counter(m, "ffpool_segments_encoded_total", "Segments encoded by this worker.");
    cr_assert_not_null(c);
    metrics_counter_add(c, 1);
    metrics_counter_add(c, 2.5);
    char *text = render(m);
    cr_assert_str_eq(text, "# HELP ffpool_segments_encoded_total Segments encoded by this worker.\n"
                           "# TYPE ffpool_segments_encoded_total counter\n"
                           "ffpool_segments_encoded_total 3.5\n");
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, counter_only_goes_up_negative_and_nan_adds_are_ignored)
{
    struct metrics *m = metrics_create();
    struct metrics_counter *c = metrics_counter(m, "jobs_total", "Jobs.");
    metrics_counter_add(c, 5);
    metrics_counter_add(c, -1);
    metrics_counter_add(c, NAN);
    metrics_counter_add(c, 0);
    struct sample s[4];
    char *text = render(m);
    int n = exposition_parse(text, s, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(sample_value(s, n, "jobs_total", NULL), 5.0);
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, gauge_set_and_add_render_the_shortest_exact_number)
{
    struct metrics *m = metrics_create();
    struct metrics_gauge *slots = metrics_gauge(m, "ffpool_worker_slots_busy", "Busy slots.");
    struct metrics_gauge *tenth = metrics_gauge(m, "tenth", "");
    struct metrics_gauge *third = metrics_gauge(m, "third", "");
    struct metrics_gauge *big = metrics_gauge(m, "big", "");
    struct metrics_gauge *inf = metrics_gauge(m, "inf", "");
    struct metrics_gauge *nan = metrics_gauge(m, "nan", "");
    metrics_gauge_set(slots, 2.5);
    metrics_gauge_add(slots, -4);
    metrics_gauge_set(tenth, 0.1);
    metrics_gauge_set(third, 1.0 / 3.0);
    metrics_gauge_set(big, 1e21);
    metrics_gauge_set(inf, -INFINITY);
    metrics_gauge_set(nan, NAN);
    char *text = render(m);
    /* An empty help leaves the HELP line out rather than emit "# HELP x ". */
    cr_assert_str_eq(text, "# HELP ffpool_worker_slots_busy Busy slots.\n"
                           "# TYPE ffpool_worker_slots_busy gauge\n"
                           "ffpool_worker_slots_busy -1.5\n"
                           "# TYPE tenth gauge\n"
                           "tenth 0.1\n"
                           "# TYPE third gauge\n"
                           "third 0.33333333333333331\n"
                           "# TYPE big gauge\n"
                           "big 1e+21\n"
                           "# TYPE inf gauge\n"
                           "inf -Inf\n"
                           "# TYPE nan gauge\n"
                           "nan NaN\n");
    /* Every number reads back as exactly the double that was set. */
    struct sample s[8];
    int n = exposition_parse(text, s, 8);
    cr_assert_eq(n, 6);
    cr_assert_eq(sample_value(s, n, "third", NULL), 1.0 / 3.0);
    cr_assert_eq(sample_value(s, n, "tenth", NULL), 0.1);
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, histogram_buckets_are_cumulative_with_le_sum_and_count)
{
    struct metrics *m = metrics_create();
    const double bounds[] = {0.1, 0.5, 1, 2.5};
    struct metrics_histogram *h =
        metrics_histogram(m, "ffpool_segment_seconds", "Time to encode one segment.", bounds, 4);
    cr_assert_not_null(h);
    metrics_histogram_observe(h, 0.0625);
    metrics_histogram_observe(h, 0.5); /* on a bound: le means <=, so the 0.5 bucket */
    metrics_histogram_observe(h, 0.25);
    metrics_histogram_observe(h, 2);
    metrics_histogram_observe(h, 100);
    metrics_histogram_observe(h, NAN); /* ignored */
    char *text = render(m);
    cr_assert_str_eq(text, "# HELP ffpool_segment_seconds Time to encode one segment.\n"
                           "# TYPE ffpool_segment_seconds histogram\n"
                           "ffpool_segment_seconds_bucket{le=\"0.1\"} 1\n"
                           "ffpool_segment_seconds_bucket{le=\"0.5\"} 3\n"
                           "ffpool_segment_seconds_bucket{le=\"1\"} 3\n"
                           "ffpool_segment_seconds_bucket{le=\"2.5\"} 4\n"
                           "ffpool_segment_seconds_bucket{le=\"+Inf\"} 5\n"
                           "ffpool_segment_seconds_sum 102.8125\n"
                           "ffpool_segment_seconds_count 5\n");
    struct sample s[8];
    int n = exposition_parse(text, s, 8);
    cr_assert_eq(n, 7);
    cr_assert_str_eq(s[4].label_name, "le");
    cr_assert_eq(s[4].value, sample_value(s, n, "ffpool_segment_seconds_count", NULL));
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, histogram_without_buckets_uses_prometheus_defaults)
{
    struct metrics *m = metrics_create();
    struct metrics_histogram *h = metrics_histogram(m, "claim_seconds", "Claim latency.", NULL, 0);
    cr_assert_not_null(h);
    metrics_histogram_observe(h, 0.003);
    metrics_histogram_observe(h, 11);
    char *text = render(m);
    struct sample s[20];
    int n = exposition_parse(text, s, 20);
    cr_assert_eq(n, 14); /* 11 bounds + +Inf, _sum, _count */
    cr_assert_str_eq(s[0].label_value, "0.005");
    cr_assert_eq(s[0].value, 1);
    cr_assert_str_eq(s[10].label_value, "10");
    cr_assert_eq(s[10].value, 1);
    cr_assert_str_eq(s[11].label_value, "+Inf");
    cr_assert_eq(s[11].value, 2);
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, labelled_gauge_escapes_values_updates_in_place_and_forgets_removed)
{
    struct metrics *m = metrics_create();
    struct metrics_gauge_vec *speed = metrics_gauge_vec(
        m, "ffpool_job_encode_speed", "Encode speed of each running job (x realtime).", "job");
    cr_assert_not_null(speed);
    const char *odd = "we\"ird\\path\nx";
    cr_assert_eq(metrics_gauge_vec_set(speed, "a", 1.5), 0);
    cr_assert_eq(metrics_gauge_vec_set(speed, odd, 2), 0);
    cr_assert_eq(metrics_gauge_vec_set(speed, "a", 3), 0);
    cr_assert_eq(metrics_gauge_vec_set(speed, "b", 0.5), 0);
    metrics_gauge_vec_remove(speed, "b");
    metrics_gauge_vec_remove(speed, "never-set");
    cr_assert_eq(metrics_gauge_vec_set(speed, NULL, 1), -1);
    char *text = render(m);
    cr_assert_str_eq(
        text, "# HELP ffpool_job_encode_speed Encode speed of each running job (x realtime).\n"
              "# TYPE ffpool_job_encode_speed gauge\n"
              "ffpool_job_encode_speed{job=\"a\"} 3\n"
              "ffpool_job_encode_speed{job=\"we\\\"ird\\\\path\\nx\"} 2\n");
    struct sample s[4];
    int n = exposition_parse(text, s, 4);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(s[1].label_name, "job");
    cr_assert_str_eq(s[1].label_value, odd, "the escaped value must read back unchanged");
    cr_assert_eq(sample_value(s, n, "ffpool_job_encode_speed", odd), 2);
    free(text);

    /* With every job gone the family is still declared, with no samples. */
    metrics_gauge_vec_remove(speed, "a");
    metrics_gauge_vec_remove(speed, odd);
    text = render(m);
    cr_assert_eq(exposition_parse(text, s, 4), 0);
    cr_assert_not_null(strstr(text, "# TYPE ffpool_job_encode_speed gauge\n"));
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, help_text_escapes_backslash_and_newline_but_not_quotes)
{
    struct metrics *m = metrics_create();
    metrics_gauge(m, "g", "line one\nC:\\path \"quoted\"");
    char *text = render(m);
    cr_assert_str_eq(text, "# HELP g line one\\nC:\\\\path \"quoted\"\n"
                           "# TYPE g gauge\n"
                           "g 0\n");
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, families_render_in_registration_order_and_parse_as_a_whole)
{
    struct metrics *m = metrics_create();
    metrics_counter_add(metrics_counter(m, "ffpool:claims_total", "Claims."), 7);
    metrics_gauge_set(metrics_gauge(m, "ffpool_up", "1 while running."), 1);
    metrics_histogram_observe(
        metrics_histogram(m, "lease_renew_seconds", "Renew.", (const double[]){0.01, 0.1}, 2),
        0.05);
    metrics_gauge_vec_set(metrics_gauge_vec(m, "job_fps", "FPS.", "job"), "j1", 30);
    char *text = render(m);
    struct sample s[16];
    int n = exposition_parse(text, s, 16);
    cr_assert_eq(n, 1 + 1 + 5 + 1);
    cr_assert_str_eq(s[0].name, "ffpool:claims_total");
    cr_assert_str_eq(s[1].name, "ffpool_up");
    cr_assert_str_eq(s[2].name, "lease_renew_seconds_bucket");
    cr_assert_str_eq(s[7].name, "job_fps");
    cr_assert_eq(sample_value(s, n, "ffpool:claims_total", NULL), 7);
    cr_assert_eq(sample_value(s, n, "lease_renew_seconds_sum", NULL), 0.05);
    cr_assert_eq(sample_value(s, n, "job_fps", "j1"), 30);
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, registration_refuses_bad_names_collisions_and_bad_buckets)
{
    struct metrics *m = metrics_create();
    char long_name[METRICS_NAME_MAX + 8];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';

    cr_assert_null(metrics_counter(m, "jobs", "counters end in _total"));
    cr_assert_null(metrics_counter(m, "9lives_total", "starts with a digit"));
    cr_assert_null(metrics_counter(m, "has-dash_total", "dash"));
    cr_assert_null(metrics_counter(m, "", "empty"));
    cr_assert_null(metrics_counter(m, NULL, "null"));
    cr_assert_null(metrics_gauge(m, "with space", ""));
    cr_assert_null(metrics_gauge(m, long_name, "too long"));

    cr_assert_not_null(metrics_counter(m, "jobs_total", ""));
    cr_assert_null(metrics_counter(m, "jobs_total", "duplicate"));
    cr_assert_null(metrics_gauge(m, "jobs_total", "duplicate of another kind"));

    cr_assert_not_null(metrics_histogram(m, "lat", "", (const double[]){1}, 1));
    cr_assert_null(metrics_gauge(m, "lat_sum", "collides with the histogram's _sum"));
    cr_assert_null(metrics_gauge(m, "lat_bucket", "collides with the histogram's _bucket"));
    cr_assert_not_null(metrics_gauge(m, "x_count", ""));
    cr_assert_null(metrics_histogram(m, "x", "its _count is taken", NULL, 0));

    cr_assert_null(metrics_histogram(m, "h1", "", (const double[]){1, 0.5}, 2));
    cr_assert_null(metrics_histogram(m, "h2", "", (const double[]){1, 1}, 2));
    cr_assert_null(metrics_histogram(m, "h3", "", (const double[]){1, NAN}, 2));
    cr_assert_null(metrics_histogram(m, "h4", "", (const double[]){1, INFINITY}, 2));
    cr_assert_null(metrics_histogram(m, "h5", "", (const double[]){1}, -1));
    cr_assert_not_null(metrics_histogram(m, "h6", "only the +Inf bucket", (const double[]){1}, 0));

    cr_assert_null(metrics_gauge_vec(m, "v1", "", "__reserved"));
    cr_assert_null(metrics_gauge_vec(m, "v2", "", "bad-label"));
    cr_assert_null(metrics_gauge_vec(m, "v3", "", "a:b"));
    cr_assert_null(metrics_gauge_vec(m, "v4", "", NULL));
    cr_assert_not_null(metrics_gauge_vec(m, "v5", "", "job"));

    /* Refused registrations leave no trace in the output. */
    char *text = render(m);
    struct sample s[16];
    int n = exposition_parse(text, s, 16);
    cr_assert_eq(n, 1 + 4 + 1 + 3);
    cr_assert_null(strstr(text, "h1"));
    cr_assert_null(strstr(text, "v1"));
    free(text);
    metrics_destroy(m);
}

Test(metrics_format, null_registry_and_null_handles_are_no_ops)
{
    cr_assert_null(metrics_counter(NULL, "a_total", ""));
    cr_assert_null(metrics_gauge(NULL, "a", ""));
    cr_assert_null(metrics_histogram(NULL, "a", "", NULL, 0));
    cr_assert_null(metrics_gauge_vec(NULL, "a", "", "job"));
    metrics_counter_add(NULL, 1);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    cr_assert_eq(metrics_gauge_vec_set(NULL, "x", 1), 0);
    metrics_gauge_vec_remove(NULL, "x");
    cr_assert_null(metrics_render(NULL, NULL));
    metrics_destroy(NULL);
    metrics_server_stop(NULL);
    cr_assert_eq(metrics_server_port(NULL), 0);
}

/* ======================================================================
 * Many threads
 * ==================================================================== */

/* A hung test (a deadlocked stop, a server that never answers) is killed by
 * SIGALRM and reported as a crash. An alarm rather than criterion's
 * .timeout: in criterion 2.4.1 the runner itself leaks 48 bytes under
 * LeakSanitizer when tests with .timeout run in parallel, which would fail
 * `make asan` for nothing. */
static void watchdog_arm(void)
{
    alarm(60);
}

TestSuite(metrics_threads, .init = watchdog_arm);
TestSuite(metrics_server, .init = watchdog_arm);

#define UPDATE_THREADS 8
#define UPDATES_PER_THREAD 10000

struct update_work {
    struct metrics *metrics;
    struct metrics_counter *counter;
    struct metrics_gauge *gauge;
    struct metrics_histogram *histogram;
    struct metrics_gauge_vec *vec;
    int index;
};

static void *update_thread(void *arg)
{
    struct update_work *w = arg;
    char label[32];
    snprintf(label, sizeof(label), "job-%d", w->index);
    for (int i = 0; i < UPDATES_PER_THREAD; i++) {
        metrics_counter_add(w->counter, 1);
        metrics_gauge_add(w->gauge, 1);
        metrics_histogram_observe(w->histogram, (i % 3) * 0.5);
        metrics_gauge_vec_set(w->vec, label, i);
        if (i % 100 == 0) /* a scrape racing the updates */
            free(metrics_render(w->metrics, NULL));
    }
    return NULL;
}

Test(metrics_threads, eight_threads_of_ten_thousand_updates_sum_exactly)
{
    struct metrics *m = metrics_create();
    struct update_work work[UPDATE_THREADS];
    pthread_t threads[UPDATE_THREADS];
    struct metrics_counter *counter = metrics_counter(m, "updates_total", "");
    struct metrics_gauge *gauge = metrics_gauge(m, "updates", "");
    struct metrics_histogram *histogram =
        metrics_histogram(m, "update_seconds", "", (const double[]){0.25, 0.75}, 2);
    struct metrics_gauge_vec *vec = metrics_gauge_vec(m, "last_update", "", "job");
    for (int i = 0; i < UPDATE_THREADS; i++) {
        work[i] = (struct update_work){m, counter, gauge, histogram, vec, i};
        cr_assert_eq(pthread_create(&threads[i], NULL, update_thread, &work[i]), 0);
    }
    for (int i = 0; i < UPDATE_THREADS; i++)
        pthread_join(threads[i], NULL);

    const double total = UPDATE_THREADS * UPDATES_PER_THREAD;
    char *text = render(m);
    struct sample s[32];
    int n = exposition_parse(text, s, 32);
    cr_assert_eq(sample_value(s, n, "updates_total", NULL), total);
    cr_assert_eq(sample_value(s, n, "updates", NULL), total);
    cr_assert_eq(sample_value(s, n, "update_seconds_count", NULL), total);
    /* i % 3 is 0, 1, 2 -> 0, 0.5, 1: one third of the values per bucket. */
    double thirds = UPDATE_THREADS * (double)((UPDATES_PER_THREAD + 2) / 3);
    cr_assert_eq(s[2].value, thirds, "le=0.25 holds every 0");
    cr_assert_eq(sample_value(s, n, "update_seconds_bucket", "+Inf"), total);
    for (int i = 0; i < UPDATE_THREADS; i++) {
        char label[32];
        snprintf(label, sizeof(label), "job-%d", i);
        cr_assert_eq(sample_value(s, n, "last_update", label), UPDATES_PER_THREAD - 1);
    }
    free(text);
    metrics_destroy(m);
}

/* ======================================================================
 * HTTP server over a real socket
 * ==================================================================== */

struct probes {
    atomic_int alive;
    atomic_int ready;
    atomic_int entered; /* a slow probe has started */
    atomic_int left;    /* ... and returned */
    int slow_ms;
};

static int probe_alive(void *opaque)
{
    struct probes *p = opaque;
    if (p->slow_ms > 0) {
        atomic_store(&p->entered, 1);
        struct timespec pause = {p->slow_ms / 1000, (long)(p->slow_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        atomic_store(&p->left, 1);
    }
    return atomic_load(&p->alive);
}

static int probe_ready(void *opaque)
{
    struct probes *p = opaque;
    return atomic_load(&p->ready);
}

static struct metrics_server *server_start(struct metrics *m, struct probes *p)
{
    char err[256] = "";
    struct metrics_server *server = metrics_server_start(m, "http://127.0.0.1:0", probe_alive,
                                                         probe_ready, p, err, sizeof(err));
    cr_assert_not_null(server, "start: %s", err);
    cr_assert_gt(metrics_server_port(server), 0);
    return server;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* Sends len bytes (then, with half_close, says it will send no more), and
 * reads until the server closes (or 5 s pass). Returns what came back,
 * NUL-terminated; "" if the server just closed. A send error is not a
 * failure: the server may close on garbage early. */
static char *http_exchange(int port, const char *request, size_t len, int half_close)
{
    int fd = tcp_connect(port);
    size_t sent = 0;
    while (sent < len) {
        ssize_t k = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    size_t cap = 4096;
    size_t got = 0;
    char *response = malloc(cap);
    cr_assert_not_null(response);
    for (;;) {
        if (got + 1024 > cap) {
            cap *= 2;
            response = realloc(response, cap);
            cr_assert_not_null(response);
        }
        ssize_t k = recv(fd, response + got, cap - got - 1, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    response[got] = '\0';
    close(fd);
    return response;
}

static char *http_request(int port, const char *method, const char *path)
{
    char request[512];
    int len = snprintf(request, sizeof(request),
                       "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path);
    return http_exchange(port, request, (size_t)len, 0);
}

/* The status code of "HTTP/1.1 NNN reason", or -1 when there is none. */
static int response_status(const char *response)
{
    int status = -1;
    if (sscanf(response, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

static const char *response_body(const char *response)
{
    const char *end = strstr(response, "\r\n\r\n");
    cr_assert_not_null(end, "no end of headers in: %s", response);
    return end + 4;
}

/* The value of a header (case-insensitive name), copied into out. */
static int response_header(const char *response, const char *name, char *out, size_t outlen)
{
    const char *end = strstr(response, "\r\n\r\n");
    size_t name_len = strlen(name);
    for (const char *line = strstr(response, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, name_len) == 0 && h[name_len] == ':') {
            h += name_len + 1;
            while (*h == ' ')
                h++;
            size_t len = (size_t)(strstr(h, "\r\n") - h);
            snprintf(out, outlen, "%.*s", (int)len, h);
            return 0;
        }
    }
    return -1;
}

/* GETs /metrics and returns the value of one sample. */
static double scrape_value(int port, const char *name)
{
    char *response = http_request(port, "GET", "/metrics");
    cr_assert_eq(response_status(response), 200, "scrape: %s", response);
    struct sample s[64];
    int n = exposition_parse(response_body(response), s, 64);
    double value = sample_value(s, n, name, NULL);
    free(response);
    return value;
}

Test(metrics_server, metrics_is_served_in_the_text_format_and_a_counter_moves_between_scrapes)
{
    struct metrics *m = metrics_create();
    struct metrics_counter *c = metrics_counter(m, "ffpool_jobs_claimed_total", "Jobs claimed.");
    metrics_gauge_vec_set(metrics_gauge_vec(m, "ffpool_job_encode_speed", "Speed.", "job"),
                          "job\"1", 2.25);
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *server = server_start(m, &p);
    int port = metrics_server_port(server);

    metrics_counter_add(c, 1);
    char *response = http_request(port, "GET", "/metrics");
    cr_assert(strncmp(response, "HTTP/1.1 200 ", 13) == 0, "status line: %s", response);
    char type[128];
    cr_assert_eq(response_header(response, "Content-Type", type, sizeof(type)), 0);
    cr_assert(strncmp(type, "text/plain; version=0.0.4", 25) == 0, "Content-Type: %s", type);
    char length[32];
    cr_assert_eq(response_header(response, "Content-Length", length, sizeof(length)), 0);
    cr_assert_eq((size_t)atol(length), strlen(response_body(response)));
    struct sample s[8];
    int n = exposition_parse(response_body(response), s, 8);
    cr_assert_eq(sample_value(s, n, "ffpool_jobs_claimed_total", NULL), 1);
    cr_assert_eq(sample_value(s, n, "ffpool_job_encode_speed", "job\"1"), 2.25);
    free(response);

    metrics_counter_add(c, 41);
    cr_assert_eq(scrape_value(port, "ffpool_jobs_claimed_total"), 42);

    metrics_server_stop(server);
    metrics_destroy(m);
}

/* Reads one response from a kept-alive connection: headers, then exactly
 * Content-Length bytes. Returns it NUL-terminated (the caller frees). */
static char *http_read_one_response(int fd)
{
    size_t cap = 65536;
    size_t got = 0;
    char *response = malloc(cap);
    cr_assert_not_null(response);
    for (;;) {
        response[got] = '\0';
        const char *end = strstr(response, "\r\n\r\n");
        if (end != NULL) {
            char length[32];
            cr_assert_eq(response_header(response, "Content-Length", length, sizeof(length)), 0,
                         "a kept-alive response needs Content-Length: %s", response);
            size_t total = (size_t)(end + 4 - response) + (size_t)atol(length);
            cr_assert_lt(total, cap);
            if (got >= total) {
                cr_assert_eq(got, total, "bytes after the response");
                return response;
            }
        }
        ssize_t k = recv(fd, response + got, cap - got - 1, 0);
        cr_assert_gt(k, 0, "connection ended mid-response after %zu bytes", got);
        got += (size_t)k;
    }
}

Test(metrics_server, one_kept_alive_connection_serves_successive_scrapes)
{
    struct metrics *m = metrics_create();
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *server = server_start(m, &p);
    int fd = tcp_connect(metrics_server_port(server));
    static const char request[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

    /* First an empty registry, whose empty body must still be delimited. */
    cr_assert_eq(send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL),
                 (ssize_t)sizeof(request) - 1);
    char *r = http_read_one_response(fd);
    cr_assert_eq(response_status(r), 200, "%s", r);
    cr_assert_str_eq(response_body(r), "");
    free(r);

    struct metrics_counter *c = metrics_counter(m, "scrapes_total", "");
    for (int i = 1; i <= 3; i++) {
        metrics_counter_add(c, 1);
        cr_assert_eq(send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL),
                     (ssize_t)sizeof(request) - 1);
        r = http_read_one_response(fd);
        cr_assert_eq(response_status(r), 200, "%s", r);
        struct sample s[4];
        int n = exposition_parse(response_body(r), s, 4);
        cr_assert_eq(sample_value(s, n, "scrapes_total", NULL), i);
        free(r);
    }
    close(fd);
    metrics_server_stop(server);
    metrics_destroy(m);
}

Test(metrics_server, healthz_follows_the_liveness_callback_and_readyz_the_readiness_one)
{
    struct metrics *m = metrics_create();
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *server = server_start(m, &p);
    int port = metrics_server_port(server);

    char *r = http_request(port, "GET", "/healthz");
    cr_assert(strncmp(r, "HTTP/1.1 200 ", 13) == 0, "%s", r);
    cr_assert_str_eq(response_body(r), "ok");
    free(r);

    atomic_store(&p.alive, 0);
    r = http_request(port, "GET", "/healthz");
    cr_assert(strncmp(r, "HTTP/1.1 503 ", 13) == 0, "%s", r);
    free(r);
    r = http_request(port, "GET", "/readyz");
    cr_assert_eq(response_status(r), 200, "readiness does not follow liveness: %s", r);
    cr_assert_str_eq(response_body(r), "ok");
    free(r);

    atomic_store(&p.alive, 1);
    atomic_store(&p.ready, 0);
    r = http_request(port, "GET", "/readyz");
    cr_assert_eq(response_status(r), 503, "%s", r);
    free(r);
    r = http_request(port, "GET", "/healthz");
    cr_assert_eq(response_status(r), 200, "%s", r);
    free(r);

    metrics_server_stop(server);
    metrics_destroy(m);
}

Test(metrics_server, no_probe_callbacks_means_alive_and_ready)
{
    struct metrics *m = metrics_create();
    char err[256] = "";
    struct metrics_server *server =
        metrics_server_start(m, "http://127.0.0.1:0/", NULL, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(server, "%s", err);
    int port = metrics_server_port(server);
    char *r = http_request(port, "GET", "/healthz");
    cr_assert_eq(response_status(r), 200, "%s", r);
    free(r);
    r = http_request(port, "GET", "/readyz");
    cr_assert_eq(response_status(r), 200, "%s", r);
    free(r);
    metrics_server_stop(server);
    metrics_destroy(m);
}

Test(metrics_server, unknown_paths_are_404_and_other_methods_405)
{
    struct metrics *m = metrics_create();
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *server = server_start(m, &p);
    int port = metrics_server_port(server);
    struct {
        const char *method;
        const char *path;
        int status;
    } cases[] = {
        {"GET", "/nope", 404},       {"GET", "/", 404},
        {"GET", "/metrics/x", 404},  {"GET", "/metricsx", 404},
        {"POST", "/metrics", 405},   {"PUT", "/healthz", 405},
        {"DELETE", "/readyz", 405},  {"GET", "/metrics?x=1", 200},
        {"GET", "/../metrics", 404},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = http_request(port, cases[i].method, cases[i].path);
        cr_assert_eq(response_status(r), cases[i].status, "%s %s -> %s", cases[i].method,
                     cases[i].path, r);
        free(r);
    }
    /* An empty registry is an empty 200, not an error. */
    char *empty = http_request(port, "GET", "/metrics");
    cr_assert_eq(response_status(empty), 200, "%s", empty);
    cr_assert_str_eq(response_body(empty), "");
    char length[32];
    cr_assert_eq(response_header(empty, "Content-Length", length, sizeof(length)), 0);
    cr_assert_str_eq(length, "0");
    free(empty);
    /* HEAD is GET without the body. */
    char *r = http_request(port, "HEAD", "/healthz");
    cr_assert_eq(response_status(r), 200, "%s", r);
    cr_assert_str_eq(response_body(r), "");
    free(r);
    metrics_server_stop(server);
    metrics_destroy(m);
}

Test(metrics_server, garbage_from_clients_never_takes_the_server_down)
{
    struct metrics *m = metrics_create();
    struct metrics_counter *c = metrics_counter(m, "alive_total", "");
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *server = server_start(m, &p);
    int port = metrics_server_port(server);

#define BYTES(literal)                                                                             \
    {                                                                                              \
        literal, sizeof(literal) - 1                                                               \
    }
    const struct {
        const char *data;
        size_t len;
    } garbage[] = {
        BYTES("\x00\xff\xfe\x01\r\n\x80\x81\r\n\r\n"),
        BYTES("\r\n\r\n"),
        BYTES("GET\r\n\r\n"),
        BYTES("GET /metrics\r\n\r\n"),                     /* HTTP/0.9 */
        BYTES("GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n"), /* unknown version */
        BYTES("GET /metrics HTTP/1.1\r\n\r\n"),            /* 1.1 without Host */
        BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
        BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
        BYTES("GET /metr\0ics HTTP/1.1\r\nHost: x\r\n\r\n"),
        BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\n"), /* never finished */
        BYTES("G"),
        BYTES("BREW /coffee HTCPCP/1.0\r\n\r\n"),
    };
#undef BYTES
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        /* Half-closing makes the server see the end at once instead of
         * waiting for the rest of a request that never comes. */
        char *r = http_exchange(port, garbage[i].data, garbage[i].len, 1);
        int status = response_status(r);
        cr_assert(status == -1 || status >= 400 || status == 200, "case %zu -> %s", i, r);
        free(r);
    }

    /* A URI and a header far larger than any real request. */
    size_t big = 256 * 1024;
    char *huge = malloc(big + 64);
    cr_assert_not_null(huge);
    memcpy(huge, "GET /", 5);
    memset(huge + 5, 'a', big);
    strcpy(huge + 5 + big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    free(http_exchange(port, huge, strlen(huge), 1));
    int len = sprintf(huge, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Junk: ");
    memset(huge + len, 'b', big - (size_t)len);
    strcpy(huge + big, "\r\n\r\n");
    free(http_exchange(port, huge, strlen(huge), 1));
    free(huge);

    /* Connections opened and dropped without a byte. */
    for (int i = 0; i < 50; i++)
        close(tcp_connect(port));

    metrics_counter_add(c, 1);
    cr_assert_eq(scrape_value(port, "alive_total"), 1, "the server still answers");
    metrics_server_stop(server);
    metrics_destroy(m);
}

struct scrape_work {
    int port;
    int failures;
};

static void *scrape_thread(void *arg)
{
    struct scrape_work *w = arg;
    for (int i = 0; i < 20; i++) {
        char *r = http_request(w->port, "GET", "/metrics");
        if (response_status(r) != 200)
            w->failures++;
        free(r);
    }
    return NULL;
}

Test(metrics_server, concurrent_scrapes_during_updates_all_succeed)
{
    struct metrics *m = metrics_create();
    struct metrics_counter *c = metrics_counter(m, "ticks_total", "");
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *server = server_start(m, &p);
    struct scrape_work work[6];
    pthread_t threads[6];
    for (int i = 0; i < 6; i++) {
        work[i] = (struct scrape_work){metrics_server_port(server), 0};
        cr_assert_eq(pthread_create(&threads[i], NULL, scrape_thread, &work[i]), 0);
    }
    for (int i = 0; i < 100000; i++)
        metrics_counter_add(c, 1);
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(work[i].failures, 0, "thread %d had failed scrapes", i);
    }
    cr_assert_eq(scrape_value(metrics_server_port(server), "ticks_total"), 100000);
    metrics_server_stop(server);
    metrics_destroy(m);
}

Test(metrics_server, bad_urls_give_null_and_a_sentence)
{
    struct metrics *m = metrics_create();
    const char *urls[] = {
        NULL,
        "",
        "nonsense",
        "127.0.0.1:9090",
        "tcp://127.0.0.1:0",
        "https://127.0.0.1:0",
        "http://127.0.0.1:99999",
        "http://256.1.1.1:9090",
        "http://:0",
        "http://127.0.0.1:0/metrics",
        "http://127.0.0.1:0/?x=1",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char err[256] = "";
        struct metrics_server *server =
            metrics_server_start(m, urls[i], NULL, NULL, NULL, err, sizeof(err));
        cr_assert_null(server, "\"%s\" was accepted", urls[i] ? urls[i] : "(null)");
        cr_assert_gt(strlen(err), 10, "no sentence for \"%s\"", urls[i] ? urls[i] : "(null)");
    }
    char err[256] = "";
    cr_assert_null(
        metrics_server_start(NULL, "http://127.0.0.1:0", NULL, NULL, NULL, err, sizeof(err)));
    cr_assert_gt(strlen(err), 10);
    metrics_destroy(m);
}

Test(metrics_server, a_port_in_use_gives_null_and_a_sentence)
{
    struct metrics *m = metrics_create();

    /* Another program's socket holds the port. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t address_len = sizeof(address);
    getsockname(fd, (struct sockaddr *)&address, &address_len);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(address.sin_port));
    char err[256] = "";
    cr_assert_null(metrics_server_start(m, url, NULL, NULL, NULL, err, sizeof(err)));
    cr_assert(strstr(err, url) != NULL && strstr(err, "in use") != NULL, "err: %s", err);
    close(fd);

    /* This process's own metrics server holds the port. */
    struct probes p = {.alive = 1, .ready = 1};
    struct metrics_server *first = server_start(m, &p);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", metrics_server_port(first));
    err[0] = '\0';
    cr_assert_null(metrics_server_start(m, url, NULL, NULL, NULL, err, sizeof(err)));
    cr_assert_gt(strlen(err), 10);
    /* ... and the failed attempt did not disturb the first one. */
    char *r = http_request(metrics_server_port(first), "GET", "/healthz");
    cr_assert_eq(response_status(r), 200, "%s", r);
    free(r);
    metrics_server_stop(first);
    metrics_destroy(m);
}

struct request_work {
    int port;
    char *response;
};

static void *request_thread(void *arg)
{
    struct request_work *w = arg;
    w->response = http_request(w->port, "GET", "/healthz");
    return NULL;
}

Test(metrics_server, stop_waits_for_a_probe_in_progress_before_returning)
{
    struct metrics *m = metrics_create();
    struct probes p = {.alive = 1, .ready = 1, .slow_ms = 300};
    struct metrics_server *server = server_start(m, &p);
    struct request_work work = {metrics_server_port(server), NULL};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, request_thread, &work), 0);
    while (!atomic_load(&p.entered)) {
        struct timespec pause = {0, 1000000L};
        nanosleep(&pause, NULL);
    }
    metrics_server_stop(server);
    /* The caller may now free what the probe uses: it must have returned. */
    cr_assert_eq(atomic_load(&p.left), 1, "stop returned while alive() was running");
    pthread_join(thread, NULL);
    free(work.response);
    metrics_destroy(m);
}

Test(metrics_server, stop_with_open_idle_connections_and_restart_many_times)
{
    struct metrics *m = metrics_create();
    struct probes p = {.alive = 1, .ready = 1};
    for (int i = 0; i < 20; i++) {
        struct metrics_server *server = server_start(m, &p);
        int idle = tcp_connect(metrics_server_port(server));
        int half = tcp_connect(metrics_server_port(server));
        send(half, "GET /metrics HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
        metrics_server_stop(server);
        close(idle);
        close(half);
    }
    metrics_destroy(m);
}
