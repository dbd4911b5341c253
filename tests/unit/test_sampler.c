/* Sampler tests: each rule against a direct computation on small vocabularies. */
#include <math.h>

#include "engine/sampler.h"
#include "tests/unit/test.h"

static int sample_with(const SamplingParams *p, const float *logits, int n, const int32_t *out, int n_out) {
    Sampler s;
    if (sampler_init(&s, p, n)) return -1;
    int id = sampler_sample(&s, logits, NULL, 0, out, n_out, NULL);
    sampler_free(&s);
    return id;
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
    free(logits);
    return TEST_SUMMARY();
}
