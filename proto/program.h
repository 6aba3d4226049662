/* program.h -- what every ffpool program does first: --help, --version,
 * --config FILE, FFPOOL_* overrides, and logging set up from log.level. */
#ifndef FFPOOL_PROGRAM_H
#define FFPOOL_PROGRAM_H

#include "config.h"
#include "queue.h"
#include "wire.h"

/* Handles the common options at the front of argv and loads the
 * configuration. Prints and exits for --help and --version (status 0) and for
 * a configuration error (status 2). Returns the index of the first argument
 * it did not consume. usage is printed first by --help. */
int program_start(int argc, char **argv, const char *name, const char *usage,
                  struct ffpool_config *config);

/* Calls handler on SIGTERM and SIGINT, and ignores SIGPIPE (a closed
 * socket must be an error return, never a dead process). */
void program_on_stop_signals(void (*handler)(int));

/* Fills the Redis queue settings from the configuration. */
void program_queue_config(const struct ffpool_config *config, struct queue_config *queue_config);

/* Opens an API client on scheduler.url with the token and TLS CA of the
 * configuration; timeout_ms <= 0 uses scheduler.timeout_ms. NULL with err
 * on failure. */
struct wire_client *program_client_open(const struct ffpool_config *config, int timeout_ms,
                                        char *err, size_t errlen);

/* Milliseconds of CLOCK_MONOTONIC: for deadlines and intervals. */
long long program_monotonic_ms(void);

#endif
