/* The harness's helpers (see ops_harness.h): backend buffers, random inputs, comparisons,
 * and the half / bfloat16 formats decoded from their definitions. */
#include "tests/unit/ops/ops_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test.h"

void *ops_upload(OpsCtx *c, const void *host, size_t bytes) {
    char err[256];
    void *d = backend_alloc(c->be, bytes ? bytes : 1, err, sizeof err);
    CHECK(d != NULL, "alloc of %zu bytes: %s", bytes, err);
    if (d && bytes) CHECK(backend_upload(c->be, d, host, bytes, err, sizeof err) == 0, "upload: %s", err);
    return d;
}

void *ops_poisoned(OpsCtx *c, size_t bytes) {
    void *h = malloc(bytes ? bytes : 1);
    memset(h, 0xFF, bytes); /* all ones: NaN as f32, f16 and bf16 */
    void *d = ops_upload(c, h, bytes);
    free(h);
    return d;
}

void *ops_download(OpsCtx *c, const void *dev, size_t bytes) {
    char err[256];
    void *h = malloc(bytes ? bytes : 1);
    memset(h, 0xFF, bytes);
    CHECK(backend_download(c->be, h, dev, bytes, err, sizeof err) == 0, "download: %s", err);
    CHECK(backend_synchronize(c->be, err, sizeof err) == 0, "synchronize: %s", err);
    return h;
}

void ops_free(OpsCtx *c, void *dev) { backend_free(c->be, dev); }

float *ops_rand(OpsCtx *c, int64_t n, float lo, float hi) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = test_rand_uniform(&c->rng, lo, hi);
    return v;
}

int ops_rand_int(OpsCtx *c, int lo, int hi) { return lo + (int)(test_rng_next(&c->rng) % (unsigned)(hi - lo + 1)); }

void ops_shuffle(OpsCtx *c, int32_t *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(test_rng_next(&c->rng) % (unsigned)(i + 1));
        int32_t t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

int ops_close(const char *what, const float *got, const double *ref, const double *scale, int64_t n, double atol,
              double rtol) {
    for (int64_t i = 0; i < n; i++) {
        double s = scale ? fabs(scale[i]) : fabs(ref[i]);
        double err = fabs((double)got[i] - ref[i]);
        if (!isfinite(got[i]) || !(err <= atol + rtol * s)) {
            CHECK(0, "%s: element %lld of %lld: got %.9g want %.9g (tolerance %.3g)", what, (long long)i,
                  (long long)n, got[i], ref[i], atol + rtol * s);
            return 0;
        }
    }
    CHECK(1);
    return 1;
}

int ops_same(const char *what, const void *got, const void *want, size_t n) {
    const unsigned char *g = got, *w = want;
    for (size_t i = 0; i < n; i++)
        if (g[i] != w[i]) {
            CHECK(0, "%s: byte %zu of %zu differs (%02x, want %02x)", what, i, n, g[i], w[i]);
            return 0;
        }
    CHECK(1);
    return 1;
}

double ops_half_to_double(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e ? ldexp(m | 1024, e - 25) : ldexp(m, -24);
    return (h >> 15) ? -v : v;
}

double ops_bf16_to_double(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ops_double_to_half(double x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs(x);
    if (isnan(x)) return 0x7e00;
    if (a >= 65520.0) return sign | 0x7c00; /* rounds to infinity */
    /* the value as an integer count of the spacing at its binade, rounded to nearest even */
    int e;
    frexp(a, &e); /* a = f * 2^e, f in [0.5, 1) */
    int exp = e - 1 < -14 ? -14 : e - 1;
    double q = ldexp(a, 10 - exp), r = nearbyint(q); /* nearbyint rounds half to even */
    uint32_t m = (uint32_t)r;
    if (m >= 2048) m >>= 1, exp++; /* rounded up into the next binade */
    if (m < 1024) return sign | (uint16_t)m; /* subnormal (exp is -14) */
    return sign | (uint16_t)(((exp + 15) << 10) | (m - 1024));
}

uint16_t ops_to16(float x, DType dt) {
    if (dt == DT_F16) return ops_double_to_half(x);
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16); /* finite inputs only here */
}

double ops_from16(uint16_t h, DType dt) { return dt == DT_F16 ? ops_half_to_double(h) : ops_bf16_to_double(h); }
