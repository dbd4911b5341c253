/* The engine's private state, shared by engine.c (lifecycle, requests) and engine_step.c
 * (one step: schedule, run, sample, stop, detokenize). */
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
    int32_t *fork_tokens; /* [n - 1] the children's first tokens, sampled with the parent's */
    /* this step */
    int32_t step_tokens[2];
    SampleResult step_lps[2];
    int n_step;
    int reported;         /* final output already reported */
} EngineSeq;

/* id -> EngineSeq, open addressing with linear probing; ids are never reused */
typedef struct SeqMap {
    int64_t *keys; /* -1 empty, -2 deleted */
    EngineSeq **vals;
    size_t cap, n, used;
} SeqMap;

struct Engine {
    EngineArgs args;
    TextModel tm;             /* model, tokenizer, chat template, max_model_len */
    Backend *be;
    KvCache kv;
    ForwardScratch scratch;
    Scheduler *sched;
    int max_blocks_per_seq;
    /* flat batch */
    int32_t *tokens, *positions, *query_start, *seq_lens, *block_tables;
    int64_t *slots;
    int32_t *copy_src, *copy_dst;
    float *logits;      /* [max_num_seqs, vocab] */
    int32_t *sampled;   /* [max_num_seqs] */
    uint8_t *stopped;   /* [max_num_seqs] */
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

/* New sequence state for a request (copies stop strings; seeds the sampler with seed + index). */
EngineSeq *engine_seq_new(const Engine *e, const RequestParams *p, int index, char *err, size_t errlen);
void engine_seq_free(EngineSeq *s);
/* Queue `s` for freeing before the next step (outputs may still point into it). */
int engine_defer_free(Engine *e, EngineSeq *s);
int engine_push_output(Engine *e, EngineSeq *s);

#endif
