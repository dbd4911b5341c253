/* CUDA device intrinsics and math for the SIMT emulator: fast-math functions (computed
 * at full precision here, so results can be slightly better than the GPU's approximate
 * __expf and friends: compare with a tolerance), IEEE-rounded arithmetic, bit casts,
 * saturating float->int conversions as cvt.rni/rzi do (NaN -> 0), bit tricks, byte-wise
 * SIMD, the device min/max overloads, cache-hint loads/stores (plain accesses here) and
 * clock64. */
#ifndef PISTON_SIMT_INTRIN_H
#define PISTON_SIMT_INTRIN_H
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* glibc already declares these names (noexcept, C linkage) as aliases of expf & co;
 * redefining them inline with the same signature keeps one declaration valid for both. */
inline float __expf(float x) noexcept { return expf(x); }
inline float __exp10f(float x) noexcept { return powf(10.0f, x); }
inline float __logf(float x) noexcept { return logf(x); }
inline float __log2f(float x) noexcept { return log2f(x); }
inline float __log10f(float x) noexcept { return log10f(x); }
inline float __powf(float x, float y) noexcept { return powf(x, y); }
inline float __sinf(float x) noexcept { return sinf(x); }
inline float __cosf(float x) noexcept { return cosf(x); }
inline float __tanf(float x) noexcept { return tanf(x); }
inline void __sincosf(float x, float *s, float *c) noexcept { *s = sinf(x); *c = cosf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }

static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
static inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, 8); return i; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }

/* Saturating conversions of an already rounded value: out-of-range clamps, NaN gives 0
 * (64-bit destinations give INT64_MIN for NaN, as PTX specifies). */
static inline int simt_sat_i32(double r) {
    return r != r ? 0 : r >= 2147483647.0 ? 2147483647 : r <= -2147483648.0 ? (-2147483647 - 1) : (int)r;
}
static inline unsigned simt_sat_u32(double r) {
    return r != r ? 0u : r >= 4294967295.0 ? 4294967295u : r <= 0.0 ? 0u : (unsigned)r;
}
static inline long long simt_sat_i64(double r) {
    return r != r || r <= -9223372036854775808.0 ? (long long)INT64_MIN
         : r >= 9223372036854775807.0 ? INT64_MAX : (long long)r;
}
static inline int __float2int_rn(float x) { return simt_sat_i32(nearbyint((double)x)); }
static inline int __float2int_rz(float x) { return simt_sat_i32(trunc((double)x)); }
static inline int __float2int_rd(float x) { return simt_sat_i32(floor((double)x)); }
static inline int __float2int_ru(float x) { return simt_sat_i32(ceil((double)x)); }
static inline unsigned __float2uint_rn(float x) { return simt_sat_u32(nearbyint((double)x)); }
static inline unsigned __float2uint_rz(float x) { return simt_sat_u32(trunc((double)x)); }
static inline long long __float2ll_rn(float x) { return simt_sat_i64(nearbyint((double)x)); }
static inline long long __float2ll_rz(float x) { return simt_sat_i64(trunc((double)x)); }
static inline int __double2int_rn(double x) { return simt_sat_i32(nearbyint(x)); }
static inline float __int2float_rn(int x) { return (float)x; }
static inline float __uint2float_rn(unsigned x) { return (float)x; }
static inline float __ll2float_rn(long long x) { return (float)x; }

static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
static inline unsigned long long __brevll(unsigned long long x) {
    return ((unsigned long long)__brev((unsigned)x) << 32) | __brev((unsigned)(x >> 32));
}
/* Byte n of the result is byte (s >> 4n) & 7 of the 8-byte value {y, x}. */
static inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    unsigned long long v = ((unsigned long long)y << 32) | x;
    unsigned r = 0;
    for (int n = 0; n < 4; n++) r |= (unsigned)((v >> (8 * ((s >> (4 * n)) & 7))) & 0xff) << (8 * n);
    return r;
}
static inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned sh) {
    return (unsigned)(((((unsigned long long)hi << 32) | lo) << (sh & 31)) >> 32);
}
static inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned sh) {
    return (unsigned)((((unsigned long long)hi << 32) | lo) >> (sh & 31));
}
static inline unsigned __funnelshift_lc(unsigned lo, unsigned hi, unsigned sh) {
    return sh >= 32 ? lo : __funnelshift_l(lo, hi, sh);
}
static inline unsigned __funnelshift_rc(unsigned lo, unsigned hi, unsigned sh) {
    return sh >= 32 ? hi : __funnelshift_r(lo, hi, sh);
}
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
static inline long long __mul64hi(long long a, long long b) { return (long long)(((__int128)a * b) >> 64); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static inline int __mul24(int a, int b) {
    long long x = (long long)(a & 0xffffff) << 40 >> 40, y = (long long)(b & 0xffffff) << 40 >> 40;
    return (int)(unsigned)(x * y);
}
static inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
static inline unsigned __sad(int x, int y, unsigned z) { return (x > y ? (unsigned)x - (unsigned)y : (unsigned)y - (unsigned)x) + z; }
static inline unsigned __usad(unsigned x, unsigned y, unsigned z) { return (x > y ? x - y : y - x) + z; }

/* Four-way byte dot products accumulate modulo 2^32, as dp4a does. */
static inline int __dp4a(int a, int b, int c) {
    unsigned acc = (unsigned)c;
    for (int i = 0; i < 4; i++) acc += (unsigned)((int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i)));
    return (int)acc;
}
static inline unsigned __dp4a(unsigned a, unsigned b, unsigned c) {
    for (int i = 0; i < 4; i++) c += ((a >> (8 * i)) & 0xffu) * ((b >> (8 * i)) & 0xffu);
    return c;
}
static inline unsigned simt_bytewise(unsigned a, unsigned b, int op) {
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        unsigned x = (a >> (8 * i)) & 0xffu, y = (b >> (8 * i)) & 0xffu;
        unsigned v = op == 0 ? x + y : op == 1 ? x - y : (x > y ? x - y : y - x);
        r |= (v & 0xffu) << (8 * i);
    }
    return r;
}
static inline unsigned __vadd4(unsigned a, unsigned b) { return simt_bytewise(a, b, 0); }
static inline unsigned __vsub4(unsigned a, unsigned b) { return simt_bytewise(a, b, 1); }
static inline unsigned __vabsdiffu4(unsigned a, unsigned b) { return simt_bytewise(a, b, 2); }

/* Device min/max as CUDA overloads them (mixed signedness compares as unsigned). */
#define SIMT_MINMAX(R, A, B)                                              \
    static inline R min(A a, B b) { return (R)a < (R)b ? (R)a : (R)b; } \
    static inline R max(A a, B b) { return (R)a > (R)b ? (R)a : (R)b; }
SIMT_MINMAX(int, int, int)
SIMT_MINMAX(unsigned, unsigned, unsigned)
SIMT_MINMAX(unsigned, int, unsigned)
SIMT_MINMAX(unsigned, unsigned, int)
SIMT_MINMAX(long, long, long)
SIMT_MINMAX(unsigned long, unsigned long, unsigned long)
SIMT_MINMAX(long long, long long, long long)
SIMT_MINMAX(unsigned long long, unsigned long long, unsigned long long)
SIMT_MINMAX(unsigned long long, long long, unsigned long long)
SIMT_MINMAX(unsigned long long, unsigned long long, long long)
#undef SIMT_MINMAX
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
static inline double min(float a, double b) { return fmin(a, b); }
static inline double max(float a, double b) { return fmax(a, b); }
static inline double min(double a, float b) { return fmin(a, b); }
static inline double max(double a, float b) { return fmax(a, b); }

/* Cache-hinted loads and stores are plain accesses on the host. */
template <typename T> static inline T __ldg(const T *p) { return *p; }
template <typename T> static inline T __ldcg(const T *p) { return *p; }
template <typename T> static inline T __ldca(const T *p) { return *p; }
template <typename T> static inline T __ldcs(const T *p) { return *p; }
template <typename T> static inline T __ldlu(const T *p) { return *p; }
template <typename T> static inline T __ldcv(const T *p) { return *p; }
template <typename T> static inline void __stcg(T *p, T v) { *p = v; }
template <typename T> static inline void __stcs(T *p, T v) { *p = v; }
template <typename T> static inline void __stwb(T *p, T v) { *p = v; }
template <typename T> static inline void __stwt(T *p, T v) { *p = v; }

static inline long long clock64(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_system(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif
