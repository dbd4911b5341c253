/* The operands of the integer matrix product (MATMUL_Q8), in portable C: quantizing f32
 * activation rows to 8-bit blocks, and unpacking weight rows of every quantized type to the
 * canonical form of matmul.h (32 integers and 8 lane scales per block, plus the min term).
 * These are the reference the SIMD versions in matmul_x86_pack.inc must match bit for bit,
 * and the fallback on CPUs without them.
 *
 * Activation quantization follows llama.cpp's choices (so that logits track llama.cpp's):
 * Q8_0/Q8_1-style blocks of 32 with an fp16 scale for the 32-element weight types, and
 * Q8_K-style scales per 256 for the K-quants. */
#include <assert.h>
#include <math.h>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"

/* x * scale rounded to the nearest integer, ties to even (what vcvtps2dq does), clamped to
 * the int8 range; NaN gives 0 rather than undefined behaviour. */
static int8_t round_q8(float v) {
    float r = nearbyintf(v);
    if (!(r > -128.0f && r < 128.0f)) return r >= 128.0f ? 127 : r <= -128.0f ? -128 : 0;
    return (int8_t)r;
}

/* fp16 rounding of the block sum term; kept in f32 if fp16 would overflow to inf (llama.cpp
 * would store inf there, which turns a merely large activation into NaN logits). */
static float round_s16(float s) {
    float r = fp16_round(s);
    return isinf(r) ? s : r;
}

/* one row: q [nb, 32], d [nb], s [nb] at stride lds */
static void quant_row32(const float *x, int nb, int8_t *q, float *d, float *s, int64_t lds) {
    for (int b = 0; b < nb; b++, x += 32, q += 32) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float dd = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            q[i] = round_q8(x[i] * id);
            sum += q[i];
        }
        d[b] = fp16_round(dd);
        s[b * lds] = round_s16(dd * (float)sum);
    }
}

static void quant_row256(const float *x, int nb, int8_t *q, float *d, float *s, int64_t lds) {
    for (int b8 = 0; b8 < nb; b8 += 8, x += 256) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < 256; i++)
            if (fabsf(x[i]) > amax) {
                amax = fabsf(x[i]);
                max = x[i];
            }
        float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        float dd = amax != 0.0f ? 1.0f / iscale : 0.0f;
        for (int b = b8; b < b8 + 8; b++) {
            int8_t *qb = q + (int64_t)b * 32;
            const float *xb = x + (b - b8) * 32;
            int sum = 0;
            for (int i = 0; i < 32; i++) {
                qb[i] = round_q8(xb[i] * iscale);
                sum += qb[i];
            }
            d[b] = dd;
            s[b * lds] = dd * (float)sum;
        }
    }
}

void mm_quant_act_scalar(const float *x, int t0, int nt, int act256, const QAct *a) {
    int64_t n_in = (int64_t)a->nb * 32;
    for (int t = t0; t < t0 + nt; t++) {
        int8_t *q = a->q + t * n_in;
        float *d = a->d + (int64_t)t * a->nb, *s = a->st + t;
        if (act256) quant_row256(x + t * n_in, a->nb, q, d, s, a->ldst);
        else quant_row32(x + t * n_in, a->nb, q, d, s, a->ldst);
    }
}

/* ---- weights ---- */

static void set_lanes(float *wd, float lo, float hi) {
    for (int j = 0; j < 4; j++) {
        wd[j] = lo;
        wd[j + 4] = hi;
    }
}

/* Unpacks one row of nb 32-blocks into q [nb, 32], wd [nb, 8], wm [nb]. */
static void unpack_row(DType t, const uint8_t *row, int nb, int8_t *q, float *wd, float *wm) {
    for (int b = 0; b < nb; b++, q += 32, wd += 8) {
        switch (t) {
        case DT_Q4_0: {
            const BlockQ4_0 *k = (const BlockQ4_0 *)row + b;
            for (int i = 0; i < 16; i++) {
                q[i] = (int8_t)((k->qs[i] & 0x0f) - 8);
                q[i + 16] = (int8_t)((k->qs[i] >> 4) - 8);
            }
            float d = fp16_to_f32(k->d);
            set_lanes(wd, d, d);
            break;
        }
        case DT_Q4_1: {
            const BlockQ4_1 *k = (const BlockQ4_1 *)row + b;
            for (int i = 0; i < 16; i++) {
                q[i] = (int8_t)(k->qs[i] & 0x0f);
                q[i + 16] = (int8_t)(k->qs[i] >> 4);
            }
            float d = fp16_to_f32(k->d);
            set_lanes(wd, d, d);
            wm[b] = fp16_to_f32(k->m);
            break;
        }
        case DT_Q5_0: case DT_Q5_1: {
            const uint8_t *qs, *qhp;
            uint16_t dh;
            if (t == DT_Q5_0) {
                const BlockQ5_0 *k = (const BlockQ5_0 *)row + b;
                qs = k->qs, qhp = k->qh, dh = k->d;
            } else {
                const BlockQ5_1 *k = (const BlockQ5_1 *)row + b;
                qs = k->qs, qhp = k->qh, dh = k->d;
                wm[b] = fp16_to_f32(k->m);
            }
            uint32_t qh = load_u32_le(qhp);
            int off = t == DT_Q5_0 ? 16 : 0;
            for (int i = 0; i < 16; i++) {
                q[i] = (int8_t)(((qs[i] & 0x0f) | (((qh >> i) & 1) << 4)) - off);
                q[i + 16] = (int8_t)(((qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4)) - off);
            }
            float d = fp16_to_f32(dh);
            set_lanes(wd, d, d);
            break;
        }
        case DT_Q8_0: {
            const BlockQ8_0 *k = (const BlockQ8_0 *)row + b;
            memcpy(q, k->qs, 32);
            float d = fp16_to_f32(k->d);
            set_lanes(wd, d, d);
            break;
        }
        case DT_Q4_K: case DT_Q5_K: {
            /* block b is sub-block j of super-block b / 8 */
            int j = b & 7;
            const uint8_t *scales, *qs, *qh = NULL;
            uint16_t dh, dminh;
            if (t == DT_Q4_K) {
                const BlockQ4_K *k = (const BlockQ4_K *)row + b / 8;
                scales = k->scales, qs = k->qs, dh = k->d, dminh = k->dmin;
            } else {
                const BlockQ5_K *k = (const BlockQ5_K *)row + b / 8;
                scales = k->scales, qs = k->qs, qh = k->qh, dh = k->d, dminh = k->dmin;
            }
            int sc, m;
            kquant_scale_min(scales, j, &sc, &m);
            const uint8_t *qj = qs + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                int v = (qj[l] >> (4 * (j & 1))) & 0x0f;
                if (qh) v |= ((qh[l] >> j) & 1) << 4;
                q[l] = (int8_t)v;
            }
            float dl = fp16_to_f32(dh) * (float)sc;
            set_lanes(wd, dl, dl);
            wm[b] = -(fp16_to_f32(dminh) * (float)m);
            break;
        }
        case DT_Q6_K: {
            /* block b is 32-element group k = b % 8 of super-block b / 8; see quant.c */
            const BlockQ6_K *k = (const BlockQ6_K *)row + b / 8;
            int g = b & 7, half = g / 4, kk = g & 3;
            const uint8_t *ql = k->ql + 64 * half, *qhp = k->qh + 32 * half;
            for (int l = 0; l < 32; l++) {
                int lo = (ql[l + 32 * (kk & 1)] >> (4 * (kk / 2))) & 0x0f;
                int hi = (qhp[l] >> (2 * kk)) & 3;
                q[l] = (int8_t)((lo | (hi << 4)) - 32);
            }
            float d = fp16_to_f32(k->d);
            set_lanes(wd, d * (float)k->scales[2 * g], d * (float)k->scales[2 * g + 1]);
            break;
        }
        default: assert(!"mm_unpack: not a quantized type"); break;
        }
    }
}

int mm_unpack_scalar(DType t, const uint8_t *w, int64_t row_bytes, int nr, const QRows *out) {
    int kind = mm_kind(t);
    for (int r = 0; r < nr; r++)
        unpack_row(t, w + r * row_bytes, out->nb, out->q + (int64_t)r * out->nb * 32, out->d + (int64_t)r * out->nb * 8,
                   kind == MM_KIND_MIN ? out->m + (int64_t)r * out->nb : NULL);
    return 1;
}
