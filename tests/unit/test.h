/* Minimal test harness shared by the C unit tests: CHECK counts and reports,
 * TEST_MAIN prints the "N passed, N failed" line that tests/run-unit.sh adds up. */
#ifndef PISTON_TEST_H
#define PISTON_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int test_passed_, test_failed_;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) { test_passed_++; }                                       \
        else {                                                              \
            test_failed_++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, " " __VA_ARGS__);                               \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

#define TEST_SUMMARY()                                                      \
    (printf("%d passed, %d failed\n", test_passed_, test_failed_),          \
     test_failed_ ? 1 : 0)

/* Deterministic xorshift for random inputs: tests must be reproducible. */
static inline unsigned long long test_rng_next(unsigned long long *s) {
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17; return *s;
}
static inline float test_rand_uniform(unsigned long long *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((test_rng_next(s) >> 11) * (1.0 / 9007199254740992.0));
}
#endif
