/* The matrix product's kernels for x86-64 with AVX2, FMA and F16C (Haswell, Zen 1 and
 * later). The kernels themselves are in matmul_x86_pack.inc and matmul_x86.inc; this file
 * supplies the 8-bit dot product (vpmaddubsw then vpmaddwd against ones: the u8 x s8 pair
 * sums cannot saturate because weights are at most 128 in magnitude and activations at most
 * 127) and a tile shape that fits AVX2's 16 vector registers. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"

/* every function below, the inlined intrinsics included, is compiled for this target */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#define MM_FN(name) mm_avx2_##name
#define MM_NR 2
#define MM_NT 4
#define MM_DT 4
#define MM_FR 4
#define MM_FT 3

#define MM_INLINE static inline __attribute__((always_inline))

MM_INLINE __m256i mm_dot(__m256i wu, __m256i xs) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(wu, xs), _mm256_set1_epi16(1));
}

#include "kernels/cpu/matmul_x86_pack.inc"
#include "kernels/cpu/matmul_x86.inc"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const MmKernels mm_kernels_avx2 = {
    .name = "avx2",
    .direct_types = 1u << DT_Q4_0 | 1u << DT_Q4_1 | 1u << DT_Q8_0,
    .quant_act = mm_avx2_quant_act,
    .unpack = mm_avx2_unpack,
    .q8_rows = mm_avx2_q8_rows,
    .q8_direct = mm_avx2_q8_direct,
    .dequant = mm_avx2_dequant,
    .f32_rows = mm_avx2_f32_rows,
};
#else
typedef int mm_avx2_unused; /* not x86-64: nothing to compile */
#endif
