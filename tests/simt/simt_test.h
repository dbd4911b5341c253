/* Harness of the SIMT emulator's tests (C++, several files, one binary): CHECK counts and
 * reports as tests/unit/test.h does, with counters shared by all test files; helpers to
 * capture stderr (to check the emulator's diagnostics) and a seeded generator. main in
 * test_simt.cpp prints the one "N passed, N failed" line. */
#ifndef PISTON_SIMT_TEST_H
#define PISTON_SIMT_TEST_H
#include "kernels/cuda/cuda_port.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string>

inline int simt_test_passed, simt_test_failed;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            simt_test_passed++;                                             \
        } else {                                                            \
            simt_test_failed++;                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, " " __VA_ARGS__);                               \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

/* A CUDA call that must succeed. */
#define CHECK_CUDA(expr)                                                                   \
    do {                                                                                   \
        cudaError_t e_ = (expr);                                                           \
        CHECK(e_ == cudaSuccess, "%s returned %s", #expr, cudaGetErrorName(e_));            \
    } while (0)

/* Collects what is written to stderr between start and stop; stop also echoes it,
 * marked as expected, so the log shows the emulator's messages. */
struct StderrCapture {
    int saved = -1;
    FILE *tmp = nullptr;
    void start();
    std::string stop();
};

static inline unsigned long long test_rng_next(unsigned long long *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline float test_rand_uniform(unsigned long long *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((test_rng_next(s) >> 11) * (1.0 / 9007199254740992.0));
}
static inline bool contains(const std::string &s, const char *what) { return s.find(what) != std::string::npos; }

/* c_api_check.c: the runtime and cuBLAS headers used from C; 0 when all calls behave. */
extern "C" int c_api_check(void);

/* One function per test file, called from main. */
void test_block(void);
void test_block_errors(void);
void test_warp(void);
void test_warp_errors(void);
void test_runtime(void);
void test_graph(void);
void test_cublas(void);
void test_fp16(void);
void test_intrinsics(void);
#endif
