/* Random fills for dummy weights on the GPU, bit-identical to kernels/cpu/fill.c: the same
 * integer hash (base/hash.h's splitmix64 finalizer) and the same float steps, the multiply
 * and the add written as __fmul_rn and __fadd_rn so that nvcc cannot fuse them into one
 * rounding. Weights of a 70B dummy model are made here in a second, never on the host. */
#include "kernels/cuda/cuda_device.cuh"
#include "kernels/cuda/cuda_internal.cuh"

__device__ __forceinline__ uint64_t fill_mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ull;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

template <typename T> __global__ void fill_kernel(T *dst, int64_t n, uint64_t seed, float offset, float scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float u = __fmul_rn((float)(fill_mix64(seed + (uint64_t)i) >> 40), 1.0f / 16777216.0f);
        float v = __fadd_rn(offset, __fmul_rn(scale, __fadd_rn(__fmul_rn(2.0f, u), -1.0f)));
        store_f32(dst + i, v);
    }
}

int cuda_fill_random(Backend *be, void *dst, int64_t n, DType dt, uint64_t seed, float offset, float scale) {
    if (n <= 0) return 0;
    cudaStream_t s = cuda_state(be)->stream;
    unsigned blocks = cuda_blocks(n, 256) < 8192 ? cuda_blocks(n, 256) : 8192;
    if (dt == DT_F32)
        CUDA_CHECK(be, piston_launch(fill_kernel<float>, dim3(blocks), dim3(256), 0, s, (float *)dst, n, seed, offset, scale));
    else if (dt == DT_F16)
        CUDA_CHECK(be, piston_launch(fill_kernel<__half>, dim3(blocks), dim3(256), 0, s, (__half *)dst, n, seed, offset, scale));
    else if (dt == DT_BF16)
        CUDA_CHECK(be, piston_launch(fill_kernel<__nv_bfloat16>, dim3(blocks), dim3(256), 0, s, (__nv_bfloat16 *)dst, n,
                                     seed, offset, scale));
    else
        return backend_fail(be, -EINVAL, "fill_random: type %s (F32, F16, BF16)", dtype_name(dt));
    return 0;
}
