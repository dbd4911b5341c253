/* The Llama-family forward pass over one flat batch (prefill chunks and decode tokens of
 * many sequences together), written only against the backend op table:
 *   x = embed(tokens)
 *   per layer: x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))   (paged KV cache;
 *              Qwen3 RMSNorms each head of q and k before the rope)
 *              x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout · n(x[last token of each sequence])
 * Each residual add is fused with the norm that follows it (add_rmsnorm), and the last
 * layer's add happens after the last-token gather, on B rows instead of T. Only the last
 * token of each sequence reaches the output head: with a 49k vocabulary the head costs as
 * much as several layers, and the other rows' logits are never used. Every array the ops
 * read is backend memory; nothing here touches the batch on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "models/model.h"

/* 256 bytes: keeps every piece aligned for vector loads on any backend */
#define SCRATCH_ALIGN 256

typedef struct ScratchPlan {
    int64_t off[10]; /* x, xn, q, k, v, attn, gate, up, last, last_b */
    int64_t total;
} ScratchPlan;

static ScratchPlan scratch_plan(const ModelConfig *c, int max_tokens, int max_seqs) {
    int64_t T = max_tokens, B = max_seqs;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t elems[10] = {T * c->dim, T * c->dim, T * qd, T * kvd, T * kvd, T * qd, T * c->ffn_dim, T * c->ffn_dim,
                         B * c->dim, B * c->dim};
    ScratchPlan p = {{0}, 0};
    for (int i = 0; i < 10; i++) {
        p.off[i] = p.total;
        p.total += (elems[i] * (int64_t)sizeof(float) + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    }
    return p;
}

int64_t forward_scratch_bytes(const ModelConfig *c, int max_tokens, int max_seqs) {
    return scratch_plan(c, max_tokens, max_seqs).total;
}

int forward_scratch_init(ForwardScratch *s, Backend *be, const ModelConfig *c, int max_tokens, int max_seqs,
                         char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    ScratchPlan p = scratch_plan(c, max_tokens, max_seqs);
    s->buf = backend_alloc(be, (size_t)p.total, err, errlen);
    if (!s->buf) return -ENOMEM;
    s->max_tokens = max_tokens;
    s->max_seqs = max_seqs;
    float **piece[10] = {&s->x, &s->xn, &s->q, &s->k, &s->v, &s->attn, &s->gate, &s->up, &s->last, &s->last_b};
    for (int i = 0; i < 10; i++) *piece[i] = (float *)((char *)s->buf + p.off[i]);
    return 0;
}

void forward_scratch_free(ForwardScratch *s, Backend *be) {
    if (be) backend_free(be, s->buf);
    memset(s, 0, sizeof *s);
}

/* one op: a failure ends the forward with the backend's message */
#define OP(call)                                                                           \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) return err_set(err, errlen, rc_, "forward, layer %d: %s", layer, be->err); \
    } while (0)

static int attention_block(const Model *m, Backend *be, KvCache *kv, const Batch *b, ForwardScratch *s, int layer,
                           char *err, size_t errlen) {
    const ModelConfig *c = &m->cfg;
    const BackendOps *op = be->ops;
    const LayerWeights *L = &m->layers[layer];
    const int T = b->attn.T, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    const Tensor *qkv_w[3] = {&L->wq, &L->wk, &L->wv};
    float *qkv_y[3] = {s->q, s->k, s->v}; /* q [T, qd], k and v [T, kvd] */
    OP(backend_matmul_n(be, 3, qkv_w, s->xn, qkv_y, T));
    if (L->bq.data) {
        OP(op->add_bias(be, s->q, L->bq.data, T, qd));
        OP(op->add_bias(be, s->k, L->bk.data, T, kvd));
        OP(op->add_bias(be, s->v, L->bv.data, T, kvd));
    }
    if (L->q_norm.data) { /* Qwen3: each head's q and k RMSNormed, as rows of head_dim */
        OP(op->rmsnorm(be, s->q, L->q_norm.data, s->q, T * c->n_heads, c->head_dim, c->norm_eps));
        OP(op->rmsnorm(be, s->k, L->k_norm.data, s->k, T * c->n_kv_heads, c->head_dim, c->norm_eps));
    }
    OP(op->rope(be, s->q, b->positions, T, c->n_heads, c->head_dim, c->rot_dim, c->rope_theta,
                m->rope_freqs.data, c->rope_style));
    OP(op->rope(be, s->k, b->positions, T, c->n_kv_heads, c->head_dim, c->rot_dim, c->rope_theta,
                m->rope_freqs.data, c->rope_style));
    OP(op->kv_write(be, kv, layer, s->k, s->v, &b->attn));
    OP(op->attention(be, kv, layer, s->q, &b->attn, c->n_heads, c->n_kv_heads, c->head_dim,
                     1.0f / sqrtf((float)c->head_dim), s->attn));
    OP(op->matmul(be, &L->wo, s->attn, s->xn, T)); /* xn [T, dim]: the branch output */
    return 0;
}

int model_forward(const Model *m, Backend *be, KvCache *kv, const Batch *b, ForwardScratch *s, float *logits,
                  char *err, size_t errlen) {
    const ModelConfig *c = &m->cfg;
    const BackendOps *op = be->ops;
    const int T = b->attn.T, B = b->attn.B, dim = c->dim;
    int layer = -1;
    if (T <= 0 || T > s->max_tokens || B <= 0 || B > s->max_seqs)
        return err_set(err, errlen, -EINVAL, "forward: %d tokens of %d sequences do not fit the scratch (%d, %d)", T,
                       B, s->max_tokens, s->max_seqs);

    OP(op->embed(be, &m->tok_embd, b->tokens, T, s->x)); /* x [T, dim] */
    OP(op->rmsnorm(be, s->x, m->layers[0].attn_norm.data, s->xn, T, dim, c->norm_eps));
    for (layer = 0; layer < c->n_layers; layer++) {
        const LayerWeights *L = &m->layers[layer];
        int rc = attention_block(m, be, kv, b, s, layer, err, errlen);
        if (rc) return rc;
        OP(op->add_rmsnorm(be, s->x, s->xn, L->ffn_norm.data, s->xn, T, dim, c->norm_eps)); /* x += attn out */
        const Tensor *gu_w[2] = {&L->w_gate, &L->w_up};
        float *gu_y[2] = {s->gate, s->up}; /* gate and up [T, ffn] */
        OP(backend_matmul_n(be, 2, gu_w, s->xn, gu_y, T));
        OP(op->silu_mul(be, s->gate, s->up, (int64_t)T * c->ffn_dim));
        OP(op->matmul(be, &L->w_down, s->gate, s->xn, T)); /* xn [T, dim]: the FFN output */
        if (layer + 1 < c->n_layers)
            OP(op->add_rmsnorm(be, s->x, s->xn, m->layers[layer + 1].attn_norm.data, s->xn, T, dim, c->norm_eps));
    }
    /* last [B, dim] = x + ffn out at the final row of each sequence, normed: the same
     * arithmetic per row as adding over all T rows first */
    OP(op->gather_last(be, s->x, b->attn.query_start, B, dim, s->last));
    OP(op->gather_last(be, s->xn, b->attn.query_start, B, dim, s->last_b));
    OP(op->add_rmsnorm(be, s->last, s->last_b, m->out_norm.data, s->last, B, dim, c->norm_eps));
    OP(op->matmul(be, &m->output, s->last, logits, B)); /* logits [B, vocab] */
    return 0;
}

int model_forward_rows(const Model *m, Backend *be, ForwardScratch *s, const int32_t *rows, int n, float *logits,
                       char *err, size_t errlen) {
    const BackendOps *op = be->ops;
    const int dim = m->cfg.dim;
    int layer = m->cfg.n_layers;
    if (n <= 0 || n > s->max_seqs) return err_set(err, errlen, -EINVAL, "forward rows: %d rows (at most %d)", n, s->max_seqs);
    /* the same arithmetic per row as the last-token path of model_forward */
    OP(op->gather_rows(be, s->x, rows, n, dim, s->last));
    OP(op->gather_rows(be, s->xn, rows, n, dim, s->last_b));
    OP(op->add_rmsnorm(be, s->last, s->last_b, m->out_norm.data, s->last, n, dim, m->cfg.norm_eps));
    OP(op->matmul(be, &m->output, s->last, logits, n));
    return 0;
}
