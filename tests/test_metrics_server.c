/* test_metrics_server.c -- the HTTP server (proto/metrics_http.c): it answers
 * /metrics, /healthz and /readyz over a real TCP socket on 127.0.0.1,
 * survives anything a client sends, and fails to start with a sentence
 * rather than a crash.
 *
 * Every server listens on port 0 and the test asks it for the port it got,
 * so parallel test processes never race for a port. Responses are read
 * with a plain socket so that the bytes on the wire are what is checked,
 * and /metrics by the strict format reader of metrics_test_lib.h. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
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
#include "metrics_test_lib.h"

TestSuite(metrics_server, .init = watchdog_arm);

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
