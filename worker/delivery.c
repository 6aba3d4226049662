/* delivery.c -- a deliver job's segment server; see delivery.h.
 *
 * One serving thread (one nng context): requests from the one shim that
 * follows the job are answered in order, acknowledgements are recorded in
 * index order on that thread's Redis connection, and an item is freed only
 * there (or at delivery_stop, once serving has stopped), so the item a
 * reply points into outlives the reply's packing. */
#include "delivery.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "program.h"
#include "wire.h"

/* Bytes of a segment per reply: below the shim's receive limit (4 MB). */
#define DELIVERY_CHUNK (2 << 20)
/* The longest a request waits for its segment to be made. */
#define DELIVERY_WAIT_MAX_MS 2000
/* A Fetch is a few dozen bytes: anything longer is refused unread. */
#define DELIVERY_RECV_MAX 65536
/* A progressive output is checked for rewrites in blocks of this size. */
#define DELIVERY_BLOCK (1 << 20)

/* A progressive output, served as it grows (config.file_path). Only the
 * serving thread touches it. */
struct delivery_file {
    char path[JOB_SPEC_PATH_MAX + 64];
    int64_t served;    /* bytes served at least once, from 0 */
    int committed;     /* segment start_number recorded before the first byte */
    uint32_t *crc;     /* per DELIVERY_BLOCK: the CRC of the bytes served */
    size_t blocks;     /* entries in crc */
    int64_t *rewrites; /* block offsets that differ at the end */
    int n_rewrites;
    int checked; /* rewrites found (the file is final) */
};

struct delivery {
    struct delivery_config config;
    struct delivery_callbacks callbacks;
    char job_id[QUEUE_ID_MAX];
    char init_path[JOB_SPEC_PATH_MAX + 64];
    struct wire_server *server;

    pthread_mutex_t lock;
    pthread_cond_t changed; /* an item offered or acknowledged, the end; CLOCK_MONOTONIC */
    struct delivery_item *head, *tail;
    int pending;
    int acked_below; /* every segment before it is acknowledged */
    int ended;
    int stopped; /* a commit stopped the run: nothing more is served */
    atomic_llong last_request_ms;
    struct delivery_file file;
};

/* The serving thread's state: its Redis connection and what the last reply
 * points into. */
struct delivery_thread {
    struct delivery *delivery;
    struct queue *queue;
    Ffpool__Delivery message;
    uint8_t *data;
    char text[512];
};

static void *delivery_thread_init(void *opaque)
{
    struct delivery *delivery = opaque;
    struct delivery_thread *thread = calloc(1, sizeof(*thread));
    if (thread == NULL)
        return NULL;
    thread->delivery = delivery;
    thread->queue = queue_open(delivery->config.queue_config);
    return thread;
}

static void delivery_thread_free(void *opaque)
{
    struct delivery_thread *thread = opaque;
    if (thread == NULL)
        return;
    queue_close(thread->queue);
    free(thread->data);
    free(thread);
}

static void item_free(struct delivery_item *item)
{
    if (item == NULL)
        return;
    unlink(item->path);
    free(item->playlist);
    free(item);
}

static long long monotonic_deadline(struct timespec *at, long long ms)
{
    long long deadline = program_monotonic_ms() + ms;
    at->tv_sec = deadline / 1000;
    at->tv_nsec = (deadline % 1000) * 1000000L;
    return deadline;
}

static void reply_error(struct delivery_thread *thread, Ffpool__Reply *reply,
                        Ffpool__ErrorCode code, const char *format, const char *detail)
{
    snprintf(thread->text, sizeof(thread->text), format, detail);
    reply->code = code;
    reply->message = thread->text;
}

/* Reads bytes [offset, offset + DELIVERY_CHUNK) of path into the thread's
 * buffer and points message at them. Returns 0, or -1 (errno). */
static int read_chunk(struct delivery_thread *thread, const char *path, int64_t offset)
{
    Ffpool__Delivery *message = &thread->message;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || offset < 0 || offset > st.st_size) {
        int error = errno ? errno : EINVAL;
        close(fd);
        errno = error;
        return -1;
    }
    size_t want = (size_t)(st.st_size - offset);
    if (want > DELIVERY_CHUNK)
        want = DELIVERY_CHUNK;
    thread->data = malloc(want > 0 ? want : 1);
    ssize_t got = thread->data != NULL ? pread(fd, thread->data, want, offset) : -1;
    int error = errno;
    close(fd);
    if (got != (ssize_t)want) {
        errno = got < 0 ? error : EIO;
        return -1;
    }
    message->size = st.st_size;
    message->offset = offset;
    message->data.data = thread->data;
    message->data.len = want;
    return 0;
}

/* Records every item before index as the shim's, in order. Called and
 * returns with the lock held. Returns 0, or 1 when the run stopped. */
static int acknowledge_below(struct delivery_thread *thread, int index)
{
    struct delivery *delivery = thread->delivery;
    while (delivery->head != NULL && delivery->head->index < index) {
        struct delivery_item *item = delivery->head;
        pthread_mutex_unlock(&delivery->lock);
        int stop = delivery->callbacks.commit(delivery->callbacks.opaque, thread->queue, item);
        pthread_mutex_lock(&delivery->lock);
        if (stop) {
            delivery->stopped = 1;
            return 1;
        }
        delivery->head = item->next;
        if (delivery->head == NULL)
            delivery->tail = NULL;
        delivery->pending--;
        delivery->acked_below = item->index + 1;
        item_free(item);
        pthread_cond_broadcast(&delivery->changed);
    }
    return 0;
}

/* The fMP4 init segment: served whole once this run has written it. */
static void serve_init(struct delivery_thread *thread, const Ffpool__FetchRequest *fetch,
                       Ffpool__Reply *reply)
{
    struct delivery *delivery = thread->delivery;
    Ffpool__Delivery *message = &thread->message;
    message->index = -1;
    if (delivery->init_path[0] == '\0') {
        reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_NOT_FOUND,
                    "job %s: this run has no init segment for Jellyfin (a resumed fMP4 run's "
                    "differs from the first run's)",
                    delivery->job_id);
        return;
    }
    int wait_ms = fetch->wait_ms < DELIVERY_WAIT_MAX_MS ? fetch->wait_ms : DELIVERY_WAIT_MAX_MS;
    long long deadline = program_monotonic_ms() + wait_ms;
    struct stat st;
    while (stat(delivery->init_path, &st) != 0 && program_monotonic_ms() < deadline)
        usleep(10 * 1000);
    if (stat(delivery->init_path, &st) != 0) {
        message->state = FFPOOL__DELIVERY_STATE__PENDING;
        return;
    }
    if (read_chunk(thread, delivery->init_path, fetch->offset) != 0) {
        reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_INTERNAL, "init segment: %s",
                    strerror(errno));
        return;
    }
    message->state = FFPOOL__DELIVERY_STATE__READY;
}

/* ---- a progressive output ----------------------------------------------- */

/* Adds bytes [offset, offset + len) to the CRCs of what was served; only
 * bytes past `served` count (a chunk served again is the file's current
 * content: if it changed, the end's check finds it). Returns 0, or -1. */
static int file_note_served(struct delivery_file *file, int64_t offset, const uint8_t *data,
                            size_t len)
{
    int64_t end = offset + (int64_t)len;
    if (end <= file->served)
        return 0;
    size_t need = (size_t)((end + DELIVERY_BLOCK - 1) / DELIVERY_BLOCK);
    if (need > file->blocks) {
        uint32_t *crc = realloc(file->crc, need * sizeof(*crc));
        if (crc == NULL)
            return -1;
        for (size_t b = file->blocks; b < need; b++)
            crc[b] = (uint32_t)crc32(0L, Z_NULL, 0);
        file->crc = crc;
        file->blocks = need;
    }
    for (int64_t at = file->served; at < end;) {
        size_t block = (size_t)(at / DELIVERY_BLOCK);
        int64_t stop = (int64_t)(block + 1) * DELIVERY_BLOCK;
        if (stop > end)
            stop = end;
        file->crc[block] =
            (uint32_t)crc32(file->crc[block], data + (at - offset), (uInt)(stop - at));
        at = stop;
    }
    file->served = end;
    return 0;
}

/* The file is final: finds the blocks whose bytes differ from those served
 * (a muxer's trailer rewrites its header in place). Returns 0, or -1. */
static int file_find_rewrites(struct delivery_file *file)
{
    int fd = open(file->path, O_RDONLY | O_CLOEXEC);
    uint8_t *block = malloc(DELIVERY_BLOCK);
    file->rewrites = calloc(file->blocks > 0 ? file->blocks : 1, sizeof(*file->rewrites));
    int failed = fd < 0 || block == NULL || file->rewrites == NULL;
    for (size_t b = 0; b < file->blocks && !failed; b++) {
        int64_t at = (int64_t)b * DELIVERY_BLOCK;
        int64_t want = file->served - at < DELIVERY_BLOCK ? file->served - at : DELIVERY_BLOCK;
        ssize_t got = pread(fd, block, (size_t)want, at);
        if (got < 0) {
            failed = 1;
            break;
        }
        /* Past the final end: the shim cuts its copy there (END's size). */
        if (got > 0 && (got != want ||
                        (uint32_t)crc32(crc32(0L, Z_NULL, 0), block, (uInt)got) != file->crc[b]))
            file->rewrites[file->n_rewrites++] = at;
    }
    if (fd >= 0)
        close(fd);
    free(block);
    file->checked = !failed;
    return failed ? -1 : 0;
}

/* A progressive output: fetch->offset is what the shim holds. Serves the
 * bytes after it as the file grows; once the run has ended and the shim
 * holds them all, the rewritten blocks one by one (fetch->index: how many
 * it has written), then END. */
/* Before the shim's first byte of the file: from then on no later run may
 * start the file again (a reader may be tailing it), so the run commits
 * the job's first segment. Returns 0, or -1 if the commit was refused (the
 * run is fenced: it stops serving). */
static int file_commit(struct delivery_thread *thread)
{
    struct delivery *delivery = thread->delivery;
    struct delivery_item held = {.index = delivery->config.start_number};
    if (delivery->callbacks.commit(delivery->callbacks.opaque, thread->queue, &held) == 0) {
        delivery->file.committed = 1;
        return 0;
    }
    pthread_mutex_lock(&delivery->lock);
    delivery->stopped = 1;
    pthread_mutex_unlock(&delivery->lock);
    return -1;
}

static void serve_file(struct delivery_thread *thread, const Ffpool__FetchRequest *fetch,
                       Ffpool__Reply *reply)
{
    struct delivery *delivery = thread->delivery;
    struct delivery_file *file = &delivery->file;
    Ffpool__Delivery *message = &thread->message;
    pthread_mutex_lock(&delivery->lock);
    int stopped = delivery->stopped;
    pthread_mutex_unlock(&delivery->lock);
    if (stopped) {
        reply->delivery = NULL;
        reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE,
                    "job %s: this run has stopped", delivery->job_id);
        return;
    }
    if (fetch->offset < 0 || fetch->offset > file->served || fetch->index < 0) {
        reply->delivery = NULL;
        reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE,
                    "job %s: this run did not serve those bytes (another run's)", delivery->job_id);
        return;
    }
    int wait_ms = fetch->wait_ms < DELIVERY_WAIT_MAX_MS ? fetch->wait_ms : DELIVERY_WAIT_MAX_MS;
    long long deadline = program_monotonic_ms() + (wait_ms > 0 ? wait_ms : 0);
    message->index = fetch->index;
    for (;;) {
        pthread_mutex_lock(&delivery->lock);
        int ended = delivery->ended;
        pthread_mutex_unlock(&delivery->lock);
        struct stat st;
        int exists = stat(file->path, &st) == 0;
        if (!exists && errno != ENOENT)
            break;
        if (!exists && ended && file->served == 0) {
            /* The run wrote no file (a line that failed before its
             * output): END with no size, and the shim writes none. */
            message->state = FFPOOL__DELIVERY_STATE__END;
            message->size = -1;
            pthread_mutex_lock(&delivery->lock);
            delivery->pending = 0;
            pthread_cond_broadcast(&delivery->changed);
            pthread_mutex_unlock(&delivery->lock);
            return;
        }
        if (!exists && ended)
            break;
        if (exists && st.st_size > fetch->offset) {
            if (!file->committed && file_commit(thread) != 0) {
                reply->delivery = NULL;
                reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE,
                            "job %s: this run has stopped", delivery->job_id);
                return;
            }
            if (read_chunk(thread, file->path, fetch->offset) != 0 ||
                file_note_served(file, fetch->offset, thread->data, message->data.len) != 0)
                break;
            message->state = FFPOOL__DELIVERY_STATE__READY;
            return;
        }
        if (ended && exists) {
            if (!file->checked && file_find_rewrites(file) != 0)
                break;
            message->size = st.st_size;
            if (fetch->index < file->n_rewrites) {
                int64_t at = file->rewrites[fetch->index];
                if (read_chunk(thread, file->path, at) != 0)
                    break;
                if (message->data.len > DELIVERY_BLOCK)
                    message->data.len = DELIVERY_BLOCK;
                message->rewrite = 1;
                message->state = FFPOOL__DELIVERY_STATE__READY;
                return;
            }
            /* The shim holds the final file. */
            message->state = FFPOOL__DELIVERY_STATE__END;
            pthread_mutex_lock(&delivery->lock);
            delivery->pending = 0;
            pthread_cond_broadcast(&delivery->changed);
            pthread_mutex_unlock(&delivery->lock);
            return;
        }
        if (program_monotonic_ms() >= deadline) {
            message->state = FFPOOL__DELIVERY_STATE__PENDING;
            return;
        }
        usleep(10 * 1000);
    }
    reply->delivery = NULL;
    snprintf(thread->text, sizeof(thread->text), "job %s: %s: %s", delivery->job_id, file->path,
             strerror(errno));
    reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
    reply->message = thread->text;
}

/* Fetch: acknowledge what is before the index asked for, then answer with
 * a chunk of it, PENDING when it is not made within the wait, or END when
 * the stream ended before it. */
static void delivery_handle(void *state, const Ffpool__Request *request, Ffpool__Reply *reply)
{
    struct delivery_thread *thread = state;
    if (thread == NULL || thread->queue == NULL) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = "the delivery server has no Redis connection";
        return;
    }
    struct delivery *delivery = thread->delivery;
    free(thread->data);
    thread->data = NULL;
    ffpool__delivery__init(&thread->message);
    if (request->body_case != FFPOOL__REQUEST__BODY_FETCH) {
        reply->code = FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST;
        reply->message = "a job process serves Fetch only (the job API is the scheduler's)";
        return;
    }
    const Ffpool__FetchRequest *fetch = request->fetch;
    atomic_store(&delivery->last_request_ms, program_monotonic_ms());
    if (strcmp(fetch->job_id, delivery->job_id) != 0 || fetch->epoch != delivery->config.epoch) {
        reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_NOT_FOUND,
                    "not served here: this process runs job %s", delivery->job_id);
        return;
    }
    if (!delivery->callbacks.may_serve(delivery->callbacks.opaque)) {
        reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE,
                    "job %s: this worker no longer certainly holds its lease", delivery->job_id);
        return;
    }
    reply->delivery = &thread->message;
    if (delivery->file.path[0] != '\0') {
        serve_file(thread, fetch, reply);
        return;
    }
    if (fetch->index < 0) {
        serve_init(thread, fetch, reply);
        return;
    }
    int wait_ms = fetch->wait_ms < DELIVERY_WAIT_MAX_MS ? fetch->wait_ms : DELIVERY_WAIT_MAX_MS;
    struct timespec until;
    long long deadline = monotonic_deadline(&until, wait_ms > 0 ? wait_ms : 0);
    struct delivery_item *found = NULL;
    pthread_mutex_lock(&delivery->lock);
    for (;;) {
        if (delivery->stopped || acknowledge_below(thread, fetch->index) != 0) {
            pthread_mutex_unlock(&delivery->lock);
            reply->delivery = NULL;
            reply_error(thread, reply, FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE,
                        "job %s: this run has stopped", delivery->job_id);
            return;
        }
        if (fetch->index < delivery->acked_below)
            break; /* another shim has it */
        if (delivery->head != NULL && delivery->head->index == fetch->index) {
            found = delivery->head;
            break;
        }
        if (delivery->ended || program_monotonic_ms() >= deadline)
            break;
        pthread_cond_timedwait(&delivery->changed, &delivery->lock, &until);
    }
    int ended = delivery->ended;
    int acked_below = delivery->acked_below;
    pthread_mutex_unlock(&delivery->lock);

    Ffpool__Delivery *message = &thread->message;
    message->index = fetch->index;
    if (found == NULL && fetch->index < acked_below) {
        message->state = FFPOOL__DELIVERY_STATE__AHEAD;
        message->index = acked_below;
        return;
    }
    if (found == NULL) {
        message->state = ended ? FFPOOL__DELIVERY_STATE__END : FFPOOL__DELIVERY_STATE__PENDING;
        return;
    }
    /* Only this thread frees items: found stays valid while the reply is
     * packed. */
    if (read_chunk(thread, found->path, fetch->offset) != 0) {
        reply->delivery = NULL;
        snprintf(thread->text, sizeof(thread->text), "job %s segment %d: %s", delivery->job_id,
                 found->index, strerror(errno));
        reply->code = FFPOOL__ERROR_CODE__ERROR_INTERNAL;
        reply->message = thread->text;
        return;
    }
    message->state = FFPOOL__DELIVERY_STATE__READY;
    if (found->name[0] != '\0')
        message->name = found->name;
    if (message->offset + (int64_t)message->data.len == message->size) {
        message->duration_us = found->duration_us;
        message->last = found->last;
        message->playlist.data = (uint8_t *)found->playlist;
        message->playlist.len = found->playlist_len;
    }
}

/* The address the shim dials: the configured host, else this host's own
 * (its name resolved: a pod's IP in Kubernetes), else loopback. */
static void advertised_host(const char *configured, char *out, size_t outlen)
{
    if (configured != NULL && configured[0] != '\0') {
        snprintf(out, outlen, "%s", configured);
        return;
    }
    snprintf(out, outlen, "127.0.0.1");
    char name[256];
    if (gethostname(name, sizeof(name)) != 0)
        return;
    name[sizeof(name) - 1] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    if (getaddrinfo(name, NULL, &hints, &found) != 0 || found == NULL)
        return;
    char host[NI_MAXHOST];
    if (getnameinfo(found->ai_addr, found->ai_addrlen, host, sizeof(host), NULL, 0,
                    NI_NUMERICHOST) == 0)
        snprintf(out, outlen, "%s", host);
    freeaddrinfo(found);
}

struct delivery *delivery_start(const struct delivery_config *config,
                                const struct delivery_callbacks *callbacks, char *address,
                                size_t address_len, char *err, size_t errlen)
{
    struct delivery *delivery = calloc(1, sizeof(*delivery));
    if (delivery == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    delivery->config = *config;
    delivery->callbacks = *callbacks;
    snprintf(delivery->job_id, sizeof(delivery->job_id), "%s", config->job_id);
    snprintf(delivery->init_path, sizeof(delivery->init_path), "%s",
             config->init_path != NULL ? config->init_path : "");
    delivery->config.job_id = delivery->job_id;
    delivery->acked_below = config->first_index;
    if (config->file_path != NULL && config->file_path[0] != '\0') {
        snprintf(delivery->file.path, sizeof(delivery->file.path), "%s", config->file_path);
        delivery->pending = 1; /* the file, until the shim holds it whole */
    }
    delivery->config.file_path = delivery->file.path;
    pthread_mutex_init(&delivery->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&delivery->changed, &attr);
    pthread_condattr_destroy(&attr);
    atomic_store(&delivery->last_request_ms, program_monotonic_ms());

    struct wire_server_config server = {
        .listen_url = config->listen_url,
        .contexts = 1,
        .recv_max_bytes = DELIVERY_RECV_MAX,
        .timeout_ms = 5000,
        .token = config->token,
        .tls_cert = config->tls_cert,
        .tls_key = config->tls_key,
    };
    delivery->server = wire_server_start(&server, delivery_thread_init, delivery_thread_free,
                                         delivery_handle, delivery, err, errlen);
    if (delivery->server == NULL) {
        delivery_stop(delivery);
        return NULL;
    }
    int port = wire_server_port(delivery->server);
    if (port <= 0) {
        snprintf(err, errlen, "worker.delivery_listen %s is not a TCP address", config->listen_url);
        delivery_stop(delivery);
        return NULL;
    }
    char host[256];
    advertised_host(config->advertise_host, host, sizeof(host));
    const char *scheme = strncmp(config->listen_url, "tls+", 4) == 0 ? "tls+tcp" : "tcp";
    snprintf(address, address_len, strchr(host, ':') != NULL ? "%s://[%s]:%d" : "%s://%s:%d",
             scheme, host, port);
    return delivery;
}

void delivery_offer(struct delivery *delivery, struct delivery_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&delivery->lock);
    if (delivery->tail != NULL)
        delivery->tail->next = item;
    else
        delivery->head = item;
    delivery->tail = item;
    delivery->pending++;
    pthread_cond_broadcast(&delivery->changed);
    pthread_mutex_unlock(&delivery->lock);
}

int delivery_pending(struct delivery *delivery)
{
    pthread_mutex_lock(&delivery->lock);
    int pending = delivery->pending;
    pthread_mutex_unlock(&delivery->lock);
    return pending;
}

void delivery_wait(struct delivery *delivery, int ms)
{
    struct timespec until;
    monotonic_deadline(&until, ms);
    pthread_mutex_lock(&delivery->lock);
    pthread_cond_timedwait(&delivery->changed, &delivery->lock, &until);
    pthread_mutex_unlock(&delivery->lock);
}

void delivery_end(struct delivery *delivery)
{
    pthread_mutex_lock(&delivery->lock);
    delivery->ended = 1;
    pthread_cond_broadcast(&delivery->changed);
    pthread_mutex_unlock(&delivery->lock);
}

long long delivery_last_request_ms(struct delivery *delivery)
{
    return atomic_load(&delivery->last_request_ms);
}

void delivery_stop(struct delivery *delivery)
{
    if (delivery == NULL)
        return;
    wire_server_stop(delivery->server);
    while (delivery->head != NULL) {
        struct delivery_item *item = delivery->head;
        delivery->head = item->next;
        item_free(item);
    }
    free(delivery->file.crc);
    free(delivery->file.rewrites);
    pthread_mutex_destroy(&delivery->lock);
    pthread_cond_destroy(&delivery->changed);
    free(delivery);
}

/* worker.spool_dir, or $TMPDIR/ffpool-spool when it is empty. */
static void spool_root(const char *spool_dir, char *out, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    if (spool_dir[0] != '\0')
        snprintf(out, len, "%s", spool_dir);
    else
        snprintf(out, len, "%s/ffpool-spool", tmp && tmp[0] ? tmp : "/tmp");
}

void delivery_spool_path(const char *spool_dir, const char *job_id, const char *owner,
                         int64_t epoch, char *out, size_t len)
{
    char root[JOB_SPEC_PATH_MAX];
    spool_root(spool_dir, root, sizeof(root));
    snprintf(out, len, "%s/%s.%s.e%lld", root, job_id, owner, (long long)epoch);
}

/* A run-once line's output files (job_spec_cli_outputs) pointed into the
 * spool. Returns 0, or -1 with err. */
static int spool_cli_outputs(struct job_spec *spec, const char *spool, char *err, size_t errlen)
{
    char is_output[JOB_SPEC_CLI_ARGC_MAX];
    int pattern;
    int outputs = job_spec_cli_outputs(spec, is_output, &pattern);
    if (outputs < 0) {
        snprintf(err, errlen, "a delivered line names a path outside its output's folder");
        return -1;
    }
    if (outputs == 0)
        return 0;
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(spec, args);
    struct job_spec *moved = malloc(sizeof(*moved));
    if (moved == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    moved->n_cli_args = 0;
    int failed = 0;
    for (int i = 0; i < spec->n_cli_args && !failed; i++) {
        char path[JOB_SPEC_PATH_MAX * 2];
        const char *arg = args[i];
        if (is_output[i]) {
            snprintf(path, sizeof(path), "%s/%s", spool, strrchr(arg, '/') + 1);
            arg = path;
        }
        failed = job_spec_cli_append(moved, arg) != 0;
    }
    if (!failed) {
        memcpy(spec->cli_args, moved->cli_args, sizeof(spec->cli_args));
        spec->n_cli_args = moved->n_cli_args;
    } else {
        snprintf(err, errlen, "the line's arguments do not fit a job once pointed into the spool");
    }
    free(moved);
    return failed ? -1 : 0;
}

int delivery_spool_prepare(struct job_spec *spec, const char *spool_dir, const char *job_id,
                           const char *owner, int64_t epoch, char *spool, size_t spool_len,
                           char *err, size_t errlen)
{
    char root[JOB_SPEC_PATH_MAX];
    spool_root(spool_dir, root, sizeof(root));
    if (mkdir(root, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "worker.spool_dir %s: %s", root, strerror(errno));
        return -1;
    }
    delivery_spool_path(spool_dir, job_id, owner, epoch, spool, spool_len);
    if (mkdir(spool, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool folder %s: %s", spool, strerror(errno));
        return -1;
    }
    if (spec->output_kind == JOB_OUTPUT_CLI && spool_cli_outputs(spec, spool, err, errlen) != 0)
        return -1;
    char *paths[] = {spec->output, spec->segment_filename, spec->init_filename};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        /* The init segment's name is relative to the playlist's folder
         * unless absolute: the spool either way. */
        if (paths[i][0] == '\0' ||
            (paths[i] == spec->init_filename && strchr(paths[i], '/') == NULL))
            continue;
        const char *slash = strrchr(paths[i], '/');
        char moved[JOB_SPEC_PATH_MAX];
        int n = snprintf(moved, sizeof(moved), "%s/%s", spool, slash ? slash + 1 : paths[i]);
        if (n < 0 || (size_t)n >= sizeof(moved)) {
            snprintf(err, errlen, "spool path for %s is too long", paths[i]);
            return -1;
        }
        memcpy(paths[i], moved, (size_t)n + 1);
    }
    return 0;
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int delivery_offer_files(struct delivery *delivery, const char *spool, char *err, size_t errlen)
{
    DIR *dir = opendir(spool);
    if (dir == NULL) {
        snprintf(err, errlen, "spool folder %s: %s", spool, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    int failed = 0;
    while (!failed && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.' ||
            strlen(entry->d_name) >= sizeof(((struct delivery_item *)0)->name))
            continue; /* ., .., the CLI's own temporary files */
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            char **more = realloc(names, cap * sizeof(*names));
            failed = more == NULL;
            names = failed ? names : more;
        }
        if (!failed && (names[count] = strdup(entry->d_name)) != NULL)
            count++;
        else
            failed = 1;
    }
    closedir(dir);
    if (!failed)
        qsort(names, count, sizeof(*names), name_compare);
    for (size_t i = 0; i < count && !failed; i++) {
        struct delivery_item *item = calloc(1, sizeof(*item));
        if (item == NULL) {
            failed = 1;
            break;
        }
        item->index = (int)i;
        snprintf(item->path, sizeof(item->path), "%s/%s", spool, names[i]);
        snprintf(item->name, sizeof(item->name), "%s", names[i]);
        item->last = i + 1 == count;
        delivery_offer(delivery, item);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (failed) {
        snprintf(err, errlen, "out of memory listing %s", spool);
        return -1;
    }
    delivery_end(delivery);
    return (int)count;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void delivery_spool_remove(const char *spool)
{
    /* Depth first, not following links: what a run wrote, and the CLI's
     * private folder inside (worker/cli_job.c). */
    if (spool[0] != '\0')
        nftw(spool, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
