/* Row and elementwise ops through the backend interface: embed (F32, F16, BF16, Q8_0 and
 * Q4_0 tables decoded here from their formats, the other types through
 * dtype_dequantize_row, which test_quant checks against the gguf package), gather_last, gather_rows,
 * rmsnorm, add_rmsnorm, add, add_bias, silu_mul and rope (normal and neox, frequency factors, partial rotary
 * dims), each against a double-precision reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ops/ops_harness.h"
#include "tests/unit/test.h"

static const int Ts[] = {1, 3, 17, 64};
static const int dims[] = {64, 576, 4097};

/* ---- embed ---- */

static double ref_elem(DType t, const uint8_t *row, int64_t i) {
    switch (t) {
    case DT_F32: { float f; memcpy(&f, row + 4 * i, 4); return f; }
    case DT_F16: { uint16_t h; memcpy(&h, row + 2 * i, 2); return ops_half_to_double(h); }
    case DT_BF16: { uint16_t h; memcpy(&h, row + 2 * i, 2); return ops_bf16_to_double(h); }
    case DT_Q8_0: { /* blocks of 32: f16 scale, 32 int8 */
        const uint8_t *b = row + (i / 32) * 34;
        uint16_t d; memcpy(&d, b, 2);
        return ops_half_to_double(d) * (int8_t)b[2 + i % 32];
    }
    case DT_Q4_0: { /* blocks of 32: f16 scale, 16 bytes of nibbles (low: 0..15, high: 16..31), q - 8 */
        const uint8_t *b = row + (i / 32) * 18;
        uint16_t d; memcpy(&d, b, 2);
        int j = (int)(i % 32), q = j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4;
        return ops_half_to_double(d) * (q - 8);
    }
    default: return NAN;
    }
}

static void test_embed(OpsCtx *c) {
    const DType types[] = {DT_F32, DT_F16, DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_Q4_K, DT_Q5_K,
                           DT_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        DType type = types[ti];
        int dim = dtype_block_elems(type) == 1 ? 576 : (int)dtype_block_elems(type) * 3;
        int n_rows = 50, T = c->small ? 5 : 17;
        int64_t rb = dtype_row_bytes(type, dim);
        uint8_t *data = malloc((size_t)(rb * n_rows));
        for (int64_t i = 0; i < rb * n_rows; i++) data[i] = (uint8_t)test_rng_next(&c->rng);
        /* finite scales: every f16 in the table gets a sane exponent */
        if (type == DT_F16 || type == DT_BF16)
            for (int64_t i = 1; i < rb * n_rows; i += 2) data[i] = (uint8_t)((data[i] & 0x83) | 0x38);
        if (type != DT_F32 && type != DT_F16 && type != DT_BF16)
            for (int64_t i = 0; i < rb * n_rows; i += 2) data[i + 1] &= 0x3b; /* scales below 2 (Q4_K's too) */
        if (type == DT_F32)
            for (int64_t i = 0; i < dim * n_rows; i++) ((float *)data)[i] = test_rand_uniform(&c->rng, -2, 2);
        int32_t ids[17];
        for (int t = 0; t < T; t++) ids[t] = ops_rand_int(c, 0, n_rows - 1);
        ids[0] = n_rows - 1; /* the last row too */
        double *ref = malloc((size_t)T * dim * sizeof *ref);
        float *row = malloc((size_t)dim * sizeof *row);
        for (int t = 0; t < T; t++) {
            const uint8_t *r = data + (int64_t)ids[t] * rb;
            if (!isnan(ref_elem(type, r, 0))) {
                for (int i = 0; i < dim; i++) ref[(int64_t)t * dim + i] = ref_elem(type, r, i);
            } else {
                dtype_dequantize_row(type, r, row, dim);
                for (int i = 0; i < dim; i++) ref[(int64_t)t * dim + i] = row[i];
            }
        }
        Tensor table = {type, 2, {dim, n_rows, 1, 1}, ops_upload(c, data, (size_t)(rb * n_rows)), "table"};
        int32_t *d_ids = ops_upload(c, ids, (size_t)T * 4);
        float *d_out = ops_poisoned(c, (size_t)T * dim * 4);
        CHECK(c->be->ops->embed(c->be, &table, d_ids, T, d_out) == 0, "embed %s: %s", dtype_name(type), c->be->err);
        float *got = ops_download(c, d_out, (size_t)T * dim * 4);
        char what[64];
        snprintf(what, sizeof what, "embed %s dim %d", dtype_name(type), dim);
        ops_close(what, got, ref, NULL, (int64_t)T * dim, 0, 0);
        ops_free(c, (void *)table.data), ops_free(c, d_ids), ops_free(c, d_out);
        free(got), free(ref), free(row), free(data);
    }
}

/* ---- gather_last: ragged sequences, one of a single token ---- */

static void test_gather_last(OpsCtx *c) {
    int B = 5, dim = 576, qs[6] = {0, 1, 8, 9, 30, 31};
    int T = qs[B];
    float *x = ops_rand(c, (int64_t)T * dim, -3, 3);
    double *ref = malloc((size_t)B * dim * sizeof *ref);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < dim; i++) ref[b * dim + i] = x[(qs[b + 1] - 1) * dim + i];
    float *d_x = ops_upload(c, x, (size_t)T * dim * 4), *d_out = ops_poisoned(c, (size_t)B * dim * 4);
    int32_t *d_qs = ops_upload(c, qs, sizeof qs);
    CHECK(c->be->ops->gather_last(c->be, d_x, d_qs, B, dim, d_out) == 0, "gather_last: %s", c->be->err);
    float *got = ops_download(c, d_out, (size_t)B * dim * 4);
    ops_close("gather_last", got, ref, NULL, (int64_t)B * dim, 0, 0);
    ops_free(c, d_x), ops_free(c, d_out), ops_free(c, d_qs);
    free(x), free(ref), free(got);
}

/* ---- gather_rows: any rows, repeated and out of order ---- */

static void test_gather_rows(OpsCtx *c) {
    int T = 37, dim = 576, n = 9, rows[9] = {36, 0, 5, 5, 17, 1, 35, 2, 20};
    float *x = ops_rand(c, (int64_t)T * dim, -3, 3);
    double *ref = malloc((size_t)n * dim * sizeof *ref);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < dim; k++) ref[i * dim + k] = x[rows[i] * dim + k];
    float *d_x = ops_upload(c, x, (size_t)T * dim * 4), *d_out = ops_poisoned(c, (size_t)n * dim * 4);
    int32_t *d_rows = ops_upload(c, rows, sizeof rows);
    CHECK(c->be->ops->gather_rows(c->be, d_x, d_rows, n, dim, d_out) == 0, "gather_rows: %s", c->be->err);
    float *got = ops_download(c, d_out, (size_t)n * dim * 4);
    ops_close("gather_rows", got, ref, NULL, (int64_t)n * dim, 0, 0);
    ops_free(c, d_x), ops_free(c, d_out), ops_free(c, d_rows);
    free(x), free(ref), free(got);
}

/* ---- rmsnorm and add_rmsnorm ---- */

static void ref_norm(const float *x, const float *y, const float *w, double *xo, double *out, int T, int dim,
                     float eps) {
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < dim; i++) {
            double v = (double)x[t * dim + i] + (y ? (double)y[t * dim + i] : 0.0);
            if (xo) xo[t * dim + i] = v;
            ss += v * v;
        }
        double scale = 1.0 / sqrt(ss / dim + eps);
        for (int i = 0; i < dim; i++)
            out[t * dim + i] = ((double)x[t * dim + i] + (y ? (double)y[t * dim + i] : 0.0)) * scale * w[i];
    }
}

static void test_norms(OpsCtx *c) {
    for (size_t ti = 0; ti < 4; ti++)
        for (size_t di = 0; di < 3; di++) {
            int T = Ts[ti], dim = dims[di];
            if (c->small && (T > 17 || dim > 576)) continue;
            int64_t n = (int64_t)T * dim;
            float *x = ops_rand(c, n, -2, 2), *y = ops_rand(c, n, -2, 2), *w = ops_rand(c, dim, 0.5f, 1.5f);
            double *ref = malloc((size_t)n * sizeof *ref), *xref = malloc((size_t)n * sizeof *xref);
            float *d_x = ops_upload(c, x, (size_t)n * 4), *d_w = ops_upload(c, w, (size_t)dim * 4);
            float *d_out = ops_poisoned(c, (size_t)n * 4);
            char what[96];
            ref_norm(x, NULL, w, NULL, ref, T, dim, 1e-5f);
            CHECK(c->be->ops->rmsnorm(c->be, d_x, d_w, d_out, T, dim, 1e-5f) == 0, "rmsnorm: %s", c->be->err);
            float *got = ops_download(c, d_out, (size_t)n * 4);
            snprintf(what, sizeof what, "rmsnorm T %d dim %d", T, dim);
            ops_close(what, got, ref, NULL, n, 1e-6, 2e-6 * c->tol_scale);
            free(got);
            /* fused: x += y, out = norm(x) * w, with out aliasing y as the forward uses it */
            float *d_y = ops_upload(c, y, (size_t)n * 4);
            ref_norm(x, y, w, xref, ref, T, dim, 1e-5f);
            CHECK(c->be->ops->add_rmsnorm(c->be, d_x, d_y, d_w, d_y, T, dim, 1e-5f) == 0, "add_rmsnorm: %s",
                  c->be->err);
            got = ops_download(c, d_y, (size_t)n * 4);
            float *gx = ops_download(c, d_x, (size_t)n * 4);
            snprintf(what, sizeof what, "add_rmsnorm T %d dim %d (out = y)", T, dim);
            ops_close(what, got, ref, NULL, n, 1e-6, 2e-6 * c->tol_scale);
            snprintf(what, sizeof what, "add_rmsnorm T %d dim %d: the residual x + y", T, dim);
            ops_close(what, gx, xref, NULL, n, 0, 1e-7);
            ops_free(c, d_x), ops_free(c, d_w), ops_free(c, d_out), ops_free(c, d_y);
            free(x), free(y), free(w), free(ref), free(xref), free(got), free(gx);
        }
}

/* ---- add, add_bias, silu_mul ---- */

static void test_elementwise(OpsCtx *c) {
    for (size_t ti = 0; ti < 4; ti++) {
        int T = Ts[ti], dim = dims[ti % 3];
        int64_t n = (int64_t)T * dim;
        float *x = ops_rand(c, n, -8, 8), *y = ops_rand(c, n, -8, 8), *b = ops_rand(c, dim, -1, 1);
        double *ref = malloc((size_t)n * sizeof *ref);
        char what[96];
        float *d_x = ops_upload(c, x, (size_t)n * 4), *d_y = ops_upload(c, y, (size_t)n * 4);
        float *d_b = ops_upload(c, b, (size_t)dim * 4);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)x[i] + y[i];
        CHECK(c->be->ops->add(c->be, d_x, d_y, n) == 0, "add: %s", c->be->err);
        float *got = ops_download(c, d_x, (size_t)n * 4);
        snprintf(what, sizeof what, "add n %lld", (long long)n);
        ops_close(what, got, ref, NULL, n, 0, 1e-7);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)got[i] + b[i % dim];
        free(got);
        CHECK(c->be->ops->add_bias(c->be, d_x, d_b, T, dim) == 0, "add_bias: %s", c->be->err);
        got = ops_download(c, d_x, (size_t)n * 4);
        snprintf(what, sizeof what, "add_bias T %d dim %d", T, dim);
        ops_close(what, got, ref, NULL, n, 0, 1e-7);
        free(got);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)x[i] / (1.0 + exp(-(double)x[i])) * y[i];
        float *d_g = ops_upload(c, x, (size_t)n * 4);
        CHECK(c->be->ops->silu_mul(c->be, d_g, d_y, n) == 0, "silu_mul: %s", c->be->err);
        got = ops_download(c, d_g, (size_t)n * 4);
        snprintf(what, sizeof what, "silu_mul n %lld", (long long)n);
        ops_close(what, got, ref, NULL, n, 1e-6, 4e-6 * c->tol_scale);
        ops_free(c, d_x), ops_free(c, d_y), ops_free(c, d_b), ops_free(c, d_g);
        free(x), free(y), free(b), free(ref), free(got);
    }
}

/* ---- rope ---- */

static void ref_rope(double *out, const float *x, const int32_t *pos, int T, int nh, int hd, int rot, double base,
                     const float *ff, int style) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < nh; h++) {
            const float *xh = x + ((int64_t)t * nh + h) * hd;
            double *o = out + ((int64_t)t * nh + h) * hd;
            for (int i = 0; i < hd; i++) o[i] = xh[i];
            for (int i = 0; i < rot / 2; i++) {
                double th = pos[t] * pow(base, -2.0 * i / rot) / (ff ? ff[i] : 1.0);
                int i0 = style == ROPE_NEOX ? i : 2 * i, i1 = style == ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
                o[i0] = xh[i0] * cos(th) - xh[i1] * sin(th);
                o[i1] = xh[i0] * sin(th) + xh[i1] * cos(th);
            }
        }
}

static void test_rope(OpsCtx *c) {
    /* heads, head_dim, rot_dim, style, frequency factors (as Llama-3.1's: 1 for high
     * frequencies, up to 8 for low ones, smooth between) */
    const int cfg[][5] = {{4, 64, 64, ROPE_NORMAL, 0}, {3, 128, 128, ROPE_NEOX, 0}, {2, 64, 32, ROPE_NEOX, 0},
                          {2, 128, 64, ROPE_NORMAL, 0}, {3, 128, 128, ROPE_NEOX, 1}, {2, 64, 64, ROPE_NORMAL, 1}};
    for (int k = 0; k < 6; k++) {
        int T = c->small ? 5 : 17, nh = cfg[k][0], hd = cfg[k][1], rot = cfg[k][2], style = cfg[k][3];
        float ff[64], *mid = ops_rand(c, 64, 1, 8);
        for (int i = 0; i < rot / 2; i++) ff[i] = i < rot / 8 ? 1.0f : i > rot / 3 ? 8.0f : mid[i];
        free(mid);
        int64_t n = (int64_t)T * nh * hd;
        float *x = ops_rand(c, n, -1, 1);
        int32_t pos[17];
        for (int t = 0; t < T; t++) pos[t] = t == 0 ? 0 : ops_rand_int(c, 0, 4000);
        double *ref = malloc((size_t)n * sizeof *ref), *scale = malloc((size_t)n * sizeof *scale);
        ref_rope(ref, x, pos, T, nh, hd, rot, 10000.0, cfg[k][4] ? ff : NULL, style);
        /* llama.cpp's angle recipe (theta *= powf(base, -2/rot) per pair, in float) drifts
         * from the exact angle by a few ulp per step, so the error grows with the position:
         * <= 2.4e-7 * pos measured for pos < 8192 and |x| <= 1; allow 1e-6 * pos + 1e-6 */
        for (int64_t i = 0; i < n; i++) scale[i] = pos[i / ((int64_t)nh * hd)];
        float *d_x = ops_upload(c, x, (size_t)n * 4);
        int32_t *d_pos = ops_upload(c, pos, (size_t)T * 4);
        float *d_ff = cfg[k][4] ? ops_upload(c, ff, (size_t)rot / 2 * 4) : NULL;
        CHECK(c->be->ops->rope(c->be, d_x, d_pos, T, nh, hd, rot, 10000.0f, d_ff, style) == 0, "rope: %s", c->be->err);
        float *got = ops_download(c, d_x, (size_t)n * 4);
        char what[96];
        snprintf(what, sizeof what, "rope %s heads %d head_dim %d rot %d%s", style == ROPE_NEOX ? "neox" : "normal", nh,
                 hd, rot, cfg[k][4] ? " freq_factors" : "");
        ops_close(what, got, ref, scale, n, 1e-6, 1e-6 * c->tol_scale);
        ops_free(c, d_x), ops_free(c, d_pos);
        if (d_ff) ops_free(c, d_ff);
        free(x), free(ref), free(scale), free(got);
    }
}

/* ---- fill_random: the formula of kernels/backend.h, bit for bit ---- */

static uint64_t mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ull;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_fill(OpsCtx *c) {
    const DType types[] = {DT_F32, DT_F16, DT_BF16};
    int n = 3001;
    for (int ti = 0; ti < 3; ti++) {
        DType dt = types[ti];
        size_t es = dt == DT_F32 ? 4 : 2;
        void *d = ops_poisoned(c, (size_t)n * es);
        CHECK(c->be->ops->fill_random(c->be, d, n, dt, 1234567, 1.0f, 0.02f) == 0, "fill_random: %s", c->be->err);
        unsigned char *got = ops_download(c, d, (size_t)n * es), *want = malloc((size_t)n * es);
        for (int i = 0; i < n; i++) {
            volatile float u = (float)(mix64(1234567 + (uint64_t)i) >> 40) * (1.0f / 16777216.0f);
            volatile float x = 2.0f * u - 1.0f, y = 0.02f * x, v = 1.0f + y; /* two roundings, not a fused one */
            uint32_t bits;
            memcpy(&bits, (const void *)&v, 4);
            uint16_t h = dt == DT_F16 ? ops_double_to_half(v) : (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
            if (dt == DT_F32) memcpy(want + 4 * i, &bits, 4);
            else memcpy(want + 2 * i, &h, 2);
        }
        ops_same(dt == DT_F32 ? "fill_random f32" : dt == DT_F16 ? "fill_random f16" : "fill_random bf16", got, want,
                 (size_t)n * es);
        ops_free(c, d);
        free(got), free(want);
    }
}

void ops_test_rows(OpsCtx *c) {
    test_fill(c);
    test_embed(c);
    test_gather_last(c);
    test_gather_rows(c);
    test_norms(c);
    test_elementwise(c);
    test_rope(c);
}
