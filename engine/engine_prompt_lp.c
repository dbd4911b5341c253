/* Prompt logprobs (vLLM's prompt_logprobs, OpenAI's echo with logprobs, TGI's
 * decoder_input_details): for a request that asks, every prompt token after the first gets
 * its logprob, rank and the top-N alternatives under the logits of the position before it.
 * Those rows of the step's flat batch go through the output head after the forward pass
 * (runner_rows_logits, in chunks, so a long prompt costs time, not memory); such a request's
 * prompt is computed whole (no prefix-cache hits), and a recomputation after preemption
 * writes the same values again. */
#include <math.h>
#include <stdlib.h>

#include "engine/engine_internal.h"

typedef struct Rows {
    Engine *e;
    EngineSeq **seq; /* [n] */
    int32_t *pos;    /* [n] the position whose logits predict prompt token pos + 1 */
    int32_t *next;   /* [n] that token */
} Rows;

static int on_rows(void *ctx, int first, int count, const float *logits) {
    Rows *r = ctx;
    const int V = r->e->tm.model->cfg.vocab_size;
    for (int j = 0; j < count; j++) {
        EngineSeq *s = r->seq[first + j];
        SampleResult *res = &s->prompt_lps[r->pos[first + j] + 1];
        sampler_logprobs(logits + (size_t)j * V, V, r->next[first + j], s->params.prompt_logprobs, s->sampler.sc->idx, res);
    }
    return 0;
}

int engine_prompt_logprobs(Engine *e, const SchedOutput *so, char *err, size_t errlen) {
    int n = 0, rc = 0;
    for (int i = 0; i < so->n_seqs; i++) {
        EngineSeq *s = so->seqs[i].req ? seqmap_get(&e->seqs, so->seqs[i].id) : NULL;
        if (s && s->prompt_lps) n += so->seqs[i].n_new;
    }
    if (n == 0) return 0;
    int32_t *rows = malloc((size_t)n * sizeof *rows);
    Rows r = {e, malloc((size_t)n * sizeof *r.seq), malloc((size_t)n * sizeof *r.pos), malloc((size_t)n * sizeof *r.next)};
    if (!rows || !r.seq || !r.pos || !r.next) {
        rc = -1;
        goto done;
    }
    int k = 0, off = 0;
    for (int i = 0; i < so->n_seqs; off += so->seqs[i].n_new, i++) {
        const SchedSeq *q = &so->seqs[i];
        EngineSeq *s = q->req ? seqmap_get(&e->seqs, q->id) : NULL;
        if (!s || !s->prompt_lps) continue;
        int end = q->start + q->n_new < s->n_prompt - 1 ? q->start + q->n_new : s->n_prompt - 1;
        for (int p = q->start; p < end; p++) rows[k] = off + (p - q->start), r.seq[k] = s, r.pos[k] = p, r.next[k++] = q->tokens[p + 1];
    }
    if (k > 0) rc = runner_rows_logits(e->runner, rows, k, on_rows, &r, err, errlen);
done:
    free(rows), free(r.seq), free(r.pos), free(r.next);
    return rc;
}
