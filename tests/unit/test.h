/* Minimal test harness shared by the C unit tests: CHECK counts and reports, SKIP records a
 * check that could not run (never counted as passed), TEST_SUMMARY prints the
 * "N passed, N failed, N skipped" line that tests/run-unit.sh adds up. */
#ifndef PISTON_TEST_H
#define PISTON_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

#include "base/file.h"

/* One counter set per test binary: a test of several files defines TEST_EXTERN_COUNTERS in
 * all but its main file, which defines TEST_DEFINE_COUNTERS. */
#if defined(TEST_EXTERN_COUNTERS)
extern int test_passed_, test_failed_, test_skipped_;
#elif defined(TEST_DEFINE_COUNTERS)
int test_passed_, test_failed_, test_skipped_;
#else
static int test_passed_, test_failed_, test_skipped_ __attribute__((unused));
#endif

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

/* A check that did not run, and why: reported, not counted as passed. */
#define SKIP(...)                                                           \
    do {                                                                    \
        test_skipped_++;                                                    \
        printf("SKIP %s:%d: ", __FILE__, __LINE__);                         \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
    } while (0)

#define TEST_SUMMARY()                                                      \
    (printf("%d passed, %d failed, %d skipped\n", test_passed_, test_failed_, \
            test_skipped_),                                                 \
     test_failed_ ? 1 : 0)

/* Deterministic xorshift for random inputs: tests must be reproducible. */
static inline unsigned long long test_rng_next(unsigned long long *s) {
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17; return *s;
}
static inline float test_rand_uniform(unsigned long long *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((test_rng_next(s) >> 11) * (1.0 / 9007199254740992.0));
}
/* A fixture's whole text (NULL when it cannot be read), its length in *len (may be NULL). */
static inline char *test_read_file(const char *path, size_t *len) {
    char *text;
    return base_read_file(path, (size_t)1 << 30, &text, len, NULL, 0) ? NULL : text;
}
/* The default model's path as the tests find it: $PISTON_MODEL, else $PISTON_HOME/FILE, else
 * ~/.cache/piston/FILE (where `make model` puts it). 1 when the file is readable. */
static inline int test_model_path(char *buf, size_t n) {
    const char *env = getenv("PISTON_MODEL"), *home = getenv("PISTON_HOME"), *h = getenv("HOME");
    if (env && *env) snprintf(buf, n, "%s", env);
    else if (home && *home) snprintf(buf, n, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", home);
    else snprintf(buf, n, "%s/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf", h ? h : ".");
    return access(buf, R_OK) == 0;
}

#endif
