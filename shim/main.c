/* main.c -- ffpool-shim: what Jellyfin runs as "ffmpeg" and "ffprobe".
 *
 * For a command line the pool serves natively it submits a job, then stays
 * alive exactly like an ffmpeg process would: progress lines on stderr,
 * `q` on stdin (or SIGTERM/SIGINT) ends it at once, `p`/`u` pause and
 * resume, and the exit status says whether the output is complete. It
 * keeps waiting across a worker takeover: the job lives in Redis, not in
 * any one worker. While no worker can run the job (routing: a filter or
 * encoder nobody offers) it prints the reason once, and exits 1 with it if
 * the job fails. A hardware job also carries the driver settings Jellyfin
 * put in its environment (LIBVA_DRIVER_NAME...) and its device paths
 * mapped with paths.device_map, and goes to the pool only when a live
 * worker has its devices (see "Hardware lines"); Jellyfin's device checks
 * run on such a worker the same way and print what the CLI printed there.
 * A line the native parser does not take (images, extraction, options it
 * does not know) runs on a worker's ffmpeg CLI when one can run it (see
 * "Lines for a worker's ffmpeg CLI"). Everything else (ffprobe, lines that
 * read stdin or write stdout, hardware no worker has...) is handed to a
 * local ffmpeg/ffprobe (exec, same argv, Jellyfin's own paths), so
 * Jellyfin cannot tell the difference.
 *
 * Jellyfin's start-up probes (-version, -encoders, -filters, -h filter=...)
 * are answered from the pool's workers (probe.c) through the scheduler's
 * Capabilities request; the last answer is kept on disk (caps_cache.c) and
 * answers while the pool cannot (see "Start-up probes" below).
 *
 * Jellyfin shows or parses whatever "ffmpeg" prints, so the shim's own log
 * lines go to shim.log_file when it is set, and otherwise only native
 * transcodes log, on the stderr Jellyfin keeps in the job's transcode log
 * (with ffmpeg's progress words defused: log_set_progress_safe).
 *
 * A native job runs in session.c. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "argv.h"
#include "caps_cache.h"
#include "config.h"
#include "job_spec.h"
#include "log.h"
#include "offers.h"
#include "pathmap.h"
#include "probe.h"
#include "program.h"
#include "routing.h"
#include "session.h"

extern char **environ;

/* Jellyfin writes '?' and closes stdin at once; a caller that never closes
 * it still gets an answer in this time. */
#define SHIM_PAUSE_PROBE_TIMEOUT_MS 10000

static const char usage[] =
    "Usage: ffmpeg [ffmpeg options]   (ffpool-shim, installed as Jellyfin's ffmpeg)\n"
    "       ffprobe [ffprobe options]\n"
    "       ffpool-shim --cancel-job ID   (what a shim stopped by q leaves behind)\n\n"
    "Serves Jellyfin's HLS transcodes from the ffpool worker pool and hands every\n"
    "other invocation to the local ffmpeg/ffprobe named in the configuration. The\n"
    "configuration comes from $FFPOOL_CONFIG, else ffpool.yaml beside this program,\n"
    "plus FFPOOL_* environment variables.\n";

/* ---------------------------------------------------------------------------
 * Configuration, logging, passthrough
 * ------------------------------------------------------------------------- */

/* Jellyfin passes no options of ours, so the configuration is found without
 * arguments: $FFPOOL_CONFIG, or ffpool.yaml in the folder of the program
 * (the folder Jellyfin was pointed at). */
static void shim_find_config(const char *argv0)
{
    if (getenv("FFPOOL_CONFIG") != NULL || strchr(argv0, '/') == NULL)
        return;
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", argv0);
    char path[4200];
    snprintf(path, sizeof(path), "%s/ffpool.yaml", dirname(copy));
    if (access(path, R_OK) == 0)
        setenv("FFPOOL_CONFIG", path, 0);
}

/* Whether the log lines go to shim.log_file (set by shim_log_setup). */
static int shim_log_in_file;

/* Sends the log lines to shim.log_file, or nowhere: whatever a probe, an
 * ffprobe or a passthrough line prints on stderr must be exactly what the
 * local program (or ffmpeg) would print. */
static void shim_log_setup(const struct ffpool_config *config)
{
    shim_log_in_file =
        config->shim_log_file[0] != '\0' && log_open_file(config->shim_log_file) == 0;
    if (!shim_log_in_file)
        log_set_fd(-1);
}

/* A native transcode's stderr goes to Jellyfin's transcode log, where the
 * log lines help; its progress parser must never read them as progress. */
static void shim_log_native(const struct ffpool_config *config)
{
    if (shim_log_in_file)
        return;
    log_set_fd(STDERR_FILENO);
    log_set_progress_safe(1);
    if (config->shim_log_file[0] != '\0')
        log_warn("log_file_unusable", "path=%s", log_quote(config->shim_log_file));
}

/* Replaces this process with the local program; returns only on failure. */
static int shim_passthrough(const char *program, int argc, char **argv, const char *reason)
{
    if (program[0] == '\0') {
        fprintf(stderr, "ffpool: %s, and no local fallback is configured (shim.fallback_*)\n",
                reason);
        return 1;
    }
    log_info("passthrough", "program=%s reason=%s", log_quote(program), log_quote(reason));
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (args == NULL)
        return 1;
    args[0] = (char *)program;
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    execv(program, args);
    fprintf(stderr, "ffpool: cannot run %s: %s\n", program, strerror(errno));
    free(args);
    return 1;
}

static long long wall_clock_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---------------------------------------------------------------------------
 * Start-up probes
 *
 * Jellyfin probes once, at start-up, in about 21 separate processes, and
 * shapes every later command line by the answers for as long as it runs.
 * So the answer must describe the pool even when the pool cannot be asked:
 *
 *   - the pool answers: its answer is printed, and kept on disk
 *     (caps_cache.c) with the time the pool last confirmed it;
 *   - it does not, and an answer is kept: one try (OFFERS_TRY_TIMEOUT_MS),
 *     then the kept answer;
 *   - it does not, and none is kept: the probe waits up to
 *     shim.probe_wait_ms for the scheduler and a worker (Jellyfin waits for
 *     its probes: it has no time-out), then shim.no_pool_policy applies.
 *
 * Whenever the pool gave nothing, a note on disk says so, and for
 * shim.pool_down_memory_ms the probes that follow answer at once (kept
 * answer, else the policy) without trying: one unreachable scheduler costs
 * a series of probes one time-out, not one each.
 * ------------------------------------------------------------------------- */

/* Prints the answer from the workers of reply. Returns ffmpeg's exit
 * status. */
static int shim_probe_print(const struct probe_request *request, const Ffpool__Reply *reply)
{
    struct probe_caps *caps = probe_caps_build(reply->workers, reply->n_workers);
    if (caps == NULL) {
        fprintf(stderr, "ffpool: out of memory\n");
        return 1;
    }
    int status = probe_answer(request, caps, stdout, stderr);
    fflush(stdout);
    probe_caps_free(caps);
    return status;
}

/* What to do when neither the pool nor the cache can answer: exec the
 * local ffmpeg ("fallback", the default) or fail with a clear error. */
static int shim_no_pool(const struct ffpool_config *config, const struct probe_request *request,
                        int argc, char **argv, const char *why)
{
    if (strcmp(config->shim_no_pool_policy, "fail") == 0) {
        fprintf(stderr, "ffpool: the worker pool cannot answer %s: %s (shim.no_pool_policy=fail)\n",
                probe_kind_name(request->kind), why);
        log_warn("probe_failed", "probe=%s reason=%s", log_quote(probe_kind_name(request->kind)),
                 log_quote(why));
        return 1;
    }
    char reason[700];
    snprintf(reason, sizeof(reason), "no pool to answer the probe, none cached (%s)", why);
    return shim_passthrough(config->shim_fallback_ffmpeg, argc, argv, reason);
}

/* The cache file: shim.caps_cache, else the default beside the shim
 * (argv0) or in a cache folder. Returns 0, or -1 (logged) when none. */
static int shim_cache_path(const struct ffpool_config *config, const char *argv0, char *out,
                           size_t outlen)
{
    char err[600];
    if (config->shim_caps_cache[0] != '\0') {
        snprintf(out, outlen, "%s", config->shim_caps_cache);
        return 0;
    }
    if (caps_cache_default_path(argv0, out, outlen, err, sizeof(err)) == 0)
        return 0;
    log_warn("caps_cache_unusable", "error=%s", log_quote(err));
    return -1;
}

/* Answers a start-up probe (see above). Returns the exit status. */
static int shim_probe(const struct ffpool_config *config, const struct probe_request *request,
                      int argc, char **argv)
{
    if (request->kind == PROBE_PAUSE_KEYS)
        return probe_pause_keys(STDIN_FILENO, stderr, SHIM_PAUSE_PROBE_TIMEOUT_MS);

    const char *name = probe_kind_name(request->kind);
    const char *url = config->scheduler_url;
    char cache[PATH_MAX] = "";
    char why[700] = "", err[700];
    long long age = 0, down_age = 0;
    Ffpool__Reply *cached = NULL, *reply = NULL;
    int status;
    if (shim_cache_path(config, argv[0], cache, sizeof(cache)) == 0) {
        cached = caps_cache_load(cache, url, &age, err, sizeof(err));
        if (cached != NULL && !offers_reply_has_caps(cached)) {
            ffpool__reply__free_unpacked(cached, NULL);
            cached = NULL;
        }
    }

    if (cache[0] != '\0' && config->shim_pool_down_memory_ms > 0 &&
        caps_cache_down_recently(cache, url, config->shim_pool_down_memory_ms, wall_clock_ms(),
                                 &down_age)) {
        snprintf(why, sizeof(why), "no pool %lld ms ago, not tried again for %lld ms", down_age,
                 (long long)config->shim_pool_down_memory_ms);
    } else {
        /* Without a kept answer this may be Jellyfin starting before the
         * pool: worth one wait. Without anywhere to note the outcome, every
         * probe would wait again: one try then. */
        int can_note = cache[0] != '\0' && caps_cache_writable(cache);
        long long wait = cached == NULL && can_note ? config->shim_probe_wait_ms : 0;
        long long started = program_monotonic_ms();
        reply = offers_fetch(config, wait, why, sizeof(why));
        if (reply != NULL) {
            status = shim_probe_print(request, reply);
            log_info("probe", "probe=%s source=pool workers=%zu", log_quote(name),
                     reply->n_workers);
            if (cache[0] != '\0') {
                if (caps_cache_save(cache, url, reply, err, sizeof(err)) != 0)
                    log_warn("caps_cache_unwritable", "error=%s", log_quote(err));
                caps_cache_clear_down(cache, url);
            }
            goto cleanup;
        }
        log_warn("pool_unavailable", "probe=%s waited_ms=%lld error=%s", log_quote(name),
                 program_monotonic_ms() - started, log_quote(why));
        if (cache[0] != '\0' &&
            caps_cache_note_down(cache, url, wall_clock_ms(), err, sizeof(err)) != 0)
            log_warn("caps_cache_unwritable", "error=%s", log_quote(err));
    }
    if (cached != NULL) {
        status = shim_probe_print(request, cached);
        log_info("probe", "probe=%s source=cache cache=%s age_ms=%lld reason=%s", log_quote(name),
                 log_quote(cache), age, log_quote(why));
        goto cleanup;
    }
    status = shim_no_pool(config, request, argc, argv, why);
cleanup:
    if (cached != NULL)
        ffpool__reply__free_unpacked(cached, NULL);
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
    return status;
}

/* ---------------------------------------------------------------------------
 * Hardware lines
 *
 * A line that needs hardware (device:vaapi, encoder:h264_nvenc...) goes to
 * the pool when a live worker has all of it. When none has (or the pool
 * cannot say), shim.no_pool_policy decides: under fallback (the default)
 * the local ffmpeg runs it, on Jellyfin's own host as before the pool, and
 * a device check describes that host's hardware, which is then the one
 * that runs Jellyfin's hardware lines; under fail a transcode is submitted
 * all the same (it waits for such a worker and fails as routing does), and
 * a device check fails at once.
 * ------------------------------------------------------------------------- */

/* Returns the decision for a native hardware line, with its reason. */
static enum argv_decision shim_route_hardware(const struct ffpool_config *config,
                                              const struct job_spec *spec, char *reason,
                                              size_t reasonlen)
{
    char requires[JOB_SPEC_REQUIRES_MAX * 2], why[600];
    if (routing_job_requires(spec, requires, sizeof(requires), why, sizeof(why)) != 0)
        return ARGV_NATIVE; /* the scheduler refuses it, with this reason */
    long long started = program_monotonic_ms();
    Ffpool__Reply *reply = offers_fetch(config, 0, why, sizeof(why));
    int runs = reply != NULL ? offers_can_run(reply, requires, why, sizeof(why)) : -1;
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
    log_info("hardware_route", "requires=%s runs=%d ms=%lld reason=%s", log_quote(requires), runs,
             program_monotonic_ms() - started, log_quote(runs == 1 ? "" : why));
    if (runs == 1)
        return ARGV_NATIVE;
    if (strcmp(config->shim_no_pool_policy, "fallback") == 0) {
        snprintf(reason, reasonlen, "passthrough: no worker for this hardware: %s", why);
        return ARGV_PASSTHROUGH;
    }
    if (spec->output_kind == JOB_OUTPUT_DEVICE_CHECK) {
        snprintf(reason, reasonlen,
                 "refuse: no worker for this device check: %s "
                 "(shim.no_pool_policy=fail)",
                 why);
        return ARGV_REFUSE;
    }
    return ARGV_NATIVE;
}

/* ---------------------------------------------------------------------------
 * Lines for a worker's ffmpeg CLI
 *
 * A line the native parser passes through goes to a worker's ffmpeg CLI
 * when a live worker's CLI has every encoder, decoder, filter, hwaccel and
 * device it names (routing_cli_requires). When none has, or the line must
 * stay here (it reads stdin, writes stdout...), shim.no_pool_policy
 * decides as for hardware: fallback runs it on the local ffmpeg; fail
 * submits it all the same, to wait for such a worker (a line that must
 * stay here runs here under either).
 * ------------------------------------------------------------------------- */

/* Whether a native software line asks for something no worker's libav has
 * (a filter only jellyfin-ffmpeg has, which the probes listed from a
 * worker's CLI) while a worker's CLI can run it: 1 then (why set), so that
 * it goes to that CLI. Otherwise it stays native, and waits for a worker
 * as routing says. The cached capabilities answer without a round trip
 * when some worker there has it all; a pool that cannot be asked leaves
 * the line native. */
static int shim_native_lacks(const struct ffpool_config *config, int argc, char **argv,
                             const struct job_spec *spec, char *why, size_t whylen)
{
    char requires[JOB_SPEC_REQUIRES_MAX * 2], cache[PATH_MAX], err[600];
    if (routing_job_requires(spec, requires, sizeof(requires), err, sizeof(err)) != 0)
        return 0; /* the scheduler refuses it, with this reason */
    if (shim_cache_path(config, argv[0], cache, sizeof(cache)) == 0) {
        Ffpool__Reply *cached =
            caps_cache_load(cache, config->scheduler_url, NULL, err, sizeof(err));
        int runs = cached != NULL ? offers_can_run(cached, requires, why, whylen) : -1;
        if (cached != NULL)
            ffpool__reply__free_unpacked(cached, NULL);
        if (runs == 1)
            return 0;
    }
    Ffpool__Reply *reply = offers_fetch(config, 0, err, sizeof(err));
    if (reply == NULL)
        return 0;
    char cli[JOB_SPEC_REQUIRES_MAX], cli_why[600];
    int lacks = offers_can_run(reply, requires, why, whylen) == 0 &&
                routing_cli_requires(argc - 1, argv + 1, cli, sizeof(cli), err, sizeof(err)) == 0 &&
                offers_can_run(reply, cli, cli_why, sizeof(cli_why)) == 1;
    ffpool__reply__free_unpacked(reply, NULL);
    return lacks;
}

/* Whether a run-once line's output files (images, extracted subtitles:
 * Jellyfin's data and cache folders, not its transcode folder) reach
 * Jellyfin from a worker: with shim.delivery shim the shim fetches them;
 * otherwise the workers write them, so they must see the folder: a mapped
 * one with a paths.map, any without (one file system). Returns 1, or 0
 * with why. */
static int shim_cli_output_seen(const struct ffpool_config *config, const struct pathmap *map,
                                const struct job_spec *spec, char *why, size_t whylen)
{
    char mapped[JOB_SPEC_PATH_MAX];
    if (spec->output_kind != JOB_OUTPUT_CLI || spec->output[0] != '/')
        return 1; /* a stream (delivered or published), or no file (-f null -) */
    int pattern;
    if (strcmp(config->shim_delivery, "shim") == 0) {
        int outputs = job_spec_cli_outputs(spec, NULL, &pattern);
        if (outputs > 0)
            return 1; /* its files are delivered */
        snprintf(why, whylen,
                 outputs < 0 ? "it names a path outside its output's folder %s (its files are "
                               "delivered from that one folder)"
                             : "its output %s is not one of its arguments (nothing to deliver)",
                 spec->output);
        return 0;
    }
    if (map->count > 0 &&
        pathmap_translate(map, PATHMAP_TO_WORKER, spec->output, mapped, sizeof(mapped)) != 1) {
        snprintf(why, whylen, "it writes %s, under no paths.map folder the workers see",
                 spec->output);
        return 0;
    }
    return 1;
}

/* Returns ARGV_NATIVE (spec is then a CLI job) or ARGV_PASSTHROUGH, with
 * its reason; native_reason is why the native parser passed it through. */
static enum argv_decision shim_route_cli(const struct ffpool_config *config,
                                         const struct pathmap *map, int argc, char **argv,
                                         struct job_spec *spec, char *reason, size_t reasonlen)
{
    char native_reason[512], why[600], requires[JOB_SPEC_REQUIRES_MAX];
    snprintf(native_reason, sizeof(native_reason), "%s",
             strncmp(reason, "passthrough: ", 13) == 0 ? reason + 13 : reason);
    if (argv_cli_spec(argc, argv, spec, why, sizeof(why)) != 0 ||
        !shim_cli_output_seen(config, map, spec, why, sizeof(why))) {
        snprintf(reason, reasonlen, "passthrough: %s; not for a worker's CLI: %s", native_reason,
                 why);
        return ARGV_PASSTHROUGH;
    }
    if (routing_cli_requires(argc - 1, argv + 1, requires, sizeof(requires), why, sizeof(why)) !=
        0) {
        snprintf(reason, reasonlen, "passthrough: %s; not for a worker's CLI: %s", native_reason,
                 why);
        return ARGV_PASSTHROUGH;
    }
    snprintf(spec->requires, sizeof(spec->requires), "%s", requires);
    long long started = program_monotonic_ms();
    Ffpool__Reply *reply = offers_fetch(config, 0, why, sizeof(why));
    int runs = reply != NULL ? offers_can_run(reply, requires, why, sizeof(why)) : -1;
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
    log_info("cli_route", "requires=%s runs=%d ms=%lld reason=%s", log_quote(requires), runs,
             program_monotonic_ms() - started, log_quote(runs == 1 ? "" : why));
    const char *kind = spec->output_kind == JOB_OUTPUT_CLI_HLS ? "HLS stream" : "run once";
    if (runs != 1 && strcmp(config->shim_no_pool_policy, "fallback") == 0) {
        snprintf(reason, reasonlen, "passthrough: %s; no worker's CLI can run it: %s",
                 native_reason, why);
        return ARGV_PASSTHROUGH;
    }
    snprintf(reason, reasonlen, "cli: %s on a worker's ffmpeg (%s)", kind, native_reason);
    return ARGV_NATIVE;
}

/* ---------------------------------------------------------------------------
 * Entry
 * ------------------------------------------------------------------------- */

/* Loads the configuration. Under its own name the shim is a program of
 * ours (--help, --version, --config, --cancel-job); under Jellyfin's names
 * every option but a leading --config belongs to ffmpeg (`-h filter=X`,
 * `--version`). Returns the index of the first argument that is not ours. */
static int shim_configure(int argc, char **argv, int as_ffmpeg, int is_probe,
                          struct ffpool_config *config)
{
    if (!as_ffmpeg)
        return program_start(argc, argv, is_probe ? "ffprobe" : "ffmpeg", usage, config);
    const char *config_path = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--config") == 0) {
        config_path = argv[i + 1];
        i += 2;
    }
    char err[512];
    if (config_load(config, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "ffpool: %s\n", err);
        exit(2);
    }
    int level = log_level_parse(config->log_level);
    log_init(is_probe ? "ffprobe" : "ffmpeg", level < 0 ? LOG_INFO : (enum log_level)level);
    return i;
}

int main(int argc, char **argv)
{
    /* Static: a native run's key thread reads it up to the process's end. */
    static struct ffpool_config config;
    shim_find_config(argv[0]);
    char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    int is_probe = strncmp(base, "ffprobe", 7) == 0;
    int as_ffmpeg = is_probe || strncmp(base, "ffmpeg", 6) == 0;

    int first = shim_configure(argc, argv, as_ffmpeg, is_probe, &config);
    shim_log_setup(&config);
    if (!as_ffmpeg && first + 1 < argc && strcmp(argv[first], "--cancel-job") == 0) {
        int level = log_level_parse(config.log_level);
        log_init("ffpool-shim", level < 0 ? LOG_INFO : (enum log_level)level);
        return shim_cancel_run(&config, argv[first + 1]);
    }
    if (first > 1) {
        argv[first - 1] = argv[0];
        argv += first - 1;
        argc -= first - 1;
    }
    /* ffprobe runs here, on Jellyfin's host, so it gets Jellyfin's paths. */
    if (is_probe)
        return shim_passthrough(config.shim_fallback_ffprobe, argc, argv, "ffprobe invocation");

    struct probe_request probe;
    if (probe_classify(argc, argv, &probe) != PROBE_NONE) {
        log_info("decision", "decision=probe probe=%s", log_quote(probe_kind_name(probe.kind)));
        return shim_probe(&config, &probe, argc, argv);
    }

    struct pathmap map, device_map;
    char err[600];
    if (pathmap_parse(&map, config.paths_map, err, sizeof(err)) != 0 ||
        pathmap_parse_key(&device_map, "paths.device_map", config.paths_device_map, err,
                          sizeof(err)) != 0) {
        fprintf(stderr, "ffpool: %s\n", err);
        return 1;
    }
    int status = 1;
    char reason[512];
    struct job_spec *spec = malloc(sizeof(*spec));
    struct job_spec *jellyfin_spec = malloc(sizeof(*jellyfin_spec));
    if (spec == NULL || jellyfin_spec == NULL)
        goto cleanup;
    enum argv_decision decision = argv_parse_job(argc, argv, spec, reason, sizeof(reason));
    /* What the native parser passes through may go to a worker's CLI; a
     * native line no worker has the hardware for stays here. */
    int for_cli = decision == ARGV_PASSTHROUGH;
    char lacks[600];
    if (decision == ARGV_NATIVE && !job_spec_uses_hardware(spec) &&
        spec->output_kind != JOB_OUTPUT_DEVICE_CHECK &&
        shim_native_lacks(&config, argc, argv, spec, lacks, sizeof(lacks))) {
        snprintf(reason, sizeof(reason), "passthrough: no worker's libav can run it: %s", lacks);
        decision = ARGV_PASSTHROUGH;
        for_cli = 1;
    }
    /* A hardware job takes the driver settings Jellyfin put in its own
     * environment (the shim's, inherited) to the worker; a job that cannot
     * carry them is run here, where they apply. */
    int forwarded = 0;
    if (decision == ARGV_NATIVE && job_spec_uses_hardware(spec) &&
        (forwarded = shim_environment_forward(spec, environ, err, sizeof(err))) < 0) {
        decision = ARGV_PASSTHROUGH;
        snprintf(reason, sizeof(reason), "passthrough: driver environment not forwarded: %s", err);
    }
    if (decision == ARGV_NATIVE && job_spec_uses_hardware(spec))
        decision = shim_route_hardware(&config, spec, reason, sizeof(reason));
    if (for_cli &&
        (decision = shim_route_cli(&config, &map, argc, argv, spec, reason, sizeof(reason))) ==
            ARGV_NATIVE &&
        strstr(spec->requires, "device:") != NULL &&
        (forwarded = shim_environment_forward(spec, environ, err, sizeof(err))) < 0) {
        decision = ARGV_PASSTHROUGH;
        snprintf(reason, sizeof(reason), "passthrough: driver environment not forwarded: %s", err);
    }
    if (decision == ARGV_NATIVE && spec->output_kind != JOB_OUTPUT_DEVICE_CHECK &&
        spec->output_kind != JOB_OUTPUT_CLI)
        shim_log_native(&config);
    log_info("decision", "decision=%s reason=%s", argv_decision_name(decision), log_quote(reason));
    if (decision == ARGV_PASSTHROUGH) {
        status = shim_passthrough(config.shim_fallback_ffmpeg, argc, argv, reason);
        goto cleanup;
    }
    if (decision == ARGV_REFUSE) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", reason);
        goto cleanup;
    }
    /* shim.delivery shim: the workers write a stream into a folder of
     * their own and this shim writes it into Jellyfin's (shim/fetch.h). */
    int cli_pattern;
    spec->deliver =
        (spec->output_kind == JOB_OUTPUT_HLS || spec->output_kind == JOB_OUTPUT_CLI_HLS ||
         spec->output_kind == JOB_OUTPUT_PROGRESSIVE ||
         (spec->output_kind == JOB_OUTPUT_CLI &&
          job_spec_cli_outputs(spec, NULL, &cli_pattern) > 0)) &&
        strcmp(config.shim_delivery, "shim") == 0;
    memcpy(jellyfin_spec, spec, sizeof(*spec));
    int mapped = spec->output_kind == JOB_OUTPUT_DEVICE_CHECK
                     ? 0
                     : pathmap_apply_spec(&map, spec, err, sizeof(err));
    if (mapped < 0) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", err);
        goto cleanup;
    }
    if (mapped > 0)
        log_info("paths_mapped", "count=%d input=%s output=%s", mapped, log_quote(spec->input),
                 log_quote(spec->output));
    if (job_spec_is_cli(spec) && pathmap_apply_cli(&map, &device_map, spec, err, sizeof(err)) < 0) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", err);
        goto cleanup;
    }
    int devices = pathmap_apply_devices(&device_map, spec, err, sizeof(err));
    if (devices < 0) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", err);
        goto cleanup;
    }
    if (devices > 0)
        log_info("devices_mapped", "count=%d", devices);
    if (forwarded > 0)
        log_info("driver_environment", "count=%d", forwarded);
    status = shim_run_job(&config, spec, jellyfin_spec, argc, argv);
cleanup:
    free(spec);
    free(jellyfin_spec);
    return status;
}
