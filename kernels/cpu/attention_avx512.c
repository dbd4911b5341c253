/* The AVX-512 task of the CPU paged attention (see attention.c for the contract): the same
 * tiles and online softmax as the other paths, restructured around registers. Scores for 16
 * positions at once (16 FMA chains, one transpose-style reduction), exp16 over the tile, and
 * the output rows held in registers across the tile's positions. A position's place in its
 * 16-group is fixed by the position, so the arithmetic stays batch invariant. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/simd_math.h"

#if ATTN_X86

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
kv_load16(const char *row, int d, int hd, __mmask16 m, int kind) {
    if (!kind) return _mm512_maskz_loadu_ps(m, (const float *)row + d);
    const uint16_t *h = (const uint16_t *)row + d;
    if (hd - d <= 0) return _mm512_setzero_ps(); /* a pass's columns past the row */
    uint16_t t[16] = {0}; /* a head size that is not a multiple of 16: masked 16-bit loads need BW */
    if (hd - d < 16) memcpy(t, h, (size_t)(hd - d) * sizeof *h), h = t;
    __m256i raw = _mm256_loadu_si256((const __m256i *)h);
    if (kind == 2) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16)); /* bf16 */
    return _mm512_cvtph_ps(raw);
}

/* sc[i] = q . k(kr[i]) * scale for 16 rows: one FMA chain per row over head_dim, then one
 * reduction for all 16 */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
attn_scores16(const float *q, const char *const *kr, int hd, float scale, float *sc, int kind) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d += 16) {
        __mmask16 m = attn_mask(hd - d);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(qv, kv_load16(kr[i], d, hd, m, kind), acc[i]);
    }
    _mm512_storeu_ps(sc, _mm512_mul_ps(attn_hsum16(acc), _mm512_set1_ps(scale)));
}

/* o[g, :] += sum_j p[g][j] v_j for NH heads (a constant after inlining), 64 columns at a
 * time: the 4 * NH output vectors stay in registers over the tile's positions, and each V
 * row is loaded once for all NH heads. Every element still gets one FMA per position, in
 * position order. */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
attn_pv(float *o, int hd, const float (*p)[ATTN_TILE], const char *vbase, const int64_t *ofs, int n, int NH, int kind) {
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
            for (int c = 0; c < 4; c++) v[c] = kv_load16(vr, d + 16 * c, hd, mk[c], kind);
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
attn_avx512(const AttnCtx *c, int task, int kind) {
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
            for (int i = j + 16; i < n && i < j + 32; i++) attn_prefetch(jb.kbase + ofs[i], hd * (kind ? 2 : 4));
            for (int i = j; i < n && i < j + 16; i++) attn_prefetch(jb.vbase + ofs[i], hd * (kind ? 2 : 4));
            for (int g = 0; g < nh; g++) attn_scores16(jb.q + g * hd, kr, hd, c->scale, sc[g] + j, kind);
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
        for (; g + 4 <= nh; g += 4) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 4, kind);
        if (nh - g == 3) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 3, kind);
        if (nh - g == 2) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 2, kind);
        if (nh - g == 1) attn_pv(o + g * hd, hd, sc + g, jb.vbase, ofs, n, 1, kind);
    }
    for (int g = 0; g < nh; g++) {
        __m512 lv = _mm512_set1_ps(_mm512_reduce_add_ps(l[g]));
        for (int d = 0; d < hd; d += 16) {
            __mmask16 mk = attn_mask(hd - d);
            _mm512_mask_storeu_ps(o + g * hd + d, mk, _mm512_div_ps(_mm512_maskz_loadu_ps(mk, o + g * hd + d), lv));
        }
    }
}

__attribute__((target("avx512f"))) void attn_task_avx512(void *ctx, int task, int thread) {
    attn_avx512(ctx, task, 0);
}
__attribute__((target("avx512f"))) void attn_task_avx512_f16(void *ctx, int task, int thread) {
    attn_avx512(ctx, task, 1);
}
__attribute__((target("avx512f"))) void attn_task_avx512_bf16(void *ctx, int task, int thread) {
    attn_avx512(ctx, task, 2);
}
#endif
