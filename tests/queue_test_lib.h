/* queue_test_lib.h -- what the test_queue*.c files share: a redis-server
 * to test the queue and lease protocol against, and the fixture.
 *
 * The server is 127.0.0.1:$FFPOOL_TEST_REDIS_PORT. Without that variable the
 * runner starts its own redis-server on a free loopback port (no persistence,
 * in a temporary folder) before the tests and stops it after them, so each
 * binary runs standalone.
 *
 * Criterion runs tests in parallel processes, and the queue's key names are
 * fixed, so every test works in a database of its own: it leases one of
 * databases 1-15 with SET ffpool-test:db:<n> NX in database 0, flushes it,
 * and gives it back at the end (the suite "queue", declared here). Other
 * test files sharing the server should use the same convention.
 *
 * Each test binary includes it once: it defines the runner's report hooks
 * and the suite. Every helper is static and marked unused, so that a file
 * calling only some of them builds without a warning. */
#ifndef FFPOOL_QUEUE_TEST_LIB_H
#define FFPOOL_QUEUE_TEST_LIB_H

#include "queue.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
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

#define PORT_ENV "FFPOOL_TEST_REDIS_PORT"
#define SHORT_LEASE_MS 200
#define PAST_SHORT_LEASE_MS 350

/* ------------------------------------------------------ redis-server child */

static __attribute__((unused)) int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static __attribute__((unused)) void sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
}

/* A loopback port nobody listens on right now. */
static __attribute__((unused)) int free_port(void)
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

/* Starts a program with argv as a child that dies with us, its output
 * discarded. */
static __attribute__((unused)) pid_t spawn_argv(char *const argv[])
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

/* Starts redis-server in the foreground as a child that dies with us;
 * password NULL = no AUTH. */
static __attribute__((unused)) pid_t redis_spawn_auth(int port, const char *dir,
                                                      const char *password)
{
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    char *argv[] = {"redis-server",
                    "--port",
                    port_text,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    (char *)dir,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--requirepass",
                    (char *)password,
                    NULL};
    if (password == NULL)
        argv[13] = NULL;
    return spawn_argv(argv);
}

static __attribute__((unused)) pid_t redis_spawn(int port, const char *dir)
{
    return redis_spawn_auth(port, dir, NULL);
}

/* Waits until the server answers PING (or NOAUTH, which proves it is up).
 * Returns 1 when it does. */
static __attribute__((unused)) int redis_ready(int port, int timeout_ms)
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

static __attribute__((unused)) void redis_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static __attribute__((unused)) int remove_entry(const char *path, const struct stat *st, int flag,
                                                struct FTW *ftw)
{
    return remove(path);
}

static __attribute__((unused)) void remove_tree(const char *dir)
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
        fprintf(stderr, "%s: mkdtemp: %s\n", program_invocation_short_name, strerror(errno));
        return;
    }
    int port = free_port();
    runner_redis_pid = redis_spawn(port, runner_redis_dir);
    if (runner_redis_pid < 0 || !redis_ready(port, 10000)) {
        fprintf(stderr, "%s: could not start redis-server on port %d\n",
                program_invocation_short_name, port);
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

static __attribute__((unused)) redisReply *admin_command(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(test.admin, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "admin connection failed: %s", test.admin->errstr);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "admin command failed: %s", reply->str);
    return reply;
}

static __attribute__((unused)) void admin_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(test.admin, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "admin connection failed: %s", test.admin->errstr);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "admin command failed: %s", reply->str);
    freeReplyObject(reply);
}

static __attribute__((unused)) long long admin_integer(const char *fmt, ...)
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
static __attribute__((unused)) void setup(void)
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

static __attribute__((unused)) void teardown(void)
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
        fprintf(stderr, "%s: LeakSanitizer found leaks (see above)\n",
                program_invocation_short_name);
        abort();
    }
#endif
}

TestSuite(queue, .init = setup, .fini = teardown, .timeout = 120);

static __attribute__((unused)) struct queue_config test_config(void)
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

static __attribute__((unused)) struct queue *open_queue(const struct queue_config *config)
{
    struct queue *queue = queue_open(config);
    cr_assert_not_null(queue);
    return queue;
}

static __attribute__((unused)) void submit_new(struct queue *queue, const char *job_key,
                                               int start_number, char id[QUEUE_ID_MAX])
{
    static const uint8_t spec[] = {0x0a, 0x03, 'a', 0x00, 'b'};
    int created = -1;
    int status = queue_submit(queue, job_key, spec, sizeof(spec), start_number, id, &created);
    cr_assert_eq(status, QUEUE_OK, "submit: %s", queue_last_error(queue));
    cr_assert_eq(created, 1);
}

static __attribute__((unused)) void claim_ok(struct queue *queue, const char *owner,
                                             struct queue_claim *claim)
{
    int status = queue_claim(queue, owner, claim);
    cr_assert_eq(status, QUEUE_OK, "claim by %s: status %d, %s", owner, status,
                 queue_last_error(queue));
}

static __attribute__((unused)) struct queue_job get_ok(struct queue *queue, const char *id)
{
    struct queue_job job;
    int status = queue_get(queue, id, &job);
    cr_assert_eq(status, QUEUE_OK, "get %s: %s", id, queue_last_error(queue));
    return job;
}

static __attribute__((unused)) void claim_empty(struct queue *queue, const char *owner)
{
    struct queue_claim claim;
    int status = queue_claim(queue, owner, &claim);
    cr_assert_eq(status, QUEUE_EMPTY, "claim: expected nothing, got status %d (%s)", status,
                 claim.id);
    queue_claim_clear(&claim);
}

#endif
