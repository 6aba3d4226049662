/* test_config.c -- defaults, YAML file, FFPOOL_* environment, precedence,
 * and clear errors for an operator's mistakes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ffpool-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, defaults_are_the_documented_ones)
{
    struct ffpool_config c;
    config_defaults(&c);
    cr_assert_str_eq(c.redis_host, "127.0.0.1");
    cr_assert_eq(c.redis_port, 6379);
    cr_assert_eq(c.lease_ttl_ms, 5000);
    cr_assert_eq(c.lease_safety_margin_ms, 500);
    cr_assert_eq(c.redis_timeout_ms, 2000);
    cr_assert_eq(c.lease_max_lost_leases, 20);
    cr_assert_eq(config_lease_renew_interval_ms(&c), 1000);
    cr_assert_eq(c.worker_slots, 1);
    cr_assert_eq(c.worker_job_watchdog_ms, 120000);
    cr_assert_eq(c.worker_job_memory_limit_mb, 4096);
    cr_assert_str_eq(c.scheduler_url, "tcp://127.0.0.1:7070");
}

Test(config, job_process_limits_come_from_yaml_and_environment)
{
    char *path = write_temp("worker:\n  job_watchdog_ms: 10000\n  job_memory_limit_mb: 512\n");
    setenv("FFPOOL_WORKER_JOB_MEMORY_LIMIT_MB", "0", 1);
    struct ffpool_config c;
    char err[256];
    cr_assert_eq(config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    unsetenv("FFPOOL_WORKER_JOB_MEMORY_LIMIT_MB");
    unlink(path);
    cr_assert_eq(c.worker_job_watchdog_ms, 10000);
    cr_assert_eq(c.worker_job_memory_limit_mb, 0, "0 turns the ceiling off, from the environment");
}

Test(config, yaml_sections_set_keys_and_environment_wins)
{
    char *path = write_temp("redis:\n  host: redis.svc\n  port: 6380\nlease:\n  ttl_ms: 5000\n");
    setenv("FFPOOL_REDIS_PORT", "7000", 1);
    struct ffpool_config c;
    char err[256];
    cr_assert_eq(config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    unsetenv("FFPOOL_REDIS_PORT");
    unlink(path);
    cr_assert_str_eq(c.redis_host, "redis.svc");
    cr_assert_eq(c.redis_port, 7000, "environment overrides the file");
    cr_assert_eq(c.lease_ttl_ms, 5000);
}

/* paths.device_map: empty by default (same device nodes), set like
 * paths.map from the file or FFPOOL_PATHS_DEVICE_MAP, and handed to a child
 * (the cancel process) with the rest. */
Test(config, device_map_comes_from_yaml_and_environment)
{
    struct ffpool_config c;
    char err[256];
    config_defaults(&c);
    cr_assert_str_eq(c.paths_device_map, "");
    char *path = write_temp("paths:\n  map: /media=/mnt/media\n"
                            "  device_map: /dev/dri/renderD128=/dev/dri/renderD129\n");
    cr_assert_eq(config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.paths_device_map, "/dev/dri/renderD128=/dev/dri/renderD129");
    setenv("FFPOOL_PATHS_DEVICE_MAP", "/dev/dri=/dev/dri-1", 1);
    cr_assert_eq(config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    unsetenv("FFPOOL_PATHS_DEVICE_MAP");
    unlink(path);
    cr_assert_str_eq(c.paths_device_map, "/dev/dri=/dev/dri-1", "environment overrides the file");
    cr_assert_str_eq(c.paths_map, "/media=/mnt/media");
    char *base[] = {"PATH=/usr/bin", NULL};
    char **env = config_environment(&c, base);
    cr_assert_not_null(env);
    int found = 0;
    for (size_t i = 0; env[i] != NULL; i++)
        found |= strcmp(env[i], "FFPOOL_PATHS_DEVICE_MAP=/dev/dri=/dev/dri-1") == 0;
    config_environment_free(env);
    cr_assert(found);
}

Test(config, unknown_key_is_an_error_naming_file_line_and_key)
{
    char *path = write_temp("redis:\n  hots: x\n");
    struct ffpool_config c;
    char err[256];
    cr_assert_eq(config_load(&c, path, err, sizeof(err)), -1);
    unlink(path);
    cr_assert(strstr(err, ":2:") != NULL && strstr(err, "redis.hots") != NULL, "%s", err);
}

Test(config, non_integer_value_is_an_error)
{
    struct ffpool_config c;
    char err[256];
    config_defaults(&c);
    cr_assert_eq(config_set(&c, "redis.port", "63x9", err, sizeof(err)), -1);
    cr_assert(strstr(err, "redis.port") != NULL, "%s", err);
    setenv("FFPOOL_LEASE_TTL_MS", "soon", 1);
    cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), -1);
    unsetenv("FFPOOL_LEASE_TTL_MS");
}

Test(config, malformed_yaml_and_missing_file_are_errors)
{
    char *path = write_temp("redis: [1, 2\n");
    struct ffpool_config c;
    char err[256];
    cr_assert_eq(config_load(&c, path, err, sizeof(err)), -1);
    unlink(path);
    cr_assert_eq(config_load(&c, "/nonexistent/ffpool.yaml", err, sizeof(err)), -1);
    cr_assert(strstr(err, "/nonexistent/ffpool.yaml") != NULL, "%s", err);
}

Test(config, token_file_is_read_first_line_only)
{
    char *path = write_temp("tok-123\nignored\n");
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", path);
    setenv("FFPOOL_API_TOKEN_FILE", copy, 1);
    struct ffpool_config c;
    char err[256];
    cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), 0, "%s", err);
    unsetenv("FFPOOL_API_TOKEN_FILE");
    unlink(copy);
    cr_assert_str_eq(c.api_token, "tok-123");
}

Test(config, choice_keys_refuse_unknown_values)
{
    struct ffpool_config c;
    char err[256];
    setenv("FFPOOL_SHIM_NO_POOL_POLICY", "maybe", 1);
    cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), -1);
    unsetenv("FFPOOL_SHIM_NO_POOL_POLICY");
    cr_assert(strstr(err, "shim.no_pool_policy") != NULL, "%s", err);
    setenv("FFPOOL_LOG_LEVEL", "loud", 1);
    cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), -1);
    unsetenv("FFPOOL_LOG_LEVEL");
    cr_assert(strstr(err, "log.level") != NULL, "%s", err);
}

/* F16: the lease settings are checked against each other at start-up. */
Test(config, default_lease_settings_pass_the_lease_check)
{
    struct ffpool_config c;
    char err[768] = "";
    config_defaults(&c);
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), 0, "%s", err);
    /* The smallest TTL that holds one time-out after margin and interval. */
    c.lease_ttl_ms = 3125;
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), 0, "%s", err);
}

Test(config, lease_check_refuses_a_ttl_a_renewal_cannot_fit_in)
{
    struct ffpool_config c;
    char err[768] = "";
    config_defaults(&c);
    c.lease_ttl_ms = 3000; /* the old default: 3000 - 500 - 600 = 1900 < 2000 */
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), -1);
    cr_assert(strstr(err, "lease.ttl_ms (3000)") != NULL, "%s", err);
    cr_assert(strstr(err, "lease.safety_margin_ms (500)") != NULL, "%s", err);
    cr_assert(strstr(err, "redis.timeout_ms (2000)") != NULL, "%s", err);
    cr_assert(strstr(err, "at least 3125") != NULL, "%s", err);

    config_defaults(&c);
    c.redis_timeout_ms = 4000; /* a time-out longer than the lease can absorb */
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), -1);
    cr_assert(strstr(err, "redis.timeout_ms (4000)") != NULL, "%s", err);

    config_defaults(&c);
    c.lease_safety_margin_ms = 5000; /* margin >= TTL: every job would stop at once */
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), -1);
    cr_assert(strstr(err, "lease.safety_margin_ms (5000)") != NULL, "%s", err);
}

Test(config, lease_check_refuses_zero_and_negative_values)
{
    struct ffpool_config c;
    char err[768] = "";
    config_defaults(&c);
    c.lease_ttl_ms = 0;
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), -1);
    cr_assert(strstr(err, "lease.ttl_ms (0)") != NULL, "%s", err);
    config_defaults(&c);
    c.lease_safety_margin_ms = -1;
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), -1);
    config_defaults(&c);
    c.lease_max_lost_leases = 0;
    cr_assert_eq(config_check_lease(&c, err, sizeof(err)), -1);
    cr_assert(strstr(err, "lease.max_lost_leases (0)") != NULL, "%s", err);
}

Test(config, worker_refuses_to_start_with_lease_settings_that_do_not_fit)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "FFPOOL_LEASE_TTL_MS=3000 %s/bin/ffpool-worker 2>&1 </dev/null",
             getenv("BUILD") != NULL ? getenv("BUILD") : "build");
    FILE *out = popen(command, "r");
    cr_assert_not_null(out);
    char text[1024] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, out);
    text[n] = '\0';
    int status = pclose(out);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d: %s", status, text);
    cr_assert(strstr(text, "lease.ttl_ms (3000)") != NULL, "%s", text);
    cr_assert(strstr(text, "redis.timeout_ms (2000)") != NULL, "%s", text);
}

/* The README's table is what config_print_markdown prints: a key added to
 * the table in config.c without the README fails here. */
Test(config, readme_table_lists_every_key_with_its_default_and_meaning)
{
    FILE *readme = fopen("README.md", "r");
    cr_assert_not_null(readme, "README.md not found from %s (run from the repository root)",
                       getcwd((char[512]){0}, 512));
    static char text[256 * 1024];
    size_t len = fread(text, 1, sizeof(text) - 1, readme);
    text[len] = '\0';
    fclose(readme);

    char *rows = NULL;
    size_t rows_len = 0;
    FILE *out = open_memstream(&rows, &rows_len);
    cr_assert_not_null(out);
    config_print_markdown(out);
    fclose(out);
    int missing = 0;
    for (char *line = strtok(rows, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strstr(text, line) == NULL) {
            cr_log_error("README.md lacks: %s", line);
            missing++;
        }
    }
    free(rows);
    cr_expect_eq(missing, 0,
                 "%d configuration rows differ from README.md; paste the output of "
                 "`build/bin/ffpool-worker --config-table` into its table",
                 missing);
}

/* What a job process gets: the parent's resolved values, no config file. */
Test(config, environment_carries_every_key_and_drops_the_file)
{
    struct ffpool_config c;
    config_defaults(&c);
    char err[256];
    cr_assert_eq(config_set(&c, "redis.port", "6390", err, sizeof(err)), 0);
    char *base[] = {"PATH=/usr/bin", "FFPOOL_CONFIG=/etc/ffpool.yaml", "FFPOOL_REDIS_PORT=1",
                    "FFPOOL_TEST_HOOK=7", NULL};
    char **env = config_environment(&c, base);
    cr_assert_not_null(env);
    int path = 0, file = 0, ports = 0, port_6390 = 0, hook = 0, lease = 0;
    for (char **e = env; *e != NULL; e++) {
        path += strcmp(*e, "PATH=/usr/bin") == 0;
        file += strncmp(*e, "FFPOOL_CONFIG=", 14) == 0;
        ports += strncmp(*e, "FFPOOL_REDIS_PORT=", 18) == 0;
        port_6390 += strcmp(*e, "FFPOOL_REDIS_PORT=6390") == 0;
        hook += strcmp(*e, "FFPOOL_TEST_HOOK=7") == 0;
        lease += strcmp(*e, "FFPOOL_LEASE_TTL_MS=5000") == 0;
    }
    config_environment_free(env);
    cr_expect_eq(path, 1, "other variables are kept");
    cr_expect_eq(file, 0, "FFPOOL_CONFIG is dropped");
    cr_expect_eq(ports, 1, "one FFPOOL_REDIS_PORT");
    cr_expect_eq(port_6390, 1, "with the resolved value");
    cr_expect_eq(hook, 1, "FFPOOL_* variables that are not keys are kept");
    cr_expect_eq(lease, 1, "defaults are written out too");
}
