/* The model runner (see runner.h): step buffers, one upload per step, the forward, the
 * logits download. Memory planning (how many KV blocks) is in runner_memory.c. */
#include "engine/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/runner_graph.h"
#include "engine/runner_memory.h"

#define ARENA_ALIGN 64

static size_t arena_take(size_t *at, size_t bytes) {
    size_t off = (*at + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    *at = off + bytes;
    return off;
}

/* The same offsets for both copies, so that one contiguous upload moves a step. */
static StepBuffers arena_views(char *base, const size_t off[8]) {
    return (StepBuffers){(int32_t *)(base + off[0]), (int32_t *)(base + off[1]), (int32_t *)(base + off[2]),
                         (int32_t *)(base + off[3]), (int32_t *)(base + off[4]), (int32_t *)(base + off[5]),
                         (int64_t *)(base + off[6]), (int32_t *)(base + off[7])};
}

static int step_buffers_init(Runner *r, char *err, size_t errlen) {
    size_t T = (size_t)r->max_tokens, B = (size_t)r->max_seqs, at = 0, off[8];
    off[0] = arena_take(&at, T * 4);                                /* tokens */
    off[1] = arena_take(&at, T * 4);                                /* positions */
    off[2] = arena_take(&at, (B + 1) * 4);                          /* query_start */
    off[3] = arena_take(&at, B * 4);                                /* seq_lens */
    off[4] = arena_take(&at, B * 4);                                /* copy_src */
    off[5] = arena_take(&at, B * 4);                                /* copy_dst */
    off[6] = arena_take(&at, T * 8);                                /* slots */
    off[7] = arena_take(&at, B * (size_t)r->max_blocks_per_seq * 4); /* block_tables */
    r->off_block_tables = off[7];
    r->host_arena = r->be->ops->host_alloc(r->be, at);
    r->dev_arena = r->host_arena ? r->be->ops->alloc(r->be, at) : NULL;
    if (!r->dev_arena) return err_set(err, errlen, -ENOMEM, "step buffers (%zu bytes): %s", at, r->be->err);
    r->h = arena_views(r->host_arena, off);
    r->d = arena_views(r->dev_arena, off);
    return 0;
}

int runner_create(const RunnerArgs *a, Model *m, Runner **out, char *err, size_t errlen) {
    *out = NULL;
    Runner *r = calloc(1, sizeof *r);
    if (!r) return err_set(err, errlen, -ENOMEM, "out of memory");
    const ModelConfig *c = &m->cfg;
    int rc = backend_create(&a->backend, &r->be, err, errlen);
    if (rc) goto fail;
    r->model = m;
    r->max_tokens = a->max_num_batched_tokens;
    r->max_seqs = a->max_num_seqs;
    r->max_blocks_per_seq = (a->max_model_len + a->block_size - 1) / a->block_size;
    r->kv_dtype = kv_cache_dtype_resolve(a->kv_cache_dtype, r->be->opt.precision);
    if (!r->be->host_visible && (rc = r->be->ops->mem_info(r->be, &r->free_at_start, &r->total_memory))) {
        err_set(err, errlen, rc, "%s", r->be->err);
        goto fail;
    }
    if ((rc = runner_check_budget(r, a, err, errlen)) || (rc = model_upload(m, r->be, err, errlen))) goto fail;
    r->weight_bytes = r->be->host_visible ? 0 : model_weight_bytes(m);
    r->scratch_bytes = forward_scratch_bytes(c, r->max_tokens, r->max_seqs);
    if ((rc = forward_scratch_init(&r->scratch, r->be, c, r->max_tokens, r->max_seqs, err, errlen)) ||
        (rc = step_buffers_init(r, err, errlen)))
        goto fail;
    size_t logits_bytes = (size_t)r->max_seqs * c->vocab_size * sizeof(float);
    r->logits_dev = backend_alloc(r->be, logits_bytes, err, errlen);
    r->logits_host = r->be->host_visible ? r->logits_dev : r->be->ops->host_alloc(r->be, logits_bytes);
    if (!r->logits_dev || !r->logits_host) {
        rc = err_set(err, errlen, -ENOMEM, "out of memory for the logits (%zu bytes)", logits_bytes);
        goto fail;
    }
    /* prompt-logprob rows: a small buffer, so that a long prompt costs chunks, not memory */
    r->rows_cap = r->max_seqs < 64 ? r->max_seqs : 64;
    size_t rows_bytes = (size_t)r->rows_cap * c->vocab_size * sizeof(float);
    r->rows_dev = backend_alloc(r->be, (size_t)r->max_tokens * sizeof(int32_t), err, errlen);
    r->rows_logits_dev = r->rows_dev ? backend_alloc(r->be, rows_bytes, err, errlen) : NULL;
    r->rows_logits_host = r->be->host_visible ? r->rows_logits_dev : r->be->ops->host_alloc(r->be, rows_bytes);
    if (!r->rows_dev || !r->rows_logits_dev || !r->rows_logits_host) {
        rc = err_set(err, errlen, -ENOMEM, "out of memory for the prompt-logprob rows (%zu bytes)", rows_bytes);
        goto fail;
    }
    if ((rc = runner_graphs_init(r, a->enforce_eager))) {
        err_set(err, errlen, rc, "out of memory");
        goto fail;
    }
    if ((rc = runner_plan_kv_blocks(r, a, &r->num_blocks, err, errlen)) ||
        (rc = kv_cache_init(&r->kv, r->be, c, r->num_blocks, a->block_size, r->kv_dtype, err, errlen)))
        goto fail;
    r->kv_bytes = kv_cache_bytes_per_token(c, r->kv_dtype) * a->block_size * r->num_blocks;
    *out = r;
    return 0;
fail:
    runner_destroy(r);
    return rc;
}

void runner_destroy(Runner *r) {
    if (!r) return;
    Backend *be = r->be;
    if (be) {
        runner_graphs_free(r);
        kv_cache_free(&r->kv, be);
        forward_scratch_free(&r->scratch, be);
        backend_free(be, r->dev_arena);
        if (r->host_arena) be->ops->host_free(be, r->host_arena);
        if (r->logits_host && r->logits_host != r->logits_dev) be->ops->host_free(be, r->logits_host);
        backend_free(be, r->logits_dev);
        if (r->rows_logits_host && r->rows_logits_host != r->rows_logits_dev) be->ops->host_free(be, r->rows_logits_host);
        backend_free(be, r->rows_logits_dev);
        backend_free(be, r->rows_dev);
    }
    /* the model's weights live on this backend: free them before the backend goes */
    if (r->model && r->model->uploaded == be && r->model->weights_buf) {
        backend_free(be, r->model->weights_buf);
        r->model->weights_buf = NULL;
    }
    backend_destroy(be);
    free(r);
}

/* flatten: the scheduler's plan into the host step buffers; the attention batch's host
 * fields (T, B and the two maxima) come from the host copy */
static int flatten(Runner *r, const SchedOutput *so, Batch *b, char *err, size_t errlen) {
    if (so->n_seqs > r->max_seqs || so->n_tokens > r->max_tokens || so->n_copies > r->max_seqs)
        return err_set(err, errlen, -EINVAL, "step of %d sequences, %d tokens, %d copies exceeds the runner's %d, %d",
                       so->n_seqs, so->n_tokens, so->n_copies, r->max_seqs, r->max_tokens);
    StepBuffers *h = &r->h;
    if (sched_build_batch(so, r->kv.block_size, r->max_blocks_per_seq, h->tokens, h->positions, h->slots,
                          h->query_start, h->seq_lens, h->block_tables))
        return err_set(err, errlen, -EINVAL, "a block table is longer than max_model_len allows");
    for (int i = 0; i < so->n_copies; i++) h->copy_src[i] = so->copies[i].src, h->copy_dst[i] = so->copies[i].dst;
    int max_q = 0, max_len = 0;
    for (int i = 0; i < so->n_seqs; i++) {
        int q = h->query_start[i + 1] - h->query_start[i];
        max_q = q > max_q ? q : max_q;
        max_len = h->seq_lens[i] > max_len ? h->seq_lens[i] : max_len;
    }
    const StepBuffers *d = &r->d;
    *b = (Batch){.tokens = d->tokens,
                 .positions = d->positions,
                 .attn = {.T = so->n_tokens,
                          .B = so->n_seqs,
                          .max_query_len = max_q,
                          .max_seq_len = max_len,
                          .query_start = d->query_start,
                          .seq_lens = d->seq_lens,
                          .block_tables = d->block_tables,
                          .max_blocks_per_seq = r->max_blocks_per_seq,
                          .slot_mapping = d->slots}};
    return 0;
}

int runner_execute(Runner *r, const SchedOutput *so, float **logits, char *err, size_t errlen) {
    Batch b;
    int rc = flatten(r, so, &b, err, errlen);
    if (rc) return rc;
    /* a pure decode step replays its bucket's graph over padded step buffers */
    int bucket = b.attn.max_query_len == 1 ? runner_graph_bucket(r, b.attn.B) : -1;
    int rows = bucket >= 0 ? r->buckets[bucket] : so->n_seqs;
    if (bucket >= 0) runner_graph_pad(r, so->n_seqs, rows);
    /* upload: everything up to the used rows of the block tables, in one transfer */
    size_t bytes = r->off_block_tables + (size_t)rows * r->max_blocks_per_seq * sizeof(int32_t);
    if ((rc = backend_upload(r->be, r->dev_arena, r->host_arena, bytes, err, errlen))) return rc;
    if (so->n_copies > 0 &&
        (rc = r->be->ops->kv_copy_blocks(r->be, &r->kv, r->d.copy_src, r->d.copy_dst, so->n_copies)))
        return err_set(err, errlen, rc, "block copy: %s", r->be->err);
    rc = bucket >= 0 ? runner_graph_run(r, bucket, err, errlen) : 1;
    if (rc < 0) return rc;
    if (rc > 0 && (rc = model_forward(r->model, r->be, &r->kv, &b, &r->scratch, r->logits_dev, err, errlen))) return rc;
    if (r->logits_host != r->logits_dev) {
        size_t lb = (size_t)so->n_seqs * r->model->cfg.vocab_size * sizeof(float);
        if ((rc = backend_download(r->be, r->logits_host, r->logits_dev, lb, err, errlen))) return rc;
    }
    if ((rc = backend_synchronize(r->be, err, errlen))) return rc;
    *logits = r->logits_host;
    return 0;
}

int runner_rows_logits(Runner *r, const int32_t *rows, int n, RunnerRowsFn fn, void *ctx, char *err, size_t errlen) {
    const int V = r->model->cfg.vocab_size;
    int rc;
    if (n > r->max_tokens) return err_set(err, errlen, -EINVAL, "%d rows in a step of at most %d tokens", n, r->max_tokens);
    if ((rc = backend_upload(r->be, r->rows_dev, rows, (size_t)n * sizeof *rows, err, errlen))) return rc;
    for (int first = 0; first < n; first += r->rows_cap) {
        int count = n - first < r->rows_cap ? n - first : r->rows_cap;
        if ((rc = model_forward_rows(r->model, r->be, &r->scratch, r->rows_dev + first, count, r->rows_logits_dev, err,
                                     errlen)))
            return rc;
        if (r->rows_logits_host != r->rows_logits_dev &&
            (rc = backend_download(r->be, r->rows_logits_host, r->rows_logits_dev, (size_t)count * V * sizeof(float), err,
                                   errlen)))
            return rc;
        if ((rc = backend_synchronize(r->be, err, errlen))) return rc;
        if ((rc = fn(ctx, first, count, r->rows_logits_host)))
            return err_set(err, errlen, rc, "prompt logprobs: out of memory");
    }
    return 0;
}
