/* RMSNorm on the CPU, alone and fused with the residual add that precedes it in every
 * transformer layer (x += branch; out = norm(x) * w), which on a GPU saves a pass over the
 * residual stream and here keeps the two in one sweep over the row.
 *
 * Batch invariance is the rule for every CPU op: a token's result must be bit-identical
 * whatever else is in the batch and however the work is split across threads. So a row is
 * computed whole in one task with a summation order fixed by the row length alone. */
#include <math.h>

#include "kernels/cpu/parallel.h"

/* Sum of squares in double, each square rounded to float first as llama.cpp does, so that
 * our normalised activations track its. */
static double sumsq_scalar(const float *x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

#if CPU_X86
__attribute__((target("avx2,fma"))) static double sumsq_avx2(const float *x, int n) {
    /* four independent double accumulators of 4 lanes; the final reduction order is fixed */
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        v0 = _mm256_mul_ps(v0, v0);
        v1 = _mm256_mul_ps(v1, v1);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v0)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v0, 1)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(v1)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(v1, 1)));
    }
    __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    double lanes[4];
    _mm256_storeu_pd(lanes, a);
    double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}
#endif

typedef struct NormCtx {
    float *x;       /* [T, dim]; add_rmsnorm adds y into it first */
    const float *y; /* [T, dim] or NULL */
    const float *w; /* [dim] */
    float *out;     /* [T, dim], may equal x */
    int dim;
    float eps;
    int avx2;
} NormCtx;

static void rmsnorm_rows(void *c, int64_t t0, int64_t t1) {
    const NormCtx *n = c;
    for (int64_t t = t0; t < t1; t++) {
        float *x = n->x + t * n->dim;
        float *o = n->out + t * n->dim;
        if (n->y) {
            /* one rounding per element, as the separate add made it */
            const float *y = n->y + t * n->dim;
            for (int i = 0; i < n->dim; i++) x[i] += y[i];
        }
#if CPU_X86
        double ss = n->avx2 ? sumsq_avx2(x, n->dim) : sumsq_scalar(x, n->dim);
#else
        double ss = sumsq_scalar(x, n->dim);
#endif
        float mean = (float)(ss / n->dim);
        float scale = 1.0f / sqrtf(mean + n->eps);
        /* (x * scale) * w, two roundings in this order, as llama.cpp's rms_norm then mul;
         * plain loop: the compiler's vectorisation of it rounds identically */
        for (int i = 0; i < n->dim; i++) o[i] = (x[i] * scale) * n->w[i];
    }
}

int cpu_rmsnorm(Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps) {
    NormCtx n = {(float *)x, NULL, w, out, dim, eps, cpu_have_avx2()}; /* x is only read */
    cpu_parallel_range(be, T, dim, 1, rmsnorm_rows, &n);
    return 0;
}

int cpu_add_rmsnorm(Backend *be, float *x, const float *y, const float *w, float *out, int T, int dim, float eps) {
    NormCtx n = {x, y, w, out, dim, eps, cpu_have_avx2()};
    cpu_parallel_range(be, T, 2 * (int64_t)dim, 1, rmsnorm_rows, &n);
    return 0;
}
