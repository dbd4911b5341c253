/* Warp-level tests of the SIMT emulator: reductions and scans with each shuffle kind at
 * widths 32, 16 and 8 over several value types, ballot/any/all with partial masks inside
 * divergent branches, __syncwarp ordering, __activemask after early exits, match_any,
 * the sm_80 reductions and simt_warp_allgather. */
#include "simt_test.h"

/* out[lane*4 + 0..3] = xor-allreduce, down-reduce (leader), inclusive up-scan, broadcast
 * of segment lane 3, each over segments of `width` lanes, for value type T. */
template <typename T> __global__ void shuffle_kernel(T *out, int width) {
    const unsigned full = 0xffffffffu;
    int lane = threadIdx.x % 32;
    T v = (T)(lane + 1), x = v, d = v, u = v;
    for (int o = width / 2; o > 0; o /= 2) x = x + __shfl_xor_sync(full, x, o, width);
    for (int o = width / 2; o > 0; o /= 2) d = d + __shfl_down_sync(full, d, (unsigned)o, width);
    for (int o = 1; o < width; o *= 2) {
        T t = __shfl_up_sync(full, u, (unsigned)o, width);
        if (lane % width >= o) u = u + t;
    }
    T b = __shfl_sync(full, v, 3, width);
    out[threadIdx.x * 4 + 0] = x;
    out[threadIdx.x * 4 + 1] = d;
    out[threadIdx.x * 4 + 2] = u;
    out[threadIdx.x * 4 + 3] = b;
}

template <typename T> static void check_shuffles(const char *name) {
    T h[64 * 4], *d;
    CHECK_CUDA(cudaMalloc(&d, sizeof h));
    for (int width = 32; width >= 8; width /= 2) {
        CHECK_CUDA(piston_launch(shuffle_kernel<T>, dim3(1), dim3(64), 0, 0, d, width));
        CHECK_CUDA(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int t = 0; t < 64; t++) {
            int lane = t % 32, base = lane - lane % width;
            double seg = 0, scan = 0;
            for (int l = base; l < base + width; l++) seg += l + 1;
            for (int l = base; l <= lane; l++) scan += l + 1;
            bad += (double)h[t * 4 + 0] != seg;
            if (lane % width == 0) bad += (double)h[t * 4 + 1] != seg;
            bad += (double)h[t * 4 + 2] != scan;
            bad += (double)h[t * 4 + 3] != base + 4;
        }
        CHECK(bad == 0, "%s width %d: %d wrong shuffle results", name, width, bad);
    }
    cudaFree(d);
}

__global__ void vote_kernel(unsigned *out) {
    unsigned lane = threadIdx.x % 32, *o = out + threadIdx.x * 4;
    if (lane < 16) { /* a divergent half: each half votes among itself */
        o[0] = __ballot_sync(0x0000ffffu, lane & 1);
        o[1] = (unsigned)__any_sync(0x0000ffffu, lane == 3);
        o[2] = (unsigned)__all_sync(0x0000ffffu, lane < 16);
        o[3] = (unsigned)__all_sync(0x0000ffffu, lane < 15);
    } else {
        o[0] = __ballot_sync(0xffff0000u, lane % 4 == 0);
        o[1] = (unsigned)__any_sync(0xffff0000u, lane == 3);
        o[2] = (unsigned)__all_sync(0xffff0000u, lane >= 16);
        o[3] = __ballot_sync(0xffff0000u, 1);
    }
}

/* Each lane publishes a value, __syncwarp, then reads its neighbour's. */
__global__ void syncwarp_kernel(int *out) {
    __shared__ int s[64];
    s[threadIdx.x] = (int)threadIdx.x * 10;
    __syncwarp();
    int lane = threadIdx.x % 32;
    out[threadIdx.x] = s[threadIdx.x - lane + (lane + 1) % 32];
}

__global__ void activemask_kernel(unsigned *out) {
    unsigned lane = threadIdx.x % 32;
    if (lane < 8) return;
    unsigned survivors = __activemask();
    unsigned side; /* two sides of a branch: two call sites */
    if (lane < 20) side = __activemask();
    else side = __activemask();
    out[threadIdx.x] = __shfl_sync(survivors, survivors, 31) == survivors ? side : 0;
}

__global__ void match_reduce_kernel(unsigned *out) {
    unsigned lane = threadIdx.x % 32, *o = out + threadIdx.x * 6;
    o[0] = __match_any_sync(0xffffffffu, lane % 3);
    int pred = -1;
    o[1] = __match_all_sync(0xffffffffu, 5u, &pred);
    o[2] = (unsigned)pred;
    o[3] = __reduce_add_sync(0xffffffffu, lane);
    o[4] = (unsigned)__reduce_max_sync(0xffffffffu, (int)lane - 20);
    o[5] = __reduce_min_sync(0xffffffffu, lane + 3);
}

struct Frag { float f[2]; int tag; };
__global__ void allgather_kernel(Frag *out) {
    unsigned lane = threadIdx.x % 32;
    Frag mine = {{(float)lane, -(float)lane}, (int)lane * 7}, all[32];
    if (lane % 8 < 4) { /* mask 0x0f0f0f0f: lanes of the other half read as zeros */
        simt_warp_allgather(0x0f0f0f0fu, &mine, all, sizeof(Frag));
        for (int j = 0; j < 32; j++) out[lane * 32 + j] = all[j];
    }
}

void test_warp(void) {
    check_shuffles<int>("int");
    check_shuffles<unsigned>("unsigned");
    check_shuffles<float>("float");
    check_shuffles<double>("double");
    check_shuffles<long long>("long long");
    check_shuffles<unsigned long long>("unsigned long long");
    check_shuffles<__half>("__half");

    unsigned v[64 * 4], *dv;
    CHECK_CUDA(cudaMalloc(&dv, sizeof v));
    CHECK_CUDA(piston_launch(vote_kernel, dim3(1), dim3(64), 0, 0, dv));
    CHECK_CUDA(cudaMemcpy(v, dv, sizeof v, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int t = 0; t < 64; t++) {
        const unsigned *o = v + t * 4;
        if (t % 32 < 16) bad += o[0] != 0xaaaau || o[1] != 1 || o[2] != 1 || o[3] != 0;
        else bad += o[0] != 0x11110000u || o[1] != 0 || o[2] != 1 || o[3] != 0xffff0000u;
    }
    CHECK(bad == 0, "%d lanes voted wrong", bad);

    int s[64], *ds;
    CHECK_CUDA(cudaMalloc(&ds, sizeof s));
    CHECK_CUDA(piston_launch(syncwarp_kernel, dim3(1), dim3(64), 0, 0, ds));
    CHECK_CUDA(cudaMemcpy(s, ds, sizeof s, cudaMemcpyDeviceToHost));
    bad = 0;
    for (int t = 0; t < 64; t++) bad += s[t] != (t - t % 32 + (t % 32 + 1) % 32) * 10;
    CHECK(bad == 0, "__syncwarp: %d lanes read stale values", bad);

    CHECK_CUDA(cudaMemset(dv, 0, sizeof v));
    CHECK_CUDA(piston_launch(activemask_kernel, dim3(1), dim3(64), 0, 0, dv));
    CHECK_CUDA(cudaMemcpy(v, dv, 64 * sizeof(unsigned), cudaMemcpyDeviceToHost));
    bad = 0;
    for (int t = 0; t < 64; t++) bad += t % 32 >= 8 && v[t] != (t % 32 < 20 ? 0x000fff00u : 0xfff00000u);
    CHECK(bad == 0, "__activemask after lanes 0-7 exit, then in a branch: %#x %#x", v[8], v[25]);

    unsigned m[32 * 6], *dm;
    CHECK_CUDA(cudaMalloc(&dm, sizeof m));
    CHECK_CUDA(piston_launch(match_reduce_kernel, dim3(1), dim3(32), 0, 0, dm));
    CHECK_CUDA(cudaMemcpy(m, dm, sizeof m, cudaMemcpyDeviceToHost));
    bad = 0;
    for (unsigned l = 0; l < 32; l++) {
        unsigned same = 0;
        for (unsigned j = 0; j < 32; j++) same |= (j % 3 == l % 3) << j;
        const unsigned *o = m + l * 6;
        bad += o[0] != same || o[1] != 0xffffffffu || o[2] != 1 || o[3] != 496 || o[4] != 11 || o[5] != 3;
    }
    CHECK(bad == 0, "match/reduce: %d lanes wrong (lane 0: %#x %#x %u %u %u %u)", bad, m[0], m[1], m[2], m[3], m[4],
          m[5]);

    Frag f[32 * 32], *df;
    CHECK_CUDA(cudaMalloc(&df, sizeof f));
    CHECK_CUDA(piston_launch(allgather_kernel, dim3(1), dim3(32), 0, 0, df));
    CHECK_CUDA(cudaMemcpy(f, df, sizeof f, cudaMemcpyDeviceToHost));
    bad = 0;
    for (int l = 0; l < 32; l++) {
        if (l % 8 >= 4) continue;
        for (int j = 0; j < 32; j++) {
            const Frag &g = f[l * 32 + j];
            bool in = j % 8 < 4;
            bad += in ? (g.f[0] != j || g.f[1] != -j || g.tag != j * 7) : (g.f[0] != 0 || g.f[1] != 0 || g.tag != 0);
        }
    }
    CHECK(bad == 0, "simt_warp_allgather: %d entries wrong", bad);
    cudaFree(dv);
    cudaFree(ds);
    cudaFree(dm);
    cudaFree(df);
}
