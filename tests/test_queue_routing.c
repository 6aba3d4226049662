/* test_queue_routing.c -- routing in the claim script, against a real
 * redis-server: a job that needs words (encoder:h264_vaapi, filter:tonemapx,
 * ...) goes only to a worker whose announced capabilities offer all of
 * them, takeovers included; a job no live worker can run says why it waits
 * and fails after the unroutable timeout. What a spec needs and what a
 * worker offers are tested in test_routing.c; the server and the fixture
 * are in queue_test_lib.h. Jellyfin's hardware lines from the corpus go to
 * the worker that opened their device, and CLI jobs to a worker whose
 * ffmpeg CLI (probed for real) offers what their line names. */
#include "queue.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv_test_lib.h"
#include "cli_caps.h"
#include "ffpool.pb-c.h"
#include "pipeline_caps.h"
#include "queue_test_lib.h"
#include "routing.h"

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

/* Announces worker_id with this libav's real capabilities and the device
 * types given (what a worker that opened them publishes). */
static void announce_real(struct queue *queue, const char *worker_id, const char *const *devices)
{
    char names[8][32];
    int n = 0;
    for (; devices[n] != NULL; n++)
        snprintf(names[n], sizeof(names[n]), "%s", devices[n]);
    size_t caps_len = 0;
    uint8_t *caps = pipeline_capabilities_pack_devices(&caps_len, names, n, NULL);
    cr_assert_not_null(caps);
    int need_caps = -1;
    cr_assert_eq(
        queue_worker_announce(queue, worker_id, 60000, 1, 0, 0, caps, caps_len, &need_caps, NULL),
        QUEUE_OK, "%s", queue_last_error(queue));
    free(caps);
}

/* Jellyfin's hardware lines, read from the corpus as the shim reads them,
 * submitted with the needs routing gives them, and claimed by workers
 * that announce this libav's real capabilities (Debian's lists h264_vaapi,
 * h264_qsv and h264_nvenc everywhere) with different devices: each line
 * goes only to the worker that opened its device. Nothing runs the jobs:
 * this checks where they go. */
Test(queue, jellyfin_hardware_lines_go_to_the_worker_with_their_device)
{
    static const struct {
        const char *corpus;
        const char *device; /* the word that must route it */
        const char *worker; /* the only worker that may claim it */
    } lines[] = {
        {"006-", "device:vaapi", "intel"}, /* h264_vaapi, scale_vaapi */
        {"010-", "device:vaapi", "intel"}, /* i965, low power, CBR */
        {"008-", "device:qsv", "intel"},   /* h264_qsv, vpp_qsv */
        {"029-", "device:qsv", "intel"},   /* hevc_qsv, fMP4 */
        {"013-", "device:cuda", "nvidia"}, /* software decode and scale, h264_nvenc */
        {"054-", "device:cuda", "nvidia"}, /* -hwaccel cuda, h264_nvenc */
    };
    static const char *const cpu[] = {"vulkan", NULL};
    static const char *const intel[] = {"vaapi", "drm", "qsv", "opencl", NULL};
    static const char *const nvidia[] = {"cuda", NULL};
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 60000;
    struct queue *queue = open_queue(&config);
    announce_real(queue, "cpu", cpu);
    announce_real(queue, "intel", intel);
    announce_real(queue, "nvidia", nvidia);

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct job_spec spec;
        char reason[512], needs[4096], err[256];
        cr_assert_eq(corpus_parse(lines[i].corpus, &spec, reason, sizeof(reason)), ARGV_NATIVE,
                     "%s: %s", lines[i].corpus, reason);
        cr_assert_eq(routing_job_requires(&spec, needs, sizeof(needs), err, sizeof(err)), 0,
                     "%s: %s", lines[i].corpus, err);
        cr_assert(strstr(needs, lines[i].device) != NULL, "%s needs %s", lines[i].corpus, needs);
        char id[QUEUE_ID_MAX];
        submit_routed(queue, needs, id);
        claim_empty(queue, "cpu");
        const char *other = strcmp(lines[i].worker, "intel") == 0 ? "nvidia" : "intel";
        claim_empty(queue, other);
        cr_assert_str_eq(get_ok(queue, id).waiting, "", "%s (%s): %s", lines[i].corpus, needs,
                         get_ok(queue, id).waiting);
        struct queue_claim claim;
        claim_ok(queue, lines[i].worker, &claim);
        cr_assert_str_eq(claim.id, id, "%s", lines[i].corpus);
        cr_assert_eq(queue_complete(queue, claim.id, lines[i].worker, claim.epoch), QUEUE_OK);
        queue_claim_clear(&claim);
    }
    /* tonemap_cuda is jellyfin-ffmpeg's: no Debian worker takes the line. */
    struct job_spec spec;
    char reason[512], needs[4096], err[256], id[QUEUE_ID_MAX];
    cr_assert_eq(corpus_parse("011-", &spec, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(routing_job_requires(&spec, needs, sizeof(needs), err, sizeof(err)), 0, "%s", err);
    submit_routed(queue, needs, id);
    claim_empty(queue, "cpu");
    claim_empty(queue, "intel");
    claim_empty(queue, "nvidia");
    cr_assert_str_eq(get_ok(queue, id).waiting, "no worker offers filter:tonemap_cuda");
    queue_close(queue);
}

/* ------------------------------------------------------------ CLI jobs */

/* Announces worker_id with this libav's real capabilities and, when cli is
 * set, its ffmpeg CLI's (as a worker with worker.ffmpeg announces them). */
static void announce_real_cli(struct queue *queue, const char *worker_id,
                              const Ffpool__CliInfo *cli)
{
    size_t caps_len = 0;
    uint8_t *caps = pipeline_capabilities_pack_devices(&caps_len, NULL, 0, cli);
    cr_assert_not_null(caps);
    int need_caps = -1;
    cr_assert_eq(
        queue_worker_announce(queue, worker_id, 60000, 1, 0, 0, caps, caps_len, &need_caps, NULL),
        QUEUE_OK, "%s", queue_last_error(queue));
    free(caps);
}

/* A CLI line's words, as routing_cli_requires reads them. */
static void cli_needs(const char *line, char *needs, size_t size)
{
    struct split_result r = split(line);
    char err[256] = "";
    int status = routing_cli_requires(r.argc, r.argv, needs, size, err, sizeof(err));
    argv_free(r.argv);
    cr_assert_eq(status, 0, "%s", err);
}

/* A worker announcing no cli section never gets a CLI job, even when its
 * libav has the filter; a worker whose real CLI (Debian's ffmpeg) lists it
 * does. A filter its CLI lacks (jellyfin-ffmpeg's tonemapx) waits, saying
 * which word no worker offers. */
Test(queue, a_cli_job_goes_only_to_a_worker_whose_cli_offers_what_it_needs)
{
    char err[512] = "";
    Ffpool__CliInfo *cli = cli_caps_probe("ffmpeg", 20000, err, sizeof(err));
    cr_assert_not_null(cli, "%s", err);
    struct queue_config config = test_config();
    config.unroutable_timeout_ms = 60000;
    struct queue *queue = open_queue(&config);
    announce_real_cli(queue, "native", NULL);
    announce_real_cli(queue, "cli", cli);
    cli_caps_free(cli);

    char needs[1024], id[QUEUE_ID_MAX];
    cli_needs("-i in.mkv -vf unsharp=5:5:1.0 -c:v libx264 -c:a copy out.mkv", needs, sizeof(needs));
    cr_assert_str_eq(needs, "cli:ffmpeg cli-filter:unsharp cli-encoder:libx264");
    submit_routed(queue, needs, id);
    claim_empty(queue, "native");
    claim_empty(queue, "never-announced");
    cr_assert_str_eq(get_ok(queue, id).waiting, "", "the cli worker can run it");
    struct queue_claim claim;
    claim_ok(queue, "cli", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(queue_complete(queue, claim.id, "cli", claim.epoch), QUEUE_OK);
    queue_claim_clear(&claim);

    /* The words alone, as the brief's shape: cli:ffmpeg and a filter. */
    submit_routed(queue, "cli:ffmpeg cli-filter:scale", id);
    claim_empty(queue, "native");
    claim_ok(queue, "cli", &claim);
    cr_assert_str_eq(claim.id, id);
    cr_assert_eq(queue_complete(queue, claim.id, "cli", claim.epoch), QUEUE_OK);
    queue_claim_clear(&claim);

    cli_needs("-i in.mkv -vf tonemapx=tonemap=bt2390 -c:v libx264 out.mkv", needs, sizeof(needs));
    submit_routed(queue, needs, id);
    claim_empty(queue, "native");
    claim_empty(queue, "cli");
    cr_assert_str_eq(get_ok(queue, id).waiting, "no worker offers cli-filter:tonemapx");
    queue_close(queue);
}
