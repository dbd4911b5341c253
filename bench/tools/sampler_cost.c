/* The sampler's cost per token over a vocabulary of the default model's size (49152, or
 * argv[1]): greedy and temperature 1, without a mask, under a mask that allows a few tokens
 * and under one that allows 98% of them; the best of 5 runs of 300 draws each, in us. Run by
 * make bench-structured. */
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "engine/sampler.h"

int main(int argc, char **argv) {
    int V = argc > 1 ? atoi(argv[1]) : 49152;
    if (V < 64 || V > (1 << 22)) return fprintf(stderr, "usage: sampler_cost [VOCAB_SIZE]\n"), 2;
    int W = (V + 31) / 32;
    float *x = malloc((size_t)V * sizeof *x);
    uint32_t *few = calloc((size_t)W, sizeof *few), *most = calloc((size_t)W, sizeof *most);
    if (!x || !few || !most) return 1;
    unsigned long long r = 1;
    for (int i = 0; i < V; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x[i] = (float)(r >> 40) / 1e6f;
    }
    for (int i = 0; i < V; i += V / 12) few[i / 32] |= 1u << (i % 32);
    for (int i = 0; i < V; i++)
        if (i % 50) most[i / 32] |= 1u << (i % 32);
    const uint32_t *masks[3] = {NULL, few, most};
    const char *names[3] = {"no mask", "mask: 12 tokens", "mask: 98%"};
    printf("vocabulary %d: us per token (best of 5 x 300 draws)\n%-18s %10s %10s\n", V, "", "greedy", "T=1");
    for (int k = 0; k < 3; k++) {
        double us[2];
        for (int t = 0; t < 2; t++) {
            SamplingParams p;
            sampling_params_default(&p);
            p.has_seed = 1, p.temperature = t ? 1.0f : 0.0f;
            Sampler s;
            if (sampler_init(&s, &p, V)) return 1;
            SampleMods mods = {masks[k], NULL, 0};
            us[t] = 1e30;
            for (int rep = 0; rep < 5; rep++) {
                double t0 = base_now();
                for (int i = 0; i < 300; i++) sampler_sample_mods(&s, x, masks[k] ? &mods : NULL, NULL, 0, NULL, 0, NULL);
                double d = (base_now() - t0) / 300 * 1e6;
                us[t] = d < us[t] ? d : us[t];
            }
            sampler_free(&s);
        }
        printf("%-18s %10.1f %10.1f\n", names[k], us[0], us[1]);
    }
    free(x), free(few), free(most);
    return 0;
}
