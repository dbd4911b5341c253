/* Inside the sampler: the changes made to a copy of the logits before a draw
 * (sampler_logits.c), used by sampler.c. */
#ifndef PISTON_SAMPLER_INTERNAL_H
#define PISTON_SAMPLER_INTERNAL_H

#include "engine/sampler.h"

/* Repetition, presence and frequency penalties on s->sc->work. */
void sampler_apply_penalties(Sampler *s, const int32_t *prompt, int n_prompt, const int32_t *output, int n_output);
/* Logit bias on s->sc->work, then the mask: when it allows few tokens, their ids go into s->sc->idx
 * in increasing order and *listed is 1; otherwise the others become -inf in s->sc->work and
 * *listed is 0. Returns how many tokens the mask leaves (n_vocab without one). */
int sampler_apply_mods(Sampler *s, const SampleMods *m, int *listed);
/* A draw from softmax(s->sc->work / temperature) over the whole vocabulary (-inf entries never
 * drawn), u uniform in [0, 1): what the general path gives without top-k, top-p or min-p,
 * over vectors instead of a list of candidates (sampler_draw.c). */
int32_t sampler_draw_all(Sampler *s, float temperature, double u);
/* The largest of x[0, n) (NaNs never win over a number; x[0] when every other is NaN). */
float sampler_max(const float *x, int n);

#endif
