/* The CPU backend's promise, checked through its op table: a row's result is bit-identical
 * whatever else is in the batch and however many threads run it, and the fused add_rmsnorm
 * is bit-identical to the add and rmsnorm it replaced (so golden outputs did not move). */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ops/ops_harness.h"
#include "tests/unit/test.h"

/* T rows at once == T calls of one row. CPU only: its buffers are host memory, so the rows
 * are passed in place. */
void ops_test_batch_invariance(OpsCtx *c, Backend *other) {
    if (!c->be->host_visible || !other) {
        SKIP("batch invariance is the CPU backend's promise; %s does not make it", c->name);
        return;
    }
    int T = c->small ? 8 : 64, dim = 4097, nh = 8, hd = 128;
    int64_t n = (int64_t)T * dim, nr = (int64_t)T * nh * hd;
    float *x = ops_rand(c, n, -4, 4), *y = ops_rand(c, n, -1, 1), *w = ops_rand(c, dim, -1, 1);
    float *u = ops_rand(c, n, -2, 2), *all = malloc((size_t)n * 4), *one = malloc((size_t)n * 4);
    float *xa = malloc((size_t)n * 4), *xo = malloc((size_t)n * 4);
    float *xr = ops_rand(c, nr, -1, 1), *ra = malloc((size_t)nr * 4), *ro = malloc((size_t)nr * 4);
    int32_t pos[64];
    for (int t = 0; t < T; t++) pos[t] = ops_rand_int(c, 0, 4095);
    Backend *bes[2] = {c->be, other}, *be1 = c->be;
    for (int k = 0; k < 2; k++) {
        bes[k]->ops->rmsnorm(bes[k], x, w, all, T, dim, 1e-6f);
        for (int t = 0; t < T; t++) be1->ops->rmsnorm(be1, x + (int64_t)t * dim, w, one + (int64_t)t * dim, 1, dim, 1e-6f);
        CHECK(!memcmp(all, one, (size_t)n * 4), "rmsnorm batch invariant (backend %d)", k);
        memcpy(xa, x, (size_t)n * 4), memcpy(xo, x, (size_t)n * 4);
        bes[k]->ops->add_rmsnorm(bes[k], xa, y, w, all, T, dim, 1e-6f);
        for (int t = 0; t < T; t++)
            be1->ops->add_rmsnorm(be1, xo + (int64_t)t * dim, y + (int64_t)t * dim, w, one + (int64_t)t * dim, 1, dim,
                                  1e-6f);
        CHECK(!memcmp(all, one, (size_t)n * 4) && !memcmp(xa, xo, (size_t)n * 4),
              "add_rmsnorm batch invariant (backend %d)", k);
        /* and bit-identical to add followed by rmsnorm, which the forward used to run */
        memcpy(xo, x, (size_t)n * 4);
        be1->ops->add(be1, xo, y, n);
        be1->ops->rmsnorm(be1, xo, w, one, T, dim, 1e-6f);
        CHECK(!memcmp(all, one, (size_t)n * 4) && !memcmp(xa, xo, (size_t)n * 4), "add_rmsnorm == add + rmsnorm");
        memcpy(all, x, (size_t)n * 4), memcpy(one, x, (size_t)n * 4);
        bes[k]->ops->silu_mul(bes[k], all, u, n); /* rows of odd length end mid-vector when alone */
        for (int t = 0; t < T; t++) be1->ops->silu_mul(be1, one + (int64_t)t * dim, u + (int64_t)t * dim, dim);
        CHECK(!memcmp(all, one, (size_t)n * 4), "silu_mul batch invariant (backend %d)", k);
        memcpy(ra, xr, (size_t)nr * 4), memcpy(ro, xr, (size_t)nr * 4);
        bes[k]->ops->rope(bes[k], ra, pos, T, nh, hd, hd, 10000.0f, NULL, ROPE_NEOX);
        for (int t = 0; t < T; t++)
            be1->ops->rope(be1, ro + (int64_t)t * nh * hd, pos + t, 1, nh, hd, hd, 10000.0f, NULL, ROPE_NEOX);
        CHECK(!memcmp(ra, ro, (size_t)nr * 4), "rope batch invariant (backend %d)", k);
    }
    free(x), free(y), free(w), free(u), free(all), free(one), free(xa), free(xo), free(xr), free(ra), free(ro);
}
