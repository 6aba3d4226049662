/* config.h -- every ffpool setting, its default, its YAML key and its
 * environment variable.
 *
 * One table (config.c) lists each key once; the YAML loader, the FFPOOL_*
 * environment overrides, `--help` and `--config-table` (the README's table,
 * checked by test_config) are all derived from it. Precedence, lowest
 * first: built-in default, the YAML file, the environment. The YAML file is
 * nested one level:
 *
 *   redis:
 *     host: 127.0.0.1
 *   lease:
 *     ttl_ms: 5000
 *
 * and key `redis.host` is overridden by FFPOOL_REDIS_HOST. */
#ifndef FFPOOL_CONFIG_H
#define FFPOOL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STRING_MAX 1024

struct ffpool_config {
    /* Redis, the only state. */
    char redis_host[CONFIG_STRING_MAX];
    int64_t redis_port;
    char redis_password[CONFIG_STRING_MAX];
    int64_t redis_db;
    int64_t redis_timeout_ms;
    char redis_sentinels[CONFIG_STRING_MAX]; /* "host:port,host:port", "" = direct */
    long long redis_wait_replicas;           /* -1 = 1 with sentinels, 0 without */
    char redis_master_name[CONFIG_STRING_MAX];

    /* Leases. */
    int64_t lease_ttl_ms;
    int64_t lease_safety_margin_ms;
    int64_t lease_max_attempts;
    int64_t lease_max_lost_leases;
    int64_t lease_heartbeat_ttl_ms;
    int64_t lease_owner_gone_grace_ms;
    int64_t job_retention_ms;

    /* Routing. */
    int64_t routing_unroutable_timeout_ms;

    /* Scheduler API. */
    char scheduler_listen[CONFIG_STRING_MAX];
    char scheduler_url[CONFIG_STRING_MAX]; /* comma-separated: clients fail over */
    int64_t scheduler_contexts;
    int64_t scheduler_recv_max_bytes;
    int64_t scheduler_timeout_ms;
    char api_token[CONFIG_STRING_MAX];
    char api_token_file[CONFIG_STRING_MAX];
    char api_tls_cert[CONFIG_STRING_MAX];
    char api_tls_key[CONFIG_STRING_MAX];
    char api_tls_ca[CONFIG_STRING_MAX];

    /* Worker. */
    char worker_id[CONFIG_STRING_MAX];
    int64_t worker_slots;
    char worker_hw_devices[CONFIG_STRING_MAX];
    char worker_ffmpeg[CONFIG_STRING_MAX]; /* a path or a name in PATH; "" = no CLI jobs */
    int64_t worker_scan_interval_ms;
    int64_t worker_job_watchdog_ms;                 /* 0 = off */
    int64_t worker_job_stall_ms;                    /* 0 = off */
    int64_t worker_job_memory_limit_mb;             /* 0 = off */
    char worker_spool_dir[CONFIG_STRING_MAX];       /* "" = $TMPDIR/ffpool-spool */
    char worker_delivery_listen[CONFIG_STRING_MAX]; /* tcp://HOST:PORT, port 0: any */
    char worker_advertise_host[CONFIG_STRING_MAX];  /* "" = this host's address */
    int64_t worker_delivery_ahead;
    int64_t worker_delivery_timeout_ms;

    /* Shim. */
    char shim_fallback_ffmpeg[CONFIG_STRING_MAX];
    char shim_fallback_ffprobe[CONFIG_STRING_MAX];
    int64_t shim_progress_interval_ms;
    char shim_no_pool_policy[CONFIG_STRING_MAX]; /* "fallback" or "fail" */
    char shim_delivery[CONFIG_STRING_MAX];       /* "shared" or "shim" */
    char shim_caps_cache[CONFIG_STRING_MAX];     /* "" = found by the shim (caps_cache.h) */
    int64_t shim_probe_wait_ms;
    int64_t shim_pool_down_memory_ms;
    int64_t shim_queued_timeout_ms;
    char shim_log_file[CONFIG_STRING_MAX];     /* "" = native transcodes on stderr, else nowhere */
    char paths_map[CONFIG_STRING_MAX];         /* "jellyfin_prefix=worker_prefix;..." */
    char paths_device_map[CONFIG_STRING_MAX];  /* the same for hardware device paths */
    char paths_media_roots[CONFIG_STRING_MAX]; /* comma-separated, "" = no confinement */
    char paths_transcode_root[CONFIG_STRING_MAX];

    /* Observability. */
    char metrics_listen[CONFIG_STRING_MAX]; /* "http://0.0.0.0:9090", "" = off */

    char log_level[CONFIG_STRING_MAX];
};

/* Fills config with the built-in defaults. */
void config_defaults(struct ffpool_config *config);

/* Loads the YAML file at path over the current values. Returns 0, or -1
 * with a sentence (file, line, key) in err. Unknown keys are errors: a typo
 * in an operator's file must not be ignored silently. */
int config_load_file(struct ffpool_config *config, const char *path, char *err, size_t errlen);

/* Applies FFPOOL_* environment variables. Returns 0, or -1 with a sentence
 * in err when a value does not parse. */
int config_load_env(struct ffpool_config *config, char *err, size_t errlen);

/* The usual sequence for a program: defaults, then the file (path, or
 * $FFPOOL_CONFIG when path is NULL; a missing $FFPOOL_CONFIG file is an
 * error, no file at all is fine), then the environment, then the token file.
 * Returns 0 or -1 with err. */
int config_load(struct ffpool_config *config, const char *path, char *err, size_t errlen);

/* The lease renewal interval a worker uses: lease.ttl_ms / 5. */
int64_t config_lease_renew_interval_ms(const struct ffpool_config *config);

/* Checks the lease settings against each other: ttl_ms > 0, 0 <=
 * safety_margin_ms, redis.timeout_ms > 0, and a renewal started one
 * interval after the last must be able to wait a whole redis.timeout_ms
 * before the self-fence point (ttl - margin - interval >= timeout), or a
 * Redis stall the worker is configured to wait for would stop every job.
 * max_attempts and max_lost_leases must be positive. Returns 0, or -1 with a
 * sentence naming the keys and their values in err. The worker calls it at
 * start-up. */
int config_check_lease(const struct ffpool_config *config, char *err, size_t errlen);

/* Sets one key by its YAML name ("redis.port"). Returns 0, -1 if unknown or
 * unparsable (err says which). */
int config_set(struct ffpool_config *config, const char *key, const char *value, char *err,
               size_t errlen);

/* Prints every key with its environment variable, default and meaning, for
 * --help. */
void config_print_help(FILE *out);

/* The environment a child process needs to see exactly this configuration
 * without reading any file: base (e.g. environ) without FFPOOL_CONFIG and
 * without the FFPOOL_* variables of configuration keys, plus one
 * FFPOOL_KEY=value per key. Other variables (including other FFPOOL_* ones)
 * are kept. Returns a NULL-terminated array to free with
 * config_environment_free, or NULL when out of memory. */
char **config_environment(const struct ffpool_config *config, char *const *base);
void config_environment_free(char **env);

/* Prints the same as Markdown table rows, one per key: the README's
 * configuration table (`ffpool-worker --config-table`). */
void config_print_markdown(FILE *out);

#endif
