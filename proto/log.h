/* log.h -- one line per event, as key=value pairs, on stderr by default.
 *
 *   ts=2026-11-28T03:52:19.123Z level=info prog=ffpool-worker event=claim job=j12 epoch=3
 *
 * Values with spaces, quotes or '=' are quoted by log_quote(); callers pass
 * the event name and pairs through the format string. Libraries never log:
 * they return errors, and main() (or the daemon's top-level loop) logs.
 *
 * A program whose stderr belongs to someone else (the shim: Jellyfin reads
 * or shows what "ffmpeg" prints) sends its lines to a file (log_open_file),
 * drops them (log_set_fd(-1)), or keeps them on a stream that an ffmpeg
 * progress parser reads, with the words such a parser acts on defused
 * (log_set_progress_safe). */
#ifndef FFPOOL_LOG_H
#define FFPOOL_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the program name and the minimum level printed. */
void log_init(const char *prog, enum log_level min_level);
/* Parses "debug", "info", "warn", "error". Returns -1 if unknown. */
int log_level_parse(const char *text);

/* Sends every line to fd (STDERR_FILENO at start); -1 drops them. The fd
 * stays the caller's: it is never closed here. */
void log_set_fd(int fd);

/* Appends every line to the file at path from now on (created 0644, opened
 * close-on-exec so that a program exec'd later does not inherit it).
 * Returns 0, or -1 with errno set (the destination is then unchanged). */
int log_open_file(const char *path);

/* With on, a word of a line that ffmpeg progress parsers read (fps=, time=,
 * size=, bitrate=, in any case, e.g. inside a quoted path) is written with
 * ':' for its '=', so a log line never passes for progress. */
void log_set_progress_safe(int on);

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
