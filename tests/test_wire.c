/* test_wire.c -- the job API transport over real nng sockets on loopback:
 * every request gets a Reply, and nothing a client sends crashes the server. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    cr_assert(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

/* Answers Status with the job id it was asked about. */
static void echo_handler(void *state, const Ffpool__Request *request, Ffpool__Reply *reply)
{
    static _Thread_local Ffpool__JobStatus job;
    ffpool__job_status__init(&job);
    if (request->body_case != FFPOOL__REQUEST__BODY_STATUS) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
        reply->message = "only status";
        return;
    }
    job.job_id = request->status->job_id;
    reply->job = &job;
}

static char url[64];
static struct wire_server *server;

static void start_server(const char *token)
{
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
    struct wire_server_config config = {.listen_url = url,
                                        .contexts = 4,
                                        .recv_max_bytes = 4096,
                                        .timeout_ms = 1000,
                                        .token = token};
    char err[256];
    server = wire_server_start(&config, NULL, NULL, echo_handler, NULL, err, sizeof(err));
    cr_assert_not_null(server, "server start: %s", err);
}

static void stop_server(void)
{
    wire_server_stop(server);
    server = NULL;
}

static Ffpool__Reply *call_status(const char *token, const char *job_id, char *err)
{
    struct wire_client *client = wire_client_open(url, token, 2000, err, 256);
    cr_assert_not_null(client, "%s", err);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    status.job_id = (char *)job_id;
    request.body_case = FFPOOL__REQUEST__BODY_STATUS;
    request.status = &status;
    Ffpool__Reply *reply = NULL;
    int rc = wire_client_call(client, &request, &reply, err, 256);
    wire_client_close(client);
    return rc == 0 ? reply : NULL;
}

/* Sends raw bytes with a bare REQ socket; returns the decoded reply. */
static Ffpool__Reply *call_raw(const void *bytes, size_t len)
{
    nng_socket sock;
    cr_assert(nng_req0_open(&sock) == 0);
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 1500);
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 1500);
    cr_assert(nng_dial(sock, url, NULL, 0) == 0);
    Ffpool__Reply *reply = NULL;
    if (nng_send(sock, (void *)bytes, len, 0) == 0) {
        void *buf = NULL;
        size_t got = 0;
        if (nng_recv(sock, &buf, &got, NNG_FLAG_ALLOC) == 0) {
            reply = ffpool__reply__unpack(NULL, got, buf);
            nng_free(buf, got);
        }
    }
    nng_close(sock);
    return reply;
}

Test(wire, request_reaches_handler_and_reply_comes_back)
{
    start_server("");
    char err[256];
    Ffpool__Reply *reply = call_status("", "j42", err);
    cr_assert_not_null(reply, "%s", err);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__OK);
    cr_assert_eq(reply->version, WIRE_API_VERSION);
    cr_assert_str_eq(reply->job->job_id, "j42");
    ffpool__reply__free_unpacked(reply, NULL);
    stop_server();
}

Test(wire, wrong_or_missing_token_is_unauthorized)
{
    start_server("s3cret");
    char err[256];
    Ffpool__Reply *reply = call_status("guess", "j1", err);
    cr_assert_not_null(reply, "%s", err);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__ERROR_UNAUTHORIZED);
    cr_assert_null(reply->job);
    ffpool__reply__free_unpacked(reply, NULL);
    reply = call_status("", "j1", err);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__ERROR_UNAUTHORIZED);
    ffpool__reply__free_unpacked(reply, NULL);
    reply = call_status("s3cret", "j1", err);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__OK);
    ffpool__reply__free_unpacked(reply, NULL);
    stop_server();
}

Test(wire, garbage_bytes_get_bad_request_reply)
{
    start_server("");
    const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x00};
    Ffpool__Reply *reply = call_raw(garbage, sizeof(garbage));
    cr_assert_not_null(reply);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST);
    cr_assert(strlen(reply->message) > 0);
    ffpool__reply__free_unpacked(reply, NULL);
    /* The server still serves well-formed requests afterwards. */
    char err[256];
    reply = call_status("", "after", err);
    cr_assert_not_null(reply, "%s", err);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__OK);
    ffpool__reply__free_unpacked(reply, NULL);
    stop_server();
}

Test(wire, empty_and_bodyless_requests_get_bad_request)
{
    start_server("");
    Ffpool__Reply *reply = call_raw("", 0);
    cr_assert_not_null(reply);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST);
    ffpool__reply__free_unpacked(reply, NULL);
    stop_server();
}

Test(wire, newer_api_version_is_refused)
{
    start_server("");
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    status.job_id = "j1";
    request.body_case = FFPOOL__REQUEST__BODY_STATUS;
    request.status = &status;
    request.version = WIRE_API_VERSION + 1;
    uint8_t buf[256];
    size_t len = ffpool__request__pack(&request, buf);
    Ffpool__Reply *reply = call_raw(buf, len);
    cr_assert_not_null(reply);
    cr_assert_eq(reply->code, FFPOOL__ERROR_CODE__ERROR_VERSION);
    ffpool__reply__free_unpacked(reply, NULL);
    stop_server();
}

Test(wire, oversized_message_is_dropped_and_server_survives)
{
    start_server("");
    static char big[64 * 1024];
    memset(big, 'x', sizeof(big));
    Ffpool__Reply *reply = call_raw(big, sizeof(big));
    cr_assert_null(reply, "a message over recv_max_bytes must not be served");
    char err[256];
    reply = call_status("", "still-alive", err);
    cr_assert_not_null(reply, "%s", err);
    cr_assert_str_eq(reply->job->job_id, "still-alive");
    ffpool__reply__free_unpacked(reply, NULL);
    stop_server();
}

Test(wire, client_without_scheduler_times_out_with_error)
{
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
    char err[256] = "";
    struct wire_client *client = wire_client_open(url, "", 300, err, sizeof(err));
    cr_assert_not_null(client, "dialling a closed port must not fail at once: %s", err);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    status.job_id = "j1";
    request.body_case = FFPOOL__REQUEST__BODY_STATUS;
    request.status = &status;
    Ffpool__Reply *reply = NULL;
    cr_assert_eq(wire_client_call(client, &request, &reply, err, sizeof(err)), -1);
    cr_assert(strlen(err) > 0);
    wire_client_close(client);
}

Test(wire, bad_listen_url_is_an_error)
{
    struct wire_server_config config = {
        .listen_url = "nonsense://x", .contexts = 1, .recv_max_bytes = 1024};
    char err[256] = "";
    cr_assert_null(wire_server_start(&config, NULL, NULL, echo_handler, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "nonsense://x") != NULL, "%s", err);
}

/* ---- the server side without sockets ----------------------------------- */

Test(wire, message_handle_answers_any_bytes_with_a_reply)
{
    const uint8_t inputs[][6] = {
        {0}, {0x0a, 0xff}, {0x52, 0x05, 0x0a, 0x03, 'j', '1'}, {0x08, 0x01, 0x5a, 0x00}};
    const size_t lengths[] = {0, 2, 6, 4};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        cr_assert_eq(
            wire_message_handle("", inputs[i], lengths[i], echo_handler, NULL, &out, &out_len), 0);
        Ffpool__Reply *reply = ffpool__reply__unpack(NULL, out_len, out);
        cr_assert_not_null(reply, "input %zu gave an undecodable reply", i);
        cr_assert_eq(reply->version, WIRE_API_VERSION);
        if (reply->code != FFPOOL__ERROR_CODE__OK)
            cr_assert(strlen(reply->message) > 0, "input %zu: error without a message", i);
        ffpool__reply__free_unpacked(reply, NULL);
        free(out);
    }
}

/* ---- TLS with a self-signed pair made here ----------------------------- */

static char tls_dir[256];
static void tls_server_start(const char *name);

/* Makes DIR/NAME.crt and DIR/NAME.key: a self-signed certificate (its own
 * CA) for the subjectAltNames san. Debian's mbedTLS matches DNS names only,
 * so 127.0.0.1 is given as a DNS name too. */
static void tls_pair_make(const char *name, const char *san)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/%s.key -out %s/%s.crt -days 2 -subj /CN=ffpool-test-%s "
             "-addext subjectAltName=%s >/dev/null 2>&1",
             tls_dir, name, tls_dir, name, name, san);
    cr_assert_eq(system(cmd), 0, "openssl could not make a test certificate (is it installed?)");
}

static void tls_setup(void)
{
    snprintf(tls_dir, sizeof(tls_dir), "%s/ffpool-tls.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(tls_dir));
    const char *local = "DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1";
    tls_pair_make("server", local);
    tls_pair_make("stranger", local);
    tls_pair_make("elsewhere", "DNS:elsewhere.example");
    tls_server_start("server");
}

/* (Re)starts the TLS server on a new port with DIR/NAME.crt and .key. */
static void tls_server_start(const char *name)
{
    if (server != NULL)
        stop_server();
    char cert[300], key[300];
    snprintf(cert, sizeof(cert), "%s/%s.crt", tls_dir, name);
    snprintf(key, sizeof(key), "%s/%s.key", tls_dir, name);
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", free_port());
    struct wire_server_config config = {.listen_url = url,
                                        .contexts = 2,
                                        .recv_max_bytes = 4096,
                                        .timeout_ms = 1000,
                                        .token = "",
                                        .tls_cert = cert,
                                        .tls_key = key};
    char err[256];
    server = wire_server_start(&config, NULL, NULL, echo_handler, NULL, err, sizeof(err));
    cr_assert_not_null(server, "TLS server start: %s", err);
}

static void tls_teardown(void)
{
    stop_server();
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", tls_dir);
}

/* Calls Status over TLS trusting ca_name's certificate (NULL = none). */
static int tls_call(const char *ca_name, int timeout_ms, char *err, size_t errlen)
{
    char ca[300] = "";
    if (ca_name != NULL)
        snprintf(ca, sizeof(ca), "%s/%s.crt", tls_dir, ca_name);
    struct wire_client_options options = {
        .urls = url, .token = "", .timeout_ms = timeout_ms, .tls_ca = ca};
    struct wire_client *client = wire_client_open_options(&options, err, errlen);
    if (client == NULL)
        return -2;
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    status.job_id = "over-tls";
    request.body_case = FFPOOL__REQUEST__BODY_STATUS;
    request.status = &status;
    Ffpool__Reply *reply = NULL;
    int rc = wire_client_call(client, &request, &reply, err, errlen);
    if (rc == 0) {
        rc = reply->job != NULL && strcmp(reply->job->job_id, "over-tls") == 0 ? 0 : -3;
        ffpool__reply__free_unpacked(reply, NULL);
    }
    wire_client_close(client);
    return rc;
}

Test(wire_tls, client_trusting_the_ca_gets_replies, .init = tls_setup, .fini = tls_teardown)
{
    char err[512] = "";
    cr_assert_eq(tls_call("server", 3000, err, sizeof(err)), 0, "%s", err);
}

Test(wire_tls, client_without_a_ca_is_refused_with_a_clear_error, .init = tls_setup,
     .fini = tls_teardown)
{
    char err[512] = "";
    cr_assert_eq(tls_call(NULL, 1000, err, sizeof(err)), -2);
    cr_assert(strstr(err, "api.tls_ca") != NULL, "%s", err);
}

Test(wire_tls, client_trusting_another_ca_gets_no_reply_and_a_hint, .init = tls_setup,
     .fini = tls_teardown)
{
    char err[512] = "";
    cr_assert_eq(tls_call("stranger", 800, err, sizeof(err)), -1);
    cr_assert(strstr(err, "api.tls_ca") != NULL, "%s", err);
    /* and a plain tcp:// client cannot talk to the TLS port either */
    char plain[64];
    snprintf(plain, sizeof(plain), "tcp://%s", url + strlen("tls+tcp://"));
    struct wire_client *client = wire_client_open(plain, "", 500, err, sizeof(err));
    cr_assert_not_null(client);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    status.job_id = "x";
    request.body_case = FFPOOL__REQUEST__BODY_STATUS;
    request.status = &status;
    Ffpool__Reply *reply = NULL;
    cr_assert_eq(wire_client_call(client, &request, &reply, err, sizeof(err)), -1);
    wire_client_close(client);
}

Test(wire_tls, certificate_for_another_host_name_is_refused, .init = tls_setup,
     .fini = tls_teardown)
{
    tls_server_start("elsewhere");
    char err[512] = "";
    cr_assert_eq(tls_call("elsewhere", 800, err, sizeof(err)), -1,
                 "a certificate for elsewhere.example must not be accepted for 127.0.0.1");
    cr_assert(strstr(err, "names the URL's host") != NULL, "%s", err);
}

Test(wire_tls, tls_listener_without_a_certificate_does_not_start)
{
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", free_port());
    struct wire_server_config config = {.listen_url = url, .contexts = 1, .recv_max_bytes = 1024};
    char err[256] = "";
    cr_assert_null(wire_server_start(&config, NULL, NULL, echo_handler, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "api.tls_cert") != NULL, "%s", err);
    config.tls_cert = "/nonexistent/cert.pem";
    config.tls_key = "/nonexistent/key.pem";
    cr_assert_null(wire_server_start(&config, NULL, NULL, echo_handler, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/cert.pem") != NULL, "%s", err);
}
