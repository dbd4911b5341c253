/* The Ollama dialect's model routes: GET /api/tags (the one model, named with Ollama's
 * ":latest" tag), POST /api/show, GET /api/ps, GET /api/version. Sizes and architecture come
 * from the loaded model; there is no registry, so digest is left empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server/api_common.h"
#include "base/version.h"

static void tagged_name(const Server *s, char *out, size_t n) {
    snprintf(out, n, strchr(s->opt.model_name, ':') ? "%s" : "%s:latest", s->opt.model_name);
}

static int64_t param_count(const ModelConfig *c) { return model_param_count(c); }

static void size_text(int64_t p, char *out, size_t n) {
    if (p >= 1000000000) snprintf(out, n, "%.1fB", p / 1e9);
    else snprintf(out, n, "%.0fM", p / 1e6);
}

static cJSON *details(const Server *s) {
    char ps[32];
    size_text(param_count(&s->model.cfg), ps, sizeof ps);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", s->model.format);
    cJSON_AddStringToObject(d, "family", s->model.cfg.arch);
    cJSON *f = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(f, cJSON_CreateString(s->model.cfg.arch));
    cJSON_AddStringToObject(d, "parameter_size", ps);
    cJSON_AddStringToObject(d, "quantization_level", s->model.quant);
    return d;
}

static cJSON *model_entry(const Server *s, int running) {
    char name[300], when[64];
    tagged_name(s, name, sizeof name);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "model", name);
    struct stat st;
    if (!running) {
        struct tm tm;
        time_t t = stat(s->opt.engine.model_path, &st) == 0 ? st.st_mtime : s->started;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cJSON_AddStringToObject(m, "modified_at", when);
    }
    cJSON_AddNumberToObject(m, "size", (double)s->model.file_size);
    cJSON_AddStringToObject(m, "digest", "");
    cJSON_AddItemToObject(m, "details", details(s));
    if (running) { /* loaded for as long as the server runs */
        cJSON_AddStringToObject(m, "expires_at", "2318-01-01T00:00:00Z");
        cJSON_AddNumberToObject(m, "size_vram", 0);
        cJSON_AddNumberToObject(m, "context_length", s->model.max_model_len);
    }
    return m;
}

void api_ollama_tags(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "models"), model_entry(s, 0));
    api_send_json(c, 200, o);
}

void api_ollama_ps(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "models"), model_entry(s, 1));
    api_send_json(c, 200, o);
}

void api_ollama_version(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", PISTON_VERSION);
    api_send_json(c, 200, o);
}

void api_ollama_show(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *b = api_parse_body(s, c, DIALECT_OLLAMA, r);
    if (!b) return;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "model");
    if (!cJSON_IsString(name)) name = cJSON_GetObjectItemCaseSensitive(b, "name");
    if (!cJSON_IsString(name)) api_error(c, DIALECT_OLLAMA, 400, NULL, "model is required");
    else if (!api_model_matches(s, name->valuestring, 0))
        api_error(c, DIALECT_OLLAMA, 404, NULL, "model '%s' not found", name->valuestring);
    if (!cJSON_IsString(name) || !api_model_matches(s, name->valuestring, 0)) {
        cJSON_Delete(b);
        return;
    }
    cJSON_Delete(b);
    const ModelConfig *cfg = &s->model.cfg;
    char buf[512], key[96];
    cJSON *o = cJSON_CreateObject();
    snprintf(buf, sizeof buf, "FROM %s\n", api_model_ref(s)); /* a name, never the server's path */
    cJSON_AddStringToObject(o, "modelfile", buf);
    cJSON_AddStringToObject(o, "parameters", "temperature 0.8\ntop_k 40\ntop_p 0.9\nrepeat_penalty 1.1");
    cJSON_AddStringToObject(o, "template", s->model.chat ? chat_template_kind_name(s->model.chat->kind) : "");
    cJSON_AddItemToObject(o, "details", details(s));
    cJSON *mi = cJSON_AddObjectToObject(o, "model_info");
    cJSON_AddStringToObject(mi, "general.architecture", cfg->arch);
    cJSON_AddStringToObject(mi, "general.name", cfg->name);
    cJSON_AddNumberToObject(mi, "general.parameter_count", (double)param_count(cfg));
#define ARCH_KEY(suffix, v) (snprintf(key, sizeof key, "%s." suffix, cfg->arch), cJSON_AddNumberToObject(mi, key, (v)))
    ARCH_KEY("context_length", cfg->context_len);
    ARCH_KEY("embedding_length", cfg->dim);
    ARCH_KEY("feed_forward_length", cfg->ffn_dim);
    ARCH_KEY("block_count", cfg->n_layers);
    ARCH_KEY("attention.head_count", cfg->n_heads);
    ARCH_KEY("attention.head_count_kv", cfg->n_kv_heads);
    ARCH_KEY("rope.freq_base", cfg->rope_theta);
    ARCH_KEY("vocab_size", cfg->vocab_size);
#undef ARCH_KEY
    cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    if (s->model.chat && chat_template_tool_format(s->model.chat) != TOOL_FORMAT_NONE)
        cJSON_AddItemToArray(caps, cJSON_CreateString("tools"));
    api_send_json(c, 200, o);
}
