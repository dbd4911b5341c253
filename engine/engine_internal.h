/* The engine's private state, shared by engine.c (lifecycle, requests), engine_seq.c
 * (sequences, outputs), engine_step.c (one step's phases) and engine_fork.c (n > 1). */
#ifndef PISTON_ENGINE_INTERNAL_H
#define PISTON_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "engine/text_model.h"

/* One sequence: a scheduler request plus what the engine keeps for it. A request with
 * n > 1 samples is a parent (index 0) and n - 1 children forked after its first token. */
typedef struct EngineSeq {
    int64_t sched_id;
    int64_t req_id; /* the parent's sched id: what the caller knows */
    int index;
    RequestParams params;
    char *stop_buf;       /* the stop strings' copies, params.stop points into it */
    size_t max_stop_len;
    Sampler sampler;
    Detok detok;
    char *text;           /* all decoded output text */
    size_t text_len, text_cap, emitted;
    int n_prompt, n_out, n_cached;
    double t_arrival, t_first_sched, t_first_token;
    FinishReason finish;
    const char *stop_reason;
    int32_t stop_token;
    int children_pending; /* parent: forks still to make after the first token */
    /* this step */
    int32_t step_tokens[2];
    SampleResult step_lps[2];
    int n_step;
    int reported;         /* final output already reported */
    const float *step_logits; /* [vocab] this step's raw logits row, when return_logits */
    const char *error;    /* FINISH_ABORT by a failed step */
    ConstraintMatcher *matcher; /* structured output, or NULL */
    LogitBias *bias;      /* the request's logit_bias copy (params.logit_bias points here) */
    SampleResult *prompt_lps; /* [n_prompt] when prompt_logprobs was asked */
    int prompt_lps_sent;  /* reported with the first output */
    char seq_error[200];  /* why this sequence was aborted (error points here) */
} EngineSeq;

/* id -> EngineSeq, open addressing with linear probing; ids are never reused */
typedef struct SeqMap {
    int64_t *keys; /* -1 empty, -2 deleted */
    EngineSeq **vals;
    size_t cap, n, used;
} SeqMap;

/* n > 1: a parent whose first token was sampled this step, with its children (their first
 * tokens sampled from the same logits), to fork after the scheduler update. */
typedef struct ForkPlan {
    EngineSeq *parent;
    EngineSeq **kids; /* [n_kids] malloc'd */
    int n_kids;
} ForkPlan;

struct Engine {
    EngineArgs args;
    TextModel tm;             /* model, tokenizer, chat template, max_model_len */
    ConstraintVocab *vocab;   /* the tokenizer's vocabulary for constraints (NULL without one) */
    Runner *runner;           /* backend, KV cache, scratch, step buffers */
    Scheduler *sched;
    /* per step, sized by max_num_seqs */
    int32_t *sampled;         /* [max_num_seqs] */
    uint8_t *stopped;         /* [max_num_seqs] */
    ForkPlan *forks;          /* [max_num_seqs] */
    SamplerScratch *scratch;  /* every sequence's sampler draws in it, one after another */
    int n_forks;
    char step_error[512];     /* why the last failed step failed (EngineOutput.error) */
    SeqMap seqs;
    /* outputs of the last step and sequences to free before the next */
    EngineOutput *outs;
    int n_outs, cap_outs;
    EngineSeq **dead;
    int n_dead, cap_dead;
    EngineSeq **aborted; /* aborted since the last step: report FINISH_ABORT */
    int n_aborted, cap_aborted;
    EngineStats stats;
    /* periodic log */
    double last_log_t;
    int64_t last_log_prompt, last_log_gen;
};


int seqmap_put(SeqMap *m, int64_t key, EngineSeq *v);
EngineSeq *seqmap_get(const SeqMap *m, int64_t key);
void seqmap_del(SeqMap *m, int64_t key);
void seqmap_free(SeqMap *m);

/* New sequence state for a request (copies stop strings and the logit bias; seeds the
 * sampler with seed + index; a matcher at the constraint's start). */
EngineSeq *engine_seq_new(const Engine *e, const RequestParams *p, int index, char *err, size_t errlen);
void engine_seq_free(EngineSeq *s);
/* Queue `s` for freeing before the next step (outputs may still point into it). */
int engine_defer_free(Engine *e, EngineSeq *s);
int engine_push_output(Engine *e, EngineSeq *s);

/* engine_step.c's phases that live in engine_text.c and engine_fork.c */
/* Record a sampled token in s (not yet its text). Returns whether it stops the sequence. */
int engine_take_token(Engine *e, EngineSeq *s, int32_t id, double now);
/* engine_constrain.c: the mask of a constrained sequence into its sampling mods (NULL
 * mods->allow when unconstrained); -1 when the matcher failed (the sequence is aborted).
 * After the draw, engine_constrain_take advances the matcher; 1 when the constrained text
 * is complete and cannot go on (the sequence ends), -1 on a failure. */
int engine_constrain_mask(Engine *e, EngineSeq *s, SampleMods *mods);
int engine_constrain_take(Engine *e, EngineSeq *s, int32_t id);
/* engine_prompt_lp.c: the prompt logprobs of this step's prompt tokens, after its forward. */
int engine_prompt_logprobs(Engine *e, const SchedOutput *so, char *err, size_t errlen);
/* Give child the parent's matcher state (n > 1 forks, before the parent takes its token). */
int engine_constrain_fork(EngineSeq *child, const EngineSeq *parent);
/* Decode s's step token into its text and look for stop strings; 1 when one ended it. */
int engine_absorb_text(Engine *e, EngineSeq *s, int32_t id);
/* The children of plan->parent: fork them in the scheduler (or re-admit), emit their first
 * tokens. */
void engine_make_forks(Engine *e, ForkPlan *plan);

#endif
