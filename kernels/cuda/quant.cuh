/* The GGUF element types on the GPU, as 32-element sub-blocks: deq32<TYPE>(row, sub, out)
 * writes elements [32 sub, 32 sub + 32) of a row as f32, in the formulas and operation order
 * of kernels/cpu/quant.c (so the two backends dequantize to the same floats). Every type
 * Piston reads is a whole number of 32-element sub-blocks: the simple types are one block of
 * 32; the K types are blocks of 256 holding 8 sub-blocks. Block fields are read byte-wise:
 * GGUF blocks of 18, 22 or 34 bytes are not aligned for wider loads. */
#ifndef PISTON_CUDA_QUANT_CUH
#define PISTON_CUDA_QUANT_CUH

#include "kernels/cuda/cuda_device.cuh"

#include "kernels/backend.h"

/* K-quants' 6-bit scale and min of sub-block j, packed in scales[12] */
__device__ __forceinline__ void kq_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

__device__ __forceinline__ uint32_t u32_at(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

template <int TYPE>
__device__ __forceinline__ void deq32(const uint8_t *row, int sub, float *y) {
    if constexpr (TYPE == DT_F32) {
        const float *r = (const float *)row + 32 * sub;
        for (int j = 0; j < 32; j++) y[j] = r[j];
    } else if constexpr (TYPE == DT_F16) {
        const __half *r = (const __half *)row + 32 * sub;
        for (int j = 0; j < 32; j++) y[j] = __half2float(r[j]);
    } else if constexpr (TYPE == DT_BF16) {
        const __nv_bfloat16 *r = (const __nv_bfloat16 *)row + 32 * sub;
        for (int j = 0; j < 32; j++) y[j] = __bfloat162float(r[j]);
    } else if constexpr (TYPE == DT_Q4_0) { /* d; 16 bytes: low nibbles 0..15, high 16..31; x = d (q - 8) */
        const uint8_t *b = row + 18 * sub;
        float d = half_at(b);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((b[2 + j] & 0x0f) - 8);
            y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
        }
    } else if constexpr (TYPE == DT_Q4_1) { /* d, m; x = d q + m */
        const uint8_t *b = row + 20 * sub;
        float d = half_at(b), m = half_at(b + 2);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(b[4 + j] & 0x0f) + m;
            y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
        }
    } else if constexpr (TYPE == DT_Q5_0) { /* d; qh: 5th bits; x = d (q - 16) */
        const uint8_t *b = row + 22 * sub;
        float d = half_at(b);
        uint32_t qh = u32_at(b + 2);
        for (int j = 0; j < 16; j++) {
            int lo = (b[6 + j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (b[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    } else if constexpr (TYPE == DT_Q5_1) { /* d, m; qh; x = d q + m */
        const uint8_t *b = row + 24 * sub;
        float d = half_at(b), m = half_at(b + 2);
        uint32_t qh = u32_at(b + 4);
        for (int j = 0; j < 16; j++) {
            int lo = (b[8 + j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (b[8 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        }
    } else if constexpr (TYPE == DT_Q8_0) { /* d; 32 int8; x = q d */
        const uint8_t *b = row + 34 * sub;
        float d = half_at(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    } else if constexpr (TYPE == DT_Q4_K || TYPE == DT_Q5_K) {
        /* 256: d, dmin, scales[12], (Q5_K: qh[32]), qs[128]; sub-block j is nibble (j & 1) of
         * qs[32 (j / 2) ..]; Q5_K's 5th bit of element l is bit j of qh[l] */
        const uint8_t *b = row + (TYPE == DT_Q4_K ? 144 : 176) * (sub / 8);
        int j = sub % 8, sc, m;
        kq_scale_min(b + 4, j, &sc, &m);
        float dl = half_at(b) * (float)sc, ml = half_at(b + 2) * (float)m;
        const uint8_t *qh = b + 16, *q = b + (TYPE == DT_Q4_K ? 16 : 48) + 32 * (j / 2);
        int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) {
            int v = (q[l] >> shift) & 0x0f;
            if constexpr (TYPE == DT_Q5_K) v |= ((qh[l] >> j) & 1) << 4;
            y[l] = dl * (float)v - ml;
        }
    } else if constexpr (TYPE == DT_Q6_K) {
        /* 256: ql[128], qh[64], scales[16] int8, d; halves of 128 of 4 quarters k of 32;
         * element l of quarter k: low 4 bits nibble k / 2 of ql[l + 32 (k & 1)], top 2 bits
         * bits 2k of qh[l]; scale of 16 elements */
        const uint8_t *b = row + 210 * (sub / 8);
        int half = (sub % 8) / 4, k = sub % 4;
        const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        const int8_t *sc = (const int8_t *)(b + 192) + 8 * half;
        float d = half_at(b + 208);
        for (int l = 0; l < 32; l++) {
            int e = 32 * k + l;
            int lo = (ql[l + 32 * (k & 1)] >> (4 * (k / 2))) & 0x0f;
            int hi = (qh[l] >> (2 * k)) & 3;
            float dl = d * (float)sc[e / 16];
            y[l] = dl * (float)((lo | (hi << 4)) - 32);
        }
    }
}

/* Calls F<TYPE>::run(args...) for the runtime type t; -ENOSYS for a type with no kernel. */
#define QUANT_DISPATCH(t, F, ...)                                      \
    ((t) == DT_F32    ? F<DT_F32>::run(__VA_ARGS__)                    \
     : (t) == DT_F16  ? F<DT_F16>::run(__VA_ARGS__)                    \
     : (t) == DT_BF16 ? F<DT_BF16>::run(__VA_ARGS__)                   \
     : (t) == DT_Q4_0 ? F<DT_Q4_0>::run(__VA_ARGS__)                   \
     : (t) == DT_Q4_1 ? F<DT_Q4_1>::run(__VA_ARGS__)                   \
     : (t) == DT_Q5_0 ? F<DT_Q5_0>::run(__VA_ARGS__)                   \
     : (t) == DT_Q5_1 ? F<DT_Q5_1>::run(__VA_ARGS__)                   \
     : (t) == DT_Q8_0 ? F<DT_Q8_0>::run(__VA_ARGS__)                   \
     : (t) == DT_Q4_K ? F<DT_Q4_K>::run(__VA_ARGS__)                   \
     : (t) == DT_Q5_K ? F<DT_Q5_K>::run(__VA_ARGS__)                   \
     : (t) == DT_Q6_K ? F<DT_Q6_K>::run(__VA_ARGS__)                   \
                      : -ENOSYS)

#endif
