/* The continuous-batching scheduler: it owns the waiting and running queues of requests (a
 * request here is a scheduling record: token ids, progress, KV block table; never tensors)
 * and the KV block pool, and decides each step which requests run and how many tokens each.
 *
 * Policy (vLLM v1 style: a request is just "tokens known" vs "tokens computed", so prefill,
 * chunked prefill, decode and recompute after preemption are one case):
 *  - each step has a token budget (max_num_batched_tokens) and a cap on sequences
 *    (max_num_seqs); neither is ever exceeded;
 *  - running requests first, in admission order: each gets its remaining known tokens (one
 *    for decode, the next chunk of a prompt) up to the budget left;
 *  - then waiting requests, first come first served, while budget, cap and blocks last; at
 *    admission the prompt's cached prefix (full blocks) is taken from the prefix cache and
 *    only the rest is computed. The queue head blocks those behind it: strict FCFS, so no one
 *    starves;
 *  - a running request that cannot get a block preempts the most recently admitted running
 *    request (possibly itself): all its blocks are given back, num_computed returns to 0 and
 *    it goes to the FRONT of the waiting queue; its outputs so far are kept and recomputed
 *    with the prompt (its computed full blocks usually come back from the prefix cache).
 *    A step that preempted admits no one. Nothing is dropped; the oldest running request
 *    always progresses.
 *
 * One step, as the engine drives it:
 *    sched_schedule(s, &out)              which sequences, how many tokens, block tables
 *    perform out.copies on the KV cache   (block copies of forks, before the forward pass)
 *    sched_build_batch(&out, ...)         flat batch: token ids, positions, slot mapping...
 *    model forward, sample the sequences with out.seqs[i].samples
 *    sched_update_from_output(s, &out, sampled, stopped)
 *    out.finished: requests that ended this step (length, stop)
 * Aborts and sched_finish_request for stop strings best go between update and the next
 * schedule (a request ended in between is skipped by update: its seq's req is NULL). A
 * SchedOutput's arrays are the scheduler's and live until the next sched_schedule; the
 * tokens and block_table pointers in its seqs only until the next call that changes the
 * scheduler (update appends tokens). */
#ifndef PISTON_SCHEDULER_H
#define PISTON_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler/block_pool.h"
#include "scheduler/block_table.h"

/* Request life cycle:
 *
 *   sched_add_request ──▶ WAITING ──── admitted ────▶ RUNNING ──── ends ─────▶ FINISHED
 *                         (back of      (blocks for   │    ▲     max_tokens, max_model_len,
 *                          the queue)    its chunk)   │    │     stop, sched_finish_request,
 *                            │               preempted│    │admitted          sched_abort
 *                            │   (blocks freed, front ▼    │
 *                            │    of the queue)     PREEMPTED
 *                            │                          │
 *                            └────── sched_abort ───────┴─────────────────▶ FINISHED
 *
 * A FINISHED request's record is freed at once (its id is then unknown); a fork starts in
 * RUNNING. */
typedef enum ReqState {
    REQ_STATE_WAITING = 0,
    REQ_STATE_RUNNING = 1,
    REQ_STATE_PREEMPTED = 2,
    REQ_STATE_FINISHED = 3
} ReqState;

typedef enum FinishReason {
    FINISH_NONE = 0,
    FINISH_STOP = 1,   /* EOS, a stop token or a stop string */
    FINISH_LENGTH = 2, /* max_tokens outputs, or max_model_len tokens in all */
    FINISH_ABORT = 3   /* the client went away, or out of memory */
} FinishReason;

/* Read-only outside scheduler/. */
typedef struct SchedRequest {
    int64_t id;           /* given by sched_add_request, increasing: arrival order */
    ReqState state;
    int32_t *tokens;      /* [n_tokens]: the prompt, then the outputs */
    int64_t n_prompt;
    int64_t n_tokens;
    int64_t num_computed; /* leading tokens whose K/V are in the cache */
    int64_t max_tokens;   /* outputs wanted */
    int64_t num_cached_tokens; /* prompt tokens found in the prefix cache at first admission */
    int32_t n_preemptions;
    BlockTable table;
    /* private */
    int no_prefix_cache;  /* every prompt token is computed (sched_set_no_prefix_cache) */
    int64_t cap_tokens;
    struct SchedRequest *prev, *next; /* waiting queue links */
} SchedRequest;

typedef struct SchedConfig {
    int32_t num_blocks;             /* KV blocks, including the null block 0 */
    int block_size;                 /* tokens per block */
    int max_num_seqs;               /* sequences per step */
    int32_t max_num_batched_tokens; /* tokens per step */
    int32_t max_model_len;          /* tokens per sequence, prompt and outputs */
    int enable_prefix_caching;      /* default 1 */
    int enable_chunked_prefill;     /* default 1; 0: a prompt is admitted only whole */
} SchedConfig;

/* One scheduled sequence of a step. Its new tokens are tokens[start .. start + n_new), at
 * positions [start, start + n_new), their K/V going to slots of block_table. */
typedef struct SchedSeq {
    SchedRequest *req;          /* NULL when the request ended after this step was scheduled */
    int64_t id;
    int32_t start;              /* num_computed before the step */
    int32_t n_new;
    int samples;                /* 1: the step reaches its last known token, sample its logits */
    const int32_t *tokens;      /* the request's tokens */
    const int32_t *block_table; /* [n_blocks] covering positions [0, start + n_new) */
    int32_t n_blocks;
} SchedSeq;

typedef struct SchedFinished {
    int64_t id;
    FinishReason reason;
} SchedFinished;

typedef struct SchedOutput {
    SchedSeq *seqs;      /* [n_seqs] running requests in admission order, then new ones FCFS */
    int n_seqs;
    int32_t n_tokens;    /* sum of n_new, <= max_num_batched_tokens */
    int n_admitted;      /* of which the last n_admitted were admitted this step */
    BlockCopy *copies;   /* [n_copies] to perform on the KV cache before the forward pass */
    int n_copies;
    int64_t *preempted;  /* [n_preempted] ids preempted this step */
    int n_preempted;
    SchedFinished *finished; /* [n_finished] filled by sched_update_from_output */
    int n_finished;
} SchedOutput;

typedef struct SchedStats {
    int num_running;
    int num_waiting;            /* including preempted */
    int64_t num_preemptions;    /* since creation */
    int64_t prefix_cache_queries; /* prompt tokens looked up at first admissions */
    int64_t prefix_cache_hits;    /* of those, tokens found */
    double kv_usage;            /* fraction of usable KV blocks held, [0, 1] */
    int32_t num_free_blocks;
} SchedStats;

typedef struct Scheduler Scheduler;

void sched_config_default(SchedConfig *c);
/* Checks the config (the pool must hold at least one max_model_len sequence, or such a
 * request could never run); 0, or negative with err set. */
int sched_create(const SchedConfig *c, Scheduler **out, char *err, size_t errlen);
void sched_destroy(Scheduler *s);
const SchedConfig *sched_config(const Scheduler *s);

/* Queue a request: 1 <= n_prompt < max_model_len, max_tokens >= 1. *id gets its id. */
int sched_add_request(Scheduler *s, const int32_t *prompt, int64_t n_prompt, int64_t max_tokens, int64_t *id,
                      char *err, size_t errlen);

/* Plan one step into *out (the arrays are the scheduler's). Returns 0 or -ENOMEM. An empty
 * step (n_seqs 0) means nothing to do. */
int sched_schedule(Scheduler *s, SchedOutput *out);

/* After the step ran: sampled[i] is the token drawn for out->seqs[i] where it samples;
 * stopped (may be NULL) marks sequences whose token ends them (EOS, stop token). Advances
 * num_computed, appends the tokens, registers newly full blocks in the prefix cache, and
 * finishes requests at max_tokens / max_model_len / stop, listing them in out->finished. */
int sched_update_from_output(Scheduler *s, SchedOutput *out, const int32_t *sampled, const uint8_t *stopped);

/* Compute every token of the request's prompt instead of taking a cached prefix (a request
 * that wants each prompt token's logprob needs their logits). Before its first admission.
 * 0, or -ENOENT. */
int sched_set_no_prefix_cache(Scheduler *s, int64_t id);

/* End a request (e.g. a stop string seen by the detokenizer) and free its blocks.
 * 0, or -ENOENT when there is no such live request. */
int sched_finish_request(Scheduler *s, int64_t id, FinishReason reason);
int sched_abort(Scheduler *s, int64_t id);

/* n > 1 sampling: a child of a RUNNING parent that has just sampled (n_tokens ==
 * num_computed + 1, i.e. right after sched_update_from_output; pass stopped = 0 for a parent
 * whose first token is EOS, fork, then finish it). The child has the parent's computed
 * tokens followed by first_token, shares the parent's full blocks and gets a copy of its
 * partial last block (in the next step's out.copies; the source block is held until that
 * step is reported done). It runs as the most recently admitted request. Returns 0,
 * -ENOENT, -EINVAL (parent not just sampled), -EBUSY (max_num_seqs running) or -ENOSPC (no
 * free block): then the engine can add the prompt as a request of its own, which the prefix
 * cache shares. */
int sched_fork_request(Scheduler *s, int64_t parent_id, int32_t first_token, int64_t *child_id);

/* The live request with this id, or NULL. */
const SchedRequest *sched_find_request(const Scheduler *s, int64_t id);
int sched_has_unfinished(const Scheduler *s);
void sched_get_stats(const Scheduler *s, SchedStats *st);
BlockPool *sched_block_pool(Scheduler *s);

/* slots[i] = block_table[p / bs] * bs + p % bs for p = start + i, i in [0, n). */
void sched_build_slot_mapping(const int32_t *block_table, int block_size, int64_t start, int32_t n, int64_t *slots);
/* Flatten a step (see AttnBatch in kernels/backend.h): token_ids, positions, slot_mapping
 * [out->n_tokens]; query_start [n_seqs + 1]; seq_lens [n_seqs]; block_tables [n_seqs,
 * max_blocks_per_seq] padded with the null block. -EINVAL if a table is longer than
 * max_blocks_per_seq (size it ceil(max_model_len / block_size)). */
int sched_build_batch(const SchedOutput *out, int block_size, int32_t max_blocks_per_seq, int32_t *token_ids,
                      int32_t *positions, int64_t *slot_mapping, int32_t *query_start, int32_t *seq_lens,
                      int32_t *block_tables);

#endif
