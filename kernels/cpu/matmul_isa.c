/* Which of the matrix product's kernel tables runs on this CPU (matmul.h): the feature test
 * and the pick, kept apart from the driver (matmul.c) that calls them on every product. */
#include "kernels/cpu/matmul.h"

/* Called on every matmul, so it reads the feature bits libgcc/compiler-rt cached at start-up
 * (cpuid itself traps to the hypervisor in a VM: microseconds). clang 14 cannot test F16C
 * there; every CPU that has AVX2 has it. */
int mm_isa_supported(int isa) {
#if defined(__x86_64__)
#if defined(__clang__)
    int f16c = 1;
#else
    int f16c = __builtin_cpu_supports("f16c");
#endif
    int avx2 = f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == MM_ISA_AVX2) return avx2;
    if (isa == MM_ISA_AVX512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    return isa == MM_ISA_SCALAR;
}

const MmKernels *mm_pick(int isa) {
#if defined(__x86_64__)
    if ((isa == MM_ISA_AUTO || isa == MM_ISA_AVX512) && mm_isa_supported(MM_ISA_AVX512)) return &mm_kernels_avx512;
    if (isa != MM_ISA_SCALAR && mm_isa_supported(MM_ISA_AVX2)) return &mm_kernels_avx2;
#endif
    (void)isa;
    return &mm_kernels_scalar;
}
