/* Data movement ops of the CPU backend: copying whole KV blocks (forks of n > 1 samples
 * each get their own copy of a shared partial block) and gathering rows (the last token of
 * each sequence, before the output head). Plain memcpy: both are tiny next to the matmuls. */
#include <string.h>

#include "kernels/cpu/cpu_backend.h"

void cpu_kv_copy_blocks(struct Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n) {
    const size_t block_floats = (size_t)kv->block_size * (size_t)kv->kv_dim;
    for (int l = 0; l < kv->n_layers; l++)
        for (int i = 0; i < n; i++) {
            memcpy(kv->k[l] + (size_t)dst[i] * block_floats, kv->k[l] + (size_t)src[i] * block_floats,
                   block_floats * sizeof(float));
            memcpy(kv->v[l] + (size_t)dst[i] * block_floats, kv->v[l] + (size_t)src[i] * block_floats,
                   block_floats * sizeof(float));
        }
}

void cpu_gather_rows(struct Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out) {
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * dim, x + (size_t)rows[i] * dim, (size_t)dim * sizeof(float));
}
