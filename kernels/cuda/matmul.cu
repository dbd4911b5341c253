/* Matrix products on the GPU, y[T, n_out] = x[T, n_in] @ W^T, chosen by shape:
 *  - quantized weights, decode-sized batches (T <= GEMV_MAX_T): our GEMV, a warp per output
 *    row reading each quantized block once for all T tokens, dequantized in registers and
 *    multiplied with f32 activations (decode is bound by reading the weights; f32 keeps it
 *    exact);
 *  - quantized weights, prefill-sized batches: a tile of rows dequantized to bf16 in scratch
 *    and fed with the bf16-rounded activations to cuBLAS (tensor cores, f32 accumulation);
 *  - f16, bf16 and f32 weights: cuBLAS straight from the weights (activations rounded to the
 *    weights' 16-bit type, or f32 x f32).
 * Which of a dequantizing tiled GEMM of our own or dequantization into cuBLAS is faster for
 * prefill is for a GPU to measure; this is the second. cuBLAS is column-major: W stored
 * [n_out rows of n_in] is the column-major n_in x n_out matrix A, so y^T = op_T(A) x^T with
 * lda = ldb = n_in and ldc = n_out. */
#include "kernels/cuda/cuda_internal.cuh"
#include "kernels/cuda/quant.cuh"

#define GEMV_MAX_T 8
#define GEMV_WARPS 4
/* a prefill tile of dequantized weights: at most this many bytes of bf16 */
#define W16_TILE_BYTES ((size_t)64 << 20)

template <int TYPE>
__global__ void gemv_kernel(const uint8_t *W, int64_t row_bytes, int n_in, int n_out, const float *x, float *y, int T) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int o = blockIdx.x * GEMV_WARPS + warp;
    if (o >= n_out) return;
    const uint8_t *row = W + o * row_bytes;
    float acc[GEMV_MAX_T];
    for (int t = 0; t < GEMV_MAX_T; t++) acc[t] = 0.0f;
    float w[32];
    for (int sub = lane; sub < n_in / 32; sub += 32) {
        deq32<TYPE>(row, sub, w);
        for (int t = 0; t < GEMV_MAX_T; t++) {
            if (t >= T) break;
            const float4 *xv = (const float4 *)(x + (int64_t)t * n_in + 32 * sub);
            float s = 0.0f;
            for (int j = 0; j < 8; j++) {
                float4 v = xv[j];
                s += w[4 * j] * v.x + w[4 * j + 1] * v.y + w[4 * j + 2] * v.z + w[4 * j + 3] * v.w;
            }
            acc[t] += s;
        }
    }
    for (int t = 0; t < T; t++) {
        float s = warp_sum(acc[t]);
        if (lane == 0) y[(int64_t)t * n_out + o] = s;
    }
}

/* rows [r0, r0 + rows) of W to bf16 */
template <int TYPE>
__global__ void dequant_bf16_kernel(const uint8_t *W, int64_t row_bytes, int n_in, int64_t r0, __nv_bfloat16 *out) {
    int64_t r = blockIdx.x;
    const uint8_t *row = W + (r0 + r) * row_bytes;
    float w[32];
    for (int sub = threadIdx.x; sub < n_in / 32; sub += blockDim.x) {
        deq32<TYPE>(row, sub, w);
        for (int j = 0; j < 32; j++) out[r * n_in + 32 * sub + j] = __float2bfloat16_rn(w[j]);
    }
}

template <typename T16> __global__ void to16_kernel(const float *x, T16 *out, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        store_f32(out + i, x[i]);
}

/* activations as 16-bit of cuBLAS type `dt` in the act16 scratch */
static int activations16(Backend *be, const float *x, int64_t n, cudaDataType dt, void **out) {
    CudaState *st = cuda_state(be);
    int rc = cuda_scratch(be, &st->act16, &st->act16_bytes, (size_t)n * 2, "the 16-bit activations");
    if (rc) return rc;
    unsigned blocks = cuda_blocks(n, 256) < 4096 ? cuda_blocks(n, 256) : 4096;
    if (dt == CUDA_R_16F)
        CUDA_CHECK(be, piston_launch(to16_kernel<__half>, dim3(blocks), dim3(256), 0, st->stream, x, (__half *)st->act16, n));
    else
        CUDA_CHECK(be, piston_launch(to16_kernel<__nv_bfloat16>, dim3(blocks), dim3(256), 0, st->stream, x,
                                     (__nv_bfloat16 *)st->act16, n));
    *out = st->act16;
    return 0;
}

/* y[:, r0 : r0 + rows] = x @ A[r0 : r0 + rows]^T for A of type at with lda = n_in */
static int gemm(Backend *be, const void *A, cudaDataType at, const void *x, cudaDataType xt, float *y, int rows, int T,
                int n_in, int n_out) {
    CudaState *st = cuda_state(be);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(be, st->blas.gemm_ex(st->cublas, CUBLAS_OP_T, CUBLAS_OP_N, rows, T, n_in, &one, A, at, n_in, x, xt,
                                      n_in, &zero, y, CUDA_R_32F, n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

template <int TYPE> struct QuantMatmul {
    static int run(Backend *be, const Tensor *W, const float *x, float *y, int T) {
        CudaState *st = cuda_state(be);
        int n_in = (int)W->ne[0], n_out = (int)W->ne[1];
        int64_t rb = dtype_row_bytes(W->type, n_in);
        if (T <= GEMV_MAX_T) {
            CUDA_CHECK(be, piston_launch(gemv_kernel<TYPE>, dim3(cuda_blocks(n_out, GEMV_WARPS)), dim3(32 * GEMV_WARPS),
                                         0, st->stream, (const uint8_t *)W->data, rb, n_in, n_out, x, y, T));
            return 0;
        }
        void *x16;
        int rc = activations16(be, x, (int64_t)T * n_in, CUDA_R_16BF, &x16);
        int64_t tile = (int64_t)(W16_TILE_BYTES / ((size_t)n_in * 2));
        tile = tile < 1 ? 1 : tile > n_out ? n_out : tile;
        if (!rc) rc = cuda_scratch(be, &st->w16, &st->w16_bytes, (size_t)tile * n_in * 2, "dequantized weights");
        for (int64_t r0 = 0; !rc && r0 < n_out; r0 += tile) {
            int rows = (int)(n_out - r0 < tile ? n_out - r0 : tile);
            CUDA_CHECK(be, piston_launch(dequant_bf16_kernel<TYPE>, dim3(rows), dim3(128), 0, st->stream,
                                         (const uint8_t *)W->data, rb, n_in, r0, (__nv_bfloat16 *)st->w16));
            rc = gemm(be, st->w16, CUDA_R_16BF, x16, CUDA_R_16BF, y + r0, rows, T, n_in, n_out);
        }
        return rc;
    }
};

int cuda_matmul(Backend *be, const Tensor *W, const float *x, float *y, int T) {
    int n_in = (int)W->ne[0], n_out = (int)W->ne[1];
    if (T <= 0 || n_out <= 0) return 0;
    if (dtype_row_bytes(W->type, n_in) <= 0)
        return backend_fail(be, -EINVAL, "matmul %s: type %s with rows of %lld elements is not supported",
                            W->name ? W->name : "?", dtype_name(W->type), (long long)W->ne[0]);
    void *x16;
    int rc;
    switch (W->type) {
    case DT_F32: return gemm(be, W->data, CUDA_R_32F, x, CUDA_R_32F, y, n_out, T, n_in, n_out);
    case DT_F16:
    case DT_BF16: {
        cudaDataType dt = W->type == DT_F16 ? CUDA_R_16F : CUDA_R_16BF;
        if ((rc = activations16(be, x, (int64_t)T * n_in, dt, &x16))) return rc;
        return gemm(be, W->data, dt, x16, dt, y, n_out, T, n_in, n_out);
    }
    default:
        rc = QUANT_DISPATCH(W->type, QuantMatmul, be, W, x, y, T);
        if (rc == -ENOSYS)
            return backend_fail(be, -EINVAL, "matmul: no CUDA kernel for %s", dtype_name(W->type));
        return rc;
    }
}
