/* Sampler tests: each rule against a direct computation on small vocabularies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "engine/sampler_internal.h"
#include "tests/unit/test.h"

static int sample_with(const SamplingParams *p, const float *logits, int n, const int32_t *out, int n_out) {
    Sampler s;
    if (sampler_init(&s, p, n)) return -1;
    int id = sampler_sample(&s, logits, NULL, 0, out, n_out, NULL);
    sampler_free(&s);
    return id;
}

/* A mask against its definition: drawing under it is drawing from logits with every other
 * token at -inf (the same id for the same seed, greedy or not, with top-p, min-p, penalties
 * and a bias), and with top-k the id is one of the k best allowed ones. */
static void test_masks(unsigned long long *rng) {
    const int sizes[] = {1, 31, 32, 33, 1000, 4099};
    float *x = malloc(4099 * sizeof *x), *ref = malloc(4099 * sizeof *ref);
    uint32_t *allow = calloc((4099 + 31) / 32, sizeof *allow);
    int32_t out[6] = {0, 3, 3, 7, 30, 2};
    for (int trial = 0; trial < 240; trial++) {
        int n = sizes[trial % 6], words = (n + 31) / 32;
        for (int i = 0; i < n; i++) x[i] = (float)(int)test_rand_uniform(rng, -6, 6) * 0.5f; /* ties too */
        double density = (trial / 6) % 4 == 0 ? 0.002 : (trial / 6) % 4 == 1 ? 0.1 : (trial / 6) % 4 == 2 ? 0.9 : 1.0;
        memset(allow, 0, (size_t)words * sizeof *allow);
        int n_allowed = 0;
        for (int i = 0; i < n; i++)
            if (test_rand_uniform(rng, 0, 1) < density) allow[i / 32] |= 1u << (i % 32), n_allowed++;
        if (trial % 7 == 3) allow[words - 1] |= ~0u; /* bits past the vocabulary are not tokens */
        n_allowed = 0;
        for (int i = 0; i < n; i++) n_allowed += allow[i / 32] >> (i % 32) & 1;
        LogitBias bias[2] = {{n / 2, 3.0f}, {n - 1, -2.0f}};
        SampleMods mods = {allow, bias, trial % 3 == 0 ? 2 : 0};
        SamplingParams p;
        sampling_params_default(&p);
        p.has_seed = 1, p.seed = (uint64_t)trial;
        int kind = trial % 5;
        if (kind == 0) p.temperature = 0;
        if (kind == 2) p.top_p = 0.8f;
        if (kind == 3) p.min_p = 0.05f, p.frequency_penalty = 0.5f;
        if (kind == 4) p.top_k = 5;
        for (int i = 0; i < n; i++) ref[i] = x[i];
        for (int i = 0; i < mods.n_bias; i++) ref[bias[i].id] += bias[i].bias;
        for (int i = 0; i < n; i++)
            if (!(allow[i / 32] >> (i % 32) & 1)) ref[i] = -INFINITY;
        Sampler a, b;
        sampler_init(&a, &p, n), sampler_init(&b, &p, n);
        int got = sampler_sample_mods(&a, x, &mods, NULL, 0, out, n > 30 ? 6 : 0, NULL);
        int want = n_allowed ? sampler_sample(&b, ref, NULL, 0, out, n > 30 ? 6 : 0, NULL) : -1;
        CHECK(n_allowed == 0 || (got >= 0 && got < n && (allow[got / 32] >> (got % 32) & 1)), "trial %d: drew %d", trial,
              got);
        if (n_allowed == 0) {
            CHECK(got == -1, "trial %d: nothing allowed gives -1, got %d", trial, got);
        } else if (kind == 4) {
            int better = 0; /* allowed tokens strictly above the drawn one */
            for (int i = 0; i < n; i++) better += ref[i] > ref[got];
            CHECK(got >= 0 && (allow[got / 32] >> (got % 32) & 1) && better < 5, "trial %d: top-k drew %d", trial, got);
        } else {
            CHECK(got == want, "trial %d (n %d, kind %d, %d allowed): %d under the mask, %d with -inf logits", trial, n,
                  kind, n_allowed, got, want);
        }
        sampler_free(&a), sampler_free(&b);
    }
    free(x), free(ref), free(allow);
}

/* The vectorised draw over the whole vocabulary against the distribution computed in double:
 * for u away from a boundary of the cumulative sum (by more than rounding), the same token. */
static void test_draw_all(unsigned long long *rng) {
    const int sizes[] = {1, 7, 255, 256, 257, 1000, 49152};
    double *cum = malloc(49152 * sizeof *cum);
    float *x = malloc(49152 * sizeof *x);
    int checked = 0, ok = 1;
    for (int trial = 0; trial < 70; trial++) {
        int n = sizes[trial % 7];
        float T = trial % 3 == 0 ? 0.3f : trial % 3 == 1 ? 1.0f : 2.5f;
        for (int i = 0; i < n; i++) x[i] = test_rand_uniform(rng, -12, 12);
        if (trial % 4 == 1)
            for (int i = 0; i < n; i += 3) x[i] = -INFINITY; /* masked */
        if (trial % 5 == 2) x[n / 2] = 40.0f;               /* one dominant token */
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        double z = 0;
        for (int i = 0; i < n; i++) cum[i] = z += exp(((double)x[i] - mx) / T);
        SamplingParams p;
        sampling_params_default(&p);
        Sampler s;
        sampler_init(&s, &p, n);
        for (int k = 0; k < 40; k++) {
            double u = test_rand_uniform(rng, 0, 1);
            int want = 0;
            while (want < n - 1 && !(u * z < cum[want] && x[want] > -INFINITY)) want++;
            double lo = want ? cum[want - 1] / z : 0, hi = cum[want] / z;
            if (u - lo < 1e-5 || hi - u < 1e-5) continue; /* too close to call in float */
            memcpy(s.sc->work, x, (size_t)n * sizeof *x);
            int got = sampler_draw_all(&s, T, u);
            checked++;
            if (got != want) ok = 0, fprintf(stderr, "trial %d n %d T %g u %.9f: drew %d, want %d\n", trial, n, T, u, got, want);
        }
        sampler_free(&s);
    }
    CHECK(ok && checked > 1000, "the vectorised draw matches the exact distribution (%d draws checked)", checked);
    /* e^x itself: over [-87, 0] within 3e-7 relative of exp() */
    float e[8], worst = 0;
    Sampler s;
    SamplingParams p;
    sampling_params_default(&p);
    sampler_init(&s, &p, 8);
    for (int k = 0; k < 20000; k++) {
        float v = -87.0f * (float)k / 20000;
        for (int l = 0; l < 8; l++) s.sc->work[l] = l == 0 ? 0.0f : v; /* max 0: work[l] becomes e^v */
        sampler_draw_all(&s, 1.0f, 0.5);
        memcpy(e, s.sc->work, sizeof e);
        double want = exp((double)v), rel = fabs(e[1] - want) / want;
        if (rel > worst) worst = (float)rel;
    }
    sampler_free(&s);
    CHECK(worst < 3e-7, "e^x within %g relative", worst);
    free(cum), free(x);
}

int main(void) {
    const int V = 1000;
    float *logits = malloc(V * sizeof *logits);
    unsigned long long rng = 42;
    for (int i = 0; i < V; i++) logits[i] = test_rand_uniform(&rng, -5, 5);
    logits[123] = 9.0f, logits[456] = 8.5f, logits[789] = 8.0f;

    SamplingParams p;
    sampling_params_default(&p);
    p.temperature = 0;
    CHECK(sample_with(&p, logits, V, NULL, 0) == 123, "greedy is the argmax");
    /* greedy against a plain scan from x[0] (the first of equal maxima; NaNs never win, x[0]
     * when it is NaN), over lengths that are not multiples of the argmax's 8 lanes */
    {
        float x[77];
        for (int trial = 0; trial < 400; trial++) {
            int n = 1 + trial % 77;
            for (int i = 0; i < n; i++) x[i] = (float)(int)test_rand_uniform(&rng, -4, 4); /* many ties */
            if (trial % 5 == 1) x[(trial * 7) % n] = NAN;
            if (trial % 11 == 3) x[0] = NAN;
            if (trial % 13 == 4)
                for (int i = 0; i < n; i++) x[i] = -INFINITY;
            int want = 0;
            for (int i = 1; i < n; i++)
                if (x[i] > x[want]) want = i;
            CHECK(sample_with(&p, x, n, NULL, 0) == want, "greedy trial %d (n %d)", trial, n);
        }
    }

    /* top-k 1 and a tiny top-p are greedy at any temperature */
    sampling_params_default(&p);
    p.top_k = 1, p.has_seed = 1, p.seed = 7;
    CHECK(sample_with(&p, logits, V, NULL, 0) == 123);
    sampling_params_default(&p);
    p.top_p = 1e-6f, p.has_seed = 1;
    CHECK(sample_with(&p, logits, V, NULL, 0) == 123);
    /* min-p 0.9: only tokens within ln(0.9) of the best survive: just 123 */
    sampling_params_default(&p);
    p.min_p = 0.9f, p.has_seed = 1;
    CHECK(sample_with(&p, logits, V, NULL, 0) == 123);

    /* the same seed gives the same sequence; another seed (almost surely) another */
    sampling_params_default(&p);
    p.temperature = 1.5f, p.has_seed = 1, p.seed = 1234;
    Sampler a, b;
    sampler_init(&a, &p, V);
    sampler_init(&b, &p, V);
    int same = 1;
    for (int i = 0; i < 200; i++) same &= sampler_sample(&a, logits, NULL, 0, NULL, 0, NULL) ==
                                         sampler_sample(&b, logits, NULL, 0, NULL, 0, NULL);
    CHECK(same, "same seed, same samples");
    sampler_free(&b);
    p.seed = 99;
    sampler_init(&b, &p, V);
    int differ = 0;
    for (int i = 0; i < 200; i++) differ |= sampler_sample(&a, logits, NULL, 0, NULL, 0, NULL) !=
                                          sampler_sample(&b, logits, NULL, 0, NULL, 0, NULL);
    CHECK(differ, "another seed, other samples");
    sampler_free(&a);
    sampler_free(&b);

    /* frequencies follow softmax(logits / T) over 3 tokens within 4 sigma */
    float l3[3] = {1.0f, 0.0f, -1.0f};
    sampling_params_default(&p);
    p.temperature = 0.7f, p.has_seed = 1, p.seed = 5;
    sampler_init(&a, &p, 3);
    int counts[3] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++) counts[sampler_sample(&a, l3, NULL, 0, NULL, 0, NULL)]++;
    sampler_free(&a);
    double z = 0, pr[3];
    for (int i = 0; i < 3; i++) z += exp(l3[i] / 0.7);
    for (int i = 0; i < 3; i++) {
        pr[i] = exp(l3[i] / 0.7) / z;
        double sd = sqrt(N * pr[i] * (1 - pr[i]));
        CHECK(fabs(counts[i] - N * pr[i]) < 4 * sd, "token %d: %d draws, expected %.0f", i, counts[i], N * pr[i]);
    }
    /* top-p 0.6 over probabilities {0.67, 0.24, 0.09} keeps only the first */
    p.top_p = 0.6f;
    sampler_init(&a, &p, 3);
    int only0 = 1;
    for (int i = 0; i < 500; i++) only0 &= sampler_sample(&a, l3, NULL, 0, NULL, 0, NULL) == 0;
    CHECK(only0, "top-p cut");
    sampler_free(&a);

    /* repetition penalty: a positive logit is divided, a negative multiplied */
    float l2[2] = {2.0f, 1.5f};
    sampling_params_default(&p);
    p.temperature = 0, p.repetition_penalty = 1.5f;
    int32_t hist[1] = {0};
    CHECK(sample_with(&p, l2, 2, hist, 1) == 1, "2/1.5 < 1.5");
    float l2n[2] = {-1.0f, -1.2f};
    CHECK(sample_with(&p, l2n, 2, hist, 1) == 1, "-1*1.5 < -1.2");
    /* frequency penalty counts occurrences; presence penalty once */
    sampling_params_default(&p);
    p.temperature = 0, p.frequency_penalty = 0.2f;
    int32_t h3[3] = {0, 0, 0};
    CHECK(sample_with(&p, l2, 2, h3, 2) == 0, "2 - 0.4 > 1.5");
    CHECK(sample_with(&p, l2, 2, h3, 3) == 1, "2 - 0.6 < 1.5");
    sampling_params_default(&p);
    p.temperature = 0, p.presence_penalty = 0.4f;
    CHECK(sample_with(&p, l2, 2, h3, 3) == 0, "presence applies once: 2 - 0.4 > 1.5");

    /* logprobs: the chosen token's and the top-N, from the raw logits */
    sampling_params_default(&p);
    p.temperature = 0, p.logprobs = 3;
    Sampler s;
    sampler_init(&s, &p, V);
    SampleResult r;
    sampler_sample(&s, logits, NULL, 0, NULL, 0, &r);
    sampler_free(&s);
    double lse = 0;
    for (int i = 0; i < V; i++) lse += exp(logits[i]);
    lse = log(lse);
    CHECK(r.id == 123 && r.n_top == 3);
    CHECK(fabs(r.logprob - (logits[123] - lse)) < 1e-4, "%f vs %f", r.logprob, logits[123] - lse);
    CHECK(r.top[0].id == 123 && r.top[1].id == 456 && r.top[2].id == 789);
    CHECK(fabs(r.top[2].logprob - (logits[789] - lse)) < 1e-4);

    /* validation names the parameter */
    char err[128];
    sampling_params_default(&p);
    p.top_p = 1.5f;
    CHECK(sampling_params_validate(&p, err, sizeof err) != 0 && strstr(err, "top_p"));
    p.top_p = 1, p.temperature = -1;
    CHECK(sampling_params_validate(&p, err, sizeof err) != 0 && strstr(err, "temperature"));
    test_masks(&rng);
    { /* every logit -inf (nothing to weigh) under min-p and top-p: an id in range, no read before the candidates */
        float ninf[40];
        for (int i = 0; i < 40; i++) ninf[i] = -INFINITY;
        sampling_params_default(&p);
        p.min_p = 0.1f, p.has_seed = 1;
        int id = sample_with(&p, ninf, 40, NULL, 0);
        CHECK(id >= 0 && id < 40, "min-p over -inf logits drew %d", id);
        p.min_p = 0, p.top_p = 0.5f;
        id = sample_with(&p, ninf, 40, NULL, 0);
        CHECK(id >= 0 && id < 40, "top-p over -inf logits drew %d", id);
    }
    test_draw_all(&rng);
    free(logits);
    return TEST_SUMMARY();
}
