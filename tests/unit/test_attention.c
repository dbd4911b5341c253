/* Tests of paged attention on the CPU (kernels/cpu/attention.c): cpu_kv_write and
 * cpu_attention against a plain double-precision reference that reads each sequence's K/V
 * from contiguous arrays, never from the cache. Every batch mixes decodes (q_len 1), prefill
 * chunks over a cached prefix and whole prefills, with ragged lengths, shuffled
 * (non-contiguous) block ids, GQA groupings and block sizes 1, 16 and 32. Every cache slot
 * that no sequence owns holds NaN, as does every spare entry of the block tables (pointing at
 * a NaN block) and the other layer, so one out-of-range read shows up as NaN in the output.
 * Batch invariance: a sequence run alone gives the same bits as inside the batch, and 1
 * thread the same bits as 2. Every case runs with an f32 and an f16 cache; for f16 the
 * reference reads K/V rounded through f16 (what the cache holds), so the bounds are the same,
 * and unused slots hold the f16 NaN 0x7E00. */
#include <stdint.h>

#include "kernels/backend.h"
#include "kernels/cpu/quant.h"
#include "tests/unit/test.h"

#define MAX_B 8

typedef struct Seq {
    int seq_len, q_len;
    float *k, *v; /* [seq_len, kv_dim] the reference's contiguous copy */
} Seq;

static int64_t slot_of(const int32_t *table, int bs, int j) { return (int64_t)table[j / bs] * bs + j % bs; }

/* out_ref[t, h, :] in double; tol[t * nh + h] its error bound (see the comment in run_case) */
static void attn_ref(const Seq *seqs, int B, const float *q, int nh, int nkv, int hd, float scale, double *out,
                     double *tol) {
    int t = 0, kv_dim = nkv * hd;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < seqs[b].q_len; i++, t++) {
            int n_ctx = seqs[b].seq_len - seqs[b].q_len + i + 1;
            double *s = malloc(sizeof(double) * (size_t)n_ctx);
            for (int h = 0; h < nh; h++) {
                const float *qh = q + ((int64_t)t * nh + h) * hd;
                int off = h / (nh / nkv) * hd;
                double mx = -INFINITY, mag = 0, sum = 0;
                for (int j = 0; j < n_ctx; j++) {
                    double d = 0, a = 0;
                    for (int e = 0; e < hd; e++) {
                        double p = (double)qh[e] * seqs[b].k[(int64_t)j * kv_dim + off + e];
                        d += p;
                        a += fabs(p);
                    }
                    s[j] = d * scale;
                    mx = s[j] > mx ? s[j] : mx;
                    mag = a * scale > mag ? a * scale : mag;
                }
                for (int j = 0; j < n_ctx; j++) sum += (s[j] = exp(s[j] - mx));
                double *o = out + ((int64_t)t * nh + h) * hd;
                for (int e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int j = 0; j < n_ctx; j++) acc += s[j] * seqs[b].v[(int64_t)j * kv_dim + off + e];
                    o[e] = acc / sum;
                }
                /* A float score has error <= hd * 2^-24 * sum|q_e k_e| * scale (summation
                 * bound), which perturbs each softmax weight by that much relatively; the
                 * running sums over n_ctx terms add <= n_ctx * 2^-24 relative each (two of
                 * them). |v| <= 1, so the output moves by at most 2^-23 * (hd * mag + n_ctx),
                 * with a factor 2 for the exp and division roundings: 2^-22. */
                tol[t * nh + h] = 1e-6 + ldexp(1.0, -22) * (hd * mag + n_ctx);
            }
            free(s);
        }
}

static void shuffle(unsigned long long *rng, int32_t *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(test_rng_next(rng) % (uint64_t)(i + 1));
        int32_t x = a[i];
        a[i] = a[j];
        a[j] = x;
    }
}

/* cache row i of layer l (element size es) */
static void *cache_row(void *base, int64_t i, int kv_dim, size_t es) { return (char *)base + i * kv_dim * es; }

/* the row as the cache stores it: f32, or f16 bits */
static void to_cache(void *dst, const float *src, int n, DType dt) {
    if (dt == DT_F16)
        for (int i = 0; i < n; i++) ((uint16_t *)dst)[i] = f32_to_fp16(src[i]);
    else memcpy(dst, src, sizeof(float) * (size_t)n);
}

static void run_case_dt(Backend *be1, Backend *be2, unsigned long long *rng, int nh, int nkv, int hd, int bs,
                        float qmag, int ctx_max, DType dt) {
    size_t es = dt == DT_F16 ? 2 : sizeof(float);
    int kv_dim = nkv * hd, B = 6;
    Seq seqs[MAX_B];
    /* decodes, prefill chunks after a cached prefix, whole prefills, a first token; some
     * longer than two attention tiles (128) */
    for (int b = 0; b < B; b++) {
        Seq *s = &seqs[b];
        int kind = b % 4;
        if (kind == 0) s->q_len = 1, s->seq_len = 1 + (int)(test_rng_next(rng) % ctx_max);
        if (kind == 1) s->q_len = 2 + (int)(test_rng_next(rng) % 30), s->seq_len = s->q_len + 1 + (int)(test_rng_next(rng) % (ctx_max - 20));
        if (kind == 2) s->q_len = s->seq_len = 1 + (int)(test_rng_next(rng) % 40);
        if (kind == 3) s->q_len = s->seq_len = 1;
    }
    int blocks_needed = 0, max_blocks = 0, T = 0;
    for (int b = 0; b < B; b++) {
        int nb = (seqs[b].seq_len + bs - 1) / bs;
        blocks_needed += nb;
        max_blocks = nb > max_blocks ? nb : max_blocks;
        T += seqs[b].q_len;
    }
    max_blocks += 2; /* spare table entries, which point at a NaN block */
    int64_t num_blocks = blocks_needed + 5;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)num_blocks);
    for (int i = 0; i < num_blocks; i++) ids[i] = i;
    shuffle(rng, ids, (int)num_blocks);
    int32_t spare = ids[num_blocks - 1];

    KvCache kv = {.n_layers = 2, .num_blocks = num_blocks, .block_size = bs, .kv_dim = kv_dim, .dtype = dt};
    void *kl[2], *vl[2];
    int64_t cache_n = num_blocks * bs * kv_dim;
    for (int l = 0; l < 2; l++) {
        kl[l] = malloc(es * (size_t)cache_n);
        vl[l] = malloc(es * (size_t)cache_n);
        for (int64_t i = 0; i < cache_n; i++) {
            if (dt == DT_F16) ((uint16_t *)kl[l])[i] = ((uint16_t *)vl[l])[i] = 0x7E00;
            else ((float *)kl[l])[i] = ((float *)vl[l])[i] = NAN;
        }
    }
    kv.k = kl, kv.v = vl;
    const int layer = 1;

    int32_t *tables = malloc(sizeof(int32_t) * (size_t)B * max_blocks);
    int32_t qs[MAX_B + 1], lens[MAX_B];
    int64_t *slots = malloc(sizeof(int64_t) * (size_t)T);
    float *knew = malloc(sizeof(float) * (size_t)T * kv_dim), *vnew = malloc(sizeof(float) * (size_t)T * kv_dim);
    int next = 0;
    qs[0] = 0;
    for (int b = 0; b < B; b++) {
        Seq *s = &seqs[b];
        int32_t *tb = tables + b * max_blocks;
        int nb = (s->seq_len + bs - 1) / bs;
        for (int i = 0; i < max_blocks; i++) tb[i] = i < nb ? ids[next++] : spare;
        s->k = malloc(sizeof(float) * (size_t)s->seq_len * kv_dim);
        s->v = malloc(sizeof(float) * (size_t)s->seq_len * kv_dim);
        for (int64_t i = 0; i < (int64_t)s->seq_len * kv_dim; i++) {
            s->k[i] = test_rand_uniform(rng, -1, 1);
            s->v[i] = test_rand_uniform(rng, -1, 1);
            if (dt == DT_F16) s->k[i] = fp16_round(s->k[i]), s->v[i] = fp16_round(s->v[i]);
        }
        int cached = s->seq_len - s->q_len;
        for (int j = 0; j < cached; j++) { /* written by earlier steps */
            to_cache(cache_row(kl[layer], slot_of(tb, bs, j), kv_dim, es), s->k + (int64_t)j * kv_dim, kv_dim, dt);
            to_cache(cache_row(vl[layer], slot_of(tb, bs, j), kv_dim, es), s->v + (int64_t)j * kv_dim, kv_dim, dt);
        }
        for (int i = 0; i < s->q_len; i++) {
            int t = qs[b] + i;
            slots[t] = slot_of(tb, bs, cached + i);
            memcpy(knew + (int64_t)t * kv_dim, s->k + (int64_t)(cached + i) * kv_dim, sizeof(float) * kv_dim);
            memcpy(vnew + (int64_t)t * kv_dim, s->v + (int64_t)(cached + i) * kv_dim, sizeof(float) * kv_dim);
        }
        qs[b + 1] = qs[b] + s->q_len;
        lens[b] = s->seq_len;
    }
    AttnBatch batch = {T, B, qs, lens, tables, max_blocks, slots};
    be1->ops->kv_write(be1, &kv, layer, knew, vnew, &batch);
    int wrote = 1;
    void *row = malloc(es * (size_t)kv_dim);
    for (int t = 0; t < T; t++) {
        to_cache(row, knew + (int64_t)t * kv_dim, kv_dim, dt);
        wrote &= !memcmp(cache_row(kl[layer], slots[t], kv_dim, es), row, es * kv_dim);
        to_cache(row, vnew + (int64_t)t * kv_dim, kv_dim, dt);
        wrote &= !memcmp(cache_row(vl[layer], slots[t], kv_dim, es), row, es * kv_dim);
    }
    free(row);
    CHECK(wrote, "kv_write rows land at slot_mapping (%s)", dt == DT_F16 ? "f16" : "f32");

    float scale = qmag > 1 ? 1.0f : 1.0f / sqrtf((float)hd);
    int64_t qn = (int64_t)T * nh * hd;
    float *q = malloc(sizeof(float) * (size_t)qn);
    for (int64_t i = 0; i < qn; i++) q[i] = test_rand_uniform(rng, -qmag, qmag);
    float *out = malloc(sizeof(float) * (size_t)qn), *out2 = malloc(sizeof(float) * (size_t)qn);
    double *ref = malloc(sizeof(double) * (size_t)qn), *tol = malloc(sizeof(double) * (size_t)T * nh);
    be1->ops->attention(be1, &kv, layer, q, &batch, nh, nkv, hd, scale, out);
    attn_ref(seqs, B, q, nh, nkv, hd, scale, ref, tol);

    int nan = 0, ok = 1;
    double worst = 0;
    for (int64_t i = 0; i < qn; i++) {
        if (isnan(out[i])) nan = 1;
        double err = fabs(out[i] - ref[i]), tl = tol[i / hd];
        worst = err / tl > worst ? err / tl : worst;
        if (!(err <= tl) && ok) {
            fprintf(stderr, "attention elem %lld: got %.9g want %.9g (tol %.3g)\n", (long long)i, out[i], ref[i], tl);
            ok = 0;
        }
    }
    const char *dn = dt == DT_F16 ? "f16" : "f32";
    CHECK(!nan, "no NaN: nothing read outside [0, pos] (nh %d nkv %d hd %d bs %d %s)", nh, nkv, hd, bs, dn);
    CHECK(ok, "attention vs reference nh %d nkv %d hd %d bs %d qmag %g %s", nh, nkv, hd, bs, qmag, dn);
    if (getenv("PISTON_TEST_VERBOSE"))
        fprintf(stderr, "nh %d nkv %d hd %d bs %d qmag %g %s: worst err/tol %.3g\n", nh, nkv, hd, bs, qmag, dn, worst);

    be2->ops->attention(be2, &kv, layer, q, &batch, nh, nkv, hd, scale, out2);
    CHECK(!memcmp(out, out2, sizeof(float) * (size_t)qn), "1 thread == 2 threads, bit for bit");

    /* each sequence alone: same block table row, same cache, its own query rows */
    for (int b = 0; b < B; b++) {
        int32_t qs1[2] = {0, seqs[b].q_len}, len1 = seqs[b].seq_len;
        AttnBatch one = {seqs[b].q_len, 1, qs1, &len1, tables + b * max_blocks, max_blocks, slots + qs[b]};
        int64_t off = (int64_t)qs[b] * nh * hd, n = (int64_t)seqs[b].q_len * nh * hd;
        be1->ops->attention(be1, &kv, layer, q + off, &one, nh, nkv, hd, scale, out2);
        CHECK(!memcmp(out + off, out2, sizeof(float) * (size_t)n), "sequence %d alone == inside the batch", b);
    }

    for (int b = 0; b < B; b++) free(seqs[b].k), free(seqs[b].v);
    for (int l = 0; l < 2; l++) free(kl[l]), free(vl[l]);
    free(ids), free(tables), free(slots), free(knew), free(vnew), free(q), free(out), free(out2), free(ref), free(tol);
}

static void run_case(Backend *be1, Backend *be2, unsigned long long *rng, int nh, int nkv, int hd, int bs,
                     float qmag, int ctx_max) {
    run_case_dt(be1, be2, rng, nh, nkv, hd, bs, qmag, ctx_max, DT_F32);
    run_case_dt(be1, be2, rng, nh, nkv, hd, bs, qmag, ctx_max, DT_F16);
}

/* A padding token (slot -1) is skipped by kv_write, and a one-slot cache works. */
static void test_kv_write_padding(Backend *be) {
    float kc[2 * 4], vc[2 * 4];
    void *kp = kc, *vp = vc;
    for (int i = 0; i < 8; i++) kc[i] = vc[i] = -1.0f;
    KvCache kv = {1, 2, 1, 4, &kp, &vp, DT_F32};
    float k[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v[8] = {9, 10, 11, 12, 13, 14, 15, 16};
    int64_t slots[2] = {-1, 1};
    int32_t qs[2] = {0, 2}, lens[1] = {2}, tab[2] = {0, 1};
    AttnBatch b = {2, 1, qs, lens, tab, 2, slots};
    be->ops->kv_write(be, &kv, 0, k, v, &b);
    CHECK(kc[0] == -1.0f && vc[3] == -1.0f && !memcmp(kc + 4, k + 4, 16) && !memcmp(vc + 4, v + 4, 16),
          "kv_write skips slot -1 and writes slot 1");
}

/* An f16 cache rounds to nearest even, ties included, on every path (F16C or scalar):
 * kv_write's bits equal f32_to_fp16's for ties, subnormals, overflow and the largest half. */
static void test_kv_write_f16_rounding(Backend *be) {
    float k[24] = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f, -1.0f - 0x1p-11f, 0x1p-25f, 0x3p-25f, 0x1p-24f, 1e-7f, -1e-8f,
                   65504.0f, 65519.0f, 65520.0f, -70000.0f, 0.1f, -0.3f, 3.14159f, 1e-30f,
                   2.0f + 0x1p-10f, 2.0f + 0x3p-10f, 0x1.ffep-15f, 0x1p-14f, 0.0f, -0.0f, 1234.5678f, 0.5f};
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = -k[i] * 0.75f;
    uint16_t kc[24], vc[24];
    void *kp = kc, *vp = vc;
    KvCache kv = {1, 1, 1, 24, &kp, &vp, DT_F16};
    int64_t slot = 0;
    int32_t qs[2] = {0, 1}, lens[1] = {1}, tab[1] = {0};
    AttnBatch b = {1, 1, qs, lens, tab, 1, &slot};
    be->ops->kv_write(be, &kv, 0, k, v, &b);
    int ok = 1;
    for (int i = 0; i < 24; i++) ok &= kc[i] == f32_to_fp16(k[i]) && vc[i] == f32_to_fp16(v[i]);
    CHECK(ok, "kv_write to f16 rounds as f32_to_fp16 (nearest even)");
    CHECK(kc[0] == 0x3c00 && kc[1] == 0x3c02 && kc[10] == 0x7c00 && kc[8] == 0x7bff, "f16 ties to even, overflow to inf");
}

int main(void) {
    Backend *be1 = cpu_backend_create(1, MATMUL_F32), *be2 = cpu_backend_create(2, MATMUL_F32);
    CHECK(be1 && be2, "cpu_backend_create");
    if (!be1 || !be2) return TEST_SUMMARY();
    unsigned long long rng = 2024;
    /* GQA 9/3 (SmolLM2), 32/8 (Llama 3 8B), plain MHA, a group wider than one task's 8
     * heads (12/1), and head sizes that are not a multiple of the vector width (20, 48) or
     * of anything (7) */
    const int heads[][3] = {{9, 3, 64}, {32, 8, 128}, {4, 4, 64}, {12, 1, 48}, {4, 2, 20}, {3, 1, 7}};
    const int bss[] = {1, 16, 32};
    for (int c = 0; c < 6; c++)
        for (int k = 0; k < 3; k++) {
            run_case(be1, be2, &rng, heads[c][0], heads[c][1], heads[c][2], bss[k], 1.0f, 300);
            /* sharp softmax: scores in the hundreds overflow expf unless the max is taken
             * out, and later tiles raise the running max */
            if (k == 1) run_case(be1, be2, &rng, heads[c][0], heads[c][1], heads[c][2], bss[k], 30.0f, 300);
        }
    /* head sizes the AVX-512 path walks in several 64-column passes (256) or with a partial
     * pass (80), and contexts of many tiles (up to 1100 positions: 9 tiles of 128) */
    const int wide[][3] = {{8, 2, 256}, {6, 2, 80}, {9, 3, 64}};
    for (int c = 0; c < 3; c++) {
        run_case(be1, be2, &rng, wide[c][0], wide[c][1], wide[c][2], 16, 1.0f, 1100);
        run_case(be1, be2, &rng, wide[c][0], wide[c][1], wide[c][2], 32, 30.0f, 1100);
    }
    test_kv_write_padding(be1);
    test_kv_write_f16_rounding(be1);
    cpu_backend_destroy(be1);
    cpu_backend_destroy(be2);
    return TEST_SUMMARY();
}
