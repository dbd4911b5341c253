/* Paged attention on the GPU over the flat batch (AttnBatch in kernels/backend.h), grouped
 * query heads, an f16, bf16 or f32 cache, head dims 64, 128 and 256. Two kernels and a reduction:
 *
 *  decode  (rows of sequences with one new token): a block per (row, kv head, split) takes
 *          the row's query heads that share the kv head (up to ATTN_GMAX of them) and a slice
 *          of the context; its warps stride over the slice's positions, each K/V row read
 *          once for all those heads, with an online softmax; the warps' partial results are
 *          merged in shared memory. Long contexts are split (split-K) when the step is pure
 *          decode, and attn_reduce_kernel merges the splits' (max, sum, acc) partials.
 *  prefill (rows of sequences with several new tokens: whole prompts, or chunks over their
 *          cached prefix): a block per tile of a sequence's query rows and kv head loads K/V
 *          tiles into shared memory once for all the tile's (row, head) pairs; each warp
 *          owns up to four pairs, causal over positions [0, its row's position].
 *
 * Element d of a head is held by lane d % 32 (register d / 32): global loads of a K/V row are
 * coalesced and shared-memory reads are free of bank conflicts. Scores, softmax and sums are
 * f32; a 16-bit cache is converted as it is loaded. */
#include <math.h>

#include "kernels/cuda/attention_kernels.cuh"
#include "kernels/cuda/cuda_internal.cuh"

/* decode split-K: a split per ATTN_SPLIT_POS positions of the longest context, at most this many */
#define ATTN_SPLIT_POS 256
#define ATTN_MAX_SPLITS 16

template <int HD, typename KV> struct AttnLaunch {
    static int run(Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b, int n_heads,
                   int n_kv, float scale, float *out) {
        CudaState *st = cuda_state(be);
        int group = n_heads / n_kv, gmax = group < ATTN_GMAX ? group : ATTN_GMAX;
        int hchunks = (group + ATTN_GMAX - 1) / ATTN_GMAX;
        const KV *kc = (const KV *)kv->k[layer], *vc = (const KV *)kv->v[layer];
        int pure_decode = b->max_query_len == 1, splits = 1;
        if (pure_decode) {
            splits = (b->max_seq_len + ATTN_SPLIT_POS - 1) / ATTN_SPLIT_POS;
            splits = splits > ATTN_MAX_SPLITS ? ATTN_MAX_SPLITS : splits;
            size_t per = (size_t)b->T * n_heads * (HD + 2) * sizeof(float);
            if ((size_t)splits * per > st->attn_ws_bytes) splits = (int)(st->attn_ws_bytes / per);
            if (splits < 2) splits = 1;
        }
        CUDA_CHECK(be, piston_launch(attn_decode_kernel<HD, KV>, dim3(b->T, n_kv * hchunks, splits),
                                     dim3(32 * ATTN_WARPS), 0, st->stream, q, kc, vc, kv->kv_dim, b->query_start,
                                     b->seq_lens, b->block_tables, b->max_blocks_per_seq, kv->block_size, b->B, n_heads,
                                     group, hchunks, scale, splits, out, st->attn_ws, pure_decode));
        if (splits > 1)
            CUDA_CHECK(be, piston_launch(attn_reduce_kernel<HD>, dim3(b->T, n_heads), dim3(HD), 0, st->stream,
                                         (const float *)st->attn_ws, n_heads, splits, out));
        if (!pure_decode) {
            int bq = ATTN_ITEMS / gmax > 0 ? ATTN_ITEMS / gmax : 1;
            unsigned tiles = (unsigned)((b->T + bq - 1) / bq + b->B); /* >= the tiles of the q > 1 sequences */
            CUDA_CHECK(be, piston_launch(attn_prefill_kernel<HD, KV>, dim3(tiles, n_kv * hchunks),
                                         dim3(32 * ATTN_WARPS), 0, st->stream, q, kc, vc, kv->kv_dim, b->query_start,
                                         b->seq_lens, b->block_tables, b->max_blocks_per_seq, kv->block_size, b->B,
                                         n_heads, group, hchunks, bq, scale, out));
        }
        return 0;
    }
};

template <int HD>
static int by_cache(Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b, int n_heads,
                    int n_kv, float scale, float *out) {
    if (kv->dtype == DT_F16) return AttnLaunch<HD, __half>::run(be, kv, layer, q, b, n_heads, n_kv, scale, out);
    if (kv->dtype == DT_BF16) return AttnLaunch<HD, __nv_bfloat16>::run(be, kv, layer, q, b, n_heads, n_kv, scale, out);
    if (kv->dtype == DT_F32) return AttnLaunch<HD, float>::run(be, kv, layer, q, b, n_heads, n_kv, scale, out);
    return backend_fail(be, -EINVAL, "attention: cache type %s is not supported (f16, bf16, f32)",
                        dtype_name(kv->dtype));
}

int cuda_attention(Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b, int n_heads,
                   int n_kv_heads, int head_dim, float scale, float *out) {
    if (!(n_kv_heads > 0 && n_heads % n_kv_heads == 0 && n_kv_heads * head_dim == kv->kv_dim))
        return backend_fail(be, -EINVAL, "attention: %d heads over %d kv heads of %d does not match the cache (%d)",
                            n_heads, n_kv_heads, head_dim, kv->kv_dim);
    if (b->T <= 0) return 0;
    switch (head_dim) {
    case 64: return by_cache<64>(be, kv, layer, q, b, n_heads, n_kv_heads, scale, out);
    case 128: return by_cache<128>(be, kv, layer, q, b, n_heads, n_kv_heads, scale, out);
    case 256: return by_cache<256>(be, kv, layer, q, b, n_heads, n_kv_heads, scale, out);
    default:
        return backend_fail(be, -EINVAL, "attention: head_dim %d has no CUDA kernel (64, 128, 256)", head_dim);
    }
}
