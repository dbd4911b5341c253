/* The engine: request lifecycle over the continuous-batching scheduler. engine_add_request
 * queues a tokenized prompt with its sampling and stop parameters; each engine_step
 * schedules one flat batch (prefill chunks and decode tokens of many requests), runs the
 * model, samples, applies the stop conditions (EOS, max_tokens, stop strings, stop token
 * ids, min_tokens, ignore_eos), detokenizes incrementally and reports, per request, the new
 * tokens and text of the step. n > 1 samples fork after the first token and share the
 * prompt's KV blocks.
 *
 * Not thread-safe: one thread owns an Engine (the server runs it in its engine thread and
 * talks to it through queues). Times are CLOCK_MONOTONIC seconds. */
#ifndef PISTON_ENGINE_H
#define PISTON_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/chat_template.h"
#include "engine/constraint.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "engine/runner.h"
#include "kernels/backend.h"
#include "models/model.h"
#include "scheduler/scheduler.h"

typedef struct EngineArgs {
    const char *model_path;
    BackendOptions backend;        /* --device, --threads, --precision */
    int max_model_len;             /* <= 0: the model's context length */
    int max_num_seqs;              /* default 256 */
    int max_num_batched_tokens;    /* default 2048 (at least max_num_seqs) */
    int block_size;                /* default 16 */
    int enable_prefix_caching;     /* default 1 */
    int enable_chunked_prefill;    /* default 1: a long prompt is split across steps */
    int64_t kv_cache_memory;       /* bytes for the KV cache on CPU; <= 0: default share of RAM */
    int kv_cache_dtype;            /* DT_F32, DT_F16, DT_BF16 or KV_CACHE_DTYPE_AUTO (the default; kv_cache.h) */
    int num_gpu_blocks_override;   /* > 0: exactly this many KV blocks (vLLM's name; tests) */
    int enforce_eager;             /* no CUDA graphs for decode steps */
    int load_dummy;                /* --load-format dummy: model_path is a built-in config name */
    int dtype;                     /* --dtype: DT_BF16, DT_F16, DT_F32, or DT_COUNT for auto */
    uint64_t dummy_seed;           /* the seed of dummy weights (--seed) */
    float gpu_memory_utilization;  /* (0, 1]: the share of device memory a device backend may use */
    const char *chat_template;     /* --chat-template name or NULL */
    const char *generation_config; /* --generation-config auto (NULL) | vllm | FOLDER */
    int log_stats;                 /* periodic throughput line on stderr while busy (default 1) */
    double log_interval_s;         /* default 5 */
} EngineArgs;

void engine_args_default(EngineArgs *a);

#define ENGINE_MAX_STOP 16

typedef struct RequestParams {
    SamplingParams sampling;
    int max_tokens;            /* <= 0: until max_model_len */
    int min_tokens;            /* EOS, stop ids and stop strings ignored before this many outputs */
    int ignore_eos;
    int n;                     /* samples, >= 1 */
    const char *stop[ENGINE_MAX_STOP]; /* stop strings: not emitted; copied at add */
    int n_stop;
    int32_t stop_token_ids[ENGINE_MAX_STOP];
    int n_stop_token_ids;
    int skip_special_tokens;   /* default 1: control tokens produce no text */
    int return_logits;         /* report each step's raw logits row (EngineOutput.logits) */
    Constraint *constraint;    /* structured output, or NULL; the engine takes its own reference */
    const LogitBias *logit_bias; /* [n_logit_bias], copied at add */
    int n_logit_bias;
    int prompt_logprobs;       /* -1: none; else the logprob of every prompt token after the
                                * first and the top-N (0..20) at each position */
} RequestParams;

void request_params_default(RequestParams *p);

/* What a step produced for one sequence (request id, sample index). Text is the newly
 * decodable UTF-8 (never half a character, never part of a stop string). The arrays belong
 * to the engine and live until the next engine_step. */
typedef struct EngineOutput {
    int64_t request_id;
    int index;                  /* which of the n samples */
    const int32_t *new_tokens;  /* [n_new] */
    const SampleResult *new_logprobs; /* [n_new] when logprobs were asked for, else NULL */
    int n_new;
    const char *text;           /* [text_len] */
    size_t text_len;
    FinishReason finish;        /* FINISH_NONE while running */
    const char *stop_reason;    /* the stop string matched, or NULL */
    int32_t stop_token;         /* the stop_token_ids entry that ended it; -1 for EOS and otherwise */
    int n_prompt_tokens;
    int n_output_tokens;        /* so far */
    int n_cached_tokens;        /* prompt tokens found in the prefix cache */
    const float *logits;        /* [vocab] the raw logits the new token was sampled from, when
                                 * return_logits was asked; else NULL */
    const SampleResult *prompt_logprobs; /* [n_prompt_tokens] with the first output when
                                 * prompt_logprobs was asked (entry 0, the first token, has no
                                 * logprob: n_top 0, logprob NaN); else NULL */
    const char *error;          /* FINISH_ABORT by a failed step: why; else NULL */
    /* t_first_scheduled: start of the first step that ran it; t_first_token: after the forward
     * pass that produced its first token; t_now: when this output was made */
    double t_arrival, t_first_scheduled, t_first_token, t_now;
} EngineOutput;

typedef struct EngineStats {
    int num_running, num_waiting;
    double kv_usage;
    int64_t num_preemptions;
    int64_t prompt_tokens_total, generation_tokens_total;  /* computed prompt tokens, sampled tokens */
    int64_t prefix_cache_queries, prefix_cache_hits;
    int64_t num_blocks, block_size; /* usable KV blocks (the null block not counted) */
    int64_t steps;
    int64_t graph_steps;          /* decode steps replayed from a CUDA graph */
} EngineStats;

typedef struct Engine Engine;

int engine_create(const EngineArgs *a, Engine **out, char *err, size_t errlen);
void engine_destroy(Engine *e);

const ModelConfig *engine_model_config(const Engine *e);
const Tokenizer *engine_tokenizer(const Engine *e);
/* The vocabulary constraints are compiled for (NULL without a tokenizer). Read-only: any
 * thread may compile against it while the engine lives. */
const ConstraintVocab *engine_constraint_vocab(const Engine *e);
/* NULL when the model's template is unknown and none was named (err says why). */
const ChatTemplate *engine_chat_template(const Engine *e, const char **err);
int engine_max_model_len(const Engine *e);
/* The sampling a request starts from: Piston's defaults with generation_config.json's fields
 * (--generation-config), which the OpenAI routes apply as vLLM does. */
const SamplingParams *engine_sampling_defaults(const Engine *e);
/* The loaded model (format, dtype, path: piston show, /api/show). */
const Model *engine_model(const Engine *e);

/* Queue a request. Fails (nothing queued) on an empty prompt, a prompt of max_model_len
 * tokens or more, bad sampling parameters, out-of-range ids. *id is the engine's id. */
int engine_add_request(Engine *e, const int32_t *prompt, int n_prompt, const RequestParams *p, int64_t *id,
                       char *err, size_t errlen);
/* End a request now (client gone): its blocks go back at once; a final output with
 * FINISH_ABORT is reported by the next engine_step. 0, or -1 when unknown. */
int engine_abort(Engine *e, int64_t id);
/* One step. *outs gets the outputs of every sequence that made progress or finished. */
int engine_step(Engine *e, const EngineOutput **outs, int *n_outs);
int engine_has_unfinished(const Engine *e);
void engine_get_stats(const Engine *e, EngineStats *st);
/* The backend the engine runs on (its name and device for logs). */
const Backend *engine_backend(const Engine *e);
/* What a decode step reads: the weights, and the KV cache bytes of one token of context. */
int64_t engine_weight_bytes(const Engine *e);
int64_t engine_kv_bytes_per_token(const Engine *e);
/* The KV cache's element type as resolved from --kv-cache-dtype (DT_F16, DT_BF16, DT_F32). */
int engine_kv_dtype(const Engine *e);
/* CLOCK_MONOTONIC seconds (base/clock.h): the clock of every engine timestamp */
double engine_now(void);

#endif
