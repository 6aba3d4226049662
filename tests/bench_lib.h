/* bench_lib.h -- what the benchmark programs (tests/bench_*.c) share: a
 * monotonic clock in microseconds and the comparison their quantiles sort
 * with. */
#ifndef FFPOOL_BENCH_LIB_H
#define FFPOOL_BENCH_LIB_H

#include <time.h>

static inline long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static inline int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

#endif
