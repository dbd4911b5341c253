/* Decode steps through captured graphs (CUDA graphs; see graph_begin in kernels/backend.h).
 * A pure decode step of B sequences runs as the graph of the smallest bucket >= B (1, 2, 4,
 * then multiples of 8 up to --max-num-seqs, as vLLM buckets them), captured the first time
 * that bucket is needed and replayed after: a replay launches the ~300 kernels of a forward
 * with one call, where launching them one by one costs more than a small model's decode.
 *
 * The graph reads the runner's step buffers, whose addresses never change; each step only
 * refills them. Rows past B are padding: one token at position 0 of the null block, its K/V
 * written nowhere (slot -1), its logits computed and never read. The attention batch of a
 * bucket says max_seq_len = max_model_len, so the split-K partition it was captured with is
 * right for every context length. A capture that fails turns graphs off for the run (said
 * once on stderr) and the step runs eagerly. */
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/err.h"
#include "engine/runner_graph.h"

int runner_graphs_init(Runner *r, int enforce_eager) {
    Backend *be = r->be;
    if (enforce_eager || !be->ops->graph_begin) return 0;
    int cap = 3 + r->max_seqs / 8 + 1, n = 0;
    r->buckets = malloc((size_t)cap * sizeof *r->buckets);
    r->graphs = calloc((size_t)cap, sizeof *r->graphs);
    if (!r->buckets || !r->graphs) return -ENOMEM;
    /* a bucket's rows are tokens of one step: at most the scratch's tokens */
    int top = r->max_seqs < r->max_tokens ? r->max_seqs : r->max_tokens;
    for (int b = 1; b <= top && b < 8; b *= 2) r->buckets[n++] = b;
    for (int b = 8; b <= top; b += 8) r->buckets[n++] = b;
    if (n == 0 || r->buckets[n - 1] < top) r->buckets[n++] = top;
    r->n_buckets = n;
    r->graphs_on = 1;
    return 0;
}

void runner_graphs_free(Runner *r) {
    for (int i = 0; r->graphs && i < r->n_buckets; i++)
        if (r->graphs[i]) r->be->ops->graph_destroy(r->be, r->graphs[i]);
    free(r->graphs);
    free(r->buckets);
    r->graphs = NULL, r->buckets = NULL, r->n_buckets = 0, r->graphs_on = 0;
}

int runner_graph_bucket(const Runner *r, int B) {
    if (!r->graphs_on) return -1;
    for (int i = 0; i < r->n_buckets; i++)
        if (r->buckets[i] >= B) return i;
    return -1;
}

void runner_graph_pad(Runner *r, int B, int Bp) {
    StepBuffers *h = &r->h;
    for (int b = B; b < Bp; b++) {
        h->tokens[b] = 0, h->positions[b] = 0, h->slots[b] = -1;
        h->query_start[b + 1] = b + 1;
        h->seq_lens[b] = 1;
        int32_t *row = h->block_tables + (int64_t)b * r->max_blocks_per_seq;
        for (int j = 0; j < r->max_blocks_per_seq; j++) row[j] = 0;
    }
}

static void graphs_off(Runner *r, const char *why) {
    log_line(LOG_WARN, "CUDA graphs off for this run (decode steps run eagerly): %s", why);
    runner_graphs_free(r);
}

int runner_graph_run(Runner *r, int bucket, char *err, size_t errlen) {
    Backend *be = r->be;
    int Bp = r->buckets[bucket];
    const StepBuffers *d = &r->d;
    Batch b = {d->tokens,
               d->positions,
               {Bp, Bp, 1, r->max_blocks_per_seq * r->kv.block_size, d->query_start, d->seq_lens, d->block_tables,
                r->max_blocks_per_seq, d->slots}};
    if (!r->graphs[bucket]) {
        char why[512];
        void *g = NULL;
        int rc = be->ops->graph_begin(be);
        if (rc) {
            snprintf(why, sizeof why, "%s", be->err);
        } else {
            rc = model_forward(r->model, be, &r->kv, &b, &r->scratch, r->logits_dev, why, sizeof why);
            int end = be->ops->graph_end(be, &g); /* always close the capture */
            if (!rc && end) rc = end, snprintf(why, sizeof why, "%s", be->err);
        }
        if (rc) {
            if (g) be->ops->graph_destroy(be, g);
            graphs_off(r, why);
            return 1; /* the caller runs the step eagerly */
        }
        r->graphs[bucket] = g;
    }
    int rc = be->ops->graph_launch(be, r->graphs[bucket]);
    r->graph_replays += rc == 0;
    return rc ? err_set(err, errlen, rc, "graph launch (bucket %d): %s", Bp, be->err) : 0;
}
