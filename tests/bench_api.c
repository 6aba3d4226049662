/* bench_api.c -- job API throughput: N client threads, each with its own
 * wire_client, send Submit (a new job_key each time) followed by Status of
 * the job it created, against a running scheduler, for a fixed time.
 *
 *   build/bench/api --url URL [--clients 32] [--seconds 5] [--no-status]
 *
 * Prints one line of key=value figures: submits, submits_per_s, and
 * p50/p99 latency in microseconds of Submit and of Status. Errors are
 * counted, never hidden: any failed call makes the exit status 1. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_lib.h"
#include "job_spec.h"
#include "wire.h"

#define BENCH_MAX_SAMPLES 2000000

struct bench_thread {
    pthread_t thread;
    int index;
    const char *url;
    int with_status;
    double seconds;
    long long *submit_us;
    long long *status_us;
    long n_submit;
    long n_status;
    long errors;
    char error[256];
};

static Ffpool__JobSpec *spec_message;

static void *bench_thread_main(void *arg)
{
    struct bench_thread *t = arg;
    char err[512];
    struct wire_client *client =
        wire_client_open(t->url, getenv("FFPOOL_API_TOKEN"), 5000, err, sizeof(err));
    if (client == NULL) {
        snprintf(t->error, sizeof(t->error), "%s", err);
        t->errors++;
        return NULL;
    }
    long long end = now_us() + (long long)(t->seconds * 1e6);
    long per_thread = BENCH_MAX_SAMPLES / 64;
    for (long i = 0; now_us() < end && t->n_submit < per_thread; i++) {
        char key[64];
        snprintf(key, sizeof(key), "bench-%d-%d-%ld", (int)getpid(), t->index, i);
        Ffpool__Request request = FFPOOL__REQUEST__INIT;
        Ffpool__SubmitRequest submit = FFPOOL__SUBMIT_REQUEST__INIT;
        submit.job_key = key;
        submit.spec = spec_message;
        request.body_case = FFPOOL__REQUEST__BODY_SUBMIT;
        request.submit = &submit;
        Ffpool__Reply *reply = NULL;
        long long start = now_us();
        if (wire_client_call(client, &request, &reply, err, sizeof(err)) != 0 ||
            reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
            snprintf(t->error, sizeof(t->error), "submit: %s", reply ? reply->message : err);
            t->errors++;
            if (reply != NULL)
                ffpool__reply__free_unpacked(reply, NULL);
            continue;
        }
        t->submit_us[t->n_submit++] = now_us() - start;
        char id[64];
        snprintf(id, sizeof(id), "%s", reply->job->job_id);
        ffpool__reply__free_unpacked(reply, NULL);
        if (!t->with_status)
            continue;

        Ffpool__Request status_request = FFPOOL__REQUEST__INIT;
        Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
        status.job_id = id;
        status_request.body_case = FFPOOL__REQUEST__BODY_STATUS;
        status_request.status = &status;
        start = now_us();
        if (wire_client_call(client, &status_request, &reply, err, sizeof(err)) != 0 ||
            reply->code != FFPOOL__ERROR_CODE__OK) {
            snprintf(t->error, sizeof(t->error), "status: %s", reply ? reply->message : err);
            t->errors++;
        } else {
            t->status_us[t->n_status++] = now_us() - start;
        }
        if (reply != NULL)
            ffpool__reply__free_unpacked(reply, NULL);
    }
    wire_client_close(client);
    return NULL;
}

/* Gathers every thread's samples and returns the q-quantile. */
static long long quantile(long long *all, long n, double q)
{
    if (n == 0)
        return 0;
    long i = (long)(q * (double)(n - 1) + 0.5);
    return all[i];
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    int clients = 32, with_status = 1;
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            clients = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--no-status") == 0)
            with_status = 0;
        else {
            fprintf(stderr, "usage: %s --url URL [--clients N] [--seconds S] [--no-status]\n",
                    argv[0]);
            return 2;
        }
    }
    if (url == NULL || clients < 1 || clients > 64) {
        fprintf(stderr, "bench_api: --url is required, --clients 1..64\n");
        return 2;
    }

    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.input, sizeof(spec.input), "/media/bench.mkv");
    snprintf(spec.output, sizeof(spec.output), "/transcodes/bench.m3u8");
    snprintf(spec.segment_filename, sizeof(spec.segment_filename), "/transcodes/bench%%d.ts");
    snprintf(spec.video_codec, sizeof(spec.video_codec), "libx264");
    snprintf(spec.audio_codec, sizeof(spec.audio_codec), "aac");
    spec.hls_time_us = 3000000;
    spec.start_number = 0;
    size_t len = 0;
    uint8_t *packed = job_spec_pack(&spec, &len);
    spec_message = ffpool__job_spec__unpack(NULL, len, packed);
    free(packed);

    long per_thread = BENCH_MAX_SAMPLES / 64;
    struct bench_thread *threads = calloc((size_t)clients, sizeof(*threads));
    for (int i = 0; i < clients; i++) {
        threads[i].index = i;
        threads[i].url = url;
        threads[i].with_status = with_status;
        threads[i].seconds = seconds;
        threads[i].submit_us = malloc(sizeof(long long) * (size_t)per_thread);
        threads[i].status_us = malloc(sizeof(long long) * (size_t)per_thread);
    }
    long long start = now_us();
    for (int i = 0; i < clients; i++)
        pthread_create(&threads[i].thread, NULL, bench_thread_main, &threads[i]);
    for (int i = 0; i < clients; i++)
        pthread_join(threads[i].thread, NULL);
    double elapsed = (double)(now_us() - start) / 1e6;

    long n_submit = 0, n_status = 0, errors = 0;
    for (int i = 0; i < clients; i++) {
        n_submit += threads[i].n_submit;
        n_status += threads[i].n_status;
        errors += threads[i].errors;
        if (threads[i].errors > 0)
            fprintf(stderr, "bench_api: client %d: %ld errors, last: %s\n", i, threads[i].errors,
                    threads[i].error);
    }
    long long *submit_all = malloc(sizeof(long long) * (size_t)(n_submit + 1));
    long long *status_all = malloc(sizeof(long long) * (size_t)(n_status + 1));
    long a = 0, b = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(submit_all + a, threads[i].submit_us,
               sizeof(long long) * (size_t)threads[i].n_submit);
        a += threads[i].n_submit;
        memcpy(status_all + b, threads[i].status_us,
               sizeof(long long) * (size_t)threads[i].n_status);
        b += threads[i].n_status;
        free(threads[i].submit_us);
        free(threads[i].status_us);
    }
    qsort(submit_all, (size_t)n_submit, sizeof(long long), compare_ll);
    qsort(status_all, (size_t)n_status, sizeof(long long), compare_ll);
    printf("clients=%d seconds=%.2f submits=%ld statuses=%ld errors=%ld submits_per_s=%.0f "
           "requests_per_s=%.0f submit_p50_us=%lld submit_p99_us=%lld status_p50_us=%lld "
           "status_p99_us=%lld\n",
           clients, elapsed, n_submit, n_status, errors, (double)n_submit / elapsed,
           (double)(n_submit + n_status) / elapsed, quantile(submit_all, n_submit, 0.50),
           quantile(submit_all, n_submit, 0.99), quantile(status_all, n_status, 0.50),
           quantile(status_all, n_status, 0.99));
    free(submit_all);
    free(status_all);
    free(threads);
    ffpool__job_spec__free_unpacked(spec_message, NULL);
    return errors == 0 ? 0 : 1;
}
