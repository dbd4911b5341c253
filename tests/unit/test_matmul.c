/* The CPU's matmul kernels for every weight type, both precisions and every instruction set
 * the CPU has (the cross-backend harness, test_backend_ops, checks matmul through the
 * interface; this checks the CPU's integer kernels themselves):
 *  - MATMUL_F32 against a float64 dot product of the dequantized weights (~1e-5);
 *  - MATMUL_Q8 against the same reference within the error of 8-bit activations, and, much
 *    tighter, against a float64 emulation of the quantized arithmetic written here from the
 *    spec in kernels/cpu/matmul.h (checks the integer kernels themselves);
 *  - scalar, AVX2 and AVX-512 kernels agree bit for bit;
 *  - batch invariance: each row of a T-row product equals, bit for bit, the product of that
 *    row alone, for T in {1,2,3,7,16,33,100}, with 1 and 2 threads and with the AVX2 kernels. */
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"
#include "tests/unit/quant_rand.h"
#include "tests/unit/test.h"

/* a CPU backend whose matmul kernels are forced to one instruction set */
static Backend *backend_new(int n_threads, MatmulPrecision p, int isa) {
    BackendOptions o;
    backend_options_default(&o);
    o.device = "cpu";
    o.n_threads = n_threads;
    o.precision = p;
    Backend *be = NULL;
    char err[256];
    if (cpu_backend_create(&o, &be, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    cpu_state(be)->matmul_isa = isa;
    return be;
}



typedef struct Mat {
    DType t;
    int64_t n_in, n_out, row_bytes;
    uint8_t *raw;   /* [n_out] rows */
    float *deq;     /* [n_out, n_in] dequantized */
    float *off;     /* [n_out, n_in] the min term (value at q = 0) for MM_KIND_MIN types */
} Mat;

/* quant-bit byte ranges [lo, hi) of a block, zeroed to read off the min term */
static void quant_bits(DType t, int *lo, int *hi) {
    switch (t) {
    case DT_Q4_1: *lo = 4, *hi = 20; break;
    case DT_Q5_1: *lo = 4, *hi = 24; break;
    case DT_Q4_K: *lo = 16, *hi = 144; break;
    case DT_Q5_K: *lo = 16, *hi = 176; break;
    default: *lo = *hi = 0; break;
    }
}

static Mat mat_new(DType t, int64_t n_in, int64_t n_out, unsigned long long *rng) {
    Mat m = {t, n_in, n_out, dtype_row_bytes(t, n_in), NULL, NULL, NULL};
    m.raw = malloc((size_t)(m.row_bytes * n_out));
    m.deq = malloc((size_t)(n_in * n_out) * sizeof(float));
    m.off = calloc((size_t)(n_in * n_out), sizeof(float));
    uint8_t *tmp = malloc((size_t)m.row_bytes);
    int lo, hi;
    quant_bits(t, &lo, &hi);
    for (int64_t r = 0; r < n_out; r++) {
        uint8_t *row = m.raw + r * m.row_bytes;
        rand_row(t, n_in, row, rng);
        dtype_dequantize_row(t, row, m.deq + r * n_in, n_in);
        if (hi > lo) {
            memcpy(tmp, row, (size_t)m.row_bytes);
            for (int64_t b = 0; b < m.row_bytes; b += dtype_block_bytes(t)) memset(tmp + b + lo, 0, (size_t)(hi - lo));
            dtype_dequantize_row(t, tmp, m.off + r * n_in, n_in);
        }
    }
    free(tmp);
    return m;
}

static void mat_free(Mat *m) { free(m->raw), free(m->deq), free(m->off); }

static void run_mm(Backend *be, const Mat *m, const float *x, float *y, int T) {
    Tensor W = {.type = m->t, .ndim = 2, .ne = {m->n_in, m->n_out, 1, 1}, .data = m->raw, .name = "test"};
    cpu_matmul(be, &W, x, y, T);
}

/* The test's own activation quantizer, from the spec in matmul.h: q [n], d and s per 32. */
static void ref_quant(const float *x, int64_t n, int act256, int8_t *q, float *d, float *s, float *amax_out) {
    for (int64_t g0 = 0; g0 < n; g0 += act256 ? 256 : 32) {
        int g = act256 ? 256 : 32;
        float amax = 0, max = 0;
        for (int i = 0; i < g; i++)
            if (fabsf(x[g0 + i]) > amax) amax = fabsf(x[g0 + i]), max = x[g0 + i];
        for (int b = 0; b < g / 32; b++) {
            int64_t b0 = g0 + 32 * b;
            float scale = act256 ? (amax ? -127.0f / max : 0) : (amax ? 127.0f / amax : 0);
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += q[b0 + i] = (int8_t)rintf(x[b0 + i] * scale);
            float dd = act256 ? (amax ? 1.0f / scale : 0) : amax / 127.0f;
            d[b0 / 32] = act256 ? dd : fp16_to_f32(f32_to_fp16(dd));
            s[b0 / 32] = act256 ? dd * (float)sum : fp16_to_f32(f32_to_fp16(dd * (float)sum));
            amax_out[b0 / 32] = amax;
        }
    }
}

static int n_bad_f32, n_bad_q8, n_bad_emul;

/* Checks y [T, n_out] against the float64 references. */
static void check_accuracy(const Mat *m, const float *x, const float *y, int T, MatmulPrecision p) {
    int64_t n = m->n_in, nb = n / 32;
    int kind = mm_kind(m->t), act256 = mm_act256(m->t);
    int8_t *q = malloc((size_t)n);
    float *d = malloc((size_t)nb * 4 + 4), *s = malloc((size_t)nb * 4 + 4), *amax = malloc((size_t)nb * 4 + 4);
    for (int t = 0; t < T; t++) {
        const float *xt = x + t * n;
        int quantized = p == MATMUL_Q8 && kind != MM_KIND_NONE;
        if (quantized) ref_quant(xt, n, act256, q, d, s, amax);
        for (int64_t o = 0; o < m->n_out; o++) {
            const float *w = m->deq + o * n, *off = m->off + o * n;
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) ref += (double)w[i] * xt[i], mag += fabs((double)w[i] * xt[i]);
            double got = y[(int64_t)t * m->n_out + o], err = fabs(got - ref);
            if (!quantized) {
                if (!(err <= 1e-5 * mag + 1e-30)) {
                    if (n_bad_f32++ < 5) fprintf(stderr, "f32 %s o=%lld t=%d: %g vs %g\n", dtype_name(m->t), (long long)o, t, got, ref);
                }
                continue;
            }
            /* (1) exact arithmetic bound: activation rounding <= amax/254, fp16 scale <= amax/2048,
             * fp16 block sums <= |s|/2048 times the min */
            double bound = 1e-5 * mag;
            for (int64_t b = 0; b < nb; b++) {
                double wsum = 0;
                for (int i = 0; i < 32; i++) wsum += fabs(w[32 * b + i]);
                bound += wsum * amax[b] * (1.0 / 254 + 1.0 / 2048) * 1.001 + fabs(off[32 * b] * s[b]) / 2048;
            }
            if (!(err <= bound)) {
                if (n_bad_q8++ < 5) fprintf(stderr, "q8 %s o=%lld t=%d: %g vs %g (bound %g)\n", dtype_name(m->t), (long long)o, t, got, ref, bound);
            }
            /* (2) the quantized arithmetic in float64: sum_b d_b sum_i (w_i - off_i) q_i + off_b s_b */
            double emul = 0, emag = 0;
            for (int64_t b = 0; b < nb; b++) {
                double ib = 0, ibm = 0;
                for (int i = 0; i < 32; i++) {
                    double wi = (double)w[32 * b + i] - off[32 * b + i];
                    ib += wi * q[32 * b + i], ibm += (fabs(wi) + fabs(w[32 * b + i])) * abs(q[32 * b + i]);
                }
                emul += d[b] * ib + (double)off[32 * b] * s[b];
                emag += fabs(d[b]) * ibm + fabs((double)off[32 * b] * s[b]);
            }
            if (!(fabs(got - emul) <= 1e-5 * emag + 1e-30)) {
                if (n_bad_emul++ < 5) fprintf(stderr, "q8 emul %s o=%lld t=%d: %g vs %g\n", dtype_name(m->t), (long long)o, t, got, emul);
            }
        }
    }
    free(q), free(d), free(s), free(amax);
}

static const DType all_types[] = {DT_F32, DT_F16, DT_BF16, DT_Q4_0, DT_Q4_1, DT_Q5_0,
                                  DT_Q5_1, DT_Q8_0, DT_Q4_K, DT_Q5_K, DT_Q6_K};
#define N_TYPES (int)(sizeof all_types / sizeof all_types[0])

static int64_t n_in_for(DType t, int size) { /* size 0, 1, 2: small, medium, large */
    static const int64_t b32[3] = {32, 96, 576}, b256[3] = {256, 512, 768}, f[3] = {45, 64, 576};
    return dtype_block_elems(t) == 256 ? b256[size] : dtype_block_elems(t) == 32 ? b32[size] : f[size];
}

static float *rand_x(int64_t n, unsigned long long *rng) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = test_rand_uniform(rng, -2.0f, 2.0f);
    return x;
}

static void test_accuracy(void) {
    static const struct { int size, n_out, T; } shapes[] = {
        {0, 1, 1}, {0, 7, 3}, {0, 33, 4}, {1, 33, 5}, {1, 192, 17}, {2, 33, 65}, {2, 192, 2}, {2, 1000, 1},
    };
    unsigned long long rng = 1;
    Backend *be[2] = {backend_new(2, MATMUL_Q8, MM_ISA_AUTO), backend_new(2, MATMUL_F32, MM_ISA_AUTO)};
    for (int ti = 0; ti < N_TYPES; ti++)
        for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
            int64_t n_in = n_in_for(all_types[ti], shapes[si].size);
            int T = shapes[si].T;
            Mat m = mat_new(all_types[ti], n_in, shapes[si].n_out, &rng);
            float *x = rand_x(n_in * T, &rng), *y = malloc((size_t)(T * m.n_out) * sizeof(float));
            for (int p = 0; p < 2; p++) {
                run_mm(be[p], &m, x, y, T);
                check_accuracy(&m, x, y, T, (MatmulPrecision)p);
            }
            free(x), free(y), mat_free(&m);
        }
    CHECK(n_bad_f32 == 0, "%d MATMUL_F32 results off the float64 reference", n_bad_f32);
    CHECK(n_bad_q8 == 0, "%d MATMUL_Q8 results outside the activation-quantization bound", n_bad_q8);
    CHECK(n_bad_emul == 0, "%d MATMUL_Q8 results off the float64 emulation of the integer path", n_bad_emul);
    backend_destroy(be[0]), backend_destroy(be[1]);
}

/* every ISA this CPU has, and 1 vs 2 threads, give the same bits */
static void test_isa_agree(void) {
    int isas[3] = {MM_ISA_SCALAR, MM_ISA_AVX2, MM_ISA_AVX512};
    unsigned long long rng = 2;
    for (int ti = 0; ti < N_TYPES; ti++) {
        int64_t n_in = n_in_for(all_types[ti], 2), n_out = 37;
        int T = 9;
        Mat m = mat_new(all_types[ti], n_in, n_out, &rng);
        float *x = rand_x(n_in * T, &rng), *y0 = malloc((size_t)(T * n_out) * 4), *y1 = malloc((size_t)(T * n_out) * 4);
        for (int p = 0; p < 2; p++)
            for (int Tk = 1; Tk <= T; Tk += T - 1) { /* T = 1 (direct kernels) and T = 9 */
                Backend *ref = backend_new(1, (MatmulPrecision)p, MM_ISA_SCALAR);
                run_mm(ref, &m, x, y0, Tk);
                backend_destroy(ref);
                for (int k = 0; k < 3; k++) {
                    Backend *be = backend_new(2, (MatmulPrecision)p, isas[k]);
                    run_mm(be, &m, x, y1, Tk);
                    backend_destroy(be);
                    CHECK(memcmp(y0, y1, (size_t)(Tk * n_out) * 4) == 0, "%s %s T=%d: ISA %d differs from scalar",
                          dtype_name(m.t), p ? "f32" : "q8", Tk, isas[k]);
                }
            }
        free(x), free(y0), free(y1), mat_free(&m);
    }
}

static void test_batch_invariance(void) {
    static const int Ts[] = {1, 2, 3, 7, 16, 33, 100};
    unsigned long long rng = 3;
    for (int ti = 0; ti < N_TYPES; ti++) {
        int64_t n_in = n_in_for(all_types[ti], 2), n_out = 70;
        Mat m = mat_new(all_types[ti], n_in, n_out, &rng);
        float *x = rand_x(n_in * 100, &rng), *yb = malloc((size_t)(100 * n_out) * 4), *y1 = malloc((size_t)n_out * 4);
        for (int p = 0; p < 2; p++) {
            int bad = 0;
            for (int cfg = 0; cfg < 3; cfg++) { /* 1 and 2 threads on the best ISA; AVX2 */
                int nth = cfg == 1 ? 2 : 1;
                Backend *be = backend_new(nth, (MatmulPrecision)p, cfg == 2 ? MM_ISA_AVX2 : MM_ISA_AUTO);
                for (int k = 0; k < (int)(sizeof Ts / sizeof Ts[0]); k++) {
                    int T = Ts[k];
                    /* a different window of rows for each T, so rows meet different neighbours */
                    const float *xs = x + (int64_t)(k % 3) * n_in;
                    if (T + k % 3 > 100) xs = x;
                    run_mm(be, &m, xs, yb, T);
                    for (int t = 0; t < T; t++) {
                        run_mm(be, &m, xs + t * n_in, y1, 1);
                        bad += memcmp(y1, yb + (int64_t)t * n_out, (size_t)n_out * 4) != 0;
                    }
                }
                backend_destroy(be);
            }
            CHECK(bad == 0, "%s %s: %d rows of a batch differ from the same row alone", dtype_name(m.t),
                  p ? "f32" : "q8", bad);
        }
        free(x), free(yb), free(y1), mat_free(&m);
    }
}

int main(void) {
    test_accuracy();
    test_isa_agree();
    test_batch_invariance();
    return TEST_SUMMARY();
}
