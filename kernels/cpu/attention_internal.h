/* Internals shared by the CPU attention paths: attention.c (scalar and AVX2 tasks, the
 * dispatch) and attention_avx512.c. A task computes up to ATTN_HEADS query heads of one kv
 * head for one token, over the token's context in tiles of ATTN_TILE positions whose edges
 * sit at fixed positions of the sequence (batch invariance: see attention.c). */
#ifndef PISTON_ATTENTION_INTERNAL_H
#define PISTON_ATTENTION_INTERNAL_H

#include <assert.h>
#include <stdint.h>

#include "kernels/cpu/cpu_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTN_X86 1
#else
#define ATTN_X86 0
#endif

/* scores per tile: big enough that the per-tile rescale is noise, small enough for the stack */
#define ATTN_TILE 128

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
static inline int attn_seq_of(const AttnBatch *b, int t) {
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
    int64_t es = c->kv->dtype == DT_F32 ? (int64_t)sizeof(float) : 2;
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


#if ATTN_X86
/* attention_avx512.c: the AVX-512 tasks over an f32, f16 or bf16 cache */
void attn_task_avx512(void *ctx, int task, int thread);
void attn_task_avx512_f16(void *ctx, int task, int thread);
void attn_task_avx512_bf16(void *ctx, int task, int thread);
#endif

#endif
