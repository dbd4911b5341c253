/* The matrix product's kernels for x86-64 with AVX-512 VNNI (Ice Lake, Zen 4 and later).
 * The kernels are in matmul_x86_pack.inc and matmul_x86.inc; this file supplies the 8-bit dot product as one
 * vpdpbusd and a larger tile, which AVX-512's 32 vector registers can hold. Vectors stay
 * 256 bits wide: a quant block is 32 bytes, Zen 4 splits 512-bit operations in two anyway,
 * and the lane layout must equal the AVX2 and scalar kernels' (see matmul.h). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"

/* every function below, the inlined intrinsics included, is compiled for this target */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#endif

#define MM_FN(name) mm_avx512_##name
#define MM_NR 4
#define MM_NT 4
#define MM_DT 4
#define MM_FR 4
#define MM_FT 4

#define MM_INLINE static inline __attribute__((always_inline))

MM_INLINE __m256i mm_dot(__m256i wu, __m256i xs) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), wu, xs);
}

#include "kernels/cpu/matmul_x86_pack.inc"
#include "kernels/cpu/matmul_x86.inc"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const MmKernels mm_kernels_avx512 = {
    .name = "avx512vnni",
    .direct_types = 1u << DT_Q4_0 | 1u << DT_Q4_1 | 1u << DT_Q8_0,
    .quant_act = mm_avx512_quant_act,
    .unpack = mm_avx512_unpack,
    .q8_rows = mm_avx512_q8_rows,
    .q8_direct = mm_avx512_q8_direct,
    .dequant = mm_avx512_dequant,
    .f32_rows = mm_avx512_f32_rows,
};
#else
typedef int mm_avx512_unused; /* not x86-64: nothing to compile */
#endif
