/* Arithmetic on the emulator's __half and __nv_bfloat16 (and their pairs), included from
 * simt_fp16.h. The hardware rounds each op once from the exact result; here + - * of two
 * 16-bit values are exact in double (or, for bf16 sums, rounded to double with enough
 * guard bits that the second rounding cannot differ), / rounds through double which is
 * innocuous for 53 >= 2*11+2 bits, and fma rounds the exact sum to double with
 * round-to-odd so the final rounding is still correct. */
#ifndef PISTON_SIMT_FP16_OPS_H
#define PISTON_SIMT_FP16_OPS_H
#include <math.h>

/* a*b + c as a double rounded to odd: exact a*b (<= 22 significant bits), TwoSum for the
 * sum, then the sticky bit folded into the last place. */
static inline double simt_fma_round_odd(double a, double b, double c) {
    double p = a * b, s = p + c, bp = s - p, lo = (p - (s - bp)) + (c - bp);
    if (lo == 0 || !isfinite(s)) return s;
    uint64_t u;
    memcpy(&u, &s, sizeof u);
    if (u & 1) return s;
    return nextafter(s, lo > 0 ? INFINITY : -INFINITY);
}

/* __hmax/__hmin as CUDA documents them: a NaN operand yields the other one (both NaN:
 * the canonical 0x7FFF), and +0 counts as larger than -0. */
static inline unsigned short simt_minmax16(unsigned short a, unsigned short b, float fa, float fb, bool max) {
    if (fa != fa) return fb != fb ? (unsigned short)0x7fff : b;
    if (fb != fb) return a;
    if (fa == 0 && fb == 0) return (unsigned short)(max ? (a & b) : (a | b)); /* sign bits only */
    return (max ? fa > fb : fa < fb) ? a : b;
}

#define SIMT_DEFINE_16BIT_OPS(T, T2, MAKE, FROM64)                                          \
    static inline T __hadd(T a, T b) { return MAKE(FROM64((double)(float)a + (float)b)); }   \
    static inline T __hsub(T a, T b) { return MAKE(FROM64((double)(float)a - (float)b)); }   \
    static inline T __hmul(T a, T b) { return MAKE(FROM64((double)(float)a * (float)b)); }   \
    static inline T __hdiv(T a, T b) { return MAKE(FROM64((double)(float)a / (float)b)); }   \
    static inline T __hfma(T a, T b, T c) {                                                 \
        return MAKE(FROM64(simt_fma_round_odd((float)a, (float)b, (float)c)));              \
    }                                                                                       \
    static inline T __hneg(T a) { return MAKE((unsigned short)(a.__x ^ 0x8000u)); }          \
    static inline T __habs(T a) { return MAKE((unsigned short)(a.__x & 0x7fffu)); }          \
    static inline bool __hisnan(T a) { return isnan((float)a); }                            \
    static inline int __hisinf(T a) {                                                       \
        float f = a;                                                                        \
        return isinf(f) ? (f < 0 ? -1 : 1) : 0;                                             \
    }                                                                                       \
    static inline T __hmax(T a, T b) { return MAKE(simt_minmax16(a.__x, b.__x, a, b, true)); } \
    static inline T __hmin(T a, T b) { return MAKE(simt_minmax16(a.__x, b.__x, a, b, false)); } \
    static inline bool __heq(T a, T b) { return (float)a == (float)b; }                     \
    static inline bool __hne(T a, T b) { return (float)a < (float)b || (float)a > (float)b; } \
    static inline bool __hneu(T a, T b) { return !((float)a == (float)b); }                 \
    static inline bool __hlt(T a, T b) { return (float)a < (float)b; }                      \
    static inline bool __hle(T a, T b) { return (float)a <= (float)b; }                     \
    static inline bool __hgt(T a, T b) { return (float)a > (float)b; }                      \
    static inline bool __hge(T a, T b) { return (float)a >= (float)b; }                     \
    static inline T operator+(const T &a, const T &b) { return __hadd(a, b); }              \
    static inline T operator-(const T &a, const T &b) { return __hsub(a, b); }              \
    static inline T operator*(const T &a, const T &b) { return __hmul(a, b); }              \
    static inline T operator/(const T &a, const T &b) { return __hdiv(a, b); }              \
    static inline T &operator+=(T &a, const T &b) { return a = __hadd(a, b); }             \
    static inline T &operator-=(T &a, const T &b) { return a = __hsub(a, b); }             \
    static inline T &operator*=(T &a, const T &b) { return a = __hmul(a, b); }             \
    static inline T &operator/=(T &a, const T &b) { return a = __hdiv(a, b); }             \
    static inline T operator-(const T &a) { return __hneg(a); }                             \
    static inline T operator+(const T &a) { return a; }                                     \
    static inline bool operator==(const T &a, const T &b) { return __heq(a, b); }           \
    static inline bool operator!=(const T &a, const T &b) { return __hneu(a, b); }          \
    static inline bool operator<(const T &a, const T &b) { return __hlt(a, b); }            \
    static inline bool operator<=(const T &a, const T &b) { return __hle(a, b); }           \
    static inline bool operator>(const T &a, const T &b) { return __hgt(a, b); }            \
    static inline bool operator>=(const T &a, const T &b) { return __hge(a, b); }           \
    static inline T2 __hadd2(T2 a, T2 b) { return T2(__hadd(a.x, b.x), __hadd(a.y, b.y)); } \
    static inline T2 __hsub2(T2 a, T2 b) { return T2(__hsub(a.x, b.x), __hsub(a.y, b.y)); } \
    static inline T2 __hmul2(T2 a, T2 b) { return T2(__hmul(a.x, b.x), __hmul(a.y, b.y)); } \
    static inline T2 __h2div(T2 a, T2 b) { return T2(__hdiv(a.x, b.x), __hdiv(a.y, b.y)); } \
    static inline T2 __hfma2(T2 a, T2 b, T2 c) {                                            \
        return T2(__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y));                            \
    }                                                                                       \
    static inline T2 __hneg2(T2 a) { return T2(__hneg(a.x), __hneg(a.y)); }                 \
    static inline T2 __habs2(T2 a) { return T2(__habs(a.x), __habs(a.y)); }                 \
    static inline T2 __hmax2(T2 a, T2 b) { return T2(__hmax(a.x, b.x), __hmax(a.y, b.y)); } \
    static inline T2 __hmin2(T2 a, T2 b) { return T2(__hmin(a.x, b.x), __hmin(a.y, b.y)); } \
    static inline T2 __lowhigh2highlow(T2 a) { return T2(a.y, a.x); }                       \
    static inline T2 operator+(const T2 &a, const T2 &b) { return __hadd2(a, b); }          \
    static inline T2 operator-(const T2 &a, const T2 &b) { return __hsub2(a, b); }          \
    static inline T2 operator*(const T2 &a, const T2 &b) { return __hmul2(a, b); }          \
    static inline T2 operator/(const T2 &a, const T2 &b) { return __h2div(a, b); }          \
    static inline T2 &operator+=(T2 &a, const T2 &b) { return a = __hadd2(a, b); }          \
    static inline T2 &operator*=(T2 &a, const T2 &b) { return a = __hmul2(a, b); }

SIMT_DEFINE_16BIT_OPS(__half, __half2, simt_make_half, simt_f64_to_f16)
SIMT_DEFINE_16BIT_OPS(__nv_bfloat16, __nv_bfloat162, simt_make_bf16, simt_f64_to_bf16)
#undef SIMT_DEFINE_16BIT_OPS

static inline __half2 __lows2half2(__half2 a, __half2 b) { return __half2(a.x, b.x); }
static inline __half2 __highs2half2(__half2 a, __half2 b) { return __half2(a.y, b.y); }

/* Half-precision versions of common float math, rounded from the float result. */
static inline __half hsqrt(__half a) { return __float2half(sqrtf(a)); }
static inline __half hexp(__half a) { return __float2half(expf(a)); }
static inline __half hrsqrt(__half a) { return __float2half(1.0f / sqrtf(a)); }
static inline __nv_bfloat16 hsqrt(__nv_bfloat16 a) { return __float2bfloat16(sqrtf(a)); }
static inline __nv_bfloat16 hexp(__nv_bfloat16 a) { return __float2bfloat16(expf(a)); }
static inline __nv_bfloat16 hrsqrt(__nv_bfloat16 a) { return __float2bfloat16(1.0f / sqrtf(a)); }
#endif
