/* The CPU backend's internals shared between its files (not a public header: models/ uses
 * kernels/backend.h only). */
#ifndef PISTON_CPU_BACKEND_H
#define PISTON_CPU_BACKEND_H

#include "kernels/backend.h"
#include "kernels/cpu/threadpool.h"

typedef struct CpuState {
    ThreadPool *pool;
    /* scratch for quantized activations, grown on demand (matmul) */
    void *scratch;
    size_t scratch_bytes;
    /* matmul kernels: 0 = the best this CPU supports; tests force others (MM_ISA_* in matmul.h) */
    int matmul_isa;
    /* per-thread scratch for attention scores, grown on demand */
    float **attn_scratch;
    size_t attn_scratch_len;
} CpuState;

static inline CpuState *cpu_state(struct Backend *be) { return (CpuState *)be->impl; }

/* Implemented in matmul.c / ops.c / attention.c / kv_copy.c; cpu_backend.c puts them in the op table. */
void cpu_matmul(struct Backend *be, const Tensor *W, const float *x, float *y, int T);
void cpu_embed(struct Backend *be, const Tensor *table, const int32_t *ids, int T, float *out);
void cpu_rmsnorm(struct Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps);
void cpu_add_bias(struct Backend *be, float *x, const float *bias, int T, int dim);
void cpu_add(struct Backend *be, float *x, const float *y, int64_t n);
void cpu_rope(struct Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim,
              float theta, int style);
void cpu_silu_mul(struct Backend *be, float *gate, const float *up, int64_t n);
void cpu_kv_write(struct Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b);
void cpu_attention(struct Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b,
                   int n_heads, int n_kv_heads, int head_dim, float scale, float *out);
void cpu_kv_copy_blocks(struct Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n);
void cpu_gather_rows(struct Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out);

#endif
