/* A draw from softmax(logits / T) over the whole vocabulary, the sampler's common case
 * (OpenAI's defaults: temperature 1, no top-k, top-p or min-p). The general path walks a
 * list of candidate ids with a libm exp per id and one long sum, ~0.4 ms per token over a
 * 49k vocabulary here: more than a whole decode step's share at batch 32. This one works on
 * whole vectors: the maximum over 8 lanes, e^x by a polynomial the compiler vectorises, the
 * mass of each block of SAMPLER_DRAW_BLOCK ids on the way, then the draw finds its block
 * first and walks only that one. The vector maximum is also the greedy argmax's first pass. The order of the cumulative walk is the general path's
 * (increasing ids), so both draw the same token for the same u up to rounding. */
#include <math.h>
#include <string.h>

#include "engine/sampler_internal.h"

/* Vectors are never passed by value (that would depend on the target's ABI): in place, by
 * pointer, or in macros. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#define SPLAT(c) ((v8f){c, c, c, c, c, c, c, c})

/* a where the lane's mask is set, else b */
#define SELECT8(m, a, b) ((v8f)(((v8i)(a) & (m)) | ((v8i)(b) & ~(m))))

/* e^x for x <= 0 (the largest logit is subtracted first), within 3e-7 relative (a few float
 * ulps); 0 below -87 (and for -inf, a masked token), where float has no normal number left.
 * Range reduction x = n ln2 + r, |r| <= ln2 / 2, n rounded by adding 1.5 * 2^23 (no rounding
 * instruction needed), e^r by its Taylor polynomial to r^6, 2^n made in the exponent bits.
 * Eight lanes in GCC's vector extension: SSE2 pairs by default, AVX2 where dispatched. */
static inline __attribute__((always_inline)) void exp_neg8(v8f *v) {
    v8f x = *v;
    v8i small = x < SPLAT(-87.0f);
    v8f y = SELECT8(small, SPLAT(-87.0f), x);
    v8f t = y * SPLAT(1.44269504f) + SPLAT(12582912.0f);
    v8f n = t - SPLAT(12582912.0f);
    v8f r = y - n * SPLAT(0.693145752f) - n * SPLAT(1.42860677e-6f); /* ln2 in two parts */
    v8f p = SPLAT(1.0f / 720);
    p = p * r + SPLAT(1.0f / 120);
    p = p * r + SPLAT(1.0f / 24);
    p = p * r + SPLAT(1.0f / 6);
    p = p * r + SPLAT(0.5f);
    p = p * r + SPLAT(1.0f);
    p = p * r + SPLAT(1.0f);
    v8i bits = ((v8i)t - 0x4B400000 + 127) << 23; /* t's low bits hold n */
    *v = SELECT8(small, SPLAT(0.0f), p * (v8f)bits);
}

static inline __attribute__((always_inline)) float exp_neg(float x) {
    v8f v = SPLAT(x);
    exp_neg8(&v);
    return v[0];
}

static inline __attribute__((always_inline)) float max_all_impl(const float *w, int n) {
    v8f m = SPLAT(w[0]);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, w + i, sizeof v);
        m = SELECT8(v > m, v, m);
    }
    float best = m[0];
    for (int l = 1; l < 8; l++) best = m[l] > best ? m[l] : best;
    for (; i < n; i++) best = w[i] > best ? w[i] : best;
    return best;
}

/* w[i0, i1) into e^((w - mx) / T) in place; their sum. */
static inline __attribute__((always_inline)) double exp_block_impl(float *w, int i0, int i1, float mx, float inv_t) {
    v8f acc = SPLAT(0.0f), vm = SPLAT(mx), vt = SPLAT(inv_t);
    int i = i0;
    for (; i + 8 <= i1; i += 8) {
        v8f e;
        memcpy(&e, w + i, sizeof e);
        e = (e - vm) * vt;
        exp_neg8(&e);
        memcpy(w + i, &e, sizeof e);
        acc += e;
    }
    double sum = 0;
    for (; i < i1; i++) w[i] = exp_neg((w[i] - mx) * inv_t), sum += w[i];
    for (int l = 0; l < 8; l++) sum += acc[l];
    return sum;
}

static float max_all_sse(const float *w, int n) { return max_all_impl(w, n); }
static double exp_block_sse(float *w, int i0, int i1, float mx, float inv_t) {
    return exp_block_impl(w, i0, i1, mx, inv_t);
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) static float max_all_avx2(const float *w, int n) { return max_all_impl(w, n); }
__attribute__((target("avx2"))) static double exp_block_avx2(float *w, int i0, int i1, float mx, float inv_t) {
    return exp_block_impl(w, i0, i1, mx, inv_t);
}
#endif

float sampler_max(const float *x, int n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return max_all_avx2(x, n);
#endif
    return max_all_sse(x, n);
}

int32_t sampler_draw_all(Sampler *s, float temperature, double u) {
    float *w = s->sc->work;
    const int n = s->n_vocab, B = SAMPLER_DRAW_BLOCK, nb = (n + B - 1) / B;
    double (*exp_block)(float *, int, int, float, float) = exp_block_sse;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) exp_block = exp_block_avx2;
#endif
    float mx = sampler_max(w, n);
    if (!(mx > -INFINITY)) return 0; /* every logit -inf or NaN: nothing to weigh */
    double total = 0;
    for (int b = 0; b < nb; b++) {
        int i1 = (b + 1) * B < n ? (b + 1) * B : n;
        s->sc->block[b] = exp_block(w, b * B, i1, mx, 1.0f / temperature);
        total += s->sc->block[b];
    }
    double r = u * total, acc = 0;
    int b = 0;
    while (b < nb - 1 && acc + s->sc->block[b] <= r) acc += s->sc->block[b++];
    int32_t chosen = -1;
    for (int i = b * B; i < n; i++) {
        acc += w[i];
        if (w[i] > 0) chosen = i; /* rounding may leave r at the end: the last real one */
        if (r < acc && w[i] > 0) return i;
    }
    if (chosen >= 0) return chosen;
    for (int i = b * B - 1; i >= 0; i--) /* the mass ran out before block b: its last real token */
        if (w[i] > 0) return i;
    return 0;
}
