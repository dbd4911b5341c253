/* Tests of Hugging Face directories as models (models/hf_config.c, hf_model.c, rope_freqs.c,
 * hub_cache.c) on tiny directories written here: a valid one loads with every tensor bound
 * and converted as asked (--dtype, f32 norms), config.json fields and defaults (Qwen2 bias,
 * Qwen3 q/k norms, llama3 rope_scaling into transformers' frequency factors), and broken
 * ones each fail with a message naming the problem (an architecture Piston does not run, a
 * dtype the architecture cannot use, a wrong shape, a missing tensor, a missing shard, an
 * index naming a tensor its shard lacks). Then the Hugging Face cache and an Ollama store
 * laid out as their tools lay them out are found by name. Run under ASan too. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/hub.h"
#include "models/model.h"
#include "tests/unit/test.h"

static char g_dir[256];
static int g_misalign; /* header one byte longer than 8-aligned: every tensor's data misaligned */

/* paths here are short (a mkdtemp directory); truncation cannot happen */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static void write_text(const char *dir, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

/* A safetensors file of the tiny model's tensors (F32, or the embedding as int8 when bad_dtype);
 * skip: a tensor name left out; shape_bug: q_proj with the wrong shape. */
typedef struct Tt { const char *name; int r, c; } Tt;
static const Tt k_tensors[] = {
    {"model.embed_tokens.weight", 16, 8}, {"model.norm.weight", 8, 0},
    {"model.layers.0.input_layernorm.weight", 8, 0}, {"model.layers.0.post_attention_layernorm.weight", 8, 0},
    {"model.layers.0.self_attn.q_proj.weight", 8, 8}, {"model.layers.0.self_attn.k_proj.weight", 4, 8},
    {"model.layers.0.self_attn.v_proj.weight", 4, 8}, {"model.layers.0.self_attn.o_proj.weight", 8, 8},
    {"model.layers.0.mlp.gate_proj.weight", 16, 8}, {"model.layers.0.mlp.up_proj.weight", 16, 8},
    {"model.layers.0.mlp.down_proj.weight", 8, 16},
};
#define N_T (int)(sizeof k_tensors / sizeof *k_tensors)

static void write_st(const char *dir, const char *file, int from, int to, const char *skip, int bad_dtype, int shape_bug) {
    char hdr[8192] = "{", p[600];
    uint64_t off = 0;
    for (int i = from; i < to; i++) {
        const Tt *t = &k_tensors[i];
        if (skip && !strcmp(skip, t->name)) continue;
        int rows = t->r, cols = t->c, i8 = bad_dtype && i == 0;
        if (shape_bug && strstr(t->name, "q_proj")) rows = 7;
        uint64_t n = (uint64_t)rows * (cols ? cols : 1) * (i8 ? 1 : 4);
        char e[300];
        if (cols) snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%d,%d],\"data_offsets\":[%llu,%llu]}",
                           hdr[1] ? "," : "", t->name, i8 ? "I8" : "F32", rows, cols, (unsigned long long)off,
                           (unsigned long long)(off + n));
        else snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%llu,%llu]}",
                      hdr[1] ? "," : "", t->name, rows, (unsigned long long)off, (unsigned long long)(off + n));
        strcat(hdr, e);
        off += n;
    }
    strcat(hdr, "}");
    while (strlen(hdr) % 8) strcat(hdr, " ");
    if (g_misalign) strcat(hdr, " ");
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    uint64_t h = strlen(hdr);
    fwrite(&h, 8, 1, f);
    fwrite(hdr, 1, h, f);
    for (uint64_t i = 0; i < off / 4; i++) {
        float v = 0.5f + 0.001f * (float)i;
        fwrite(&v, 4, 1, f);
    }
    for (uint64_t i = 0; i < off % 4; i++) fputc(1, f);
    fclose(f);
}

#define CONFIG(arch, extra)                                                                              \
    "{\"architectures\":[\"" arch "\"],\"hidden_size\":8,\"intermediate_size\":16,\"num_hidden_layers\":1," \
    "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"vocab_size\":16,\"max_position_embeddings\":64," \
    "\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,\"tie_word_embeddings\":true" extra "}"

static void make_dir(char *out, const char *name) {
    snprintf(out, 512, "%s/%s", g_dir, name);
    mkdir(out, 0755);
}

static void expect_fail(const char *dir, const char *want, const char *what) {
    Model *m = NULL;
    char err[1024] = "";
    int rc = model_load(dir, DT_COUNT, &m, err, sizeof err);
    CHECK(rc < 0 && !m, "%s: loaded", what);
    CHECK(strstr(err, want) != NULL, "%s: '%s' lacks '%s'", what, err, want);
    model_free(m);
}

static void test_valid(void) {
    char d[512], err[1024] = "";
    make_dir(d, "ok");
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ",\"torch_dtype\":\"float32\""));
    write_st(d, "model.safetensors", 0, N_T, NULL, 0, 0);
    Model *m = NULL;
    CHECK(model_load(d, DT_COUNT, &m, err, sizeof err) == 0, "load: %s", err);
    if (!m) return;
    const ModelConfig *c = &m->cfg;
    CHECK(c->n_layers == 1 && c->dim == 8 && c->head_dim == 4 && c->n_kv_heads == 1 && c->tied_output &&
              c->rope_style == ROPE_NEOX && !c->qkv_bias && fabsf(c->norm_eps - 1e-5f) < 1e-9f &&
              c->rope_theta == 500000.0f && c->context_len == 64 && !strcmp(c->arch, "llama"),
          "config");
    CHECK(m->format == MODEL_FORMAT_SAFETENSORS && m->weight_dtype == DT_F32 && m->tok_embd.type == DT_F32 &&
              m->output.data == m->tok_embd.data && m->layers[0].wk.ne[0] == 8 && m->layers[0].wk.ne[1] == 4,
          "binding");
    CHECK(m->host_buf == NULL, "f32 as stored: read in place");
    CHECK(((const float *)m->layers[0].wq.data)[1] == 0.5f + 0.001f * (16 * 8 + 8 + 8 + 8 + 1), "q_proj's values");
    model_free(m);
    CHECK(model_load(d, DT_BF16, &m, err, sizeof err) == 0, "--dtype bfloat16: %s", err);
    if (m) {
        CHECK(m->layers[0].wq.type == DT_BF16 && m->layers[0].attn_norm.type == DT_F32 && m->host_buf, "converted");
        float v;
        dtype_dequantize_row(DT_BF16, m->layers[0].wq.data, &v, 1);
        CHECK(fabsf(v - (0.5f + 0.001f * (16 * 8 + 24))) < 4e-3f, "bf16 value %g", v);
        model_free(m);
    }
    g_misalign = 1; /* the format promises no alignment: such tensors are copied, never read misaligned */
    write_st(d, "model.safetensors", 0, N_T, NULL, 0, 0);
    g_misalign = 0;
    CHECK(model_load(d, DT_COUNT, &m, err, sizeof err) == 0, "misaligned: %s", err);
    if (m) {
        CHECK(m->host_buf && (uintptr_t)m->layers[0].wq.data % 4 == 0 &&
                  ((const float *)m->layers[0].wq.data)[1] == 0.5f + 0.001f * (16 * 8 + 8 + 8 + 8 + 1),
              "misaligned tensors copied");
        model_free(m);
    }
}

static void test_configs(void) {
    char d[512], err[1024] = "";
    ModelConfig c;
    make_dir(d, "cfg");
    write_text(d, "config.json", CONFIG("Qwen2ForCausalLM", ",\"use_sliding_window\":false,\"sliding_window\":32"));
    memset(&c, 0, sizeof c);
    CHECK(hf_config_read(d, &c, err, sizeof err) == 0 && c.qkv_bias && !c.qk_norm && c.context_len == 64, "qwen2: %s",
          err);
    write_text(d, "config.json", CONFIG("Qwen3ForCausalLM", ",\"head_dim\":8"));
    memset(&c, 0, sizeof c);
    CHECK(hf_config_read(d, &c, err, sizeof err) == 0 && c.qk_norm && !c.qkv_bias && c.head_dim == 8, "qwen3: %s", err);
    write_text(d, "config.json", CONFIG("MistralForCausalLM", ",\"sliding_window\":32"));
    memset(&c, 0, sizeof c);
    CHECK(hf_config_read(d, &c, err, sizeof err) == 0 && c.context_len == 32, "mistral window: %s", err);
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                                        "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                                        "\"original_max_position_embeddings\":8192},\"head_dim\":128"));
    memset(&c, 0, sizeof c);
    CHECK(hf_config_read(d, &c, err, sizeof err) == 0 && !strcmp(c.rope_scaling, "llama3"), "llama3: %s", err);
    float ff[64];
    CHECK(rope_freqs_compute(&c, ff, err, sizeof err) == 1, "freqs: %s", err);
    /* transformers' _compute_llama3_parameters at theta 5e5, dim 128: pair 0 unscaled, the
     * last pairs by the full factor, pair 31 (wavelength ~4600) in the smooth band */
    double f31 = pow(500000.0, -62.0 / 128), wl = 2 * M_PI / f31, sm = (8192 / wl - 1) / 3;
    CHECK(ff[0] == 1.0f && ff[63] == 8.0f && wl > 2048 && wl < 8192 && fabs(ff[31] - 1 / ((1 - sm) / 8 + sm)) < 1e-5 &&
              ff[31] > 1.5f && ff[31] < 7.5f, "factors %g %g %g", ff[0], ff[31], ff[63]);
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}"));
    CHECK(hf_config_read(d, &c, err, sizeof err) < 0 && strstr(err, "yarn"), "yarn: %s", err);
}

static void test_broken(void) {
    char d[512];
    make_dir(d, "arch");
    write_text(d, "config.json", CONFIG("GPT2LMHeadModel", ""));
    write_st(d, "model.safetensors", 0, N_T, NULL, 0, 0);
    expect_fail(d, "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM", "unsupported arch");
    make_dir(d, "i8");
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ""));
    write_st(d, "model.safetensors", 0, N_T, NULL, 1, 0);
    expect_fail(d, "has dtype I8, which LlamaForCausalLM cannot use", "int8 embedding");
    make_dir(d, "shape");
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ""));
    write_st(d, "model.safetensors", 0, N_T, NULL, 0, 1);
    expect_fail(d, "q_proj.weight has shape [7, 8], expected [8, 8]", "wrong shape");
    make_dir(d, "missing");
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ""));
    write_st(d, "model.safetensors", 0, N_T, "model.layers.0.mlp.up_proj.weight", 0, 0);
    expect_fail(d, "model.layers.0.mlp.up_proj.weight is missing", "missing tensor");
    make_dir(d, "shards");
    write_text(d, "config.json", CONFIG("LlamaForCausalLM", ""));
    write_st(d, "model-00001-of-00002.safetensors", 0, 5, NULL, 0, 0);
    write_text(d, "model.safetensors.index.json",
               "{\"weight_map\":{\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
               "\"model.layers.0.mlp.up_proj.weight\":\"model-00002-of-00002.safetensors\"}}");
    expect_fail(d, "model-00002-of-00002.safetensors, which is missing", "missing shard");
    write_st(d, "model-00002-of-00002.safetensors", 5, N_T, NULL, 0, 0);
    write_text(d, "model.safetensors.index.json",
               "{\"weight_map\":{\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
               "\"model.layers.0.mlp.up_proj.weight\":\"model-00001-of-00002.safetensors\"}}");
    expect_fail(d, "does not hold it", "index naming a tensor its shard lacks");
    write_text(d, "model.safetensors.index.json",
               "{\"weight_map\":{\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
               "\"model.layers.0.mlp.up_proj.weight\":\"model-00002-of-00002.safetensors\"}}");
    Model *m = NULL;
    char err[1024] = "";
    CHECK(model_load(d, DT_COUNT, &m, err, sizeof err) == 0 && m && st_n_shards(m->st) == 2, "two shards: %s", err);
    model_free(m);
    make_dir(d, "noconfig");
    expect_fail(d, "config.json: cannot open", "no config.json");
}

static void test_caches(void) {
    char hub[512], snap[700], p[900], out[5000], *tmpl = NULL, err[512];
    snprintf(hub, sizeof hub, "%s/hfhub", g_dir);
    setenv("HF_HUB_CACHE", hub, 1);
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    snprintf(snap, sizeof snap, "%s/models--Org--Tiny/snapshots/%s", hub, commit);
    snprintf(p, sizeof p, "mkdir -p %s %s/models--Org--Tiny/refs", snap, hub);
    CHECK(system(p) == 0, "mkdir");
    CHECK(hub_cache_find("Org/Tiny", NULL, out, sizeof out) == -ENOENT && strstr(out, "refs/main"), "no ref: %s", out);
    snprintf(p, sizeof p, "%s/models--Org--Tiny/refs", hub);
    write_text(p, "main", commit);
    CHECK(hub_cache_find("Org/Tiny", NULL, out, sizeof out) == -ENOENT && strstr(out, "no config.json"), "%s", out);
    write_text(snap, "config.json", "{}");
    CHECK(hub_cache_find("Org/Tiny", NULL, out, sizeof out) == 0 && !strcmp(out, snap), "found: %s", out);
    CHECK(hub_cache_find("Org/Tiny", commit, out, sizeof out) == 0, "by commit");
    CHECK(hub_repo_valid("Org/Tiny") && !hub_repo_valid("Org/../x") && !hub_repo_valid("a/b/c") &&
              !hub_repo_valid("llama3.2:1b") && !hub_repo_valid("/abs"), "repo ids");
    char ol[512], blob[700];
    snprintf(ol, sizeof ol, "%s/ollama", g_dir);
    setenv("OLLAMA_MODELS", ol, 1);
    snprintf(p, sizeof p, "mkdir -p %s/blobs %s/manifests/registry.ollama.ai/library/tiny", ol, ol);
    CHECK(system(p) == 0, "mkdir");
    const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";
    snprintf(p, sizeof p, "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\"},"
             "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"sha256:%s\"}]}", h1, h2);
    snprintf(blob, sizeof blob, "%s/manifests/registry.ollama.ai/library/tiny", ol);
    write_text(blob, "1b", p);
    CHECK(ollama_find("tiny:1b", out, sizeof out, &tmpl, err, sizeof err) == -ENOENT && strstr(err, "missing"),
          "blob missing: %s", err);
    snprintf(blob, sizeof blob, "%s/blobs", ol);
    snprintf(p, sizeof p, "sha256-%s", h1);
    write_text(blob, p, "GGUF");
    snprintf(p, sizeof p, "sha256-%s", h2);
    write_text(blob, p, "{{ .System }}<|im_start|>user");
    CHECK(ollama_find("tiny:1b", out, sizeof out, &tmpl, err, sizeof err) == 0 && strstr(out, h1) && tmpl &&
              strstr(tmpl, "<|im_start|>"), "found: %s", out);
    free(tmpl);
    CHECK(ollama_find("tiny", out, sizeof out, &tmpl, err, sizeof err) == -ENOENT && strstr(out, "tiny/latest"),
          "tag latest: %s", out);
    CHECK(ollama_find("../x:1", out, sizeof out, &tmpl, err, sizeof err) == -ENOENT, "a path is no name");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/piston-hf-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    test_valid();
    test_configs();
    test_broken();
    test_caches();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_SUMMARY();
}
