/* The model runner: the one place where a scheduled step meets the device. It owns the
 * backend, the uploaded model's KV cache, the forward scratch and the fixed step buffers,
 * and runs a step in four moves:
 *   flatten   the scheduler's output into the host copy of the step buffers
 *   upload    them in one transfer into the device copy (addresses never change between
 *             steps, so a CUDA graph captured over them can be replayed)
 *   forward   block copies of forks, then model_forward over the flat batch
 *   download  the last-token logits of every sequence, then synchronize
 * Every command (generate, run, eval, bench, serve) runs through the Engine and so through
 * here: there is no second forward path. */
#ifndef PISTON_RUNNER_H
#define PISTON_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "models/model.h"
#include "scheduler/scheduler.h"

typedef struct RunnerArgs {
    BackendOptions backend;
    int max_num_seqs;
    int max_num_batched_tokens;
    int max_model_len;
    int block_size;
    int kv_cache_dtype;           /* DT_F32, DT_F16, DT_BF16 or KV_CACHE_DTYPE_AUTO */
    int64_t kv_cache_memory;      /* host-memory backends: KV bytes; <= 0: 4 GiB or a quarter of RAM */
    float gpu_memory_utilization; /* device backends: the fraction of device memory Piston may use */
    int num_blocks_override;      /* > 0: exactly this many blocks (the null block included) */
    int enforce_eager;            /* no graphs: every step's ops launched one by one */
    int log;                      /* the memory plan on stderr */
} RunnerArgs;

/* The fixed step buffers: one arena, the same layout on the host and the device. */
typedef struct StepBuffers {
    int32_t *tokens;       /* [max_tokens] */
    int32_t *positions;    /* [max_tokens] */
    int32_t *query_start;  /* [max_seqs + 1] */
    int32_t *seq_lens;     /* [max_seqs] */
    int32_t *copy_src;     /* [max_seqs] block copies of the step (forks) */
    int32_t *copy_dst;     /* [max_seqs] */
    int64_t *slots;        /* [max_tokens] */
    int32_t *block_tables; /* [max_seqs, max_blocks_per_seq]: last, so a step uploads a prefix */
} StepBuffers;

typedef struct Runner {
    Backend *be;
    Model *model;          /* uploaded to be; not owned */
    KvCache kv;
    DType kv_dtype;
    ForwardScratch scratch;
    int max_tokens, max_seqs, max_blocks_per_seq;
    int64_t num_blocks;    /* KV blocks, the null block 0 included */
    void *host_arena, *dev_arena;
    StepBuffers h, d;      /* views of the two arenas */
    size_t off_block_tables;
    float *logits_dev;     /* [max_seqs, vocab] backend memory */
    float *logits_host;    /* [max_seqs, vocab]: logits_dev itself on a host-memory backend */
    int rows_cap;          /* prompt-logprob rows per chunk (runner_rows_logits) */
    int32_t *rows_dev;     /* [max_tokens] the rows' ids, backend memory */
    float *rows_logits_dev, *rows_logits_host; /* [rows_cap, vocab] */
    /* decode graphs (runner_graph.c): buckets of batch sizes, a graph each once captured */
    int graphs_on, n_buckets;
    int64_t graph_replays;   /* decode steps run from a graph */
    int *buckets;
    void **graphs;
    /* the plan, for the start-up log and /metrics */
    int64_t weight_bytes, scratch_bytes, kv_bytes, graph_reserve;
    int64_t free_at_start, total_memory, budget, activation_peak; /* device backends */
} Runner;

/* Create the backend, upload the model, size and allocate the KV cache, the scratch and the
 * step buffers. 0, or negative with err set. */
int runner_create(const RunnerArgs *a, Model *m, Runner **out, char *err, size_t errlen);
void runner_destroy(Runner *r);
/* Run one scheduled step (so->n_seqs > 0). *logits gets [so->n_seqs, vocab] on the host,
 * valid until the next call. 0, or negative with err set: the step failed, the runner can
 * run the next one. */
int runner_execute(Runner *r, const SchedOutput *so, float **logits, char *err, size_t errlen);
/* After runner_execute: the logits of rows[0, n) of that step's flat batch (a host array of
 * row indices; prompt logprobs want every prompt token's), computed in chunks of rows_cap:
 * fn(ctx, first, count, logits [count, vocab] on the host) per chunk. 0, or negative with
 * err set (a failed op, or fn's nonzero return). */
typedef int (*RunnerRowsFn)(void *ctx, int first, int count, const float *logits);
int runner_rows_logits(Runner *r, const int32_t *rows, int n, RunnerRowsFn fn, void *ctx, char *err, size_t errlen);

#endif
