/* Dequantization and activation quantization. dtype_dequantize_row is checked bit for bit
 * against gguf-py's NumPy dequantizers (tests/fixtures/quant_vectors.h, made by
 * tests/ref/make_quant_vectors.py) and against a per-element reference written here from the
 * block layouts; the half conversions against F16C hardware and exhaustively; the 8-bit
 * activation quantizers of every instruction set against the scalar one, bit for bit, and
 * against their error bound. */
#include "kernels/backend.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"
#include "tests/fixtures/quant_vectors.h"
#include "tests/unit/quant_rand.h"
#include "tests/unit/test.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- a per-element reference, straight from the layouts ---- */

static float half_at(const uint8_t *p) {
    int h = p[0] | p[1] << 8, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(1024 + m), e - 25);
    return h & 0x8000 ? -v : v;
}

static float ref_elem(DType t, const uint8_t *row, int64_t i) {
    int64_t bb = dtype_block_bytes(t), be = dtype_block_elems(t);
    const uint8_t *b = row + i / be * bb;
    int j = (int)(i % be), l = j % 32;
    switch (t) {
    case DT_F32: { float v; memcpy(&v, row + 4 * i, 4); return v; }
    case DT_F16: return half_at(row + 2 * i);
    case DT_BF16: { uint32_t u = (uint32_t)(row[2 * i] | row[2 * i + 1] << 8) << 16; float v; memcpy(&v, &u, 4); return v; }
    case DT_Q4_0: { int q = j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4; return half_at(b) * (float)(q - 8); }
    case DT_Q4_1: { int q = j < 16 ? b[4 + j] & 15 : b[4 + j - 16] >> 4; return half_at(b) * (float)q + half_at(b + 2); }
    case DT_Q5_0: case DT_Q5_1: {
        int o = t == DT_Q5_0 ? 2 : 4;
        uint32_t qh = (uint32_t)b[o] | (uint32_t)b[o + 1] << 8 | (uint32_t)b[o + 2] << 16 | (uint32_t)b[o + 3] << 24;
        int q = (j < 16 ? b[o + 4 + j] & 15 : b[o + 4 + j - 16] >> 4) | (int)((qh >> j) & 1) << 4;
        return t == DT_Q5_0 ? half_at(b) * (float)(q - 16) : half_at(b) * (float)q + half_at(b + 2);
    }
    case DT_Q8_0: return (float)(int8_t)b[2 + j] * half_at(b);
    case DT_Q4_K: case DT_Q5_K: {
        const uint8_t *sc = b + 4, *qh = b + 16, *qs = t == DT_Q4_K ? b + 16 : b + 48;
        int s = j / 32, scale, min;
        if (s < 4) scale = sc[s] & 63, min = sc[s + 4] & 63;
        else scale = (sc[s + 4] & 15) | (sc[s - 4] >> 6) << 4, min = (sc[s + 4] >> 4) | (sc[s] >> 6) << 4;
        int q = (qs[32 * (s / 2) + l] >> (s % 2 * 4)) & 15;
        if (t == DT_Q5_K) q |= ((qh[l] >> s) & 1) << 4;
        return half_at(b) * (float)scale * (float)q - half_at(b + 2) * (float)min;
    }
    case DT_Q6_K: {
        int half = j / 128, k = j % 128 / 32;
        int lo = (b[64 * half + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
        int hi = (b[128 + 32 * half + l] >> (2 * k)) & 3;
        return half_at(b + 208) * (float)(int8_t)b[192 + j / 16] * (float)((lo | hi << 4) - 32);
    }
    default: return NAN;
    }
}

static const DType all_types[] = {DT_F32, DT_F16, DT_BF16, DT_Q4_0, DT_Q4_1, DT_Q5_0,
                                  DT_Q5_1, DT_Q8_0, DT_Q4_K, DT_Q5_K, DT_Q6_K};
#define N_TYPES (int)(sizeof all_types / sizeof all_types[0])

static void test_fixture_vectors(void) {
    int n_vec = (int)(sizeof quant_vectors / sizeof quant_vectors[0]);
    for (int v = 0; v < n_vec; v++) {
        const QuantVector *q = &quant_vectors[v];
        float *out = malloc((size_t)q->n * sizeof(float));
        dtype_dequantize_row((DType)q->type, q->raw, out, q->n);
        int bad = 0;
        for (int i = 0; i < q->n; i++) bad += f32_bits(out[i]) != q->out[i];
        CHECK(bad == 0, "%s: %d of %d values differ from gguf-py", dtype_name(q->type), bad, q->n);
        int bad_ref = 0;
        for (int i = 0; i < q->n; i++) bad_ref += f32_bits(ref_elem((DType)q->type, q->raw, i)) != q->out[i];
        CHECK(bad_ref == 0, "%s: the test's own reference disagrees with gguf-py at %d values", dtype_name(q->type),
              bad_ref);
        free(out);
    }
}

static void test_random_rows(void) {
    unsigned long long rng = 42;
    const int64_t n = 1024;
    uint8_t *raw = malloc((size_t)n * 4);
    float *out = malloc((size_t)n * sizeof(float));
    for (int ti = 0; ti < N_TYPES; ti++) {
        DType t = all_types[ti];
        for (int rep = 0; rep < 4; rep++) {
            rand_row(t, n, raw, &rng);
            dtype_dequantize_row(t, raw, out, n);
            int bad = 0;
            for (int64_t i = 0; i < n; i++) bad += f32_bits(out[i]) != f32_bits(ref_elem(t, raw, i));
            CHECK(bad == 0, "%s random row %d: %d values differ from the reference", dtype_name(t), rep, bad);
        }
    }
    free(raw);
    free(out);
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t hw_f32_to_fp16(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
#endif

static void test_half(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        float r = half_at((const uint8_t[]){(uint8_t)h, (uint8_t)(h >> 8)});
        if (isnan(f)) { bad += !isnan(r); continue; }
        bad += f32_bits(f) != f32_bits(r) || f32_to_fp16(f) != h;
    }
    CHECK(bad == 0, "%d half values do not round-trip", bad);
#if defined(__x86_64__)
    if (mm_isa_supported(MM_ISA_AVX2)) { /* implies F16C */
        unsigned long long rng = 7;
        int bad_hw = 0;
        for (int i = 0; i < 2000000; i++) {
            uint32_t u = (uint32_t)(test_rng_next(&rng) >> 32);
            if (i & 1) u = (u & 0x80000000u) | (0x33000000u + u % 0x14800000u); /* the half range */
            float f = f32_from_bits(u);
            if (isnan(f)) continue;
            bad_hw += f32_to_fp16(f) != hw_f32_to_fp16(f);
        }
        CHECK(bad_hw == 0, "f32_to_fp16 differs from F16C at %d values", bad_hw);
    }
#endif
}

/* ---- activation quantization ---- */

static void quant_act_with(const MmKernels *k, const float *x, int T, int nb, int act256, QAct *a) {
    k->quant_act(x, 0, T, act256, a);
}

static void test_quant_act(void) {
    const int T = 5, nb = 24, n = nb * 32; /* n: 3 super-blocks of 256 */
    unsigned long long rng = 99;
    float *x = malloc((size_t)T * n * sizeof(float));
    for (int i = 0; i < T * n; i++) x[i] = test_rand_uniform(&rng, -3.0f, 3.0f) * (i % 97 == 0 ? 50.0f : 1.0f);
    for (int i = 32; i < 64; i++) x[i] = 0.0f;           /* an all-zero block */
    for (int i = n; i < n + 256; i++) x[i] = 0.0f;       /* an all-zero super-block */
    x[2 * n + 5] = -400.0f, x[2 * n + 6] = 400.0f;       /* tie for the largest magnitude */
    x[3 * n + 40] = 1e-30f;                              /* tiny values */
    const MmKernels *ks[3] = {&mm_kernels_scalar, NULL, NULL};
#if defined(__x86_64__)
    if (mm_isa_supported(MM_ISA_AVX2)) ks[1] = &mm_kernels_avx2;
    if (mm_isa_supported(MM_ISA_AVX512)) ks[2] = &mm_kernels_avx512;
#endif
    QAct a[3];
    for (int k = 0; k < 3; k++) {
        a[k] = (QAct){nb, T, malloc((size_t)T * nb * 32), malloc((size_t)T * nb * 4), malloc((size_t)T * nb * 4)};
    }
    for (int act256 = 0; act256 < 2; act256++) {
        quant_act_with(ks[0], x, T, nb, act256, &a[0]);
        /* error bound: |x - d q| <= amax / 254 (rounding) + amax / 2048 (fp16 scale) */
        int bad = 0;
        for (int t = 0; t < T; t++)
            for (int b = 0; b < nb; b++) {
                const float *xb = x + t * n + b * 32;
                int g = act256 ? 256 : 32, b0 = act256 ? b / 8 * 8 : b;
                float amax = 0;
                for (int i = 0; i < g; i++) amax = fmaxf(amax, fabsf(x[t * n + b0 * 32 + i]));
                float d = a[0].d[t * nb + b];
                int sum = 0;
                for (int i = 0; i < 32; i++) {
                    int q = a[0].q[(t * nb + b) * 32 + i];
                    sum += q;
                    bad += fabsf(xb[i] - d * (float)q) > amax * (1.0f / 254 + 1.0f / 2048) + 1e-37f;
                    bad += q < -127 || q > 127;
                }
                bad += fabsf(a[0].st[b * T + t] - d * (float)sum) > fabsf(d * (float)sum) * 1e-3f + 1e-30f;
            }
        CHECK(bad == 0, "act256=%d: %d activation values outside the quantization error bound", act256, bad);
        for (int k = 1; k < 3; k++) {
            if (!ks[k]) continue;
            quant_act_with(ks[k], x, T, nb, act256, &a[k]);
            CHECK(memcmp(a[k].q, a[0].q, (size_t)T * nb * 32) == 0 && memcmp(a[k].d, a[0].d, (size_t)T * nb * 4) == 0 &&
                      memcmp(a[k].st, a[0].st, (size_t)T * nb * 4) == 0,
                  "act256=%d: %s activation quantization differs from scalar", act256, ks[k]->name);
        }
    }
    for (int k = 0; k < 3; k++) free(a[k].q), free(a[k].d), free(a[k].st);
    free(x);
}

/* the SIMD unpackers and dequantizers give the scalar ones' bits */
static void test_simd_unpack(void) {
    const MmKernels *ks[2] = {NULL, NULL};
#if defined(__x86_64__)
    if (mm_isa_supported(MM_ISA_AVX2)) ks[0] = &mm_kernels_avx2;
    if (mm_isa_supported(MM_ISA_AVX512)) ks[1] = &mm_kernels_avx512;
#endif
    const int nr = 3, n = 768, nb = n / 32;
    unsigned long long rng = 5;
    uint8_t *raw = malloc((size_t)n * 4 * nr);
    float *ref = malloc((size_t)n * nr * 4), *got = malloc((size_t)n * nr * 4);
    QRows u[2];
    for (int k = 0; k < 2; k++)
        u[k] = (QRows){nb, malloc((size_t)nr * nb * 32), malloc((size_t)nr * nb * 32), malloc((size_t)nr * nb * 4)};
    for (int ti = 3; ti < N_TYPES; ti++) { /* the quantized types */
        DType t = all_types[ti];
        int64_t rb = dtype_row_bytes(t, n);
        for (int r = 0; r < nr; r++) {
            rand_row(t, n, raw + r * rb, &rng);
            dtype_dequantize_row(t, raw + r * rb, ref + r * n, n);
        }
        memset(u[0].m, 0, (size_t)nr * nb * 4);
        mm_unpack_scalar(t, raw, rb, nr, &u[0]);
        for (int k = 0; k < 2; k++) {
            if (!ks[k]) continue;
            memset(u[1].m, 0, (size_t)nr * nb * 4);
            CHECK(ks[k]->unpack(t, raw, rb, nr, &u[1]), "%s has no %s unpacker", ks[k]->name, dtype_name(t));
            CHECK(memcmp(u[0].q, u[1].q, (size_t)nr * nb * 32) == 0 && memcmp(u[0].d, u[1].d, (size_t)nr * nb * 32) == 0 &&
                      memcmp(u[0].m, u[1].m, (size_t)nr * nb * 4) == 0,
                  "%s: %s unpack differs from scalar", dtype_name(t), ks[k]->name);
            CHECK(ks[k]->dequant(t, raw, rb, nr, n, got) && memcmp(got, ref, (size_t)n * nr * 4) == 0,
                  "%s: %s dequant differs from dtype_dequantize_row", dtype_name(t), ks[k]->name);
        }
    }
    for (int k = 0; k < 2; k++) free(u[k].q), free(u[k].d), free(u[k].m);
    free(raw), free(ref), free(got);
}

int main(void) {
    test_fixture_vectors();
    test_random_rows();
    test_half();
    test_quant_act();
    test_simd_unpack();
    return TEST_SUMMARY();
}
