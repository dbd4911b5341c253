/* The one clock of Piston: CLOCK_MONOTONIC seconds. Every timestamp that is compared with
 * another (request arrival, first token, step times, HTTP timeouts, benchmarks) comes from
 * base_now(), so times taken in the server, the engine and the CLI are on one axis. */
#ifndef PISTON_BASE_CLOCK_H
#define PISTON_BASE_CLOCK_H

#include <time.h>

static inline double base_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The same clock in integer nanoseconds, for spin deadlines that must not round. */
static inline long long base_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
