/* A Hugging Face model directory (config.json + safetensors) as a Model: the config from
 * hf_config.c, the weights from the safetensors reader bound under their Hugging Face names
 * (model.layers.N.self_attn.q_proj.weight, ...), each checked for presence, shape and a
 * dtype the forward can compute with. A tensor already in the type it computes in is read
 * in place from the mapping; the others are converted once into host_buf: norm weights and
 * biases to f32 (the ops read them as plain floats), matrices to --dtype (auto: config.json's
 * torch_dtype, else as stored). Llama-3.1's rope_scaling becomes the rope_freqs tensor.
 * HF checkpoints keep Q and K unpermuted, so the config's RoPE is NeoX-style. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "models/model.h"

#define HF_ALIGN 64

/* A tensor waiting for its data: read in place (src type == t->type) or converted. */
typedef struct Pending {
    Tensor *t;
    const StTensor *src;
} Pending;

typedef struct Binder {
    Model *m;
    int target;      /* the matrices' DType */
    Pending *pend;
    int n;
    int64_t conv_bytes;
} Binder;

/* The format does not promise alignment (the header may have any length): a tensor whose
 * data is not aligned to its element is copied rather than read in place, since the ops
 * load whole elements. */
static int aligned(const StTensor *s) { return (uintptr_t)s->data % (s->dtype == ST_F32 ? 4 : 2) == 0; }

static int64_t tensor_bytes(const Tensor *t) { return dtype_row_bytes(t->type, t->ne[0]) * t->ne[1]; }

/* Bind HF tensor `name` of shape {ne0, ne1} (ne1 0 for a vector) to t; f32: a norm or bias. */
static int bind(Binder *b, Tensor *t, const char *name, int64_t ne0, int64_t ne1, int f32, int optional, char *err,
                size_t errlen) {
    const StTensor *s = st_find(b->m->st, name);
    memset(t, 0, sizeof *t);
    if (!s) {
        if (optional) return 0;
        return err_set(err, errlen, -EINVAL, "%s: tensor %s is missing", b->m->path, name);
    }
    int nd = ne1 ? 2 : 1;
    if (s->ndim != nd || s->ne[0] != ne0 || (ne1 && s->ne[1] != ne1))
        return err_set(err, errlen, -EINVAL, "%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld] (config.json)",
                       b->m->path, name, (long long)s->shape[0], (long long)(s->ndim > 1 ? s->shape[1] : 1),
                       (long long)(ne1 ? ne1 : ne0), (long long)(ne1 ? ne0 : 1));
    int ct = st_dtype_compute(s->dtype);
    if (ct < 0)
        return err_set(err, errlen, -EINVAL, "%s: tensor %s has dtype %s, which %s cannot use (F32, F16, BF16)",
                       b->m->path, name, st_dtype_name(s->dtype), b->m->cfg.hf_arch);
    *t = (Tensor){f32 ? DT_F32 : (DType)b->target, nd, {ne0, ne1 ? ne1 : 1, 1, 1}, s->data, NULL};
    b->pend[b->n++] = (Pending){t, s};
    if (ct != (int)t->type || !aligned(s)) b->conv_bytes += (tensor_bytes(t) + HF_ALIGN - 1) / HF_ALIGN * HF_ALIGN;
    return 0;
}

static int bind_all(Binder *b, char *err, size_t errlen) {
    Model *m = b->m;
    const ModelConfig *c = &m->cfg;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    if (bind(b, &m->tok_embd, "model.embed_tokens.weight", c->dim, c->vocab_size, 0, 0, err, errlen) ||
        bind(b, &m->out_norm, "model.norm.weight", c->dim, 0, 1, 0, err, errlen))
        return -EINVAL;
    if (!c->tied_output && bind(b, &m->output, "lm_head.weight", c->dim, c->vocab_size, 0, 0, err, errlen))
        return -EINVAL;
    m->tok_embd.name = "model.embed_tokens.weight";
    m->out_norm.name = "model.norm.weight";
    if (!c->tied_output) m->output.name = "lm_head.weight";
    char n[128];
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *L = &m->layers[l];
#define BIND(field, suffix, ne0, ne1, f32, opt)                                           \
    do {                                                                                 \
        snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                          \
        if (bind(b, &L->field, n, ne0, ne1, f32, opt, err, errlen)) return -EINVAL;      \
    } while (0)
        BIND(attn_norm, "input_layernorm.weight", c->dim, 0, 1, 0);
        BIND(wq, "self_attn.q_proj.weight", c->dim, qd, 0, 0);
        BIND(wk, "self_attn.k_proj.weight", c->dim, kvd, 0, 0);
        BIND(wv, "self_attn.v_proj.weight", c->dim, kvd, 0, 0);
        BIND(wo, "self_attn.o_proj.weight", qd, c->dim, 0, 0);
        if (c->qkv_bias) {
            BIND(bq, "self_attn.q_proj.bias", qd, 0, 1, 0);
            BIND(bk, "self_attn.k_proj.bias", kvd, 0, 1, 0);
            BIND(bv, "self_attn.v_proj.bias", kvd, 0, 1, 0);
        }
        if (c->qk_norm) {
            BIND(q_norm, "self_attn.q_norm.weight", c->head_dim, 0, 1, 0);
            BIND(k_norm, "self_attn.k_norm.weight", c->head_dim, 0, 1, 0);
        }
        BIND(ffn_norm, "post_attention_layernorm.weight", c->dim, 0, 1, 0);
        BIND(w_gate, "mlp.gate_proj.weight", c->dim, c->ffn_dim, 0, 0);
        BIND(w_up, "mlp.up_proj.weight", c->dim, c->ffn_dim, 0, 0);
        BIND(w_down, "mlp.down_proj.weight", c->ffn_dim, c->dim, 0, 0);
#undef BIND
    }
    return 0;
}

/* Convert every pending tensor whose stored type is not its compute type into host_buf,
 * row by row through f32; rope_freqs goes at the end of the same buffer. */
static int convert(Binder *b, char *err, size_t errlen) {
    Model *m = b->m;
    int64_t ff_bytes = m->cfg.rope_scaling[0] ? (int64_t)m->cfg.rot_dim / 2 * 4 : 0;
    if (b->conv_bytes + ff_bytes == 0) return 0;
    m->host_buf = aligned_alloc(HF_ALIGN, (size_t)((b->conv_bytes + ff_bytes + HF_ALIGN - 1) / HF_ALIGN * HF_ALIGN));
    int64_t widest = 1;
    for (int i = 0; i < b->n; i++) widest = b->pend[i].t->ne[0] > widest ? b->pend[i].t->ne[0] : widest;
    float *row = malloc((size_t)widest * sizeof *row);
    void *raw = malloc((size_t)widest * sizeof(float)); /* an aligned copy of the source row */
    if (!m->host_buf || !row || !raw) {
        free(row), free(raw);
        return err_set(err, errlen, -ENOMEM, "out of memory converting the weights (%.2f GiB)",
                       b->conv_bytes / 1073741824.0);
    }
    char *at = m->host_buf;
    for (int i = 0; i < b->n; i++) {
        Tensor *t = b->pend[i].t;
        const StTensor *s = b->pend[i].src;
        DType from = (DType)st_dtype_compute(s->dtype);
        if ((int)from == (int)t->type && aligned(s)) continue;
        int64_t in_row = dtype_row_bytes(from, t->ne[0]), out_row = dtype_row_bytes(t->type, t->ne[0]);
        for (int64_t r = 0; r < t->ne[1]; r++) {
            memcpy(raw, (const char *)s->data + r * in_row, (size_t)in_row);
            dtype_dequantize_row(from, raw, row, t->ne[0]);
            dtype_convert_row(t->type, row, at + r * out_row, t->ne[0]);
        }
        t->data = at;
        at += (tensor_bytes(t) + HF_ALIGN - 1) / HF_ALIGN * HF_ALIGN;
    }
    free(row), free(raw);
    if (ff_bytes) {
        int rc = rope_freqs_compute(&m->cfg, (float *)at, err, errlen);
        if (rc < 0) return rc;
        m->rope_freqs = (Tensor){DT_F32, 1, {m->cfg.rot_dim / 2, 1, 1, 1}, at, "rope_freqs"};
    }
    return 0;
}

int model_load_hf(const char *path, int dtype, Model **out, char *err, size_t errlen) {
    *out = NULL;
    Model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, errlen, -ENOMEM, "out of memory");
    Binder b = {m, 0, NULL, 0, 0};
    m->format = MODEL_FORMAT_SAFETENSORS;
    model_dir_of(path, m->path, sizeof m->path);
    int rc = hf_config_read(path, &m->cfg, err, errlen);
    if (!rc) rc = st_open(m->path, &m->st, err, errlen);
    if (rc) goto fail;
    ModelConfig *c = &m->cfg;
    const StTensor *emb = st_find(m->st, "model.embed_tokens.weight");
    b.target = dtype != DT_COUNT ? dtype
               : c->torch_dtype >= 0 ? c->torch_dtype
               : emb && st_dtype_compute(emb->dtype) >= 0 ? st_dtype_compute(emb->dtype)
                                                          : DT_BF16;
    m->weight_dtype = b.target;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    b.pend = malloc((3 + 14 * (size_t)c->n_layers) * sizeof *b.pend);
    if (!m->layers || !b.pend) {
        rc = err_set(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = bind_all(&b, err, errlen)) || (rc = convert(&b, err, errlen))) goto fail;
    if (c->tied_output) m->output = m->tok_embd;
    free(b.pend);
    *out = m;
    return 0;
fail:
    free(b.pend);
    model_free(m);
    return rc ? rc : -EINVAL;
}
