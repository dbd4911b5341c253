/* `piston show MODEL [--json]`: what a model is before serving it, as `ollama show` tells
 * it: architecture, parameter count, the dtype its matrices compute in, context length, the
 * chat template family, the source format and where it was found. MODEL is resolved as
 * serve resolves it (a path, the Hugging Face cache, an Ollama store); nothing is uploaded
 * to a device and no KV cache is made. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/text_model.h"

static const char usage[] =
    "usage: piston show MODEL [--json] [flags]\n"
    "Prints MODEL's architecture, parameters, dtype, context length, chat template and format.\n"
    "The engine's flags are taken as serve takes them (--dtype, --load-format, --chat-template, ...).\n";

/* The type most of the layer matrices have (a GGUF mixes types; its "file type"). */
static const char *matrix_dtype(const Model *m) {
    int count[DT_COUNT] = {0}, best = -1;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        const Tensor *t[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof t / sizeof *t; i++)
            if ((unsigned)t[i]->type < DT_COUNT) count[t[i]->type]++;
    }
    for (int i = 0; i < DT_COUNT; i++)
        if (count[i] && (best < 0 || count[i] > count[best])) best = i;
    return best >= 0 ? dtype_name(best) : "unknown";
}

static void size_text(int64_t p, char *out, size_t n) {
    if (p >= 1000000000) snprintf(out, n, "%.2fB", p / 1e9);
    else snprintf(out, n, "%.1fM", p / 1e6);
}

int cmd_show(int argc, char **argv) {
    CliArgs a;
    int rc = cli_parse(argc, argv, &a, usage, CLI_SHOW); /* --json and the engine's flags */
    if (rc) return rc < 0 ? 2 : 0;
    int json = a.json;
    TextModel tm;
    char err[1024];
    TextModelArgs ta = {a.model_path, a.engine.chat_template, 0, a.engine.dtype, a.engine.generation_config,
                        a.engine.load_dummy, a.engine.dummy_seed};
    if (text_model_open(&tm, &ta, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    const Model *m = tm.model;
    const ModelConfig *c = &m->cfg;
    static const char *const formats[] = {"gguf", "safetensors", "dummy"};
    char params[32], arch[96];
    size_text(model_param_count(c), params, sizeof params);
    snprintf(arch, sizeof arch, c->hf_arch[0] ? "%s (%s)" : "%s", c->arch, c->hf_arch);
    const char *dtype = m->format == MODEL_FORMAT_GGUF ? matrix_dtype(m) : dtype_name(m->weight_dtype);
    const char *tmpl = tm.has_chat ? chat_template_kind_name(tm.chat.kind) : "none";
    int shards = m->st ? st_n_shards(m->st) : m->format == MODEL_FORMAT_GGUF;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "architecture", c->arch);
        cJSON_AddStringToObject(o, "hf_architecture", c->hf_arch);
        cJSON_AddNumberToObject(o, "parameters", (double)model_param_count(c));
        cJSON_AddStringToObject(o, "dtype", dtype);
        cJSON_AddNumberToObject(o, "context_length", c->context_len);
        cJSON_AddNumberToObject(o, "embedding_length", c->dim);
        cJSON_AddNumberToObject(o, "layers", c->n_layers);
        cJSON_AddNumberToObject(o, "heads", c->n_heads);
        cJSON_AddNumberToObject(o, "kv_heads", c->n_kv_heads);
        cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
        cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
        cJSON_AddStringToObject(o, "rope_scaling", c->rope_scaling);
        cJSON_AddBoolToObject(o, "tied_embeddings", c->tied_output);
        cJSON_AddStringToObject(o, "chat_template", tmpl);
        cJSON_AddStringToObject(o, "format", formats[m->format]);
        cJSON_AddNumberToObject(o, "files", shards);
        cJSON_AddStringToObject(o, "path", m->path);
        cJSON_AddStringToObject(o, "generation_defaults", tm.gen_summary);
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        printf("  Model\n");
        printf("    %-20s %s\n", "name", c->name);
        printf("    %-20s %s\n", "architecture", arch);
        printf("    %-20s %s\n", "parameters", params);
        printf("    %-20s %s\n", "dtype", dtype);
        printf("    %-20s %d\n", "context length", c->context_len);
        printf("    %-20s %d\n", "embedding length", c->dim);
        printf("    %-20s %d\n", "layers", c->n_layers);
        printf("    %-20s %d (kv %d), head_dim %d\n", "attention heads", c->n_heads, c->n_kv_heads, c->head_dim);
        printf("    %-20s %g%s%s\n", "rope theta", c->rope_theta, c->rope_scaling[0] ? ", scaling " : "",
               c->rope_scaling);
        printf("    %-20s %s\n", "chat template", tmpl);
        printf("    %-20s %s (%d file%s)\n", "format", formats[m->format], shards, shards == 1 ? "" : "s");
        if (tm.gen_summary[0]) printf("    %-20s %s\n", "generation defaults", tm.gen_summary);
        printf("    %-20s %s\n", "path", m->path);
    }
    text_model_free(&tm);
    return 0;
}
