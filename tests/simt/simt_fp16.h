/* 16-bit float types of the SIMT emulator: __half, __nv_bfloat16 and their pairs, with
 * the conversions kernels use. Storage and behaviour follow cuda_fp16.h/cuda_bf16.h:
 * trivially default-constructible (so they can live in __shared__ thread_local arrays),
 * implicit conversion from float/double/integers and to float. Rounding is done once,
 * from the exact double value, to nearest even, with subnormals kept and NaN turned into
 * the canonical 0x7FFF as cvt.rn.f16.f32 / cvt.rn.bf16.f32 do; arithmetic is computed
 * exactly (or with round-to-odd) in double and rounded once, so results are the
 * correctly rounded IEEE results the hardware returns. Arithmetic lives in simt_fp16_ops.h. */
#ifndef PISTON_SIMT_FP16_H
#define PISTON_SIMT_FP16_H
#include <stdint.h>
#include <string.h>
#include "simt_types.h"

/* Round a double to a binary format with `mbits` fraction bits and `ebits` exponent bits
 * (10/5 for f16, 7/8 for bf16); returns the bit pattern. */
static inline unsigned short simt_round_to_small(double d, int mbits, int ebits) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    unsigned sign = (unsigned)(u >> 63) << (mbits + ebits);
    uint64_t a = u & 0x7fffffffffffffffULL;
    unsigned inf = ((1u << ebits) - 1) << mbits;
    if (a >= 0x7ff0000000000000ULL) /* NaN loses sign and payload, like the hardware */
        return (unsigned short)(a == 0x7ff0000000000000ULL ? (sign | inf) : (inf | ((1u << mbits) - 1)));
    if ((a >> 52) == 0) return (unsigned short)sign; /* double subnormal: far below any 16-bit ulp */
    int te = (int)(a >> 52) - 1023 + (1 << (ebits - 1)) - 1; /* biased target exponent */
    uint64_t m = (a & ((1ULL << 52) - 1)) | (1ULL << 52);
    int shift = 52 - mbits;
    if (te < 1) { shift += 1 - te; te = 0; } /* target subnormal: fixed unit 2^(emin-mbits) */
    if (shift > 60) return (unsigned short)sign; /* below a quarter of the smallest subnormal */
    uint64_t q = m >> shift, rem = m & ((1ULL << shift) - 1), half = 1ULL << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    /* A carry out of the fraction moves into the exponent field on its own. */
    uint64_t bits = te ? ((uint64_t)te << mbits) + (q - (1ULL << mbits)) : q;
    if (bits >= inf) bits = inf;
    return (unsigned short)(sign | (unsigned)bits);
}

static inline float simt_bits_as_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t simt_float_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float simt_f16_to_f32(unsigned short h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return simt_bits_as_float(m ? 0x7fffffffu : (sign | 0x7f800000u));
    if (e == 0) { /* subnormal: m * 2^-24 is exact in float */
        float f = (float)m * 5.9604644775390625e-08f;
        return sign ? -f : f;
    }
    return simt_bits_as_float(sign | ((e + 112) << 23) | (m << 13));
}
static inline float simt_bf16_to_f32(unsigned short h) { return simt_bits_as_float((uint32_t)h << 16); }
static inline unsigned short simt_f64_to_f16(double d) { return simt_round_to_small(d, 10, 5); }
static inline unsigned short simt_f64_to_bf16(double d) { return simt_round_to_small(d, 7, 8); }

struct __half_raw { unsigned short x; };
struct __half2_raw { unsigned short x, y; };
struct __nv_bfloat16_raw { unsigned short x; };
struct __nv_bfloat162_raw { unsigned short x, y; };

/* One macro defines both scalar types: they differ only in the rounding function. */
#define SIMT_DEFINE_16BIT(T, RAW, FROM64, TO32)                                       \
    struct __attribute__((aligned(2))) T {                                            \
        unsigned short __x;                                                           \
        T() = default;                                                                \
        constexpr T(const RAW &r) : __x(r.x) {}                                       \
        T(float f) : __x(FROM64((double)f)) {}                                        \
        T(double f) : __x(FROM64(f)) {}                                               \
        T(short v) : __x(FROM64((double)v)) {}                                        \
        T(unsigned short v) : __x(FROM64((double)v)) {}                               \
        T(int v) : __x(FROM64((double)v)) {}                                          \
        T(unsigned int v) : __x(FROM64((double)v)) {}                                 \
        T(long v) : __x(FROM64((double)v)) {}                                         \
        T(unsigned long v) : __x(FROM64((double)v)) {}                                \
        T(long long v) : __x(FROM64((double)v)) {}                                    \
        T(unsigned long long v) : __x(FROM64((double)v)) {}                           \
        operator float() const { return TO32(__x); }                                  \
        operator RAW() const { RAW r; r.x = __x; return r; }                          \
    };

SIMT_DEFINE_16BIT(__half, __half_raw, simt_f64_to_f16, simt_f16_to_f32)
SIMT_DEFINE_16BIT(__nv_bfloat16, __nv_bfloat16_raw, simt_f64_to_bf16, simt_bf16_to_f32)
#undef SIMT_DEFINE_16BIT

#define SIMT_DEFINE_16BIT_PAIR(T2, T, RAW2)                                           \
    struct __attribute__((aligned(4))) T2 {                                           \
        T x, y;                                                                       \
        T2() = default;                                                               \
        constexpr T2(const T &a, const T &b) : x(a), y(b) {}                          \
        T2(const RAW2 &r) { x.__x = r.x; y.__x = r.y; }                               \
        operator RAW2() const { RAW2 r; r.x = x.__x; r.y = y.__x; return r; }         \
    };

SIMT_DEFINE_16BIT_PAIR(__half2, __half, __half2_raw)
SIMT_DEFINE_16BIT_PAIR(__nv_bfloat162, __nv_bfloat16, __nv_bfloat162_raw)
#undef SIMT_DEFINE_16BIT_PAIR

typedef __half half;
typedef __half2 half2;
typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;

static inline __half simt_make_half(unsigned short bits) { __half h; h.__x = bits; return h; }
static inline __nv_bfloat16 simt_make_bf16(unsigned short bits) { __nv_bfloat16 h; h.__x = bits; return h; }

/* Conversions, with CUDA's names. */
static inline __half __float2half(float f) { return simt_make_half(simt_f64_to_f16(f)); }
static inline __half __float2half_rn(float f) { return __float2half(f); }
static inline __half __double2half(double d) { return simt_make_half(simt_f64_to_f16(d)); }
static inline float __half2float(__half h) { return simt_f16_to_f32(h.__x); }
static inline __half __ushort_as_half(unsigned short v) { return simt_make_half(v); }
static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half __short_as_half(short v) { return simt_make_half((unsigned short)v); }
static inline short __half_as_short(__half h) { return (short)h.__x; }
static inline __half __int2half_rn(int v) { return simt_make_half(simt_f64_to_f16(v)); }
static inline __half2 __halves2half2(__half a, __half b) { return __half2(a, b); }
static inline __half2 make_half2(__half a, __half b) { return __half2(a, b); }
static inline __half2 __half2half2(__half a) { return __half2(a, a); }
static inline __half2 __float2half2_rn(float f) { return __half2(__float2half(f), __float2half(f)); }
static inline __half2 __floats2half2_rn(float a, float b) { return __half2(__float2half(a), __float2half(b)); }
static inline __half2 __float22half2_rn(float2 v) { return __floats2half2_rn(v.x, v.y); }
static inline float2 __half22float2(__half2 h) { return make_float2(__half2float(h.x), __half2float(h.y)); }
static inline float __low2float(__half2 h) { return __half2float(h.x); }
static inline float __high2float(__half2 h) { return __half2float(h.y); }
static inline __half __low2half(__half2 h) { return h.x; }
static inline __half __high2half(__half2 h) { return h.y; }

static inline __nv_bfloat16 __float2bfloat16(float f) { return simt_make_bf16(simt_f64_to_bf16(f)); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
static inline __nv_bfloat16 __double2bfloat16(double d) { return simt_make_bf16(simt_f64_to_bf16(d)); }
static inline float __bfloat162float(__nv_bfloat16 h) { return simt_bf16_to_f32(h.__x); }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short v) { return simt_make_bf16(v); }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
static inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162(a, b); }
static inline __nv_bfloat162 make_bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162(a, b); }
static inline __nv_bfloat162 __bfloat162bfloat162(__nv_bfloat16 a) { return __nv_bfloat162(a, a); }
static inline __nv_bfloat162 __float2bfloat162_rn(float f) {
    return __nv_bfloat162(__float2bfloat16(f), __float2bfloat16(f));
}
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return __nv_bfloat162(__float2bfloat16(a), __float2bfloat16(b));
}
static inline __nv_bfloat162 __float22bfloat162_rn(float2 v) { return __floats2bfloat162_rn(v.x, v.y); }
static inline float2 __bfloat1622float2(__nv_bfloat162 h) {
    return make_float2(__bfloat162float(h.x), __bfloat162float(h.y));
}
static inline float __low2float(__nv_bfloat162 h) { return __bfloat162float(h.x); }
static inline float __high2float(__nv_bfloat162 h) { return __bfloat162float(h.y); }
static inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 h) { return h.x; }
static inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 h) { return h.y; }

#include "simt_fp16_ops.h"
#endif
