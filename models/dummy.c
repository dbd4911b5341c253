/* Dummy models (--load-format dummy, as vLLM has): a built-in config of a real model's
 * shapes and random weights made where the backend computes, so that a 7B or 8B model can
 * be benchmarked with nothing downloaded. The weights are filled by the backend's
 * fill_random (one seed, the same bits on the CPU and on a GPU), matrices in --dtype (bf16
 * by default) at the scale of a fresh initialization (0.02), norm weights near 1; the buffer
 * holds exactly model_weight_bytes. A config.json (a path to it, or its directory) works as
 * well as a built-in name; a built-in has no tokenizer and takes token ids (piston bench), a
 * directory with a tokenizer.json serves text (text_model.c loads it). Rope frequency factors
 * (rope_scaling) are computed, not random. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hash.h"
#include "models/model.h"

typedef struct DummySpec {
    const char *name, *arch, *title;
    int n_layers, dim, ffn, heads, kv_heads, head_dim, vocab, ctx;
    float theta, eps;
    int qkv_bias, tied, rope_llama3;
} DummySpec;

/* From the models' config.json files (Hugging Face layout: NeoX RoPE). */
static const DummySpec specs[] = {
    {"llama-3-8b", "llama", "Meta-Llama-3-8B (dummy)", 32, 4096, 14336, 32, 8, 128, 128256, 8192, 500000, 1e-5f, 0, 0, 0},
    {"llama-3.1-8b", "llama", "Llama-3.1-8B (dummy)", 32, 4096, 14336, 32, 8, 128, 128256, 131072, 500000, 1e-5f, 0,
     0, 1},
    {"qwen2.5-7b", "qwen2", "Qwen2.5-7B (dummy)", 28, 3584, 18944, 28, 4, 128, 152064, 32768, 1000000, 1e-6f, 1, 0, 0},
    {"mistral-7b", "mistral", "Mistral-7B-v0.3 (dummy)", 32, 4096, 14336, 32, 8, 128, 32768, 32768, 1000000, 1e-5f, 0,
     0, 0},
    {"smollm2-135m", "llama", "SmolLM2-135M (dummy)", 30, 576, 1536, 9, 3, 64, 49152, 8192, 100000, 1e-5f, 0, 1, 0},
};

const char *model_dummy_names(void) { return "llama-3-8b, llama-3.1-8b, qwen2.5-7b, mistral-7b, smollm2-135m"; }

static const DummySpec *find_spec(const char *name) {
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        if (!strcmp(specs[i].name, name)) return &specs[i];
    return NULL;
}

int model_is_dummy_name(const char *name) { return find_spec(name) != NULL; }

static void shape(Tensor *t, DType type, int64_t ne0, int64_t ne1, const char *name) {
    *t = (Tensor){type, ne1 ? 2 : 1, {ne0, ne1 ? ne1 : 1, 1, 1}, NULL, name};
}

static int dummy_config(const DummySpec *d, ModelConfig *c) {
    *c = (ModelConfig){.n_layers = d->n_layers, .dim = d->dim, .ffn_dim = d->ffn, .n_heads = d->heads,
                       .n_kv_heads = d->kv_heads, .head_dim = d->head_dim, .rot_dim = d->head_dim,
                       .vocab_size = d->vocab, .context_len = d->ctx, .rope_theta = d->theta, .norm_eps = d->eps,
                       .rope_style = ROPE_NEOX, .qkv_bias = d->qkv_bias, .tied_output = d->tied, .torch_dtype = -1};
    snprintf(c->arch, sizeof c->arch, "%s", d->arch);
    snprintf(c->name, sizeof c->name, "%s", d->title);
    if (d->rope_llama3) { /* Llama-3.1's config.json */
        snprintf(c->rope_scaling, sizeof c->rope_scaling, "llama3");
        c->rope_factor = 8, c->rope_low_freq = 1, c->rope_high_freq = 4, c->rope_orig_ctx = 8192;
    }
    return 0;
}

int model_dummy_create(const char *name, DType dtype, uint64_t seed, Model **out, char *err, size_t errlen) {
    *out = NULL;
    const DummySpec *d = find_spec(name);
    ModelConfig c = {0};
    int rc = d ? dummy_config(d, &c) : hf_config_read(name, &c, err, errlen);
    if (rc == -ENOENT)
        return err_set(err, errlen, -EINVAL, "--load-format dummy needs a built-in config or a config.json, got '%s' "
                       "(built-in: %s)", name, model_dummy_names());
    if (rc) return rc;
    rc = model_dummy_from_config(&c, dtype, seed, out, err, errlen);
    if (!rc && d) snprintf((*out)->path, sizeof (*out)->path, "%s", name);
    else if (!rc) model_dir_of(name, (*out)->path, sizeof (*out)->path);
    return rc;
}

int model_dummy_from_config(const ModelConfig *cfg, DType dtype, uint64_t seed, Model **out, char *err,
                            size_t errlen) {
    *out = NULL;
    if (dtype != DT_BF16 && dtype != DT_F16 && dtype != DT_F32)
        return err_set(err, errlen, -EINVAL, "--dtype for dummy weights: bfloat16, float16 or float32");
    Model *m = calloc(1, sizeof *m);
    if (!m || !(m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers))) {
        free(m);
        return err_set(err, errlen, -ENOMEM, "out of memory");
    }
    const ModelConfig *c = &m->cfg;
    m->cfg = *cfg;
    m->format = MODEL_FORMAT_DUMMY;
    m->weight_dtype = dtype;
    m->dummy = 1;
    m->dummy_seed = seed;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    shape(&m->tok_embd, dtype, c->dim, c->vocab_size, "token_embd.weight");
    shape(&m->out_norm, DT_F32, c->dim, 0, "output_norm.weight");
    if (c->tied_output) m->output = m->tok_embd;
    else shape(&m->output, dtype, c->dim, c->vocab_size, "output.weight");
    if (c->rope_scaling[0]) { /* real values, not random: made here, uploaded by model_dummy_fill */
        int rc = (m->host_buf = malloc((size_t)c->rot_dim / 2 * sizeof(float))) ? 0 : -ENOMEM;
        if (!rc) rc = rope_freqs_compute(c, m->host_buf, err, errlen) < 0 ? -EINVAL : 0;
        if (rc) {
            model_free(m);
            return rc == -ENOMEM ? err_set(err, errlen, rc, "out of memory") : rc;
        }
        shape(&m->rope_freqs, DT_F32, c->rot_dim / 2, 0, "rope_freqs");
    }
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *L = &m->layers[l];
        shape(&L->attn_norm, DT_F32, c->dim, 0, NULL);
        shape(&L->wq, dtype, c->dim, qd, NULL);
        shape(&L->wk, dtype, c->dim, kvd, NULL);
        shape(&L->wv, dtype, c->dim, kvd, NULL);
        shape(&L->wo, dtype, qd, c->dim, NULL);
        if (c->qkv_bias) {
            shape(&L->bq, DT_F32, qd, 0, NULL);
            shape(&L->bk, DT_F32, kvd, 0, NULL);
            shape(&L->bv, DT_F32, kvd, 0, NULL);
        }
        if (c->qk_norm) {
            shape(&L->q_norm, DT_F32, c->head_dim, 0, NULL);
            shape(&L->k_norm, DT_F32, c->head_dim, 0, NULL);
        }
        shape(&L->ffn_norm, DT_F32, c->dim, 0, NULL);
        shape(&L->w_gate, dtype, c->dim, c->ffn_dim, NULL);
        shape(&L->w_up, dtype, c->dim, c->ffn_dim, NULL);
        shape(&L->w_down, dtype, c->ffn_dim, c->dim, NULL);
    }
    *out = m;
    return 0;
}

int model_dummy_fill(Model *m, Backend *be, Tensor **list, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        Tensor *t = list[i];
        int64_t elems = t->ne[0] * t->ne[1];
        if (t == &m->rope_freqs) { /* computed, not random */
            int rc = backend_upload(be, (void *)t->data, m->host_buf, (size_t)t->ne[0] * sizeof(float), err, errlen);
            if (rc) return rc;
            continue;
        }
        int norm = t->ndim == 1 && t == &m->out_norm ? 1 : 0;
        for (int l = 0; !norm && l < m->cfg.n_layers; l++) {
            const LayerWeights *L = &m->layers[l];
            norm = t == &L->attn_norm || t == &L->ffn_norm || t == &L->q_norm || t == &L->k_norm;
        }
        /* one stream of values per tensor: its index mixed into the seed */
        uint64_t seed = hash_mix64(m->dummy_seed ^ ((uint64_t)(i + 1) * HASH_GOLDEN));
        int rc = be->ops->fill_random(be, (void *)t->data, elems, t->type, seed, norm ? 1.0f : 0.0f, 0.02f);
        if (rc) return err_set(err, errlen, rc, "dummy weights: %s", be->err);
    }
    return 0;
}
