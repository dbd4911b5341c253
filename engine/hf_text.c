/* The text side of a Hugging Face model directory beyond the tokenizer (see text_model.h):
 * the chat template (tokenizer_config.json's chat_template, a string or a list of named
 * templates of which "default" is the one; or chat_template.jinja, where newer transformers
 * save it) and generation_config.json's defaults: temperature, top_p, top_k, min_p,
 * repetition_penalty and the eos_token_id list, which vLLM applies to a request that does
 * not set them (--generation-config auto), ignores (vllm) or reads from another folder; and
 * gen_defaults_apply, the one way every dialect and the CLI lay them under a request. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "engine/text_model.h"

/* The file's text, or NULL when it is absent, unreadable or over limit bytes. */
static char *slurp(const char *path, size_t limit) {
    char *text;
    return base_read_file(path, limit, &text, NULL, NULL, 0) ? NULL : text;
}

char *hf_chat_template_read(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/tokenizer_config.json", dir);
    char *text = slurp(path, 16u << 20), *out = NULL;
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j, "chat_template"), *e;
    if (cJSON_IsString(ct)) out = strdup(ct->valuestring);
    const cJSON *list = cJSON_IsArray(ct) ? ct : NULL;
    cJSON_ArrayForEach(e, list) { /* [{name, template}]: "default", else the first */
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        const char *tpl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "template"));
        if (tpl && (!out || (name && !strcmp(name, "default")))) free(out), out = strdup(tpl);
    }
    cJSON_Delete(j);
    if (!out) {
        snprintf(path, sizeof path, "%.4000s/chat_template.jinja", dir);
        out = slurp(path, 16u << 20);
    }
    return out;
}

static void set_float(const cJSON *j, const char *key, float *dst, float lo, float hi, char *what, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) return;
    *dst = (float)v->valuedouble;
    size_t n = strlen(what);
    snprintf(what + n, cap - n, "%s%s %g", n ? ", " : "", key, v->valuedouble);
}

int hf_generation_config_read(TextModel *m, const char *dir, int required, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/generation_config.json", dir);
    char *text = slurp(path, 1u << 20);
    if (!text)
        return required ? err_set(err, errlen, -ENOENT, "--generation-config %s: no generation_config.json there", dir)
                        : 0;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return err_set(err, errlen, -EINVAL, "%s: not a JSON object", path);
    }
    SamplingParams *p = &m->gen_defaults;
    char *what = m->gen_summary;
    size_t cap = sizeof m->gen_summary;
    what[0] = 0;
    set_float(j, "temperature", &p->temperature, 0, 100, what, cap);
    set_float(j, "top_p", &p->top_p, 1e-9f, 1, what, cap);
    set_float(j, "min_p", &p->min_p, 0, 1, what, cap);
    set_float(j, "repetition_penalty", &p->repetition_penalty, 1e-6f, 100, what, cap);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "top_k");
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1 << 30) {
        p->top_k = (int)v->valuedouble;
        size_t n = strlen(what);
        snprintf(what + n, cap - n, "%stop_k %d", n ? ", " : "", p->top_k);
    }
    /* eos_token_id: one id or a list; each ends generation, as the model's EOS does */
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(j, "eos_token_id"), *e;
    /* ids outside int32 are skipped before the cast (undefined there), as unknown ids are */
    if (cJSON_IsNumber(eos) && eos->valuedouble >= 0 && eos->valuedouble < 2147483647.0)
        tokenizer_add_eog(m->tok, (int32_t)eos->valuedouble);
    const cJSON *list = cJSON_IsArray(eos) ? eos : NULL;
    cJSON_ArrayForEach(e, list)
        if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < 2147483647.0)
            tokenizer_add_eog(m->tok, (int32_t)e->valuedouble);
    cJSON_Delete(j);
    return 0;
}

void gen_defaults_apply(SamplingParams *p, const SamplingParams *d, unsigned keep) {
    SamplingParams n;
    sampling_params_default(&n);
    if (!(keep & GEN_TEMPERATURE) && d->temperature != n.temperature) p->temperature = d->temperature;
    if (!(keep & GEN_TOP_K) && d->top_k != n.top_k) p->top_k = d->top_k;
    if (!(keep & GEN_TOP_P) && d->top_p != n.top_p) p->top_p = d->top_p;
    if (!(keep & GEN_MIN_P) && d->min_p != n.min_p) p->min_p = d->min_p;
    if (!(keep & GEN_REPETITION_PENALTY) && d->repetition_penalty != n.repetition_penalty)
        p->repetition_penalty = d->repetition_penalty;
}
