/* test_service.c -- the scheduler's request handlers: confinement of job
 * paths against real files, folders and symlinks; Watch (long poll) and
 * Attach against a real redis-server at 127.0.0.1:$FFPOOL_TEST_REDIS_PORT,
 * each test in a Redis database of its own (leased as queue_test_lib.h
 * does for the queue tests). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "job_spec.h"
#include "pipeline_caps.h"
#include "program.h"
#include "queue.h"
#include "service.h"

/* ---- files: DIR/media/movie.mkv, DIR/outside/secret.mkv, symlinks -------- */

static char dir[256];

static void path_of(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", dir, rel);
}

static void file_touch(const char *rel)
{
    char p[512];
    path_of(p, sizeof(p), rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "create %s", p);
    fputs("x", f);
    fclose(f);
}

static void link_make(const char *target, const char *rel)
{
    char p[512];
    path_of(p, sizeof(p), rel);
    cr_assert_eq(symlink(target, p), 0, "symlink %s", p);
}

static void tree_setup(void)
{
    snprintf(dir, sizeof(dir), "%s/ffpool-service.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    char p[512];
    const char *dirs[] = {"media", "media/shows", "transcodes", "outside"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        path_of(p, sizeof(p), dirs[i]);
        cr_assert_eq(mkdir(p, 0755), 0);
    }
    file_touch("media/movie.mkv");
    file_touch("outside/secret.mkv");
    link_make("../outside/secret.mkv", "media/escape.mkv"); /* file symlink out */
    link_make("../outside", "transcodes/evil");             /* folder symlink out */
    link_make("movie.mkv", "media/alias.mkv");              /* symlink that stays in */
    link_make("../nowhere", "transcodes/dangling");         /* symlink to nothing */
}

static void tree_teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (dir[0] != '\0' && system(cmd) != 0)
        cr_log_warn("could not remove %s", dir);
}

/* A valid HLS job reading DIR/media/movie.mkv into DIR/transcodes/abc/. */
static void spec_make(struct job_spec *spec)
{
    job_spec_init(spec);
    path_of(spec->input, sizeof(spec->input), "media/movie.mkv");
    path_of(spec->output, sizeof(spec->output), "transcodes/abc/main.m3u8");
    path_of(spec->segment_filename, sizeof(spec->segment_filename), "transcodes/abc/seg%d.ts");
    snprintf(spec->video_codec, sizeof(spec->video_codec), "libx264");
    snprintf(spec->audio_codec, sizeof(spec->audio_codec), "aac");
    spec->output_kind = JOB_OUTPUT_HLS;
    spec->hls_time_us = 3000000;
    spec->start_number = 0;
}

/* Runs the scheduler's Submit checks on spec with confinement to DIR's
 * roots (or none); returns the code and copies the message. */
static Ffpool__ErrorCode submit_check(const struct job_spec *spec, int confined, char *message)
{
    static struct ffpool_config config;
    config_defaults(&config);
    if (confined) {
        snprintf(config.paths_media_roots, sizeof(config.paths_media_roots),
                 "/nonexistent-a, %s/media", dir);
        snprintf(config.paths_transcode_root, sizeof(config.paths_transcode_root), "%s/transcodes",
                 dir);
    }
    size_t len = 0;
    uint8_t *bytes = job_spec_pack(spec, &len);
    cr_assert_not_null(bytes);
    Ffpool__JobSpec *message_spec = ffpool__job_spec__unpack(NULL, len, bytes);
    cr_assert_not_null(message_spec);
    Ffpool__SubmitRequest submit = FFPOOL__SUBMIT_REQUEST__INIT;
    submit.job_key = "key";
    submit.spec = message_spec;
    struct job_spec *out = malloc(sizeof(*out));
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    Ffpool__ErrorCode code =
        service_submit_check(&config, &submit, out, &packed, &packed_len, message, 1200);
    cr_assert((code == FFPOOL__ERROR_CODE__OK) == (packed != NULL));
    free(packed);
    free(out);
    free(bytes);
    ffpool__job_spec__free_unpacked(message_spec, NULL);
    return code;
}

static void assert_refused(const struct job_spec *spec, const char *needle)
{
    char message[1200] = "";
    cr_assert_eq(submit_check(spec, 1, message), FFPOOL__ERROR_CODE__ERROR_INVALID_JOB,
                 "accepted: %s", message);
    cr_assert(strstr(message, needle) != NULL, "message \"%s\" lacks \"%s\"", message, needle);
}

TestSuite(confine, .init = tree_setup, .fini = tree_teardown);

Test(confine, job_inside_the_roots_is_accepted_with_missing_output_folders)
{
    struct job_spec spec;
    spec_make(&spec);
    char message[1200] = "";
    cr_assert_eq(submit_check(&spec, 1, message), FFPOOL__ERROR_CODE__OK, "%s", message);
    /* a symlink that stays inside the media root is fine too */
    path_of(spec.input, sizeof(spec.input), "media/alias.mkv");
    cr_assert_eq(submit_check(&spec, 1, message), FFPOOL__ERROR_CODE__OK, "%s", message);
}

Test(confine, dotdot_input_escape_is_refused)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.input, sizeof(spec.input), "media/shows/../../outside/secret.mkv");
    assert_refused(&spec, "outside paths.media_roots");
}

Test(confine, symlinked_input_escape_is_refused)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.input, sizeof(spec.input), "media/escape.mkv");
    assert_refused(&spec, "outside/secret.mkv");
}

Test(confine, missing_input_and_urls_are_refused_when_media_roots_are_set)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.input, sizeof(spec.input), "media/nope.mkv");
    assert_refused(&spec, "cannot be resolved");
    snprintf(spec.input, sizeof(spec.input), "http://127.0.0.1:8096/live.ts");
    assert_refused(&spec, "not a file");
}

Test(confine, dotdot_in_an_output_folder_that_does_not_exist_is_refused)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.output, sizeof(spec.output), "transcodes/new/../../outside/x.m3u8");
    assert_refused(&spec, "'..'");
}

Test(confine, output_through_a_symlinked_folder_is_refused)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.output, sizeof(spec.output), "transcodes/evil/x.m3u8");
    assert_refused(&spec, "outside paths.transcode_root");
}

Test(confine, segment_folder_and_init_file_escapes_are_refused)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.segment_filename, sizeof(spec.segment_filename), "transcodes/evil/s%d.ts");
    assert_refused(&spec, "segment folder");
    spec_make(&spec);
    spec.segment_type = JOB_SEGMENT_FMP4;
    snprintf(spec.init_filename, sizeof(spec.init_filename), "../../outside/init.mp4");
    assert_refused(&spec, "init file");
    spec_make(&spec);
    path_of(spec.segment_filename, sizeof(spec.segment_filename), "transcodes/dangling/s%d.ts");
    assert_refused(&spec, "symlink whose target does not exist");
}

Test(confine, empty_roots_turn_confinement_off)
{
    struct job_spec spec;
    spec_make(&spec);
    path_of(spec.input, sizeof(spec.input), "media/escape.mkv");
    path_of(spec.output, sizeof(spec.output), "outside/x.m3u8");
    char message[1200] = "";
    cr_assert_eq(submit_check(&spec, 0, message), FFPOOL__ERROR_CODE__OK, "%s", message);
}

/* A trickplay line writing into Jellyfin's data folder, outside the roots:
 * refused when the worker would write there, accepted when delivered (the
 * worker writes into its spool, the shim where Jellyfin asked); its input
 * is confined either way. */
Test(confine, a_delivered_lines_outputs_are_not_the_workers_paths)
{
    struct job_spec spec;
    char input[600], images[600], message[1200] = "";
    path_of(input, sizeof(input), "media/movie.mkv");
    path_of(images, sizeof(images), "outside/trickplay/%08d.jpg");
    const char *args[] = {"-i", input, "-an", "-f", "image2", images, NULL};
    job_spec_init(&spec);
    spec.output_kind = JOB_OUTPUT_CLI;
    for (int i = 0; args[i] != NULL; i++)
        cr_assert_eq(job_spec_cli_append(&spec, args[i]), 0);
    snprintf(spec.input, sizeof(spec.input), "%s", input);
    snprintf(spec.output, sizeof(spec.output), "%s", images);
    assert_refused(&spec, "outside");
    spec.deliver = 1;
    cr_assert_eq(submit_check(&spec, 1, message), FFPOOL__ERROR_CODE__OK, "%s", message);
    path_of(input, sizeof(input), "outside/secret.mkv");
    job_spec_init(&spec);
    spec.output_kind = JOB_OUTPUT_CLI;
    spec.deliver = 1;
    for (int i = 0; args[i] != NULL; i++)
        cr_assert_eq(job_spec_cli_append(&spec, args[i]), 0);
    snprintf(spec.output, sizeof(spec.output), "%s", images);
    assert_refused(&spec, "secret.mkv");
}

Test(confine, resolve_appends_missing_components_to_the_real_parent)
{
    char path[512], out[4096], err[512];
    path_of(path, sizeof(path), "transcodes/a/./b//c.ts");
    cr_assert_eq(confine_path_resolve(path, 0, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "/transcodes/a/b/c.ts") != NULL, "%s", out);
    cr_assert_eq(confine_path_resolve("relative/x", 0, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strstr(err, "not absolute") != NULL, "%s", err);
}

/* ---- Watch and Attach against real Redis ------------------------------ */

static struct {
    redisContext *admin;
    int db;
    struct ffpool_config config;
    struct service service;
    struct service_thread *thread;
} redis_test;

static void redis_setup(void)
{
    const char *port = getenv("FFPOOL_TEST_REDIS_PORT");
    cr_assert_not_null(port, "no redis-server: set FFPOOL_TEST_REDIS_PORT");
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redis_test.admin = redisConnectWithTimeout("127.0.0.1", atoi(port), tv);
    cr_assert(redis_test.admin != NULL && !redis_test.admin->err);
    redis_test.db = 0;
    for (long long deadline = program_monotonic_ms() + 60000;
         redis_test.db == 0 && program_monotonic_ms() < deadline; usleep(50000)) {
        for (int db = 1; db <= 15 && redis_test.db == 0; db++) {
            redisReply *reply = redisCommand(redis_test.admin,
                                             "SET ffpool-test:db:%d %d NX PX 300000", db, getpid());
            if (reply != NULL && reply->type == REDIS_REPLY_STATUS)
                redis_test.db = db;
            freeReplyObject(reply);
        }
    }
    cr_assert_neq(redis_test.db, 0, "no free test database");
    freeReplyObject(redisCommand(redis_test.admin, "SELECT %d", redis_test.db));
    freeReplyObject(redisCommand(redis_test.admin, "FLUSHDB"));

    config_defaults(&redis_test.config);
    redis_test.config.redis_port = atoi(port);
    redis_test.config.redis_db = redis_test.db;
    redis_test.service.config = &redis_test.config;
    atomic_store(&redis_test.service.stopping, 0);
    redis_test.thread = service_thread_init(&redis_test.service);
    cr_assert_not_null(redis_test.thread);
}

static void redis_teardown(void)
{
    service_thread_free(redis_test.thread);
    redis_test.thread = NULL;
    if (redis_test.admin == NULL)
        return;
    freeReplyObject(redisCommand(redis_test.admin, "FLUSHDB"));
    freeReplyObject(redisCommand(redis_test.admin, "SELECT 0"));
    freeReplyObject(redisCommand(redis_test.admin, "DEL ffpool-test:db:%d", redis_test.db));
    redisFree(redis_test.admin);
    redis_test.admin = NULL;
}

/* Submits a valid job (no confinement) under job_key; returns its id. */
static void job_submit(const char *job_key, char id[QUEUE_ID_MAX])
{
    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.input, sizeof(spec.input), "/media/in.mkv");
    snprintf(spec.output, sizeof(spec.output), "/transcodes/out.m3u8");
    snprintf(spec.segment_filename, sizeof(spec.segment_filename), "/transcodes/s%%d.ts");
    snprintf(spec.video_codec, sizeof(spec.video_codec), "libx264");
    spec.hls_time_us = 3000000;
    spec.start_number = 0;
    size_t len = 0;
    uint8_t *bytes = job_spec_pack(&spec, &len);
    Ffpool__JobSpec *message = ffpool__job_spec__unpack(NULL, len, bytes);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__SubmitRequest submit = FFPOOL__SUBMIT_REQUEST__INIT;
    submit.job_key = (char *)job_key;
    submit.spec = message;
    request.body_case = FFPOOL__REQUEST__BODY_SUBMIT;
    request.submit = &submit;
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    service_handle(redis_test.thread, &request, &reply);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
    snprintf(id, QUEUE_ID_MAX, "%s", reply.job->job_id);
    ffpool__job_spec__free_unpacked(message, NULL);
    free(bytes);
}

static Ffpool__Reply watch_call(const char *id, int64_t version, int timeout_ms,
                                long long *elapsed_ms)
{
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__WatchRequest watch = FFPOOL__WATCH_REQUEST__INIT;
    watch.job_id = (char *)id;
    watch.progress_version = version;
    watch.timeout_ms = timeout_ms;
    watch.heartbeat = 1;
    request.body_case = FFPOOL__REQUEST__BODY_WATCH;
    request.watch = &watch;
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    long long start = program_monotonic_ms();
    service_handle(redis_test.thread, &request, &reply);
    *elapsed_ms = program_monotonic_ms() - start;
    return reply;
}

/* A worker of its own that claims the job and reports progress after a
 * delay, as a real worker would. */
struct progress_writer {
    struct ffpool_config *config;
    int delay_ms;
    int ok;
};

static void *progress_writer_main(void *arg)
{
    struct progress_writer *w = arg;
    struct queue_config queue_config;
    program_queue_config(w->config, &queue_config);
    struct queue *queue = queue_open(&queue_config);
    struct queue_claim claim;
    memset(&claim, 0, sizeof(claim));
    usleep((useconds_t)w->delay_ms * 1000);
    /* Jobs are routed: announce this libav's capabilities, as a worker does. */
    size_t caps_len = 0;
    uint8_t *caps = pipeline_capabilities_pack(&caps_len);
    queue_worker_announce(queue, "test-worker", 10000, 1, 0, 0, caps, caps_len, NULL, NULL);
    free(caps);
    if (queue_claim(queue, "test-worker", &claim) == QUEUE_OK) {
        struct queue_progress progress = {
            .frames = 25, .out_time_us = 1000000, .bytes = 1000, .speed = 1.0};
        w->ok = queue_report_progress(queue, claim.id, "test-worker", claim.epoch, &progress) ==
                QUEUE_OK;
    }
    queue_claim_clear(&claim);
    queue_close(queue);
    return NULL;
}

TestSuite(watch, .init = redis_setup, .fini = redis_teardown);

Test(watch, returns_after_the_time_out_when_nothing_moves)
{
    char id[QUEUE_ID_MAX];
    job_submit("still", id);
    long long elapsed;
    Ffpool__Reply reply = watch_call(id, 0, 300, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
    int64_t version = reply.job->progress_version;
    reply = watch_call(id, version, 300, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK);
    cr_assert_eq(reply.job->progress_version, version);
    cr_assert(elapsed >= 280 && elapsed < 1500, "waited %lld ms for a 300 ms watch", elapsed);
}

Test(watch, returns_as_soon_as_progress_moves)
{
    char id[QUEUE_ID_MAX];
    job_submit("moving", id);
    long long elapsed;
    Ffpool__Reply reply = watch_call(id, 0, 100, &elapsed);
    int64_t version = reply.job->progress_version;
    struct progress_writer writer = {.config = &redis_test.config, .delay_ms = 300};
    pthread_t thread;
    pthread_create(&thread, NULL, progress_writer_main, &writer);
    reply = watch_call(id, version, 10000, &elapsed);
    pthread_join(thread, NULL);
    cr_assert(writer.ok, "the test worker could not report progress");
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
    cr_assert_gt(reply.job->progress_version, version);
    cr_assert_eq(reply.job->frames, 25);
    cr_assert(elapsed >= 250 && elapsed < 3000, "watch took %lld ms", elapsed);
}

Test(watch, finished_job_answers_at_once_and_missing_job_is_not_found)
{
    char id[QUEUE_ID_MAX];
    job_submit("ends", id);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__JobRef ref = FFPOOL__JOB_REF__INIT;
    ref.job_id = id;
    request.body_case = FFPOOL__REQUEST__BODY_CANCEL;
    request.cancel = &ref;
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    service_handle(redis_test.thread, &request, &reply);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
    long long elapsed;
    reply = watch_call(id, 1000000, 5000, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK);
    cr_assert_eq(reply.job->state, FFPOOL__JOB_STATE__CANCELLED);
    cr_assert_lt(elapsed, 1000);
    reply = watch_call("j-no-such-job", 0, 5000, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__ERROR_NOT_FOUND);
    cr_assert(strlen(reply.message) > 0);
}

Test(watch, stopping_scheduler_ends_a_watch_at_once)
{
    char id[QUEUE_ID_MAX];
    job_submit("stop", id);
    long long elapsed;
    Ffpool__Reply reply = watch_call(id, 0, 100, &elapsed);
    service_stop_begin(&redis_test.service);
    reply = watch_call(id, reply.job->progress_version, 20000, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK);
    cr_assert_lt(elapsed, 1000);
}

Test(watch, attach_finds_a_job_without_creating_one)
{
    char id[QUEUE_ID_MAX];
    job_submit("attach-me", id);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__AttachRequest attach = FFPOOL__ATTACH_REQUEST__INIT;
    attach.job_id = id;
    request.body_case = FFPOOL__REQUEST__BODY_ATTACH;
    request.attach = &attach;
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    service_handle(redis_test.thread, &request, &reply);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
    cr_assert_str_eq(reply.job->job_id, id);
    cr_assert_not(reply.job->created);

    Ffpool__Reply missing = FFPOOL__REPLY__INIT;
    attach.job_id = "j-missing";
    service_handle(redis_test.thread, &request, &missing);
    cr_assert_eq(missing.code, FFPOOL__ERROR_CODE__ERROR_NOT_FOUND);

    Ffpool__Reply by_key = FFPOOL__REPLY__INIT;
    attach.job_id = "";
    attach.job_key = "attach-me";
    service_handle(redis_test.thread, &request, &by_key);
    cr_assert_eq(by_key.code, FFPOOL__ERROR_CODE__OK, "%s", by_key.message);
    cr_assert_str_eq(by_key.job->job_id, id);
    cr_assert_not(by_key.job->created);

    Ffpool__Reply unknown_key = FFPOOL__REPLY__INIT;
    attach.job_key = "never-submitted";
    service_handle(redis_test.thread, &request, &unknown_key);
    cr_assert_eq(unknown_key.code, FFPOOL__ERROR_CODE__ERROR_NOT_FOUND);
    cr_assert(strstr(unknown_key.message, "job_key") != NULL, "%s", unknown_key.message);

    Ffpool__Reply neither = FFPOOL__REPLY__INIT;
    attach.job_key = "";
    service_handle(redis_test.thread, &request, &neither);
    cr_assert_eq(neither.code, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST);

    redisReply *count = redisCommand(redis_test.admin, "ZCARD ffpool:jobs");
    cr_assert_eq(count->integer, 1, "attach must not create a job");
    freeReplyObject(count);
}

/* Holds a Watch on its own service thread (its own Redis connection). */
struct held_watch {
    const char *id;
    int64_t version;
    Ffpool__ErrorCode code;
};

static void *held_watch_main(void *arg)
{
    struct held_watch *w = arg;
    struct service_thread *thread = service_thread_init(&redis_test.service);
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__WatchRequest watch = FFPOOL__WATCH_REQUEST__INIT;
    watch.job_id = (char *)w->id;
    watch.progress_version = w->version;
    watch.timeout_ms = 800;
    request.body_case = FFPOOL__REQUEST__BODY_WATCH;
    request.watch = &watch;
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    service_handle(thread, &request, &reply);
    w->code = reply.code;
    service_thread_free(thread);
    return NULL;
}

Test(watch, watches_beyond_half_the_contexts_are_told_to_retry)
{
    redis_test.config.scheduler_contexts = 2; /* at most one Watch held */
    char id[QUEUE_ID_MAX];
    job_submit("busy", id);
    long long elapsed;
    Ffpool__Reply reply = watch_call(id, 0, 100, &elapsed);
    struct held_watch held = {.id = id, .version = reply.job->progress_version};
    pthread_t thread;
    pthread_create(&thread, NULL, held_watch_main, &held);
    usleep(200000);
    reply = watch_call(id, held.version, 5000, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE, "%s", reply.message);
    cr_assert(strstr(reply.message, "scheduler.contexts") != NULL, "%s", reply.message);
    cr_assert_lt(elapsed, 500);
    pthread_join(thread, NULL);
    cr_assert_eq(held.code, FFPOOL__ERROR_CODE__OK);
    /* once the held Watch has ended, a new one is served */
    reply = watch_call(id, held.version, 100, &elapsed);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
}

TestSuite(workers, .init = redis_setup, .fini = redis_teardown);

/* Workers on the same libav publish the same capabilities (every filter's
 * help text among them): a Capabilities reply carries them once, so a pool
 * of many such workers stays far below the clients' reply limit, and the
 * others name the worker that carries them. A worker whose capabilities
 * differ still carries its own. */
Test(workers, identical_capabilities_travel_once)
{
    struct queue_config queue_config;
    program_queue_config(&redis_test.config, &queue_config);
    struct queue *queue = queue_open(&queue_config);
    size_t caps_len = 0;
    uint8_t *caps = pipeline_capabilities_pack(&caps_len);
    cr_assert_not_null(caps);
    Ffpool__Capabilities *other = ffpool__capabilities__unpack(NULL, caps_len, caps);
    cr_assert_not_null(other);
    char *unpacked_version = other->av_version;
    other->av_version = "0.0-other";
    size_t other_len = ffpool__capabilities__get_packed_size(other);
    uint8_t *other_caps = malloc(other_len);
    ffpool__capabilities__pack(other, other_caps);
    other->av_version = unpacked_version; /* freed with the message */
    const char *same[] = {"worker-a", "worker-b", "worker-c", "worker-d"};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(
            queue_worker_announce(queue, same[i], 10000, 1, 0, 0, caps, caps_len, NULL, NULL),
            QUEUE_OK);
    cr_assert_eq(queue_worker_announce(queue, "worker-other", 10000, 1, 0, 0, other_caps, other_len,
                                       NULL, NULL),
                 QUEUE_OK);

    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__Empty empty = FFPOOL__EMPTY__INIT;
    request.body_case = FFPOOL__REQUEST__BODY_CAPABILITIES;
    request.capabilities = &empty;
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    service_handle(redis_test.thread, &request, &reply);
    cr_assert_eq(reply.code, FFPOOL__ERROR_CODE__OK, "%s", reply.message);
    cr_assert_eq(reply.n_workers, 5);
    int carried = 0, named = 0, other_carried = 0;
    for (size_t i = 0; i < reply.n_workers; i++) {
        const Ffpool__WorkerInfo *w = reply.workers[i];
        if (strcmp(w->id, "worker-other") == 0) {
            other_carried =
                w->capabilities != NULL && strcmp(w->capabilities->av_version, "0.0-other") == 0;
            continue;
        }
        if (w->capabilities != NULL) {
            carried++;
            continue;
        }
        named += strncmp(w->same_capabilities_as, "worker-", 7) == 0;
    }
    cr_expect_eq(carried, 1, "%d of the 4 identical workers carry their capabilities", carried);
    cr_expect_eq(named, 3, "%d name the worker that carries them", named);
    cr_expect(other_carried, "a worker with other capabilities carries its own");
    size_t packed = ffpool__reply__get_packed_size(&reply);
    cr_expect_lt(packed, 2 * caps_len + other_len, "a 5-worker reply packs to %zu bytes", packed);
    ffpool__capabilities__free_unpacked(other, NULL);
    free(other_caps);
    free(caps);
    queue_close(queue);
}
