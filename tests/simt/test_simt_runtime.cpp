/* Runtime tests of the SIMT emulator: allocation (0xFF fill, memory accounting, the
 * emulated limit), copy and memset range checks for every kind, frees of bad pointers,
 * launch configuration errors, the >48 KiB dynamic shared memory opt-in, last-error
 * semantics, streams, events and pinned memory. */
#include "simt_test.h"

__device__ void big_smem_body(float *out, int n) {
    PISTON_DYNAMIC_SHARED(float, s);
    for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += s[i];
        out[0] = sum;
    }
}
__global__ void big_smem_kernel(float *out, int n) { big_smem_body(out, n); }
__global__ void big_smem_kernel2(float *out, int n) { big_smem_body(out, n); }
__global__ void noop_kernel(int *out) { (void)out; }
__constant__ float const_table[4];
__global__ void const_kernel(float *out) { out[threadIdx.x] = const_table[threadIdx.x] * 2.0f; }

/* A call expected to fail with `want`, printing a diagnostic. */
#define CHECK_FAILS(want, expr)                                                                            \
    do {                                                                                                   \
        StderrCapture cap_;                                                                                \
        cap_.start();                                                                                      \
        cudaError_t e_ = (expr);                                                                           \
        std::string msg_ = cap_.stop();                                                                    \
        CHECK(e_ == (want), "%s returned %s, want %s", #expr, cudaGetErrorName(e_), cudaGetErrorName(want)); \
        CHECK(cudaGetLastError() == (want), "%s: last error", #expr);                                      \
        CHECK(!msg_.empty() || (want) == cudaErrorInvalidResourceHandle, "%s printed nothing", #expr);     \
    } while (0)

static void test_memory(void) {
    size_t free0, total, free1;
    CHECK_CUDA(cudaMemGetInfo(&free0, &total));
    CHECK(total == (size_t)8 << 30, "total %zu", total);
    unsigned char *a, *b, host[256];
    CHECK_CUDA(cudaMalloc(&a, 100));
    CHECK_CUDA(cudaMalloc(&b, 100));
    CHECK_CUDA(cudaMemGetInfo(&free1, &total));
    CHECK(free0 - free1 == 200, "free went from %zu to %zu", free0, free1);
    CHECK_CUDA(cudaMemcpy(host, a, 100, cudaMemcpyDeviceToHost));
    int not_ff = 0;
    for (int i = 0; i < 100; i++) not_ff += host[i] != 0xff;
    CHECK(not_ff == 0, "fresh allocation not 0xFF-filled");

    memset(host, 3, sizeof host);
    CHECK_CUDA(cudaMemcpy(a, host, 100, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(a + 90, host, 10, cudaMemcpyHostToDevice)); /* ends exactly at the end */
    CHECK_CUDA(cudaMemcpy(b, a, 100, cudaMemcpyDeviceToDevice));
    CHECK_CUDA(cudaMemcpy(host, b, 100, cudaMemcpyDefault));
    CHECK_CUDA(cudaMemcpy(b, host, 100, cudaMemcpyDefault));
    CHECK_CUDA(cudaMemcpy(host, a, 0, cudaMemcpyDeviceToHost));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(a, host, 101, cudaMemcpyHostToDevice));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(host, a + 50, 51, cudaMemcpyDeviceToHost));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(host, host + 128, 16, cudaMemcpyHostToDevice)); /* dst is host */
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(a, host, 16, cudaMemcpyDeviceToHost));          /* reversed */
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(host, a, 16, cudaMemcpyHostToHost));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(b, a, 200, cudaMemcpyDeviceToDevice));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy(a + 99, host, 2, cudaMemcpyDefault));
    CHECK_FAILS(cudaErrorInvalidMemcpyDirection, cudaMemcpy(a, host, 1, (cudaMemcpyKind)7));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpyAsync(a, host, 128, cudaMemcpyHostToDevice, 0));
    CHECK_CUDA(cudaMemset(a, 0, 100));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemset(a + 1, 0, 100));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemsetAsync(host, 0, 4, 0));
    CHECK_CUDA(cudaMemcpy2D(a, 10, host, 20, 8, 10, cudaMemcpyHostToDevice));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpy2D(a, 11, host, 20, 8, 10, cudaMemcpyHostToDevice));
    CHECK_FAILS(cudaErrorInvalidPitchValue, cudaMemcpy2D(a, 4, host, 20, 8, 10, cudaMemcpyHostToDevice));

    CHECK_FAILS(cudaErrorInvalidValue, cudaFree(a + 1));
    CHECK_CUDA(cudaFree(a));
    CHECK_FAILS(cudaErrorInvalidValue, cudaFree(a));
    CHECK_CUDA(cudaFree(b));
    CHECK_CUDA(cudaFree(nullptr));
    CHECK_CUDA(cudaMemGetInfo(&free1, &total));
    CHECK(free1 == free0);

    void *huge = (void *)1;
    CHECK_FAILS(cudaErrorMemoryAllocation, cudaMalloc(&huge, total + 1));
    CHECK(huge == nullptr);
    void *zero = (void *)1;
    CHECK_CUDA(cudaMalloc(&zero, 0));
    CHECK(zero == nullptr);

    float *pinned;
    CHECK_CUDA(cudaMallocHost(&pinned, 64 * sizeof(float)));
    pinned[63] = 1.0f;
    CHECK_FAILS(cudaErrorInvalidValue, cudaFreeHost(host));
    CHECK_CUDA(cudaFreeHost(pinned));
}

static void test_symbols(void) {
    const float table[4] = {1, 2, 3, 4};
    float out[4], back[4], *d;
    CHECK_CUDA(cudaMemcpyToSymbol(const_table, table, sizeof table));
    CHECK_CUDA(cudaMalloc(&d, sizeof out));
    CHECK_CUDA(piston_launch(const_kernel, dim3(1), dim3(4), 0, 0, d));
    CHECK_CUDA(cudaMemcpy(out, d, sizeof out, cudaMemcpyDeviceToHost));
    CHECK(out[0] == 2 && out[3] == 8);
    CHECK_CUDA(cudaMemcpyFromSymbol(back, const_table, 2 * sizeof(float), 2 * sizeof(float)));
    CHECK(back[0] == 3 && back[1] == 4);
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpyToSymbol(const_table, table, sizeof table, 4));
    CHECK_FAILS(cudaErrorInvalidValue, cudaMemcpyToSymbol(const_table, table, 4, 0, cudaMemcpyDeviceToDevice));
    cudaFree(d);
}

static void test_launch_config(void) {
    int *d;
    CHECK_CUDA(cudaMalloc(&d, 4));
    CHECK_FAILS(cudaErrorInvalidConfiguration, piston_launch(noop_kernel, dim3(1), dim3(1025), 0, 0, d));
    CHECK_FAILS(cudaErrorInvalidConfiguration, piston_launch(noop_kernel, dim3(1), dim3(32, 32, 2), 0, 0, d));
    CHECK_FAILS(cudaErrorInvalidConfiguration, piston_launch(noop_kernel, dim3(0), dim3(32), 0, 0, d));
    CHECK_FAILS(cudaErrorInvalidConfiguration, piston_launch(noop_kernel, dim3(1, 70000), dim3(32), 0, 0, d));
    CHECK_CUDA(piston_launch(noop_kernel, dim3(1), dim3(1024), 48 * 1024, 0, d));
    cudaFree(d);

    const int n = 16384; /* 64 KiB */
    float sum = 0, *out;
    CHECK_CUDA(cudaMalloc(&out, sizeof(float)));
    CHECK_FAILS(cudaErrorInvalidValue, piston_launch(big_smem_kernel, dim3(1), dim3(256), n * sizeof(float), 0, out, n));
    CHECK_CUDA(cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n * 4));
    CHECK_CUDA(piston_launch(big_smem_kernel, dim3(1), dim3(256), n * sizeof(float), 0, out, n));
    CHECK_CUDA(cudaMemcpy(&sum, out, sizeof sum, cudaMemcpyDeviceToHost));
    CHECK(sum == (float)n, "sum %g", sum);
    /* The opt-in is per kernel, and bounded by the device's 227 KiB. */
    CHECK_FAILS(cudaErrorInvalidValue, piston_launch(big_smem_kernel2, dim3(1), dim3(256), n * sizeof(float), 0, out, n));
    CHECK_FAILS(cudaErrorInvalidValue, cudaFuncSetAttribute(big_smem_kernel2, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           227 * 1024 + 1));
    CHECK_FAILS(cudaErrorInvalidValue, piston_launch(big_smem_kernel, dim3(1), dim3(256), n * 4 + 4, 0, out, n));
    cudaFree(out);
}

static void test_streams_events(void) {
    cudaStream_t s;
    cudaEvent_t e0, e1, untimed;
    CHECK_CUDA(cudaStreamCreate(&s));
    CHECK_CUDA(cudaEventCreate(&e0));
    CHECK_CUDA(cudaEventCreate(&e1));
    CHECK_CUDA(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming));
    int *d;
    CHECK_CUDA(cudaMalloc(&d, 4));
    CHECK_CUDA(cudaEventRecord(e0, s));
    CHECK_CUDA(piston_launch(noop_kernel, dim3(4), dim3(64), 0, s, d));
    CHECK_CUDA(cudaEventRecord(e1, s));
    CHECK_CUDA(cudaEventRecord(untimed, s));
    CHECK_CUDA(cudaEventSynchronize(e1));
    float ms = -1;
    CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    CHECK(ms >= 0, "elapsed %g ms", ms);
    CHECK(cudaEventElapsedTime(&ms, e0, untimed) == cudaErrorInvalidResourceHandle);
    cudaGetLastError();
    CHECK_CUDA(cudaStreamWaitEvent(s, e1, 0));
    CHECK_CUDA(cudaStreamSynchronize(s));
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK_CUDA(cudaEventDestroy(e0));
    CHECK_CUDA(cudaEventDestroy(e1));
    CHECK_CUDA(cudaEventDestroy(untimed));
    CHECK_CUDA(cudaStreamDestroy(s));
    CHECK_FAILS(cudaErrorInvalidResourceHandle, piston_launch(noop_kernel, dim3(1), dim3(1), 0, s, d));
    CHECK_CUDA(piston_launch(noop_kernel, dim3(1), dim3(1), 0, cudaStreamPerThread, d));
    cudaFree(d);
}

void test_runtime(void) {
    cudaGetLastError();
    test_memory();
    test_symbols();
    test_launch_config();
    test_streams_events();
}
