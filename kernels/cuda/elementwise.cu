/* Elementwise ops on the GPU: residual add, bias add, SwiGLU. Grid-stride loops, one
 * element per thread per pass; memory-bound, so nothing cleverer pays. */
#include "kernels/cuda/cuda_device.cuh"
#include "kernels/cuda/cuda_internal.cuh"

#define EW_THREADS 256
#define EW_MAX_BLOCKS 4096

__global__ void add_kernel(float *x, const float *y, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

__global__ void add_bias_kernel(float *x, const float *bias, int64_t n, int dim) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] += bias[i % dim];
}

__global__ void silu_mul_kernel(float *g, const float *u, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

static unsigned ew_blocks(int64_t n) {
    unsigned b = cuda_blocks(n, EW_THREADS);
    return b < EW_MAX_BLOCKS ? (b ? b : 1) : EW_MAX_BLOCKS;
}

int cuda_add(Backend *be, float *x, const float *y, int64_t n) {
    if (n <= 0) return 0;
    CUDA_CHECK(be, piston_launch(add_kernel, dim3(ew_blocks(n)), dim3(EW_THREADS), 0, cuda_state(be)->stream, x, y, n));
    return 0;
}

int cuda_add_bias(Backend *be, float *x, const float *bias, int T, int dim) {
    int64_t n = (int64_t)T * dim;
    if (n <= 0) return 0;
    CUDA_CHECK(be, piston_launch(add_bias_kernel, dim3(ew_blocks(n)), dim3(EW_THREADS), 0, cuda_state(be)->stream, x,
                                 bias, n, dim));
    return 0;
}

int cuda_silu_mul(Backend *be, float *gate, const float *up, int64_t n) {
    if (n <= 0) return 0;
    CUDA_CHECK(be, piston_launch(silu_mul_kernel, dim3(ew_blocks(n)), dim3(EW_THREADS), 0, cuda_state(be)->stream,
                                 gate, up, n));
    return 0;
}
