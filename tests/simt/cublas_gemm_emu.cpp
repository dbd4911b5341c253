/* The computation behind the emulated cuBLAS GEMMs. op(A) and op(B) are converted tile
 * by tile (64 rows of op(A) by 64 columns of op(B)) into contiguous double arrays, so
 * the inner loop is a plain dot product whatever the transposes and types; products of
 * f32/f16/bf16/i8 values are exact in double, and the result is rounded once to C's
 * type. beta == 0 leaves C unread, as cuBLAS documents (C may hold NaN). */
#include "cublas_emu_internal.h"
#include "simt_fp16.h"
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <vector>

size_t simt_dtype_size(cudaDataType t) {
    switch (t) {
    case CUDA_R_64F: return 8;
    case CUDA_R_32F: case CUDA_R_32I: return 4;
    case CUDA_R_16F: case CUDA_R_16BF: return 2;
    default: return 1;
    }
}

static double load(const void *p, long long i, cudaDataType t) {
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[i];
    case CUDA_R_64F: return ((const double *)p)[i];
    case CUDA_R_16F: return simt_f16_to_f32(((const uint16_t *)p)[i]);
    case CUDA_R_16BF: return simt_bf16_to_f32(((const uint16_t *)p)[i]);
    case CUDA_R_8I: return ((const int8_t *)p)[i];
    case CUDA_R_8U: return ((const uint8_t *)p)[i];
    case CUDA_R_32I: return ((const int32_t *)p)[i];
    }
    return NAN;
}

double simt_load_scalar(const void *p, cudaDataType t) { return load(p, 0, t); }

static void store(void *p, long long i, cudaDataType t, double v) {
    switch (t) {
    case CUDA_R_32F: ((float *)p)[i] = (float)v; break;
    case CUDA_R_64F: ((double *)p)[i] = v; break;
    case CUDA_R_16F: ((uint16_t *)p)[i] = simt_f64_to_f16(v); break;
    case CUDA_R_16BF: ((uint16_t *)p)[i] = simt_f64_to_bf16(v); break;
    case CUDA_R_32I: /* integer GEMMs wrap modulo 2^32 like the hardware's adders */
        ((int32_t *)p)[i] = (int32_t)(uint32_t)(fabs(v) < 9e18 ? (long long)v : 0);
        break;
    default: ((int8_t *)p)[i] = (int8_t)v; break;
    }
}

static bool matrix_ok(const SimtGemm *g, const char *name, const void *p, int rows, int cols, int ld,
                      cudaDataType t) {
    if (rows == 0 || cols == 0) return true;
    size_t bytes = ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * simt_dtype_size(t);
    if (simt_emu_is_device_range(p, bytes)) return true;
    fprintf(stderr, "simt: %s: matrix %s [%p, +%zu bytes) (%d x %d, ld %d) is not inside one live cudaMalloc "
            "allocation\n", g->fn, name, p, bytes, rows, cols, ld);
    return false;
}

bool simt_gemm_ranges_ok(const SimtGemm *g) {
    int ar = g->ta == CUBLAS_OP_N ? g->m : g->k, ac = g->ta == CUBLAS_OP_N ? g->k : g->m;
    int br = g->tb == CUBLAS_OP_N ? g->k : g->n, bc = g->tb == CUBLAS_OP_N ? g->n : g->k;
    for (int b = 0; b < g->batch; b++) {
        const char *a = (const char *)g->A + (long long)b * g->sa * (long long)simt_dtype_size(g->at);
        const char *bm = (const char *)g->B + (long long)b * g->sb * (long long)simt_dtype_size(g->bt);
        const char *c = (const char *)g->C + (long long)b * g->sc * (long long)simt_dtype_size(g->ct);
        if (!matrix_ok(g, "A", a, ar, ac, g->lda, g->at) || !matrix_ok(g, "B", bm, br, bc, g->ldb, g->bt) ||
            !matrix_ok(g, "C", c, g->m, g->n, g->ldc, g->ct))
            return false;
    }
    return true;
}

enum { TILE = 64 };

cudaError_t simt_gemm_run(const SimtGemm *g) {
    if (!simt_gemm_ranges_ok(g)) return cudaErrorIllegalAddress;
    double alpha = g->alpha_ptr ? simt_load_scalar(g->alpha_ptr, g->scale_type) : g->alpha;
    double beta = g->beta_ptr ? simt_load_scalar(g->beta_ptr, g->scale_type) : g->beta;
    const int m = g->m, n = g->n, k = g->k;
    std::vector<double> ta((size_t)TILE * k), tb((size_t)TILE * k);
    for (int b = 0; b < g->batch; b++) {
        const void *A = (const char *)g->A + (long long)b * g->sa * (long long)simt_dtype_size(g->at);
        const void *B = (const char *)g->B + (long long)b * g->sb * (long long)simt_dtype_size(g->bt);
        void *C = (char *)g->C + (long long)b * g->sc * (long long)simt_dtype_size(g->ct);
        for (int i0 = 0; i0 < m; i0 += TILE) {
            int ni = m - i0 < TILE ? m - i0 : TILE;
            for (int ii = 0; ii < ni; ii++) /* row i of op(A), over p */
                for (int p = 0; p < k; p++)
                    ta[(size_t)ii * k + p] = g->ta == CUBLAS_OP_N ? load(A, (long long)(i0 + ii) + (long long)p * g->lda, g->at)
                                                                   : load(A, (long long)p + (long long)(i0 + ii) * g->lda, g->at);
            for (int j0 = 0; j0 < n; j0 += TILE) {
                int nj = n - j0 < TILE ? n - j0 : TILE;
                for (int jj = 0; jj < nj; jj++) /* column j of op(B), over p */
                    for (int p = 0; p < k; p++)
                        tb[(size_t)jj * k + p] = g->tb == CUBLAS_OP_N ? load(B, (long long)p + (long long)(j0 + jj) * g->ldb, g->bt)
                                                                       : load(B, (long long)(j0 + jj) + (long long)p * g->ldb, g->bt);
                for (int jj = 0; jj < nj; jj++)
                    for (int ii = 0; ii < ni; ii++) {
                        const double *x = ta.data() + (size_t)ii * k, *y = tb.data() + (size_t)jj * k;
                        double s0 = 0, s1 = 0;
                        int p = 0;
                        for (; p + 1 < k; p += 2) { s0 += x[p] * y[p]; s1 += x[p + 1] * y[p + 1]; }
                        if (p < k) s0 += x[p] * y[p];
                        long long idx = (long long)(i0 + ii) + (long long)(j0 + jj) * g->ldc;
                        double v = alpha * (s0 + s1);
                        if (beta != 0.0) v += beta * load(C, idx, g->ct);
                        store(C, idx, g->ct, v);
                    }
            }
        }
    }
    return cudaSuccess;
}
