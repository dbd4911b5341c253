/* Request fields that are not structured outputs but belong to the same clean-up: OpenAI's
 * logit_bias, and each route's allowlist of fields (api_check_fields): those Piston
 * implements, metadata that real clients send and that cannot change the output, and fields
 * taken only at their neutral value. Anything else is a 400 naming the field, never ignored
 * (Anthropic's list is in api_anthropic.c). */
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

/* A field a route knows. when: 0, taken (implemented, or metadata that cannot change the
 * output); otherwise refused when its value is not the neutral one: 's' set (not null), 't'
 * true (or a non-empty string), 'f' false, 'e' a non-empty list/object, 'x' a non-empty
 * string, '1' other than 1, '0' other than 0, 'm' other than -1, 'a' other than "auto" or
 * "default". */
typedef struct Field {
    const char *name;
    char when;
    const char *why; /* what to do instead; "" for "leave it out" */
} Field;

/* the tables as paragraphs, not a field a line */
/* clang-format off */
#define END {NULL, 0, NULL}
static const Field k_openai[] = { /* both OpenAI endpoints, with vLLM's extensions */
    {"model", 0, 0}, {"n", 0, 0}, {"best_of", 0, 0}, {"max_tokens", 0, 0}, {"temperature", 0, 0}, {"top_p", 0, 0},
    {"top_k", 0, 0}, {"min_p", 0, 0}, {"presence_penalty", 0, 0}, {"frequency_penalty", 0, 0},
    {"repetition_penalty", 0, 0}, {"seed", 0, 0}, {"stop", 0, 0}, {"stop_token_ids", 0, 0}, {"ignore_eos", 0, 0},
    {"min_tokens", 0, 0}, {"skip_special_tokens", 0, 0}, {"stream", 0, 0}, {"stream_options", 0, 0},
    {"logit_bias", 0, 0}, {"logprobs", 0, 0}, {"prompt_logprobs", 0, 0}, {"response_format", 0, 0},
    {"structured_outputs", 0, 0}, {"guided_json", 0, 0}, {"guided_regex", 0, 0}, {"guided_choice", 0, 0},
    {"guided_grammar", 0, 0}, {"guided_decoding_backend", 0, 0}, {"guided_whitespace_pattern", 0, 0},
    {"structural_tag", 0, 0}, {"modalities", 0, 0}, {"tools", 0, 0},
    /* metadata: who asks, what to store or bill, a cache-routing key; none changes the output */
    {"user", 0, 0}, {"store", 0, 0}, {"metadata", 0, 0}, {"prompt_cache_key", 0, 0}, {"safety_identifier", 0, 0},
    {"request_id", 0, 0}, {"service_tier", 'a', "Piston has one tier: send \"auto\" or \"default\", or leave it out"},
    {"priority", '0', "Piston schedules first come, first served (vLLM's default policy): send 0 or leave it out"},
    {"use_beam_search", 't', ""}, {"length_penalty", '1', "it applies to beam search only: send 1 or leave it out"}, {"bad_words", 'e', ""},
    {"allowed_token_ids", 'e', "use 'structured_outputs' with a 'choice' or a 'regex'"},
    {"include_stop_str_in_output", 't', ""}, {"truncate_prompt_tokens", 's', ""}, {"logits_processors", 'e', ""},
    {"spaces_between_special_tokens", 'f', ""}, {"vllm_xargs", 'e', ""}, {"kv_transfer_params", 's', ""},
    {"return_tokens_as_token_ids", 't', ""}, END};
static const Field k_completion[] = {
    {"prompt", 0, 0}, {"echo", 0, 0}, {"add_special_tokens", 0, 0}, {"suffix", 's', "Piston has no fill-in-the-middle"}, END};
static const Field k_chat[] = {
    {"messages", 0, 0}, {"max_completion_tokens", 0, 0}, {"top_logprobs", 0, 0}, {"tool_choice", 0, 0},
    {"parallel_tool_calls", 0, 0}, {"continue_final_message", 0, 0}, {"add_generation_prompt", 0, 0},
    {"functions", 's', "use 'tools'"}, {"function_call", 's', "use 'tool_choice'"}, {"audio", 's', "this is a text model"},
    {"prediction", 's', ""}, {"web_search_options", 's', ""}, {"reasoning_effort", 's', ""}, {"verbosity", 's', ""},
    {"echo", 't', "vLLM's chat echo is not implemented: send false or leave it out"},
    {"add_special_tokens", 't', "the chat template writes the special tokens: send false or leave it out"},
    {"chat_template", 's', "the model's own template is used"}, {"chat_template_kwargs", 'e', ""},
    {"documents", 'e', ""}, {"mm_processor_kwargs", 'e', "this is a text model"}, END};
static const Field k_tgi[] = {{"inputs", 0, 0}, {"parameters", 0, 0}, {"stream", 0, 0}, END};
static const Field k_tgi_params[] = {
    {"best_of", 0, 0}, {"do_sample", 0, 0}, {"temperature", 0, 0}, {"repetition_penalty", 0, 0},
    {"frequency_penalty", 0, 0}, {"top_k", 0, 0}, {"top_p", 0, 0}, {"typical_p", 0, 0}, {"max_new_tokens", 0, 0},
    {"return_full_text", 0, 0}, {"stop", 0, 0}, {"watermark", 0, 0}, {"details", 0, 0},
    {"decoder_input_details", 0, 0}, {"seed", 0, 0}, {"top_n_tokens", 0, 0}, {"grammar", 0, 0},
    {"adapter_id", 's', "Piston serves no LoRA adapters"}, {"truncate", 's', "send a prompt that fits"}, END};
static const Field k_ollama[] = { /* both Ollama routes */
    {"model", 0, 0}, {"stream", 0, 0}, {"format", 0, 0}, {"options", 0, 0}, {"keep_alive", 0, 0},
    {"think", 't', "this model does not think: send false or leave it out"}, {"logprobs", 't', ""},
    {"top_logprobs", '0', ""}, END};
static const Field k_generate[] = {
    {"prompt", 0, 0}, {"system", 0, 0}, {"context", 0, 0}, {"raw", 0, 0}, {"images", 0, 0}, {"tools", 0, 0},
    {"suffix", 'x', "Piston has no fill-in-the-middle"}, {"template", 'x', "the model's own chat template is used"},
    {"width", 's', "this is a text model"}, {"height", 's', "this is a text model"}, {"steps", 's', "this is a text model"}, END};
static const Field k_ollama_chat[] = {{"messages", 0, 0}, {"tools", 0, 0}, END};
static const Field k_options[] = {
    {"num_predict", 0, 0}, {"num_ctx", 0, 0}, {"temperature", 0, 0}, {"top_k", 0, 0}, {"top_p", 0, 0},
    {"min_p", 0, 0}, {"repeat_penalty", 0, 0}, {"presence_penalty", 0, 0}, {"frequency_penalty", 0, 0},
    {"seed", 0, 0}, {"stop", 0, 0},
    /* how Ollama loads and runs a model, not what it writes */
    {"numa", 0, 0}, {"num_batch", 0, 0}, {"num_gpu", 0, 0}, {"main_gpu", 0, 0}, {"low_vram", 0, 0},
    {"f16_kv", 0, 0}, {"logits_all", 0, 0}, {"vocab_only", 0, 0}, {"use_mmap", 0, 0}, {"use_mlock", 0, 0},
    {"embedding_only", 0, 0}, {"num_thread", 0, 0}, {"num_keep", 0, 0},
    {"repeat_last_n", 'm', "Piston applies repeat_penalty over the whole context: send -1 or leave it out"},
    {"typical_p", '1', "Piston has no typical sampling: send 1 or leave it out"},
    {"tfs_z", '1', "Piston has no tail-free sampling: send 1 or leave it out"},
    {"mirostat", '0', "Piston has no mirostat sampling: send 0 or leave it out"},
    {"mirostat_tau", 0, 0}, {"mirostat_eta", 0, 0}, /* unused while mirostat is 0 */
    {"penalize_newline", 't', "Piston does not penalize newlines: send false or leave it out"}, END};
/* clang-format on */

typedef struct FieldSet {
    const char *where; /* the route, for the message */
    const char *prefix;
    const Field *lists[2];
} FieldSet;

static const FieldSet k_sets[] = {
    [FIELDS_OAI_COMPLETION] = {"POST /v1/completions", "", {k_openai, k_completion}},
    [FIELDS_OAI_CHAT] = {"POST /v1/chat/completions", "", {k_openai, k_chat}},
    [FIELDS_TGI] = {"TGI's generate routes", "", {k_tgi, NULL}},
    [FIELDS_TGI_PARAMS] = {"TGI's parameters", "parameters.", {k_tgi_params, NULL}},
    [FIELDS_OLLAMA_GENERATE] = {"POST /api/generate", "", {k_ollama, k_generate}},
    [FIELDS_OLLAMA_CHAT] = {"POST /api/chat", "", {k_ollama, k_ollama_chat}},
    [FIELDS_OLLAMA_OPTIONS] = {"Ollama's options", "options.", {k_options, NULL}},
};

static int neutral(const cJSON *v, char when) {
    switch (when) {
    case 's': return 0;
    case 't': return !cJSON_IsTrue(v) && !(cJSON_IsString(v) && *v->valuestring);
    case 'f': return !cJSON_IsFalse(v);
    case 'e': return cJSON_GetArraySize(v) == 0;
    case 'x': return cJSON_IsString(v) && !*v->valuestring;
    case '1': return cJSON_IsNumber(v) && v->valuedouble == 1.0;
    case '0': return cJSON_IsNumber(v) && v->valuedouble == 0.0;
    case 'm': return cJSON_IsNumber(v) && v->valuedouble == -1.0;
    case 'a': return cJSON_IsString(v) && (!strcmp(v->valuestring, "auto") || !strcmp(v->valuestring, "default"));
    default: return 1;
    }
}

int api_check_fields(const cJSON *o, ApiFieldSet set, char *err, size_t n) {
    const FieldSet *fs = &k_sets[set];
    const cJSON *e;
    if (!cJSON_IsObject(o)) return 0; /* the caller says what the object must be */
    cJSON_ArrayForEach(e, o) {
        const Field *f = NULL;
        for (int l = 0; !f && l < 2 && fs->lists[l]; l++)
            for (const Field *g = fs->lists[l]; g->name && !f; g++)
                if (!strcmp(g->name, e->string)) f = g;
        if (cJSON_IsNull(e) || (f && neutral(e, f->when))) continue;
        if (!f)
            return snprintf(err, n,
                            "'%s%s' is not a field Piston implements for %s: leave it out (a field Piston does not "
                            "implement is refused, never ignored)",
                            fs->prefix, e->string, fs->where),
                   400;
        const char *w = f->why; /* a reason gets the action after it */
        int act = strstr(w, "leave it out") || !strncmp(w, "use ", 4) || !strncmp(w, "send ", 5);
        return snprintf(err, n, "'%s%s' is not supported: %s%s", fs->prefix, e->string, w,
                        act ? "" : *w ? ": leave it out" : "leave it out"),
               400;
    }
    if (set != FIELDS_OAI_COMPLETION && set != FIELDS_OAI_CHAT) return 0;
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(o, "modalities");
    if (mod && !cJSON_IsNull(mod) &&
        !(cJSON_GetArraySize(mod) == 1 && cJSON_IsString(mod->child) && !strcmp(mod->child->valuestring, "text")))
        return snprintf(err, n, "'modalities' other than [\"text\"] are not supported: a text model"), 400;
    return 0;
}
