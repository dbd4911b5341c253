/* Portable kernels of the matrix product: the fallback on CPUs without AVX2, and the
 * executable statement of the summation order in matmul.h that the SIMD kernels reproduce
 * bit for bit (the eight vector lanes are emulated with fmaf, so the rounding is the same). */
#include <math.h>

#include "kernels/cpu/matmul.h"

/* hsum8 of matmul.h: ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)) */
static float hsum8(const float v[8]) {
    float s0 = v[0] + v[4], s1 = v[1] + v[5], s2 = v[2] + v[6], s3 = v[3] + v[7];
    return (s0 + s2) + (s1 + s3);
}

static float q8_dot(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, int nb) {
    float acc[8] = {0};
    for (int b = 0; b < nb; b++, wq += 32, wd += 8, xq += 32) {
        for (int j = 0; j < 8; j++) {
            int32_t isum = 0;
            for (int k = 4 * j; k < 4 * j + 4; k++) isum += (int32_t)wq[k] * xq[k];
            acc[j] = fmaf((float)isum, wd[j] * xd[b], acc[j]);
        }
    }
    return hsum8(acc);
}

static void q8_rows_scalar(const QRows *w, int nr, int kind, const QAct *a, int t0, int nt, float *y,
                           int64_t ldy) {
    int nb = w->nb;
    for (int i = 0; i < nt; i++) {
        int64_t t = t0 + i;
        const int8_t *xq = a->q + t * nb * 32;
        const float *xd = a->d + t * nb, *xs = a->st + t;
        for (int r = 0; r < nr; r++) {
            float v = q8_dot(w->q + (int64_t)r * nb * 32, w->d + (int64_t)r * nb * 8, xq, xd, nb);
            if (kind == MM_KIND_MIN) {
                const float *wm = w->m + (int64_t)r * nb;
                float mm = 0.0f;
                for (int b = 0; b < nb; b++) mm = fmaf(wm[b], xs[(int64_t)b * a->ldst], mm);
                v = v + mm;
            }
            y[i * ldy + r] = v;
        }
    }
}

static void f32_rows_scalar(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt, int64_t n,
                            float *y, int64_t ldy) {
    int64_t n8 = n & ~(int64_t)7;
    for (int i = 0; i < nt; i++) {
        const float *xr = x + i * ldx;
        for (int r = 0; r < nr; r++) {
            const float *wr = w + r * ldw;
            float acc[8] = {0};
            for (int64_t k = 0; k < n8; k += 8)
                for (int j = 0; j < 8; j++) acc[j] = fmaf(wr[k + j], xr[k + j], acc[j]);
            float v = hsum8(acc);
            for (int64_t k = n8; k < n; k++) v = fmaf(wr[k], xr[k], v);
            y[i * ldy + r] = v;
        }
    }
}

static int q8_direct_none(DType t, const uint8_t *w, int64_t row_bytes, int nr, const QAct *a, int t0, int nt,
                          float *y, int64_t ldy) {
    return 0;
}

static int dequant_scalar(DType t, const uint8_t *w, int64_t row_bytes, int nr, int64_t n_in, float *out) {
    for (int r = 0; r < nr; r++) dtype_dequantize_row(t, w + r * row_bytes, out + r * n_in, n_in);
    return 1;
}

const MmKernels mm_kernels_scalar = {
    .name = "scalar",
    .quant_act = mm_quant_act_scalar,
    .unpack = mm_unpack_scalar,
    .q8_rows = q8_rows_scalar,
    .q8_direct = q8_direct_none,
    .dequant = dequant_scalar,
    .f32_rows = f32_rows_scalar,
};
