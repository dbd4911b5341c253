/* KV-cache data movement on the GPU: the step's K/V rows into their slots (f16, bf16, f32)
 * and whole-block copies for forks. A slot the scheduler could not have made (negative is
 * padding; past the cache is a bug above) is skipped rather than trapping the context: the
 * CPU backend, the reference, reports it. */
#include "kernels/cuda/cuda_device.cuh"
#include "kernels/cuda/cuda_internal.cuh"

#define KV_THREADS 128

template <typename KV>
__global__ void kv_write_kernel(KV *kc, KV *vc, const float *k, const float *v, const int64_t *slots, int kv_dim,
                                int64_t n_slots) {
    int t = blockIdx.x;
    int64_t s = slots[t];
    if (s < 0 || s >= n_slots) return;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        store_f32(kc + s * kv_dim + i, k[(int64_t)t * kv_dim + i]);
        store_f32(vc + s * kv_dim + i, v[(int64_t)t * kv_dim + i]);
    }
}

int cuda_kv_write(Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b) {
    if (b->T <= 0) return 0;
    cudaStream_t s = cuda_state(be)->stream;
    int64_t n_slots = kv->num_blocks * kv->block_size;
    if (kv->dtype == DT_F16)
        CUDA_CHECK(be, piston_launch(kv_write_kernel<__half>, dim3(b->T), dim3(KV_THREADS), 0, s, (__half *)kv->k[layer],
                                     (__half *)kv->v[layer], k, v, b->slot_mapping, kv->kv_dim, n_slots));
    else if (kv->dtype == DT_BF16)
        CUDA_CHECK(be, piston_launch(kv_write_kernel<__nv_bfloat16>, dim3(b->T), dim3(KV_THREADS), 0, s,
                                     (__nv_bfloat16 *)kv->k[layer], (__nv_bfloat16 *)kv->v[layer], k, v,
                                     b->slot_mapping, kv->kv_dim, n_slots));
    else if (kv->dtype == DT_F32)
        CUDA_CHECK(be, piston_launch(kv_write_kernel<float>, dim3(b->T), dim3(KV_THREADS), 0, s, (float *)kv->k[layer],
                                     (float *)kv->v[layer], k, v, b->slot_mapping, kv->kv_dim, n_slots));
    else
        return backend_fail(be, -EINVAL, "kv_write: cache type %s is not supported", dtype_name(kv->dtype));
    return 0;
}

/* grid (n, n_layers, 2): block i of layer l of K (z 0) or V (z 1), in 4-byte words (a block
 * is block_size x kv_dim elements of 2 or 4 bytes; kv_dim is even, so words divide it) */
__global__ void kv_copy_kernel(char *kbuf, char *vbuf, const int32_t *src, const int32_t *dst, int64_t layer_bytes,
                               int64_t block_words, int32_t num_blocks) {
    int i = blockIdx.x, l = blockIdx.y;
    int32_t from = src[i], to = dst[i];
    if (from < 0 || from >= num_blocks || to < 0 || to >= num_blocks) return;
    char *base = (blockIdx.z ? vbuf : kbuf) + l * layer_bytes;
    const uint32_t *a = (const uint32_t *)(base + from * block_words * 4);
    uint32_t *b = (uint32_t *)(base + to * block_words * 4);
    for (int64_t w = threadIdx.x; w < block_words; w += blockDim.x) b[w] = a[w];
}

int cuda_kv_copy_blocks(Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n) {
    if (n <= 0) return 0;
    int64_t es = kv->dtype == DT_F32 ? 4 : 2, block_bytes = (int64_t)kv->block_size * kv->kv_dim * es;
    if (block_bytes % 4) return backend_fail(be, -EINVAL, "kv_copy_blocks: blocks of %lld bytes", (long long)block_bytes);
    CUDA_CHECK(be, piston_launch(kv_copy_kernel, dim3(n, kv->n_layers, 2), dim3(256), 0, cuda_state(be)->stream,
                                 (char *)kv->k_buf, (char *)kv->v_buf, src, dst, block_bytes * kv->num_blocks,
                                 block_bytes / 4, (int32_t)kv->num_blocks));
    return 0;
}
