/* Sampling: turns one sequence's logits into the next token. Penalties (repetition over
 * prompt and output as vLLM and HF apply it; presence and frequency over the output, as
 * OpenAI defines them), then temperature, top-k, top-p, min-p, then a draw from a per-request
 * generator: the same seed gives the same tokens. Temperature 0 is greedy. Logprobs are of
 * the model's own distribution (log-softmax of the raw logits), as vLLM reports them. */
#ifndef PISTON_SAMPLER_H
#define PISTON_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLER_MAX_LOGPROBS 20

typedef struct SamplingParams {
    float temperature;        /* 0: greedy */
    int top_k;                /* <= 0: off */
    float top_p;              /* 1: off */
    float min_p;              /* 0: off */
    float repetition_penalty; /* 1: off */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    uint64_t seed;
    int has_seed;             /* 0: seeded from the OS */
    int logprobs;             /* top-N logprobs to report, 0..SAMPLER_MAX_LOGPROBS; <0: none */
} SamplingParams;

void sampling_params_default(SamplingParams *p);
/* 0, or -1 with a message naming the parameter and its range. */
int sampling_params_validate(const SamplingParams *p, char *err, size_t errlen);

typedef struct TokenLogprob {
    int32_t id;
    float logprob;
} TokenLogprob;

typedef struct SampleResult {
    int32_t id;
    float logprob; /* of id; computed only when logprobs >= 0 */
    int32_t rank;  /* 1 + the number of tokens more likely than id */
    int n_top;
    TokenLogprob top[SAMPLER_MAX_LOGPROBS];
} SampleResult;

#define SAMPLER_DRAW_BLOCK 256

/* What a draw works in. Nothing in it outlives the draw, so the samplers that one thread
 * runs one after another share one: the engine's. A scratch per sampler is 4 x n_vocab x 4
 * bytes (768 KiB at SmolLM2's 49k vocabulary, 2 MiB at Llama-3's 128k) per running sequence,
 * allocated and freed with every request, which glibc's arenas keep as resident memory. */
typedef struct SamplerScratch {
    int n_vocab;
    float *work;           /* [n_vocab] processed logits */
    int32_t *idx;          /* [n_vocab] candidate ids */
    uint32_t *count;       /* [n_vocab] occurrences in the output, valid where stamp matches */
    uint32_t *stamp;       /* [n_vocab] */
    double *block;         /* [n_vocab / SAMPLER_DRAW_BLOCK + 1] probability mass per block of ids */
    uint32_t cur_stamp;
} SamplerScratch;

SamplerScratch *sampler_scratch_create(int n_vocab);
void sampler_scratch_destroy(SamplerScratch *sc);

typedef struct Sampler {
    SamplingParams p;
    int n_vocab;
    uint64_t rng[4];       /* xoshiro256** state */
    SamplerScratch *sc;    /* shared (sampler_init_shared) or its own */
    int owns_sc;
} Sampler;

/* What a request adds to the model's logits before sampling: OpenAI's logit_bias (added to
 * the token's logit) and a constraint's mask (tokens outside it are never drawn). Logprobs
 * stay those of the model's own distribution, as vLLM reports them. */
typedef struct LogitBias {
    int32_t id;
    float bias;
} LogitBias;

typedef struct SampleMods {
    const uint32_t *allow; /* bitset over the vocabulary, or NULL: every token */
    const LogitBias *bias;
    int n_bias;
} SampleMods;

int sampler_init(Sampler *s, const SamplingParams *p, int n_vocab);
/* The same on a shared scratch of n_vocab entries or more, which outlives s and never serves
 * two draws at once (one thread samples). */
int sampler_init_shared(Sampler *s, const SamplingParams *p, int n_vocab, SamplerScratch *sc);
void sampler_free(Sampler *s);
/* logits [n_vocab] (not modified). prompt / output: the sequence so far, for the penalties.
 * Returns the chosen id; fills *res when res is not NULL. */
int32_t sampler_sample(Sampler *s, const float *logits, const int32_t *prompt, int n_prompt, const int32_t *output,
                       int n_output, SampleResult *res);
/* The logprob and rank of token id under logits [n_vocab] (the model's distribution) and the
 * top_n most likely tokens, into *res; idx is scratch of n_vocab ids. */
void sampler_logprobs(const float *logits, int n_vocab, int32_t id, int top_n, int32_t *idx, SampleResult *res);
/* The same with mods (may be NULL). With a mask that allows no token, returns -1. */
int32_t sampler_sample_mods(Sampler *s, const float *logits, const SampleMods *mods, const int32_t *prompt, int n_prompt,
                            const int32_t *output, int n_output, SampleResult *res);

#endif
