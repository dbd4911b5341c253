/* Rotary position embedding on the CPU, in place over [T, n_heads, head_dim], the first
 * rot_dim dims of each head, in GGUF-llama (adjacent pairs) or NeoX (halves) layout, with
 * optional per-pair frequency factors (Llama-3.1's long-context scaling). */
#include <errno.h>
#include <math.h>

#include "kernels/cpu/parallel.h"

typedef struct RopeCtx {
    float *x;           /* [T, n_heads, head_dim] */
    const int32_t *pos; /* [T] */
    const float *ff;    /* [rot_dim / 2] or NULL */
    int n_heads, head_dim, rot_dim, style;
    float theta_scale;
} RopeCtx;

/* The angles are made exactly as llama.cpp's ggml rope makes them: start at (float)pos and
 * multiply by theta_scale = powf(base, -2/rot_dim) once per pair, in float, then cosf/sinf.
 * The iterated product drifts from pos * base^(-2i/rot_dim) by a few ulp, and following the
 * same recipe is what keeps our logits on llama.cpp's rather than merely near them. */
static void rope_rows(void *c, int64_t t0, int64_t t1) {
    const RopeCtx *r = c;
    int half = r->rot_dim / 2;
    for (int64_t t = t0; t < t1; t++) {
        float *xt = r->x + t * r->n_heads * r->head_dim;
        float th = (float)r->pos[t];
        for (int i = 0; i < half; i++) {
            /* divided, not multiplied by the inverse: llama.cpp's rope divides */
            float a = r->ff ? th / r->ff[i] : th;
            float cs = cosf(a), sn = sinf(a);
            /* ROPE_NORMAL pairs (2i, 2i+1); ROPE_NEOX pairs (i, i + rot_dim/2) */
            int i0 = r->style == ROPE_NEOX ? i : 2 * i;
            int i1 = r->style == ROPE_NEOX ? i + half : 2 * i + 1;
            for (int h = 0; h < r->n_heads; h++) {
                float *xh = xt + h * r->head_dim;
                float x0 = xh[i0], x1 = xh[i1];
                xh[i0] = x0 * cs - x1 * sn;
                xh[i1] = x0 * sn + x1 * cs;
            }
            th *= r->theta_scale;
        }
    }
}

int cpu_rope(Backend *be, float *x, const int32_t *pos, int T, int n_heads, int head_dim, int rot_dim, float theta,
             const float *freq_factors, int style) {
    if (!(rot_dim > 0 && rot_dim % 2 == 0 && rot_dim <= head_dim) || (style != ROPE_NORMAL && style != ROPE_NEOX))
        return backend_fail(be, -EINVAL, "rope: rot_dim %d of head_dim %d, style %d is not supported", rot_dim,
                            head_dim, style);
    RopeCtx r = {x, pos, freq_factors, n_heads, head_dim, rot_dim, style, powf(theta, -2.0f / rot_dim)};
    /* per element a cosf/sinf pair is shared by the heads; ~8 element-ops per element */
    cpu_parallel_range(be, T, (int64_t)n_heads * rot_dim * 8, 1, rope_rows, &r);
    return 0;
}
