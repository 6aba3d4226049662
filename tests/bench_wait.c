/* bench_wait.c -- what redis.wait_replicas costs a worker: the time of one
 * checkpoint (the call a worker makes per segment) answered by the master
 * alone, and answered only once a replica holds it (Redis WAIT).
 *
 *   build/bench/wait --port MASTER_PORT [--checkpoints 2000]
 *
 * Uses the Redis at 127.0.0.1:PORT, which must have a replica connected.
 * Prints one line of key=value figures (microseconds per checkpoint). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_lib.h"
#include "queue.h"

/* Submits and claims one job, then checkpoints it count times; fills
 * p50/p99 (µs). Returns 0 or 1 (message printed). */
static int run(int port, int wait_replicas, int count, long long *p50, long long *p99)
{
    struct queue_config config = {.port = port,
                                  .timeout_ms = 2000,
                                  .lease_ttl_ms = 30000,
                                  .max_attempts = 3,
                                  .max_lost_leases = 3,
                                  .retention_ms = 600000,
                                  .wait_replicas = wait_replicas};
    snprintf(config.host, sizeof(config.host), "127.0.0.1");
    struct queue *queue = queue_open(&config);
    if (queue == NULL)
        return 1;
    char key[64], id[QUEUE_ID_MAX], token[QUEUE_CLAIM_TOKEN_MAX];
    snprintf(key, sizeof(key), "bench-wait-%d-%d", (int)getpid(), wait_replicas);
    static const unsigned char spec[] = {0x0a, 0x01, 'a'};
    int created = 0, status = queue_submit(queue, key, spec, sizeof(spec), 0, id, &created);
    struct queue_claim claim = {0};
    queue_claim_token_new(token);
    if (status == QUEUE_OK)
        status = queue_claim_with_token(queue, "bench-wait", token, &claim);
    long long *times = malloc(sizeof(*times) * (size_t)count);
    for (int i = 0; status == QUEUE_OK && times != NULL && i < count; i++) {
        long long start = now_us();
        status =
            queue_checkpoint(queue, claim.id, "bench-wait", claim.epoch, i, 3000000, 0, NULL, NULL);
        times[i] = now_us() - start;
    }
    if (status != QUEUE_OK || times == NULL) {
        fprintf(stderr, "wait: %s\n", times == NULL ? "out of memory" : queue_last_error(queue));
        free(times);
        queue_claim_clear(&claim);
        queue_close(queue);
        return 1;
    }
    qsort(times, (size_t)count, sizeof(*times), compare_ll);
    *p50 = times[count / 2];
    *p99 = times[count * 99 / 100];
    free(times);
    queue_claim_clear(&claim);
    queue_close(queue);
    return 0;
}

int main(int argc, char **argv)
{
    int port = 0, count = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--checkpoints") == 0)
            count = atoi(argv[i + 1]);
    }
    if (port <= 0 || count <= 0) {
        fprintf(stderr, "usage: wait --port MASTER_PORT [--checkpoints N]\n");
        return 2;
    }
    long long alone50, alone99, waited50, waited99;
    if (run(port, 0, count, &alone50, &alone99) != 0 ||
        run(port, 1, count, &waited50, &waited99) != 0)
        return 1;
    printf("checkpoints=%d master_alone_p50_us=%lld master_alone_p99_us=%lld "
           "wait_1_replica_p50_us=%lld wait_1_replica_p99_us=%lld\n",
           count, alone50, alone99, waited50, waited99);
    return 0;
}
