/* Port check: one template kernel exercising static and dynamic shared memory, barriers,
 * every shuffle kind, ballot, atomics and f16/bf16 conversions, plus a >48 KiB dynamic
 * shared memory launch with its opt-in, all through cuda_port.h. Built by nvcc -c to
 * prove it compiles for sm_90a, and as C++ for the emulator, which runs it. */
#include "kernels/cuda/cuda_port.h"
#include "port_check.h"
#include <stdio.h>

__device__ __forceinline__ float port_to_float(float x) { return x; }
__device__ __forceinline__ float port_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float port_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
static float port_from_host(float x, float) { return x; }
static __half port_from_host(float x, __half) { return __float2half_rn(x); }
static __nv_bfloat16 port_from_host(float x, __nv_bfloat16) { return __float2bfloat16_rn(x); }

/* out[0] += sum(in); counters[0] += blocks; counters[1] = max lane-0 shfl_up check;
 * counters[2] |= ballot/shfl_sync failures. */
template <typename T, int BLOCK>
__global__ void __launch_bounds__(BLOCK) port_check_kernel(const T *__restrict__ in, float *out, int *counters,
                                                           int n) {
    __shared__ float warp_sums[BLOCK / 32];
    PISTON_DYNAMIC_SHARED(float, stage);
    const unsigned full = 0xffffffffu, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int i = blockIdx.x * BLOCK + threadIdx.x;
    stage[threadIdx.x] = i < n ? port_to_float(in[i]) : 0.0f;
    __syncthreads();
    float v = stage[BLOCK - 1 - threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(full, v, o);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < BLOCK / 32 ? warp_sums[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(full, s, o);
        if (lane == 0) atomicAdd(out, s);
    }
    int up = __shfl_up_sync(full, (int)lane, 1);
    int from0 = __shfl_sync(full, (int)lane * 3, 0);
    unsigned odd = __ballot_sync(full, lane & 1);
    if ((lane > 0 && up != (int)lane - 1) || from0 != 0 || odd != 0xaaaaaaaau) atomicOr((unsigned *)&counters[2], 1u);
    if (threadIdx.x == 0) {
        atomicAdd(&counters[0], 1);
        atomicMax(&counters[1], (int)blockIdx.x);
        atomicCAS(&counters[3], 0, 7);
    }
    __half h = __float2half(1.5f);
    __nv_bfloat16 b = __float2bfloat16(2.5f);
    if (__half2float(h) + __bfloat162float(b) != 4.0f) atomicOr((unsigned *)&counters[2], 2u);
}

/* Reads back all of its 64 KiB of dynamic shared memory, which needs the opt-in. */
__global__ void port_big_smem_kernel(float *out) {
    PISTON_DYNAMIC_SHARED(float, big);
    const int n = 16384;
    for (int i = threadIdx.x; i < n; i += blockDim.x) big[i] = (float)(i & 15);
    __syncthreads();
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += big[n - 1 - i];
    atomicAdd(out, s);
}

#define PORT_TRY(call)                                                                  \
    do {                                                                                \
        cudaError_t e_ = (call);                                                        \
        if (e_ != cudaSuccess) {                                                        \
            snprintf(msg, cap, "%s: %s", #call, cudaGetErrorName(e_));                  \
            return -1;                                                                  \
        }                                                                               \
    } while (0)

template <typename T> static int port_check_type(char *msg, size_t cap, cudaStream_t stream, const char *name) {
    const int n = 1000, block = 128, grid = (n + block - 1) / block;
    T host[1000];
    float expect = 0.0f;
    for (int i = 0; i < n; i++) {
        host[i] = port_from_host((float)(i % 7 - 3), T());
        expect += (float)(i % 7 - 3);
    }
    T *d_in;
    float *d_out, out = 0.0f;
    int *d_counters, counters[4] = {0, 0, 0, 0};
    PORT_TRY(cudaMalloc(&d_in, sizeof host));
    PORT_TRY(cudaMalloc(&d_out, sizeof(float)));
    PORT_TRY(cudaMalloc(&d_counters, sizeof counters));
    PORT_TRY(cudaMemcpyAsync(d_in, host, sizeof host, cudaMemcpyHostToDevice, stream));
    PORT_TRY(cudaMemsetAsync(d_out, 0, sizeof(float), stream));
    PORT_TRY(cudaMemsetAsync(d_counters, 0, sizeof counters, stream));
    PORT_TRY(piston_launch(port_check_kernel<T, 128>, dim3(grid), dim3(block), block * sizeof(float), stream, d_in,
                           d_out, d_counters, n));
    PORT_TRY(cudaMemcpyAsync(&out, d_out, sizeof out, cudaMemcpyDeviceToHost, stream));
    PORT_TRY(cudaMemcpyAsync(counters, d_counters, sizeof counters, cudaMemcpyDeviceToHost, stream));
    PORT_TRY(cudaStreamSynchronize(stream));
    PORT_TRY(cudaFree(d_in));
    PORT_TRY(cudaFree(d_out));
    PORT_TRY(cudaFree(d_counters));
    if (out != expect || counters[0] != grid || counters[1] != grid - 1 || counters[2] != 0 || counters[3] != 7) {
        snprintf(msg, cap, "%s: sum %g (want %g), blocks %d, max %d, flags %d, cas %d", name, out, expect, counters[0],
                 counters[1], counters[2], counters[3]);
        return -2;
    }
    return 0;
}

int port_check_run(char *msg, size_t cap) {
    cudaStream_t stream;
    PORT_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    int rc = port_check_type<float>(msg, cap, stream, "f32");
    if (!rc) rc = port_check_type<__half>(msg, cap, stream, "f16");
    if (!rc) rc = port_check_type<__nv_bfloat16>(msg, cap, stream, "bf16");
    if (!rc) {
        float *d_out, out = 0.0f;
        PORT_TRY(cudaMalloc(&d_out, sizeof(float)));
        PORT_TRY(cudaMemset(d_out, 0, sizeof(float)));
        PORT_TRY(cudaFuncSetAttribute(port_big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
        PORT_TRY(piston_launch(port_big_smem_kernel, dim3(1), dim3(256), 65536, stream, d_out));
        PORT_TRY(cudaMemcpy(&out, d_out, sizeof out, cudaMemcpyDeviceToHost));
        PORT_TRY(cudaFree(d_out));
        if (out != 16384.0f / 16.0f * 120.0f) { /* small integers: exact in any order */
            snprintf(msg, cap, "big smem: sum %g", out);
            rc = -3;
        }
    }
    PORT_TRY(cudaStreamDestroy(stream));
    return rc;
}
