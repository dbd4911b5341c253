/* Random fills for dummy weights (--load-format dummy) on the CPU, bit-identical to the CUDA
 * backend's (kernels/cuda/fill.cu): an integer hash per element, then exact float steps and
 * one rounding to the element type, so a model made on either backend is the same model. */
#include <errno.h>
#include <string.h>

#include "base/hash.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/quant.h"

typedef struct FillCtx {
    void *dst;
    DType dt;
    uint64_t seed;
    float offset, scale;
} FillCtx;

static void fill_range(void *c, int64_t i0, int64_t i1) {
    const FillCtx *f = c;
    for (int64_t i = i0; i < i1; i++) {
        /* u = k / 2^24 and 2u - 1 are exact; the multiply and the add round once each */
        float u = (float)(hash_mix64(f->seed + (uint64_t)i) >> 40) * (1.0f / 16777216.0f);
        float v = f->offset + f->scale * (2.0f * u - 1.0f);
        if (f->dt == DT_F32) ((float *)f->dst)[i] = v;
        else if (f->dt == DT_F16) ((uint16_t *)f->dst)[i] = f32_to_fp16(v);
        else ((uint16_t *)f->dst)[i] = f32_to_bf16(v);
    }
}

int cpu_fill_random(Backend *be, void *dst, int64_t n, DType dt, uint64_t seed, float offset, float scale) {
    if (dt != DT_F32 && dt != DT_F16 && dt != DT_BF16)
        return backend_fail(be, -EINVAL, "fill_random: type %s (F32, F16, BF16)", dtype_name(dt));
    FillCtx f = {dst, dt, seed, offset, scale};
    cpu_parallel_range(be, n, 8, 64, fill_range, &f);
    return 0;
}
