/* The emulated cuBLAS: handles, status names, and the GEMM entry points' argument checks
 * in cuBLAS's order (handle, operations, sizes, leading dimensions, batch count, type
 * combination, algorithm, scale pointers). A bad argument returns
 * CUBLAS_STATUS_INVALID_VALUE and an unsupported type combination
 * CUBLAS_STATUS_NOT_SUPPORTED, as cuBLAS documents, each with a stderr line naming the
 * argument. Valid calls are submitted to the handle's stream (recorded while it captures)
 * and computed by cublas_gemm_emu.cpp. */
#include "cublas_emu_internal.h"
#include <stdio.h>

const char *cublasGetStatusName(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "an error was detected when checking the current licensing";
    }
    return "unknown error";
}

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        cudaGetLastError(); /* cuBLAS reports through its status, not the runtime's last error */
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    *handle = new cublasContext{nullptr, CUBLAS_DEFAULT_MATH, CUBLAS_POINTER_MODE_HOST, nullptr, 0};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
#define SIMT_HANDLE_SET(NAME, FIELD, T)                                     \
    cublasStatus_t NAME(cublasHandle_t h, T v) {                            \
        if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;                       \
        h->FIELD = v;                                                       \
        return CUBLAS_STATUS_SUCCESS;                                       \
    }
#define SIMT_HANDLE_GET(NAME, FIELD, T)                                     \
    cublasStatus_t NAME(cublasHandle_t h, T *v) {                           \
        if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;                       \
        if (!v) return CUBLAS_STATUS_INVALID_VALUE;                         \
        *v = h->FIELD;                                                      \
        return CUBLAS_STATUS_SUCCESS;                                       \
    }
SIMT_HANDLE_SET(cublasSetStream, stream, cudaStream_t)
SIMT_HANDLE_GET(cublasGetStream, stream, cudaStream_t)
SIMT_HANDLE_SET(cublasSetMathMode, math, cublasMath_t)
SIMT_HANDLE_GET(cublasGetMathMode, math, cublasMath_t)
SIMT_HANDLE_SET(cublasSetPointerMode, pointer_mode, cublasPointerMode_t)
SIMT_HANDLE_GET(cublasGetPointerMode, pointer_mode, cublasPointerMode_t)
#undef SIMT_HANDLE_SET
#undef SIMT_HANDLE_GET

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *workspace, size_t bytes) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->workspace = workspace;
    h->workspace_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t bad(const char *fn, const char *what, int value, const char *rule) {
    fprintf(stderr, "simt: %s: %s = %d %s\n", fn, what, value, rule);
    return CUBLAS_STATUS_INVALID_VALUE;
}

/* The scale type cuBLAS requires for a compute type and A/B/C types, or -1 when the
 * combination is not one cublasGemmEx supports. */
static int scale_type_for(cublasComputeType_t c, cudaDataType ab, cudaDataType ct) {
    switch (c) {
    case CUBLAS_COMPUTE_16F: case CUBLAS_COMPUTE_16F_PEDANTIC:
        return ab == CUDA_R_16F && ct == CUDA_R_16F ? CUDA_R_16F : -1;
    case CUBLAS_COMPUTE_32I: case CUBLAS_COMPUTE_32I_PEDANTIC:
        return ab == CUDA_R_8I && ct == CUDA_R_32I ? CUDA_R_32I : -1;
    case CUBLAS_COMPUTE_64F: case CUBLAS_COMPUTE_64F_PEDANTIC:
        return ab == CUDA_R_64F && ct == CUDA_R_64F ? CUDA_R_64F : -1;
    case CUBLAS_COMPUTE_32F_FAST_16F: case CUBLAS_COMPUTE_32F_FAST_16BF: case CUBLAS_COMPUTE_32F_FAST_TF32:
        return ab == CUDA_R_32F && ct == CUDA_R_32F ? CUDA_R_32F : -1;
    case CUBLAS_COMPUTE_32F: case CUBLAS_COMPUTE_32F_PEDANTIC:
        if ((ab == CUDA_R_16F || ab == CUDA_R_16BF) && (ct == ab || ct == CUDA_R_32F)) return CUDA_R_32F;
        if ((ab == CUDA_R_8I || ab == CUDA_R_32F) && ct == CUDA_R_32F) return CUDA_R_32F;
        return -1;
    }
    return -1;
}

static cublasStatus_t gemm(cublasHandle_t h, SimtGemm g, cublasComputeType_t compute, int algo) {
    const char *fn = g.fn;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (g.ta < CUBLAS_OP_N || g.ta > CUBLAS_OP_C) return bad(fn, "transa", g.ta, "is not CUBLAS_OP_N, _T or _C");
    if (g.tb < CUBLAS_OP_N || g.tb > CUBLAS_OP_C) return bad(fn, "transb", g.tb, "is not CUBLAS_OP_N, _T or _C");
    if (g.m < 0) return bad(fn, "m", g.m, "is negative");
    if (g.n < 0) return bad(fn, "n", g.n, "is negative");
    if (g.k < 0) return bad(fn, "k", g.k, "is negative");
    int arows = g.ta == CUBLAS_OP_N ? g.m : g.k, brows = g.tb == CUBLAS_OP_N ? g.k : g.n;
    if (g.lda < (arows > 1 ? arows : 1))
        return bad(fn, "lda", g.lda, g.ta == CUBLAS_OP_N ? "is less than max(1, m)" : "is less than max(1, k) (A transposed)");
    if (g.ldb < (brows > 1 ? brows : 1))
        return bad(fn, "ldb", g.ldb, g.tb == CUBLAS_OP_N ? "is less than max(1, k)" : "is less than max(1, n) (B transposed)");
    if (g.ldc < (g.m > 1 ? g.m : 1)) return bad(fn, "ldc", g.ldc, "is less than max(1, m)");
    if (g.batch < 0) return bad(fn, "batchCount", g.batch, "is negative");
    int st = g.at == g.bt ? scale_type_for(compute, g.at, g.ct) : -1;
    if (st < 0) {
        fprintf(stderr, "simt: %s: Atype %d, Btype %d, Ctype %d with computeType %d is not a supported combination\n",
                fn, (int)g.at, (int)g.bt, (int)g.ct, (int)compute);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (!(algo >= CUBLAS_GEMM_DEFAULT && algo <= CUBLAS_GEMM_ALGO23) &&
        !(algo >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && algo <= CUBLAS_GEMM_ALGO15_TENSOR_OP)) {
        fprintf(stderr, "simt: %s: algo %d is not a cublasGemmAlgo_t\n", fn, algo);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (!g.alpha_ptr || !g.beta_ptr) return bad(fn, g.alpha_ptr ? "beta" : "alpha", 0, "is a null pointer");
    g.scale_type = (cudaDataType)st;
    if (h->pointer_mode == CUBLAS_POINTER_MODE_HOST) { /* host scalars are read at call time */
        g.alpha = simt_load_scalar(g.alpha_ptr, g.scale_type);
        g.beta = simt_load_scalar(g.beta_ptr, g.scale_type);
        g.alpha_ptr = g.beta_ptr = nullptr;
    }
    if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;
    if (!simt_gemm_ranges_ok(&g)) return CUBLAS_STATUS_EXECUTION_FAILED;
    cudaError_t e = simt_emu_submit(h->stream, [g]() { return simt_gemm_run(&g); });
    if (e == cudaSuccess) return CUBLAS_STATUS_SUCCESS;
    cudaGetLastError();
    return CUBLAS_STATUS_EXECUTION_FAILED;
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType ct, int ldc, long long sc,
                                          int batch, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    SimtGemm g = {"cublasGemmStridedBatchedEx", ta, tb, m, n, k, batch, A, B, C, at, bt, ct, CUDA_R_32F,
                  lda, ldb, ldc, sa, sb, sc, 0.0, 0.0, alpha, beta};
    return gemm(h, g, compute, algo);
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                            cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    SimtGemm g = {"cublasGemmEx", ta, tb, m, n, k, 1, A, B, C, at, bt, ct, CUDA_R_32F,
                  lda, ldb, ldc, 0, 0, 0, 0.0, 0.0, alpha, beta};
    return gemm(h, g, compute, algo);
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    SimtGemm g = {"cublasSgemm", ta, tb, m, n, k, 1, A, B, C, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F,
                  lda, ldb, ldc, 0, 0, 0, 0.0, 0.0, alpha, beta};
    return gemm(h, g, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
