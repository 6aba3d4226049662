/* clock_step.c -- an LD_PRELOAD library that steps a process's wall clock at
 * run time, for tests/e2e_lease_clock_step.sh (a Redis server whose clock
 * an NTP step moves). Not linked into anything: the test compiles it with
 * `cc -shared -fPIC`.
 *
 * The wall clock (gettimeofday, time, clock_gettime of CLOCK_REALTIME and
 * CLOCK_REALTIME_COARSE) reads the real one plus an offset in milliseconds,
 * the text of the file named by CLOCK_STEP_FILE, read again on every call
 * (no file, or no number in it: no offset; write it with a rename, or a
 * reader may find it empty). The monotonic clocks are left
 * alone, as an NTP step leaves them.
 *
 * Why not libfaketime: redis-server is linked with jemalloc, which calls
 * clock_gettime while libfaketime initialises itself, and libfaketime then
 * makes every clock_gettime fail (libfaketime issues #130, #327): the server
 * does not start. This library calls no allocator and no dlsym: the real
 * clocks are read with the system call itself. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t step_offset_ms(void)
{
    const char *path = getenv("CLOCK_STEP_FILE");
    if (path == NULL)
        return 0;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char text[32];
    long n = syscall(SYS_read, fd, text, sizeof(text) - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    int64_t value = 0, sign = 1;
    const char *c = text;
    if (*c == '-' || *c == '+')
        sign = *c++ == '-' ? -1 : 1;
    for (; *c >= '0' && *c <= '9'; c++)
        value = value * 10 + (*c - '0');
    return sign * value;
}

static int real_clock(clockid_t clock, struct timespec *ts)
{
    return (int)syscall(SYS_clock_gettime, clock, ts);
}

static void shift(struct timespec *ts, int64_t ms)
{
    int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + ms * 1000000;
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

int clock_gettime(clockid_t clock, struct timespec *ts)
{
    int rc = real_clock(clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
        shift(ts, step_offset_ms());
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
