/* Internals of the emulated cuBLAS shared by cublas_emu.cpp (handles, argument checks)
 * and cublas_gemm_emu.cpp (the computation): one validated GEMM call. */
#ifndef PISTON_CUBLAS_EMU_INTERNAL_H
#define PISTON_CUBLAS_EMU_INTERNAL_H
#include "cublas_emu.h"

struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
    cublasPointerMode_t pointer_mode;
    void *workspace;
    size_t workspace_bytes;
};

/* A batched GEMM with validated arguments. In host pointer mode alpha/beta were read at
 * call time; in device mode alpha_ptr/beta_ptr are read when the work runs. */
struct SimtGemm {
    const char *fn;
    cublasOperation_t ta, tb;
    int m, n, k, batch;
    const void *A, *B;
    void *C;
    cudaDataType at, bt, ct, scale_type;
    int lda, ldb, ldc;
    long long sa, sb, sc; /* batch strides, in elements */
    double alpha, beta;
    const void *alpha_ptr, *beta_ptr;
};

size_t simt_dtype_size(cudaDataType t);
/* Reads a scale value of type t. */
double simt_load_scalar(const void *p, cudaDataType t);
/* Whether every matrix of every batch lies inside live device memory (stderr if not). */
bool simt_gemm_ranges_ok(const SimtGemm *g);
/* Computes the GEMM; cudaErrorIllegalAddress when a matrix is outside device memory. */
cudaError_t simt_gemm_run(const SimtGemm *g);
#endif
