/* program.c -- common start-up of every ffpool program; see program.h. */
#include "program.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int program_start(int argc, char **argv, const char *name, const char *usage,
                  struct ffpool_config *config)
{
    const char *config_path = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s", usage);
            printf("\nCommon options:\n  --config FILE   YAML configuration (default: "
                   "$FFPOOL_CONFIG)\n"
                   "  --help          this text\n  --version       print the version\n"
                   "  --config-table  print the configuration keys as a Markdown table\n\n");
            config_print_help(stdout);
            exit(0);
        } else if (strcmp(argv[i], "--config-table") == 0) {
            config_print_markdown(stdout);
            exit(0);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", name, FFPOOL_VERSION);
            exit(0);
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        } else {
            break;
        }
    }
    char err[512];
    if (config_load(config, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(2);
    }
    int level = log_level_parse(config->log_level);
    log_init(name, level < 0 ? LOG_INFO : (enum log_level)level);
    return i;
}

long long program_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void program_queue_config(const struct ffpool_config *config, struct queue_config *q)
{
    memset(q, 0, sizeof(*q));
    snprintf(q->host, sizeof(q->host), "%s", config->redis_host);
    q->port = (int)config->redis_port;
    snprintf(q->password, sizeof(q->password), "%s", config->redis_password);
    q->db = (int)config->redis_db;
    q->timeout_ms = (int)config->redis_timeout_ms;
    q->lease_ttl_ms = config->lease_ttl_ms;
    q->max_attempts = (int)config->lease_max_attempts;
    q->max_lost_leases = (int)config->lease_max_lost_leases;
    q->heartbeat_ttl_ms = config->lease_heartbeat_ttl_ms;
    q->retention_ms = config->job_retention_ms;
    q->unroutable_timeout_ms = config->routing_unroutable_timeout_ms;
    snprintf(q->sentinels, sizeof(q->sentinels), "%s", config->redis_sentinels);
    snprintf(q->master_name, sizeof(q->master_name), "%s", config->redis_master_name);
    q->wait_replicas = config->redis_wait_replicas >= 0     ? (int)config->redis_wait_replicas
                       : config->redis_sentinels[0] != '\0' ? 1
                                                            : 0;
}

struct wire_client *program_client_open(const struct ffpool_config *config, int timeout_ms,
                                        char *err, size_t errlen)
{
    struct wire_client_options options = {
        .urls = config->scheduler_url,
        .token = config->api_token,
        .timeout_ms = timeout_ms > 0 ? timeout_ms : (int)config->scheduler_timeout_ms,
        .tls_ca = config->api_tls_ca,
    };
    return wire_client_open_options(&options, err, errlen);
}

void program_on_stop_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
