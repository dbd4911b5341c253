/* KV-cache data movement of the CPU backend: writing the step's new K/V rows into their
 * slots of the paged cache (converted to f16 when the cache is f16) and copying whole KV
 * blocks (forks of n > 1 samples each get their own copy of a shared partial block). Tiny
 * next to the matmuls. */
#include <errno.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KV_X86 1
#else
#define KV_X86 0
#endif

static size_t kv_elem_bytes(const KvCache *kv) { return kv->dtype == DT_F32 ? sizeof(float) : 2; }

/* f32 to f16 rounding to nearest even; the F16C path gives the same bits as f32_to_fp16 */
static void kv_row_to_f16_scalar(uint16_t *dst, const float *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = f32_to_fp16(src[i]);
}

#if KV_X86
__attribute__((target("avx,f16c"))) static void kv_row_to_f16_f16c(uint16_t *dst, const float *src, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) dst[i] = f32_to_fp16(src[i]);
}
#endif

int cpu_kv_write(Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b) {
    int64_t n_slots = kv->num_blocks * kv->block_size, kd = kv->kv_dim;
    void (*to_f16)(uint16_t *, const float *, int) = kv_row_to_f16_scalar;
#if KV_X86
    if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c")) to_f16 = kv_row_to_f16_f16c;
#endif
    for (int t = 0; t < b->T; t++) {
        int64_t s = b->slot_mapping[t];
        if (s < 0) continue; /* a padding token, as vLLM marks them: nothing to keep */
        if (s >= n_slots)
            return backend_fail(be, -EINVAL, "kv_write: slot %lld is outside the cache (%lld slots)", (long long)s,
                                (long long)n_slots);
        if (kv->dtype == DT_F16) {
            to_f16((uint16_t *)kv->k[layer] + s * kd, k + t * kd, (int)kd);
            to_f16((uint16_t *)kv->v[layer] + s * kd, v + t * kd, (int)kd);
        } else if (kv->dtype == DT_BF16) {
            uint16_t *kr = (uint16_t *)kv->k[layer] + s * kd, *vr = (uint16_t *)kv->v[layer] + s * kd;
            for (int64_t i = 0; i < kd; i++) kr[i] = f32_to_bf16(k[t * kd + i]), vr[i] = f32_to_bf16(v[t * kd + i]);
        } else {
            memcpy((float *)kv->k[layer] + s * kd, k + t * kd, (size_t)kd * sizeof(float));
            memcpy((float *)kv->v[layer] + s * kd, v + t * kd, (size_t)kd * sizeof(float));
        }
    }
    return 0;
}

int cpu_kv_copy_blocks(Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n) {
    const size_t block_bytes = (size_t)kv->block_size * (size_t)kv->kv_dim * kv_elem_bytes(kv);
    for (int i = 0; i < n; i++)
        if (src[i] < 0 || src[i] >= kv->num_blocks || dst[i] < 0 || dst[i] >= kv->num_blocks)
            return backend_fail(be, -EINVAL, "kv_copy_blocks: block %d -> %d is outside the cache (%lld blocks)",
                                src[i], dst[i], (long long)kv->num_blocks);
    for (int l = 0; l < kv->n_layers; l++)
        for (int i = 0; i < n; i++) {
            char *k = kv->k[l], *v = kv->v[l];
            memcpy(k + (size_t)dst[i] * block_bytes, k + (size_t)src[i] * block_bytes, block_bytes);
            memcpy(v + (size_t)dst[i] * block_bytes, v + (size_t)src[i] * block_bytes, block_bytes);
        }
    return 0;
}
