/* The cross-backend op harness (llama.cpp's test-backend-ops is the model): every op of
 * kernels/backend.h is run through the backend interface (alloc, upload, op, download) on
 * fresh random inputs over several shapes and compared with a plain double-precision
 * reference written here, with tolerance atol + rtol * |scale|. Outputs are poisoned with
 * NaN before the op (every element must be written) and unused KV slots hold NaN (they must
 * never be read). The backend under test is named at run time (PISTON_TEST_BACKEND: cpu,
 * cuda), so the same tests check the CPU, the emulated CUDA backend and a real GPU. */
#ifndef PISTON_OPS_HARNESS_H
#define PISTON_OPS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

#ifndef TEST_DEFINE_COUNTERS
#define TEST_EXTERN_COUNTERS /* the counters live in test_backend_ops.c */
#endif
#include "tests/unit/test.h"

typedef struct OpsCtx {
    Backend *be;
    const char *name;       /* the backend's name: "cpu", "cuda" */
    int small;              /* emulated or sanitized: fewer, smaller shapes */
    unsigned long long rng; /* fresh inputs per case, reproducible per run */
    double tol_scale;       /* multiplies the f32 tolerances (device backends use fast math) */
} OpsCtx;

/* backend memory: allocated and filled from host, or poisoned with NaN (0xFF bytes) */
void *ops_upload(OpsCtx *c, const void *host, size_t bytes);
void *ops_poisoned(OpsCtx *c, size_t bytes);
/* download bytes of dev into a malloc'd host copy (after synchronize) */
void *ops_download(OpsCtx *c, const void *dev, size_t bytes);
void ops_free(OpsCtx *c, void *dev);

float *ops_rand(OpsCtx *c, int64_t n, float lo, float hi); /* malloc'd */
int ops_rand_int(OpsCtx *c, int lo, int hi);               /* [lo, hi] */
void ops_shuffle(OpsCtx *c, int32_t *a, int n);

/* |got - ref| <= atol + rtol * |scale| for each element (scale NULL: |ref|); NaN and Inf
 * fail. One CHECK per call; the first bad element is reported with `what`. */
int ops_close(const char *what, const float *got, const double *ref, const double *scale, int64_t n, double atol,
              double rtol);
/* Bit-exact equality of n bytes; one CHECK per call. */
int ops_same(const char *what, const void *got, const void *want, size_t n);

/* IEEE half and bfloat16 decoding and f32 -> half rounding, written here from the formats'
 * definitions (not the backend's). */
double ops_half_to_double(uint16_t h);
double ops_bf16_to_double(uint16_t b);
uint16_t ops_double_to_half(double x); /* round to nearest even */
/* f32 to the 16-bit cache type dt (DT_F16 or DT_BF16), round to nearest even, and back */
uint16_t ops_to16(float x, DType dt);
double ops_from16(uint16_t h, DType dt);

/* A KV cache of n_layers x num_blocks x bs slots in backend memory, every byte NaN
 * (ops_kv.c); its element size. */
KvCache ops_cache_new(OpsCtx *c, int n_layers, int num_blocks, int bs, int kv_dim, DType dt);
void ops_cache_free(OpsCtx *c, KvCache *kv);
size_t ops_elem_bytes(DType dt);

/* The suites (ops_rows.c, ops_kv.c, ops_attention.c, ops_matmul.c). */
void ops_test_rows(OpsCtx *c);
void ops_test_kv(OpsCtx *c);
void ops_test_attention(OpsCtx *c);
void ops_test_matmul(OpsCtx *c);
void ops_test_matmul_n(OpsCtx *c);
/* The CPU's promise that a row's result does not depend on the rest of the batch or on the
 * thread count (ops_rows.c); device backends do not make it and report it skipped. */
void ops_test_batch_invariance(OpsCtx *c, Backend *other);

#endif
