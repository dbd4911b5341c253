/* CUDA atomics for the SIMT emulator. A block's threads are fibers on one OS thread and
 * blocks run one after another, so a plain read-modify-write would already be atomic;
 * the __atomic builtins are used anyway so that a parallel-blocks mode (or two host
 * threads launching at once) stays correct. Relaxed ordering matches CUDA's atomics;
 * __threadfence gives the fences. Floating-point and 16-bit adds are CAS loops. */
#ifndef PISTON_SIMT_ATOMIC_H
#define PISTON_SIMT_ATOMIC_H
#include "simt_fp16.h"

#define SIMT_ATOMIC_RMW(T)                                                                          \
    static inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }     \
    static inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }     \
    static inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }   \
    static inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); }     \
    static inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }       \
    static inline T atomicXor(T *p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_RELAXED); }     \
    static inline T atomicCAS(T *p, T cmp, T v) {                                                   \
        __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);         \
        return cmp;                                                                                 \
    }
#define SIMT_ATOMIC_MINMAX(T)                                                                       \
    static inline T atomicMax(T *p, T v) {                                                          \
        T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                               \
        while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED,          \
                                                       __ATOMIC_RELAXED)) {}                        \
        return old;                                                                                 \
    }                                                                                               \
    static inline T atomicMin(T *p, T v) {                                                          \
        T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                               \
        while (old > v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED,          \
                                                       __ATOMIC_RELAXED)) {}                        \
        return old;                                                                                 \
    }

SIMT_ATOMIC_RMW(int)
SIMT_ATOMIC_RMW(unsigned int)
SIMT_ATOMIC_RMW(unsigned long long)
SIMT_ATOMIC_MINMAX(int)
SIMT_ATOMIC_MINMAX(unsigned int)
SIMT_ATOMIC_MINMAX(long long)
SIMT_ATOMIC_MINMAX(unsigned long long)
#undef SIMT_ATOMIC_RMW
#undef SIMT_ATOMIC_MINMAX

static inline unsigned short atomicCAS(unsigned short *p, unsigned short cmp, unsigned short v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
static inline unsigned atomicInc(unsigned *p, unsigned limit) {
    unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, old >= limit ? 0u : old + 1, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}
static inline unsigned atomicDec(unsigned *p, unsigned limit) {
    unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, (old == 0 || old > limit) ? limit : old - 1, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}

/* Read-modify-write of a value stored as the integer type U, through a CAS loop. */
template <typename T, typename U, typename F> static inline T simt_atomic_update(T *p, F f) {
    U *q = reinterpret_cast<U *>(p), old = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
    T ov;
    do {
        memcpy(&ov, &old, sizeof ov);
        T r = f(ov);
        memcpy(&nv, &r, sizeof nv);
    } while (!__atomic_compare_exchange_n(q, &old, nv, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return ov;
}
static inline float atomicAdd(float *p, float v) {
    return simt_atomic_update<float, unsigned>(p, [v](float o) { return o + v; });
}
static inline double atomicAdd(double *p, double v) {
    return simt_atomic_update<double, unsigned long long>(p, [v](double o) { return o + v; });
}
static inline float atomicExch(float *p, float v) {
    return simt_atomic_update<float, unsigned>(p, [v](float) { return v; });
}
static inline __half atomicAdd(__half *p, __half v) {
    return simt_atomic_update<__half, unsigned short>(p, [v](__half o) { return __hadd(o, v); });
}
static inline __nv_bfloat16 atomicAdd(__nv_bfloat16 *p, __nv_bfloat16 v) {
    return simt_atomic_update<__nv_bfloat16, unsigned short>(p, [v](__nv_bfloat16 o) { return __hadd(o, v); });
}
static inline __half2 atomicAdd(__half2 *p, __half2 v) {
    return simt_atomic_update<__half2, unsigned>(p, [v](__half2 o) { return __hadd2(o, v); });
}
static inline __nv_bfloat162 atomicAdd(__nv_bfloat162 *p, __nv_bfloat162 v) {
    return simt_atomic_update<__nv_bfloat162, unsigned>(p, [v](__nv_bfloat162 o) { return __hadd2(o, v); });
}
#endif
