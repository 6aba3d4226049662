/* test_metrics.c -- what proto/metrics.c promises: the exact Prometheus text
 * format 0.0.4 for every metric kind, and exact counts under many threads.
 * The HTTP server that answers /metrics, /healthz and /readyz is tested in
 * test_metrics_server.c; the strict format reader both use is in
 * metrics_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_test_lib.h"

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

TestSuite(metrics_threads, .init = watchdog_arm);

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
