/* Tests of the CPU backend's per-token ops (kernels/cpu/ops.c): each against a plain scalar
 * reference accumulated in double, on random inputs over several shapes (T in 1, 3, 17, 64;
 * row lengths 64, 576 and an odd 4097 where the type allows it), plus batch invariance (an op
 * on T rows equals T one-row calls, bit for bit) and 1 thread against 2. */
#include <stdint.h>

#include "kernels/backend.h"
#include "tests/unit/test.h"

static const int Ts[] = {1, 3, 17, 64};
static const int dims[] = {64, 576, 4097};

static float *rand_vec(unsigned long long *rng, int64_t n, float lo, float hi) {
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = test_rand_uniform(rng, lo, hi);
    return v;
}

static float *dup_vec(const float *x, int64_t n) {
    float *v = malloc((size_t)n * sizeof(float));
    memcpy(v, x, (size_t)n * sizeof(float));
    return v;
}

/* |got - ref| <= atol + rtol * |ref| over n elements; reports the first miss */
static int close_all(const float *got, const double *ref, int64_t n, double atol, double rtol, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= atol + rtol * fabs(ref[i]))) {
            fprintf(stderr, "%s: element %lld: got %.9g want %.9g\n", what, (long long)i, got[i], ref[i]);
            return 0;
        }
    }
    return 1;
}

/* ---- embed: F32, F16, BF16 and Q8_0 tables, decoded independently here ---- */

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(m | 1024, e - 25) : ldexp(m, -24);
    return (h >> 15) ? -v : v;
}

static uint16_t rand_half(unsigned long long *rng) { /* finite: exponent 0..29 */
    uint16_t h = (uint16_t)(test_rng_next(rng) & 0x83ff);
    return (uint16_t)(h | ((test_rng_next(rng) % 30) << 10));
}

static void test_embed(Backend *be) {
    unsigned long long rng = 11;
    const DType types[] = {DT_F32, DT_F16, DT_BF16, DT_Q8_0};
    for (int ti = 0; ti < 4; ti++) {
        for (int di = 0; di < 3; di++) {
            DType type = types[ti];
            int dim = dims[di];
            if (dtype_row_bytes(type, dim) < 0) dim = 4096; /* Q8_0 needs whole blocks of 32 */
            int n_rows = 50, T = 17;
            int64_t rb = dtype_row_bytes(type, dim);
            uint8_t *data = malloc((size_t)(rb * n_rows));
            double *ref = malloc(sizeof(double) * (size_t)n_rows * dim);
            for (int64_t r = 0; r < n_rows; r++) {
                uint8_t *row = data + r * rb;
                for (int i = 0; i < dim; i++) {
                    double *o = ref + r * dim + i;
                    if (type == DT_F32) {
                        float f = test_rand_uniform(&rng, -3, 3);
                        memcpy(row + 4 * i, &f, 4);
                        *o = f;
                    } else if (type == DT_F16) {
                        uint16_t h = rand_half(&rng);
                        memcpy(row + 2 * i, &h, 2);
                        *o = half_to_double(h);
                    } else if (type == DT_BF16) {
                        float f = test_rand_uniform(&rng, -3, 3);
                        uint32_t u;
                        memcpy(&u, &f, 4);
                        uint16_t h = (uint16_t)(u >> 16);
                        memcpy(row + 2 * i, &h, 2);
                        u = (uint32_t)h << 16;
                        memcpy(&f, &u, 4);
                        *o = f;
                    } else { /* Q8_0: 34-byte blocks, f16 scale then 32 int8 */
                        uint8_t *blk = row + (i / 32) * 34;
                        if (i % 32 == 0) {
                            uint16_t h = (uint16_t)(0x2000 + test_rng_next(&rng) % 0x1000);
                            memcpy(blk, &h, 2);
                        }
                        uint16_t h;
                        memcpy(&h, blk, 2);
                        int8_t q = (int8_t)(test_rng_next(&rng) & 0xff);
                        blk[2 + i % 32] = (uint8_t)q;
                        *o = half_to_double(h) * q;
                    }
                }
            }
            Tensor table = {.type = type, .ndim = 2, .ne = {dim, n_rows, 1, 1}, .data = data, .name = "emb"};
            int32_t ids[17];
            for (int t = 0; t < T; t++) ids[t] = (int32_t)(test_rng_next(&rng) % n_rows);
            ids[0] = n_rows - 1; /* the last row too: the row stride must be right */
            float *out = malloc(sizeof(float) * (size_t)T * dim);
            be->ops->embed(be, &table, ids, T, out);
            double *want = malloc(sizeof(double) * (size_t)T * dim);
            for (int t = 0; t < T; t++) memcpy(want + (int64_t)t * dim, ref + (int64_t)ids[t] * dim, sizeof(double) * dim);
            /* every type here decodes exactly into float (Q8_0's f16 scale times int8 has at
             * most 19 significant bits), so any difference is a wrong row or a wrong decode */
            CHECK(close_all(out, want, (int64_t)T * dim, 0, 0, dtype_name(type)), "embed %s dim %d", dtype_name(type), dim);
            free(data), free(ref), free(out), free(want);
        }
    }
}

/* ---- rmsnorm ---- */

static void test_rmsnorm(Backend *be) {
    unsigned long long rng = 22;
    for (int di = 0; di < 3; di++)
        for (int ti = 0; ti < 4; ti++) {
            int T = Ts[ti], dim = dims[di];
            float eps = 1e-5f;
            float *x = rand_vec(&rng, (int64_t)T * dim, -2, 2), *w = rand_vec(&rng, dim, -1.5f, 1.5f);
            float *out = malloc(sizeof(float) * (size_t)T * dim);
            double *ref = malloc(sizeof(double) * (size_t)T * dim);
            for (int t = 0; t < T; t++) {
                double ss = 0;
                for (int i = 0; i < dim; i++) ss += (double)x[t * dim + i] * x[t * dim + i];
                double sc = 1.0 / sqrt(ss / dim + eps);
                for (int i = 0; i < dim; i++) ref[t * dim + i] = x[t * dim + i] * sc * w[i];
            }
            be->ops->rmsnorm(be, x, w, out, T, dim, eps);
            /* float path: squares rounded to float (2^-24 each, relative), mean and eps, sqrt,
             * divide, two multiplies: ~6 roundings of 2^-24 on a well-conditioned value, so
             * rtol 1e-6 (~17 of them) with atol 1e-7 for values near zero */
            CHECK(close_all(out, ref, (int64_t)T * dim, 1e-7, 1e-6, "rmsnorm"), "rmsnorm T %d dim %d", T, dim);
            /* in place gives the same bits */
            float *xi = dup_vec(x, (int64_t)T * dim);
            be->ops->rmsnorm(be, xi, w, xi, T, dim, eps);
            CHECK(!memcmp(xi, out, sizeof(float) * (size_t)T * dim), "rmsnorm in place T %d dim %d", T, dim);
            free(x), free(w), free(out), free(ref), free(xi);
        }
}

/* ---- add_bias, add: one float rounding of an exact sum, so exact ---- */

static void test_adds(Backend *be) {
    unsigned long long rng = 33;
    for (int di = 0; di < 3; di++)
        for (int ti = 0; ti < 4; ti++) {
            int T = Ts[ti], dim = dims[di];
            int64_t n = (int64_t)T * dim;
            float *x = rand_vec(&rng, n, -5, 5), *y = rand_vec(&rng, n, -5, 5), *bias = rand_vec(&rng, dim, -1, 1);
            double *ref = malloc(sizeof(double) * (size_t)n);
            float *xb = dup_vec(x, n);
            for (int64_t i = 0; i < n; i++) ref[i] = (float)((double)x[i] + bias[i % dim]);
            be->ops->add_bias(be, xb, bias, T, dim);
            CHECK(close_all(xb, ref, n, 0, 0, "add_bias"), "add_bias T %d dim %d", T, dim);
            for (int64_t i = 0; i < n; i++) ref[i] = (float)((double)x[i] + y[i]);
            be->ops->add(be, x, y, n);
            CHECK(close_all(x, ref, n, 0, 0, "add"), "add T %d dim %d", T, dim);
            free(x), free(y), free(bias), free(ref), free(xb);
        }
}

/* ---- silu_mul ---- */

static void test_silu_mul(Backend *be) {
    unsigned long long rng = 44;
    for (int di = 0; di < 3; di++)
        for (int ti = 0; ti < 4; ti++) {
            int64_t n = (int64_t)Ts[ti] * dims[di];
            float *g = rand_vec(&rng, n, -20, 20), *u = rand_vec(&rng, n, -3, 3);
            /* the edges: zero, and far beyond where exp over- or underflows */
            g[0] = 0.0f;
            if (n > 4) g[1] = -100.0f, g[2] = 100.0f, g[3] = -87.5f, g[4] = 88.5f;
            double *ref = malloc(sizeof(double) * (size_t)n);
            for (int64_t i = 0; i < n; i++) ref[i] = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            be->ops->silu_mul(be, g, u, n);
            /* exp to ~2 ulp (vector) or 1 (libm), then add, divide, multiply: rtol 1e-6 is
             * ~8 ulp. atol 1e-30 for x << 0, where the true value is subnormal and the clamped
             * exp gives ~1e-37 instead: both are zero to any model. */
            CHECK(close_all(g, ref, n, 1e-30, 1e-6, "silu_mul"), "silu_mul n %lld", (long long)n);
            free(g), free(u), free(ref);
        }
}

/* ---- rope ---- */

static void rope_ref(double *out, const float *x, const int32_t *pos, int T, int nh, int hd, int rot, double base,
                     int style) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < nh; h++) {
            const float *xh = x + ((int64_t)t * nh + h) * hd;
            double *o = out + ((int64_t)t * nh + h) * hd;
            for (int i = 0; i < hd; i++) o[i] = xh[i];
            for (int i = 0; i < rot / 2; i++) {
                double a = pos[t] * pow(base, -2.0 * i / rot);
                int i0 = style == ROPE_NEOX ? i : 2 * i, i1 = style == ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
                o[i0] = xh[i0] * cos(a) - xh[i1] * sin(a);
                o[i1] = xh[i0] * sin(a) + xh[i1] * cos(a);
            }
        }
}

static void test_rope(Backend *be) {
    unsigned long long rng = 55;
    struct { int nh, hd, rot; float base; } cfg[] = {{9, 64, 64, 10000.0f}, {4, 128, 128, 1000000.0f},
                                                     {3, 64, 32, 10000.0f}, {2, 576 / 2, 96, 500000.0f}};
    for (int ci = 0; ci < 4; ci++)
        for (int style = ROPE_NORMAL; style <= ROPE_NEOX; style++)
            for (int ti = 0; ti < 4; ti++) {
                int T = Ts[ti], nh = cfg[ci].nh, hd = cfg[ci].hd, rot = cfg[ci].rot;
                int64_t n = (int64_t)T * nh * hd;
                int32_t *pos = malloc(sizeof(int32_t) * (size_t)T);
                for (int t = 0; t < T; t++) pos[t] = t == 0 ? 0 : (int32_t)(test_rng_next(&rng) % 8192);
                float *x = rand_vec(&rng, n, -2, 2), *y = dup_vec(x, n);
                double *ref = malloc(sizeof(double) * (size_t)n);
                rope_ref(ref, x, pos, T, nh, hd, rot, cfg[ci].base, style);
                be->ops->rope(be, y, pos, T, nh, hd, rot, cfg[ci].base, style);
                /* llama.cpp's angle recipe (theta *= powf(base, -2/rot) per pair, in float)
                 * drifts from the exact angle by a few ulp per step, so the error grows with
                 * pos: |dcos| + |dsin| <= 2.4e-7 * pos measured over pos < 8192, bases 1e4 to
                 * 1e6, rot <= 128. With |x| <= 2 that is <= 4.8e-7 * pos; allow 1e-6 * pos,
                 * plus 1e-6 for the roundings of the rotation itself. */
                int ok = 1;
                for (int64_t k = 0; k < n && ok; k++) {
                    int t = (int)(k / ((int64_t)nh * hd));
                    double tol = 1e-6 + 1e-6 * pos[t];
                    if (!(fabs(y[k] - ref[k]) <= tol)) {
                        fprintf(stderr, "rope elem %lld pos %d: got %.9g want %.9g\n", (long long)k, pos[t], y[k], ref[k]);
                        ok = 0;
                    }
                    if (k % hd >= rot && y[k] != x[k]) ok = 0; /* dims past rot_dim untouched */
                }
                CHECK(ok, "rope nh %d hd %d rot %d style %d T %d", nh, hd, rot, style, T);
                /* and exactly llama.cpp's float recipe */
                float ts = powf(cfg[ci].base, -2.0f / rot);
                int exact = 1;
                for (int t = 0; t < T; t++) {
                    float th = (float)pos[t];
                    for (int i = 0; i < rot / 2; i++, th *= ts)
                        for (int h = 0; h < nh; h++) {
                            int64_t b = ((int64_t)t * nh + h) * hd;
                            int i0 = style == ROPE_NEOX ? i : 2 * i, i1 = style == ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
                            float x0 = x[b + i0], x1 = x[b + i1], c = cosf(th), s = sinf(th);
                            float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
                            exact &= r0 == y[b + i0] && r1 == y[b + i1];
                        }
                }
                CHECK(exact, "rope matches llama.cpp's float recipe bit for bit");
                free(pos), free(x), free(y), free(ref);
            }
}

/* ---- batch invariance and thread count: T rows at once == T calls of one row ---- */

static void test_invariance(Backend *be1, Backend *be2) {
    unsigned long long rng = 66;
    int T = 64, dim = 4097, nh = 8, hd = 128;
    int64_t n = (int64_t)T * dim;
    float *x = rand_vec(&rng, n, -4, 4), *w = rand_vec(&rng, dim, -1, 1), *u = rand_vec(&rng, n, -2, 2);
    float *all = malloc(sizeof(float) * (size_t)n), *one = malloc(sizeof(float) * (size_t)n);
    Backend *bes[2] = {be1, be2};

    for (int k = 0; k < 2; k++) { /* rmsnorm */
        bes[k]->ops->rmsnorm(bes[k], x, w, all, T, dim, 1e-6f);
        for (int t = 0; t < T; t++) be1->ops->rmsnorm(be1, x + (int64_t)t * dim, w, one + (int64_t)t * dim, 1, dim, 1e-6f);
        CHECK(!memcmp(all, one, sizeof(float) * (size_t)n), "rmsnorm batch invariant (%d threads)", k + 1);
    }
    for (int k = 0; k < 2; k++) { /* silu_mul: rows of odd length end mid-vector when alone */
        memcpy(all, x, sizeof(float) * (size_t)n);
        memcpy(one, x, sizeof(float) * (size_t)n);
        bes[k]->ops->silu_mul(bes[k], all, u, n);
        for (int t = 0; t < T; t++) be1->ops->silu_mul(be1, one + (int64_t)t * dim, u + (int64_t)t * dim, dim);
        CHECK(!memcmp(all, one, sizeof(float) * (size_t)n), "silu_mul batch invariant (%d threads)", k + 1);
    }
    int64_t nr = (int64_t)T * nh * hd;
    float *xr = rand_vec(&rng, nr, -1, 1), *ra = dup_vec(xr, nr), *ro = dup_vec(xr, nr);
    int32_t pos[64];
    for (int t = 0; t < T; t++) pos[t] = (int32_t)(test_rng_next(&rng) % 4096);
    for (int k = 0; k < 2; k++) { /* rope */
        memcpy(ra, xr, sizeof(float) * (size_t)nr);
        memcpy(ro, xr, sizeof(float) * (size_t)nr);
        bes[k]->ops->rope(bes[k], ra, pos, T, nh, hd, hd, 10000.0f, ROPE_NEOX);
        for (int t = 0; t < T; t++) be1->ops->rope(be1, ro + (int64_t)t * nh * hd, pos + t, 1, nh, hd, hd, 10000.0f, ROPE_NEOX);
        CHECK(!memcmp(ra, ro, sizeof(float) * (size_t)nr), "rope batch invariant (%d threads)", k + 1);
    }
    free(x), free(w), free(u), free(all), free(one), free(xr), free(ra), free(ro);
}

int main(void) {
    Backend *be1 = cpu_backend_create(1, MATMUL_F32), *be2 = cpu_backend_create(2, MATMUL_F32);
    CHECK(be1 && be2, "cpu_backend_create");
    if (!be1 || !be2) return TEST_SUMMARY();
    CHECK(be1->n_threads == 1 && be2->n_threads == 2 && !strcmp(be1->name, "cpu"), "backend fields");
    Backend *bes[2] = {be1, be2};
    for (int k = 0; k < 2; k++) {
        test_embed(bes[k]);
        test_rmsnorm(bes[k]);
        test_adds(bes[k]);
        test_silu_mul(bes[k]);
        test_rope(bes[k]);
    }
    test_invariance(be1, be2);
    cpu_backend_destroy(be1);
    cpu_backend_destroy(be2);
    Backend *bd = cpu_backend_create(0, MATMUL_Q8); /* one thread per online core */
    CHECK(bd && bd->n_threads >= 1, "cpu_backend_create(0)");
    cpu_backend_destroy(bd);
    return TEST_SUMMARY();
}
