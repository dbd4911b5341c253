/* Misuse the SIMT emulator must report instead of hanging: a thread that returns before
 * a barrier the others wait at, threads at two different barriers, a shuffle whose lane
 * exited, lanes meeting at different collectives, a mask leaving out the caller or naming
 * lanes that do not exist, and __trap. Each launch must fail with cudaErrorLaunchFailure
 * (also as the last error), print one line naming the launch and the waits, and the next
 * launch must work. */
#include "simt_test.h"
#include <algorithm>

__global__ void early_return_kernel(int *out) {
    __shared__ int s[64];
    if (threadIdx.x == 0) return;
    s[threadIdx.x] = 1;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}
__global__ void split_barrier_kernel(int *out) {
    if (threadIdx.x < 32) __syncthreads();
    else __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void shuffle_exit_kernel(float *out) {
    if (threadIdx.x % 32 == 31) return;
    float v = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    out[threadIdx.x] = v;
}
__global__ void mixed_collective_kernel(int *out) {
    int v;
    if (threadIdx.x < 16) v = __shfl_down_sync(0xffffffffu, 1, 1);
    else v = (int)__ballot_sync(0xffffffffu, 1);
    out[threadIdx.x] = v;
}
/* Half the warp shuffles (waiting for the other half), the other half waits at a barrier. */
__global__ void shuffle_vs_barrier_kernel(int *out) {
    int v = 1;
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
    __syncthreads();
    out[threadIdx.x] = v;
}
__global__ void not_in_mask_kernel(int *out) { out[threadIdx.x] = __shfl_sync(0x1u, 5, 0); }
__global__ void missing_lanes_kernel(int *out) { out[threadIdx.x] = __shfl_sync(0xffffffffu, 5, 0); }
__global__ void trap_kernel(int *out) {
    if (blockIdx.x == 1 && threadIdx.x == 5) __trap();
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}
__global__ void fill_kernel(int *out, int value) { out[blockIdx.x * blockDim.x + threadIdx.x] = value; }

/* Launches a failing kernel, checks error, last error and message, then that a good launch
 * works and clears nothing it should not. */
template <typename K, typename P>
static void expect_failure(const char *what, K kernel, dim3 grid, dim3 block, P arg, int *scratch,
                           const char *must1, const char *must2) {
    StderrCapture cap;
    cap.start();
    cudaError_t e = piston_launch(kernel, grid, block, 0, 0, arg);
    std::string msg = cap.stop();
    CHECK(e == cudaErrorLaunchFailure, "%s: launch returned %s", what, cudaGetErrorName(e));
    CHECK(cudaPeekAtLastError() == cudaErrorLaunchFailure, "%s: last error not set", what);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    CHECK(cudaGetLastError() == cudaSuccess, "%s: cudaGetLastError must reset", what);
    CHECK(std::count(msg.begin(), msg.end(), '\n') == 1, "%s: want one line, got: %s", what, msg.c_str());
    CHECK(contains(msg, "simt: kernel") && contains(msg, must1) && contains(msg, must2), "%s: message: %s", what,
          msg.c_str());
    int h[128];
    CHECK_CUDA(piston_launch(fill_kernel, dim3(2), dim3(64), 0, 0, scratch, 7));
    CHECK_CUDA(cudaMemcpy(h, scratch, sizeof h, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int v : h) bad += v != 7;
    CHECK(bad == 0 && cudaGetLastError() == cudaSuccess, "%s: the next launch did not work", what);
}

void test_block_errors(void) {
    int *d;
    CHECK_CUDA(cudaMalloc(&d, 128 * sizeof(int)));
    expect_failure("early return", early_return_kernel, dim3(2), dim3(64), d, d, "thread 0 exited",
                   "threads 1-63 wait at __syncthreads() at");
    expect_failure("two barriers", split_barrier_kernel, dim3(1), dim3(64), d, d, "different barriers",
                   "threads 32-63 wait at __syncthreads()");
    expect_failure("trap", trap_kernel, dim3(2), dim3(64), d, d, "block (1,0,0)", "called __trap()");
    cudaFree(d);
}

void test_warp_errors(void) {
    int *d;
    CHECK_CUDA(cudaMalloc(&d, 128 * sizeof(int)));
    expect_failure("shuffle lane exited", shuffle_exit_kernel, dim3(1), dim3(64), (float *)d, d,
                   "__shfl_xor_sync(mask 0xffffffff)", "exited");
    expect_failure("shuffle against barrier", shuffle_vs_barrier_kernel, dim3(1), dim3(32), d, d,
                   "threads 0-15 (warp 0) wait at __shfl_xor_sync(mask 0xffffffff)",
                   "threads 16-31 wait at __syncthreads()");
    expect_failure("mixed collectives", mixed_collective_kernel, dim3(1), dim3(32), d, d, "different collectives",
                   "__ballot_sync");
    expect_failure("caller not in mask", not_in_mask_kernel, dim3(1), dim3(32), d, d, "leaves out its own lane",
                   "__shfl_sync");
    expect_failure("lanes that do not exist", missing_lanes_kernel, dim3(1), dim3(48), d, d, "do not exist",
                   "48 threads");
    cudaFree(d);
}
