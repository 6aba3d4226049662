/* test_queue.c -- the queue and lease protocol, against a real redis-server.
 *
 * The server is 127.0.0.1:$FFPOOL_TEST_REDIS_PORT. Without that variable the
 * runner starts its own redis-server on a free loopback port (no persistence,
 * in a temporary folder) before the tests and stops it after them, so this
 * binary runs standalone.
 *
 * Criterion runs tests in parallel processes, and the queue's key names are
 * fixed, so every test works in a database of its own: it leases one of
 * databases 1-15 with SET ffpool-test:db:<n> NX in database 0, flushes it,
 * and gives it back at the end. Other test files sharing the server should
 * use the same convention.
 *
 * One test starts and kills a second redis-server of its own to check what
 * happens when Redis goes away and comes back. */
#include "queue.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define TEST_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define TEST_LEAK_CHECK 1
#endif
#endif

#include "ffpool.pb-c.h"
#include "pipeline_caps.h"

#define PORT_ENV "FFPOOL_TEST_REDIS_PORT"
#define SHORT_LEASE_MS 200
#define PAST_SHORT_LEASE_MS 350

/* ------------------------------------------------------ redis-server child */

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof(addr);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &length) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Starts redis-server in the foreground as a child that dies with us;
 * password NULL = no AUTH. */
static pid_t redis_spawn_auth(int port, const char *dir, const char *password)
{
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    if (password != NULL)
        execlp("redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1", "--dir",
               dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--requirepass",
               password, (char *)NULL);
    else
        execlp("redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1", "--dir",
               dir, "--save", "", "--appendonly", "no", "--daemonize", "no", (char *)NULL);
    _exit(127);
}

static pid_t redis_spawn(int port, const char *dir)
{
    return redis_spawn_auth(port, dir, NULL);
}

/* Waits until the server answers PING (or NOAUTH, which proves it is up).
 * Returns 1 when it does. */
static int redis_ready(int port, int timeout_ms)
{
    for (int64_t deadline = now_ms() + timeout_ms; now_ms() < deadline; sleep_ms(20)) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        redisContext *redis = redisConnectWithTimeout("127.0.0.1", port, tv);
        int ok = 0;
        if (redis != NULL && !redis->err) {
            redisReply *reply = redisCommand(redis, "PING");
            ok = reply != NULL &&
                 (reply->type == REDIS_REPLY_STATUS ||
                  (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOAUTH", 6) == 0));
            if (reply != NULL)
                freeReplyObject(reply);
        }
        if (redis != NULL)
            redisFree(redis);
        if (ok)
            return 1;
    }
    return 0;
}

static void redis_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The runner's own server, when the environment names none. */
static pid_t runner_redis_pid;
static char runner_redis_dir[] = "/tmp/ffpool-test-redis-XXXXXX";

ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    if (getenv(PORT_ENV) != NULL)
        return;
    if (mkdtemp(runner_redis_dir) == NULL) {
        perror("test_queue: mkdtemp");
        return;
    }
    int port = free_port();
    runner_redis_pid = redis_spawn(port, runner_redis_dir);
    if (runner_redis_pid < 0 || !redis_ready(port, 10000)) {
        fprintf(stderr, "test_queue: could not start redis-server on port %d\n", port);
        return;
    }
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    setenv(PORT_ENV, port_text, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    if (runner_redis_pid > 0) {
        redis_stop(runner_redis_pid);
        remove_tree(runner_redis_dir);
    }
}

/* ------------------------------------------------------------- fixture */

static struct {
    int port;
    int db;
    redisContext *admin; /* a plain connection to the test's database */
} test;

static redisReply *admin_command(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(test.admin, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "admin connection failed: %s", test.admin->errstr);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "admin command failed: %s", reply->str);
    return reply;
}

static void admin_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(test.admin, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "admin connection failed: %s", test.admin->errstr);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "admin command failed: %s", reply->str);
    freeReplyObject(reply);
}

static long long admin_integer(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(test.admin, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "admin connection failed: %s", test.admin->errstr);
    cr_assert_eq(reply->type, REDIS_REPLY_INTEGER, "expected an integer reply");
    long long value = reply->integer;
    freeReplyObject(reply);
    return value;
}

/* Leases a database of its own for this test and empties it. */
static void setup(void)
{
    const char *port = getenv(PORT_ENV);
    cr_assert_not_null(port, "no redis-server: set " PORT_ENV " or install redis-server");
    test.port = atoi(port);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    test.admin = redisConnectWithTimeout("127.0.0.1", test.port, tv);
    cr_assert(test.admin != NULL && !test.admin->err, "cannot connect to redis on port %d",
              test.port);
    test.db = 0;
    for (int64_t deadline = now_ms() + 60000; test.db == 0 && now_ms() < deadline; sleep_ms(50)) {
        for (int db = 1; db <= 15 && test.db == 0; db++) {
            redisReply *reply =
                admin_command("SET ffpool-test:db:%d %d NX PX 300000", db, getpid());
            if (reply->type == REDIS_REPLY_STATUS)
                test.db = db;
            freeReplyObject(reply);
        }
    }
    cr_assert_neq(test.db, 0, "no free test database");
    admin_ok("SELECT %d", test.db);
    admin_ok("FLUSHDB");
}

static void teardown(void)
{
    if (test.admin == NULL)
        return;
    if (test.db != 0) {
        redisReply *reply = redisCommand(test.admin, "SELECT 0");
        if (reply != NULL)
            freeReplyObject(reply);
        reply = redisCommand(test.admin, "DEL ffpool-test:db:%d", test.db);
        if (reply != NULL)
            freeReplyObject(reply);
    }
    redisFree(test.admin);
    test.admin = NULL;
#ifdef TEST_LEAK_CHECK
    /* Criterion 2.4 ignores what LeakSanitizer prints when a test process
     * exits, and an assertion failed in .fini is not counted either; an
     * abort here is ("crashed during its setup or teardown", exit 1). */
    if (__lsan_do_recoverable_leak_check() != 0) {
        fprintf(stderr, "test_queue: LeakSanitizer found leaks (see above)\n");
        abort();
    }
#endif
}

TestSuite(queue, .init = setup, .fini = teardown, .timeout = 120);

static struct queue_config test_config(void)
{
    struct queue_config config;
    memset(&config, 0, sizeof(config));
    snprintf(config.host, sizeof(config.host), "127.0.0.1");
    config.port = test.port;
    config.db = test.db;
    config.timeout_ms = 2000;
    config.lease_ttl_ms = 30000;
    config.max_attempts = 3;
    config.heartbeat_ttl_ms = 0;
    config.retention_ms = 600000;
    return config;
}

static struct queue *open_queue(const struct queue_config *config)
{
    struct queue *queue = queue_open(config);
    cr_assert_not_null(queue);
    return queue;
}

static void submit_new(struct queue *queue, const char *job_key, int start_number,
                       char id[QUEUE_ID_MAX])
{
    static const uint8_t spec[] = {0x0a, 0x03, 'a', 0x00, 'b'};
    int created = -1;
    int status = queue_submit(queue, job_key, spec, sizeof(spec), start_number, id, &created);
    cr_assert_eq(status, QUEUE_OK, "submit: %s", queue_last_error(queue));
    cr_assert_eq(created, 1);
}

static void claim_ok(struct queue *queue, const char *owner, struct queue_claim *claim)
{
    int status = queue_claim(queue, owner, claim);
    cr_assert_eq(status, QUEUE_OK, "claim by %s: status %d, %s", owner, status,
                 queue_last_error(queue));
}

static struct queue_job get_ok(struct queue *queue, const char *id)
{
    struct queue_job job;
    int status = queue_get(queue, id, &job);
    cr_assert_eq(status, QUEUE_OK, "get %s: %s", id, queue_last_error(queue));
    return job;
}

static void claim_empty(struct queue *queue, const char *owner)
{
    struct queue_claim claim;
    int status = queue_claim(queue, owner, &claim);
    cr_assert_eq(status, QUEUE_EMPTY, "claim: expected nothing, got status %d (%s)", status,
                 claim.id);
    queue_claim_clear(&claim);
}

/* ------------------------------------------------------- submit and get */

Test(queue, submit_is_idempotent_on_job_key)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char first[QUEUE_ID_MAX], again[QUEUE_ID_MAX], other[QUEUE_ID_MAX];
    submit_new(queue, "session-1", 5, first);

    int created = -1;
    cr_assert_eq(queue_submit(queue, "session-1", (const uint8_t *)"x", 1, 5, again, &created),
                 QUEUE_OK);
    cr_assert_eq(created, 0);
    cr_assert_str_eq(again, first);
    submit_new(queue, "session-2", 0, other);
    cr_assert_str_neq(other, first);

    struct queue_job job = get_ok(queue, first);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_eq(job.start_number, 5);
    cr_assert_eq(job.checkpoint, 4);
    cr_assert_eq(job.epoch, 0);
    cr_assert_eq(job.attempts, 0);

    /* Still the same job while it runs. */
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, first);
    cr_assert_eq(queue_submit(queue, "session-1", NULL, 0, 5, again, &created), QUEUE_OK);
    cr_assert_eq(created, 0);
    cr_assert_str_eq(again, first);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, finished_job_with_same_key_creates_a_new_job)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char first[QUEUE_ID_MAX], second[QUEUE_ID_MAX], third[QUEUE_ID_MAX];
    submit_new(queue, "session-1", 0, first);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(queue_complete(queue, claim.id, "worker-a", claim.epoch), QUEUE_OK);
    queue_claim_clear(&claim);

    submit_new(queue, "session-1", 0, second);
    cr_assert_str_neq(second, first);
    cr_assert_eq(get_ok(queue, first).state, QUEUE_JOB_DONE);

    cr_assert_eq(queue_cancel(queue, second), QUEUE_OK);
    submit_new(queue, "session-1", 0, third);
    cr_assert_str_neq(third, second);
    cr_assert_eq(get_ok(queue, second).state, QUEUE_JOB_CANCELLED);
    cr_assert_eq(get_ok(queue, third).state, QUEUE_JOB_QUEUED);
    queue_close(queue);
}

Test(queue, claim_returns_the_spec_bytes_intact)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    uint8_t spec[300];
    for (size_t i = 0; i < sizeof(spec); i++)
        spec[i] = (uint8_t)(i * 7);
    char id[QUEUE_ID_MAX];
    int created = 0;
    cr_assert_eq(queue_submit(queue, NULL, spec, sizeof(spec), 0, id, &created), QUEUE_OK);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(claim.spec_len, sizeof(spec));
    cr_assert_arr_eq(claim.spec, spec, sizeof(spec));
    cr_assert_eq(claim.epoch, 1);
    cr_assert_eq(claim.checkpoint, -1);
    cr_assert_eq(claim.takeover, 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, get_of_unknown_job_is_not_found)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    struct queue_job job;
    cr_assert_eq(queue_get(queue, "j999", &job), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_cancel(queue, "j999"), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_heartbeat(queue, "j999"), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_set_paused(queue, "j999", 1), QUEUE_NOT_FOUND);
    int64_t durations[2];
    cr_assert_eq(queue_segment_durations(queue, "j999", durations, 2, NULL), QUEUE_NOT_FOUND);
    /* A worker call on a job that does not exist is fenced: stop writing. */
    cr_assert_eq(queue_renew(queue, "j999", "worker-a", 1, NULL), QUEUE_FENCED);
    claim_empty(queue, "worker-a");
    queue_close(queue);
}

/* ---------------------------------------------------- claims and leases */

Test(queue, claim_prefers_expired_leases_over_new_jobs)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char old[QUEUE_ID_MAX], older[QUEUE_ID_MAX], fresh[QUEUE_ID_MAX];
    submit_new(queue, "older", 0, older);
    submit_new(queue, "old", 0, old);
    struct queue_claim first, second;
    claim_ok(queue, "worker-a", &first);
    cr_assert_str_eq(first.id, older);
    cr_assert_eq(queue_checkpoint(queue, older, "worker-a", first.epoch, 0, 6000000, 0, NULL), QUEUE_OK);
    sleep_ms(50);
    claim_ok(queue, "worker-b", &second);
    cr_assert_str_eq(second.id, old);
    submit_new(queue, "fresh", 0, fresh);
    sleep_ms(PAST_SHORT_LEASE_MS);

    /* Both leases expired: the one that expired first comes first, and both
     * come before the new job. */
    struct queue_claim claim;
    claim_ok(queue, "worker-c", &claim);
    cr_assert_str_eq(claim.id, older);
    cr_assert_eq(claim.takeover, 1);
    cr_assert_eq(claim.epoch, 2);
    cr_assert_eq(claim.checkpoint, 0);
    queue_claim_clear(&claim);
    claim_ok(queue, "worker-c", &claim);
    cr_assert_str_eq(claim.id, old);
    cr_assert_eq(claim.takeover, 1);
    queue_claim_clear(&claim);
    claim_ok(queue, "worker-c", &claim);
    cr_assert_str_eq(claim.id, fresh);
    cr_assert_eq(claim.takeover, 0);
    cr_assert_eq(claim.epoch, 1);
    queue_claim_clear(&claim);

    struct queue_job job = get_ok(queue, older);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_str_eq(job.owner, "worker-c");
    cr_assert_eq(job.takeovers, 1);
    cr_assert_eq(job.attempts, 1);
    queue_claim_clear(&first);
    queue_claim_clear(&second);
    queue_close(queue);
}

Test(queue, stale_owner_is_fenced_on_renew_checkpoint_complete)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim stale, fresh;
    claim_ok(queue, "worker-a", &stale);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", stale.epoch, 0, 6000000, 0, NULL), QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", stale.epoch, 1, 6000000, 0, NULL), QUEUE_OK);
    sleep_ms(PAST_SHORT_LEASE_MS);

    claim_ok(queue, "worker-b", &fresh);
    cr_assert_str_eq(fresh.id, id);
    cr_assert_eq(fresh.epoch, stale.epoch + 1);
    cr_assert_eq(fresh.checkpoint, 1);
    cr_assert_eq(fresh.takeover, 1);

    int paused = -1;
    struct queue_progress progress = {.frames = 99, .out_time_us = 1, .bytes = 1, .speed = 1.0};
    cr_assert_eq(queue_renew(queue, id, "worker-a", stale.epoch, &paused), QUEUE_FENCED);
    cr_assert_eq(paused, -1, "a fenced renew must not report a pause state");
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", stale.epoch, 7, 6000000, 0, NULL), QUEUE_FENCED);
    cr_assert_eq(queue_report_progress(queue, id, "worker-a", stale.epoch, &progress),
                 QUEUE_FENCED);
    cr_assert_eq(queue_release(queue, id, "worker-a", stale.epoch), QUEUE_FENCED);
    cr_assert_eq(queue_fail(queue, id, "worker-a", stale.epoch, "late"), QUEUE_FENCED);
    cr_assert_eq(queue_complete(queue, id, "worker-a", stale.epoch), QUEUE_FENCED);
    /* The right owner with a wrong epoch is fenced too. */
    cr_assert_eq(queue_renew(queue, id, "worker-b", stale.epoch, NULL), QUEUE_FENCED);

    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING);
    cr_assert_str_eq(job.owner, "worker-b");
    cr_assert_eq(job.epoch, fresh.epoch);
    cr_assert_eq(job.checkpoint, 1, "the stale checkpoint moved it to %d", job.checkpoint);
    cr_assert_eq(job.frames, 0);
    cr_assert_eq(job.attempts, 1);
    int64_t durations[8];
    cr_assert_eq(queue_segment_durations(queue, id, durations, 8, NULL), QUEUE_OK);
    cr_assert_eq(durations[7], 0, "the stale segment 7 was recorded");

    cr_assert_eq(queue_renew(queue, id, "worker-b", fresh.epoch, NULL), QUEUE_OK);
    cr_assert_eq(queue_complete(queue, id, "worker-b", fresh.epoch), QUEUE_OK);
    /* A repeated completion (a retry after a lost reply) is still OK. */
    cr_assert_eq(queue_complete(queue, id, "worker-b", fresh.epoch), QUEUE_OK);
    cr_assert_eq(get_ok(queue, id).state, QUEUE_JOB_DONE);
    cr_assert_eq(queue_renew(queue, id, "worker-b", fresh.epoch, NULL), QUEUE_FENCED);
    queue_claim_clear(&stale);
    queue_claim_clear(&fresh);
    queue_close(queue);
}

Test(queue, owner_may_renew_an_expired_lease_nobody_took)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    /* The epoch still holds, so nothing can have been written by another. */
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_OK);
    claim_empty(queue, "worker-b");
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, checkpoint_never_moves_backwards)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 3, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(claim.checkpoint, 2);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 5, 5000000, 0, NULL), QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 3, 3000000, 0, NULL), QUEUE_OK);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.checkpoint, 5);
    cr_assert_eq(job.progress_version, 2);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 6, 6000000, 0, NULL), QUEUE_OK);
    cr_assert_eq(get_ok(queue, id).checkpoint, 6);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, segment_durations_rebuild_the_playlist_after_a_takeover)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 10, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    /* The job's first segment carries its fMP4 fragment base. */
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 10, 6000000, 0,
                                  "1:1024:-1024 2:0:0"),
                 QUEUE_OK);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 11, 6006000, 0, NULL),
                 QUEUE_OK);
    struct queue_segments segments;
    int64_t durations[5] = {-1, -1, -1, -1, -1};
    cr_assert_eq(queue_segment_durations(queue, id, durations, 5, &segments), QUEUE_OK);
    cr_assert_eq(segments.last_index, -1, "no segment was marked last yet");
    cr_assert_str_eq(segments.fmp4_base, "1:1024:-1024 2:0:0");
    /* The stream's last segment: a run taking over after it has nothing to do. */
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 12, 2500000, 1, NULL),
                 QUEUE_OK);
    queue_claim_clear(&claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_ok(queue, "worker-b", &claim);
    cr_assert_eq(claim.checkpoint, 12);

    cr_assert_eq(queue_segment_durations(queue, id, durations, 5, &segments), QUEUE_OK);
    cr_assert_eq(segments.last_index, 12, "the last segment is known: %d", segments.last_index);
    cr_assert_str_eq(segments.fmp4_base, "1:1024:-1024 2:0:0", "the base outlives later checkpoints");
    cr_assert_eq(durations[0], 6000000);
    cr_assert_eq(durations[1], 6006000);
    cr_assert_eq(durations[2], 2500000);
    cr_assert_eq(durations[3], 0);
    cr_assert_eq(durations[4], 0);
    /* A base longer than the field is refused before it reaches Redis. */
    char long_base[QUEUE_FMP4_BASE_MAX + 8];
    memset(long_base, '1', sizeof(long_base) - 1);
    long_base[sizeof(long_base) - 1] = '\0';
    cr_assert_eq(queue_checkpoint(queue, id, "worker-b", claim.epoch, 12, 2500000, 1, long_base),
                 QUEUE_ERROR);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, release_makes_job_claimable_at_once_without_takeover_count)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char released[QUEUE_ID_MAX], waiting[QUEUE_ID_MAX];
    submit_new(queue, "first", 0, released);
    submit_new(queue, "second", 0, waiting);
    struct queue_claim draining, next;
    claim_ok(queue, "worker-a", &draining);
    cr_assert_str_eq(draining.id, released);
    cr_assert_eq(queue_checkpoint(queue, released, "worker-a", draining.epoch, 4, 1, 0, NULL), QUEUE_OK);
    cr_assert_eq(queue_release(queue, released, "worker-a", draining.epoch), QUEUE_OK);

    /* Long lease (30 s), yet the released job is claimable now, ahead of the
     * job that has waited in the queue. */
    claim_ok(queue, "worker-b", &next);
    cr_assert_str_eq(next.id, released);
    cr_assert_eq(next.takeover, 0);
    cr_assert_eq(next.epoch, draining.epoch + 1);
    cr_assert_eq(next.checkpoint, 4);
    struct queue_job job = get_ok(queue, released);
    cr_assert_eq(job.takeovers, 0);
    cr_assert_eq(job.attempts, 0);
    cr_assert_str_eq(job.owner, "worker-b");

    cr_assert_eq(queue_renew(queue, released, "worker-a", draining.epoch, NULL), QUEUE_FENCED);
    cr_assert_eq(queue_checkpoint(queue, released, "worker-a", draining.epoch, 9, 1, 0, NULL),
                 QUEUE_FENCED);
    cr_assert_eq(get_ok(queue, released).checkpoint, 4);
    queue_claim_clear(&draining);
    queue_claim_clear(&next);
    queue_close(queue);
}

Test(queue, fail_requeues_until_max_attempts_then_fails_with_error)
{
    struct queue_config config = test_config();
    config.max_attempts = 3;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX], other[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    for (int attempt = 1; attempt <= 3; attempt++) {
        struct queue_claim claim;
        claim_ok(queue, "worker-a", &claim);
        cr_assert_str_eq(claim.id, id);
        cr_assert_eq(claim.epoch, attempt);
        cr_assert_eq(claim.takeover, 0);
        if (attempt == 1)
            submit_new(queue, "other", 0, other); /* a requeued job goes first */
        char error[64];
        snprintf(error, sizeof(error), "decoder crashed (%d)", attempt);
        cr_assert_eq(queue_fail(queue, id, "worker-a", claim.epoch, error), QUEUE_OK);
        cr_assert_eq(queue_fail(queue, id, "worker-a", claim.epoch, "twice"), QUEUE_FENCED);
        struct queue_job job = get_ok(queue, id);
        cr_assert_eq(job.attempts, attempt);
        cr_assert_str_eq(job.error, error);
        cr_assert_eq(job.state, attempt < 3 ? QUEUE_JOB_QUEUED : QUEUE_JOB_FAILED);
        queue_claim_clear(&claim);
    }
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, other);
    queue_claim_clear(&claim);
    claim_empty(queue, "worker-a");
    queue_close(queue);
}

Test(queue, lost_leases_count_as_attempts_until_the_job_fails)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    config.max_attempts = 2;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "poison", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    queue_claim_clear(&claim);
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_ok(queue, "worker-b", &claim);
    cr_assert_eq(claim.takeover, 1);
    queue_claim_clear(&claim);
    cr_assert_eq(get_ok(queue, id).attempts, 1);
    sleep_ms(PAST_SHORT_LEASE_MS);

    claim_empty(queue, "worker-c");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_FAILED);
    cr_assert_eq(job.attempts, 2);
    cr_assert_str_eq(job.error, "worker lost the job 2 times");
    queue_close(queue);
}

/* ------------------------------------------------ cancel and heartbeats */

Test(queue, cancel_stops_owner)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char running[QUEUE_ID_MAX], waiting[QUEUE_ID_MAX];
    submit_new(queue, "running", 0, running);
    submit_new(queue, "waiting", 0, waiting);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, running);

    cr_assert_eq(queue_cancel(queue, running), QUEUE_OK);
    cr_assert_eq(queue_renew(queue, running, "worker-a", claim.epoch, NULL), QUEUE_CANCELLED);
    cr_assert_eq(queue_checkpoint(queue, running, "worker-a", claim.epoch, 0, 1, 0, NULL),
                 QUEUE_CANCELLED);
    cr_assert_eq(queue_complete(queue, running, "worker-a", claim.epoch), QUEUE_CANCELLED);
    cr_assert_eq(get_ok(queue, running).state, QUEUE_JOB_CANCELLED);

    cr_assert_eq(queue_cancel(queue, waiting), QUEUE_OK);
    cr_assert_eq(queue_cancel(queue, waiting), QUEUE_OK, "cancel is idempotent");
    cr_assert_eq(get_ok(queue, waiting).state, QUEUE_JOB_CANCELLED);
    claim_empty(queue, "worker-b");
    cr_assert_eq(admin_integer("LLEN ffpool:queue"), 0);
    cr_assert_eq(admin_integer("ZCARD ffpool:leases"), 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, heartbeat_lapse_cancels)
{
    struct queue_config config = test_config();
    config.heartbeat_ttl_ms = 300;
    struct queue *client = open_queue(&config);
    struct queue *worker = open_queue(&config);
    char running[QUEUE_ID_MAX], waiting[QUEUE_ID_MAX];
    submit_new(client, "running", 0, running);
    struct queue_claim claim;
    claim_ok(worker, "worker-a", &claim);

    /* Heartbeats keep the job alive well past one TTL. */
    for (int i = 0; i < 4; i++) {
        sleep_ms(150);
        cr_assert_eq(queue_heartbeat(client, running), QUEUE_OK);
        cr_assert_eq(queue_renew(worker, running, "worker-a", claim.epoch, NULL), QUEUE_OK);
    }
    sleep_ms(450);
    cr_assert_eq(queue_renew(worker, running, "worker-a", claim.epoch, NULL), QUEUE_CANCELLED);
    struct queue_job job = get_ok(client, running);
    cr_assert_eq(job.state, QUEUE_JOB_CANCELLED);
    cr_assert_str_eq(job.error, "the client stopped sending heartbeats");
    cr_assert_eq(queue_heartbeat(client, running), QUEUE_CANCELLED, "a lapse is final");

    /* A queued job whose client vanished is never handed out. */
    submit_new(client, "waiting", 0, waiting);
    sleep_ms(450);
    claim_empty(worker, "worker-a");
    cr_assert_eq(get_ok(client, waiting).state, QUEUE_JOB_CANCELLED);
    queue_claim_clear(&claim);
    queue_close(client);
    queue_close(worker);
}

Test(queue, progress_and_pause_reach_the_other_side)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    struct queue_progress progress = {
        .frames = 1234, .out_time_us = 51200000, .start_us = 48000000, .bytes = 987654321,
        .speed = 3.25};
    cr_assert_eq(queue_report_progress(queue, id, "worker-a", claim.epoch, &progress), QUEUE_OK);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.frames, 1234);
    cr_assert_eq(job.out_time_us, 51200000);
    cr_assert_eq(job.start_us, 48000000);
    cr_assert_eq(job.bytes, 987654321);
    cr_assert_float_eq(job.speed, 3.25, 1e-9);
    cr_assert_eq(job.progress_version, 1);

    int paused = -1;
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, &paused), QUEUE_OK);
    cr_assert_eq(paused, 0);
    cr_assert_eq(queue_set_paused(queue, id, 1), QUEUE_OK);
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, &paused), QUEUE_OK);
    cr_assert_eq(paused, 1);
    cr_assert_eq(get_ok(queue, id).paused, 1);
    cr_assert_eq(queue_set_paused(queue, id, 0), QUEUE_OK);
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, &paused), QUEUE_OK);
    cr_assert_eq(paused, 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, finished_jobs_expire_after_retention)
{
    struct queue_config config = test_config();
    config.retention_ms = 60000;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    cr_assert_eq(admin_integer("PTTL ffpool:job:%s", id), -1, "a live job must not expire");
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 1, 0, NULL), QUEUE_OK);
    cr_assert_eq(queue_complete(queue, id, "worker-a", claim.epoch), QUEUE_OK);
    long long ttl = admin_integer("PTTL ffpool:job:%s", id);
    cr_assert(ttl > 50000 && ttl <= 60000, "job PTTL %lld", ttl);
    ttl = admin_integer("PTTL ffpool:job:%s:segments", id);
    cr_assert(ttl > 50000 && ttl <= 60000, "segments PTTL %lld", ttl);
    ttl = admin_integer("PTTL ffpool:jobkey:session");
    cr_assert(ttl > 50000 && ttl <= 60000, "jobkey PTTL %lld", ttl);
    cr_assert_eq(admin_integer("ZCARD ffpool:leases"), 0);
    queue_claim_clear(&claim);
    queue_close(queue);
}

/* ----------------------------------------------------------- waking up */

static void *submit_later(void *arg)
{
    const struct queue_config *config = arg;
    struct queue *queue = queue_open(config);
    sleep_ms(200);
    char id[QUEUE_ID_MAX];
    int created;
    int status = queue_submit(queue, "late", NULL, 0, 0, id, &created);
    queue_close(queue);
    return (void *)(intptr_t)status;
}

Test(queue, wait_wakes_on_submit_and_times_out_when_idle)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);

    int64_t start = now_ms();
    cr_assert_eq(queue_wait(queue, 300), QUEUE_OK, "%s", queue_last_error(queue));
    int64_t waited = now_ms() - start;
    cr_assert(waited >= 250 && waited < 1500, "idle wait took %lld ms", (long long)waited);

    /* A block longer than the command time-out must not trip it. */
    config.timeout_ms = 100;
    struct queue *short_timeout = open_queue(&config);
    cr_assert_eq(queue_wait(short_timeout, 400), QUEUE_OK, "%s", queue_last_error(short_timeout));
    queue_close(short_timeout);

    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, submit_later, &config), 0);
    start = now_ms();
    cr_assert_eq(queue_wait(queue, 5000), QUEUE_OK);
    waited = now_ms() - start;
    void *status;
    pthread_join(thread, &status);
    cr_assert_eq((int)(intptr_t)status, QUEUE_OK);
    cr_assert(waited >= 100 && waited < 2000, "woken after %lld ms", (long long)waited);
    cr_assert(admin_integer("LLEN ffpool:wake") <= 16, "the wake list must stay short");
    queue_close(queue);
}

Test(queue, wake_list_stays_short)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    for (int i = 0; i < 100; i++) {
        char id[QUEUE_ID_MAX];
        int created;
        cr_assert_eq(queue_submit(queue, NULL, NULL, 0, 0, id, &created), QUEUE_OK);
    }
    cr_assert_leq(admin_integer("LLEN ffpool:wake"), 16);
    queue_close(queue);
}

/* ------------------------------------------------------------- the race */

#define RACE_CLAIMERS 50
#define RACE_JOBS 200

struct race {
    struct queue_config config;
    pthread_barrier_t start;
    char ids[RACE_JOBS][QUEUE_ID_MAX];
    int claims[RACE_JOBS];
    int completions[RACE_JOBS];
    int errors;
};

struct racer {
    struct race *race;
    int number;
};

static int race_index(const struct race *race, const char *id)
{
    for (int i = 0; i < RACE_JOBS; i++)
        if (strcmp(race->ids[i], id) == 0)
            return i;
    return -1;
}

static void *race_claimer(void *arg)
{
    struct racer *racer = arg;
    struct race *race = racer->race;
    char owner[32];
    snprintf(owner, sizeof(owner), "racer-%d", racer->number);
    struct queue *queue = queue_open(&race->config);
    pthread_barrier_wait(&race->start);
    for (;;) {
        struct queue_claim claim;
        int status = queue_claim(queue, owner, &claim);
        if (status == QUEUE_EMPTY)
            break;
        int index = status == QUEUE_OK ? race_index(race, claim.id) : -1;
        if (index < 0) {
            __atomic_fetch_add(&race->errors, 1, __ATOMIC_SEQ_CST);
            queue_claim_clear(&claim);
            break;
        }
        __atomic_fetch_add(&race->claims[index], 1, __ATOMIC_SEQ_CST);
        if (queue_complete(queue, claim.id, owner, claim.epoch) == QUEUE_OK)
            __atomic_fetch_add(&race->completions[index], 1, __ATOMIC_SEQ_CST);
        else
            __atomic_fetch_add(&race->errors, 1, __ATOMIC_SEQ_CST);
        queue_claim_clear(&claim);
    }
    queue_close(queue);
    return NULL;
}

Test(queue, race_50_claimers_200_jobs_each_completed_exactly_once)
{
    struct race *race = calloc(1, sizeof(*race));
    cr_assert_not_null(race);
    race->config = test_config();
    struct queue *queue = open_queue(&race->config);
    for (int i = 0; i < RACE_JOBS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "race-%d", i);
        submit_new(queue, key, 0, race->ids[i]);
    }
    pthread_barrier_init(&race->start, NULL, RACE_CLAIMERS);
    pthread_t threads[RACE_CLAIMERS];
    struct racer racers[RACE_CLAIMERS];
    for (int i = 0; i < RACE_CLAIMERS; i++) {
        racers[i] = (struct racer){.race = race, .number = i};
        cr_assert_eq(pthread_create(&threads[i], NULL, race_claimer, &racers[i]), 0);
    }
    for (int i = 0; i < RACE_CLAIMERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&race->start);

    cr_assert_eq(race->errors, 0);
    for (int i = 0; i < RACE_JOBS; i++) {
        cr_assert_eq(race->claims[i], 1, "job %s claimed %d times", race->ids[i], race->claims[i]);
        cr_assert_eq(race->completions[i], 1, "job %s completed %d times", race->ids[i],
                     race->completions[i]);
        struct queue_job job = get_ok(queue, race->ids[i]);
        cr_assert_eq(job.state, QUEUE_JOB_DONE);
        cr_assert_eq(job.epoch, 1);
        cr_assert_eq(job.takeovers, 0);
        cr_assert(strncmp(job.owner, "racer-", 6) == 0);
    }
    cr_assert_eq(admin_integer("LLEN ffpool:queue"), 0);
    cr_assert_eq(admin_integer("ZCARD ffpool:leases"), 0);
    queue_close(queue);
    free(race);
}

/* ------------------------------------------------- Redis going away */

Test(queue, script_cache_flush_falls_back_to_eval)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "before", 0, id);
    /* Server-wide; other tests just take the same fallback. */
    admin_ok("SCRIPT FLUSH");
    submit_new(queue, "after", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, redis_down_gives_queue_error_not_crash_and_reconnects_when_it_returns)
{
    char dir[] = "/tmp/ffpool-test-down-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int port = free_port();
    pid_t server = redis_spawn(port, dir);
    cr_assert(redis_ready(port, 10000), "own redis-server did not start");

    struct queue_config config = test_config();
    config.port = port;
    config.db = 0;
    config.timeout_ms = 500;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);

    redis_stop(server);
    struct queue_job job;
    struct queue_claim none;
    cr_assert_eq(queue_renew(queue, id, "worker-a", claim.epoch, NULL), QUEUE_ERROR);
    cr_assert(strstr(queue_last_error(queue), "Redis") != NULL, "error: %s",
              queue_last_error(queue));
    cr_assert_eq(queue_claim(queue, "worker-a", &none), QUEUE_ERROR);
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 1, 0, NULL), QUEUE_ERROR);
    cr_assert_eq(queue_complete(queue, id, "worker-a", claim.epoch), QUEUE_ERROR);
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    cr_assert_eq(queue_submit(queue, "other", NULL, 0, 0, id, NULL), QUEUE_ERROR);
    cr_assert_neq(queue_last_error(queue)[0], '\0');

    /* A worker loop of claim + wait paces itself instead of spinning. */
    int loops = 0;
    for (int64_t start = now_ms(); now_ms() - start < 1000; loops++) {
        cr_assert_eq(queue_claim(queue, "worker-a", &none), QUEUE_ERROR);
        cr_assert_eq(queue_wait(queue, 100), QUEUE_ERROR);
    }
    cr_assert(loops <= 25, "%d claim+wait rounds in 1 s against a dead Redis", loops);

    server = redis_spawn(port, dir);
    cr_assert(redis_ready(port, 10000), "own redis-server did not restart");
    int64_t back = now_ms();
    int status = QUEUE_ERROR;
    while (status == QUEUE_ERROR && now_ms() - back < 5000) {
        status = queue_submit(queue, "session", NULL, 0, 0, id, NULL);
        if (status == QUEUE_ERROR)
            sleep_ms(20);
    }
    cr_assert_eq(status, QUEUE_OK, "no reconnect: %s", queue_last_error(queue));
    cr_assert(now_ms() - back < 2500, "reconnect took %lld ms", (long long)(now_ms() - back));
    queue_claim_clear(&claim);
    /* The restarted server has no persistence: the job is new, and claim
     * works with scripts the new server had never seen (NOSCRIPT -> EVAL). */
    claim_ok(queue, "worker-a", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(claim.epoch, 1);
    queue_claim_clear(&claim);

    queue_close(queue);
    redis_stop(server);
    remove_tree(dir);
}

Test(queue, password_and_database_are_used_on_connect)
{
    char dir[] = "/tmp/ffpool-test-auth-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int port = free_port();
    pid_t server = redis_spawn_auth(port, dir, "s3cret pass");
    cr_assert(redis_ready(port, 10000), "own redis-server did not start");

    struct queue_config config = test_config();
    config.port = port;
    config.db = 7;
    snprintf(config.password, sizeof(config.password), "s3cret pass");
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);

    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    redisContext *check = redisConnectWithTimeout("127.0.0.1", port, tv);
    cr_assert(check != NULL && !check->err);
    redisReply *reply = redisCommand(check, "AUTH %s", "s3cret pass");
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = redisCommand(check, "SELECT 7");
    freeReplyObject(reply);
    reply = redisCommand(check, "EXISTS ffpool:job:%s", id);
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1,
              "the job is not in database 7");
    freeReplyObject(reply);
    redisFree(check);

    snprintf(config.password, sizeof(config.password), "wrong");
    struct queue *intruder = open_queue(&config);
    struct queue_job job;
    cr_assert_eq(queue_get(intruder, id, &job), QUEUE_ERROR);
    cr_assert(strstr(queue_last_error(intruder), "AUTH") != NULL, "error: %s",
              queue_last_error(intruder));
    queue_close(intruder);

    queue_close(queue);
    redis_stop(server);
    remove_tree(dir);
}

Test(queue, corrupt_keys_give_queue_error_not_crash)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);

    /* Someone else's value where the queue keeps its list. */
    admin_ok("DEL ffpool:queue");
    admin_ok("SET ffpool:queue not-a-list");
    struct queue_claim claim;
    cr_assert_eq(queue_claim(queue, "worker-a", &claim), QUEUE_ERROR);
    cr_assert(strstr(queue_last_error(queue), "WRONGTYPE") != NULL, "error: %s",
              queue_last_error(queue));
    queue_claim_clear(&claim);
    admin_ok("DEL ffpool:queue");
    claim_empty(queue, "worker-a"); /* reconnected after the error */

    /* A job record that does not parse. */
    admin_ok("HSET ffpool:job:%s epoch not-a-number", id);
    struct queue_job job;
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    admin_ok("HSET ffpool:job:%s state sleeping epoch 0", id);
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    admin_ok("DEL ffpool:job:%s", id);
    admin_ok("SET ffpool:job:%s a-string", id);
    cr_assert_eq(queue_get(queue, id, &job), QUEUE_ERROR);
    cr_assert_eq(queue_renew(queue, id, "worker-a", 1, NULL), QUEUE_ERROR);

    /* Bad arguments are refused before reaching Redis. */
    char long_id[QUEUE_ID_MAX + 8];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    cr_assert_eq(queue_get(queue, long_id, &job), QUEUE_ERROR);
    cr_assert_eq(queue_renew(queue, "j1", "", 1, NULL), QUEUE_ERROR);
    cr_assert_eq(queue_claim(queue, NULL, &claim), QUEUE_ERROR);
    queue_claim_clear(&claim);
    cr_assert_str_eq(queue_job_state_name(QUEUE_JOB_CANCELLED), "cancelled");
    cr_assert_str_eq(queue_job_state_name((enum queue_job_state)42), "unknown");
    queue_close(queue);
}

/* ------------------------------------------------ lease expiry, sentinel */

Test(queue, empty_claim_tells_when_the_next_lease_expires)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = 3000;
    struct queue *queue = open_queue(&config);
    struct queue_claim claim;
    cr_assert_eq(queue_claim(queue, "worker-a", &claim), QUEUE_EMPTY);
    cr_assert_eq(claim.next_due_ms, -1, "no lease held: %lld", (long long)claim.next_due_ms);

    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim held;
    claim_ok(queue, "worker-a", &held);
    cr_assert_eq(queue_claim(queue, "worker-b", &claim), QUEUE_EMPTY);
    cr_assert(claim.next_due_ms > 2500 && claim.next_due_ms <= 3000, "due in %lld ms",
              (long long)claim.next_due_ms);

    /* Waking at the announced time finds the expired lease. */
    sleep_ms((int)claim.next_due_ms + 2);
    struct queue_claim taken;
    claim_ok(queue, "worker-b", &taken);
    cr_assert_str_eq(taken.id, id);
    cr_assert_eq(taken.takeover, 1);
    queue_claim_clear(&held);
    queue_claim_clear(&taken);
    queue_close(queue);
}

/* Starts a program with argv as a child that dies with us. */
static pid_t spawn_argv(char *const argv[])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    execvp(argv[0], argv);
    _exit(127);
}

/* A command on a fresh connection to 127.0.0.1:port; NULL if unreachable. */
static redisReply *port_command(int port, const char *fmt, ...)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *redis = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *reply = NULL;
    if (redis != NULL && !redis->err) {
        va_list ap;
        va_start(ap, fmt);
        reply = redisvCommand(redis, fmt, ap);
        va_end(ap);
    }
    if (redis != NULL)
        redisFree(redis);
    return reply;
}

/* The port the sentinel names as master, or -1. */
static int sentinel_master_port(int sentinel_port)
{
    redisReply *reply = port_command(sentinel_port, "SENTINEL get-master-addr-by-name ffm");
    int port = -1;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        port = atoi(reply->element[1]->str);
    if (reply != NULL)
        freeReplyObject(reply);
    return port;
}

/* 1 once the sentinel sees a healthy replica it could promote. */
static int sentinel_has_replica(int sentinel_port)
{
    redisReply *reply = port_command(sentinel_port, "SENTINEL replicas ffm");
    int ok = 0;
    for (size_t i = 0; reply != NULL && reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        const redisReply *fields = reply->element[i];
        for (size_t k = 0; k + 1 < fields->elements; k += 2)
            if (strcmp(fields->element[k]->str, "flags") == 0 &&
                strcmp(fields->element[k + 1]->str, "slave") == 0)
                ok = 1;
    }
    if (reply != NULL)
        freeReplyObject(reply);
    return ok;
}

Test(queue, sentinel_finds_the_master_and_follows_a_failover)
{
    char dir[] = "/tmp/ffpool-test-sentinel-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int master_port = free_port(), replica_port = free_port(), sentinel_port = free_port();
    char master_text[16], replica_text[16], conf[sizeof(dir) + 32];
    snprintf(master_text, sizeof(master_text), "%d", master_port);
    snprintf(replica_text, sizeof(replica_text), "%d", replica_port);
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", dir);
    FILE *file = fopen(conf, "w");
    cr_assert_not_null(file);
    fprintf(file,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor ffm 127.0.0.1 %d 1\n"
            "sentinel down-after-milliseconds ffm 1000\n"
            "sentinel failover-timeout ffm 5000\n",
            sentinel_port, dir, master_port);
    fclose(file);
    // clang-format off
    char *master_argv[] = {"redis-server", "--port", master_text, "--bind", "127.0.0.1", "--dir",
                           dir, "--save", "", "--appendonly", "no", "--dbfilename", "m.rdb", NULL};
    char *replica_argv[] = {"redis-server", "--port", replica_text, "--bind", "127.0.0.1",
                            "--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename",
                            "r.rdb", "--replicaof", "127.0.0.1", master_text, NULL};
    // clang-format on
    char *sentinel_argv[] = {"redis-sentinel", conf, NULL};
    pid_t master = spawn_argv(master_argv);
    pid_t replica = spawn_argv(replica_argv);
    cr_assert(redis_ready(master_port, 10000) && redis_ready(replica_port, 10000));
    pid_t sentinel = spawn_argv(sentinel_argv);
    cr_assert(redis_ready(sentinel_port, 10000), "redis-sentinel did not start");
    int64_t deadline = now_ms() + 20000;
    while (!sentinel_has_replica(sentinel_port) && now_ms() < deadline)
        sleep_ms(100);
    cr_assert(sentinel_has_replica(sentinel_port), "the sentinel never saw the replica");

    /* host:port point at the replica: only the sentinel can lead to the
     * master; the first sentinel listed is dead and is skipped. */
    struct queue_config config = test_config();
    config.port = replica_port;
    config.db = 0;
    config.timeout_ms = 1000;
    snprintf(config.sentinels, sizeof(config.sentinels), "127.0.0.1:%d, 127.0.0.1:%d", free_port(),
             sentinel_port);
    snprintf(config.master_name, sizeof(config.master_name), "ffm");
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_new(queue, "session", 0, id);
    struct queue_claim claim;
    claim_ok(queue, "worker-a", &claim);
    /* The claim has reached the replica before the failover. */
    int replicated = 0;
    for (deadline = now_ms() + 10000; !replicated && now_ms() < deadline; sleep_ms(20)) {
        redisReply *state = port_command(replica_port, "HGET ffpool:job:%s state", id);
        replicated = state != NULL && state->type == REDIS_REPLY_STRING &&
                     strcmp(state->str, "running") == 0;
        if (state != NULL)
            freeReplyObject(state);
    }
    cr_assert(replicated, "the replica never caught up");
    redisReply *reply = port_command(master_port, "DEL ffpool:wake");
    cr_assert_not_null(reply);
    freeReplyObject(reply);

    /* A second worker, idle, connected to the old master. */
    struct queue *idle = open_queue(&config);
    cr_assert_eq(queue_wait(idle, 1), QUEUE_OK);
    reply = port_command(sentinel_port, "SENTINEL FAILOVER ffm");
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STATUS, "SENTINEL FAILOVER: %s",
              reply != NULL && reply->str != NULL ? reply->str : "no answer");
    freeReplyObject(reply);
    deadline = now_ms() + 20000;
    while (sentinel_master_port(sentinel_port) != replica_port && now_ms() < deadline)
        sleep_ms(50);
    cr_assert_eq(sentinel_master_port(sentinel_port), replica_port, "no failover");
    /* Until the sentinel has demoted the old master, writes there still
     * succeed (and are lost when it resyncs): the split-brain window that
     * fencing by epoch absorbs. The test waits it out. */
    int demoted = 0;
    while (!demoted && now_ms() < deadline) {
        reply = port_command(master_port, "ROLE");
        demoted = reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
                  strcmp(reply->element[0]->str, "slave") == 0;
        if (reply != NULL)
            freeReplyObject(reply);
        if (!demoted)
            sleep_ms(50);
    }
    cr_assert(demoted, "the old master was never demoted");

    /* The old connection hits a demoted master (READONLY) or a dropped
     * socket: the queue reconnects through the sentinel and carries on with
     * the same lease on the new master. */
    int status = QUEUE_ERROR;
    int64_t start = now_ms();
    while (status == QUEUE_ERROR && now_ms() - start < 10000) {
        status = queue_renew(queue, id, "worker-a", claim.epoch, NULL);
        if (status == QUEUE_ERROR)
            sleep_ms(50);
    }
    cr_assert_eq(status, QUEUE_OK, "renew after failover: %s", queue_last_error(queue));
    cr_assert_eq(queue_checkpoint(queue, id, "worker-a", claim.epoch, 0, 3000000, 0, NULL), QUEUE_OK);
    reply = port_command(replica_port, "HGET ffpool:job:%s checkpoint", id);
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "0") == 0,
              "checkpoint not on the new master");
    freeReplyObject(reply);

    /* The idle worker's loop (wait, claim) errs once on the demoted master
     * (READONLY, UNBLOCKED or a killed socket), reconnects through the
     * sentinel and claims what is submitted on the new master. A wait never
     * outlasts the scan interval, so this holds even when a blocked BLPOP
     * is not unblocked by the demotion (Redis 7.0.15 under Sentinel: seen). */
    char second[QUEUE_ID_MAX];
    submit_new(queue, "session-2", 0, second);
    struct queue_claim next;
    status = QUEUE_ERROR;
    for (start = now_ms(); status != QUEUE_OK && now_ms() - start < 10000;) {
        queue_wait(idle, 500);
        status = queue_claim(idle, "worker-b", &next);
    }
    cr_assert_eq(status, QUEUE_OK, "idle worker did not follow: %s", queue_last_error(idle));
    cr_assert_str_eq(next.id, second);
    queue_claim_clear(&next);
    queue_close(idle);

    queue_claim_clear(&claim);
    queue_close(queue);
    redis_stop(sentinel);
    redis_stop(replica);
    redis_stop(master);
    remove_tree(dir);
}

/* ---------------------------------------------- operators: drain, attach */

Test(queue, drain_request_reaches_the_worker_in_its_next_announcement)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    int need_caps = -1, drain = -1;
    cr_assert_eq(queue_worker_request_drain(queue, "worker-d"), QUEUE_NOT_FOUND,
                 "a worker that never announced itself cannot be drained");
    cr_assert_eq(queue_worker_announce(queue, "worker-d", 5000, 1, 0, 0, (const uint8_t *)"c", 1,
                                       &need_caps, &drain),
                 QUEUE_OK, "%s", queue_last_error(queue));
    cr_assert_eq(need_caps, 0);
    cr_assert_eq(drain, 0);
    cr_assert_eq(queue_worker_request_drain(queue, "worker-d"), QUEUE_OK, "%s",
                 queue_last_error(queue));
    cr_assert_eq(
        queue_worker_announce(queue, "worker-d", 5000, 1, 0, 0, NULL, 0, &need_caps, &drain),
        QUEUE_OK);
    cr_assert_eq(drain, 1);
    cr_assert_eq(need_caps, 0, "the stored capabilities are kept");
    /* Another worker is not affected. */
    cr_assert_eq(
        queue_worker_announce(queue, "worker-e", 5000, 1, 0, 0, NULL, 0, &need_caps, &drain),
        QUEUE_OK);
    cr_assert_eq(drain, 0);
    cr_assert_eq(need_caps, 1, "a new worker is asked for its capabilities");
    queue_close(queue);
}

Test(queue, job_find_returns_the_job_a_key_created)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX], found[QUEUE_ID_MAX];
    submit_new(queue, "session-find", 0, id);
    cr_assert_eq(queue_job_find(queue, "session-find", found), QUEUE_OK, "%s",
                 queue_last_error(queue));
    cr_assert_str_eq(found, id);
    cr_assert_eq(queue_job_find(queue, "no-such-key", found), QUEUE_NOT_FOUND);
    cr_assert_eq(queue_job_find(queue, "", found), QUEUE_ERROR);
    queue_close(queue);
}

/* -------------------------------------------------------------- routing */

/* Announces worker_id offering exactly the space-separated "kind:name"
 * words (encoder, decoder, filter, hwaccel), as a packed Capabilities. */
static void announce_offering_for(struct queue *queue, const char *worker_id, const char *words,
                                  int64_t ttl_ms)
{
    Ffpool__Capabilities caps = FFPOOL__CAPABILITIES__INIT;
    Ffpool__CodecInfo codecs[16], *encoders[16], *decoders[16];
    Ffpool__FilterInfo filters[16], *filter_ptrs[16];
    char *hwaccels[16];
    char copy[512], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", words);
    size_t n_codecs = 0;
    for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        char *name = strchr(w, ':');
        cr_assert_not_null(name);
        *name++ = '\0';
        if (strcmp(w, "encoder") == 0 || strcmp(w, "decoder") == 0) {
            Ffpool__CodecInfo *c = &codecs[n_codecs++];
            ffpool__codec_info__init(c);
            c->name = name;
            if (w[0] == 'e')
                encoders[caps.n_encoders++] = c;
            else
                decoders[caps.n_decoders++] = c;
        } else if (strcmp(w, "filter") == 0) {
            ffpool__filter_info__init(&filters[caps.n_filters]);
            filters[caps.n_filters].name = name;
            filter_ptrs[caps.n_filters] = &filters[caps.n_filters];
            caps.n_filters++;
        } else {
            hwaccels[caps.n_hwaccels++] = name;
        }
    }
    caps.encoders = encoders;
    caps.decoders = decoders;
    caps.filters = filter_ptrs;
    caps.hwaccels = hwaccels;
    uint8_t packed[4096];
    size_t len = ffpool__capabilities__get_packed_size(&caps);
    cr_assert(len <= sizeof(packed));
    ffpool__capabilities__pack(&caps, packed);
    int need_caps = -1;
    cr_assert_eq(
        queue_worker_announce(queue, worker_id, ttl_ms, 1, 0, 0, packed, len, &need_caps, NULL),
        QUEUE_OK, "announce: %s", queue_last_error(queue));
    cr_assert_eq(need_caps, 0);
}

static void announce_offering(struct queue *queue, const char *worker_id, const char *words)
{
    announce_offering_for(queue, worker_id, words, 60000);
}

static void submit_routed(struct queue *queue, const char *needs, char id[QUEUE_ID_MAX])
{
    static const uint8_t spec[] = {0x0a, 0x01, 'r'};
    int created = -1;
    int status = queue_submit_routed(queue, NULL, spec, sizeof(spec), 0, needs, id, &created);
    cr_assert_eq(status, QUEUE_OK, "submit: %s", queue_last_error(queue));
    cr_assert_eq(created, 1);
}

Test(queue, vaapi_job_is_claimed_only_by_a_worker_that_offers_vaapi)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "cpu", "encoder:libx264 encoder:aac filter:scale");
    announce_offering(queue, "gpu", "encoder:libx264 encoder:h264_vaapi hwaccel:vaapi");
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi hwaccel:vaapi", id);
    cr_assert_str_eq(get_ok(queue, id).requires, "encoder:h264_vaapi hwaccel:vaapi");

    claim_empty(queue, "cpu");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_str_eq(job.waiting, "", "a live worker can run it: it just waits its turn, not '%s'",
                     job.waiting);
    claim_empty(queue, "never-announced");

    struct queue_claim claim;
    claim_ok(queue, "gpu", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_str_eq(get_ok(queue, id).owner, "gpu");
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, jobs_without_requirements_go_to_any_worker_past_a_routed_one)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "cpu", "encoder:libx264");
    char routed[QUEUE_ID_MAX], plain[QUEUE_ID_MAX], plain2[QUEUE_ID_MAX];
    submit_routed(queue, "filter:tonemapx", routed);
    submit_new(queue, NULL, 0, plain);
    submit_new(queue, NULL, 0, plain2);

    /* The routed job at the head does not block the ones behind it, and a
     * worker that never announced itself still gets unrouted jobs. */
    struct queue_claim first, second;
    claim_ok(queue, "cpu", &first);
    cr_assert_str_eq(first.id, plain);
    claim_ok(queue, "never-announced", &second);
    cr_assert_str_eq(second.id, plain2);
    cr_assert_str_eq(get_ok(queue, plain2).requires, "");
    claim_empty(queue, "cpu");
    cr_assert_eq(get_ok(queue, routed).state, QUEUE_JOB_QUEUED);
    queue_claim_clear(&first);
    queue_claim_clear(&second);
    queue_close(queue);
}

Test(queue, takeover_of_a_routed_job_goes_to_a_capable_worker_before_new_jobs)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "cpu", "encoder:libx264");
    announce_offering(queue, "gpu-1", "encoder:libx264 encoder:h264_vaapi");
    announce_offering(queue, "gpu-2", "encoder:libx264 encoder:h264_vaapi");
    char lost[QUEUE_ID_MAX], newer[QUEUE_ID_MAX], plain[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi", lost);
    struct queue_claim held;
    claim_ok(queue, "gpu-1", &held);
    cr_assert_str_eq(held.id, lost);
    submit_routed(queue, "encoder:h264_vaapi", newer);
    submit_new(queue, NULL, 0, plain);
    sleep_ms(PAST_SHORT_LEASE_MS); /* gpu-1 "dies": its lease expires */

    /* cpu cannot take the expired vaapi job over; it gets the plain one. */
    struct queue_claim by_cpu, by_gpu;
    claim_ok(queue, "cpu", &by_cpu);
    cr_assert_str_eq(by_cpu.id, plain);
    cr_assert_eq(get_ok(queue, lost).state, QUEUE_JOB_RUNNING, "still gpu-1's until taken over");
    /* gpu-2 takes the expired job over before the newer vaapi job. */
    claim_ok(queue, "gpu-2", &by_gpu);
    cr_assert_str_eq(by_gpu.id, lost);
    cr_assert_eq(by_gpu.takeover, 1);
    cr_assert_eq(get_ok(queue, newer).state, QUEUE_JOB_QUEUED);
    queue_claim_clear(&held);
    queue_claim_clear(&by_cpu);
    queue_claim_clear(&by_gpu);
    queue_close(queue);
}

Test(queue, unroutable_job_says_why_it_waits_then_fails_with_that_reason)
{
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 1000;
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "cpu", "encoder:libx264 filter:scale");
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:libx264 encoder:h264_vaapi", id);

    int64_t started = now_ms();
    claim_empty(queue, "cpu");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED, "the first look starts the clock, it fails nothing");
    cr_assert_str_eq(job.waiting, "no worker offers encoder:h264_vaapi");

    /* Any worker's claim enforces the deadline; no scheduler is involved. */
    for (int64_t deadline = now_ms() + 30000;
         get_ok(queue, id).state == QUEUE_JOB_QUEUED && now_ms() < deadline; sleep_ms(100))
        claim_empty(queue, "cpu");
    job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_FAILED, "state %s", queue_job_state_name(job.state));
    cr_assert(now_ms() - started >= 1000, "failed before the timeout");
    cr_assert(strncmp(job.error, "no worker offers encoder:h264_vaapi (waited ", 44) == 0,
              "error: %s", job.error);
    claim_empty(queue, "cpu");
    queue_close(queue);
}

Test(queue, unroutable_job_fails_on_time_while_every_worker_is_busy)
{
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 1000;
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "busy", "encoder:libx264");
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi", id);

    /* A busy worker never claims, but it announces itself every 2 s. */
    announce_offering(queue, "busy", "encoder:libx264");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED);
    cr_assert_str_eq(job.waiting, "no worker offers encoder:h264_vaapi");
    for (int64_t deadline = now_ms() + 30000;
         get_ok(queue, id).state == QUEUE_JOB_QUEUED && now_ms() < deadline; sleep_ms(100))
        cr_assert_eq(queue_worker_announce(queue, "busy", 60000, 1, 1, 0, NULL, 0, NULL, NULL),
                     QUEUE_OK);
    job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_FAILED, "state %s", queue_job_state_name(job.state));
    cr_assert(strncmp(job.error, "no worker offers encoder:h264_vaapi (waited ", 44) == 0,
              "error: %s", job.error);
    queue_close(queue);
}

Test(queue, a_routed_job_whose_owner_came_back_is_not_failed_for_an_old_lapse)
{
    struct queue_config config = test_config();
    config.lease_ttl_ms = SHORT_LEASE_MS;
    config.unroutable_timeout_ms = 1000;
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "cpu", "encoder:libx264");
    announce_offering_for(queue, "gpu", "encoder:h264_vaapi", 300);
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi", id);
    struct queue_claim claim;
    claim_ok(queue, "gpu", &claim);

    /* A short split: gpu's lease and announcement both lapse, and cpu's
     * look at the due lease starts the unroutable clock. */
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_empty(queue, "cpu");
    cr_assert_str_eq(get_ok(queue, id).waiting, "no worker offers encoder:h264_vaapi");

    /* gpu is back and renews for longer than the timeout (no other worker
     * looks meanwhile): the job runs. */
    int paused = 0;
    for (int64_t until = now_ms() + 1200; now_ms() < until; sleep_ms(50)) {
        cr_assert_eq(queue_renew(queue, id, "gpu", claim.epoch, &paused), QUEUE_OK);
        announce_offering_for(queue, "gpu", "encoder:h264_vaapi", 300);
    }
    cr_assert_str_eq(get_ok(queue, id).waiting, "", "a renewed lease clears the waiting reason");

    /* A second short lapse starts a new clock instead of failing at once. */
    sleep_ms(PAST_SHORT_LEASE_MS);
    claim_empty(queue, "cpu");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_RUNNING, "state %s, error %s",
                 queue_job_state_name(job.state), job.error);
    announce_offering_for(queue, "gpu", "encoder:h264_vaapi", 300);
    cr_assert_eq(queue_renew(queue, id, "gpu", claim.epoch, &paused), QUEUE_OK);
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, a_routed_job_whose_client_vanished_is_cancelled_not_failed)
{
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 60000;
    config.heartbeat_ttl_ms = SHORT_LEASE_MS;
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "busy", "encoder:libx264");
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi", id);
    /* The client polls once, then vanishes. */
    cr_assert_eq(queue_heartbeat(queue, id), QUEUE_OK);
    sleep_ms(PAST_SHORT_LEASE_MS);
    /* The busy worker's announcement sweeps the queue head. */
    cr_assert_eq(queue_worker_announce(queue, "busy", 60000, 1, 1, 0, NULL, 0, NULL, NULL),
                 QUEUE_OK);
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_CANCELLED, "state %s, error %s",
                 queue_job_state_name(job.state), job.error);
    queue_close(queue);
}

Test(queue, capabilities_spread_over_two_workers_do_not_make_a_job_routable)
{
    struct queue_config config = test_config();
    struct queue *queue = open_queue(&config);
    announce_offering(queue, "gpu", "encoder:h264_vaapi");
    announce_offering(queue, "cpu", "filter:tonemapx");
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi filter:tonemapx", id);
    claim_empty(queue, "gpu");
    claim_empty(queue, "cpu");
    cr_assert_str_eq(get_ok(queue, id).waiting,
                     "no single worker offers all of encoder:h264_vaapi filter:tonemapx");
    queue_close(queue);
}

Test(queue, with_no_live_worker_a_routed_job_waits_without_a_deadline)
{
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 1;
    struct queue *queue = open_queue(&config);
    char id[QUEUE_ID_MAX];
    submit_routed(queue, "encoder:h264_vaapi", id);
    claim_empty(queue, "never-announced");
    sleep_ms(50);
    claim_empty(queue, "never-announced");
    struct queue_job job = get_ok(queue, id);
    cr_assert_eq(job.state, QUEUE_JOB_QUEUED, "a pool that is (re)starting fails nothing");
    cr_assert_str_eq(job.waiting, "no worker is live");

    /* A capable worker appears: it claims the job, the reason is gone. */
    announce_offering(queue, "gpu", "encoder:h264_vaapi");
    struct queue_claim claim;
    claim_ok(queue, "gpu", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_str_eq(get_ok(queue, id).waiting, "");
    queue_claim_clear(&claim);
    queue_close(queue);
}

Test(queue, a_worker_announcing_its_libav_gets_libx264_jobs_but_not_tonemapx_ones)
{
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 60000;
    struct queue *queue = open_queue(&config);
    size_t caps_len = 0;
    uint8_t *caps = pipeline_capabilities_pack(&caps_len);
    cr_assert_not_null(caps);
    int need_caps = -1;
    cr_assert_eq(
        queue_worker_announce(queue, "real", 60000, 1, 0, 0, caps, caps_len, &need_caps, NULL),
        QUEUE_OK, "%s", queue_last_error(queue));
    free(caps);
    cr_assert_eq(need_caps, 0);
    char odd[QUEUE_ID_MAX], x264[QUEUE_ID_MAX];
    submit_routed(queue, "filter:tonemapx", odd); /* jellyfin-ffmpeg's, not Debian's */
    submit_routed(queue, "encoder:libx264 encoder:aac filter:scale decoder:h264", x264);
    struct queue_claim claim;
    claim_ok(queue, "real", &claim);
    cr_assert_str_eq(claim.id, x264);
    cr_assert_str_eq(get_ok(queue, odd).waiting, "no worker offers filter:tonemapx");
    queue_claim_clear(&claim);
    queue_close(queue);
}
