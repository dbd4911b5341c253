/* Row gathers on the GPU: the embedding lookup (token ids to dequantized rows of the table)
 * and the last-token gather (each sequence's final row of the flat batch, read from
 * query_start on the device: the host never sees the batch). One block per output row. */
#include "kernels/cuda/cuda_internal.cuh"
#include "kernels/cuda/quant.cuh"

#define EMBED_THREADS 128

template <int TYPE>
__global__ void embed_kernel(const uint8_t *table, int64_t row_bytes, int64_t n_rows, const int32_t *ids, int dim,
                             float *out) {
    int t = blockIdx.x;
    int32_t id = ids[t];
    float *o = out + (int64_t)t * dim;
    if (id < 0 || id >= n_rows) { /* validated at admission; never read outside the table */
        for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = 0.0f;
        return;
    }
    const uint8_t *row = table + id * row_bytes;
    if constexpr (TYPE == DT_F32 || TYPE == DT_F16 || TYPE == DT_BF16) { /* any row length */
        for (int i = threadIdx.x; i < dim; i += blockDim.x)
            o[i] = TYPE == DT_F32 ? ((const float *)row)[i]
                   : TYPE == DT_F16 ? __half2float(((const __half *)row)[i])
                                    : __bfloat162float(((const __nv_bfloat16 *)row)[i]);
    } else {
        float y[32];
        for (int sub = threadIdx.x; sub < dim / 32; sub += blockDim.x) {
            deq32<TYPE>(row, sub, y);
            for (int j = 0; j < 32; j++) o[32 * sub + j] = y[j];
        }
    }
}

template <int TYPE> struct EmbedLaunch {
    static int run(Backend *be, const Tensor *t, const int32_t *ids, int T, float *out) {
        CUDA_CHECK(be, piston_launch(embed_kernel<TYPE>, dim3(T), dim3(EMBED_THREADS), 0, cuda_state(be)->stream,
                                     (const uint8_t *)t->data, dtype_row_bytes(t->type, t->ne[0]), t->ne[1], ids,
                                     (int)t->ne[0], out));
        return 0;
    }
};

int cuda_embed(Backend *be, const Tensor *table, const int32_t *ids, int T, float *out) {
    if (dtype_row_bytes(table->type, table->ne[0]) <= 0)
        return backend_fail(be, -EINVAL, "embed: table type %s with rows of %lld elements is not supported",
                            dtype_name(table->type), (long long)table->ne[0]);
    if (T <= 0) return 0;
    int rc = QUANT_DISPATCH(table->type, EmbedLaunch, be, table, ids, T, out);
    if (rc == -ENOSYS) return backend_fail(be, -EINVAL, "embed: no CUDA kernel for %s", dtype_name(table->type));
    return rc;
}

__global__ void gather_last_kernel(const float *x, const int32_t *query_start, int dim, float *out) {
    int b = blockIdx.x;
    int64_t row = query_start[b + 1] - 1;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(int64_t)b * dim + i] = x[row * dim + i];
}

int cuda_gather_last(Backend *be, const float *x, const int32_t *query_start, int B, int dim, float *out) {
    if (B <= 0) return 0;
    CUDA_CHECK(be, piston_launch(gather_last_kernel, dim3(B), dim3(EMBED_THREADS), 0, cuda_state(be)->stream, x,
                                 query_start, dim, out));
    return 0;
}

__global__ void gather_rows_kernel(const float *x, const int32_t *rows, int dim, float *out) {
    int i = blockIdx.x;
    int64_t row = rows[i];
    for (int k = threadIdx.x; k < dim; k += blockDim.x) out[(int64_t)i * dim + k] = x[row * dim + k];
}

int cuda_gather_rows(Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out) {
    if (n <= 0) return 0;
    CUDA_CHECK(be, piston_launch(gather_rows_kernel, dim3(n), dim3(EMBED_THREADS), 0, cuda_state(be)->stream, x, rows,
                                 dim, out));
    return 0;
}
