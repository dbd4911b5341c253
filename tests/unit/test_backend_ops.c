/* The cross-backend op harness (tests/unit/ops/): every op of kernels/backend.h through the
 * backend interface against a double-precision reference. The backend under test is named
 * by PISTON_TEST_BACKEND (default cpu; cuda for the emulated CUDA build of this test and for
 * a real GPU); PISTON_TEST_SMALL=1 (set for sanitizer and emulator builds) runs fewer and
 * smaller shapes. On the CPU every op runs under both matmul precisions and the batch
 * invariance the CPU promises is checked against a second, two-thread backend.
 *
 * The inputs come from one seed, fixed by default so that a run is reproducible;
 * PISTON_TEST_SEED=N (decimal or 0x hex) takes another, PISTON_TEST_SEED=random a fresh one.
 * The seed is printed first: PISTON_TEST_SEED set to it replays a failing run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"

#define TEST_DEFINE_COUNTERS
#include "tests/unit/ops/ops_harness.h"

static Backend *make(const char *device, int threads, MatmulPrecision p) {
    BackendOptions o;
    backend_options_default(&o);
    o.device = device;
    o.n_threads = threads;
    o.precision = p;
    char err[256];
    Backend *be = NULL;
    if (backend_create(&o, &be, err, sizeof err)) fprintf(stderr, "backend %s: %s\n", device, err);
    return be;
}

/* PISTON_TEST_OPS=rows,kv,attention,matmul runs only those families (the mutant runs of
 * tests/run-cuda-mutants.sh); unset or empty: all. */
static int wanted(const char *family) {
    const char *only = getenv("PISTON_TEST_OPS");
    if (!only || !*only) return 1;
    size_t n = strlen(family);
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, family, n)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* the run's seed: PISTON_TEST_SEED, or 0x5eed; 0 with a message when it does not parse */
static int run_seed(unsigned long long *seed) {
    const char *s = getenv("PISTON_TEST_SEED");
    *seed = 0x5eed;
    if (!s || !*s) return 1;
    if (!strcmp(s, "random")) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *seed = hash_mix64((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec) ^
                (unsigned long long)getpid();
        return 1;
    }
    char *end;
    *seed = strtoull(s, &end, 0);
    if (*end) fprintf(stderr, "PISTON_TEST_SEED=%s: want a number (decimal or 0x hex) or \"random\"\n", s);
    return !*end;
}

int main(void) {
    unsigned long long seed;
    if (!run_seed(&seed)) return 2;
    printf("seed 0x%llx (PISTON_TEST_SEED=0x%llx replays this run)\n", seed, seed);
    fflush(stdout);
    const char *name = getenv("PISTON_TEST_BACKEND");
    name = name && *name ? name : "cpu";
    const char *small = getenv("PISTON_TEST_SMALL");
    int is_small = small && *small && strcmp(small, "0");
#if defined(__SANITIZE_ADDRESS__)
    is_small = 1; /* ~10x slower under the sanitizers: the same checks on smaller shapes */
#endif
    int cpu = !strcmp(name, "cpu");
    for (int p = 0; p < (cpu ? 2 : 1); p++) {
        Backend *be = make(name, 1, (MatmulPrecision)p);
        CHECK(be != NULL, "backend %s could not be created", name);
        if (!be) break;
        CHECK(strcmp(be->name, name) == 0, "asked for %s, got %s", name, be->name);
        printf("backend %s (%s), precision %s%s\n", be->name, be->device_name, p ? "f32" : "q8",
               is_small ? ", small shapes" : "");
        OpsCtx c = {be, be->name, is_small, seed + (unsigned long long)p, 1.0};
        if (p == 0) { /* precision changes only the matmul */
            if (wanted("rows")) ops_test_rows(&c);
            if (wanted("kv")) ops_test_kv(&c);
            if (wanted("attention")) ops_test_attention(&c);
            if (wanted("invariance")) {
                Backend *two = cpu ? make("cpu", 2, MATMUL_Q8) : NULL;
                ops_test_batch_invariance(&c, two);
                backend_destroy(two);
            }
        }
        if (wanted("matmul")) {
            ops_test_matmul(&c);
            ops_test_matmul_n(&c);
            if (cpu) { /* the grouped tasks shared out over two threads */
                Backend *two = make("cpu", 2, (MatmulPrecision)p);
                OpsCtx c2 = c;
                c2.be = two;
                if (two) ops_test_matmul_n(&c2);
                backend_destroy(two);
            }
        }
        backend_destroy(be);
    }
    printf("ops covered on %s: embed (11 types), gather_last, gather_rows, rmsnorm, add_rmsnorm, add, add_bias, silu_mul, rope "
           "(normal, neox, partial, frequency factors), kv_write (f32, f16, bf16), kv_copy_blocks, attention (f32, f16, bf16 cache; GQA 1, 4, 8; "
           "head_dim 64, 128), matmul (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K), matmul_n, fill_random\n", name);
    return TEST_SUMMARY();
}
