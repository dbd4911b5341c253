/* Rotary position embedding on the GPU, in place over [T, n_heads, head_dim], the first
 * rot_dim dims of each head. The angle of pair i is made as the CPU (and llama.cpp) makes
 * it: start at (float)pos and multiply by theta_scale = powf(base, -2/rot_dim) i times in
 * float, so both backends rotate by the same angles; a pair's angle is then divided by its
 * frequency factor when there are any (Llama-3.1's rope_scaling). One block per token; a thread per
 * (head, pair). */
#include "kernels/cuda/cuda_device.cuh"
#include "kernels/cuda/cuda_internal.cuh"

#define ROPE_THREADS 256

__global__ void rope_kernel(float *x, const int32_t *pos, const float *ff, int n_heads, int head_dim, int rot_dim,
                            float theta_scale, int neox) {
    int t = blockIdx.x, half = rot_dim / 2;
    float *xt = x + (int64_t)t * n_heads * head_dim;
    float p = (float)pos[t];
    for (int k = threadIdx.x; k < n_heads * half; k += blockDim.x) {
        int h = k / half, i = k % half;
        float th = p;
        for (int j = 0; j < i; j++) th *= theta_scale;
        if (ff) th = th / ff[i]; /* divided, as the CPU (and llama.cpp) divide */
        float cs = cosf(th), sn = sinf(th);
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float *xh = xt + h * head_dim;
        float x0 = xh[i0], x1 = xh[i1];
        xh[i0] = x0 * cs - x1 * sn;
        xh[i1] = x0 * sn + x1 * cs;
    }
}

int cuda_rope(Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim, float theta,
              const float *freq_factors, int style) {
    if (!(rot_dim > 0 && rot_dim % 2 == 0 && rot_dim <= head_dim) || (style != ROPE_NORMAL && style != ROPE_NEOX))
        return backend_fail(be, -EINVAL, "rope: rot_dim %d of head_dim %d, style %d is not supported", rot_dim,
                            head_dim, style);
    if (T <= 0) return 0;
    CUDA_CHECK(be, piston_launch(rope_kernel, dim3(T), dim3(ROPE_THREADS), 0, cuda_state(be)->stream, x, pos,
                                 freq_factors, n_heads, head_dim, rot_dim, powf(theta, -2.0f / rot_dim), (int)(style == ROPE_NEOX)));
    return 0;
}
