/* bench_routing.c -- what routing costs a claim: the time of an empty claim
 * by a worker when nothing waits, and when `jobs` jobs wait at the head of
 * the queue for an encoder the worker lacks (the claim script looks at a
 * bounded window of them, so the cost must not grow with the queue).
 *
 *   build/bench/routing --port REDIS_PORT [--jobs 10000] [--claims 2000]
 *
 * Uses the Redis at 127.0.0.1:PORT, database 0, which it empties first.
 * Prints one line of key=value figures (microseconds per claim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_lib.h"
#include "ffpool.pb-c.h"
#include "queue.h"

/* Times `claims` claims by "cpu", all of which must find nothing. Returns
 * the median in microseconds, or -1 on an error. */
static long long claims_median_us(struct queue *queue, int claims)
{
    long long *samples = calloc((size_t)claims, sizeof(*samples));
    if (samples == NULL)
        return -1;
    long long median = -1;
    for (int i = 0; i < claims; i++) {
        struct queue_claim claim;
        long long start = now_us();
        int status = queue_claim(queue, "cpu", &claim);
        samples[i] = now_us() - start;
        queue_claim_clear(&claim);
        if (status != QUEUE_EMPTY) {
            fprintf(stderr, "bench_routing: claim answered %d: %s\n", status,
                    queue_last_error(queue));
            goto done;
        }
    }
    qsort(samples, (size_t)claims, sizeof(*samples), compare_ll);
    median = samples[claims / 2];
done:
    free(samples);
    return median;
}

int main(int argc, char **argv)
{
    int port = 0, jobs = 10000, claims = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--jobs") == 0)
            jobs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--claims") == 0)
            claims = atoi(argv[i + 1]);
    }
    if (port <= 0 || jobs < 0 || claims <= 0) {
        fprintf(stderr, "usage: routing --port REDIS_PORT [--jobs N] [--claims N]\n");
        return 2;
    }
    struct queue_config config = {.port = port, .unroutable_timeout_ms = 0};
    struct queue *queue = queue_open(&config);
    if (queue == NULL)
        return 1;

    /* A CPU-only worker: libx264, no VAAPI. */
    Ffpool__CodecInfo x264 = FFPOOL__CODEC_INFO__INIT, *encoders[] = {&x264};
    x264.name = "libx264";
    Ffpool__Capabilities caps = FFPOOL__CAPABILITIES__INIT;
    caps.n_encoders = 1;
    caps.encoders = encoders;
    uint8_t packed[256];
    size_t len = ffpool__capabilities__pack(&caps, packed);
    int result = 1;
    if (queue_worker_announce(queue, "cpu", 600000, 1, 0, 0, packed, len, NULL, NULL) != QUEUE_OK)
        goto failed;

    long long idle_us = claims_median_us(queue, claims);
    for (int i = 0; i < jobs; i++) {
        char id[QUEUE_ID_MAX];
        if (queue_submit_routed(queue, NULL, (const uint8_t *)"x", 1, 0, "encoder:h264_vaapi", id,
                                NULL) != QUEUE_OK)
            goto failed;
    }
    long long waiting_us = claims_median_us(queue, claims);
    if (idle_us < 0 || waiting_us < 0)
        goto failed;
    printf("jobs=%d claims=%d empty_claim_p50_us=%lld blocked_claim_p50_us=%lld\n", jobs, claims,
           idle_us, waiting_us);
    result = 0;
failed:
    if (result != 0)
        fprintf(stderr, "bench_routing: %s\n", queue_last_error(queue));
    queue_close(queue);
    return result;
}
