/* cuBLAS as the CUDA backend reaches it: a table of the few functions it calls. The product
 * loads libcublas with dlopen when the CUDA backend starts, so that bin/piston starts (and
 * runs on the CPU) on a machine with no CUDA libraries at all; under the SIMT emulator the
 * table points at tests/simt's host GEMM with cuBLAS's semantics, so argument mistakes
 * (a transpose, a leading dimension) fail in CI. */
#ifndef PISTON_CUDA_BLAS_CUH
#define PISTON_CUDA_BLAS_CUH

#include <stddef.h>

#if defined(PISTON_SIMT_EMU)
#include "cublas_emu.h"
#else
#include <cublas_v2.h>
#endif

typedef struct CublasApi {
    void *lib; /* the dlopen handle, or NULL */
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    cublasStatus_t (*set_workspace)(cublasHandle_t, void *, size_t);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                              const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                              cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    const char *(*status_string)(cublasStatus_t);
} CublasApi;

/* 0, or -ENOENT with where it looked in err. */
int cublas_api_load(CublasApi *api, char *err, size_t errlen);
void cublas_api_unload(CublasApi *api);

#endif
