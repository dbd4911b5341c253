/* A Hugging Face config.json into a ModelConfig (see model.h): the architectures Piston runs
 * (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM), their shapes,
 * head_dim where given, rms_norm_eps, rope_theta, rope_scaling (llama3 and linear become
 * frequency factors; others are refused by name), tie_word_embeddings, attention_bias, the
 * context length from max_position_embeddings (cut to the sliding window where one applies,
 * since Piston's attention is full: exact within the window rather than wrong beyond it),
 * and torch_dtype. Defaults are the transformers config classes' own. HF weights are not
 * permuted, so RoPE is in NeoX layout (halves) for all of them. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "models/model.h"

typedef struct HfArch {
    const char *hf, *model_type, *arch;
    int qkv_bias, qk_norm, tied_default;
    float eps_default;
} HfArch;

static const HfArch k_archs[] = {
    {"LlamaForCausalLM", "llama", "llama", 0, 0, 0, 1e-6f},
    {"MistralForCausalLM", "mistral", "mistral", 0, 0, 0, 1e-6f},
    {"Qwen2ForCausalLM", "qwen2", "qwen2", 1, 0, 0, 1e-6f},
    {"Qwen3ForCausalLM", "qwen3", "qwen3", 0, 1, 0, 1e-6f},
};
#define HF_ARCH_LIST "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"

/* An integer field: 1 found, 0 absent or null (out = def), -1 present but not an integer. */
static int get_int(const cJSON *o, const char *key, long long def, long long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = def;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= 1e15) || v->valuedouble != (double)(long long)v->valuedouble)
        return -1;
    *out = (long long)v->valuedouble;
    return 1;
}

static float get_float(const cJSON *o, const char *key, float def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (float)v->valuedouble : def;
}

static int dtype_of(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "bfloat16")) return DT_BF16;
    if (!strcmp(s, "float16") || !strcmp(s, "half")) return DT_F16;
    if (!strcmp(s, "float32") || !strcmp(s, "float")) return DT_F32;
    return -1;
}

static int read_rope_scaling(const cJSON *j, ModelConfig *c, const char *path, char *err, size_t errlen) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsObject(rs) || !cJSON_IsString(t))
        return err_set(err, errlen, -EINVAL, "%s: rope_scaling is not an object with a rope_type", path);
    if (!strcmp(t->valuestring, "default")) return 0;
    if (strcmp(t->valuestring, "llama3") && strcmp(t->valuestring, "linear"))
        return err_set(err, errlen, -EINVAL, "%s: rope_scaling type '%.32s' is not supported (supported: llama3, linear)",
                       path, t->valuestring);
    snprintf(c->rope_scaling, sizeof c->rope_scaling, "%s", t->valuestring);
    c->rope_factor = get_float(rs, "factor", 1.0f);
    c->rope_low_freq = get_float(rs, "low_freq_factor", 1.0f);
    c->rope_high_freq = get_float(rs, "high_freq_factor", 4.0f);
    long long orig;
    if (get_int(rs, "original_max_position_embeddings", 8192, &orig) < 0 || orig <= 0 || orig > 1 << 24)
        return err_set(err, errlen, -EINVAL, "%s: rope_scaling.original_max_position_embeddings is not a length", path);
    c->rope_orig_ctx = (int)orig;
    if (!(c->rope_factor >= 1.0f) || !(c->rope_high_freq > c->rope_low_freq) || !(c->rope_low_freq > 0))
        return err_set(err, errlen, -EINVAL, "%s: rope_scaling factors are implausible (factor %g, low %g, high %g)", path,
                       c->rope_factor, c->rope_low_freq, c->rope_high_freq);
    return 0;
}

static int parse_config(const cJSON *j, const char *path, ModelConfig *c, char *err, size_t errlen) {
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const HfArch *ai = NULL;
    for (size_t i = 0; i < sizeof k_archs / sizeof *k_archs && !ai; i++)
        if (cJSON_IsString(a0) ? !strcmp(a0->valuestring, k_archs[i].hf)
                               : cJSON_IsString(mt) && !strcmp(mt->valuestring, k_archs[i].model_type))
            ai = &k_archs[i];
    if (!ai)
        return err_set(err, errlen, -EINVAL, "%s: architecture '%.64s' is not supported (supported: " HF_ARCH_LIST ")",
                       path, cJSON_IsString(a0) ? a0->valuestring : cJSON_IsString(mt) ? mt->valuestring : "(none)");
    long long L, dim, ffn, nh, nkv, hd, vocab, ctx, sw;
    int bad = get_int(j, "num_hidden_layers", 0, &L) <= 0 || get_int(j, "hidden_size", 0, &dim) <= 0 ||
              get_int(j, "intermediate_size", 0, &ffn) <= 0 || get_int(j, "num_attention_heads", 0, &nh) <= 0 ||
              get_int(j, "vocab_size", 0, &vocab) <= 0;
    if (bad)
        return err_set(err, errlen, -EINVAL, "%s: num_hidden_layers, hidden_size, intermediate_size, num_attention_heads "
                       "and vocab_size must be integers", path);
    if (get_int(j, "num_key_value_heads", nh, &nkv) < 0 || get_int(j, "max_position_embeddings", 2048, &ctx) < 0 ||
        get_int(j, "head_dim", nh > 0 ? dim / nh : 0, &hd) < 0 || get_int(j, "sliding_window", 0, &sw) < 0)
        return err_set(err, errlen, -EINVAL, "%s: num_key_value_heads, max_position_embeddings, head_dim and "
                       "sliding_window must be integers or null", path);
    if (L <= 0 || L > 1024 || dim <= 0 || dim > 1 << 16 || ffn <= 0 || ffn > 1 << 18 || nh <= 0 || nh > 1024 ||
        nkv <= 0 || nh % nkv || hd <= 0 || hd > 1024 || hd % 2 || vocab <= 0 || vocab > 1 << 24 || ctx <= 0 ||
        ctx > 1 << 24)
        return err_set(err, errlen, -EINVAL, "%s: implausible model shape (layers %lld, hidden %lld, intermediate %lld, "
                       "heads %lld/%lld, head_dim %lld, vocab %lld, context %lld)", path, L, dim, ffn, nh, nkv, hd, vocab,
                       ctx);
    *c = (ModelConfig){.n_layers = (int)L, .dim = (int)dim, .ffn_dim = (int)ffn, .n_heads = (int)nh,
                       .n_kv_heads = (int)nkv, .head_dim = (int)hd, .rot_dim = (int)hd, .vocab_size = (int)vocab,
                       .context_len = (int)ctx, .rope_style = ROPE_NEOX, .qkv_bias = ai->qkv_bias,
                       .qk_norm = ai->qk_norm};
    snprintf(c->arch, sizeof c->arch, "%s", ai->arch);
    snprintf(c->hf_arch, sizeof c->hf_arch, "%s", ai->hf);
    c->rope_theta = get_float(j, "rope_theta", 10000.0f);
    c->norm_eps = get_float(j, "rms_norm_eps", ai->eps_default);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    c->tied_output = cJSON_IsBool(tie) ? cJSON_IsTrue(tie) : ai->tied_default;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "attention_bias"))) c->qkv_bias = 1;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "mlp_bias")))
        return err_set(err, errlen, -EINVAL, "%s: mlp_bias is not supported", path);
    const cJSON *usw = cJSON_GetObjectItemCaseSensitive(j, "use_sliding_window");
    int windowed = sw > 0 && (ai->qkv_bias || ai->qk_norm ? cJSON_IsTrue(usw) : !cJSON_IsFalse(usw));
    if (windowed && sw < c->context_len) {
        log_line(LOG_WARN, "%s: sliding_window %lld: the context is cut to it (Piston's attention is full)", path, sw);
        c->context_len = (int)sw;
    }
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(j, "torch_dtype");
    if (!cJSON_IsString(td)) td = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    c->torch_dtype = dtype_of(cJSON_IsString(td) ? td->valuestring : NULL);
    return read_rope_scaling(j, c, path, err, errlen);
}

int hf_config_read(const char *path, ModelConfig *c, char *err, size_t errlen) {
    char file[4096];
    struct stat sb;
    int isdir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (snprintf(file, sizeof file, isdir ? "%s/config.json" : "%s", path) >= (int)sizeof file)
        return err_set(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
    char *text;
    size_t n;
    int rc = base_read_file(file, 1 << 20, &text, &n, err, errlen);
    if (rc) return rc == -EFBIG ? -EINVAL : rc;
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    rc = cJSON_IsObject(j) ? parse_config(j, file, c, err, errlen)
                           : err_set(err, errlen, -EINVAL, "%s: not a JSON object", file);
    cJSON_Delete(j);
    if (rc) return rc;
    /* the name for logs: the directory's, as a user knows the model */
    char dir[4096];
    model_dir_of(file, dir, sizeof dir);
    const char *base = strrchr(dir, '/'), *hub = strstr(dir, "models--");
    snprintf(c->name, sizeof c->name, "%.127s", base && base[1] ? base + 1 : dir);
    if (hub) { /* a Hugging Face cache snapshot: models--ORG--NAME/snapshots/COMMIT -> ORG/NAME */
        char repo[128];
        snprintf(repo, sizeof repo, "%.*s", (int)strcspn(hub + 8, "/"), hub + 8);
        char *sep = strstr(repo, "--");
        if (sep) *sep = '/', memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
        snprintf(c->name, sizeof c->name, "%s", repo);
    }
    return 0;
}
