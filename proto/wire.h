/* wire.h -- the job API's transport: protobuf messages over nng REQ/REP.
 *
 * The only file that speaks nng's messaging protocols (metrics_http.c uses its
 * HTTP server for /metrics). A server is a rep0 socket served by N
 * threads, each with its own nng_ctx, so N requests are in progress at
 * once and each thread may keep per-thread state (a Redis connection). A
 * client is a req0 socket dialled to one or more scheduler URLs; nng sends
 * each request to a connected scheduler and resends it (to another one) when
 * no reply comes, which is safe because every request is idempotent.
 *
 * The server decodes, checks the API version and the token (in constant
 * time) before a handler sees a request; anything malformed gets an error
 * Reply, never a crash.
 *
 * TLS: a tls+tcp:// URL makes the server present tls_cert/tls_key and the
 * client verify it against tls_ca (nng's TLS, mbedTLS on Debian). The
 * client checks the server's name against the URL's host, so the
 * certificate must name it (subjectAltName DNS or IP). */
#ifndef FFPOOL_WIRE_H
#define FFPOOL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ffpool.pb-c.h"

#define WIRE_API_VERSION 1

/* ---- server ------------------------------------------------------------ */

struct wire_server_config {
    const char *listen_url; /* tcp://, tls+tcp://, ipc:// ... */
    int contexts;           /* concurrent requests (threads) */
    size_t recv_max_bytes;  /* NNG_OPT_RECVMAXSZ, set before listening */
    int timeout_ms;         /* send time-out of replies */
    const char *token;      /* "" = no token required */
    const char *tls_cert;   /* PEM file: required for tls+tcp:// URLs */
    const char *tls_key;    /* PEM file of the certificate's private key */
};

/* Makes per-thread state (e.g. a Redis connection); may return NULL. */
typedef void *(*wire_thread_init_fn)(void *opaque);
typedef void (*wire_thread_free_fn)(void *thread_state);
/* Fills reply (code, message, body) for a decoded, authenticated request. */
typedef void (*wire_handler_fn)(void *thread_state, const Ffpool__Request *request,
                                Ffpool__Reply *reply);

struct wire_server;

/* Decodes one request message, checks its version and token, hands it to
 * handler and packs the Reply: the whole server side of one exchange,
 * without sockets (the fuzz target calls it directly). Any input, however
 * malformed, yields a Reply. Returns 0 with *out malloc'd (caller frees), or
 * -1 on allocation failure. */
int wire_message_handle(const char *token, const uint8_t *in, size_t in_len,
                        wire_handler_fn handler, void *thread_state, uint8_t **out,
                        size_t *out_len);

/* Listens and starts the serving threads. Returns NULL with err on failure
 * (bad URL, address in use). */
struct wire_server *wire_server_start(const struct wire_server_config *config,
                                      wire_thread_init_fn thread_init,
                                      wire_thread_free_fn thread_free, wire_handler_fn handler,
                                      void *opaque, char *err, size_t errlen);
/* The TCP port the server listens on (a URL with port 0 gets one from the
 * kernel), or -1 for a transport without ports. */
int wire_server_port(const struct wire_server *server);
/* Stops serving, joins the threads, frees everything. */
void wire_server_stop(struct wire_server *server);

/* ---- client ------------------------------------------------------------ */

struct wire_client;

struct wire_client_options {
    const char *urls;   /* comma-separated scheduler URLs */
    const char *token;  /* API token, "" = none */
    int timeout_ms;     /* per call; <= 0 = 5000 */
    const char *tls_ca; /* PEM file of the CA that signed the schedulers'
                         * certificates: required for tls+tcp:// URLs */
    const char *peer;   /* what answers, for error messages: NULL = "scheduler"
                         * ("worker": a job process's delivery server) */
};

/* Dials every URL of a comma-separated list without waiting for any to
 * answer (a scheduler that starts later is connected when it comes up).
 * Returns NULL with err when no URL is valid, or a tls+tcp:// URL is given
 * without a usable CA file. */
struct wire_client *wire_client_open_options(const struct wire_client_options *options, char *err,
                                             size_t errlen);
/* The same with plain URLs only (no CA). */
struct wire_client *wire_client_open(const char *urls, const char *token, int timeout_ms, char *err,
                                     size_t errlen);
void wire_client_close(struct wire_client *client);

/* Sends request (version and token are filled in) and waits up to the
 * client's time-out for the reply. Returns 0 with *reply set (free with
 * ffpool__reply__free_unpacked), or -1 with err (time-out, no scheduler,
 * undecodable reply). */
int wire_client_call(struct wire_client *client, Ffpool__Request *request, Ffpool__Reply **reply,
                     char *err, size_t errlen);
/* For a long poll (Watch) that the server may hold for up to wait_ms: waits
 * wait_ms longer than wire_client_call and does not resend the request while
 * the server is expected to hold it (a resend would occupy a second server
 * context). A scheduler that goes away mid-poll still gets the request
 * resent to another one. */
int wire_client_call_long(struct wire_client *client, Ffpool__Request *request, int wait_ms,
                          Ffpool__Reply **reply, char *err, size_t errlen);

/* A person-readable name for an error code. */
const char *wire_error_name(Ffpool__ErrorCode code);

#endif
