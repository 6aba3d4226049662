/* config.c -- the settings table, the YAML loader (libyaml) and the
 * environment overrides. See config.h for precedence. This is the only file
 * that knows key names; everything else reads struct ffpool_config. */
#include "config.h"

#include "defaults.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum config_type { CONFIG_STRING, CONFIG_INT };

struct config_key {
    const char *name; /* YAML "section.key" */
    enum config_type type;
    size_t offset;
    const char *default_value;
    const char *help;
};

#define KEY_STRING(name, field, def, help)                                                         \
    {                                                                                              \
        name, CONFIG_STRING, offsetof(struct ffpool_config, field), def, help                      \
    }
#define KEY_INT(name, field, def, help)                                                            \
    {                                                                                              \
        name, CONFIG_INT, offsetof(struct ffpool_config, field), def, help                         \
    }

static const struct config_key config_keys[] = {
    KEY_STRING("redis.host", redis_host, FFPOOL_DEFAULT_REDIS_HOST,
               "Redis server holding all job state"),
    KEY_INT("redis.port", redis_port, FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_REDIS_PORT), "Redis port"),
    KEY_STRING("redis.password", redis_password, "", "Redis AUTH password (empty: none)"),
    KEY_INT("redis.db", redis_db, "0", "Redis database number"),
    KEY_INT("redis.timeout_ms", redis_timeout_ms,
            FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_REDIS_TIMEOUT_MS),
            "Redis connect and command time-out"),
    KEY_STRING("redis.sentinels", redis_sentinels, "",
               "Sentinel addresses host:port,... to find the master through (empty: direct)"),
    KEY_STRING("redis.master_name", redis_master_name, FFPOOL_DEFAULT_MASTER_NAME,
               "master name the Sentinels monitor"),
    KEY_INT("redis.wait_replicas", redis_wait_replicas, "-1",
            "replicas that must hold a claim, a checkpoint or a job's end (Redis WAIT) before a "
            "worker acts on it or a client is told, so that a fail-over cannot lose it (-1: 1 "
            "with redis.sentinels, 0 without)"),
    KEY_INT("lease.ttl_ms", lease_ttl_ms, FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_LEASE_TTL_MS),
            "job lease length: a stalled or cut-off worker's job is taken over after this (a "
            "dead one's sooner, lease.owner_gone_grace_ms); the 5 s default rides out a 2 s "
            "Redis stall"),
    KEY_INT("lease.safety_margin_ms", lease_safety_margin_ms,
            FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_LEASE_SAFETY_MARGIN_MS),
            "a worker stops writing a job it could not renew this long before the lease ends; "
            "it renews every ttl_ms/5, and ttl_ms - safety_margin_ms - ttl_ms/5 must hold one "
            "redis.timeout_ms"),
    KEY_INT("lease.max_attempts", lease_max_attempts,
            FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_MAX_ATTEMPTS),
            "failures of the job itself (its error, crash, hang, memory) before it ends failed"),
    KEY_INT("lease.max_lost_leases", lease_max_lost_leases,
            FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_MAX_LOST_LEASES),
            "lapsed leases (its worker died, stalled or lost Redis; not attempts) before a job "
            "ends failed"),
    KEY_INT("lease.owner_gone_grace_ms", lease_owner_gone_grace_ms,
            FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_OWNER_GONE_GRACE_MS),
            "a worker whose connection to Redis has been closed this long is dead: its jobs are "
            "taken over at once instead of when their leases end (0: off, leases only)"),
    KEY_INT("lease.heartbeat_ttl_ms", lease_heartbeat_ttl_ms, "15000",
            "a job whose client (shim) stopped polling this long is cancelled"),
    KEY_INT("job.retention_ms", job_retention_ms, FFPOOL_DEFAULT_TEXT(FFPOOL_DEFAULT_RETENTION_MS),
            "how long finished job records stay in Redis"),
    KEY_INT(
        "routing.unroutable_timeout_ms", routing_unroutable_timeout_ms, "60000",
        "a job needing an encoder, decoder, filter, hwaccel or device that no live worker offers "
        "fails after waiting this long (0: waits until cancelled)"),
    KEY_STRING("scheduler.listen", scheduler_listen, "tcp://127.0.0.1:7070",
               "address the scheduler serves the job API on (tcp:// or tls+tcp://)"),
    KEY_STRING("scheduler.url", scheduler_url, "tcp://127.0.0.1:7070",
               "scheduler address(es) clients dial, comma-separated for fail-over"),
    KEY_INT("scheduler.contexts", scheduler_contexts, "16",
            "requests the scheduler serves concurrently"),
    KEY_INT("scheduler.recv_max_bytes", scheduler_recv_max_bytes, "1048576",
            "largest request accepted"),
    KEY_INT("scheduler.timeout_ms", scheduler_timeout_ms, "5000",
            "send/receive time-out of API calls"),
    KEY_STRING("api.token", api_token, "", "shared secret every API request must carry"),
    KEY_STRING("api.token_file", api_token_file, "", "file holding api.token (Kubernetes Secret)"),
    KEY_STRING("api.tls_cert", api_tls_cert, "",
               "scheduler: PEM certificate for tls+tcp:// (clients: CA to verify it)"),
    KEY_STRING("api.tls_key", api_tls_key, "", "scheduler: PEM private key for tls+tcp://"),
    KEY_STRING("api.tls_ca", api_tls_ca, "", "clients: PEM CA that signed the scheduler's cert"),
    KEY_STRING("worker.id", worker_id, "", "worker name (empty: hostname-pid)"),
    KEY_INT("worker.slots", worker_slots, "1", "jobs a worker runs at once"),
    KEY_STRING("worker.hw_devices", worker_hw_devices, "auto",
               "hardware device types the worker tries to open at start and, when they open, "
               "offers to hardware jobs (auto: every type its libav has; none; or a list such "
               "as vaapi,vulkan)"),
    KEY_STRING("worker.ffmpeg", worker_ffmpeg, "ffmpeg",
               "the ffmpeg CLI this worker runs for command lines its libav pipeline does not "
               "take (a user may point it at jellyfin-ffmpeg); empty: none"),
    KEY_INT("worker.scan_interval_ms", worker_scan_interval_ms, "500",
            "longest wait between looks for expired leases"),
    KEY_INT("worker.job_stall_ms", worker_job_stall_ms, "10000",
            "a job whose pipeline, once started, has not moved this long (a read hung on a "
            "network share) stops renewing its lease, so that another worker takes the stream "
            "over in seconds; the process itself is left to the watchdog (0: off)"),
    KEY_INT("worker.job_watchdog_ms", worker_job_watchdog_ms, "120000",
            "a job process that reports no progress this long is killed and the attempt "
            "counted as failed; long enough for a stalled network share (0: off)"),
    KEY_INT("worker.job_memory_limit_mb", worker_job_memory_limit_mb, "4096",
            "a job process whose resident memory exceeds this is killed and the attempt "
            "counted as failed (0: off)"),
    KEY_STRING("worker.spool_dir", worker_spool_dir, "",
               "folder a worker writes a delivered job's segments into until the shim has them "
               "(an emptyDir; empty: $TMPDIR/ffpool-spool)"),
    KEY_STRING("worker.delivery_listen", worker_delivery_listen, "tcp://0.0.0.0:0",
               "address each job process serves its segments to the shim on (port 0: one the "
               "kernel picks; tls+tcp:// uses api.tls_cert and api.tls_key)"),
    KEY_STRING("worker.advertise_host", worker_advertise_host, "",
               "host the shim dials for a job's segments (Kubernetes: the pod IP; empty: this "
               "host's name resolved)"),
    KEY_INT("worker.delivery_ahead", worker_delivery_ahead, "3",
            "segments a job may make before the shim has the earliest of them"),
    KEY_INT("worker.delivery_timeout_ms", worker_delivery_timeout_ms, "30000",
            "a delivered job that no shim has asked for a segment this long fails, saying so"),
    KEY_STRING("shim.fallback_ffmpeg", shim_fallback_ffmpeg, "/usr/bin/ffmpeg",
               "local ffmpeg for invocations the pool does not serve (empty: refuse them)"),
    KEY_STRING("shim.fallback_ffprobe", shim_fallback_ffprobe, "/usr/bin/ffprobe",
               "local ffprobe that serves ffprobe invocations"),
    KEY_INT("shim.progress_interval_ms", shim_progress_interval_ms, "500",
            "how often the shim polls job status and prints a progress line"),
    KEY_STRING("shim.delivery", shim_delivery, "shim",
               "how a job's files (segments, a progressive output, a run-once line's images or "
               "subtitles) reach Jellyfin's folders: shim (workers serve them, the shim writes "
               "them; workers see only the media) or shared (workers write into Jellyfin's "
               "folders: a volume both see, paths.map where their paths differ)"),
    KEY_STRING("shim.no_pool_policy", shim_no_pool_policy, "fallback",
               "when no worker is registered or the scheduler is unreachable and no capabilities "
               "are cached, and when no live worker has the hardware a line or device check "
               "needs or a CLI that can run a line the pipeline does not take: fallback (local "
               "ffmpeg) or fail (such a line is submitted and waits as routing does; a device "
               "check fails at once)"),
    KEY_STRING("shim.caps_cache", shim_caps_cache, "",
               "file keeping the pool's last capabilities, which answer Jellyfin's start-up "
               "probes while the pool is unreachable (empty: ffpool-caps.cache beside the shim "
               "if that folder is writable, else $XDG_CACHE_HOME/ffpool/, ~/.cache/ffpool/ or "
               "/tmp/ffpool-UID/)"),
    KEY_INT("shim.probe_wait_ms", shim_probe_wait_ms, "30000",
            "with no cached capabilities, how long a start-up probe waits for the pool "
            "(scheduler and a worker) before shim.no_pool_policy applies"),
    KEY_INT("shim.pool_down_memory_ms", shim_pool_down_memory_ms, "60000",
            "after a probe found no pool, later probes for this long answer at once (from the "
            "cache, else by shim.no_pool_policy) instead of trying the pool again"),
    KEY_INT("shim.queued_timeout_ms", shim_queued_timeout_ms, "60000",
            "how long a submitted job may wait unclaimed (no live worker, or none that can run "
            "it, or every one busy) before the shim cancels it and exits 1 saying why; a pool "
            "that comes back within it fails nothing (0: wait as long as Jellyfin does)"),
    KEY_STRING("shim.log_file", shim_log_file, "",
               "file the shim appends its own log lines to, for every invocation (empty: only "
               "native transcodes log, on stderr, which Jellyfin keeps in the transcode log)"),
    KEY_STRING("paths.map", paths_map, "",
               "path prefix pairs jellyfin=worker, separated by ';' (empty: same paths)"),
    KEY_STRING("paths.device_map", paths_device_map, "",
               "hardware device path pairs jellyfin=worker, separated by ';', for the devices of "
               "-init_hw_device, -vaapi_device, -qsv_device and -hwaccel_device, e.g. "
               "/dev/dri/renderD128=/dev/dri/renderD129 (empty: same devices)"),
    KEY_STRING("paths.media_roots", paths_media_roots, "",
               "folders job inputs must resolve under, comma-separated (empty: anywhere)"),
    KEY_STRING("paths.transcode_root", paths_transcode_root, "",
               "folder job outputs must resolve under (empty: anywhere)"),
    KEY_STRING(
        "metrics.listen", metrics_listen, "",
        "HTTP address for /metrics, /healthz, /readyz, e.g. http://0.0.0.0:9090 (empty: off)"),
    KEY_STRING("log.level", log_level, "info", "debug, info, warn or error"),
};

#define N_CONFIG_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const struct config_key *config_key_find(const char *name)
{
    for (size_t i = 0; i < N_CONFIG_KEYS; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

/* Parses a decimal integer that must be the whole of text. */
static int parse_int64(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = value;
    return 0;
}

static int config_key_set(struct ffpool_config *config, const struct config_key *key,
                          const char *value, char *err, size_t errlen)
{
    char *slot = (char *)config + key->offset;
    if (key->type == CONFIG_STRING) {
        if (strlen(value) >= CONFIG_STRING_MAX) {
            snprintf(err, errlen, "%s: value longer than %d bytes", key->name,
                     CONFIG_STRING_MAX - 1);
            return -1;
        }
        memcpy(slot, value, strlen(value) + 1);
        return 0;
    }
    int64_t number;
    if (parse_int64(value, &number) != 0) {
        snprintf(err, errlen, "%s: %s is not an integer", key->name, value);
        return -1;
    }
    memcpy(slot, &number, sizeof(number));
    return 0;
}

int config_set(struct ffpool_config *config, const char *name, const char *value, char *err,
               size_t errlen)
{
    const struct config_key *key = config_key_find(name);
    if (key == NULL) {
        snprintf(err, errlen, "unknown configuration key %s", name);
        return -1;
    }
    return config_key_set(config, key, value, err, errlen);
}

void config_defaults(struct ffpool_config *config)
{
    char ignored[64];
    memset(config, 0, sizeof(*config));
    for (size_t i = 0; i < N_CONFIG_KEYS; i++)
        config_key_set(config, &config_keys[i], config_keys[i].default_value, ignored,
                       sizeof(ignored));
}

/* "redis.port" -> "FFPOOL_REDIS_PORT". */
static void config_env_name(const char *key, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "FFPOOL_");
    for (const char *p = key; *p && n + 1 < outlen; p++)
        out[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

int config_load_env(struct ffpool_config *config, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        char name[128];
        config_env_name(config_keys[i].name, name, sizeof(name));
        const char *value = getenv(name);
        if (value == NULL)
            continue;
        if (config_key_set(config, &config_keys[i], value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int config_load_file(struct ffpool_config *config, const char *path, char *err, size_t errlen)
{
    int result = -1;
    yaml_parser_t parser;
    yaml_event_t event;
    int have_event = 0;
    /* Depth 1 is the top mapping, depth 2 a section's mapping. */
    int depth = 0;
    char section[128] = "";
    char key[128] = "";
    int expecting_value = 0;

    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "config %s: cannot initialise the YAML parser", path);
        fclose(file);
        return -1;
    }
    yaml_parser_set_input_file(&parser, file);

    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            snprintf(err, errlen, "config %s:%zu: %s", path, parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "YAML syntax error");
            goto cleanup;
        }
        have_event = 1;
        size_t line = event.start_mark.line + 1;
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            result = 0;
            goto cleanup;
        case YAML_MAPPING_START_EVENT:
            if (depth == 1 && expecting_value) {
                snprintf(section, sizeof(section), "%s", key);
                expecting_value = 0;
            } else if (depth != 0) {
                snprintf(err, errlen, "config %s:%zu: nesting deeper than section.key", path, line);
                goto cleanup;
            }
            depth++;
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            section[0] = '\0';
            break;
        case YAML_SCALAR_EVENT: {
            const char *text = (const char *)event.data.scalar.value;
            if (!expecting_value) {
                snprintf(key, sizeof(key), "%s", text);
                expecting_value = 1;
                break;
            }
            expecting_value = 0;
            if (depth != 2) {
                snprintf(err, errlen, "config %s:%zu: %s must be a section (e.g. redis:)", path,
                         line, key);
                goto cleanup;
            }
            char full[300];
            snprintf(full, sizeof(full), "%s.%s", section, key);
            char set_err[256];
            if (config_set(config, full, text, set_err, sizeof(set_err)) != 0) {
                snprintf(err, errlen, "config %s:%zu: %s", path, line, set_err);
                goto cleanup;
            }
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_ALIAS_EVENT:
            snprintf(err, errlen, "config %s:%zu: lists and aliases are not supported", path, line);
            goto cleanup;
        default:
            break;
        }
        yaml_event_delete(&event);
        have_event = 0;
    }

cleanup:
    if (have_event)
        yaml_event_delete(&event);
    yaml_parser_delete(&parser);
    fclose(file);
    return result;
}

/* Reads the first line of the token file into api_token. */
static int config_load_token_file(struct ffpool_config *config, char *err, size_t errlen)
{
    if (config->api_token_file[0] == '\0')
        return 0;
    FILE *file = fopen(config->api_token_file, "r");
    if (file == NULL) {
        snprintf(err, errlen, "api.token_file %s: %s", config->api_token_file, strerror(errno));
        return -1;
    }
    char line[CONFIG_STRING_MAX];
    if (fgets(line, sizeof(line), file) == NULL)
        line[0] = '\0';
    fclose(file);
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') {
        snprintf(err, errlen, "api.token_file %s is empty", config->api_token_file);
        return -1;
    }
    memcpy(config->api_token, line, strlen(line) + 1);
    return 0;
}

/* Checks the keys whose values come from a fixed set. */
static int config_check_choices(const struct ffpool_config *config, char *err, size_t errlen)
{
    if (strcmp(config->shim_no_pool_policy, "fallback") != 0 &&
        strcmp(config->shim_no_pool_policy, "fail") != 0) {
        snprintf(err, errlen, "shim.no_pool_policy: %s is neither fallback nor fail",
                 config->shim_no_pool_policy);
        return -1;
    }
    if (strcmp(config->shim_delivery, "shared") != 0 &&
        strcmp(config->shim_delivery, "shim") != 0) {
        snprintf(err, errlen, "shim.delivery: %s is neither shared nor shim",
                 config->shim_delivery);
        return -1;
    }
    if (config->worker_delivery_ahead < 1 || config->worker_delivery_ahead > 64) {
        snprintf(err, errlen, "worker.delivery_ahead: %lld is not between 1 and 64",
                 (long long)config->worker_delivery_ahead);
        return -1;
    }
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(config->log_level, levels[i]) == 0)
            return 0;
    snprintf(err, errlen, "log.level: %s is not one of debug, info, warn, error",
             config->log_level);
    return -1;
}

int64_t config_lease_renew_interval_ms(const struct ffpool_config *config)
{
    return config->lease_ttl_ms / FFPOOL_LEASE_RENEW_DIVISOR;
}

int config_check_lease(const struct ffpool_config *config, char *err, size_t errlen)
{
    long long ttl = (long long)config->lease_ttl_ms;
    long long margin = (long long)config->lease_safety_margin_ms;
    long long timeout = (long long)config->redis_timeout_ms;
    long long interval = (long long)config_lease_renew_interval_ms(config);
    if (ttl <= 0 || margin < 0 || timeout <= 0) {
        snprintf(err, errlen,
                 "lease.ttl_ms (%lld) and redis.timeout_ms (%lld) must be positive and "
                 "lease.safety_margin_ms (%lld) not negative",
                 ttl, timeout, margin);
        return -1;
    }
    if (ttl - margin - interval < timeout) {
        snprintf(
            err, errlen,
            "lease.ttl_ms (%lld) - lease.safety_margin_ms (%lld) - the renew interval "
            "(lease.ttl_ms/%d = %lld) = %lld ms is shorter than redis.timeout_ms (%lld): a "
            "renewal could not wait out one Redis time-out before the worker stops writing; "
            "raise lease.ttl_ms to at least %lld or lower the others",
            ttl, margin, FFPOOL_LEASE_RENEW_DIVISOR, interval, ttl - margin - interval, timeout,
            ((margin + timeout) * FFPOOL_LEASE_RENEW_DIVISOR + FFPOOL_LEASE_RENEW_DIVISOR - 2) /
                (FFPOOL_LEASE_RENEW_DIVISOR - 1));
        return -1;
    }
    if (config->redis_wait_replicas < -1 || config->redis_wait_replicas > 16) {
        snprintf(err, errlen, "redis.wait_replicas (%lld) must be -1 (automatic) or 0 to 16",
                 (long long)config->redis_wait_replicas);
        return -1;
    }
    if (config->lease_max_attempts <= 0 || config->lease_max_lost_leases <= 0) {
        snprintf(err, errlen,
                 "lease.max_attempts (%lld) and lease.max_lost_leases (%lld) must be positive",
                 (long long)config->lease_max_attempts, (long long)config->lease_max_lost_leases);
        return -1;
    }
    return 0;
}

int config_load(struct ffpool_config *config, const char *path, char *err, size_t errlen)
{
    config_defaults(config);
    if (path == NULL)
        path = getenv("FFPOOL_CONFIG");
    if (path != NULL && path[0] != '\0' && config_load_file(config, path, err, errlen) != 0)
        return -1;
    if (config_load_env(config, err, errlen) != 0)
        return -1;
    if (config_check_choices(config, err, errlen) != 0)
        return -1;
    return config_load_token_file(config, err, errlen);
}

/* 1 if entry ("NAME=value") sets FFPOOL_CONFIG or a key's variable. */
static int config_environment_replaced(const char *entry)
{
    size_t n = strcspn(entry, "=");
    if (n == strlen("FFPOOL_CONFIG") && strncmp(entry, "FFPOOL_CONFIG", n) == 0)
        return 1;
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        char env[128];
        config_env_name(config_keys[i].name, env, sizeof(env));
        if (strlen(env) == n && strncmp(entry, env, n) == 0)
            return 1;
    }
    return 0;
}

char **config_environment(const struct ffpool_config *config, char *const *base)
{
    size_t n_base = 0;
    while (base != NULL && base[n_base] != NULL)
        n_base++;
    char **env = calloc(n_base + N_CONFIG_KEYS + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_base; i++) {
        if (config_environment_replaced(base[i]))
            continue;
        if ((env[n++] = strdup(base[i])) == NULL)
            goto fail;
    }
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        const struct config_key *key = &config_keys[i];
        const char *slot = (const char *)config + key->offset;
        char name[128], value[CONFIG_STRING_MAX];
        config_env_name(key->name, name, sizeof(name));
        if (key->type == CONFIG_STRING) {
            snprintf(value, sizeof(value), "%s", slot);
        } else {
            int64_t number;
            memcpy(&number, slot, sizeof(number));
            snprintf(value, sizeof(value), "%lld", (long long)number);
        }
        size_t len = strlen(name) + 1 + strlen(value) + 1;
        if ((env[n] = malloc(len)) == NULL)
            goto fail;
        snprintf(env[n++], len, "%s=%s", name, value);
    }
    return env;
fail:
    config_environment_free(env);
    return NULL;
}

void config_environment_free(char **env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* One line (or block) per key from row, a printf format taking the key,
 * its environment variable, its default and its meaning, after header. */
static void config_print_keys(FILE *out, const char *header, const char *row)
{
    fputs(header, out);
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        char env[128];
        config_env_name(config_keys[i].name, env, sizeof(env));
        fprintf(out, row, config_keys[i].name, env,
                config_keys[i].default_value[0] ? config_keys[i].default_value : "\"\"",
                config_keys[i].help);
    }
}

void config_print_markdown(FILE *out)
{
    config_print_keys(out, "| key | environment | default | meaning |\n|---|---|---|---|\n",
                      "| %s | %s | %s | %s |\n");
}

void config_print_help(FILE *out)
{
    config_print_keys(out, "Configuration (YAML key, environment variable, default):\n",
                      "  %-26s %-34s %s\n      %s\n");
}
