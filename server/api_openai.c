/* The OpenAI dialect, as vLLM serves it: GET /v1/models, POST /v1/completions (a prompt
 * string, a list of strings, token ids, or lists of token ids) and POST /v1/chat/completions
 * (messages through the chat template), whole or streamed as SSE `data: {...}` chunks ending
 * in `data: [DONE]`. Sampling fields map onto RequestParams; vLLM's extensions (top_k, min_p,
 * repetition_penalty, ignore_eos, min_tokens, stop_token_ids, skip_special_tokens) too.
 *
 * Prompt logprobs: vLLM's prompt_logprobs (N alternatives per prompt token), and, with echo
 * and logprobs, the prompt's tokens in the completion's logprobs (the first one null). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "server/api_common.h"
#include "server/api_structured.h"
#include "server/api_tools.h"

enum { OAI_COMPLETION = 0, OAI_CHAT = 1 };
enum { OPT_ECHO = 0, OPT_USAGE = 1, OPT_CHAT_LOGPROBS = 2, OPT_PROMPT_LP = 3 /* vLLM's prompt_logprobs + 1 */ };

void api_oai_chunks(Job *j, int idx, Choice *ch, const OutMsg *m); /* api_openai_out.c */
void api_oai_finish(Job *j);

static const JobOps k_ops = {"text/event-stream; charset=utf-8", api_oai_chunks, api_oai_finish};

void api_openai_models(Server *s, HttpConn *c, HttpRequest *r) {
    const char *want = !strncmp(r->path, "/v1/models/", 11) ? r->path + 11 : NULL;
    if (want && !api_model_matches(s, want, 0)) {
        api_error(c, DIALECT_OPENAI, 404, "model", "The model `%s` does not exist.", want);
        return;
    }
    cJSON *out = cJSON_CreateObject(), *data = NULL;
    cJSON_AddStringToObject(out, "object", "list");
    data = cJSON_AddArrayToObject(out, "data");
    for (int i = 0; i < s->opt.n_model_names; i++) { /* a card per served name, as vLLM lists them */
        cJSON *card = cJSON_CreateObject();
        cJSON_AddStringToObject(card, "id", want ? want : s->opt.model_names[i]);
        cJSON_AddStringToObject(card, "object", "model");
        cJSON_AddNumberToObject(card, "created", (double)s->started);
        cJSON_AddStringToObject(card, "owned_by", "piston");
        cJSON_AddStringToObject(card, "root", api_model_ref(s));
        cJSON_AddNullToObject(card, "parent");
        cJSON_AddNumberToObject(card, "max_model_len", s->model.max_model_len);
        if (want) {
            cJSON_Delete(out);
            api_send_json(c, 200, card);
            return;
        }
        cJSON_AddItemToArray(data, card);
    }
    api_send_json(c, 200, out);
}

/* The fields both endpoints share. 0, or the HTTP status with err set. */
static int parse_common(Server *s, const cJSON *b, InMsg *m, Job *j, int chat, int *max_tokens, StructSpec *spec,
                        char *err, size_t n) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(b, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) return snprintf(err, n, "'model' must be a string"), 400;
    if (cJSON_IsString(model) && !api_model_matches(s, model->valuestring, 1))
        return snprintf(err, n, "The model `%s` does not exist.", model->valuestring), 404;
    SamplingParams *sp = &m->params.sampling;
    RequestParams *rp = &m->params;
    gen_defaults_apply(sp, &s->model.gen_defaults, 0); /* generation_config.json's, as vLLM applies them */
    int stream = 0, best_of = 0, logprobs_flag = 0, top = -1;
    *max_tokens = chat ? 0 : 16; /* OpenAI's defaults: completions 16, chat the rest of the context */
    if (json_opt_int(b, "n", 1, 64, &rp->n, err, n) || json_opt_int(b, "best_of", 1, 64, &best_of, err, n) ||
        json_opt_int(b, "max_tokens", 1, 1 << 30, max_tokens, err, n) ||
        (chat && json_opt_int(b, "max_completion_tokens", 1, 1 << 30, max_tokens, err, n)) ||
        json_opt_float(b, "temperature", 0, 100, &sp->temperature, err, n) ||
        json_opt_float(b, "top_p", 1e-9f, 1, &sp->top_p, err, n) ||
        json_opt_int(b, "top_k", -1, 1 << 30, &sp->top_k, err, n) ||
        json_opt_float(b, "min_p", 0, 1, &sp->min_p, err, n) ||
        json_opt_float(b, "presence_penalty", -2, 2, &sp->presence_penalty, err, n) ||
        json_opt_float(b, "frequency_penalty", -2, 2, &sp->frequency_penalty, err, n) ||
        json_opt_float(b, "repetition_penalty", 1e-6f, 100, &sp->repetition_penalty, err, n) ||
        json_opt_u64(b, "seed", &sp->seed, &sp->has_seed, err, n) || json_opt_stop(b, "stop", m, err, n) ||
        json_opt_stop_ids(b, "stop_token_ids", m, err, n) || json_opt_bool(b, "ignore_eos", &rp->ignore_eos, err, n) ||
        json_opt_int(b, "min_tokens", 0, 1 << 30, &rp->min_tokens, err, n) ||
        json_opt_bool(b, "skip_special_tokens", &rp->skip_special_tokens, err, n) ||
        json_opt_bool(b, "stream", &stream, err, n))
        return 400;
    if (best_of && best_of != rp->n) return snprintf(err, n, "'best_of' other than 'n' is not supported"), 400;
    if (chat) {
        if (json_opt_bool(b, "logprobs", &logprobs_flag, err, n) ||
            json_opt_int(b, "top_logprobs", 0, SAMPLER_MAX_LOGPROBS, &top, err, n))
            return 400;
        if (top >= 0 && !logprobs_flag) return snprintf(err, n, "'top_logprobs' needs 'logprobs': true"), 400;
        j->opt[OPT_CHAT_LOGPROBS] = logprobs_flag;
        j->logprobs = logprobs_flag ? (top < 0 ? 0 : top) : -1;
    } else {
        if (json_opt_int(b, "logprobs", 0, SAMPLER_MAX_LOGPROBS, &top, err, n) ||
            json_opt_bool(b, "echo", &j->opt[OPT_ECHO], err, n))
            return 400;
        j->logprobs = top;
    }
    int plp = -1;
    if (json_opt_int(b, "prompt_logprobs", 0, SAMPLER_MAX_LOGPROBS, &plp, err, n)) return 400;
    j->opt[OPT_PROMPT_LP] = plp + 1;
    rp->prompt_logprobs = plp;
    if (!chat && j->opt[OPT_ECHO] && j->logprobs >= 0 && j->logprobs > rp->prompt_logprobs) rp->prompt_logprobs = j->logprobs;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(b, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) return snprintf(err, n, "'stream_options' must be an object"), 400;
        if (!stream) return snprintf(err, n, "'stream_options' needs 'stream': true"), 400;
        if (json_opt_bool(so, "include_usage", &j->opt[OPT_USAGE], err, n)) return 400;
    }
    int rc = api_check_fields(b, chat ? FIELDS_OAI_CHAT : FIELDS_OAI_COMPLETION, err, n);
    if (!rc) rc = api_logit_bias(s, b, m, err, n);
    if (!rc) rc = api_structured_openai(b, spec, err, n);
    if (rc) return rc;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(b, "tools");
    if (!chat && tools && !cJSON_IsNull(tools) && cJSON_GetArraySize(tools) > 0)
        return snprintf(err, n, "'tools' are for /v1/chat/completions"), 400;
    sp->logprobs = j->logprobs;
    j->stream = stream;
    j->keep_tokens = j->logprobs >= 0 || !s->model.tok; /* no tokenizer: the ids are the output */
    rp->max_tokens = *max_tokens;
    if (sampling_params_validate(sp, err, n)) return 400;
    if (cJSON_IsString(model)) {
        free(j->model_name);
        j->model_name = strdup(model->valuestring);
    }
    return j->model_name ? 0 : (snprintf(err, n, "out of memory"), 500);
}

/* One token-id prompt: a list of integers in [0, n_vocab). */
static int token_prompt(Server *s, const cJSON *a, InMsg *m, int i, char *err, size_t n) {
    int count = cJSON_GetArraySize(a), k = 0, nv = api_n_vocab(s);
    m->prompts[i] = malloc((size_t)(count ? count : 1) * sizeof(int32_t));
    if (!m->prompts[i]) return err_set(err, n, -ENOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < nv) || e->valuedouble != (int)e->valuedouble)
            return err_set(err, n, -EINVAL, "'prompt' token ids must be integers in [0, %d)", nv);
        m->prompts[i][k++] = (int32_t)e->valuedouble;
    }
    m->n_prompt[i] = k;
    return 0;
}

static char *detok_all(Server *s, const int32_t *ids, int n) {
    size_t step = detok_max_bytes(s->model.tok), cap = (size_t)n * step + 8, len = 0;
    char *t = malloc(cap);
    if (!t) return NULL;
    Detok d;
    detok_init(&d);
    d.first = 1;
    for (int i = 0; i < n; i++) len += detok_push(s->model.tok, &d, ids[i], t + len, cap - len - 4);
    len += detok_flush(&d, t + len, cap - len - 1);
    t[len] = 0;
    return t;
}

/* Submit, or answer the error; takes b, m, j and spec. */
static void submit(Server *s, HttpConn *c, cJSON *b, InMsg *m, Job *j, int max_tokens, StructSpec *spec, char *err,
                   size_t n) {
    cJSON_Delete(b);
    int status = 0;
    api_default_seed(s, m);
    j->check_max_tokens = max_tokens;
    int rc = api_submit(j, m, spec, err, n);
    if (rc > 0) status = rc;
    else if (rc < 0) {
        status = 503;
        snprintf(err, n, "the server is overloaded: %d requests are waiting (--max-queued-requests)",
                 s->opt.max_queued_requests);
    }
    struct_spec_free(spec);
    if (!status) return;
    in_msg_free(m);
    job_free(j);
    api_error(c, DIALECT_OPENAI, status, NULL, "%s", err);
}

void api_openai_completions(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *b = api_parse_body(s, c, DIALECT_OPENAI, r);
    if (!b) return;
    char err[1024] = "";
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "prompt");
    /* how many prompts: a string, [strings], [ints] (one), [[ints]] */
    int np = 0, tokens_list = 0;
    if (cJSON_IsString(p)) np = 1;
    else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
        tokens_list = cJSON_IsNumber(p->child);
        np = tokens_list ? 1 : cJSON_GetArraySize(p);
    }
    if (np == 0 || np > 256) {
        cJSON_Delete(b);
        api_error(c, DIALECT_OPENAI, 400, "prompt", "'prompt' must be a string, a list of strings, a list of token "
                  "ids or a list of lists of token ids (1 to 256 prompts)");
        return;
    }
    InMsg *m = in_msg_new(np);
    StructSpec spec = {-1, NULL, 0};
    int nsamples = 1;
    if (json_opt_int(b, "n", 1, 64, &nsamples, err, sizeof err)) nsamples = 1;
    Job *j = m ? job_new(s, c, &k_ops, DIALECT_OPENAI, np, nsamples) : NULL;
    int status = !m || !j ? 500 : 0, max_tokens = 16, add_special = 1; /* vLLM's add_special_tokens: BOS */
    if (!status && json_opt_bool(b, "add_special_tokens", &add_special, err, sizeof err)) status = 400;
    if (!status && !*err) {
        j->kind = OAI_COMPLETION;
        status = parse_common(s, b, m, j, 0, &max_tokens, &spec, err, sizeof err);
    } else if (*err) {
        status = 400;
    }
    if (!status && j->opt[OPT_ECHO] && !(j->prompt_texts = calloc((size_t)np, sizeof(char *)))) status = 500;
    for (int i = 0; !status && i < np; i++) {
        const cJSON *e = cJSON_IsString(p) ? p : tokens_list ? p : cJSON_GetArrayItem(p, i);
        if (cJSON_IsString(e)) {
            if (api_add_text_prompt(s, m, i, e->valuestring, add_special, 1)) snprintf(err, sizeof err, "out of memory"), status = 500;
            else if (j->prompt_texts && !(j->prompt_texts[i] = strdup(e->valuestring))) status = 500;
        } else if (cJSON_IsArray(e) && (cJSON_GetArraySize(e) == 0 || cJSON_IsNumber(e->child))) {
            if (token_prompt(s, e, m, i, err, sizeof err)) status = 400;
            else if (j->prompt_texts && !(j->prompt_texts[i] = detok_all(s, m->prompts[i], m->n_prompt[i]))) status = 500;
        } else {
            snprintf(err, sizeof err, "'prompt' lists must hold only strings or only token-id lists");
            status = 400;
        }
    }
    if (status) {
        cJSON_Delete(b);
        in_msg_free(m);
        job_free(j);
        struct_spec_free(&spec);
        api_error(c, DIALECT_OPENAI, status, NULL, "%s", *err ? err : "out of memory"); /* param: the field err names */
        return;
    }
    j->keep_prompt_ids = (j->opt[OPT_ECHO] && j->logprobs >= 0) || j->opt[OPT_PROMPT_LP];
    api_make_id(s, "cmpl-", j->id, sizeof j->id);
    submit(s, c, b, m, j, max_tokens, &spec, err, sizeof err);
}

void api_openai_chat(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *b = api_parse_body(s, c, DIALECT_OPENAI, r);
    if (!b) return;
    char err[1024] = "";
    int nsamples = 1, status = 0, max_tokens = 0;
    if (json_opt_int(b, "n", 1, 64, &nsamples, err, sizeof err)) status = 400;
    InMsg *m = status ? NULL : in_msg_new(1);
    Job *j = m ? job_new(s, c, &k_ops, DIALECT_OPENAI, 1, nsamples) : NULL;
    StructSpec spec = {-1, NULL, 0};
    if (!status && (!m || !j)) status = 500, snprintf(err, sizeof err, "out of memory");
    if (!status) {
        j->kind = OAI_CHAT;
        status = parse_common(s, b, m, j, 1, &max_tokens, &spec, err, sizeof err);
    }
    ChatPrompt text = {0};
    ToolReq tr;
    if (!status)
        status = api_tools_request(s, cJSON_GetObjectItemCaseSensitive(b, "tools"), cJSON_GetObjectItemCaseSensitive(b, "tool_choice"),
                                   cJSON_GetObjectItemCaseSensitive(b, "parallel_tool_calls"), &tr, &spec, err, sizeof err);
    if (!status && tr.active && !(j->ext = tool_state_new(&tr, j->n_choices))) status = 500, snprintf(err, sizeof err, "out of memory");
    if (!status && tr.active) j->ext_free = (void (*)(void *))tool_state_free;
    ConvEnd end = CONV_GENERATE;
    if (!status && api_conversation_end(b, &end, err, sizeof err)) status = 400;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(b, "messages");
    if (!status && api_render_conversation_end(s, msgs, NULL, tr.tools, end, &text, err, sizeof err)) status = 400;
    if (!status && api_add_chat_prompt(s, m, 0, &text)) status = 500, snprintf(err, sizeof err, "out of memory");
    chat_prompt_free(&text);
    if (status) {
        cJSON_Delete(b);
        in_msg_free(m);
        job_free(j);
        struct_spec_free(&spec);
        api_error(c, DIALECT_OPENAI, status, NULL, "%s", err);
        return;
    }
    api_make_id(s, "chatcmpl-", j->id, sizeof j->id);
    submit(s, c, b, m, j, max_tokens, &spec, err, sizeof err);
}
