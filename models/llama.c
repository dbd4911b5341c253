/* The Llama-family forward pass over one flat batch (prefill chunks and decode tokens of
 * many sequences together), written only against the backend op table:
 *   x = embed(tokens)
 *   per layer: x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))   (paged KV cache)
 *              x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout · n(x[last token of each sequence])
 * Only the last token of each sequence reaches the output head: with a 49k vocabulary the
 * head costs as much as several layers, and the other rows' logits are never used. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"

int forward_scratch_init(ForwardScratch *s, const ModelConfig *c, int max_tokens, int max_seqs) {
    memset(s, 0, sizeof *s);
    s->max_tokens = max_tokens;
    s->max_seqs = max_seqs;
    size_t T = (size_t)max_tokens;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    s->x = malloc(T * c->dim * sizeof(float));
    s->xn = malloc(T * c->dim * sizeof(float));
    s->q = malloc(T * qd * sizeof(float));
    s->k = malloc(T * kvd * sizeof(float));
    s->v = malloc(T * kvd * sizeof(float));
    s->attn = malloc(T * qd * sizeof(float));
    s->gate = malloc(T * c->ffn_dim * sizeof(float));
    s->up = malloc(T * c->ffn_dim * sizeof(float));
    s->last = malloc((size_t)max_seqs * c->dim * sizeof(float));
    s->rows = malloc((size_t)max_seqs * sizeof(int32_t));
    if (!s->x || !s->xn || !s->q || !s->k || !s->v || !s->attn || !s->gate || !s->up || !s->last || !s->rows) {
        forward_scratch_free(s);
        return -1;
    }
    return 0;
}

void forward_scratch_free(ForwardScratch *s) {
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->attn);
    free(s->gate);
    free(s->up);
    free(s->last);
    free(s->rows);
    memset(s, 0, sizeof *s);
}

DType kv_cache_dtype_resolve(int requested, MatmulPrecision precision) {
    if (requested == DT_F32 || requested == DT_F16) return (DType)requested;
    return precision == MATMUL_F32 ? DT_F32 : DT_F16;
}

int kv_cache_init(KvCache *kv, const ModelConfig *c, int64_t num_blocks, int block_size, DType dtype) {
    memset(kv, 0, sizeof *kv);
    if (dtype != DT_F32 && dtype != DT_F16) return -1;
    kv->dtype = dtype;
    kv->n_layers = c->n_layers;
    kv->num_blocks = num_blocks;
    kv->block_size = block_size;
    kv->kv_dim = c->n_kv_heads * c->head_dim;
    kv->k = calloc((size_t)c->n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)c->n_layers, sizeof *kv->v);
    if (!kv->k || !kv->v) goto fail;
    size_t bytes = (size_t)num_blocks * (size_t)block_size * (size_t)kv->kv_dim * (dtype == DT_F16 ? 2 : sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        /* malloc, not calloc: pages are touched only when slots are used */
        kv->k[l] = malloc(bytes);
        kv->v[l] = malloc(bytes);
        if (!kv->k[l] || !kv->v[l]) goto fail;
    }
    return 0;
fail:
    kv_cache_free(kv);
    return -1;
}

void kv_cache_free(KvCache *kv) {
    for (int l = 0; kv->k && l < kv->n_layers; l++) free(kv->k[l]);
    for (int l = 0; kv->v && l < kv->n_layers; l++) free(kv->v[l]);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

int model_forward(const Model *m, Backend *be, KvCache *kv, const Batch *b, ForwardScratch *s, float *logits) {
    const ModelConfig *c = &m->cfg;
    const BackendOps *op = be->ops;
    const int T = b->attn.T, B = b->attn.B;
    if (T <= 0 || T > s->max_tokens || B <= 0 || B > s->max_seqs) return -1;
    const int dim = c->dim, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    const float scale = 1.0f / sqrtf((float)c->head_dim);

    op->embed(be, &m->tok_embd, b->tokens, T, s->x); /* x [T, dim] */
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        op->rmsnorm(be, s->x, L->attn_norm.data, s->xn, T, dim, c->norm_eps);
        op->matmul(be, &L->wq, s->xn, s->q, T); /* q [T, qd] */
        op->matmul(be, &L->wk, s->xn, s->k, T); /* k [T, kvd] */
        op->matmul(be, &L->wv, s->xn, s->v, T); /* v [T, kvd] */
        if (L->bq.data) {
            op->add_bias(be, s->q, L->bq.data, T, qd);
            op->add_bias(be, s->k, L->bk.data, T, kvd);
            op->add_bias(be, s->v, L->bv.data, T, kvd);
        }
        op->rope(be, s->q, b->positions, T, c->n_heads, c->head_dim, c->rot_dim, c->rope_theta, c->rope_style);
        op->rope(be, s->k, b->positions, T, c->n_kv_heads, c->head_dim, c->rot_dim, c->rope_theta, c->rope_style);
        op->kv_write(be, kv, l, s->k, s->v, &b->attn);
        op->attention(be, kv, l, s->q, &b->attn, c->n_heads, c->n_kv_heads, c->head_dim, scale, s->attn);
        op->matmul(be, &L->wo, s->attn, s->xn, T); /* xn [T, dim] reused as the branch output */
        op->add(be, s->x, s->xn, (int64_t)T * dim);

        op->rmsnorm(be, s->x, L->ffn_norm.data, s->xn, T, dim, c->norm_eps);
        op->matmul(be, &L->w_gate, s->xn, s->gate, T); /* gate [T, ffn] */
        op->matmul(be, &L->w_up, s->xn, s->up, T);     /* up [T, ffn] */
        op->silu_mul(be, s->gate, s->up, (int64_t)T * c->ffn_dim);
        op->matmul(be, &L->w_down, s->gate, s->xn, T);
        op->add(be, s->x, s->xn, (int64_t)T * dim);
    }
    /* last [B, dim]: the final row of each sequence's query range */
    for (int i = 0; i < B; i++) s->rows[i] = b->attn.query_start[i + 1] - 1;
    op->gather_rows(be, s->x, s->rows, B, dim, s->last);
    op->rmsnorm(be, s->last, m->out_norm.data, s->last, B, dim, c->norm_eps);
    op->matmul(be, &m->output, s->last, logits, B); /* logits [B, vocab] */
    return 0;
}
