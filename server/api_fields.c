/* Request fields that are not structured outputs but belong to the same clean-up: OpenAI's
 * logit_bias, and the fields of each dialect that Piston does not implement and that would
 * change the output, refused with their names rather than ignored (see api_structured.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_structured.h"

int api_logit_bias(Server *s, const cJSON *b, InMsg *m, char *err, size_t n) {
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(b, "logit_bias"), *e;
    if (!lb || cJSON_IsNull(lb)) return 0;
    if (!cJSON_IsObject(lb)) return snprintf(err, n, "'logit_bias' must be an object of token id to bias"), 400;
    int count = cJSON_GetArraySize(lb), k = 0, nv = api_n_vocab(s);
    if (count == 0) return 0;
    if (count > 1024) return snprintf(err, n, "'logit_bias' has more than 1024 entries"), 400;
    if (!(m->bias = malloc((size_t)count * sizeof *m->bias))) return snprintf(err, n, "out of memory"), 500;
    cJSON_ArrayForEach(e, lb) {
        char *end;
        long id = strtol(e->string, &end, 10);
        if (*end || end == e->string || id < 0 || id >= nv)
            return snprintf(err, n, "'logit_bias' keys must be token ids in [0, %d), got '%s'", nv, e->string), 400;
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= -100 && e->valuedouble <= 100))
            return snprintf(err, n, "'logit_bias' values must be numbers in [-100, 100]"), 400;
        m->bias[k++] = (LogitBias){(int32_t)id, (float)e->valuedouble};
    }
    m->params.logit_bias = m->bias, m->params.n_logit_bias = k;
    return 0;
}

typedef struct Refused {
    const char *name;
    char when; /* 's': set (not null), 't': true, 'e': a non-empty list/object, 'f': false, '1': other than 1 */
    const char *why;
} Refused;

static const Refused k_openai_refused[] = {
    {"functions", 's', "use 'tools'"}, {"function_call", 's', "use 'tool_choice'"}, {"audio", 's', "a text model"},
    {"prediction", 's', ""}, {"web_search_options", 's', ""}, {"reasoning_effort", 's', ""}, {"verbosity", 's', ""},
    {"use_beam_search", 't', ""}, {"length_penalty", '1', ""}, {"bad_words", 'e', ""}, {"allowed_token_ids", 'e', ""},
    {"include_stop_str_in_output", 't', ""}, {"truncate_prompt_tokens", 's', ""}, {"logits_processors", 'e', ""},
    {"spaces_between_special_tokens", 'f', ""}, {"chat_template", 's', "the model's own template is used"},
    {"chat_template_kwargs", 'e', ""}, {"continue_final_message", 't', ""}, {"add_generation_prompt", 'f', ""},
    {"documents", 'e', ""}, {"return_tokens_as_token_ids", 't', ""}, {"mm_processor_kwargs", 'e', "a text model"},
    {"vllm_xargs", 'e', ""}, {"kv_transfer_params", 's', ""},
};
static const Refused k_tgi_refused[] = {{"adapter_id", 's', "no LoRA adapters"}, {"truncate", 's', ""}};

static int refused(const cJSON *o, const Refused *list, size_t n_list, char *err, size_t n) {
    for (size_t i = 0; o && i < n_list; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, list[i].name);
        if (!v || cJSON_IsNull(v)) continue;
        int bad = list[i].when == 's' || (list[i].when == 't' && cJSON_IsTrue(v)) || (list[i].when == 'f' && cJSON_IsFalse(v)) ||
                  (list[i].when == 'e' && cJSON_GetArraySize(v) > 0) ||
                  (list[i].when == '1' && !(cJSON_IsNumber(v) && v->valuedouble == 1.0));
        if (bad) return snprintf(err, n, "'%s' is not supported%s%s", list[i].name, *list[i].why ? ": " : "", list[i].why), 400;
    }
    return 0;
}

int api_refuse_unimplemented(const cJSON *body, Dialect d, char *err, size_t n) {
    if (d == DIALECT_TGI) return refused(body, k_tgi_refused, sizeof k_tgi_refused / sizeof *k_tgi_refused, err, n);
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(body, "modalities");
    if (mod && !cJSON_IsNull(mod) && !(cJSON_GetArraySize(mod) == 1 && cJSON_IsString(mod->child) && !strcmp(mod->child->valuestring, "text")))
        return snprintf(err, n, "'modalities' other than [\"text\"] are not supported: a text model"), 400;
    return refused(body, k_openai_refused, sizeof k_openai_refused / sizeof *k_openai_refused, err, n);
}
