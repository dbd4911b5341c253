/* The sampler's changes to a copy of the logits (s->sc->work) before a draw: penalties (as
 * vLLM and HF apply repetition_penalty; presence and frequency as OpenAI defines them),
 * then a request's logit bias, then its constraint mask: a mask that allows few tokens becomes
 * the list of candidates the draw looks at (a pass over its bits, not over the vocabulary);
 * one that allows many sets the others to -inf, so that the draw runs over whole vectors. */
#include <math.h>
#include <string.h>

#include "engine/sampler_internal.h"

/* Bump the stamp so that every count reads as 0 without clearing n_vocab entries. */
static void counts_reset(Sampler *s) {
    if (++s->sc->cur_stamp == 0) {
        memset(s->sc->stamp, 0, (size_t)s->n_vocab * sizeof *s->sc->stamp);
        s->sc->cur_stamp = 1;
    }
}

static uint32_t counts_add(Sampler *s, int32_t id) {
    if (s->sc->stamp[id] != s->sc->cur_stamp) {
        s->sc->stamp[id] = s->sc->cur_stamp;
        s->sc->count[id] = 0;
    }
    return ++s->sc->count[id];
}

void sampler_apply_penalties(Sampler *s, const int32_t *prompt, int n_prompt, const int32_t *output, int n_output) {
    const SamplingParams *p = &s->p;
    float *w = s->sc->work;
    if (p->repetition_penalty != 1.0f) {
        /* each distinct token of prompt + output once: divide positive logits, multiply negative */
        counts_reset(s);
        for (int pass = 0; pass < 2; pass++) {
            const int32_t *ids = pass ? output : prompt;
            int n = pass ? n_output : n_prompt;
            for (int i = 0; i < n; i++) {
                int32_t id = ids[i];
                if (id < 0 || id >= s->n_vocab || counts_add(s, id) != 1) continue;
                w[id] = w[id] > 0 ? w[id] / p->repetition_penalty : w[id] * p->repetition_penalty;
            }
        }
    }
    if (p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f) {
        counts_reset(s);
        for (int i = 0; i < n_output; i++)
            if (output[i] >= 0 && output[i] < s->n_vocab) counts_add(s, output[i]);
        for (int i = 0; i < n_output; i++) {
            int32_t id = output[i];
            if (id < 0 || id >= s->n_vocab || s->sc->stamp[id] != s->sc->cur_stamp || s->sc->count[id] == 0) continue;
            w[id] -= p->frequency_penalty * (float)s->sc->count[id] + p->presence_penalty;
            s->sc->count[id] = 0; /* applied once per distinct token */
        }
    }
}

/* Set bits (SWAR: the baseline target has no popcnt instruction, and libgcc's is a call). */
static int bit_count(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (int)((((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24);
}

int sampler_apply_mods(Sampler *s, const SampleMods *m, int *listed) {
    float *w = s->sc->work;
    *listed = 0;
    for (int i = 0; i < m->n_bias; i++)
        if (m->bias[i].id >= 0 && m->bias[i].id < s->n_vocab) w[m->bias[i].id] += m->bias[i].bias;
    if (!m->allow) return s->n_vocab;
    int words = (s->n_vocab + 31) / 32, tail = s->n_vocab % 32, left = 0;
    uint32_t last = tail ? (1u << tail) - 1 : 0xFFFFFFFFu; /* the bits past n_vocab are not tokens */
    for (int k = 0; k < words; k++) left += bit_count(k == words - 1 ? m->allow[k] & last : m->allow[k]);
    if (left <= s->n_vocab / 16) { /* few: list them, and leave the logits alone */
        int32_t *idx = s->sc->idx;
        int n = 0;
        for (int k = 0; k < words; k++)
            for (uint32_t bits = k == words - 1 ? m->allow[k] & last : m->allow[k]; bits; bits &= bits - 1)
                idx[n++] = k * 32 + __builtin_ctz(bits);
        *listed = 1;
        return left;
    }
    for (int k = 0; k < words; k++) { /* many: the others to -inf, whole words at a time where the mask is full */
        uint32_t bits = m->allow[k];
        int base = k * 32, end = base + 32 < s->n_vocab ? base + 32 : s->n_vocab;
        if (bits == 0xFFFFFFFFu) continue;
        for (int i = base; i < end; i++)
            if (!((bits >> (i - base)) & 1)) w[i] = -INFINITY;
    }
    return left;
}
