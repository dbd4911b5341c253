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
 * stays unused) and has no failure path however long the context grows. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTN_X86 1
#else
#define ATTN_X86 0
#endif

/* scores per tile: big enough that the per-tile rescale is noise, small enough for the stack */
#define ATTN_TILE 128

void cpu_kv_write(struct Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b) {
    int64_t n_slots = kv->num_blocks * kv->block_size;
    size_t row = (size_t)kv->kv_dim * sizeof(float);
    for (int t = 0; t < b->T; t++) {
        int64_t s = b->slot_mapping[t];
        if (s < 0) continue; /* a padding token, as vLLM marks them: nothing to keep */
        assert(s < n_slots);
        memcpy(kv->k[layer] + s * kv->kv_dim, k + (int64_t)t * kv->kv_dim, row);
        memcpy(kv->v[layer] + s * kv->kv_dim, v + (int64_t)t * kv->kv_dim, row);
    }
}

/* ---- dot product and o += w * v, per instruction set; each has a fixed order for a given n ---- */

static float dot_scalar(const float *a, const float *b, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static void axpy_scalar(float *o, float w, const float *v, int n) {
    for (int i = 0; i < n; i++) o[i] += w * v[i];
}

#if ATTN_X86
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

__attribute__((target("avx2,fma"))) static void axpy_avx2(float *o, float w, const float *v, int n) {
    __m256 wv = _mm256_set1_ps(w);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(o + i)));
    for (; i < n; i++) o[i] += w * v[i];
}

/* AVX-512: a masked load finishes any head_dim without a scalar tail. Only the tail is
 * masked: a masked store does not forward to the next load on some cores (AMD Zen 4), and
 * axpy reloads o right after storing it. */
__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i + 16 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) static void axpy_avx512(float *o, float w, const float *v, int n) {
    __m512 wv = _mm512_set1_ps(w);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(o + i, _mm512_fmadd_ps(wv, _mm512_loadu_ps(v + i), _mm512_loadu_ps(o + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, v + i), _mm512_maskz_loadu_ps(m, o + i));
        _mm512_mask_storeu_ps(o + i, m, r);
    }
}
#endif

typedef float (*DotFn)(const float *a, const float *b, int n);
typedef void (*AxpyFn)(float *o, float w, const float *v, int n);

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

/* Inlined into one wrapper per instruction set with constant dot/axpy, so the calls
 * become direct (and inlined) in each. Each head's arithmetic is exactly what it would be
 * computed alone: heads only share the loads. */
static inline __attribute__((always_inline)) void attn_one(const AttnCtx *c, int task, DotFn dot, AxpyFn axpy) {
    const AttnBatch *b = c->b;
    int n_kv = c->n_heads / c->group, hd = c->head_dim;
    int t = task / (n_kv * c->chunks), kvh = task / c->chunks % n_kv, ci = task % c->chunks;
    int h0 = kvh * c->group + ci * ATTN_HEADS; /* heads [h0, h0 + nh) */
    int nh = c->group - ci * ATTN_HEADS < ATTN_HEADS ? c->group - ci * ATTN_HEADS : ATTN_HEADS;
    int s = attn_seq_of(b, t);
    int q_len = b->query_start[s + 1] - b->query_start[s];
    int64_t n_ctx = (int64_t)b->seq_lens[s] - q_len + (t - b->query_start[s]) + 1; /* positions [0, n_ctx) */
    assert(n_ctx >= 1 && (n_ctx - 1) / c->kv->block_size < b->max_blocks_per_seq);

    const int32_t *table = b->block_tables + (int64_t)s * b->max_blocks_per_seq;
    int64_t kv_dim = c->kv->kv_dim, bs = c->kv->block_size;
    const float *kbase = c->kv->k[c->layer] + (int64_t)kvh * hd; /* slot's head row at + slot * kv_dim */
    const float *vbase = c->kv->v[c->layer] + (int64_t)kvh * hd;
    const float *qh = c->q + ((int64_t)t * c->n_heads + h0) * hd; /* [nh, head_dim] */
    float *o = c->out + ((int64_t)t * c->n_heads + h0) * hd;      /* [nh, head_dim] */

    float sc[ATTN_HEADS][ATTN_TILE];
    int64_t slot[ATTN_TILE];
    float m[ATTN_HEADS], l[ATTN_HEADS];
    for (int g = 0; g < nh; g++) m[g] = -INFINITY, l[g] = 0.0f;
    memset(o, 0, (size_t)nh * hd * sizeof(float));
    int64_t blk = 0, off = 0; /* position j is in block table[blk] at offset off */
    for (int64_t j0 = 0; j0 < n_ctx; j0 += ATTN_TILE) {
        int n = n_ctx - j0 < ATTN_TILE ? (int)(n_ctx - j0) : ATTN_TILE;
        for (int j = 0; j < n; j++) {
            slot[j] = (int64_t)table[blk] * bs + off;
            if (++off == bs) {
                off = 0;
                blk++;
            }
            const float *kr = kbase + slot[j] * kv_dim;
            for (int g = 0; g < nh; g++) sc[g][j] = dot(qh + g * hd, kr, hd) * c->scale;
        }
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
            for (int j = 0; j < n; j++) {
                sc[g][j] = expf(sc[g][j] - m[g]);
                l[g] += sc[g][j];
            }
        }
        for (int j = 0; j < n; j++) {
            const float *vr = vbase + slot[j] * kv_dim;
            for (int g = 0; g < nh; g++) axpy(o + g * hd, sc[g][j], vr, hd);
        }
    }
    for (int g = 0; g < nh; g++)
        for (int d = 0; d < hd; d++) o[g * hd + d] /= l[g];
}

static void attn_task_scalar(void *ctx, int task, int thread) { attn_one(ctx, task, dot_scalar, axpy_scalar); }
#if ATTN_X86
__attribute__((target("avx2,fma"))) static void attn_task_avx2(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx2, axpy_avx2);
}
__attribute__((target("avx512f"))) static void attn_task_avx512(void *ctx, int task, int thread) {
    attn_one(ctx, task, dot_avx512, axpy_avx512);
}
#endif

void cpu_attention(struct Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b,
                   int n_heads, int n_kv_heads, int head_dim, float scale, float *out) {
    assert(n_kv_heads > 0 && n_heads % n_kv_heads == 0 && n_kv_heads * head_dim == kv->kv_dim);
    assert(b->query_start[0] == 0 && b->query_start[b->B] == b->T);
    int group = n_heads / n_kv_heads, chunks = (group + ATTN_HEADS - 1) / ATTN_HEADS;
    AttnCtx c = {kv, layer, q, b, n_heads, group, head_dim, chunks, scale, out};
    ThreadTask fn = attn_task_scalar;
#if ATTN_X86
    if (__builtin_cpu_supports("avx512f")) fn = attn_task_avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) fn = attn_task_avx2;
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
