/* log.h -- one line per event on stderr, as key=value pairs.
 *
 *   ts=2026-11-28T03:52:19.123Z level=info prog=ffpool-worker event=claim job=j12 epoch=3
 *
 * Values with spaces, quotes or '=' are quoted by log_kv(); callers pass
 * the event name and pairs through the format string. Libraries never log:
 * they return errors, and main() (or the daemon's top-level loop) logs. */
#ifndef FFPOOL_LOG_H
#define FFPOOL_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the program name and the minimum level printed. */
void log_init(const char *prog, enum log_level min_level);
/* Parses "debug", "info", "warn", "error". Returns -1 if unknown. */
int log_level_parse(const char *text);

/* Writes one line: ts, level, prog, event=EVENT, then the formatted pairs.
 * Use log_quote() for free-text values. Thread-safe (one write(2) a line). */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns value quoted for a key=value line (in a thread-local buffer, valid
 * until the next call from the same thread; up to 4 per log_event call). */
const char *log_quote(const char *value);

#define log_debug(event, ...) log_event(LOG_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...) log_event(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_event(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_ERROR, event, __VA_ARGS__)

#endif
