/* cuBLAS emulation tests against a naive column-major reference: every op(A)/op(B)
 * combination, leading dimensions larger than needed, f32/f16/bf16 inputs with f32 and
 * same-type outputs, int8 with int32 output, strided batches, beta = 0 over a NaN-filled
 * C, device pointer mode, and rejected arguments (ld too small, negative sizes, mixed
 * types, matrices outside device memory). */
#include "simt_test.h"
#include "cublas_emu.h"
#include <math.h>
#include <vector>

static size_t esize(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_32I ? 4 : t == CUDA_R_8I ? 1 : 2; }
static void put(std::vector<unsigned char> &buf, size_t i, cudaDataType t, double v) {
    unsigned char *p = buf.data() + i * esize(t);
    if (t == CUDA_R_32F) { float f = (float)v; memcpy(p, &f, 4); }
    else if (t == CUDA_R_16F) { __half h = __double2half(v); memcpy(p, &h, 2); }
    else if (t == CUDA_R_16BF) { __nv_bfloat16 h = __double2bfloat16(v); memcpy(p, &h, 2); }
    else if (t == CUDA_R_8I) { signed char c = (signed char)v; memcpy(p, &c, 1); }
    else { int x = (int)v; memcpy(p, &x, 4); }
}
static double get(const std::vector<unsigned char> &buf, size_t i, cudaDataType t) {
    const unsigned char *p = buf.data() + i * esize(t);
    if (t == CUDA_R_32F) { float f; memcpy(&f, p, 4); return f; }
    if (t == CUDA_R_16F) { __half h; memcpy(&h, p, 2); return __half2float(h); }
    if (t == CUDA_R_16BF) { __nv_bfloat16 h; memcpy(&h, p, 2); return __bfloat162float(h); }
    if (t == CUDA_R_8I) { signed char c; memcpy(&c, p, 1); return c; }
    int x; memcpy(&x, p, 4); return x;
}
static void *to_device(const std::vector<unsigned char> &h) {
    void *d = nullptr;
    cudaMalloc(&d, h.size());
    cudaMemcpy(d, h.data(), h.size(), cudaMemcpyHostToDevice);
    return d;
}

struct Case { cublasOperation_t ta, tb; int m, n, k, batch; cudaDataType ab, c; cublasComputeType_t compute; };

/* Runs one case through cublasGemmStridedBatchedEx (or GemmEx for batch 1) and compares
 * every C element with the reference computed from the same stored inputs. */
static void run_case(cublasHandle_t h, const Case &cs, unsigned long long *rng, bool beta_zero) {
    int ar = cs.ta == CUBLAS_OP_N ? cs.m : cs.k, ac = cs.ta == CUBLAS_OP_N ? cs.k : cs.m;
    int br = cs.tb == CUBLAS_OP_N ? cs.k : cs.n, bc = cs.tb == CUBLAS_OP_N ? cs.n : cs.k;
    int lda = ar + 3, ldb = br + 2, ldc = cs.m + 1;
    long long sa = (long long)lda * ac + 5, sb = (long long)ldb * bc + 7, sc = (long long)ldc * cs.n + 3;
    std::vector<unsigned char> A(sa * cs.batch * esize(cs.ab)), B(sb * cs.batch * esize(cs.ab)),
        C(sc * cs.batch * esize(cs.c), 0xff);
    bool integer = cs.ab == CUDA_R_8I;
    for (size_t i = 0; i < A.size() / esize(cs.ab); i++) put(A, i, cs.ab, integer ? (double)(test_rng_next(rng) % 255) - 127 : test_rand_uniform(rng, -1, 1));
    for (size_t i = 0; i < B.size() / esize(cs.ab); i++) put(B, i, cs.ab, integer ? (double)(test_rng_next(rng) % 255) - 127 : test_rand_uniform(rng, -1, 1));
    if (!beta_zero)
        for (size_t i = 0; i < C.size() / esize(cs.c); i++) put(C, i, cs.c, integer ? (double)(test_rng_next(rng) % 100) : test_rand_uniform(rng, -1, 1));
    std::vector<unsigned char> C0 = C;
    void *dA = to_device(A), *dB = to_device(B), *dC = to_device(C);
    float falpha = 1.5f, fbeta = beta_zero ? 0.0f : -0.75f;
    int ialpha = 2, ibeta = beta_zero ? 0 : 3;
    const void *alpha = integer ? (const void *)&ialpha : &falpha, *beta = integer ? (const void *)&ibeta : &fbeta;
    cublasStatus_t st = cs.batch == 1
        ? cublasGemmEx(h, cs.ta, cs.tb, cs.m, cs.n, cs.k, alpha, dA, cs.ab, lda, dB, cs.ab, ldb, beta, dC, cs.c, ldc,
                       cs.compute, CUBLAS_GEMM_DEFAULT)
        : cublasGemmStridedBatchedEx(h, cs.ta, cs.tb, cs.m, cs.n, cs.k, alpha, dA, cs.ab, lda, sa, dB, cs.ab, ldb, sb,
                                     beta, dC, cs.c, ldc, sc, cs.batch, cs.compute, CUBLAS_GEMM_DEFAULT_TENSOR_OP);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "gemm %d%d %dx%dx%d: %s", cs.ta, cs.tb, cs.m, cs.n, cs.k, cublasGetStatusName(st));
    cudaMemcpy(C.data(), dC, C.size(), cudaMemcpyDeviceToHost);
    double tol = cs.c == CUDA_R_16F ? 2e-3 : cs.c == CUDA_R_16BF ? 1.6e-2 : 1e-5;
    int bad = 0;
    for (int b = 0; b < cs.batch; b++)
        for (int j = 0; j < cs.n; j++)
            for (int i = 0; i < cs.m; i++) {
                double acc = 0;
                for (int p = 0; p < cs.k; p++) {
                    double a = cs.ta == CUBLAS_OP_N ? get(A, b * sa + i + (size_t)p * lda, cs.ab) : get(A, b * sa + p + (size_t)i * lda, cs.ab);
                    double x = cs.tb == CUBLAS_OP_N ? get(B, b * sb + p + (size_t)j * ldb, cs.ab) : get(B, b * sb + j + (size_t)p * ldb, cs.ab);
                    acc += a * x;
                }
                size_t ci = b * sc + i + (size_t)j * ldc;
                double ref = (integer ? ialpha : falpha) * acc + (beta_zero ? 0.0 : (integer ? ibeta : fbeta) * get(C0, ci, cs.c));
                double got = get(C, ci, cs.c);
                bad += !(fabs(got - ref) <= tol * (1 + fabs(ref)));
            }
    /* Padding between columns and batches must be untouched. */
    int touched = 0;
    for (int b = 0; b < cs.batch; b++)
        for (int j = 0; j < cs.n; j++)
            touched += memcmp(&C[(b * sc + j * (size_t)ldc + cs.m) * esize(cs.c)], &C0[(b * sc + j * (size_t)ldc + cs.m) * esize(cs.c)], esize(cs.c)) != 0;
    CHECK(bad == 0 && touched == 0, "gemm op %d/%d types %d->%d %dx%dx%d batch %d beta0 %d: %d wrong, %d pads touched",
          cs.ta, cs.tb, cs.ab, cs.c, cs.m, cs.n, cs.k, cs.batch, beta_zero, bad, touched);
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dC);
}

static void test_rejects(cublasHandle_t h) {
    float *d, one = 1.0f;
    cudaMalloc(&d, 64 * sizeof(float));
    StderrCapture cap;
    cap.start();
    cublasStatus_t lda = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 3, d, 4, &one, d, 4);
    cublasStatus_t lda_t = cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 4, 4, 5, &one, d, 4, d, 5, &one, d, 4);
    cublasStatus_t ldb = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 4, d, 3, &one, d, 4);
    cublasStatus_t ldc = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 4, d, 4, &one, d, 3);
    cublasStatus_t neg = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 4, 4, &one, d, 4, d, 4, &one, d, 4);
    cublasStatus_t mixed = cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, CUDA_R_16F, 4, d, CUDA_R_32F, 4,
                                        &one, d, CUDA_R_32F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    cublasStatus_t outside = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 9, 9, 9, &one, d, 9, d, 9, &one, d, 9);
    std::string msg = cap.stop();
    CHECK(lda == CUBLAS_STATUS_INVALID_VALUE && lda_t == CUBLAS_STATUS_INVALID_VALUE && ldb == CUBLAS_STATUS_INVALID_VALUE &&
          ldc == CUBLAS_STATUS_INVALID_VALUE && neg == CUBLAS_STATUS_INVALID_VALUE, "bad arguments accepted");
    CHECK(mixed == CUBLAS_STATUS_NOT_SUPPORTED && outside == CUBLAS_STATUS_EXECUTION_FAILED, "%s %s",
          cublasGetStatusName(mixed), cublasGetStatusName(outside));
    CHECK(contains(msg, "lda = 3") && contains(msg, "ldb = 3") && contains(msg, "ldc = 3") && contains(msg, "m = -1"),
          "%s", msg.c_str());
    CHECK(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d, 1, d, 1, &one, d, 1) ==
          CUBLAS_STATUS_NOT_INITIALIZED);
    /* Device pointer mode reads alpha/beta from device memory when the work runs. */
    float host[4] = {2.0f, 0.0f, 3.0f, 0.0f};
    cudaMemcpy(d, host, sizeof host, cudaMemcpyHostToDevice);
    cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE);
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, d, d + 2, 1, d + 2, 1, d + 1, d + 3, 1) == CUBLAS_STATUS_SUCCESS);
    cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST);
    cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
    CHECK(host[3] == 18.0f, "device pointer mode: %g", host[3]);
    CHECK(!strcmp(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE"));
    cudaFree(d);
}

void test_cublas(void) {
    cublasHandle_t h;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) == CUBLAS_STATUS_SUCCESS);
    unsigned long long rng = 12345;
    const cublasOperation_t ops[3] = {CUBLAS_OP_N, CUBLAS_OP_T, CUBLAS_OP_C};
    const int shapes[3][3] = {{5, 7, 3}, {17, 4, 33}, {1, 9, 70}};
    for (cublasOperation_t ta : ops)
        for (cublasOperation_t tb : ops)
            for (const auto &s : shapes) run_case(h, Case{ta, tb, s[0], s[1], s[2], 1, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F}, &rng, false);
    const cudaDataType ins[3] = {CUDA_R_32F, CUDA_R_16F, CUDA_R_16BF};
    for (cudaDataType t : ins)
        for (int same = 0; same < 2; same++)
            for (int beta0 = 0; beta0 < 2; beta0++) {
                Case cs{CUBLAS_OP_T, CUBLAS_OP_N, 12, 5, 40, 3, t, same ? t : CUDA_R_32F, CUBLAS_COMPUTE_32F};
                run_case(h, cs, &rng, beta0);
                cs.ta = CUBLAS_OP_N; cs.tb = CUBLAS_OP_T; cs.batch = 1;
                run_case(h, cs, &rng, beta0);
            }
    run_case(h, Case{CUBLAS_OP_N, CUBLAS_OP_N, 6, 6, 6, 1, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32}, &rng, false);
    run_case(h, Case{CUBLAS_OP_T, CUBLAS_OP_N, 8, 3, 64, 2, CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I}, &rng, false);
    run_case(h, Case{CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 0, 1, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F}, &rng, false);
    test_rejects(h);
    float ws_probe;
    CHECK(cublasSetWorkspace(h, &ws_probe, 0) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}
