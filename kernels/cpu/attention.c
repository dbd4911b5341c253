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
 * small stack array (4.5 KiB), so attention needs no heap memory (CpuState.attn_scratch
 * stays unused) and has no failure path however long the context grows.
 *
 * The AVX-512 path (the one that matters on servers) is its own task: scores for 16
 * positions at once (16 FMA chains, one transpose-style reduction), exp16 over the tile, and
 * the output rows held in registers across the tile's positions. It keeps the same tile
 * edges, and a position's place in its 16-group is fixed by the position, so it stays batch
 * invariant. Decode is bound by reading the cache from DRAM; the rest is arithmetic.
 *
 * An f16 cache (KvCache.dtype) halves those bytes. Every path converts each K/V element to
 * f32 as it loads it (exactly: every half is a float) and then does the same f32 arithmetic
 * in the same order, so batch invariance holds for both types. Rows are addressed by byte
 * offsets; each path comes in an f32 and an f16 wrapper around one inlined body. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_math.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTN_X86 1
#else
#define ATTN_X86 0
#endif

/* scores per tile: big enough that the per-tile rescale is noise, small enough for the stack */
#define ATTN_TILE 128

/* ---- dot product and o += w * v, per instruction set; each has a fixed order for a given n.
 * The K/V row is f32 or f16 (f16 a constant after inlining), converted to f32 as loaded. ---- */

static inline float kv_at(const void *r, int i, int f16) {
    return f16 ? fp16_to_f32(((const uint16_t *)r)[i]) : ((const float *)r)[i];
}

static inline __attribute__((always_inline)) float dot_scalar(const float *a, const void *b, int n, int f16) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * kv_at(b, i, f16);
        s1 += a[i + 1] * kv_at(b, i + 1, f16);
        s2 += a[i + 2] * kv_at(b, i + 2, f16);
        s3 += a[i + 3] * kv_at(b, i + 3, f16);
    }
    for (; i < n; i++) s0 += a[i] * kv_at(b, i, f16);
    return (s0 + s1) + (s2 + s3);
}

static inline __attribute__((always_inline)) void axpy_scalar(float *o, float w, const void *v, int n, int f16) {
    for (int i = 0; i < n; i++) o[i] += w * kv_at(v, i, f16);
}

#if ATTN_X86
/* f16c: every AVX2 CPU has it (it came a generation earlier), and dispatch checks it */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 kv_load8(const void *r, int i, int f16) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + i)))
               : _mm256_loadu_ps((const float *)r + i);
}

__attribute__((target("avx2,fma,f16c"))) static inline __attribute__((always_inline)) float
dot_avx2(const float *a, const void *b, int n, int f16) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(b, i, f16), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), kv_load8(b, i + 8, f16), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(b, i, f16), s0);
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += a[i] * kv_at(b, i, f16);
    return r;
}

__attribute__((target("avx2,fma,f16c"))) static inline __attribute__((always_inline)) void
axpy_avx2(float *o, float w, const void *v, int n, int f16) {
    __m256 wv = _mm256_set1_ps(w);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, kv_load8(v, i, f16), _mm256_loadu_ps(o + i)));
    for (; i < n; i++) o[i] += w * kv_at(v, i, f16);
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

typedef float (*DotFn)(const float *a, const void *b, int n, int f16);
typedef void (*AxpyFn)(float *o, float w, const void *v, int n, int f16);
typedef float (*ExpTileFn)(float *s, int n, float m);

/* ---- one token, up to ATTN_HEADS query heads of one kv head ---- */

/* heads per task: the heads that share a kv head read each K/V row while it is in L1, so the
 * cache is streamed from memory once per group instead of once per head */
#define ATTN_HEADS 8

typedef struct AttnCtx {
    const KvCache *kv;
    int layer;
    const float *q; /* [T, n_heads, head_dim] */
    const AttnBatch *b;
    int n_heads, group, head_dim, chunks; /* chunks: tasks per (token, kv head) */
    float scale;
    float *out; /* [T, n_heads, head_dim] */
} AttnCtx;

/* what one task computes: heads [h0, h0 + nh) of token t over positions [0, n_ctx) */
typedef struct AttnJob {
    int nh, hd;
    int64_t n_ctx, row_bytes, bs; /* row_bytes: one slot's K (or V) row, kv_dim elements */
    const int32_t *table;         /* the sequence's block table */
    const char *kbase, *vbase;    /* a slot's head row at + slot * row_bytes */
    const float *q;             /* [nh, head_dim] */
    float *o;                   /* [nh, head_dim] */
} AttnJob;

/* the sequence that owns query row t: the last b with query_start[b] <= t (skips sequences
 * with no new tokens, whose start equals the next one's) */
static int attn_seq_of(const AttnBatch *b, int t) {
    int lo = 0, hi = b->B - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (b->query_start[mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static inline __attribute__((always_inline)) AttnJob attn_job(const AttnCtx *c, int task) {
    const AttnBatch *b = c->b;
    int n_kv = c->n_heads / c->group, hd = c->head_dim;
    int t = task / (n_kv * c->chunks), kvh = task / c->chunks % n_kv, ci = task % c->chunks;
    int h0 = kvh * c->group + ci * ATTN_HEADS; /* heads [h0, h0 + nh) */
    int nh = c->group - ci * ATTN_HEADS < ATTN_HEADS ? c->group - ci * ATTN_HEADS : ATTN_HEADS;
    int s = attn_seq_of(b, t);
    int q_len = b->query_start[s + 1] - b->query_start[s];
    int64_t es = c->kv->dtype == DT_F16 ? 2 : (int64_t)sizeof(float);
    AttnJob j = {nh, hd, (int64_t)b->seq_lens[s] - q_len + (t - b->query_start[s]) + 1, c->kv->kv_dim * es,
                 c->kv->block_size, b->block_tables + (int64_t)s * b->max_blocks_per_seq,
                 (const char *)c->kv->k[c->layer] + kvh * hd * es, (const char *)c->kv->v[c->layer] + kvh * hd * es,
                 c->q + ((int64_t)t * c->n_heads + h0) * hd, c->out + ((int64_t)t * c->n_heads + h0) * hd};
    assert(j.n_ctx >= 1 && (j.n_ctx - 1) / j.bs < b->max_blocks_per_seq);
    return j;
}

/* byte offsets (slot * row_bytes) of the tile's n positions, continuing from block *blk, offset *off */
static inline __attribute__((always_inline)) void attn_tile_offsets(const AttnJob *jb, int n, int64_t *blk,
                                                                    int64_t *off, int64_t *ofs) {
    for (int j = 0; j < n; j++) {
        ofs[j] = ((int64_t)jb->table[*blk] * jb->bs + *off) * jb->row_bytes;
        if (++*off == jb->bs) *off = 0, ++*blk;
    }
}

/* Inlined into one wrapper per instruction set with constant dot/axpy/exp, so the calls
 * become direct (and inlined) in each. Each head's arithmetic is exactly what it would be
 * computed alone: heads only share the loads. */
static inline __attribute__((always_inline)) void attn_one(const AttnCtx *c, int task, DotFn dot, AxpyFn axpy,
                                                           ExpTileFn exp_tile, int f16) {
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
            for (int g = 0; g < nh; g++) sc[g][j] = dot(jb.q + g * hd, jb.kbase + ofs[j], hd, f16) * c->scale;
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
            for (int g = 0; g < nh; g++) axpy(o + g * hd, sc[g][j], jb.vbase + ofs[j], hd, f16);
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
#if ATTN_X86
__attribute__((target("avx2,fma,f16c"))) static void attn_task_avx2(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx2, axpy_avx2, exp_tile_avx2, 0);
}
__attribute__((target("avx2,fma,f16c"))) static void attn_task_avx2_f16(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx2, axpy_avx2, exp_tile_avx2, 1);
}

/* ---- AVX-512: the same tiles and online softmax, restructured around registers ---- */

/* a[i] holds 16 partial sums of position i's dot product; returns lane i = their total,
 * by a transpose-style tree (8 + 4 + 2 + 1 adds instead of 16 separate reductions). */
__attribute__((target("avx512f"))) static inline __m512 attn_hsum16(const __m512 *a) {
    __m512 b[8], c[4], d[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* per 128-bit lane: a0+a2, b0+b2, a1+a3, b1+b3 */
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* per 128-bit lane: positions 4i..4i+3 */
        __m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
        c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* 128-bit lanes pairwise: c[2i] in the low half, c[2i+1] high */
        d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], 0x88), _mm512_shuffle_f32x4(d[0], d[1], 0xDD));
}

static inline __mmask16 attn_mask(int64_t left) { return left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1); }

static inline void attn_prefetch(const char *row, int64_t bytes) {
    for (int64_t d = 0; d < bytes; d += 64) _mm_prefetch(row + d, _MM_HINT_T0);
}

/* elements [d, d + 16) of a K/V row as f32, lanes past hd - d zero (not read) */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) __m512
kv_load16(const char *row, int d, int hd, __mmask16 m, int f16) {
    if (!f16) return _mm512_maskz_loadu_ps(m, (const float *)row + d);
    const uint16_t *h = (const uint16_t *)row + d;
    if (hd - d <= 0) return _mm512_setzero_ps(); /* a pass's columns past the row */
    if (hd - d >= 16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
    uint16_t t[16] = {0}; /* a head size that is not a multiple of 16: masked 16-bit loads need BW */
    memcpy(t, h, (size_t)(hd - d) * sizeof *h);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)t));
}

/* sc[i] = q . k(kr[i]) * scale for 16 rows: one FMA chain per row over head_dim, then one
 * reduction for all 16 */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
attn_scores16(const float *q, const char *const *kr, int hd, float scale, float *sc, int f16) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d += 16) {
        __mmask16 m = attn_mask(hd - d);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(qv, kv_load16(kr[i], d, hd, m, f16), acc[i]);
    }
    _mm512_storeu_ps(sc, _mm512_mul_ps(attn_hsum16(acc), _mm512_set1_ps(scale)));
}

/* o[g, :] += sum_j p[g][j] v_j for NH heads (a constant after inlining), 64 columns at a
 * time: the 4 * NH output vectors stay in registers over the tile's positions, and each V
 * row is loaded once for all NH heads. Every element still gets one FMA per position, in
 * position order. */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
attn_pv(float *o, int hd, const float (*p)[ATTN_TILE], const char *vbase, const int64_t *ofs, int n, int NH, int f16) {
    for (int d = 0; d < hd; d += 64) {
        __mmask16 mk[4];
        __m512 acc[4][4], v[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) mk[c] = attn_mask(hd - d - 16 * c);
#pragma GCC unroll 4
        for (int g = 0; g < NH; g++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) acc[g][c] = _mm512_maskz_loadu_ps(mk[c], o + g * hd + d + 16 * c);
        for (int j = 0; j < n; j++) {
            const char *vr = vbase + ofs[j];
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) v[c] = kv_load16(vr, d + 16 * c, hd, mk[c], f16);
#pragma GCC unroll 4
            for (int g = 0; g < NH; g++) {
                __m512 w = _mm512_set1_ps(p[g][j]);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) acc[g][c] = _mm512_fmadd_ps(w, v[c], acc[g][c]);
            }
        }
#pragma GCC unroll 4
        for (int g = 0; g < NH; g++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) _mm512_mask_storeu_ps(o + g * hd + d + 16 * c, mk[c], acc[g][c]);
    }
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
attn_avx512(const AttnCtx *c, int task, int f16) {
    AttnJob jb = attn_job(c, task);
    int nh = jb.nh, hd = jb.hd;
    float *o = jb.o;
    float sc[ATTN_HEADS][ATTN_TILE];
    int64_t ofs[ATTN_TILE];
    float m[ATTN_HEADS];
    __m512 l[ATTN_HEADS]; /* lane i: the weights of positions = i mod 16 */
    for (int g = 0; g < nh; g++) m[g] = -INFINITY, l[g] = _mm512_setzero_ps();
    memset(o, 0, (size_t)nh * hd * sizeof(float));
    int64_t blk = 0, off = 0;
    for (int64_t j0 = 0; j0 < jb.n_ctx; j0 += ATTN_TILE) {
        int n = jb.n_ctx - j0 < ATTN_TILE ? (int)(jb.n_ctx - j0) : ATTN_TILE;
        attn_tile_offsets(&jb, n, &blk, &off, ofs);
        for (int j = 0; j < n; j += 16) {
            const char *kr[16];
            for (int i = 0; i < 16; i++) /* past n, repeat the last row: never read past the context */
                kr[i] = jb.kbase + ofs[j + i < n ? j + i : n - 1];
            /* the cache is far bigger than L2 and a task reads one kv head's slice of each row,
             * scattered over blocks: ask for the next rows' K and this group's V (read after
             * the softmax) ahead of use, or the loads wait on DRAM */
            for (int i = j + 16; i < n && i < j + 32; i++) attn_prefetch(jb.kbase + ofs[i], hd * (f16 ? 2 : 4));
            for (int i = j; i < n && i < j + 16; i++) attn_prefetch(jb.vbase + ofs[i], hd * (f16 ? 2 : 4));
            for (int g = 0; g < nh; g++) attn_scores16(jb.q + g * hd, kr, hd, c->scale, sc[g] + j, f16);
        }
        for (int g = 0; g < nh; g++) {
            __m512 mx = _mm512_set1_ps(-INFINITY);
            for (int j = 0; j < n; j += 16)
                mx = _mm512_mask_max_ps(mx, attn_mask(n - j), mx, _mm512_loadu_ps(sc[g] + j));
            float mt = _mm512_reduce_max_ps(mx);
            if (mt > m[g]) {
                if (m[g] != -INFINITY) { /* the running sum and output were in units of exp(-m) */
                    float corr = expf(m[g] - mt);
                    l[g] = _mm512_mul_ps(l[g], _mm512_set1_ps(corr));
                    for (int d = 0; d < hd; d++) o[g * hd + d] *= corr;
                }
                m[g] = mt;
            }
            __m512 mb = _mm512_set1_ps(m[g]);
            for (int j = 0; j < n; j += 16) {
                __m512 p = _mm512_maskz_mov_ps(attn_mask(n - j), exp16(_mm512_sub_ps(_mm512_loadu_ps(sc[g] + j), mb)));
                _mm512_storeu_ps(sc[g] + j, p);
                l[g] = _mm512_add_ps(l[g], p);
            }
        }
        int g = 0;
        for (; g + 4 <= nh; g += 4) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 4, f16);
        if (nh - g == 3) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 3, f16);
        if (nh - g == 2) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 2, f16);
        if (nh - g == 1) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 1, f16);
    }
    for (int g = 0; g < nh; g++) {
        __m512 lv = _mm512_set1_ps(_mm512_reduce_add_ps(l[g]));
        for (int d = 0; d < hd; d += 16) {
            __mmask16 mk = attn_mask(hd - d);
            _mm512_mask_storeu_ps(o + g * hd + d, mk, _mm512_div_ps(_mm512_maskz_loadu_ps(mk, o + g * hd + d), lv));
        }
    }
}

__attribute__((target("avx512f"))) static void attn_task_avx512(void *ctx, int task, int thread) {
    attn_avx512(ctx, task, 0);
}
__attribute__((target("avx512f"))) static void attn_task_avx512_f16(void *ctx, int task, int thread) {
    attn_avx512(ctx, task, 1);
}
#endif

void cpu_attention(struct Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b,
                   int n_heads, int n_kv_heads, int head_dim, float scale, float *out) {
    assert(n_kv_heads > 0 && n_heads % n_kv_heads == 0 && n_kv_heads * head_dim == kv->kv_dim);
    assert(b->query_start[0] == 0 && b->query_start[b->B] == b->T);
    int group = n_heads / n_kv_heads, chunks = (group + ATTN_HEADS - 1) / ATTN_HEADS;
    AttnCtx c = {kv, layer, q, b, n_heads, group, head_dim, chunks, scale, out};
    assert(kv->dtype == DT_F32 || kv->dtype == DT_F16);
    int f16 = kv->dtype == DT_F16;
    ThreadTask fn = f16 ? attn_task_scalar_f16 : attn_task_scalar;
#if ATTN_X86
    if (__builtin_cpu_supports("avx512f")) fn = f16 ? attn_task_avx512_f16 : attn_task_avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        fn = f16 ? attn_task_avx2_f16 : attn_task_avx2;
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
}
