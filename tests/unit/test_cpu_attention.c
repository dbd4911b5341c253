/* The CPU's attention tasks against each other: scalar, AVX2 and (where the CPU has it)
 * AVX-512, over f32, f16 and bf16 caches, agree to f32 rounding (their summation orders
 * differ). test_backend_ops checks the dispatched path against a double reference; this
 * keeps the paths a given CPU does not pick from rotting. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/quant.h"
#include "tests/unit/test.h"

static Backend *make(int isa) {
    BackendOptions o;
    backend_options_default(&o);
    o.device = "cpu";
    o.n_threads = 1;
    Backend *be = NULL;
    char err[256];
    if (cpu_backend_create(&o, &be, err, sizeof err)) return NULL;
    cpu_state(be)->attn_isa = isa;
    return be;
}

int main(void) {
    unsigned long long rng = 99;
    const DType dts[] = {DT_F32, DT_F16, DT_BF16};
    int nh = 8, nkv = 2, hd = 128, bs = 16, nb = 40, L = 300, q = 5;
    int kvd = nkv * hd;
    Backend *be[3] = {make(1), make(2), make(0)};
    CHECK(be[0] && be[1] && be[2], "backends");
    for (int di = 0; di < 3; di++) {
        DType dt = dts[di];
        size_t es = dt == DT_F32 ? 4 : 2, layer = (size_t)nb * bs * kvd * es;
        char *kb = malloc(layer), *vb = malloc(layer);
        for (size_t i = 0; i < (size_t)nb * bs * kvd; i++) {
            float k = test_rand_uniform(&rng, -2, 2), v = test_rand_uniform(&rng, -2, 2);
            if (dt == DT_F32) ((float *)kb)[i] = k, ((float *)vb)[i] = v;
            else if (dt == DT_F16) ((uint16_t *)kb)[i] = f32_to_fp16(k), ((uint16_t *)vb)[i] = f32_to_fp16(v);
            else ((uint16_t *)kb)[i] = f32_to_bf16(k), ((uint16_t *)vb)[i] = f32_to_bf16(v);
        }
        void *kl[1] = {kb}, *vl[1] = {vb};
        KvCache kv = {1, nb, bs, kvd, kl, vl, dt, kb, vb};
        int32_t table[20], qs[2] = {0, q}, lens[1] = {L};
        for (int j = 0; j < 20; j++) table[j] = (j * 7 + 3) % (nb - 1) + 1;
        int64_t slots[5] = {0};
        AttnBatch b = {q, 1, q, L, qs, lens, table, 20, slots};
        float *qv = malloc((size_t)q * nh * hd * 4), *out[3];
        for (int i = 0; i < q * nh * hd; i++) qv[i] = test_rand_uniform(&rng, -1, 1);
        for (int k = 0; k < 3; k++) {
            out[k] = malloc((size_t)q * nh * hd * 4);
            CHECK(cpu_attention(be[k], &kv, 0, qv, &b, nh, nkv, hd, 0.088f, out[k]) == 0);
        }
        for (int k = 1; k < 3; k++) {
            double worst = 0;
            for (int i = 0; i < q * nh * hd; i++) worst = fmax(worst, fabs((double)out[k][i] - out[0][i]));
            CHECK(worst < 1e-5, "%s cache: path %d differs from scalar by %g", dtype_name(dt), k, worst);
        }
        for (int k = 0; k < 3; k++) free(out[k]);
        free(qv), free(kb), free(vb);
    }
    for (int k = 0; k < 3; k++) backend_destroy(be[k]);
    return TEST_SUMMARY();
}
