/* Model loading: the config from a GGUF file's metadata and the weights as Tensors that
 * point into the mapping (a Hugging Face directory goes to hf_model.c). Every tensor the
 * forward pass reads is checked here for presence, type and exact shape, so that a hostile
 * or mismatched file fails at load with a message naming the tensor, never later inside a
 * kernel. */
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"


/* The architectures whose GGUF files this forward pass runs, and what differs among them. */
typedef struct ArchInfo {
    const char *name;
    int rope_style;
    int qkv_bias;
    int qk_norm;
} ArchInfo;

static const ArchInfo arch_table[] = {
    {"llama", ROPE_NORMAL, 0, 0},
    {"mistral", ROPE_NORMAL, 0, 0},
    {"qwen2", ROPE_NEOX, 1, 0},
    {"qwen3", ROPE_NEOX, 0, 1},
};

static int get_u32_key(const GgufFile *f, const char *arch, const char *suffix, uint32_t *out, int required,
                       char *err, size_t errlen) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_u32(f, key, out);
    if (rc == 0) return 0;
    if (rc == -1 && !required) return 1;
    return err_set(err, errlen, -EINVAL, "%s: metadata key %s is %s", gguf_path(f), key,
             rc == -1 ? "missing" : "not an unsigned integer");
}

static int get_f32_key(const GgufFile *f, const char *arch, const char *suffix, float *out, float dflt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (gguf_get_f32(f, key, out) != 0) *out = dflt;
    return 0;
}

static int read_config(const GgufFile *f, ModelConfig *c, char *err, size_t errlen) {
    GgufStr s;
    if (gguf_get_str(f, "general.architecture", &s) != 0) {
        return err_set(err, errlen, -EINVAL, "%s: metadata key general.architecture is missing", gguf_path(f));
    }
    if (s.len >= sizeof c->arch) s.len = sizeof c->arch - 1;
    memcpy(c->arch, s.ptr, s.len);
    c->arch[s.len] = 0;
    const ArchInfo *ai = NULL;
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (strcmp(arch_table[i].name, c->arch) == 0) ai = &arch_table[i];
    if (!ai) {
        return err_set(err, errlen, -EINVAL, "%s: architecture '%s' is not supported (supported: llama, mistral, qwen2, qwen3)",
                 gguf_path(f), c->arch);
    }
    c->rope_style = ai->rope_style;
    c->qkv_bias = ai->qkv_bias;
    c->qk_norm = ai->qk_norm;
    c->torch_dtype = -1;
    if (gguf_get_str(f, "general.name", &s) == 0) {
        size_t n = s.len < sizeof c->name - 1 ? s.len : sizeof c->name - 1;
        memcpy(c->name, s.ptr, n);
        c->name[n] = 0;
    }

    uint32_t v;
    if (get_u32_key(f, c->arch, "block_count", &v, 1, err, errlen)) return -1;
    c->n_layers = (int)v;
    if (get_u32_key(f, c->arch, "embedding_length", &v, 1, err, errlen)) return -1;
    c->dim = (int)v;
    if (get_u32_key(f, c->arch, "feed_forward_length", &v, 1, err, errlen)) return -1;
    c->ffn_dim = (int)v;
    if (get_u32_key(f, c->arch, "attention.head_count", &v, 1, err, errlen)) return -1;
    c->n_heads = (int)v;
    int rc = get_u32_key(f, c->arch, "attention.head_count_kv", &v, 0, err, errlen);
    if (rc < 0) return -1;
    c->n_kv_heads = rc == 0 ? (int)v : c->n_heads;
    if (get_u32_key(f, c->arch, "context_length", &v, 1, err, errlen)) return -1;
    c->context_len = (int)v;
    if (c->n_layers <= 0 || c->n_layers > 1024 || c->dim <= 0 || c->dim > 1 << 16 || c->ffn_dim <= 0 ||
        c->ffn_dim > 1 << 18 || c->n_heads <= 0 || c->n_heads > c->dim || c->n_kv_heads <= 0 ||
        c->n_heads % c->n_kv_heads || c->context_len <= 0) {
        return err_set(err, errlen, -EINVAL, "%s: implausible model shape (layers %d, dim %d, ffn %d, heads %d/%d, ctx %d)",
                 gguf_path(f), c->n_layers, c->dim, c->ffn_dim, c->n_heads, c->n_kv_heads, c->context_len);
    }
    rc = get_u32_key(f, c->arch, "attention.key_length", &v, 0, err, errlen);
    if (rc < 0) return -1;
    c->head_dim = rc == 0 ? (int)v : c->dim / c->n_heads;
    rc = get_u32_key(f, c->arch, "rope.dimension_count", &v, 0, err, errlen);
    if (rc < 0) return -1;
    c->rot_dim = rc == 0 ? (int)v : c->head_dim;
    if (c->head_dim <= 0 || c->head_dim > 1024 || c->head_dim % 2 || c->rot_dim <= 0 || c->rot_dim > c->head_dim ||
        c->rot_dim % 2) {
        return err_set(err, errlen, -EINVAL, "%s: unsupported head_dim %d / rope dimension %d", gguf_path(f), c->head_dim,
                 c->rot_dim);
    }
    get_f32_key(f, c->arch, "rope.freq_base", &c->rope_theta, 10000.0f);
    get_f32_key(f, c->arch, "attention.layer_norm_rms_epsilon", &c->norm_eps, 1e-5f);
    return 0;
}

/* Find tensor `name` and check its shape {ne0, ne1} (ne1 = 0 for a vector) and, when
 * want_f32, that it is F32 (norm weights and biases are read as plain floats). */
static int bind(const Model *m, Tensor *t, const char *name, int64_t ne0, int64_t ne1, int want_f32, int optional,
                char *err, size_t errlen) {
    const GgufTensor *g = gguf_find_tensor(m->gguf, name);
    memset(t, 0, sizeof *t);
    if (!g) {
        if (optional) return 0;
        return err_set(err, errlen, -EINVAL, "%s: tensor %s is missing", gguf_path(m->gguf), name);
    }
    int ndim_want = ne1 ? 2 : 1;
    if (g->ndim != ndim_want || g->ne[0] != ne0 || (ne1 && g->ne[1] != ne1)) {
        return err_set(err, errlen, -EINVAL, "%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld]", gguf_path(m->gguf), name,
                 (long long)g->ne[0], (long long)(g->ndim > 1 ? g->ne[1] : 1), (long long)ne0,
                 (long long)(ne1 ? ne1 : 1));
    }
    if (want_f32 && g->type != DT_F32) {
        return err_set(err, errlen, -EINVAL, "%s: tensor %s has type %s, expected F32", gguf_path(m->gguf), name,
                 dtype_name(g->type));
    }
    t->type = g->type;
    t->ndim = g->ndim;
    for (int i = 0; i < 4; i++) t->ne[i] = i < g->ndim ? g->ne[i] : 1;
    t->data = g->data;
    t->name = name; /* callers pass string literals or names kept alive by the caller */
    return 0;
}

static int bind_layer(Model *m, int l, char *err, size_t errlen) {
    const ModelConfig *c = &m->cfg;
    LayerWeights *L = &m->layers[l];
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    char n[96];
#define BIND(field, suffix, ne0, ne1, f32, opt)                                         \
    do {                                                                               \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                 \
        if (bind(m, &L->field, n, ne0, ne1, f32, opt, err, errlen)) return -1;         \
        L->field.name = NULL; /* n is a stack buffer */                                \
    } while (0)
    BIND(attn_norm, "attn_norm.weight", c->dim, 0, 1, 0);
    BIND(wq, "attn_q.weight", c->dim, qd, 0, 0);
    BIND(wk, "attn_k.weight", c->dim, kvd, 0, 0);
    BIND(wv, "attn_v.weight", c->dim, kvd, 0, 0);
    BIND(wo, "attn_output.weight", qd, c->dim, 0, 0);
    BIND(bq, "attn_q.bias", qd, 0, 1, !c->qkv_bias);
    BIND(bk, "attn_k.bias", kvd, 0, 1, !c->qkv_bias);
    BIND(bv, "attn_v.bias", kvd, 0, 1, !c->qkv_bias);
    BIND(q_norm, "attn_q_norm.weight", c->head_dim, 0, 1, !c->qk_norm);
    BIND(k_norm, "attn_k_norm.weight", c->head_dim, 0, 1, !c->qk_norm);
    BIND(ffn_norm, "ffn_norm.weight", c->dim, 0, 1, 0);
    BIND(w_gate, "ffn_gate.weight", c->dim, c->ffn_dim, 0, 0);
    BIND(w_up, "ffn_up.weight", c->dim, c->ffn_dim, 0, 0);
    BIND(w_down, "ffn_down.weight", c->ffn_dim, c->dim, 0, 0);
#undef BIND
    return 0;
}

void model_dir_of(const char *path, char *out, size_t cap) {
    struct stat sb;
    snprintf(out, cap, "%s", path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return;
    char *slash = strrchr(out, '/');
    if (slash && slash != out) *slash = 0;
    else snprintf(out, cap, slash ? "/" : ".");
}

int model_load(const char *path, int dtype, Model **out, char *err, size_t errlen) {
    *out = NULL;
    struct stat sb;
    size_t len = strlen(path);
    if ((stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) || (len > 5 && !strcmp(path + len - 5, ".json")))
        return model_load_hf(path, dtype, out, err, errlen);
    if (dtype != DT_COUNT)
        return err_set(err, errlen, -EINVAL, "--dtype: a GGUF model's matrices compute in the types they are stored in "
                       "(quantized, F16 or BF16); --dtype applies to Hugging Face directories and --load-format dummy");
    Model *m = calloc(1, sizeof *m);
    if (!m) {
        return err_set(err, errlen, -ENOMEM, "out of memory");
    }
    m->format = MODEL_FORMAT_GGUF;
    snprintf(m->path, sizeof m->path, "%s", path);
    if (gguf_open(path, &m->gguf, err, errlen) != 0 || read_config(m->gguf, &m->cfg, err, errlen) != 0) goto fail;
    ModelConfig *c = &m->cfg;
    const GgufTensor *emb = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!emb || emb->ndim != 2) {
        snprintf(err, errlen, "%s: tensor token_embd.weight is missing or not 2-D", path);
        goto fail;
    }
    c->vocab_size = (int)emb->ne[1];
    if (bind(m, &m->tok_embd, "token_embd.weight", c->dim, c->vocab_size, 0, 0, err, errlen) ||
        bind(m, &m->out_norm, "output_norm.weight", c->dim, 0, 1, 0, err, errlen) ||
        bind(m, &m->output, "output.weight", c->dim, c->vocab_size, 0, 1, err, errlen))
        goto fail;
    c->tied_output = m->output.data == NULL;
    if (c->tied_output) m->output = m->tok_embd;
    m->weight_dtype = m->tok_embd.type;
    /* Llama-3.1 GGUFs carry their rope_scaling as the frequency factors themselves */
    if (bind(m, &m->rope_freqs, "rope_freqs.weight", c->rot_dim / 2, 0, 1, 1, err, errlen)) goto fail;
    if (m->rope_freqs.data) snprintf(c->rope_scaling, sizeof c->rope_scaling, "llama3");
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int l = 0; l < c->n_layers; l++)
        if (bind_layer(m, l, err, errlen)) goto fail;
    *out = m;
    return 0;
fail:
    model_free(m);
    return -1;
}

void model_free(Model *m) {
    if (!m) return;
    if (m->uploaded && m->weights_buf) backend_free(m->uploaded, m->weights_buf);
    free(m->layers);
    if (m->gguf) gguf_close(m->gguf);
    st_close(m->st);
    free(m->host_buf);
    free(m);
}

int64_t model_param_count(const ModelConfig *c) {
    int64_t d = c->dim, hd = c->head_dim, attn = d * hd * (2 * (int64_t)c->n_heads + 2 * (int64_t)c->n_kv_heads);
    int64_t bias = c->qkv_bias ? hd * (c->n_heads + 2 * (int64_t)c->n_kv_heads) : 0;
    int64_t layer = attn + bias + 3 * d * c->ffn_dim + 2 * d + (c->qk_norm ? 2 * hd : 0);
    return (int64_t)c->vocab_size * d * (c->tied_output ? 1 : 2) + c->n_layers * layer + d;
}
