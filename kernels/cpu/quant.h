/* GGML block layouts and half-precision conversions, shared by the dequantizers (quant.c)
 * and the matrix product (matmul*.c). Internal to kernels/cpu/.
 *
 * A quantized row is a run of blocks; within a block the weights are small integers q and
 * the value of element i is d * q_i (symmetric types, q centred on 0) or d * q_i + m
 * (types with a minimum). The K-quants group 8 or 16 sub-blocks under one super-block scale.
 * All multi-byte fields are little-endian, as GGUF stores them; Piston assumes a
 * little-endian host. */
#ifndef PISTON_QUANT_H
#define PISTON_QUANT_H

#include <stdint.h>
#include <string.h>

typedef struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; } BlockQ4_0;  /* x = d*(q-8); q_i low nibble of qs[i], q_{i+16} high */
typedef struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; } BlockQ4_1; /* x = d*q + m */
typedef struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } BlockQ5_0; /* 5th bit of q_i is bit i of qh */
typedef struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } BlockQ5_1;
typedef struct BlockQ8_0 { uint16_t d; int8_t qs[32]; } BlockQ8_0;  /* x = d*q */
/* 8 sub-blocks of 32: x = d*sc_j*q - dmin*m_j with 6-bit sc_j, m_j packed in scales[12] */
typedef struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } BlockQ4_K;
typedef struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } BlockQ5_K;
/* 16 sub-blocks of 16: x = d*scales[j]*(q-32), q 6-bit split over ql (low 4) and qh (high 2) */
typedef struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } BlockQ6_K;

_Static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20, "GGML block layout");
_Static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24, "GGML block layout");
_Static_assert(sizeof(BlockQ8_0) == 34, "GGML block layout");
_Static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176, "GGML block layout");
_Static_assert(sizeof(BlockQ6_K) == 210, "GGML block layout");

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* IEEE half to float, exact (subnormals, infinities and NaN included). */
static inline float fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000 | (man << 13));
    if (exp == 0) /* zero or subnormal: man * 2^-24, exact in float */
        return f32_from_bits(sign | f32_bits((float)man * 0x1p-24f));
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

/* Float to IEEE half, rounding to nearest even, as F16C's vcvtps2ph does. */
static inline uint16_t f32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return sign | 0x7e00;        /* NaN */
    if (ax >= 0x477ff000) return sign | 0x7c00;       /* rounds past 65504: inf */
    if (ax >= 0x38800000) {                            /* normal half */
        uint32_t r = ax - 0x38000000;                  /* rebias 127 -> 15 */
        return sign | (uint16_t)((r + 0xfff + ((r >> 13) & 1)) >> 13);
    }
    int s = 126 - (int)(ax >> 23); /* subnormal half: mantissa >> s, s >= 14 */
    if (s > 24) return sign;
    uint32_t m = (ax & 0x7fffff) | 0x800000;
    uint32_t q = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return sign | (uint16_t)q;
}

static inline float fp16_round(float f) { return fp16_to_f32(f32_to_fp16(f)); }

static inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* f32 to bf16, round to nearest even (a NaN stays a quiet NaN), as __float2bfloat16_rn */
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline uint32_t load_u32_le(const uint8_t *p) { uint32_t u; memcpy(&u, p, 4); return u; }

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block. Bytes 0-3 hold
 * sc_0..3 (low 6 bits) and the top 2 bits of sc_4..7; bytes 4-7 the same for the mins;
 * bytes 8-11 the low 4 bits of sc_4..7 (low nibble) and m_4..7 (high nibble). */
static inline void kquant_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

#endif
