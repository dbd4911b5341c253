/* The paged KV cache of a model (KvCache in kernels/backend.h): its size per token, the
 * element type a --kv-cache-dtype asks for, and its two backend buffers. */
#ifndef PISTON_KV_CACHE_H
#define PISTON_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

struct ModelConfig;

/* Bytes of KV cache per token across all layers (K and V of dtype DT_F32, DT_F16 or DT_BF16). */
int64_t kv_cache_bytes_per_token(const struct ModelConfig *c, DType dtype);
/* The cache element type for a --kv-cache-dtype request: KV_CACHE_DTYPE_AUTO picks f16 with
 * the q8 matmuls (llama.cpp's default cache type) and f32 with the exact f32 path. */
#define KV_CACHE_DTYPE_AUTO (-1)
DType kv_cache_dtype_resolve(int requested, MatmulPrecision precision);
/* num_blocks blocks of block_size tokens, per layer, of dtype DT_F32, DT_F16 or DT_BF16, in two
 * backend buffers (K and V of every layer). 0, or negative with err set. */
int kv_cache_init(KvCache *kv, Backend *be, const struct ModelConfig *c, int64_t num_blocks, int block_size,
                  DType dtype, char *err, size_t errlen);
void kv_cache_free(KvCache *kv, Backend *be);

#endif
