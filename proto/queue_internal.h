/* queue_internal.h -- what queue.c, queue_claim.c and queue_conn.c share, and nothing else
 * may include: the queue's state, the argument list of a command, and the
 * connection calls the protocol is written on. */
#ifndef FFPOOL_QUEUE_INTERNAL_H
#define FFPOOL_QUEUE_INTERNAL_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "queue.h"
#include "queue_scripts.h"

#define QUEUE_BACKOFF_FIRST_MS 50
#define QUEUE_BACKOFF_MAX_MS 1000
#define QUEUE_ARGS_MAX 16
#define QUEUE_SHA_SIZE 41

struct queue {
    struct queue_config config;
    redisContext *redis;           /* NULL while disconnected */
    int failures;                  /* consecutive failed calls */
    int64_t next_connect_ms;       /* monotonic: no connect attempt before */
    char failure[QUEUE_ERROR_MAX]; /* why the last failed call failed */
    char server_host[256];         /* the server connected (or tried) */
    int server_port;
    char script_sha[QUEUE_SCRIPT_COUNT][QUEUE_SHA_SIZE]; /* "" until loaded */
    long long call_deadline_ms; /* monotonic; 0 = none (queue_set_call_deadline) */
    char error[QUEUE_ERROR_MAX + 128];
};

/* Arguments of one command; slots 0-2 are left for EVALSHA, sha and "0". */
struct queue_args {
    int count;
    int overflow;
    const char *value[QUEUE_ARGS_MAX];
    size_t length[QUEUE_ARGS_MAX];
    char number[QUEUE_ARGS_MAX][32];
};

/* A script's status word AGAIN (the claim script cleaned up; call again). */
#define QUEUE_AGAIN 100

/* Reads an integer from an integer or a decimal string element (nil = 0).
 * Returns 0 or -1. */
int queue_reply_int64(const redisReply *reply, int64_t *out);
int queue_reply_int(const redisReply *reply, int *out);

/* Maps a script's status word (element 0 of its reply) to a queue_status,
 * or QUEUE_AGAIN; sets the error for any word but OK. */
int queue_script_status(struct queue *queue, redisReply *reply, enum queue_script script);

/* Waits (Redis WAIT) until config.wait_replicas replicas hold every write
 * this connection has made, what naming it in errors; at once when
 * wait_replicas is 0. Returns 0, or -1 with the error set (the connection
 * is dropped only if it failed). */
int queue_replicated(struct queue *queue, const char *what);

/* Sets the queue's last error (queue_last_error). */
void queue_set_error(struct queue *queue, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies at most size-1 bytes of text and always terminates out. */
void queue_copy_text(char *out, size_t size, const char *text, size_t length);

/* Sleeps ms milliseconds of the monotonic clock. */
void queue_sleep_ms(int64_t ms);

struct timeval queue_timeval_from_ms(int64_t ms);

/* Writes 2*bytes random hex digits (bytes <= 32) and a terminator to out. */
void queue_random_hex(char *out, size_t bytes);

/* Builds the arguments of a command after the three slots
 * queue_script_run fills (EVALSHA, the SHA1, "0"). An argument that does not
 * fit sets args->overflow, which queue_script_run refuses. */
void queue_args_init(struct queue_args *args);
void queue_args_bytes(struct queue_args *args, const void *data, size_t length);
void queue_args_text(struct queue_args *args, const char *text);
void queue_args_int(struct queue_args *args, int64_t n);
void queue_args_double(struct queue_args *args, double d);

/* Drops the connection (the next call reconnects). */
void queue_disconnect(struct queue *queue);

/* Records a failed call: drops the connection and schedules the next
 * connect (back-off, see queue_conn.c). */
void queue_note_failure(struct queue *queue);

/* Makes sure queue->redis is usable. Returns 0 or -1 with the error set. */
int queue_connect(struct queue *queue);

/* Runs one command. Returns the reply (any type, the caller frees it) or
 * NULL with the error set and the connection dropped. */
redisReply *queue_command(struct queue *queue, const char *what, int argc, const char **argv,
                          const size_t *length);

/* Runs count commands (argc[i] words in argv[i]) in one MULTI ... EXEC.
 * Returns EXEC's reply, an array of count replies (the caller frees it), or
 * NULL with the error set and the connection dropped. */
redisReply *queue_transaction(struct queue *queue, const char *what, int count, const int *argc,
                              const char **const *argv);

/* Blocks up to timeout_ms (>= 1) in a BLPOP on key; what names the call in
 * errors. Returns 0 (a value or the time-out) or -1 with the error set and
 * the connection dropped. */
int queue_blpop(struct queue *queue, const char *what, const char *key, int timeout_ms);

/* Drops a reply that cannot be used, with the error already set. */
void queue_reject_reply(struct queue *queue, redisReply *reply);

/* Runs a script with EVALSHA (EVAL if the server lost it). Returns an array
 * reply whose first element is the status word, or NULL with the error set. */
redisReply *queue_script_run(struct queue *queue, enum queue_script script,
                             struct queue_args *args);

#endif
