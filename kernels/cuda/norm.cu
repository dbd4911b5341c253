/* RMSNorm on the GPU, alone and fused with the residual add before it (x += y; out =
 * norm(x) * w): one block per row, the sum of squares in f32 reduced across the block, then
 * the row written in the CPU's rounding order ((x * scale) * w). out may alias x or y: a
 * thread reads its elements of the row before the block's barrier and writes after it. */
#include "kernels/cuda/cuda_device.cuh"
#include "kernels/cuda/cuda_internal.cuh"

#define NORM_THREADS 256

__global__ void rmsnorm_kernel(float *x, const float *y, const float *w, float *out, int dim, float eps) {
    __shared__ float red[32];
    int64_t row = (int64_t)blockIdx.x * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = x[row + i];
        if (y) {
            v += y[row + i];
            x[row + i] = v;
        }
        ss += v * v;
    }
    float scale = 1.0f / sqrtf(block_sum(ss, red) / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[row + i] = (x[row + i] * scale) * w[i];
}

int cuda_rmsnorm(Backend *be, const float *x, const float *w, float *out, int T, int dim, float eps) {
    if (T <= 0) return 0;
    CUDA_CHECK(be, piston_launch(rmsnorm_kernel, dim3(T), dim3(NORM_THREADS), 0, cuda_state(be)->stream, (float *)x,
                                 (const float *)NULL, w, out, dim, eps));
    return 0;
}

int cuda_add_rmsnorm(Backend *be, float *x, const float *y, const float *w, float *out, int T, int dim, float eps) {
    if (T <= 0) return 0;
    CUDA_CHECK(be, piston_launch(rmsnorm_kernel, dim3(T), dim3(NORM_THREADS), 0, cuda_state(be)->stream, x, y, w, out,
                                 dim, eps));
    return 0;
}
