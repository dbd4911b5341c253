/* The backend interface: the tensor element types Piston reads from model files, the
 * paged KV cache layout, and the table of ops that models/ calls to run a forward pass.
 * models/ never calls a backend's functions directly, only through `Backend.ops`, so the
 * same model code runs on kernels/cpu/ (the reference, and what CI tests) and kernels/cuda/.
 *
 * Conventions: activations are f32, row-major, one row per token. A weight matrix W has
 * ne[0] = n_in (the contiguous row length, as GGUF stores it) and ne[1] = n_out rows, and
 * matmul computes y[t, o] = sum_i W[o, i] * x[t, i]. All pointers are the backend's memory
 * (host memory for the CPU backend). */
#ifndef PISTON_BACKEND_H
#define PISTON_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Element types, numbered as GGML/GGUF number them so that a GGUF tensor type id is a DType. */
typedef enum DType {
    DT_F32 = 0,
    DT_F16 = 1,
    DT_Q4_0 = 2,
    DT_Q4_1 = 3,
    DT_Q5_0 = 6,
    DT_Q5_1 = 7,
    DT_Q8_0 = 8,
    DT_Q8_1 = 9,
    DT_Q2_K = 10,
    DT_Q3_K = 11,
    DT_Q4_K = 12,
    DT_Q5_K = 13,
    DT_Q6_K = 14,
    DT_Q8_K = 15,
    DT_BF16 = 30,
    DT_COUNT = 31
} DType;

/* Block geometry: a row of n elements is n / dtype_block_elems blocks of dtype_block_bytes.
 * Both return 0 for types Piston does not support; dtype_supported says so directly. */
int dtype_supported(int type);
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
int64_t dtype_row_bytes(DType t, int64_t n); /* -1 when n is not a whole number of blocks */
const char *dtype_name(int type);            /* "Q4_1", or "unknown" */
const char *dtype_supported_list(void);      /* "F32, F16, BF16, Q4_0, ..." for error messages */

/* Dequantize one row of n elements (n a multiple of the block size) to f32. */
void dtype_dequantize_row(DType t, const void *src, float *dst, int64_t n);

#define TENSOR_MAX_DIMS 4
typedef struct Tensor {
    DType type;
    int ndim;
    int64_t ne[TENSOR_MAX_DIMS]; /* ne[0] is the contiguous dimension */
    const void *data;
    const char *name;
} Tensor;

/* Paged KV cache of one model: per layer, K and V are [num_blocks * block_size, kv_dim] of
 * dtype (DT_F32, or DT_F16 to halve the bytes that decode attention streams from memory), and
 * a slot s = block * block_size + offset holds one token's K (or V) row of kv_dim elements.
 * Attention converts f16 rows to f32 as it reads them and computes in f32 either way.
 * int64 because num_blocks * block_size * kv_dim overflows int32 at realistic sizes. */
typedef struct KvCache {
    int n_layers;
    int64_t num_blocks;
    int block_size;
    int kv_dim;   /* n_kv_heads * head_dim */
    void **k;     /* [n_layers] -> [num_blocks * block_size, kv_dim] of dtype */
    void **v;     /* [n_layers] -> [num_blocks * block_size, kv_dim] of dtype */
    DType dtype;  /* DT_F32 or DT_F16 */
} KvCache;

/* One step's flat batch as attention sees it (vLLM v1 style): T new tokens from B sequences.
 * Sequence b owns query rows [query_start[b], query_start[b+1]) and has seq_lens[b] tokens of
 * context in total, the new ones last; so new token i of b sits at position
 * seq_lens[b] - q_len_b + i and attends causally to positions [0, that position]. Its K/V
 * live in the blocks block_tables[b * max_blocks_per_seq + j], position p in block p / bs. */
typedef struct AttnBatch {
    int T;
    int B;
    const int32_t *query_start;  /* [B + 1] */
    const int32_t *seq_lens;     /* [B] */
    const int32_t *block_tables; /* [B, max_blocks_per_seq] */
    int max_blocks_per_seq;
    const int64_t *slot_mapping; /* [T] cache slot each new token's K/V is written to */
} AttnBatch;

enum RopeStyle {
    ROPE_NORMAL = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): GGUF llama (weights permuted by the converter) */
    ROPE_NEOX = 1    /* rotate halves (x[i], x[i + d/2]): qwen2 and HF layout */
};

struct Backend;
typedef struct BackendOps {
    /* out[t, :] = dequantized row ids[t] of table [n_rows, dim] */
    void (*embed)(struct Backend *be, const Tensor *table, const int32_t *ids, int T, float *out);
    /* out[t, :] = x[t, :] / rms(x[t, :]) * w; out may equal x */
    void (*rmsnorm)(struct Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps);
    /* y[T, n_out] = x[T, n_in] @ W^T. Reads each weight block once for the whole batch. */
    void (*matmul)(struct Backend *be, const Tensor *W, const float *x, float *y, int T);
    /* x[t, :] += bias[:] (bias [dim] f32) */
    void (*add_bias)(struct Backend *be, float *x, const float *bias, int T, int dim);
    /* x[i] += y[i] */
    void (*add)(struct Backend *be, float *x, const float *y, int64_t n);
    /* x [T, n_heads, head_dim], rotated in place at positions pos[t]; the first rot_dim dims */
    void (*rope)(struct Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim,
                 int rot_dim, float theta, int style);
    /* gate[i] = silu(gate[i]) * up[i] */
    void (*silu_mul)(struct Backend *be, float *gate, const float *up, int64_t n);
    /* write k, v [T, kv_dim] into the cache of `layer` at b->slot_mapping */
    void (*kv_write)(struct Backend *be, KvCache *kv, int layer, const float *k, const float *v,
                     const AttnBatch *b);
    /* out [T, n_heads * head_dim] = softmax(q k^T * scale) v over the paged cache of `layer`,
     * grouped-query: head h reads kv head h / (n_heads / n_kv_heads). */
    void (*attention)(struct Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b,
                      int n_heads, int n_kv_heads, int head_dim, float scale, float *out);
    /* For every layer, copy the K/V slots of block src[i] to block dst[i] (n > 1 forks give
     * each sample its own copy of the prompt's partial last block). */
    void (*kv_copy_blocks)(struct Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n);
    /* out[i, :] = x[rows[i], :] for i in [0, n); x [*, dim], out [n, dim] */
    void (*gather_rows)(struct Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out);
} BackendOps;

typedef enum MatmulPrecision {
    /* Activations are quantized to 8-bit blocks and multiplied in integers, as llama.cpp does:
     * the fast path, and what makes Piston's logits track llama.cpp's. */
    MATMUL_Q8 = 0,
    /* Activations stay f32, weights are dequantized block by block on the fly: the exact path
     * that the NumPy reference checks to ~1e-6. */
    MATMUL_F32 = 1
} MatmulPrecision;

typedef struct Backend {
    const BackendOps *ops;
    const char *name;
    int n_threads;
    MatmulPrecision precision;
    void *impl; /* the backend's own state (thread pool, scratch) */
} Backend;

/* The CPU backend. n_threads <= 0 means one per online core. Returns NULL on failure. */
Backend *cpu_backend_create(int n_threads, MatmulPrecision precision);
void cpu_backend_destroy(Backend *be);

#endif
