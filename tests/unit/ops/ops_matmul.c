/* matmul through the backend interface, for every weight type Piston reads, at batch sizes
 * on both sides of every kernel switch (1, 2, 5, 17, 33, 64 tokens), against a float64 dot
 * product of the dequantized weights. The bound is the precision's own: f32 arithmetic
 * (1e-5 of sum |w x|), or, where activations are quantized to 8 bits (the CPU's q8 path,
 * llama.cpp's), the rounding of each activation block (amax / 254 per element, its f16
 * scale) on top. The CPU's kernels are checked against an emulation of their integer
 * arithmetic, instruction set by instruction set, in test_matmul.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ops/ops_harness.h"
#include "tests/unit/quant_rand.h"
#include "tests/unit/test.h"

static const DType types[] = {DT_F32, DT_F16, DT_BF16, DT_Q4_0, DT_Q4_1, DT_Q5_0,
                              DT_Q5_1, DT_Q8_0, DT_Q4_K, DT_Q5_K, DT_Q6_K};

/* How the backend rounds the activations of this product, as each documents it: 8 bits on
 * the CPU's q8 path (kernels/cpu/matmul.c); 16 on CUDA's cuBLAS paths, which are the 16-bit
 * weights and the quantized ones past the GEMV's batch (kernels/cuda/matmul.cu); else 32. */
static int activation_bits(const OpsCtx *c, DType t, int T) {
    int dense = t == DT_F32 || t == DT_F16 || t == DT_BF16;
    if (!strcmp(c->name, "cuda")) return t == DT_F32 ? 32 : !dense && T <= 8 ? 32 : 16;
    return c->be->opt.precision == MATMUL_Q8 && !dense ? 8 : 32;
}

/* y [T, n_out] against the reference; one CHECK per call */
static void check(OpsCtx *c, DType t, const float *w, const float *x, const float *y, int64_t n_in, int64_t n_out,
                  int T) {
    int bits = activation_bits(c, t, T), q8 = bits == 8;
    int64_t blk = dtype_block_elems(t) == 256 ? 256 : 32;
    double *ref = malloc((size_t)(T * n_out) * sizeof *ref), *bound = malloc((size_t)(T * n_out) * sizeof *bound);
    for (int tk = 0; tk < T; tk++)
        for (int64_t o = 0; o < n_out; o++) {
            const float *wr = w + o * n_in, *xt = x + tk * n_in;
            double r = 0, mag = 0, qb = 0;
            for (int64_t i = 0; i < n_in; i++) r += (double)wr[i] * xt[i], mag += fabs((double)wr[i] * xt[i]);
            for (int64_t b = 0; q8 && b < n_in / blk; b++) {
                double amax = 0, wsum = 0, wmax = 0, xsum = 0;
                for (int64_t i = b * blk; i < (b + 1) * blk; i++) {
                    amax = fmax(amax, fabs(xt[i])), wsum += fabs(wr[i]), wmax = fmax(wmax, fabs(wr[i]));
                    xsum += xt[i];
                }
                /* activation rounding and its f16 scale, and the f16 block sums of min-term types */
                qb += wsum * amax * (1.0 / 254 + 1.0 / 2048) * 1.01 + 2 * wmax * fabs(xsum) / 2048;
            }
            ref[tk * n_out + o] = r;
            /* 16-bit activations: bf16 rounds each to 2^-9 relative (f16 to 2^-11) */
            bound[tk * n_out + o] = (bits == 16 ? 2.0 / 512 : 1e-5 * c->tol_scale) * mag + qb + 1e-30;
        }
    char what[96];
    snprintf(what, sizeof what, "matmul %s %lldx%lld T %d (%s)", dtype_name(t), (long long)n_out, (long long)n_in, T,
             bits == 8 ? "q8 activations" : bits == 16 ? "16-bit activations" : "f32");
    ops_close(what, y, ref, bound, T * n_out, 0, 1);
    free(ref), free(bound);
}

void ops_test_matmul(OpsCtx *c) {
    static const struct { int size, n_out, T; } shapes[] = {
        {0, 1, 1}, {0, 7, 2}, {1, 33, 5}, {1, 64, 17}, {2, 96, 33}, {2, 40, 64}, {2, 300, 1},
    };
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            DType t = types[ti];
            if (c->small && shapes[si].T > 33) continue;
            static const int64_t b32[3] = {32, 96, 576}, b256[3] = {256, 512, 768}, f[3] = {45, 64, 576};
            int64_t be = dtype_block_elems(t), sz = shapes[si].size;
            int64_t n_in = be == 256 ? b256[sz] : be == 32 ? b32[sz] : f[sz], n_out = shapes[si].n_out;
            int T = shapes[si].T;
            int64_t rb = dtype_row_bytes(t, n_in);
            uint8_t *raw = malloc((size_t)(rb * n_out));
            float *w = malloc((size_t)(n_in * n_out) * sizeof *w);
            for (int64_t o = 0; o < n_out; o++) {
                rand_row(t, n_in, raw + o * rb, &c->rng);
                dtype_dequantize_row(t, raw + o * rb, w + o * n_in, n_in);
            }
            float *x = ops_rand(c, n_in * T, -2, 2);
            Tensor W = {t, 2, {n_in, n_out, 1, 1}, ops_upload(c, raw, (size_t)(rb * n_out)), "W"};
            float *d_x = ops_upload(c, x, (size_t)(n_in * T) * 4), *d_y = ops_poisoned(c, (size_t)(n_out * T) * 4);
            CHECK(c->be->ops->matmul(c->be, &W, d_x, d_y, T) == 0, "matmul %s: %s", dtype_name(t), c->be->err);
            float *y = ops_download(c, d_y, (size_t)(n_out * T) * 4);
            check(c, t, w, x, y, n_in, n_out, T);
            ops_free(c, (void *)W.data), ops_free(c, d_x), ops_free(c, d_y);
            free(raw), free(w), free(x), free(y);
        }
}

/* backend_matmul_n: each output bit-identical to its own matmul, for groups the CPU runs as
 * one job (same activation format: Q4_1 q/k/v with Q8_0, K-quants together) and groups it
 * must split (a float weight among quantized ones, K-quants with 32-blocks), at decode and
 * prefill batch sizes and an n_out too small to give every thread a task. */
void ops_test_matmul_n(OpsCtx *c) {
    static const DType groups[][3] = {
        {DT_Q4_1, DT_Q4_1, DT_Q8_0}, {DT_Q4_K, DT_Q6_K, DT_Q5_K}, {DT_Q4_0, DT_F16, DT_Q8_0}, {DT_Q4_K, DT_Q4_1, DT_Q6_K},
    };
    static const int64_t n_outs[3] = {96, 4, 40};
    static const int Ts[] = {1, 3, 33, 70};
    for (size_t gi = 0; gi < sizeof groups / sizeof *groups; gi++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            int T = Ts[ti], n = 3;
            if (c->small && T > 33) continue;
            const int64_t n_in = 512;
            Tensor W[3];
            const Tensor *wp[3];
            float *y_one[3], *y_grp[3], *d_grp[3];
            float *x = ops_rand(c, n_in * T, -2, 2), *d_x = ops_upload(c, x, (size_t)(n_in * T) * 4);
            for (int i = 0; i < n; i++) {
                DType t = groups[gi][i];
                int64_t rb = dtype_row_bytes(t, n_in);
                uint8_t *raw = malloc((size_t)(rb * n_outs[i]));
                for (int64_t o = 0; o < n_outs[i]; o++) rand_row(t, n_in, raw + o * rb, &c->rng);
                W[i] = (Tensor){t, 2, {n_in, n_outs[i], 1, 1}, ops_upload(c, raw, (size_t)(rb * n_outs[i])), "W"};
                wp[i] = &W[i];
                free(raw);
                size_t yb = (size_t)(n_outs[i] * T) * 4;
                float *d_one = ops_poisoned(c, yb);
                d_grp[i] = ops_poisoned(c, yb);
                CHECK(c->be->ops->matmul(c->be, &W[i], d_x, d_one, T) == 0, "matmul: %s", c->be->err);
                y_one[i] = ops_download(c, d_one, yb);
                ops_free(c, d_one);
            }
            CHECK(backend_matmul_n(c->be, n, wp, d_x, d_grp, T) == 0, "matmul_n: %s", c->be->err);
            for (int i = 0; i < n; i++) {
                size_t yb = (size_t)(n_outs[i] * T) * 4;
                y_grp[i] = ops_download(c, d_grp[i], yb);
                CHECK(memcmp(y_one[i], y_grp[i], yb) == 0, "matmul_n %s/%s/%s T %d: weight %d (%s) differs from its matmul",
                      dtype_name(groups[gi][0]), dtype_name(groups[gi][1]), dtype_name(groups[gi][2]), T, i,
                      dtype_name(groups[gi][i]));
                ops_free(c, (void *)W[i].data), ops_free(c, d_grp[i]);
                free(y_one[i]), free(y_grp[i]);
            }
            ops_free(c, d_x);
            free(x);
        }
}
