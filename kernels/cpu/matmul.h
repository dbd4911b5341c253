/* Matrix product internals shared by the driver (matmul.c) and its kernels: the operand
 * formats of the integer path (MATMUL_Q8), the one summation order every kernel follows, and
 * one table of kernels per instruction set (matmul_scalar.c with matmul_pack.c; matmul_avx2.c
 * and matmul_avx512.c, both built from matmul_x86_pack.inc and matmul_x86.inc).
 *
 * Batch invariance. y[t, o] must come out bit-identical whatever T is, whichever rows share
 * the batch, whichever thread or tile computes it and whichever instruction set runs, so
 * every kernel computes one output element in exactly this order:
 *
 *   Q8 path, weight row o, activation row t, n_in = 32 * nb:
 *     acc[0..7] = +0
 *     for b in 0 .. nb-1:                                   (blocks in order)
 *       isum[j] = sum_{k<4} wq[b][4j+k] * xq[b][4j+k]       (exact int32, j = 0..7)
 *       acc[j]  = fma((float)isum[j], wd[b][j] * xd[b], acc[j])
 *     y = hsum8(acc)
 *     kinds with a min:  mm = +0;  for b in 0 .. nb-1: mm = fma(wm[b], xs[b], mm);  y = y + mm
 *   hsum8(v) = ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7))
 *
 *   F32 path, n = n_in:
 *     acc[j] = fma(w[8k+j], x[8k+j], acc[j]) for k in order; y = hsum8(acc);
 *     then y = fma(w[i], x[i], y) for the tail i >= n & ~7
 *
 * Eight int32 lanes of four products each are what one AVX2/AVX-512 vpmaddubsw+vpmaddwd or
 * vpdpbusd produces from a 32-byte block, so SIMD kernels keep one ymm accumulator per
 * output element and the scalar kernel emulates the lanes with fmaf. The min term is one
 * scalar chain per element, which vectorizes across the rows and tokens of a tile instead. */
#ifndef PISTON_MATMUL_H
#define PISTON_MATMUL_H

#include <stdint.h>

#include "kernels/backend.h"

/* CpuState.matmul_isa: which kernels run. AUTO picks the best the CPU supports; tests force
 * the others (a forced ISA the CPU lacks falls back to the best one below it). */
enum { MM_ISA_AUTO = 0, MM_ISA_SCALAR = 1, MM_ISA_AVX2 = 2, MM_ISA_AVX512 = 3 };

/* 1 if this CPU can run the kernels of isa (MM_ISA_SCALAR..AVX512) */
int mm_isa_supported(int isa);

/* Integer kinds of weight types on the Q8 path. SIGNED: wq is the centred integer
 * (Q4_0: q-8, Q5_0: q-16, Q8_0: q, Q6_K: q-32), no min term. MIN: wq is the raw unsigned
 * integer (0..31) and wm carries the min (Q4_1, Q5_1: m; Q4_K, Q5_K: -dmin*m_j). */
enum { MM_KIND_NONE = -1, MM_KIND_SIGNED = 0, MM_KIND_MIN = 1 };

/* MM_KIND_NONE for float types: they take the f32 path */
static inline int mm_kind(DType t) {
    switch (t) {
    case DT_Q4_0: case DT_Q5_0: case DT_Q8_0: case DT_Q6_K: return MM_KIND_SIGNED;
    case DT_Q4_1: case DT_Q5_1: case DT_Q4_K: case DT_Q5_K: return MM_KIND_MIN;
    default: return MM_KIND_NONE;
    }
}

/* 1 for K-quants: their activations get one scale per 256 elements (Q8_K style) */
static inline int mm_act256(DType t) { return t == DT_Q4_K || t == DT_Q5_K || t == DT_Q6_K; }

/* Activations quantized for the integer path: rows of nb blocks of 32, x ~= d * q.
 * Block-32 mode (as llama.cpp's Q8_0/Q8_1): d = fp16(amax / 127), q = rint(x * 127 / amax),
 * s = fp16(d_unrounded * sum(q)). Block-256 mode (Q8_K): one d = max / -127 per 256, stored in
 * each of its eight blocks, q = rint(x * -127 / max), s = d * sum(q). s is stored token-minor
 * so that a tile reads the s of 4 tokens with one load. */
typedef struct QAct {
    int nb;        /* blocks per row */
    int ldst;      /* row stride of st: the number of tokens T */
    int8_t *q;     /* [T, nb, 32] in [-127, 127] */
    float *d;      /* [T, nb] */
    float *st;     /* [nb, ldst] */
} QAct;

/* Weight rows unpacked to the canonical integer form (see the kinds above). The lane scales
 * wd[b][j] cover elements 4j..4j+3 of block b: all eight equal, except Q6_K whose two
 * 16-element halves have their own scales. */
typedef struct QRows {
    int nb;
    int8_t *q;     /* [R, nb, 32] */
    float *d;      /* [R, nb, 8] */
    float *m;      /* [R, nb], MM_KIND_MIN only */
} QRows;

typedef struct MmKernels {
    const char *name;
    unsigned direct_types; /* 1u << t for each weight type t that q8_direct handles */
    /* quantize rows [t0, t0 + nt) of x [T, 32 * a->nb] into the same rows of a */
    void (*quant_act)(const float *x, int t0, int nt, int act256, const QAct *a);
    /* nr rows of weight type t (first at w, row_bytes apart) into rows [0, nr) of out;
     * returns 0 when this ISA has no unpacker for t (the caller then uses the scalar one) */
    int (*unpack)(DType t, const uint8_t *w, int64_t row_bytes, int nr, const QRows *out);
    /* y[i * ldy + r] = row r of w . activation row t0 + i, r < nr, i < nt */
    void (*q8_rows)(const QRows *w, int nr, int kind, const QAct *a, int t0, int nt, float *y, int64_t ldy);
    /* the same straight from the weight blocks, for the types in direct_types (returns 0 for
     * others); the driver uses it for batches of up to MM_DIRECT_MAX_T tokens */
    int (*q8_direct)(DType t, const uint8_t *w, int64_t row_bytes, int nr, const QAct *a, int t0, int nt,
                     float *y, int64_t ldy);
    /* F32 path: nr weight rows of n_in elements to f32 out [nr, n_in], bit-identical to
     * dtype_dequantize_row; returns 0 when this ISA has no dequantizer for t */
    int (*dequant)(DType t, const uint8_t *w, int64_t row_bytes, int nr, int64_t n_in, float *out);
    /* F32 path: y[i * ldy + r] = w[r, :n] . x[i, :n] for w [nr, ldw], x [nt, ldx] */
    void (*f32_rows)(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt, int64_t n,
                     float *y, int64_t ldy);
} MmKernels;

/* Up to this many tokens the direct kernels (weights unpacked in registers) beat unpacking the
 * rows to scratch first; beyond, the unpacked tiles' lighter activation traffic wins. On Zen 4
 * a single matmul measured equal at 16 tokens, but in whole decode steps of 32 sequences the
 * direct path was 10% faster (bench throughput, 32 x 16 in / 64 out): the unpacked copy of
 * every weight (68 bytes a block from 20) costs more than one matmul shows. */
#define MM_DIRECT_MAX_T 32

/* the most weights cpu_matmul_n runs as one group (q, k, v) */
#define MM_GROUP_MAX 4

extern const MmKernels mm_kernels_scalar;
#if defined(__x86_64__)
extern const MmKernels mm_kernels_avx2;
extern const MmKernels mm_kernels_avx512;
#endif

/* The kernels for isa (MM_ISA_AUTO: the best this CPU runs; a forced ISA the CPU lacks falls
 * back to the best one below it). matmul_isa.c. */
const MmKernels *mm_pick(int isa);

/* Portable pieces (matmul_pack.c), also the reference the SIMD versions must match bit for bit. */
void mm_quant_act_scalar(const float *x, int t0, int nt, int act256, const QAct *a);
int mm_unpack_scalar(DType t, const uint8_t *w, int64_t row_bytes, int nr, const QRows *out);

#endif
