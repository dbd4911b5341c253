/* Paged attention on the CPU: writing the step's new K/V rows into the paged cache
 * (cpu_kv_write) and causal, grouped-query attention of the flat batch over that cache
 * (cpu_attention). The batch layout is AttnBatch's in kernels/backend.h.
 *
 * Each (token, head) output row is computed whole by one task, walking the token's context
 * [0, position] in the order of positions, in tiles of ATTN_TILE with an online softmax
 * (running max and sum, rescaled once per tile). The tile edges sit at fixed positions of
 * the sequence, so the arithmetic for a (token, head) depends only on that token's own
 * sequence: never on the other tokens in the batch, nor on which thread runs it (batch
 * invariance). A task takes the query heads of one kv head together (up to ATTN_HEADS) so
 * that each K/V row is fetched once for all of them. Tiles also keep the score scratch a
 * small stack array (4.5 KiB), so attention needs no heap memory and has no failure path
 * however long the context grows.
 *
 * The AVX-512 path (the one that matters on servers) is its own task, in attention_avx512.c: scores for 16
 * positions at once (16 FMA chains, one transpose-style reduction), exp16 over the tile, and
 * the output rows held in registers across the tile's positions. It keeps the same tile
 * edges, and a position's place in its 16-group is fixed by the position, so it stays batch
 * invariant. Decode is bound by reading the cache from DRAM; the rest is arithmetic.
 *
 * An f16 or bf16 cache (KvCache.dtype) halves those bytes. Every path converts each K/V element to
 * f32 as it loads it (exactly: every half is a float) and then does the same f32 arithmetic
 * in the same order, so batch invariance holds for both types. Rows are addressed by byte
 * offsets; each path comes in f32, f16 and bf16 wrappers around one inlined body (`kind`:
 * 0 f32, 1 f16, 2 bf16, a constant after inlining). */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_math.h"

/* ---- dot product and o += w * v, per instruction set; each has a fixed order for a given n.
 * The K/V row is f32, f16 or bf16 (kind 0, 1, 2), converted to f32 as loaded. ---- */

static inline float kv_at(const void *r, int i, int kind) {
    return kind == 1   ? fp16_to_f32(((const uint16_t *)r)[i])
           : kind == 2 ? bf16_to_f32(((const uint16_t *)r)[i])
                       : ((const float *)r)[i];
}

static inline __attribute__((always_inline)) float dot_scalar(const float *a, const void *b, int n, int kind) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * kv_at(b, i, kind);
        s1 += a[i + 1] * kv_at(b, i + 1, kind);
        s2 += a[i + 2] * kv_at(b, i + 2, kind);
        s3 += a[i + 3] * kv_at(b, i + 3, kind);
    }
    for (; i < n; i++) s0 += a[i] * kv_at(b, i, kind);
    return (s0 + s1) + (s2 + s3);
}

static inline __attribute__((always_inline)) void axpy_scalar(float *o, float w, const void *v, int n, int kind) {
    for (int i = 0; i < n; i++) o[i] += w * kv_at(v, i, kind);
}

#if ATTN_X86
/* f16c: every AVX2 CPU has it (it came a generation earlier), and dispatch checks it */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 kv_load8(const void *r, int i, int kind) {
    if (kind == 1) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + i)));
    if (kind == 2) /* bf16 is the top half of an f32 */
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + i))), 16));
    return _mm256_loadu_ps((const float *)r + i);
}

__attribute__((target("avx2,fma,f16c"))) static inline __attribute__((always_inline)) float
dot_avx2(const float *a, const void *b, int n, int kind) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(b, i, kind), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), kv_load8(b, i + 8, kind), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(b, i, kind), s0);
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += a[i] * kv_at(b, i, kind);
    return r;
}

__attribute__((target("avx2,fma,f16c"))) static inline __attribute__((always_inline)) void
axpy_avx2(float *o, float w, const void *v, int n, int kind) {
    __m256 wv = _mm256_set1_ps(w);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, kv_load8(v, i, kind), _mm256_loadu_ps(o + i)));
    for (; i < n; i++) o[i] += w * kv_at(v, i, kind);
}

#endif

/* exp of a tile's scores less the running max, in place; returns their sum. Lanes past n
 * are computed on padding and dropped, so a score's weight does not depend on where the
 * tile ends. */
static float exp_tile_scalar(float *s, int n, float m) {
    float l = 0.0f;
    for (int j = 0; j < n; j++) l += (s[j] = expf(s[j] - m));
    return l;
}

#if ATTN_X86
__attribute__((target("avx2,fma,f16c"))) static float exp_tile_avx2(float *s, int n, float m) {
    const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 mb = _mm256_set1_ps(m), l = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) { /* s has room for whole vectors: ATTN_TILE % 16 == 0 */
        __m256 keep = _mm256_cmp_ps(lane, _mm256_set1_ps((float)(n - j)), _CMP_LT_OQ);
        __m256 p = _mm256_and_ps(keep, exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mb)));
        _mm256_storeu_ps(s + j, p);
        l = _mm256_add_ps(l, p);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(l), _mm256_extractf128_ps(l, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
#endif

typedef float (*DotFn)(const float *a, const void *b, int n, int kind);
typedef void (*AxpyFn)(float *o, float w, const void *v, int n, int kind);
typedef float (*ExpTileFn)(float *s, int n, float m);

/* Inlined into one wrapper per instruction set with constant dot/axpy/exp, so the calls
 * become direct (and inlined) in each. Each head's arithmetic is exactly what it would be
 * computed alone: heads only share the loads. */
static inline __attribute__((always_inline)) void attn_one(const AttnCtx *c, int task, DotFn dot, AxpyFn axpy,
                                                           ExpTileFn exp_tile, int kind) {
    AttnJob jb = attn_job(c, task);
    int nh = jb.nh, hd = jb.hd;
    float *o = jb.o;
    float sc[ATTN_HEADS][ATTN_TILE];
    int64_t ofs[ATTN_TILE];
    float m[ATTN_HEADS], l[ATTN_HEADS];
    for (int g = 0; g < nh; g++) m[g] = -INFINITY, l[g] = 0.0f;
    memset(o, 0, (size_t)nh * hd * sizeof(float));
    int64_t blk = 0, off = 0;
    for (int64_t j0 = 0; j0 < jb.n_ctx; j0 += ATTN_TILE) {
        int n = jb.n_ctx - j0 < ATTN_TILE ? (int)(jb.n_ctx - j0) : ATTN_TILE;
        attn_tile_offsets(&jb, n, &blk, &off, ofs);
        for (int j = 0; j < n; j++)
            for (int g = 0; g < nh; g++) sc[g][j] = dot(jb.q + g * hd, jb.kbase + ofs[j], hd, kind) * c->scale;
        for (int g = 0; g < nh; g++) {
            float mt = -INFINITY;
            for (int j = 0; j < n; j++) mt = sc[g][j] > mt ? sc[g][j] : mt;
            if (mt > m[g]) {
                if (m[g] != -INFINITY) { /* the running sum and output were in units of exp(-m) */
                    float corr = expf(m[g] - mt);
                    l[g] *= corr;
                    for (int d = 0; d < hd; d++) o[g * hd + d] *= corr;
                }
                m[g] = mt;
            }
            l[g] += exp_tile(sc[g], n, m[g]);
        }
        for (int j = 0; j < n; j++)
            for (int g = 0; g < nh; g++) axpy(o + g * hd, sc[g][j], jb.vbase + ofs[j], hd, kind);
    }
    for (int g = 0; g < nh; g++)
        for (int d = 0; d < hd; d++) o[g * hd + d] /= l[g];
}

static void attn_task_scalar(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_scalar, axpy_scalar, exp_tile_scalar, 0);
}
static void attn_task_scalar_f16(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_scalar, axpy_scalar, exp_tile_scalar, 1);
}
static void attn_task_scalar_bf16(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_scalar, axpy_scalar, exp_tile_scalar, 2);
}
#if ATTN_X86
__attribute__((target("avx2,fma,f16c"))) static void attn_task_avx2(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx2, axpy_avx2, exp_tile_avx2, 0);
}
__attribute__((target("avx2,fma,f16c"))) static void attn_task_avx2_f16(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx2, axpy_avx2, exp_tile_avx2, 1);
}
__attribute__((target("avx2,fma,f16c"))) static void attn_task_avx2_bf16(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx2, axpy_avx2, exp_tile_avx2, 2);
}

#endif

int cpu_attention(Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b, int n_heads,
                  int n_kv_heads, int head_dim, float scale, float *out) {
    if (!(n_kv_heads > 0 && n_heads % n_kv_heads == 0 && n_kv_heads * head_dim == kv->kv_dim))
        return backend_fail(be, -EINVAL, "attention: %d heads over %d kv heads of %d does not match the cache (%d)",
                            n_heads, n_kv_heads, head_dim, kv->kv_dim);
    if (!(b->query_start[0] == 0 && b->query_start[b->B] == b->T))
        return backend_fail(be, -EINVAL, "attention: query_start does not cover the batch's %d tokens", b->T);
    int group = n_heads / n_kv_heads, chunks = (group + ATTN_HEADS - 1) / ATTN_HEADS;
    AttnCtx c = {kv, layer, q, b, n_heads, group, head_dim, chunks, scale, out};
    if (kv->dtype != DT_F32 && kv->dtype != DT_F16 && kv->dtype != DT_BF16)
        return backend_fail(be, -EINVAL, "attention: cache type %s (f32, f16, bf16)", dtype_name(kv->dtype));
    int kind = kv->dtype == DT_F16 ? 1 : kv->dtype == DT_BF16 ? 2 : 0;
    static const ThreadTask scalar[3] = {attn_task_scalar, attn_task_scalar_f16, attn_task_scalar_bf16};
    ThreadTask fn = scalar[kind];
#if ATTN_X86
    static const ThreadTask avx512[3] = {attn_task_avx512, attn_task_avx512_f16, attn_task_avx512_bf16};
    static const ThreadTask avx2[3] = {attn_task_avx2, attn_task_avx2_f16, attn_task_avx2_bf16};
    int isa = cpu_state(be)->attn_isa, avx2_ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                                  __builtin_cpu_supports("f16c");
    if (isa == 0 && __builtin_cpu_supports("avx512f")) fn = avx512[kind];
    else if (isa != 1 && avx2_ok) fn = avx2[kind];
#endif
    int n_tasks = b->T * n_kv_heads * chunks;
    /* work ~ head_dim multiply-adds per (token, head, context position), twice: waking the
     * pool for less than ~64k of them costs more than it saves */
    int64_t work = 0;
    for (int s = 0; s < b->B; s++) {
        int64_t ql = b->query_start[s + 1] - b->query_start[s];
        work += ql * ((int64_t)b->seq_lens[s] - ql / 2);
    }
    work *= (int64_t)n_heads * head_dim;
    ThreadPool *pool = cpu_state(be)->pool;
    if (threadpool_size(pool) > 1 && work >= 65536) {
        threadpool_run(pool, n_tasks, fn, &c);
    } else {
        for (int i = 0; i < n_tasks; i++) fn(&c, i, 0);
    }
    return 0;
}
