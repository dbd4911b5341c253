/* Splitting [0, n) across the CPU backend's thread pool, for the row and elementwise ops
 * (embed.c, norm.c, rope.c, elementwise.c), and the instruction-set check they share. */
#ifndef PISTON_CPU_PARALLEL_H
#define PISTON_CPU_PARALLEL_H

#include <stdint.h>

#include "kernels/cpu/cpu_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_X86 1
#else
#define CPU_X86 0
#endif

typedef void (*RangeFn)(void *ctx, int64_t start, int64_t end);

/* Runs fn over [0, n) in chunks that are multiples of `align` items; cost_per_item is a rough
 * element-op count that decides whether waking the pool pays. Results never depend on the
 * split, only the speed does (the ops are written so: see norm.c). */
void cpu_parallel_range(Backend *be, int64_t n, int64_t cost_per_item, int64_t align, RangeFn fn, void *ctx);

/* AVX2 with FMA: enough for these ops, which are bound by memory traffic, not arithmetic. */
int cpu_have_avx2(void);

#endif
