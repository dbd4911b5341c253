/* Paged attention through the backend interface. Each case is one flat batch of ragged
 * sequences (context length L_b, of which the last q_b are this step's queries) whose blocks
 * are drawn at random from a shuffled pool, so tables are non-contiguous and last blocks
 * partial. The whole context's K/V go in through kv_write (so it is tested on the way) into
 * a cache whose every byte starts as NaN: a kernel that reads one slot past a sequence's
 * length, or one block too many, returns NaN and fails. The reference is double precision
 * over the values the cache holds (f16-rounded for an f16 cache). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ops/ops_harness.h"
#include "tests/unit/test.h"

typedef struct Case {
    int nh, nkv, hd, bs;
    DType dt;
    int B;
    int L[8], q[8]; /* context lengths and query counts per sequence */
} Case;

static double held(float v, DType dt) { return dt == DT_F32 ? v : ops_from16(ops_to16(v, dt), dt); }

/* out[t, h, :] and scale[t, h, :] (sum of p * |v|, the magnitude the tolerance is relative to) */
static void attn_ref(const Case *k, const int32_t *qs, const float *q, const float *K, const float *V,
                     const int *ctx0, double *out, double *scale) {
    int kvd = k->nkv * k->hd, g = k->nh / k->nkv;
    double sc = 1.0 / sqrt((double)k->hd), *p = malloc(4096 * sizeof *p);
    for (int b = 0; b < k->B; b++)
        for (int i = 0; i < k->q[b]; i++) {
            int t = qs[b] + i, pos = k->L[b] - k->q[b] + i;
            for (int h = 0; h < k->nh; h++) {
                const float *qh = q + ((int64_t)t * k->nh + h) * k->hd;
                int kvh = h / g;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= pos; j++) {
                    const float *kr = K + (int64_t)(ctx0[b] + j) * kvd + kvh * k->hd;
                    double s = 0;
                    for (int d = 0; d < k->hd; d++) s += (double)qh[d] * held(kr[d], k->dt);
                    p[j] = s * sc;
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int j = 0; j <= pos; j++) sum += (p[j] = exp(p[j] - mx));
                double *o = out + ((int64_t)t * k->nh + h) * k->hd, *s = scale + ((int64_t)t * k->nh + h) * k->hd;
                for (int d = 0; d < k->hd; d++) o[d] = s[d] = 0;
                for (int j = 0; j <= pos; j++) {
                    const float *vr = V + (int64_t)(ctx0[b] + j) * kvd + kvh * k->hd;
                    for (int d = 0; d < k->hd; d++) {
                        double v = held(vr[d], k->dt);
                        o[d] += p[j] / sum * v, s[d] += p[j] / sum * fabs(v);
                    }
                }
            }
        }
    free(p);
}

static void run_case(OpsCtx *c, const Case *k) {
    int kvd = k->nkv * k->hd, qd = k->nh * k->hd, mb = 0, nblocks = 1, ctx_total = 0, T = 0;
    int ctx0[8], qs[9], maxq = 0, maxl = 0;
    for (int b = 0; b < k->B; b++) {
        int n = (k->L[b] + k->bs - 1) / k->bs;
        mb = n > mb ? n : mb;
        nblocks += n + 1; /* a spare block per sequence keeps the pool non-contiguous */
        ctx0[b] = ctx_total, ctx_total += k->L[b];
        qs[b] = T, T += k->q[b];
        maxq = k->q[b] > maxq ? k->q[b] : maxq, maxl = k->L[b] > maxl ? k->L[b] : maxl;
    }
    qs[k->B] = T;
    int32_t *pool = malloc((size_t)nblocks * 4), *tables = malloc((size_t)k->B * mb * 4), lens[8];
    for (int i = 0; i < nblocks - 1; i++) pool[i] = i + 1; /* block 0 is the null block */
    ops_shuffle(c, pool, nblocks - 1);
    int64_t *wslots = malloc((size_t)ctx_total * 8), *qslots = malloc((size_t)T * 8);
    for (int b = 0, next = 0; b < k->B; b++) {
        lens[b] = k->L[b];
        for (int j = 0; j < mb; j++)
            tables[b * mb + j] = j < (k->L[b] + k->bs - 1) / k->bs ? pool[next++] : 0; /* padded with the null block */
        for (int j = 0; j < k->L[b]; j++)
            wslots[ctx0[b] + j] = (int64_t)tables[b * mb + j / k->bs] * k->bs + j % k->bs;
        for (int i = 0; i < k->q[b]; i++) qslots[qs[b] + i] = wslots[ctx0[b] + k->L[b] - k->q[b] + i];
    }
    KvCache kv = ops_cache_new(c, 1, nblocks, k->bs, kvd, k->dt);
    float *K = ops_rand(c, (int64_t)ctx_total * kvd, -2, 2), *V = ops_rand(c, (int64_t)ctx_total * kvd, -2, 2);
    float *q = ops_rand(c, (int64_t)T * qd, -2, 2);
    float *d_K = ops_upload(c, K, (size_t)ctx_total * kvd * 4), *d_V = ops_upload(c, V, (size_t)ctx_total * kvd * 4);
    int64_t *d_ws = ops_upload(c, wslots, (size_t)ctx_total * 8), *d_qslots = ops_upload(c, qslots, (size_t)T * 8);
    AttnBatch wb = {ctx_total, 1, ctx_total, ctx_total, NULL, NULL, NULL, 0, d_ws};
    CHECK(c->be->ops->kv_write(c->be, &kv, 0, d_K, d_V, &wb) == 0, "kv_write: %s", c->be->err);
    int32_t *d_qs = ops_upload(c, qs, (size_t)(k->B + 1) * 4), *d_lens = ops_upload(c, lens, (size_t)k->B * 4);
    int32_t *d_tables = ops_upload(c, tables, (size_t)k->B * mb * 4);
    float *d_q = ops_upload(c, q, (size_t)T * qd * 4), *d_out = ops_poisoned(c, (size_t)T * qd * 4);
    AttnBatch ab = {T, k->B, maxq, maxl, d_qs, d_lens, d_tables, mb, d_qslots};
    CHECK(c->be->ops->attention(c->be, &kv, 0, d_q, &ab, k->nh, k->nkv, k->hd, 1.0f / sqrtf((float)k->hd), d_out) == 0,
          "attention: %s", c->be->err);
    float *got = ops_download(c, d_out, (size_t)T * qd * 4);
    double *ref = malloc((size_t)T * qd * sizeof *ref), *scale = malloc((size_t)T * qd * sizeof *scale);
    attn_ref(k, qs, q, K, V, ctx0, ref, scale);
    char what[160];
    snprintf(what, sizeof what, "attention %s heads %d/%d head_dim %d block %d, %d seqs (L0 %d q0 %d)",
             dtype_name(k->dt), k->nh, k->nkv, k->hd, k->bs, k->B, k->L[0], k->q[0]);
    ops_close(what, got, ref, scale, (int64_t)T * qd, 1e-6, 2e-6 * c->tol_scale);
    ops_free(c, d_K), ops_free(c, d_V), ops_free(c, d_ws), ops_free(c, d_qslots), ops_free(c, d_qs);
    ops_free(c, d_lens), ops_free(c, d_tables), ops_free(c, d_q), ops_free(c, d_out);
    ops_cache_free(c, &kv);
    free(pool), free(tables), free(wslots), free(qslots), free(K), free(V), free(q), free(got), free(ref), free(scale);
}

void ops_test_attention(OpsCtx *c) {
    /* heads / kv heads / head_dim: GQA 1, 4 and 8 at head dims 64 and 128 */
    const int heads[][3] = {{4, 4, 64}, {8, 2, 64}, {8, 1, 128}, {4, 4, 128}};
    for (int hi = 0; hi < 4; hi++)
        for (int di = 0; di < 3; di++) {
            DType dt = di == 0 ? DT_F32 : di == 1 ? DT_F16 : DT_BF16;
            int big = c->small ? 1 : 3; /* long contexts cross many tiles and split-K partitions */
            Case cs[] = {
                /* decode: one query each, lengths 1, a block edge, partial blocks, a long one */
                {heads[hi][0], heads[hi][1], heads[hi][2], 16, dt, 5, {1, 16, 17, 33, 160 * big}, {1, 1, 1, 1, 1}},
                /* whole prompts (no cached prefix) */
                {heads[hi][0], heads[hi][1], heads[hi][2], 16, dt, 2, {7, 40}, {7, 40}},
                /* chunks over a cached prefix, next to decodes: a mixed step, block size 4 */
                {heads[hi][0], heads[hi][1], heads[hi][2], 4, dt, 4, {30, 5, 64 * big, 9}, {6, 1, 13, 9}},
            };
            for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) run_case(c, &cs[k]);
        }
}
