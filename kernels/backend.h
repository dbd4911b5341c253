/* The backend interface: a device that owns memory and runs the ops of a forward pass.
 * models/ and engine/ reach a backend only through this header: buffers (alloc/free in the
 * backend's own memory), upload/download between the host and those buffers, synchronize,
 * and the op table. The same model code runs on kernels/cpu/ (the reference, and what CI
 * tests) and kernels/cuda/.
 *
 * Memory: every pointer an op takes is backend memory: host memory on the CPU backend,
 * device memory on CUDA. Sizes, counts and the other scalars of a call are host values. On
 * a device backend upload, download and the ops are asynchronous on the backend's one
 * stream, in order; synchronize() waits for them and returns the first failure. A host
 * buffer given to upload may be reused once upload returns (the backend stages it); one
 * given to download holds its data only after synchronize().
 *
 * Errors: every call that can fail returns 0 or a negative errno-style code (base/err.h)
 * and leaves a one-line message in be->err; the caller copies it into its own buffer. A
 * failed op fails the step that ran it, never the process.
 *
 * Conventions of the ops: activations are f32, row-major, one row per token. A weight matrix
 * W has ne[0] = n_in (the contiguous row length, as GGUF stores it) and ne[1] = n_out rows,
 * and matmul computes y[t, o] = sum_i W[o, i] * x[t, i]. */
#ifndef PISTON_BACKEND_H
#define PISTON_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the CUDA backend is C++ */
#endif

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

/* Dequantize one row of n elements (n a multiple of the block size) to f32, on the host. */
void dtype_dequantize_row(DType t, const void *src, float *dst, int64_t n);
/* f32 to F32, F16 or BF16 (rounded to nearest even), on the host; 0, or -1 for another type.
 * What a Hugging Face model's --dtype conversion at load uses. */
int dtype_convert_row(DType t, const float *src, void *dst, int64_t n);

#define TENSOR_MAX_DIMS 4
typedef struct Tensor {
    DType type;
    int ndim;
    int64_t ne[TENSOR_MAX_DIMS]; /* ne[0] is the contiguous dimension */
    const void *data;            /* backend memory once the model is uploaded (model_upload) */
    const char *name;
} Tensor;

/* Paged KV cache of one model: per layer, K and V are [num_blocks * block_size, kv_dim] of
 * dtype (DT_F32, or DT_F16 / DT_BF16 to halve the bytes decode attention streams), and
 * a slot s = block * block_size + offset holds one token's K (or V) row of kv_dim elements.
 * Attention converts 16-bit rows to f32 as it reads them and computes in f32 either way.
 * int64 because num_blocks * block_size * kv_dim overflows int32 at realistic sizes. The
 * per-layer pointer arrays are host memory holding backend pointers into two buffers. */
typedef struct KvCache {
    int n_layers;
    int64_t num_blocks;
    int block_size;
    int kv_dim;   /* n_kv_heads * head_dim */
    void **k;     /* [n_layers] host array -> backend [num_blocks * block_size, kv_dim] of dtype */
    void **v;     /* [n_layers] host array -> backend [num_blocks * block_size, kv_dim] of dtype */
    DType dtype;  /* DT_F32, DT_F16 or DT_BF16 */
    void *k_buf, *v_buf; /* the two backend buffers the layers point into */
} KvCache;

/* One step's flat batch as attention sees it (vLLM v1 style): T new tokens from B sequences.
 * Sequence b owns query rows [query_start[b], query_start[b+1]) and has seq_lens[b] tokens of
 * context in total, the new ones last; so new token i of b sits at position
 * seq_lens[b] - q_len_b + i and attends causally to positions [0, that position]. Its K/V
 * live in the blocks block_tables[b * max_blocks_per_seq + j], position p in block p / bs.
 * The arrays are backend memory (the runner's step buffers); T, B and the two maxima are
 * host values, so that a device backend can size its launches without reading the arrays. */
typedef struct AttnBatch {
    int T;
    int B;
    int max_query_len;           /* max over b of q_len_b (1: a pure decode step) */
    int max_seq_len;             /* max over b of seq_lens[b] */
    const int32_t *query_start;  /* [B + 1] */
    const int32_t *seq_lens;     /* [B] */
    const int32_t *block_tables; /* [B, max_blocks_per_seq] */
    int max_blocks_per_seq;
    const int64_t *slot_mapping; /* [T] cache slot each new token's K/V is written to; -1: none */
} AttnBatch;

enum RopeStyle {
    ROPE_NORMAL = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): GGUF llama (weights permuted by the converter) */
    ROPE_NEOX = 1    /* rotate halves (x[i], x[i + d/2]): qwen2 and HF layout */
};

typedef enum MatmulPrecision {
    /* Activations are quantized to 8-bit blocks and multiplied in integers, as llama.cpp does:
     * the fast path, and what makes Piston's logits track llama.cpp's. */
    MATMUL_Q8 = 0,
    /* Activations stay f32, weights are dequantized block by block on the fly: the exact path
     * that the NumPy reference checks to ~1e-6. */
    MATMUL_F32 = 1
} MatmulPrecision;

struct Backend;
typedef struct BackendOps {
    /* ---- memory ---- */
    void *(*alloc)(struct Backend *be, size_t bytes); /* NULL (be->err set) when out of memory */
    void (*free)(struct Backend *be, void *p);        /* p from alloc, or NULL */
    int (*upload)(struct Backend *be, void *dst, const void *src, size_t bytes);   /* host -> backend */
    int (*download)(struct Backend *be, void *dst, const void *src, size_t bytes); /* backend -> host */
    int (*synchronize)(struct Backend *be);
    /* free and total bytes of the backend's memory (the CPU: available and total RAM) */
    int (*mem_info)(struct Backend *be, int64_t *free_bytes, int64_t *total_bytes);
    /* host memory that upload and download can use asynchronously (pinned on CUDA): the
     * runner's staging of step inputs and logits. NULL (be->err set) when out of memory. */
    void *(*host_alloc)(struct Backend *be, size_t bytes);
    void (*host_free)(struct Backend *be, void *p);
    /* backend -> backend, in order with the ops (bench bandwidth measures it) */
    int (*copy)(struct Backend *be, void *dst, const void *src, size_t bytes);
    void (*destroy)(struct Backend *be);

    /* ---- graphs (NULL where the backend has none, as the CPU has not) ----
     * graph_begin: the ops queued until graph_end are captured, not run; graph_end gives the
     * replayable graph; graph_launch replays it over the same buffers, whose contents may
     * have changed (that is the point: the runner's step buffers have fixed addresses). */
    int (*graph_begin)(struct Backend *be);
    int (*graph_end)(struct Backend *be, void **graph);
    int (*graph_launch)(struct Backend *be, void *graph);
    void (*graph_destroy)(struct Backend *be, void *graph);

    /* ---- ops ---- */
    /* out[t, :] = dequantized row ids[t] of table [n_rows, dim] */
    int (*embed)(struct Backend *be, const Tensor *table, const int32_t *ids, int T, float *out);
    /* out[t, :] = x[t, :] / rms(x[t, :]) * w; out may equal x */
    int (*rmsnorm)(struct Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps);
    /* the residual add fused with the next norm: x[t, :] += y[t, :], then out[t, :] =
     * rmsnorm(x[t, :]) * w. Bit-identical to add followed by rmsnorm. */
    int (*add_rmsnorm)(struct Backend *be, float *x, const float *y, const float *w, float *out, int T, int dim,
                       float eps);
    /* y[T, n_out] = x[T, n_in] @ W^T. Reads each weight block once for the whole batch. */
    int (*matmul)(struct Backend *be, const Tensor *W, const float *x, float *y, int T);
    /* x[t, :] += bias[:] (bias [dim] f32) */
    int (*add_bias)(struct Backend *be, float *x, const float *bias, int T, int dim);
    /* x[i] += y[i] */
    int (*add)(struct Backend *be, float *x, const float *y, int64_t n);
    /* x [T, n_heads, head_dim], rotated in place at positions pos[t]; the first rot_dim dims.
     * freq_factors [rot_dim / 2] (backend memory) or NULL: pair i's angle is divided by
     * freq_factors[i], as llama.cpp's rope_freqs and Llama-3.1's rope_scaling (llama3) make it */
    int (*rope)(struct Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim,
                float theta, const float *freq_factors, int style);
    /* gate[i] = silu(gate[i]) * up[i] */
    int (*silu_mul)(struct Backend *be, float *gate, const float *up, int64_t n);
    /* write k, v [T, kv_dim] into the cache of `layer` at b->slot_mapping (slot -1: skipped) */
    int (*kv_write)(struct Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b);
    /* out [T, n_heads * head_dim] = softmax(q k^T * scale) v over the paged cache of `layer`,
     * grouped-query: head h reads kv head h / (n_heads / n_kv_heads). */
    int (*attention)(struct Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b,
                     int n_heads, int n_kv_heads, int head_dim, float scale, float *out);
    /* For every layer, copy the K/V slots of block src[i] to block dst[i], i in [0, n) (n > 1
     * forks give each sample its own copy of the prompt's partial last block). */
    int (*kv_copy_blocks)(struct Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n);
    /* out[b, :] = x[query_start[b + 1] - 1, :] for b in [0, B): each sequence's last token,
     * the only rows that reach the output head. x [T, dim], out [B, dim]. */
    int (*gather_last)(struct Backend *be, const float *x, const int32_t *query_start, int B, int dim, float *out);
    /* out[i, :] = x[rows[i], :] for i in [0, n): any rows of the batch, for the requests that
     * ask for every prompt token's logprob. x [T, dim], rows [n] in [0, T), out [n, dim]. */
    int (*gather_rows)(struct Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out);
    /* dst[i] = offset + scale * (2 u_i - 1) in type dt (F32, F16 or BF16, rounded to nearest
     * even), u_i = (hash_mix64(seed + i) >> 40) / 2^24: the same bits on every backend, so that
     * dummy weights made on a device equal the CPU's (--load-format dummy) */
    int (*fill_random)(struct Backend *be, void *dst, int64_t n, DType dt, uint64_t seed, float offset, float scale);
    /* y[i][T, n_out_i] = x[T, n_in] @ W[i]^T for i in [0, n): products that share their input
     * (q, k and v; gate and up), which a backend may run as one launch. Each y[i] equals what
     * matmul gives. NULL: backend_matmul_n calls matmul for each. */
    int (*matmul_n)(struct Backend *be, int n, const Tensor *const *W, const float *x, float *const *y, int T);
} BackendOps;

/* What backend_create is asked for. Fields a backend does not use are ignored by it. */
typedef struct BackendOptions {
    const char *device;        /* "cpu", "cuda" or "auto" (CUDA where a usable GPU exists) */
    int n_threads;             /* cpu: <= 0 means one per online core */
    MatmulPrecision precision; /* cpu: q8 (default) or f32 */
    int device_id;             /* cuda: which GPU */
    int verbose;               /* log the device chosen and why on stderr */
} BackendOptions;

void backend_options_default(BackendOptions *o);

typedef struct Backend {
    const BackendOps *ops;
    const char *name;          /* "cpu", "cuda" */
    char device_name[128];     /* e.g. "AMD EPYC 9454 (2 threads)", "NVIDIA H200" */
    int host_visible;          /* its buffers are ordinary host memory (the CPU backend) */
    BackendOptions opt;        /* as resolved (n_threads filled in) */
    char err[256];             /* the last failure */
    void *impl;                /* the backend's own state */
} Backend;

/* The one way to get a backend. "auto" picks CUDA when this build has it and a usable GPU
 * is present, else the CPU, and says which and why when o->verbose. 0, or negative with err. */
int backend_create(const BackendOptions *o, Backend **out, char *err, size_t errlen);
void backend_destroy(Backend *be);
/* Whether this build includes the CUDA backend (built with nvcc). */
int backend_have_cuda(void);

/* Convenience wrappers over be->ops that carry the message to the caller's buffer. */
void *backend_alloc(Backend *be, size_t bytes, char *err, size_t errlen);
void backend_free(Backend *be, void *p);
int backend_upload(Backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen);
int backend_download(Backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen);
int backend_synchronize(Backend *be, char *err, size_t errlen);
/* be->ops->matmul_n where the backend has it, else matmul for each weight; 0 or negative with
 * be->err, as the ops. */
int backend_matmul_n(Backend *be, int n, const Tensor *const *W, const float *x, float *const *y, int T);
/* A backend op failed: set be->err and return code (for the implementations). */
int backend_fail(Backend *be, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
