/* The CPU backend's internals shared between its files (not a public header: models/ and
 * engine/ use kernels/backend.h only). */
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
    /* attention tasks likewise: 0 the best, 1 scalar, 2 AVX2 (tests) */
    int attn_isa;
} CpuState;

static inline CpuState *cpu_state(struct Backend *be) { return (CpuState *)be->impl; }

/* cpu_backend.c: what backend_create("cpu") calls. */
int cpu_backend_create(const BackendOptions *o, Backend **out, char *err, size_t errlen);

/* The ops, one family per file (embed.c, norm.c, elementwise.c, rope.c, kv.c, attention.c,
 * matmul.c, fill.c), named as their CUDA twins in kernels/cuda/; cpu_backend.c puts them in the table. */
int cpu_embed(Backend *be, const Tensor *table, const int32_t *ids, int T, float *out);
int cpu_gather_last(Backend *be, const float *x, const int32_t *query_start, int B, int dim, float *out);
int cpu_gather_rows(Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out);
int cpu_rmsnorm(Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps);
int cpu_add_rmsnorm(Backend *be, float *x, const float *y, const float *w, float *out, int T, int dim, float eps);
int cpu_matmul(Backend *be, const Tensor *W, const float *x, float *y, int T);
int cpu_matmul_n(Backend *be, int n, const Tensor *const *W, const float *x, float *const *y, int T);
int cpu_add_bias(Backend *be, float *x, const float *bias, int T, int dim);
int cpu_add(Backend *be, float *x, const float *y, int64_t n);
int cpu_rope(Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim, float theta,
             const float *freq_factors, int style);
int cpu_silu_mul(Backend *be, float *gate, const float *up, int64_t n);
int cpu_kv_write(Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b);
int cpu_attention(Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b, int n_heads,
                  int n_kv_heads, int head_dim, float scale, float *out);
int cpu_kv_copy_blocks(Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n);
int cpu_fill_random(Backend *be, void *dst, int64_t n, DType dt, uint64_t seed, float offset, float scale);

#endif
