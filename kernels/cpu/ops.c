/* The CPU backend's small per-token ops: embedding lookup, RMSNorm, bias and residual adds,
 * rotary position embedding and the SwiGLU activation. Matmul lives in matmul*.c, attention
 * in attention.c.
 *
 * Batch invariance is the rule here: a token's result must be bit-identical whatever else is
 * in the batch and however the work is split across threads. So every row op computes a row
 * whole in one task with a summation order fixed by the row length alone, and the elementwise
 * ops run every element through the same instruction sequence (the SIMD tail is padded and
 * pushed through the vector code rather than finished by a scalar loop that would round
 * differently). The SIMD paths use per-function target attributes and are picked at run time,
 * with a scalar fallback, so the binary runs on any x86-64. AVX2 is enough: these ops are
 * bound by memory traffic, not arithmetic. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd_math.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OPS_X86 1
#else
#define OPS_X86 0
#endif

static int ops_have_avx2(void) {
#if OPS_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* ---- splitting [0, n) across the pool ---- */

typedef void (*RangeFn)(void *ctx, int64_t start, int64_t end);

typedef struct RangeJob {
    RangeFn fn;
    void *ctx;
    int64_t n, chunk;
} RangeJob;

static void range_task(void *c, int task, int thread) {
    const RangeJob *j = c;
    int64_t s = (int64_t)task * j->chunk;
    int64_t e = s + j->chunk < j->n ? s + j->chunk : j->n;
    if (s < e) j->fn(j->ctx, s, e);
}

/* Runs fn over [0, n) in chunks that are multiples of `align` items. Below ~64k element-ops
 * the hand-off to other threads costs more than it saves, so small jobs run inline. Results
 * never depend on the split (see the top of the file), only the speed does. */
static void parallel_range(Backend *be, int64_t n, int64_t cost_per_item, int64_t align, RangeFn fn,
                           void *ctx) {
    ThreadPool *pool = cpu_state(be)->pool;
    int nt = threadpool_size(pool);
    if (n <= 0) return;
    if (nt <= 1 || n * cost_per_item < 65536 || n < 2) {
        fn(ctx, 0, n);
        return;
    }
    int64_t n_tasks = (int64_t)nt * 4 < n ? (int64_t)nt * 4 : n;
    int64_t chunk = (n + n_tasks - 1) / n_tasks;
    chunk = (chunk + align - 1) / align * align;
    RangeJob job = {fn, ctx, n, chunk};
    threadpool_run(pool, (int)((n + chunk - 1) / chunk), range_task, &job);
}

/* ---- embed ---- */

typedef struct EmbedCtx {
    const Tensor *table; /* [n_rows, dim], any supported type */
    const int32_t *ids;  /* [T] */
    float *out;          /* [T, dim] */
    int64_t row_bytes;
} EmbedCtx;

static void embed_rows(void *c, int64_t t0, int64_t t1) {
    const EmbedCtx *e = c;
    int64_t dim = e->table->ne[0];
    for (int64_t t = t0; t < t1; t++) {
        const uint8_t *row = (const uint8_t *)e->table->data + (int64_t)e->ids[t] * e->row_bytes;
        dtype_dequantize_row(e->table->type, row, e->out + t * dim, dim);
    }
}

void cpu_embed(struct Backend *be, const Tensor *table, const int32_t *ids, int T, float *out) {
    EmbedCtx e = {table, ids, out, dtype_row_bytes(table->type, table->ne[0])};
    assert(e.row_bytes > 0);
    /* the caller validates token ids; an id out of range here is a bug above us */
    for (int t = 0; t < T; t++) assert(ids[t] >= 0 && ids[t] < table->ne[1]);
    parallel_range(be, T, table->ne[0] * 4, 1, embed_rows, &e);
}

/* ---- rmsnorm ---- */

/* Sum of squares in double, each square rounded to float first as llama.cpp does, so that
 * our normalised activations track its. */
static double sumsq_scalar(const float *x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

#if OPS_X86
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
    const float *x; /* [T, dim] */
    const float *w; /* [dim] */
    float *out;     /* [T, dim], may equal x */
    int dim;
    float eps;
    int avx2;
} NormCtx;

static void rmsnorm_rows(void *c, int64_t t0, int64_t t1) {
    const NormCtx *n = c;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = n->x + t * n->dim;
        float *o = n->out + t * n->dim;
#if OPS_X86
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

void cpu_rmsnorm(struct Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps) {
    NormCtx n = {x, w, out, dim, eps, ops_have_avx2()};
    parallel_range(be, T, dim, 1, rmsnorm_rows, &n);
}

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

void cpu_add_bias(struct Backend *be, float *x, const float *bias, int T, int dim) {
    AddCtx a = {x, bias, dim};
    parallel_range(be, T, dim, 1, add_bias_rows, &a);
}

static void add_range(void *c, int64_t i0, int64_t i1) {
    const AddCtx *a = c;
    for (int64_t i = i0; i < i1; i++) a->x[i] += a->y[i];
}

void cpu_add(struct Backend *be, float *x, const float *y, int64_t n) {
    AddCtx a = {x, y, 0};
    parallel_range(be, n, 1, 64, add_range, &a);
}

/* ---- rope ---- */

typedef struct RopeCtx {
    float *x;              /* [T, n_heads, head_dim] */
    const int32_t *pos;    /* [T] */
    int n_heads, head_dim, rot_dim, style;
    float theta_scale;
} RopeCtx;

/* The angles are made exactly as llama.cpp's ggml rope makes them: start at (float)pos and
 * multiply by theta_scale = powf(base, -2/rot_dim) once per pair, in float, then cosf/sinf.
 * The iterated product drifts from pos * base^(-2i/rot_dim) by a few ulp, and following the
 * same recipe is what keeps our logits on llama.cpp's rather than merely near them. */
static void rope_rows(void *c, int64_t t0, int64_t t1) {
    const RopeCtx *r = c;
    int half = r->rot_dim / 2;
    for (int64_t t = t0; t < t1; t++) {
        float *xt = r->x + t * r->n_heads * r->head_dim;
        float th = (float)r->pos[t];
        for (int i = 0; i < half; i++) {
            float cs = cosf(th), sn = sinf(th);
            /* ROPE_NORMAL pairs (2i, 2i+1); ROPE_NEOX pairs (i, i + rot_dim/2) */
            int i0 = r->style == ROPE_NEOX ? i : 2 * i;
            int i1 = r->style == ROPE_NEOX ? i + half : 2 * i + 1;
            for (int h = 0; h < r->n_heads; h++) {
                float *xh = xt + h * r->head_dim;
                float x0 = xh[i0], x1 = xh[i1];
                xh[i0] = x0 * cs - x1 * sn;
                xh[i1] = x0 * sn + x1 * cs;
            }
            th *= r->theta_scale;
        }
    }
}

void cpu_rope(struct Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim,
              float theta, int style) {
    assert(rot_dim > 0 && rot_dim % 2 == 0 && rot_dim <= head_dim);
    assert(style == ROPE_NORMAL || style == ROPE_NEOX);
    RopeCtx r = {x, pos, n_heads, head_dim, rot_dim, style, powf(theta, -2.0f / rot_dim)};
    /* per element a cosf/sinf pair is shared by the heads; ~8 element-ops per element */
    parallel_range(be, T, (int64_t)n_heads * rot_dim * 8, 1, rope_rows, &r);
}

/* ---- silu_mul ---- */

#if OPS_X86
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
#if OPS_X86
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

void cpu_silu_mul(struct Backend *be, float *gate, const float *up, int64_t n) {
    SiluCtx s = {gate, up, ops_have_avx2()};
    /* chunks are multiples of 8 so that, whatever the split, only the very last chunk has
     * a tail; and the tail rounds as the body does anyway */
    parallel_range(be, n, 16, 64, silu_mul_range, &s);
}
