/* Block-level tests of the SIMT emulator: reductions through static shared memory and
 * barriers, dynamic shared memory and its per-block 0xFF fill, __syncthreads_count/and/
 * or, 3-D blocks and grids, atomics from many blocks, a spin-wait that __nanosleep lets
 * progress, and a missing __syncthreads that the default (random) thread order exposes
 * while forward order hides it. */
#include "simt_test.h"
#include <math.h>

__global__ void block_reduce_kernel(const float *in, float *out, int n) {
    __shared__ float s[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? in[i] : 0.0f;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

/* Records what each thread finds in dynamic shared memory before writing it. */
__global__ void dyn_smem_kernel(unsigned *seen) {
    PISTON_DYNAMIC_SHARED(unsigned, words);
    seen[blockIdx.x * blockDim.x + threadIdx.x] = words[threadIdx.x];
    __syncthreads();
    words[threadIdx.x] = threadIdx.x; /* the next block must not see this */
    if (((uintptr_t)words & 15) != 0) seen[0] = 0xdead;
}

__global__ void sync_count_kernel(int *out) {
    int t = threadIdx.x;
    int count = __syncthreads_count(t % 3 == 0);
    int all = __syncthreads_and(t < 1000);
    int none = __syncthreads_and(t != 7);
    int any = __syncthreads_or(t == 5);
    int nobody = __syncthreads_or(0);
    if (t == 0) { out[0] = count; out[1] = all; out[2] = none; out[3] = any; out[4] = nobody; }
}

__global__ void three_d_kernel(unsigned *out) {
    unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    out[block * blockDim.x * blockDim.y * blockDim.z + t] =
        threadIdx.x | threadIdx.y << 4 | threadIdx.z << 8 | blockIdx.x << 12 | blockIdx.y << 16 | blockIdx.z << 20;
}

struct AtomicOut {
    int add, sub, max, min, cas_count, exch;
    unsigned uadd, and_, or_, xor_, inc;
    unsigned long long ull;
    float fadd;
    double dadd;
    __half hadd;
};
__global__ void atomics_kernel(AtomicOut *o) {
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(&o->add, 2);
    atomicSub(&o->sub, 1);
    atomicMax(&o->max, g);
    atomicMin(&o->min, -g);
    int old = atomicCAS(&o->cas_count, 0, 0);
    while (true) { /* a CAS loop increment, as kernels write them */
        int seen = atomicCAS(&o->cas_count, old, old + 1);
        if (seen == old) break;
        old = seen;
    }
    atomicExch(&o->exch, 42);
    atomicAdd(&o->uadd, 1u);
    atomicAnd(&o->and_, ~(1u << (g % 32)));
    atomicOr(&o->or_, 1u << (g % 32));
    atomicXor(&o->xor_, 1u);
    atomicInc(&o->inc, 9u);
    atomicAdd(&o->ull, 1ull << 33);
    atomicAdd(&o->fadd, 0.5f);
    atomicAdd(&o->dadd, 0.25);
    if (threadIdx.x == 0) atomicAdd(&o->hadd, __float2half(1.0f));
}

/* Thread 0 spins until thread 1 sets a flag: needs __nanosleep to yield. */
__global__ void spin_kernel(int *out) {
    __shared__ volatile int flag;
    if (threadIdx.x == 1) flag = 0;
    __syncthreads();
    if (threadIdx.x == 0) {
        int spins = 0;
        while (!flag) { __nanosleep(100); spins++; }
        out[0] = spins >= 0 ? 1 : 0;
    }
    if (threadIdx.x == 1) flag = 1;
}

/* BUG on purpose: reads the previous thread's value without a barrier. */
__global__ void neighbour_kernel(int *out) {
    __shared__ int s[256];
    s[threadIdx.x] = (int)(blockIdx.x * 1000 + threadIdx.x);
    out[blockIdx.x * blockDim.x + threadIdx.x] = s[(threadIdx.x + blockDim.x - 1) % blockDim.x];
}

static int neighbour_mismatches(int order) {
    const int blocks = 4, threads = 256;
    int *d, h[blocks * threads];
    simt_set_order(order, 0);
    cudaMalloc(&d, sizeof h);
    piston_launch(neighbour_kernel, dim3(blocks), dim3(threads), 0, 0, d);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    cudaFree(d);
    simt_set_order(SIMT_ORDER_RANDOM, 0);
    int bad = 0;
    for (int b = 0; b < blocks; b++)
        for (int t = 1; t < threads; t++) bad += h[b * threads + t] != b * 1000 + t - 1;
    return bad;
}

void test_block(void) {
    enum { N = 1000, T = 256, B = (N + T - 1) / T };
    float in[N], out[B], *d_in, *d_out;
    for (int i = 0; i < N; i++) in[i] = (float)(i % 13);
    CHECK_CUDA(cudaMalloc(&d_in, sizeof in));
    CHECK_CUDA(cudaMalloc(&d_out, sizeof out));
    CHECK_CUDA(cudaMemcpy(d_in, in, sizeof in, cudaMemcpyHostToDevice));
    CHECK_CUDA(piston_launch(block_reduce_kernel, dim3(B), dim3(T), 0, 0, d_in, d_out, N));
    CHECK_CUDA(cudaMemcpy(out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    for (int b = 0; b < B; b++) {
        float want = 0;
        for (int i = b * T; i < N && i < (b + 1) * T; i++) want += in[i];
        CHECK(out[b] == want, "block %d: %g vs %g", b, out[b], want);
    }
    cudaFree(d_in);
    cudaFree(d_out);

    unsigned seen[3 * 64], *d_seen;
    CHECK_CUDA(cudaMalloc(&d_seen, sizeof seen));
    CHECK_CUDA(piston_launch(dyn_smem_kernel, dim3(3), dim3(64), 64 * sizeof(unsigned), 0, d_seen));
    CHECK_CUDA(cudaMemcpy(seen, d_seen, sizeof seen, cudaMemcpyDeviceToHost));
    int not_ff = 0;
    for (unsigned s : seen) not_ff += s != 0xffffffffu;
    CHECK(not_ff == 0, "%d words of dynamic shared memory were not 0xFF before first write", not_ff);
    cudaFree(d_seen);

    int counts[5], *d_counts;
    CHECK_CUDA(cudaMalloc(&d_counts, sizeof counts));
    CHECK_CUDA(piston_launch(sync_count_kernel, dim3(2), dim3(100), 0, 0, d_counts));
    CHECK_CUDA(cudaMemcpy(counts, d_counts, sizeof counts, cudaMemcpyDeviceToHost));
    CHECK(counts[0] == 34 && counts[1] == 1 && counts[2] == 0 && counts[3] == 1 && counts[4] == 0,
          "count %d and %d %d or %d %d", counts[0], counts[1], counts[2], counts[3], counts[4]);
    cudaFree(d_counts);

    const dim3 grid(2, 3, 2), block(8, 4, 2);
    const int total = 12 * 64;
    unsigned ids[total], *d_ids;
    CHECK_CUDA(cudaMalloc(&d_ids, sizeof ids));
    CHECK_CUDA(piston_launch(three_d_kernel, grid, block, 0, 0, d_ids));
    CHECK_CUDA(cudaMemcpy(ids, d_ids, sizeof ids, cudaMemcpyDeviceToHost));
    int wrong = 0;
    for (unsigned bz = 0; bz < 2; bz++) for (unsigned by = 0; by < 3; by++) for (unsigned bx = 0; bx < 2; bx++)
        for (unsigned tz = 0; tz < 2; tz++) for (unsigned ty = 0; ty < 4; ty++) for (unsigned tx = 0; tx < 8; tx++) {
            unsigned idx = ((bz * 3 + by) * 2 + bx) * 64 + (tz * 4 + ty) * 8 + tx;
            wrong += ids[idx] != (tx | ty << 4 | tz << 8 | bx << 12 | by << 16 | bz << 20);
        }
    CHECK(wrong == 0, "%d of %d 3-D thread ids wrong", wrong, total);
    cudaFree(d_ids);

    AtomicOut a, *d_a;
    memset(&a, 0, sizeof a);
    a.min = 1 << 30;
    a.and_ = 0xffffffffu;
    CHECK_CUDA(cudaMalloc(&d_a, sizeof a));
    CHECK_CUDA(cudaMemcpy(d_a, &a, sizeof a, cudaMemcpyHostToDevice));
    CHECK_CUDA(piston_launch(atomics_kernel, dim3(64), dim3(128), 0, 0, d_a));
    CHECK_CUDA(cudaMemcpy(&a, d_a, sizeof a, cudaMemcpyDeviceToHost));
    const int G = 64 * 128;
    CHECK(a.add == 2 * G && a.sub == -G && a.max == G - 1 && a.min == -(G - 1) && a.cas_count == G && a.exch == 42,
          "int atomics: add %d sub %d max %d min %d cas %d exch %d", a.add, a.sub, a.max, a.min, a.cas_count, a.exch);
    CHECK(a.uadd == (unsigned)G && a.and_ == 0 && a.or_ == 0xffffffffu && a.xor_ == 0 && a.inc == (unsigned)(G % 10),
          "unsigned atomics: %u %x %x %x %u", a.uadd, a.and_, a.or_, a.xor_, a.inc);
    CHECK(a.ull == (unsigned long long)G << 33 && a.fadd == G * 0.5f && a.dadd == G * 0.25 &&
          __half2float(a.hadd) == 64.0f, "wide/float atomics: %llu %g %g %g", a.ull, a.fadd, a.dadd,
          __half2float(a.hadd));
    cudaFree(d_a);

    int spun = 0, *d_spun;
    CHECK_CUDA(cudaMalloc(&d_spun, sizeof spun));
    simt_set_order(SIMT_ORDER_FORWARD, 0); /* thread 0 first: it must wait for thread 1 */
    CHECK_CUDA(piston_launch(spin_kernel, dim3(1), dim3(2), 0, 0, d_spun));
    simt_set_order(SIMT_ORDER_RANDOM, 0);
    CHECK_CUDA(cudaMemcpy(&spun, d_spun, sizeof spun, cudaMemcpyDeviceToHost));
    CHECK(spun == 1);
    cudaFree(d_spun);

    int random_bad = neighbour_mismatches(SIMT_ORDER_RANDOM);
    int forward_bad = neighbour_mismatches(SIMT_ORDER_FORWARD);
    CHECK(random_bad > 100, "the missing barrier went unnoticed under random order (%d wrong)", random_bad);
    CHECK(forward_bad == 0, "forward order should hide the bug (%d wrong)", forward_bad);
}
