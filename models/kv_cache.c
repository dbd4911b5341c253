/* KV cache allocation (see kv_cache.h). One buffer for the K of every layer and one for the
 * V, the layers at fixed strides: two allocations however deep the model, and a device
 * backend can register or copy the whole cache at once. */
#include "models/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "models/model.h"

int64_t kv_cache_bytes_per_token(const ModelConfig *c, DType dtype) {
    return (int64_t)2 * c->n_layers * c->n_kv_heads * c->head_dim * (dtype == DT_F32 ? (int64_t)sizeof(float) : 2);
}

DType kv_cache_dtype_resolve(int requested, MatmulPrecision precision) {
    if (requested == DT_F32 || requested == DT_F16 || requested == DT_BF16) return (DType)requested;
    return precision == MATMUL_F32 ? DT_F32 : DT_F16;
}

int kv_cache_init(KvCache *kv, Backend *be, const ModelConfig *c, int64_t num_blocks, int block_size, DType dtype,
                  char *err, size_t errlen) {
    memset(kv, 0, sizeof *kv);
    if (dtype != DT_F32 && dtype != DT_F16 && dtype != DT_BF16)
        return err_set(err, errlen, -EINVAL, "KV cache type %s is not supported (f16, bf16, f32)", dtype_name(dtype));
    if (num_blocks <= 0 || block_size <= 0)
        return err_set(err, errlen, -EINVAL, "KV cache of %lld blocks of %d tokens", (long long)num_blocks,
                       block_size);
    kv->dtype = dtype;
    kv->n_layers = c->n_layers;
    kv->num_blocks = num_blocks;
    kv->block_size = block_size;
    kv->kv_dim = c->n_kv_heads * c->head_dim;
    /* int64: blocks x block size x kv_dim x layers overflows 32 bits at realistic sizes */
    int64_t layer_bytes = num_blocks * block_size * (int64_t)kv->kv_dim * (dtype == DT_F32 ? 4 : 2);
    kv->k = calloc((size_t)c->n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)c->n_layers, sizeof *kv->v);
    if (!kv->k || !kv->v) {
        kv_cache_free(kv, be);
        return err_set(err, errlen, -ENOMEM, "out of memory");
    }
    /* the CPU backend maps fresh pages: slots cost memory only once they are written */
    kv->k_buf = backend_alloc(be, (size_t)(layer_bytes * c->n_layers), err, errlen);
    kv->v_buf = kv->k_buf ? backend_alloc(be, (size_t)(layer_bytes * c->n_layers), err, errlen) : NULL;
    if (!kv->v_buf) {
        int64_t total = 2 * layer_bytes * c->n_layers;
        kv_cache_free(kv, be);
        return err_set(err, errlen, -ENOMEM, "out of memory allocating the KV cache (%.2f GiB)",
                       total / (1024.0 * 1024.0 * 1024.0));
    }
    for (int l = 0; l < c->n_layers; l++) {
        kv->k[l] = (char *)kv->k_buf + l * layer_bytes;
        kv->v[l] = (char *)kv->v_buf + l * layer_bytes;
    }
    return 0;
}

void kv_cache_free(KvCache *kv, Backend *be) {
    if (be) {
        backend_free(be, kv->k_buf);
        backend_free(be, kv->v_buf);
    }
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}
