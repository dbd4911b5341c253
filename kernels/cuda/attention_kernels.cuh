/* The attention kernels of attention.cu (see there for the plan). Element d of a head lives
 * in lane d % 32, register d / 32 (EPL = HD / 32 registers). */
#ifndef PISTON_CUDA_ATTENTION_KERNELS_CUH
#define PISTON_CUDA_ATTENTION_KERNELS_CUH

#include "kernels/cuda/cuda_device.cuh"

#define ATTN_WARPS 4
#define ATTN_GMAX 8   /* query heads of one kv head per block */
#define ATTN_ITEMS 16 /* (row, head) pairs per prefill block: 4 per warp */

/* the sequence owning query row t: the last b with query_start[b] <= t */
__device__ __forceinline__ int attn_seq_of(const int32_t *query_start, int B, int t) {
    int lo = 0, hi = B - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (query_start[mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* one step of the online softmax: fold score s into (m, l) and return the weights of the old
 * accumulator (*c) and of the new row (return value) */
__device__ __forceinline__ float attn_fold(float s, float *m, float *l, float *c) {
    float mn = fmaxf(*m, s);
    *c = expf(*m - mn); /* exp(-inf) = 0 on the first position */
    float p = expf(s - mn);
    *l = *l * *c + p;
    *m = mn;
    return p;
}

template <int HD, typename KV>
__global__ void __launch_bounds__(32 * ATTN_WARPS)
    attn_decode_kernel(const float *q, const KV *kc, const KV *vc, int kv_dim, const int32_t *query_start,
                       const int32_t *seq_lens, const int32_t *block_tables, int max_blocks, int bs, int B,
                       int n_heads, int group, int hchunks, float scale, int splits, float *out, float *part,
                       int all_rows) {
    constexpr int EPL = HD / 32;
    __shared__ float qsh[ATTN_GMAX][HD];
    __shared__ float red_m[ATTN_WARPS][ATTN_GMAX], red_l[ATTN_WARPS][ATTN_GMAX];
    __shared__ float red_acc[ATTN_WARPS][ATTN_GMAX][HD];
    const int t = blockIdx.x, kvh = blockIdx.y / hchunks, h0 = kvh * group + (blockIdx.y % hchunks) * ATTN_GMAX;
    const int gh = group - (h0 - kvh * group) < ATTN_GMAX ? group - (h0 - kvh * group) : ATTN_GMAX;
    const int b = attn_seq_of(query_start, B, t), q_len = query_start[b + 1] - query_start[b];
    if (!all_rows && q_len != 1) return; /* the prefill kernel's row */
    const int n_ctx = seq_lens[b] - q_len + (t - query_start[b]) + 1;
    const int per = (n_ctx + splits - 1) / splits, j0 = blockIdx.z * per;
    const int j1 = j0 + per < n_ctx ? j0 + per : n_ctx;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int i = threadIdx.x; i < gh * HD; i += blockDim.x)
        qsh[i / HD][i % HD] = q[((int64_t)t * n_heads + h0 + i / HD) * HD + i % HD] * scale;
    __syncthreads();
    float m[ATTN_GMAX], l[ATTN_GMAX], acc[ATTN_GMAX][EPL];
    for (int g = 0; g < ATTN_GMAX; g++) {
        m[g] = -INFINITY, l[g] = 0.0f;
        for (int e = 0; e < EPL; e++) acc[g][e] = 0.0f;
    }
    const int32_t *table = block_tables + (int64_t)b * max_blocks;
    for (int j = j0 + warp; j < j1; j += ATTN_WARPS) {
        int64_t slot = (int64_t)table[j / bs] * bs + j % bs;
        const KV *kr = kc + slot * kv_dim + kvh * HD, *vr = vc + slot * kv_dim + kvh * HD;
        float kk[EPL], vv[EPL];
        for (int e = 0; e < EPL; e++) kk[e] = load_f32(kr + 32 * e + lane), vv[e] = load_f32(vr + 32 * e + lane);
        for (int g = 0; g < gh; g++) {
            float s = 0.0f;
            for (int e = 0; e < EPL; e++) s += qsh[g][32 * e + lane] * kk[e];
            float c, p = attn_fold(warp_sum(s), &m[g], &l[g], &c);
            for (int e = 0; e < EPL; e++) acc[g][e] = acc[g][e] * c + p * vv[e];
        }
    }
    for (int g = 0; g < gh; g++) {
        if (lane == 0) red_m[warp][g] = m[g], red_l[warp][g] = l[g];
        for (int e = 0; e < EPL; e++) red_acc[warp][g][32 * e + lane] = acc[g][e];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < gh * HD; i += blockDim.x) {
        int g = i / HD, d = i % HD;
        float M = -INFINITY, L = 0.0f, A = 0.0f;
        for (int w = 0; w < ATTN_WARPS; w++) M = fmaxf(M, red_m[w][g]);
        for (int w = 0; w < ATTN_WARPS && M > -INFINITY; w++) {
            float f = red_m[w][g] > -INFINITY ? expf(red_m[w][g] - M) : 0.0f;
            L += red_l[w][g] * f, A += red_acc[w][g][d] * f;
        }
        int64_t row = (int64_t)t * n_heads + h0 + g;
        if (splits == 1) {
            out[row * HD + d] = A / L;
        } else {
            float *pp = part + (row * splits + blockIdx.z) * (HD + 2);
            pp[d] = A;
            if (d == 0) pp[HD] = M, pp[HD + 1] = L;
        }
    }
}

/* merge the splits' partials of (row, head) into out; block of HD threads */
template <int HD>
__global__ void attn_reduce_kernel(const float *part, int n_heads, int splits, float *out) {
    int64_t row = (int64_t)blockIdx.x * n_heads + blockIdx.y;
    const float *p = part + row * splits * (HD + 2);
    int d = threadIdx.x;
    float M = -INFINITY, L = 0.0f, A = 0.0f;
    for (int s = 0; s < splits; s++) M = fmaxf(M, p[s * (HD + 2) + HD]);
    for (int s = 0; s < splits; s++) {
        float ms = p[s * (HD + 2) + HD];
        if (ms == -INFINITY) continue; /* an empty split (a context shorter than the splits) */
        float f = expf(ms - M);
        L += p[s * (HD + 2) + HD + 1] * f, A += p[s * (HD + 2) + d] * f;
    }
    out[row * HD + d] = A / L;
}

/* grid (tiles, n_kv * hchunks): tile k of the sequences with q_len > 1, bq rows each */
template <int HD, typename KV>
__global__ void __launch_bounds__(32 * ATTN_WARPS)
    attn_prefill_kernel(const float *q, const KV *kc, const KV *vc, int kv_dim, const int32_t *query_start,
                        const int32_t *seq_lens, const int32_t *block_tables, int max_blocks, int bs, int B,
                        int n_heads, int group, int hchunks, int bq, float scale, float *out) {
    constexpr int EPL = HD / 32, BK = 4096 / HD; /* K and V tiles: 32 KiB of f32 together */
    constexpr int PER_WARP = ATTN_ITEMS / ATTN_WARPS;
    __shared__ float qsh[ATTN_ITEMS][HD];
    __shared__ float ksh[BK][HD], vsh[BK][HD];
    const int kvh = blockIdx.y / hchunks, h0 = kvh * group + (blockIdx.y % hchunks) * ATTN_GMAX;
    const int gh = group - (h0 - kvh * group) < ATTN_GMAX ? group - (h0 - kvh * group) : ATTN_GMAX;
    /* which sequence and tile: count the tiles of the q_len > 1 sequences */
    int b = -1, r0 = 0, q_len = 0;
    for (int s = 0, seen = 0; s < B && b < 0; s++) {
        int ql = query_start[s + 1] - query_start[s];
        int nt = ql > 1 ? (ql + bq - 1) / bq : 0;
        if ((int)blockIdx.x < seen + nt) b = s, r0 = ((int)blockIdx.x - seen) * bq, q_len = ql;
        seen += nt;
    }
    if (b < 0) return; /* the grid is an upper bound */
    const int nrows = q_len - r0 < bq ? q_len - r0 : bq, items = nrows * gh;
    const int first_pos = seq_lens[b] - q_len + r0, last_pos = first_pos + nrows - 1;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int i = threadIdx.x; i < items * HD; i += blockDim.x) {
        int it = i / HD, d = i % HD, t = query_start[b] + r0 + it / gh;
        qsh[it][d] = q[((int64_t)t * n_heads + h0 + it % gh) * HD + d] * scale;
    }
    float m[PER_WARP], l[PER_WARP], acc[PER_WARP][EPL];
    for (int k = 0; k < PER_WARP; k++) {
        m[k] = -INFINITY, l[k] = 0.0f;
        for (int e = 0; e < EPL; e++) acc[k][e] = 0.0f;
    }
    const int32_t *table = block_tables + (int64_t)b * max_blocks;
    for (int j0 = 0; j0 <= last_pos; j0 += BK) {
        __syncthreads(); /* the previous tile is consumed (and q is loaded) */
        for (int i = threadIdx.x; i < BK * HD; i += blockDim.x) {
            int jj = i / HD, d = i % HD, j = j0 + jj;
            if (j > last_pos) break; /* rows of the tile past every query's position stay unread */
            int64_t slot = (int64_t)table[j / bs] * bs + j % bs;
            ksh[jj][d] = load_f32(kc + slot * kv_dim + kvh * HD + d);
            vsh[jj][d] = load_f32(vc + slot * kv_dim + kvh * HD + d);
        }
        __syncthreads();
        for (int k = 0; k < PER_WARP; k++) {
            int it = warp + ATTN_WARPS * k;
            if (it >= items) break;
            int pos = first_pos + it / gh, jn = pos - j0 + 1 < BK ? pos - j0 + 1 : BK; /* causal */
            for (int jj = 0; jj < jn; jj++) {
                float s = 0.0f;
                for (int e = 0; e < EPL; e++) s += qsh[it][32 * e + lane] * ksh[jj][32 * e + lane];
                float c, p = attn_fold(warp_sum(s), &m[k], &l[k], &c);
                for (int e = 0; e < EPL; e++) acc[k][e] = acc[k][e] * c + p * vsh[jj][32 * e + lane];
            }
        }
    }
    for (int k = 0; k < PER_WARP; k++) {
        int it = warp + ATTN_WARPS * k;
        if (it >= items) break;
        int64_t t = query_start[b] + r0 + it / gh, row = t * n_heads + h0 + it % gh;
        for (int e = 0; e < EPL; e++) out[row * HD + 32 * e + lane] = acc[k][e] / l[k];
    }
}

#endif
