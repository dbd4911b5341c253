/* What the CUDA backend's files share (not a public header: nothing outside kernels/cuda/
 * includes it): the backend state, the error checks, and the entry points of each op file,
 * named as their CPU twins in kernels/cpu/cpu_backend.h.
 *
 * Every CUDA call and every launch goes through CUDA_CHECK, which turns a failure into the
 * op's status with the expression, function, file:line and CUDA's error name in be->err:
 * the step fails, the process does not. After a sticky error (an illegal address) the
 * context is lost and every later step fails the same way; the message says so. */
#ifndef PISTON_CUDA_INTERNAL_CUH
#define PISTON_CUDA_INTERNAL_CUH

#include <errno.h>
#include <stdint.h>

#include "kernels/cuda/cuda_port.h"
#include "kernels/cuda/cuda_blas.cuh"

#include "kernels/backend.h"

typedef struct CudaState {
    int device;
    cudaStream_t stream;
    cudaDeviceProp prop;
    CublasApi blas;
    cublasHandle_t cublas;
    void *cublas_ws;       /* cuBLAS's workspace, set once so that it never allocates in a graph */
    size_t cublas_ws_bytes;
    float *attn_ws;        /* split-K partials of decode attention, allocated at creation */
    size_t attn_ws_bytes;
    void *act16;           /* activations converted to 16 bits for cuBLAS, grown on demand */
    size_t act16_bytes;
    void *w16;             /* a tile of dequantized weights for prefill GEMMs, grown on demand */
    size_t w16_bytes;
    int capturing;         /* a graph capture is open: nothing may allocate */
} CudaState;

static inline CudaState *cuda_state(Backend *be) { return (CudaState *)be->impl; }

/* The failure of `what` (cuda_backend.cu): be->err and -EIO. */
int cuda_fail(Backend *be, cudaError_t e, const char *what, const char *func, const char *file, int line);
int cublas_fail(Backend *be, cublasStatus_t s, const char *what, const char *func, const char *file, int line);

#define CUDA_CHECK(be, expr)                                                                  \
    do {                                                                                      \
        cudaError_t e_ = (expr);                                                              \
        if (e_ != cudaSuccess) return cuda_fail((be), e_, #expr, __func__, __FILE__, __LINE__); \
    } while (0)

#define CUBLAS_CHECK(be, expr)                                                                    \
    do {                                                                                          \
        cublasStatus_t s_ = (expr);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS) return cublas_fail((be), s_, #expr, __func__, __FILE__, __LINE__); \
    } while (0)

/* A scratch buffer of at least `bytes`, grown with cudaMalloc (never while a graph captures:
 * the profile forward at --max-num-batched-tokens grows them to their largest first). */
int cuda_scratch(Backend *be, void **buf, size_t *have, size_t bytes, const char *what);

/* threads of a 1-D launch over n items, and its blocks */
static inline unsigned cuda_blocks(int64_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

/* The ops (embed.cu, norm.cu, elementwise.cu, rope.cu, kv.cu, attention.cu, matmul.cu, fill.cu). */
int cuda_embed(Backend *be, const Tensor *table, const int32_t *ids, int T, float *out);
int cuda_gather_last(Backend *be, const float *x, const int32_t *query_start, int B, int dim, float *out);
int cuda_gather_rows(Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out);
int cuda_rmsnorm(Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps);
int cuda_add_rmsnorm(Backend *be, float *x, const float *y, const float *w, float *out, int T, int dim, float eps);
int cuda_matmul(Backend *be, const Tensor *W, const float *x, float *y, int T);
int cuda_add_bias(Backend *be, float *x, const float *bias, int T, int dim);
int cuda_add(Backend *be, float *x, const float *y, int64_t n);
int cuda_rope(Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim, float theta,
              const float *freq_factors, int style);
int cuda_silu_mul(Backend *be, float *gate, const float *up, int64_t n);
int cuda_kv_write(Backend *be, KvCache *kv, int layer, const float *k, const float *v, const AttnBatch *b);
int cuda_attention(Backend *be, const KvCache *kv, int layer, const float *q, const AttnBatch *b, int n_heads,
                   int n_kv_heads, int head_dim, float scale, float *out);
int cuda_kv_copy_blocks(Backend *be, KvCache *kv, const int32_t *src, const int32_t *dst, int n);
int cuda_fill_random(Backend *be, void *dst, int64_t n, DType dt, uint64_t seed, float offset, float scale);
/* graph.cu */
int cuda_graph_begin(Backend *be);
int cuda_graph_end(Backend *be, void **graph);
int cuda_graph_launch(Backend *be, void *graph);
void cuda_graph_destroy(Backend *be, void *graph);

#endif
