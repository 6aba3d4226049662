/* wire.h -- the job API's transport: protobuf messages over nng REQ/REP.
 *
 * The only file that speaks nng's messaging protocols (metrics.c uses its
 * HTTP server for /metrics). A server is a rep0 socket served by N
 * threads, each with its own nng_ctx, so N requests are in progress at
 * once and each thread may keep per-thread state (a Redis connection). A
 * client is a req0 socket dialled to one or more scheduler URLs; nng sends
 * each request to a connected scheduler and resends it (to another one) when
 * no reply comes, which is safe because every request is idempotent.
 *
 * The server decodes, checks the API version and the token (in constant
 * time) before a handler sees a request; anything malformed gets an error
 * Reply, never a crash. */
#ifndef FFPOOL_WIRE_H
#define FFPOOL_WIRE_H

#include <stddef.h>

#include "ffpool.pb-c.h"

#define WIRE_API_VERSION 1

/* ---- server ------------------------------------------------------------ */

struct wire_server_config {
    const char *listen_url;
    int contexts;               /* concurrent requests (threads) */
    size_t recv_max_bytes;      /* NNG_OPT_RECVMAXSZ, set before listening */
    int timeout_ms;             /* send time-out of replies */
    const char *token;          /* "" = no token required */
};

/* Makes per-thread state (e.g. a Redis connection); may return NULL. */
typedef void *(*wire_thread_init_fn)(void *opaque);
typedef void (*wire_thread_free_fn)(void *thread_state);
/* Fills reply (code, message, body) for a decoded, authenticated request. */
typedef void (*wire_handler_fn)(void *thread_state, const Ffpool__Request *request,
                                Ffpool__Reply *reply);

struct wire_server;

/* Listens and starts the serving threads. Returns NULL with err on failure
 * (bad URL, address in use). */
struct wire_server *wire_server_start(const struct wire_server_config *config,
                                      wire_thread_init_fn thread_init,
                                      wire_thread_free_fn thread_free, wire_handler_fn handler,
                                      void *opaque, char *err, size_t errlen);
/* Stops serving, joins the threads, frees everything. */
void wire_server_stop(struct wire_server *server);

/* ---- client ------------------------------------------------------------ */

struct wire_client;

/* Dials every URL of a comma-separated list without waiting for any to
 * answer (a scheduler that starts later is connected when it comes up).
 * Returns NULL with err when no URL is valid. */
struct wire_client *wire_client_open(const char *urls, const char *token, int timeout_ms,
                                     char *err, size_t errlen);
void wire_client_close(struct wire_client *client);

/* Sends request (version and token are filled in) and waits up to the
 * client's time-out for the reply. Returns 0 with *reply set (free with
 * ffpool__reply__free_unpacked), or -1 with err (time-out, no scheduler,
 * undecodable reply). */
int wire_client_call(struct wire_client *client, Ffpool__Request *request, Ffpool__Reply **reply,
                     char *err, size_t errlen);

/* A person-readable name for an error code. */
const char *wire_error_name(Ffpool__ErrorCode code);

#endif
