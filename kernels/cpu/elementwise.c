/* Elementwise ops of the CPU backend: bias add, residual add and the SwiGLU activation.
 * Every element goes through the same instruction sequence wherever it lands in the split
 * (the SIMD tail is padded and pushed through the vector code rather than finished by a
 * scalar loop that would round differently), so results are batch invariant. The SIMD paths
 * use per-function target attributes and are picked at run time, with a scalar fallback, so
 * the binary runs on any x86-64. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_math.h"

/* ---- bias and residual adds (exact: one rounding per element, any split) ---- */

typedef struct AddCtx {
    float *x;
    const float *y;
    int dim; /* add_bias: row length; y is [dim] */
} AddCtx;

static void add_bias_rows(void *c, int64_t t0, int64_t t1) {
    const AddCtx *a = c;
    for (int64_t t = t0; t < t1; t++) {
        float *x = a->x + t * a->dim;
        for (int i = 0; i < a->dim; i++) x[i] += a->y[i];
    }
}

int cpu_add_bias(Backend *be, float *x, const float *bias, int T, int dim) {
    AddCtx a = {x, bias, dim};
    cpu_parallel_range(be, T, dim, 1, add_bias_rows, &a);
    return 0;
}

static void add_range(void *c, int64_t i0, int64_t i1) {
    const AddCtx *a = c;
    for (int64_t i = i0; i < i1; i++) a->x[i] += a->y[i];
}

int cpu_add(Backend *be, float *x, const float *y, int64_t n) {
    AddCtx a = {x, y, 0};
    cpu_parallel_range(be, n, 1, 64, add_range, &a);
    return 0;
}

/* ---- silu_mul ---- */

#if CPU_X86
__attribute__((target("avx2,fma"))) static inline __m256 silu_mul8(__m256 g, __m256 u) {
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
}

__attribute__((target("avx2,fma"))) static void silu_mul_avx2(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        /* the tail goes through the same vector code, padded, so that an element's result
         * does not depend on whether it happened to land in the tail */
        float tg[8] = {0}, tu[8] = {0};
        memcpy(tg, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(tu, u + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(tg, silu_mul8(_mm256_loadu_ps(tg), _mm256_loadu_ps(tu)));
        memcpy(g + i, tg, (size_t)(n - i) * sizeof(float));
    }
}
#endif

typedef struct SiluCtx {
    float *gate;     /* [n] */
    const float *up; /* [n] */
    int avx2;
} SiluCtx;

static void silu_mul_range(void *c, int64_t i0, int64_t i1) {
    const SiluCtx *s = c;
#if CPU_X86
    if (s->avx2) {
        silu_mul_avx2(s->gate + i0, s->up + i0, i1 - i0);
        return;
    }
#endif
    for (int64_t i = i0; i < i1; i++) {
        float x = s->gate[i];
        s->gate[i] = x / (1.0f + expf(-x)) * s->up[i];
    }
}

int cpu_silu_mul(Backend *be, float *gate, const float *up, int64_t n) {
    SiluCtx s = {gate, up, cpu_have_avx2()};
    /* chunks are multiples of 8 so that, whatever the split, only the very last chunk has
     * a tail; and the tail rounds as the body does anyway */
    cpu_parallel_range(be, n, 16, 64, silu_mul_range, &s);
    return 0;
}
