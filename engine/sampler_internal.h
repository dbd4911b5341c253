/* Inside the sampler: the changes made to a copy of the logits before a draw
 * (sampler_logits.c), used by sampler.c. */
#ifndef PISTON_SAMPLER_INTERNAL_H
#define PISTON_SAMPLER_INTERNAL_H

#include "engine/sampler.h"

/* Repetition, presence and frequency penalties on s->sc->work. */
void sampler_apply_penalties(Sampler *s, const int32_t *prompt, int n_prompt, const int32_t *output, int n_output);
/* Logit bias, then the mask, on s->sc->work; returns how many tokens the mask leaves. */
int sampler_apply_mods(Sampler *s, const SampleMods *m);

#endif
