/* The sampler (see sampler.h); penalties, logit bias and masks are in sampler_logits.c.
 * Candidate selection avoids sorting the whole vocabulary on
 * every token: top-k takes a partial selection, and top-p first tries the best 256
 * candidates, sorting everything only when they do not reach the requested mass. */
#include "engine/sampler.h"
#include "engine/sampler_internal.h"

#include "base/err.h"
#include "base/hash.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 bits */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

void sampling_params_default(SamplingParams *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->repetition_penalty = 1.0f;
    p->logprobs = -1;
}

int sampling_params_validate(const SamplingParams *p, char *err, size_t errlen) {
#define BAD(...) return err_set(err, errlen, -EINVAL, __VA_ARGS__)
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature)) BAD("temperature must be >= 0, got %g", p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) BAD("top_p must be in (0, 1], got %g", p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f)) BAD("min_p must be in [0, 1], got %g", p->min_p);
    if (p->top_k < -1) BAD("top_k must be -1, 0 (off) or positive, got %d", p->top_k);
    if (!(p->repetition_penalty > 0.0f) || !isfinite(p->repetition_penalty))
        BAD("repetition_penalty must be > 0, got %g", p->repetition_penalty);
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        BAD("presence_penalty must be in [-2, 2], got %g", p->presence_penalty);
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        BAD("frequency_penalty must be in [-2, 2], got %g", p->frequency_penalty);
    if (p->logprobs > SAMPLER_MAX_LOGPROBS) BAD("logprobs must be at most %d, got %d", SAMPLER_MAX_LOGPROBS, p->logprobs);
#undef BAD
    return 0;
}

SamplerScratch *sampler_scratch_create(int n_vocab) {
    SamplerScratch *sc = calloc(1, sizeof *sc);
    if (!sc) return NULL;
    sc->n_vocab = n_vocab;
    sc->work = malloc((size_t)n_vocab * sizeof *sc->work);
    sc->idx = malloc((size_t)n_vocab * sizeof *sc->idx);
    sc->count = malloc((size_t)n_vocab * sizeof *sc->count);
    sc->stamp = calloc((size_t)n_vocab, sizeof *sc->stamp);
    sc->block = malloc(((size_t)n_vocab / SAMPLER_DRAW_BLOCK + 1) * sizeof *sc->block);
    if (!sc->work || !sc->idx || !sc->count || !sc->stamp || !sc->block) {
        sampler_scratch_destroy(sc);
        return NULL;
    }
    return sc;
}

void sampler_scratch_destroy(SamplerScratch *sc) {
    if (!sc) return;
    free(sc->work);
    free(sc->idx);
    free(sc->count);
    free(sc->stamp);
    free(sc->block);
    free(sc);
}

int sampler_init(Sampler *s, const SamplingParams *p, int n_vocab) {
    SamplerScratch *sc = sampler_scratch_create(n_vocab);
    if (!sc) {
        memset(s, 0, sizeof *s);
        return -1;
    }
    sampler_init_shared(s, p, n_vocab, sc);
    s->owns_sc = 1;
    return 0;
}

int sampler_init_shared(Sampler *s, const SamplingParams *p, int n_vocab, SamplerScratch *sc) {
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->n_vocab = n_vocab;
    s->sc = sc;
    uint64_t seed = p->seed;
    if (!p->has_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)s;
    }
    for (int i = 0; i < 4; i++) s->rng[i] = hash_splitmix64(&seed);
    return 0;
}

void sampler_free(Sampler *s) {
    if (s->owns_sc) sampler_scratch_destroy(s->sc);
    memset(s, 0, sizeof *s);
}

/* The first index of the largest value (NaNs never win; x[0] when it is NaN, as a plain scan
 * from x[0] gives): the maximum over vectors, then the first index holding it. A single pass
 * that carries the best index is one long dependency chain (~100 us over a 49k vocabulary). */
static int32_t argmax(const float *x, int n) {
    float best = sampler_max(x, n);
    for (int i = 0; i < n; i++)
        if (x[i] == best) return i;
    return 0;
}

/* The first of the largest among candidates idx[0, m) in increasing id order: what argmax
 * gives over logits with every other id at -inf. */
static int32_t argmax_of(const float *w, const int32_t *idx, int m) {
    int32_t best = idx[0];
    for (int i = 1; i < m; i++)
        if (w[idx[i]] > w[best]) best = idx[i];
    return best;
}

/* Order candidates idx[0, n) by work[] descending; ties by lower id, so results never
 * depend on the sort's stability. */
static int cmp_desc(const void *a, const void *b, void *ctx) {
    const float *w = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (w[x] != w[y]) return w[x] > w[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Move the k best of idx[0, n) to the front (unordered) by quickselect. */
static void select_top(const float *w, int32_t *idx, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = w[idx[lo + (hi - lo) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (w[idx[i]] > pivot) i++;
            while (w[idx[j]] < pivot) j--;
            if (i <= j) {
                int32_t t = idx[i];
                idx[i++] = idx[j];
                idx[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

void sampler_logprobs(const float *logits, int n, int32_t chosen, int top_n, int32_t *idx, SampleResult *res) {
    float mx = logits[argmax(logits, n)];
    double sum = 0;
    int above = 0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx), above += logits[i] > logits[chosen];
    float lse = mx + (float)log(sum);
    res->id = chosen;
    res->logprob = logits[chosen] - lse;
    res->rank = above + 1;
    res->n_top = top_n > 0 ? (top_n < SAMPLER_MAX_LOGPROBS ? top_n : SAMPLER_MAX_LOGPROBS) : 0;
    if (!res->n_top) return;
    for (int i = 0; i < n; i++) idx[i] = i;
    select_top(logits, idx, n, res->n_top);
    qsort_r(idx, (size_t)res->n_top, sizeof *idx, cmp_desc, (void *)logits);
    for (int i = 0; i < res->n_top; i++) res->top[i] = (TokenLogprob){idx[i], logits[idx[i]] - lse};
}

static void fill_logprobs(Sampler *s, const float *logits, int32_t chosen, SampleResult *res) {
    sampler_logprobs(logits, s->n_vocab, chosen, s->p.logprobs, s->sc->idx, res);
}

int32_t sampler_sample(Sampler *s, const float *logits, const int32_t *prompt, int n_prompt, const int32_t *output,
                       int n_output, SampleResult *res) {
    return sampler_sample_mods(s, logits, NULL, prompt, n_prompt, output, n_output, res);
}

int32_t sampler_sample_mods(Sampler *s, const float *logits, const SampleMods *mods, const int32_t *prompt, int n_prompt,
                            const int32_t *output, int n_output, SampleResult *res) {
    const SamplingParams *p = &s->p;
    const int n = s->n_vocab;
    float *w = s->sc->work;
    int penalties = p->repetition_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f;
    int modded = mods && (mods->allow || mods->n_bias > 0);
    if (p->temperature == 0.0f && !penalties && !modded) { /* plain greedy: no copy of the vocabulary */
        int32_t id = argmax(logits, n);
        if (res) {
            memset(res, 0, sizeof *res);
            res->id = id;
            if (p->logprobs >= 0) fill_logprobs(s, logits, id, res);
        }
        return id;
    }
    memcpy(w, logits, (size_t)n * sizeof *w);
    sampler_apply_penalties(s, prompt, n_prompt, output, n_output);
    int listed = 0; /* the candidates are idx[0, m); else every id, the masked ones at -inf */
    int m = modded ? sampler_apply_mods(s, mods, &listed) : n;
    if (m == 0) return -1;

    int32_t chosen;
    int32_t *idx = s->sc->idx;
    int plain = !(p->top_k > 0 && p->top_k < n) && p->min_p <= 0.0f && p->top_p >= 1.0f;
    if (p->temperature == 0.0f) {
        chosen = listed ? argmax_of(w, idx, m) : argmax(w, n);
    } else if (!listed && plain) {
        chosen = sampler_draw_all(s, p->temperature, rng_uniform(s->rng));
    } else {
        if (!listed) {
            for (int i = 0; i < n; i++) idx[i] = i;
            m = n;
        }
        if (p->top_k > 0 && p->top_k < m) {
            select_top(w, idx, m, p->top_k);
            m = p->top_k;
        }
        float mx = w[idx[0]];
        for (int i = 1; i < m; i++) mx = fmaxf(mx, w[idx[i]]);
        /* probabilities at temperature, unnormalised, in w */
        double sum = 0;
        for (int i = 0; i < m; i++) {
            float e = expf((w[idx[i]] - mx) / p->temperature);
            w[idx[i]] = e;
            sum += e;
        }
        if (p->min_p > 0.0f) { /* keep tokens with prob >= min_p * max prob (max prob is e^0 = 1) */
            int k = 0;
            double kept = 0;
            for (int i = 0; i < m; i++)
                if (w[idx[i]] >= p->min_p) kept += w[idx[i]], idx[k++] = idx[i];
            m = k, sum = kept;
        }
        if (p->top_p < 1.0f) {
            int head = m < 256 ? m : 256;
            if (head < m) select_top(w, idx, m, head);
            qsort_r(idx, (size_t)head, sizeof *idx, cmp_desc, w);
            double acc = 0, target = p->top_p * sum;
            int k = 0;
            while (k < head && acc < target) acc += w[idx[k++]];
            if (acc < target && head < m) { /* the best 256 were not enough: sort the rest */
                qsort_r(idx, (size_t)m, sizeof *idx, cmp_desc, w);
                while (k < m && acc < target) acc += w[idx[k++]];
            }
            m = k, sum = acc;
        }
        double r = rng_uniform(s->rng) * sum, acc = 0;
        chosen = -1;
        for (int i = 0; i < m; i++) {
            acc += w[idx[i]];
            if (w[idx[i]] > 0) chosen = idx[i]; /* rounding may leave r at the end: the last real one */
            if (r < acc && w[idx[i]] > 0) break;
        }
        if (chosen < 0) chosen = idx[m > 0 ? m - 1 : 0]; /* nothing weighed (every logit -inf): the first */
    }
    if (res) {
        memset(res, 0, sizeof *res);
        res->id = chosen;
        if (p->logprobs >= 0) fill_logprobs(s, logits, chosen, res);
    }
    return chosen;
}
