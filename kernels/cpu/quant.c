/* Dequantization of one row of any supported element type to f32 (dtype_dequantize_row in
 * kernels/backend.h). Used by embedding lookups, by the exact (MATMUL_F32) matrix product,
 * which dequantizes a few rows at a time into scratch, and by tests as the reference.
 *
 * Each formula is written in the same operation order as gguf-py's NumPy dequantizers
 * (e.g. Q4_K is (d*sc)*q - (dmin*m), two roundings), so the results agree bit for bit
 * with the reference vectors in tests/fixtures/. */
#include <assert.h>

#include "kernels/backend.h"
#include "kernels/cpu/quant.h"

static void deq_q4_0(const BlockQ4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
            y[j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_1(const BlockQ4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(b[i].qs[j] & 0x0f) + m;
            y[j + 16] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}

static void deq_q5_0(const BlockQ5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(b[i].d);
        uint32_t qh = load_u32_le(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (b[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

static void deq_q5_1(const BlockQ5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        uint32_t qh = load_u32_le(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (b[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        }
    }
}

static void deq_q8_0(const BlockQ8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

/* Q4_K and Q5_K: sub-block j of 32 is nibble (j & 1) of qs[32*(j/2) .. +32]; Q5_K's fifth
 * bit of element l of sub-block j is bit j of qh[l]. */
static void deq_q4_k(const BlockQ4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, m;
            kquant_scale_min(b[i].scales, j, &sc, &m);
            float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = b[i].qs + 32 * (j / 2);
            int shift = 4 * (j & 1);
            for (int l = 0; l < 32; l++) y[l] = dl * (float)((q[l] >> shift) & 0x0f) - ml;
        }
    }
}

static void deq_q5_k(const BlockQ5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, m;
            kquant_scale_min(b[i].scales, j, &sc, &m);
            float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = b[i].qs + 32 * (j / 2);
            int shift = 4 * (j & 1);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 0x0f) | (((b[i].qh[l] >> j) & 1) << 4);
                y[l] = dl * (float)v - ml;
            }
        }
    }
}

/* Q6_K: each half of 128 elements uses 64 bytes of ql and 32 of qh. Element l + 32*k of the
 * half (k = 0..3) takes its low 4 bits from ql[l + 32*(k & 1)] (nibble k / 2) and its top 2
 * bits from qh[l] bits 2k, 2k+1. Sub-block of 16 e uses scales[e / 16]. */
static void deq_q6_k(const BlockQ6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_f32(b[i].d);
        for (int half = 0; half < 2; half++, y += 128) {
            const uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
            const int8_t *sc = b[i].scales + 8 * half;
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    int e = 32 * k + l;
                    int lo = (ql[l + 32 * (k & 1)] >> (4 * (k / 2))) & 0x0f;
                    int hi = (qh[l] >> (2 * k)) & 3;
                    float dl = d * (float)sc[e / 16];
                    y[e] = dl * (float)((lo | (hi << 4)) - 32);
                }
            }
        }
    }
}

void dtype_dequantize_row(DType t, const void *src, float *dst, int64_t n) {
    int64_t be = dtype_block_elems(t);
    assert(be > 0 && n % be == 0);
    int64_t nb = be > 0 ? n / be : 0;
    switch (t) {
    case DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case DT_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_f32(h[i]);
        break;
    }
    case DT_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
        break;
    }
    case DT_Q4_0: deq_q4_0(src, dst, nb); break;
    case DT_Q4_1: deq_q4_1(src, dst, nb); break;
    case DT_Q5_0: deq_q5_0(src, dst, nb); break;
    case DT_Q5_1: deq_q5_1(src, dst, nb); break;
    case DT_Q8_0: deq_q8_0(src, dst, nb); break;
    case DT_Q4_K: deq_q4_k(src, dst, nb); break;
    case DT_Q5_K: deq_q5_k(src, dst, nb); break;
    case DT_Q6_K: deq_q6_k(src, dst, nb); break;
    default: assert(!"dtype_dequantize_row: unsupported type"); break;
    }
}
