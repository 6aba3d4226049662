/* fetch.c -- the shim's delivery thread; see fetch.h.
 *
 * The request for segment k + 1 is what acknowledges segment k, so it is
 * sent only once k and the playlist listing it are in place. A segment is
 * fetched in chunks into a temporary file of this process's beside its
 * final name; a change of owner mid-segment starts it again from its first
 * byte (the new owner's bytes are the same, but nothing is assumed). */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "program.h"
#include "wire.h"

/* How long one request may wait for its segment to be made (the worker
 * bounds it at 2 s), and how long past that a reply (a 2 MB chunk) may
 * take. Their sum is also how long a request to an owner that died stays
 * unanswered before the shim dials the next owner: short. */
#define FETCH_WAIT_MS 500
#define FETCH_TIMEOUT_MS 1000
/* Pause after a failed request (no owner yet, owner gone, lease moving). */
#define FETCH_RETRY_MS 50
/* A write into Jellyfin's folder that fails this many times in a row, this
 * far apart (a full disk, a folder gone), ends the job. */
#define FETCH_WRITE_TRIES 20
#define FETCH_WRITE_RETRY_MS 250

struct shim_fetch {
    const struct ffpool_config *config;
    const struct job_spec *spec;
    char job_id[64];
    pthread_t thread;

    pthread_mutex_t lock;
    int64_t epoch;
    char address[256];
    atomic_int written;
    atomic_int stop;
    atomic_int failed; /* gave up writing into Jellyfin's folder: failure says why */
    char failure[600];
};

static int write_at(int fd, const uint8_t *data, size_t len, int64_t offset)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

/* Writes a whole small file (the playlist) by temporary name and rename. */
static int write_file(const char *path, const uint8_t *data, size_t len)
{
    char temp[JOB_SPEC_PATH_MAX + 64];
    snprintf(temp, sizeof(temp), "%s.shim-%d.tmp", path, (int)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int failed = write_at(fd, data, len, 0);
    if (close(fd) != 0 || failed != 0 || rename(temp, path) != 0) {
        unlink(temp);
        return -1;
    }
    return 0;
}

/* One segment (or the init segment) being fetched. */
struct fetch_file {
    int index;
    int64_t epoch; /* the owner it comes from */
    int64_t offset;
    int fd;
    char path[JOB_SPEC_PATH_MAX + 32];
    char temp[JOB_SPEC_PATH_MAX + 64];
};

static void file_abandon(struct fetch_file *file)
{
    if (file->fd >= 0) {
        close(file->fd);
        unlink(file->temp);
    }
    file->fd = -1;
    file->offset = 0;
}

/* Appends a chunk; when it completes the file, puts it (and the playlist
 * that came with it) in place. Returns 1 when complete, 0 when more is to
 * come, -1 on a write error (err set). */
static int file_take(struct shim_fetch *fetch, struct fetch_file *file,
                     const Ffpool__Delivery *delivery, char *err, size_t errlen)
{
    if (delivery->offset != file->offset) {
        file_abandon(file);
        return 0;
    }
    if (file->fd < 0) {
        snprintf(file->temp, sizeof(file->temp), "%s.shim-%d.tmp", file->path, (int)getpid());
        file->fd = open(file->temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (file->fd < 0) {
            snprintf(err, errlen, "%s: %s", file->temp, strerror(errno));
            return -1;
        }
    }
    if (write_at(file->fd, delivery->data.data, delivery->data.len, file->offset) != 0) {
        snprintf(err, errlen, "%s: %s", file->temp, strerror(errno));
        file_abandon(file);
        return -1;
    }
    file->offset += (int64_t)delivery->data.len;
    if (file->offset < delivery->size)
        return 0;
    int closed = close(file->fd);
    file->fd = -1;
    file->offset = 0;
    if (closed != 0 || rename(file->temp, file->path) != 0) {
        snprintf(err, errlen, "%s: %s", file->path, strerror(errno));
        unlink(file->temp);
        return -1;
    }
    if (delivery->playlist.len > 0 &&
        write_file(fetch->spec->output, delivery->playlist.data, delivery->playlist.len) != 0) {
        snprintf(err, errlen, "playlist %s: %s", fetch->spec->output, strerror(errno));
        return -1;
    }
    return 1;
}

/* A name a worker sends for a run-once line's file: written into the
 * output's folder, so a plain name only (no folder, no hidden file). */
static int file_name_safe(const char *name)
{
    return name != NULL && name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

/* The path of a run-once line's file named name: beside its output. */
static void output_folder_path(const struct job_spec *spec, const char *name, char *out, size_t len)
{
    const char *slash = strrchr(spec->output, '/');
    int dir = slash != NULL ? (int)(slash - spec->output) : 0;
    snprintf(out, len, "%.*s/%s", dir, spec->output, name);
}

/* A write into Jellyfin's folder failed (why: the path and the error):
 * waits a moment and returns 0 to try again, or -1 once it has failed
 * FETCH_WRITE_TRIES times in a row; the fetch then gives up and the
 * session ends the job, saying why (shim_fetch_failed). */
static int write_failed(struct shim_fetch *fetch, int *failures, const char *why)
{
    log_warn("fetch_write_failed", "job=%s error=%s tries=%d", fetch->job_id, log_quote(why),
             *failures + 1);
    if (++*failures < FETCH_WRITE_TRIES) {
        poll(NULL, 0, FETCH_WRITE_RETRY_MS);
        return 0;
    }
    snprintf(fetch->failure, sizeof(fetch->failure), "cannot write into Jellyfin's folder: %s",
             why);
    atomic_store(&fetch->failed, 1);
    return -1;
}

/* Sends one Fetch; returns the reply or NULL. */
static Ffpool__Reply *fetch_call(struct wire_client *client, const char *job_id, int64_t epoch,
                                 int index, int64_t offset, char *err, size_t errlen)
{
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__FetchRequest body = FFPOOL__FETCH_REQUEST__INIT;
    body.job_id = (char *)job_id;
    body.epoch = epoch;
    body.index = index;
    body.offset = offset;
    body.wait_ms = FETCH_WAIT_MS;
    request.body_case = FFPOOL__REQUEST__BODY_FETCH;
    request.fetch = &body;
    Ffpool__Reply *reply = NULL;
    if (wire_client_call_long(client, &request, FETCH_WAIT_MS, &reply, err, errlen) != 0)
        return NULL;
    return reply;
}

/* Dials the owner the last status named when it changed; its epoch goes in
 * *epoch and its address in address. Returns 0 when a client is ready, -1
 * (after a pause) when there is none yet. */
static int fetch_owner(struct shim_fetch *fetch, struct wire_client **client, char *dialled,
                       size_t dialled_len, int64_t *epoch, char *address, size_t address_len)
{
    pthread_mutex_lock(&fetch->lock);
    *epoch = fetch->epoch;
    snprintf(address, address_len, "%s", fetch->address);
    pthread_mutex_unlock(&fetch->lock);
    if (address[0] == '\0') {
        poll(NULL, 0, FETCH_RETRY_MS);
        return -1;
    }
    if (*client != NULL && strcmp(address, dialled) == 0)
        return 0;
    wire_client_close(*client);
    char err[512];
    struct wire_client_options options = {.urls = address,
                                          .token = fetch->config->api_token,
                                          .timeout_ms = FETCH_TIMEOUT_MS,
                                          .tls_ca = fetch->config->api_tls_ca,
                                          .peer = "worker"};
    *client = wire_client_open_options(&options, err, sizeof(err));
    snprintf(dialled, dialled_len, "%s", *client != NULL ? address : "");
    if (*client == NULL) {
        log_warn("fetch_failed", "job=%s address=%s error=%s", fetch->job_id, address,
                 log_quote(err));
        poll(NULL, 0, FETCH_RETRY_MS);
        return -1;
    }
    log_info("fetch_owner", "job=%s epoch=%lld address=%s", fetch->job_id, (long long)*epoch,
             address);
    return 0;
}

/* A Fetch that brought nothing: says why (once per reason; said holds the
 * last reason), frees the reply and pauses. */
static void fetch_refused(struct shim_fetch *fetch, Ffpool__Reply *reply, const char *err,
                          int index, const char *address, char *said, size_t said_len)
{
    const char *why = reply == NULL ? err
                      : reply->message != NULL && reply->message[0] != '\0'
                          ? reply->message
                          : "nothing in the reply";
    if (strcmp(why, said) != 0)
        log_warn("fetch_waiting", "job=%s segment=%d address=%s error=%s", fetch->job_id, index,
                 address, log_quote(why));
    snprintf(said, said_len, "%s", why);
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
    poll(NULL, 0, FETCH_RETRY_MS);
}

/* An HLS stream: segment by segment, the fMP4 init segment first; or a
 * run-once line's files, one by one, each under the name it was served
 * with (one of the line's outputs). */
static void fetch_segments(struct shim_fetch *fetch)
{
    const struct job_spec *spec = fetch->spec;
    struct wire_client *client = NULL;
    char dialled[256] = "", address[256], err[512], said[512] = "";
    int files = spec->output_kind == JOB_OUTPUT_CLI; /* a run-once line's files, by name */
    int have_init = files || spec->segment_type != JOB_SEGMENT_FMP4;
    struct fetch_file file = {.index = files ? 0 : spec->start_number, .fd = -1};
    int failures = 0;

    while (!atomic_load(&fetch->stop)) {
        int64_t epoch;
        if (fetch_owner(fetch, &client, dialled, sizeof(dialled), &epoch, address,
                        sizeof(address)) != 0)
            continue;
        int index = have_init ? file.index : -1;
        if (file.epoch != epoch)
            file_abandon(&file); /* another owner: its bytes from the first */
        file.epoch = epoch;
        Ffpool__Reply *reply =
            fetch_call(client, fetch->job_id, epoch, index, file.offset, err, sizeof(err));
        if (reply == NULL || reply->code != FFPOOL__ERROR_CODE__OK || reply->delivery == NULL) {
            if (reply != NULL && index < 0 && reply->code == FFPOOL__ERROR_CODE__ERROR_NOT_FOUND &&
                reply->message != NULL && strstr(reply->message, "init segment") != NULL)
                have_init = 1; /* this owner has none for us: go on with segments */
            fetch_refused(fetch, reply, err, index, address, said, sizeof(said));
            continue;
        }
        said[0] = '\0';
        const Ffpool__Delivery *delivery = reply->delivery;
        if (delivery->state == FFPOOL__DELIVERY_STATE__END) {
            ffpool__reply__free_unpacked(reply, NULL);
            break;
        }
        if (delivery->state == FFPOOL__DELIVERY_STATE__AHEAD && delivery->index > file.index) {
            /* This shim attached to a job another one was fetching: the
             * stream goes on where that one left it. */
            log_warn("fetch_attached", "job=%s segments=%d-%d delivered to another shim",
                     fetch->job_id, file.index, delivery->index - 1);
            file_abandon(&file);
            file.index = delivery->index;
        }
        if (delivery->state == FFPOOL__DELIVERY_STATE__READY) {
            int done;
            if (files && (!file_name_safe(delivery->name) ||
                          !job_spec_cli_output_named(spec, delivery->name))) {
                /* Not a file the line names: refused, and passed over
                 * (asking for the next one). */
                log_warn("fetch_refused", "job=%s file=%d name=%s", fetch->job_id, index,
                         log_quote(delivery->name != NULL ? delivery->name : ""));
                file_abandon(&file);
                file.index++;
                done = 0;
            } else {
                if (files)
                    output_folder_path(spec, delivery->name, file.path, sizeof(file.path));
                else if (index < 0)
                    job_spec_init_path(spec, file.path, sizeof(file.path));
                else
                    job_spec_segment_path(spec, index, file.path, sizeof(file.path));
                done = file_take(fetch, &file, delivery, err, sizeof(err));
            }
            if (done < 0 && write_failed(fetch, &failures, err) != 0) {
                ffpool__reply__free_unpacked(reply, NULL);
                break;
            }
            if (done == 1)
                failures = 0;
            if (done == 1 && index < 0) {
                have_init = 1;
            } else if (done == 1) {
                log_info("segment_delivered", "job=%s segment=%d bytes=%lld", fetch->job_id, index,
                         (long long)delivery->size);
                atomic_store(&fetch->written, index);
                file.index++;
            }
        }
        ffpool__reply__free_unpacked(reply, NULL);
    }
    file_abandon(&file);
    wire_client_close(client);
}

/* A progressive output: written where Jellyfin reads it, as it grows (no
 * temporary name: Jellyfin tails it), then the bytes the muxer rewrote at
 * its end, in place; END gives its final size. */
static void fetch_output(struct shim_fetch *fetch)
{
    const char *path = fetch->spec->output;
    struct wire_client *client = NULL;
    char dialled[256] = "", address[256], err[512], said[512] = "";
    int fd = -1, rewrites = 0, failures = 0;
    int64_t have = 0;

    while (!atomic_load(&fetch->stop)) {
        int64_t epoch;
        if (fetch_owner(fetch, &client, dialled, sizeof(dialled), &epoch, address,
                        sizeof(address)) != 0)
            continue;
        Ffpool__Reply *reply =
            fetch_call(client, fetch->job_id, epoch, rewrites, have, err, sizeof(err));
        if (reply == NULL || reply->code != FFPOOL__ERROR_CODE__OK || reply->delivery == NULL) {
            fetch_refused(fetch, reply, err, fetch->spec->start_number, address, said,
                          sizeof(said));
            continue;
        }
        said[0] = '\0';
        const Ffpool__Delivery *delivery = reply->delivery;
        int ended = delivery->state == FFPOOL__DELIVERY_STATE__END;
        int ready = delivery->state == FFPOOL__DELIVERY_STATE__READY &&
                    (delivery->rewrite || delivery->offset == have);
        int error = 0; /* a write failed: the same reply is asked for again */
        if (fd < 0 && (ready || (ended && delivery->size >= 0)) &&
            (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
            error = errno;
        if (fd >= 0 && ready) {
            if (write_at(fd, delivery->data.data, delivery->data.len, delivery->offset) != 0) {
                error = errno;
            } else if (delivery->rewrite) {
                rewrites++;
            } else {
                have += (int64_t)delivery->data.len;
                atomic_store(&fetch->written, fetch->spec->start_number);
            }
        }
        if (fd >= 0 && ended && delivery->size != have && ftruncate(fd, delivery->size) != 0)
            error = errno;
        if (!error && ended)
            log_info("output_delivered", "job=%s bytes=%lld rewrites=%d", fetch->job_id,
                     fd >= 0 ? (long long)delivery->size : -1LL, rewrites);
        if (!error && ended && fd >= 0)
            atomic_store(&fetch->written, fetch->spec->start_number);
        ffpool__reply__free_unpacked(reply, NULL);
        if (error) {
            snprintf(err, sizeof(err), "%s: %s", path, strerror(error));
            if (ended)
                failures = FETCH_WRITE_TRIES; /* the run has ended: no asking again */
            if (write_failed(fetch, &failures, err) != 0)
                break;
            continue;
        }
        failures = 0;
        if (ended)
            break;
    }
    if (fd >= 0)
        close(fd);
    wire_client_close(client);
}

static void *fetch_main(void *arg)
{
    struct shim_fetch *fetch = arg;
    const struct job_spec *spec = fetch->spec;
    int pattern = 0;
    if (spec->output_kind == JOB_OUTPUT_PROGRESSIVE ||
        (spec->output_kind == JOB_OUTPUT_CLI && job_spec_cli_outputs(spec, NULL, &pattern) == 1 &&
         !pattern))
        fetch_output(fetch);
    else
        fetch_segments(fetch);
    return NULL;
}

struct shim_fetch *shim_fetch_start(const struct ffpool_config *config,
                                    const struct job_spec *jellyfin_spec, const char *job_id)
{
    struct shim_fetch *fetch = calloc(1, sizeof(*fetch));
    if (fetch == NULL)
        return NULL;
    fetch->config = config;
    fetch->spec = jellyfin_spec;
    snprintf(fetch->job_id, sizeof(fetch->job_id), "%s", job_id);
    atomic_store(&fetch->written, jellyfin_spec->start_number - 1);
    pthread_mutex_init(&fetch->lock, NULL);
    if (pthread_create(&fetch->thread, NULL, fetch_main, fetch) != 0) {
        pthread_mutex_destroy(&fetch->lock);
        free(fetch);
        return NULL;
    }
    return fetch;
}

void shim_fetch_follow(struct shim_fetch *fetch, int64_t epoch, const char *address)
{
    pthread_mutex_lock(&fetch->lock);
    fetch->epoch = epoch;
    snprintf(fetch->address, sizeof(fetch->address), "%s", address != NULL ? address : "");
    pthread_mutex_unlock(&fetch->lock);
}

int shim_fetch_written(struct shim_fetch *fetch)
{
    return atomic_load(&fetch->written);
}

const char *shim_fetch_failed(struct shim_fetch *fetch)
{
    return atomic_load(&fetch->failed) ? fetch->failure : NULL;
}

int shim_fetch_stop(struct shim_fetch *fetch, char *why, size_t whylen)
{
    if (fetch == NULL)
        return 0;
    atomic_store(&fetch->stop, 1);
    pthread_join(fetch->thread, NULL);
    int failed = atomic_load(&fetch->failed);
    if (failed && why != NULL)
        snprintf(why, whylen, "%s", fetch->failure);
    pthread_mutex_destroy(&fetch->lock);
    free(fetch);
    return failed;
}
