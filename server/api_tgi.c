/* The TGI dialect (text-generation-inference's router): POST /generate, POST
 * /generate_stream (SSE token events, the last carrying generated_text and details),
 * POST / (the compat route: a "stream" flag chooses), GET /info. The `parameters` object
 * maps onto RequestParams; decoding is greedy unless do_sample or a warper (temperature,
 * top_k, top_p) asks for sampling, as TGI decides. Errors are {"error", "error_type"}: 422
 * for validation, 429 "Model is overloaded" when the queue is full.
 *
 * decoder_input_details gives the prompt's tokens with their logprobs (the first one null),
 * computed from the logits of every prompt position. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_common.h"
#include "server/api_structured.h"
#include "base/version.h"

enum { OPT_DETAILS = 0, OPT_FULL_TEXT, OPT_TOP_N, OPT_COMPAT, OPT_PREFILL, OPT_INDEX };

static const char *tgi_finish(const Job *j, const Choice *ch) {
    if (ch->finish == FINISH_LENGTH) return "length";
    int stop_id = ch->stop_token >= 0 && !tokenizer_is_eog(j->srv->model.tok, ch->stop_token);
    return ch->stop_reason || stop_id ? "stop_sequence" : "eos_token";
}

static cJSON *token_obj(Job *j, int32_t id, const char *text, const SampleResult *lp) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    char *own = text ? NULL : api_token_text(j->srv, id);
    cJSON_AddStringToObject(t, "text", text ? text : own ? own : "");
    free(own);
    if (lp) cJSON_AddNumberToObject(t, "logprob", lp->logprob);
    else cJSON_AddNullToObject(t, "logprob");
    cJSON_AddBoolToObject(t, "special", tokenizer_is_control(j->srv->model.tok, id) ||
                                            tokenizer_is_eog(j->srv->model.tok, id));
    return t;
}

static cJSON *top_tokens(Job *j, const SampleResult *lp) {
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; lp && k < lp->n_top && k < j->opt[OPT_TOP_N]; k++) {
        SampleResult one = {.id = lp->top[k].id, .logprob = lp->top[k].logprob};
        cJSON_AddItemToArray(a, token_obj(j, one.id, NULL, &one));
    }
    return a;
}

static char *full_text(Job *j, const Choice *ch) {
    const char *pre = j->opt[OPT_FULL_TEXT] && j->prompt_texts ? j->prompt_texts[0] : "";
    size_t a = strlen(pre);
    char *t = malloc(a + ch->text_len + 1);
    if (!t) return NULL;
    memcpy(t, pre, a);
    if (ch->text_len) memcpy(t + a, ch->text, ch->text_len);
    t[a + ch->text_len] = 0;
    return t;
}

static void send_event(Job *j, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    size_t n = strlen(s);
    char *ev = malloc(n + 8);
    if (ev) { /* TGI writes "data:" without a space; SSE allows both */
        memcpy(ev, "data:", 5), memcpy(ev + 5, s, n), memcpy(ev + 5 + n, "\n\n", 2);
        job_stream_send(j, ev, n + 7);
        free(ev);
    }
    free(s);
}

static void on_output(Job *j, int idx, Choice *ch, const OutMsg *m) {
    if (!j->stream) return;
    int done = m->finish != FINISH_NONE;
    int n = m->n_tokens;
    if (n == 0 && !done) return;
    /* one event per token; the step's text rides on its last token */
    for (int i = 0; i < (n ? n : 1); i++) {
        int last = i == (n ? n : 1) - 1;
        int32_t id = n ? m->tokens[i] : (ch->n_tokens ? ch->tokens[ch->n_tokens - 1] : 0);
        const SampleResult *lp = n && m->lps ? &m->lps[i] : NULL;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", ++j->opt[OPT_INDEX]);
        cJSON_AddItemToObject(o, "token", token_obj(j, id, last ? m->text : "", lp));
        if (j->opt[OPT_TOP_N] > 0) cJSON_AddItemToObject(o, "top_tokens", top_tokens(j, lp));
        if (last && done) {
            char *t = full_text(j, ch);
            cJSON_AddStringToObject(o, "generated_text", t ? t : "");
            free(t);
            cJSON *d = cJSON_AddObjectToObject(o, "details");
            cJSON_AddStringToObject(d, "finish_reason", tgi_finish(j, ch));
            cJSON_AddNumberToObject(d, "generated_tokens", ch->n_output);
            if (j->has_seed) cJSON_AddNumberToObject(d, "seed", (double)j->seed);
            else cJSON_AddNullToObject(d, "seed");
            cJSON_AddNumberToObject(d, "input_length", j->prompt_lens[0]);
        } else {
            cJSON_AddNullToObject(o, "generated_text");
            cJSON_AddNullToObject(o, "details");
        }
        send_event(j, o);
    }
}

static void on_finish(Job *j) {
    if (j->stream) {
        job_end_stream(j);
        return;
    }
    Choice *ch = &j->choices[0];
    cJSON *o = cJSON_CreateObject();
    char *t = full_text(j, ch);
    cJSON_AddStringToObject(o, "generated_text", t ? t : "");
    free(t);
    if (j->opt[OPT_DETAILS]) {
        cJSON *d = cJSON_AddObjectToObject(o, "details");
        cJSON_AddStringToObject(d, "finish_reason", tgi_finish(j, ch));
        cJSON_AddNumberToObject(d, "generated_tokens", ch->n_output);
        if (j->has_seed) cJSON_AddNumberToObject(d, "seed", (double)j->seed);
        else cJSON_AddNullToObject(d, "seed");
        cJSON *pre = cJSON_AddArrayToObject(d, "prefill");
        for (int i = 0; j->opt[OPT_PREFILL] && j->prompt_ids && i < j->prompt_lens[0]; i++) {
            const SampleResult *lp = ch->prompt_lps && i > 0 ? &ch->prompt_lps[i] : NULL;
            cJSON *p = token_obj(j, j->prompt_ids[0][i], NULL, lp);
            cJSON_DeleteItemFromObject(p, "special");
            cJSON_AddItemToArray(pre, p);
        }
        cJSON *toks = cJSON_AddArrayToObject(d, "tokens");
        for (int i = 0; i < ch->n_tokens; i++)
            cJSON_AddItemToArray(toks, token_obj(j, ch->tokens[i], NULL, ch->lps ? &ch->lps[i] : NULL));
        if (j->opt[OPT_TOP_N] > 0) {
            cJSON *tt = cJSON_AddArrayToObject(d, "top_tokens");
            for (int i = 0; i < ch->n_tokens; i++) cJSON_AddItemToArray(tt, top_tokens(j, ch->lps ? &ch->lps[i] : NULL));
        }
    }
    if (j->opt[OPT_COMPAT]) { /* POST / answers a list */
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, o);
        o = a;
    }
    job_respond_json(j, o);
}

static const JobOps k_ops = {"text/event-stream; charset=utf-8", on_output, on_finish};

static int given(const cJSON *p, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    return v && !cJSON_IsNull(v);
}

/* Parse parameters into m and j. 0, or an HTTP status with err set. */
static int parse_params(Server *s, const cJSON *p, InMsg *m, Job *j, int *max_new, StructSpec *spec, char *err, size_t n) {
    SamplingParams *sp = &m->params.sampling;
    int do_sample = 0, best_of = 1, watermark = 0, top_n = 0;
    float typical_p = 1.0f;
    *max_new = 100; /* TGI's default */
    if (p && !cJSON_IsObject(p)) return snprintf(err, n, "'parameters' must be an object"), 422;
    gen_defaults_apply(sp, &s->model.gen_defaults, 0); /* generation_config.json's; the request's win */
    if (json_opt_int(p, "best_of", 1, 1, &best_of, err, n) || json_opt_bool(p, "do_sample", &do_sample, err, n) ||
        json_opt_float(p, "temperature", 1e-6f, 100, &sp->temperature, err, n) ||
        json_opt_float(p, "repetition_penalty", 1e-6f, 100, &sp->repetition_penalty, err, n) ||
        json_opt_float(p, "frequency_penalty", -2, 2, &sp->frequency_penalty, err, n) ||
        json_opt_int(p, "top_k", 1, 1 << 30, &sp->top_k, err, n) ||
        json_opt_float(p, "top_p", 1e-6f, 1, &sp->top_p, err, n) ||
        json_opt_float(p, "typical_p", 1e-6f, 1, &typical_p, err, n) ||
        json_opt_int(p, "max_new_tokens", 1, 1 << 30, max_new, err, n) ||
        json_opt_bool(p, "return_full_text", &j->opt[OPT_FULL_TEXT], err, n) || json_opt_stop(p, "stop", m, err, n) ||
        json_opt_bool(p, "watermark", &watermark, err, n) || json_opt_bool(p, "details", &j->opt[OPT_DETAILS], err, n) ||
        json_opt_bool(p, "decoder_input_details", &j->opt[OPT_PREFILL], err, n) ||
        json_opt_u64(p, "seed", &sp->seed, &sp->has_seed, err, n) ||
        json_opt_int(p, "top_n_tokens", 0, SAMPLER_MAX_LOGPROBS, &top_n, err, n))
        return 422;
    if (typical_p < 1.0f) return snprintf(err, n, "'typical_p' is not supported"), 422;
    if (watermark) return snprintf(err, n, "'watermark' is not supported"), 422;
    if (api_check_fields(p, FIELDS_TGI_PARAMS, err, n) || api_structured_tgi(p, spec, err, n)) return 422;
    /* TGI samples when asked to or when the request sets a warper; otherwise it is greedy
     * (generation_config.json's warpers apply when it samples, its repetition_penalty always) */
    int warpers = (given(p, "temperature") && sp->temperature != 1.0f) || (given(p, "top_k") && sp->top_k > 0) ||
                  (given(p, "top_p") && sp->top_p < 1.0f);
    if (!do_sample && !warpers) sp->temperature = 0;
    j->opt[OPT_TOP_N] = top_n;
    j->keep_tokens = 1;
    sp->logprobs = top_n; /* every TGI token carries its logprob */
    if (j->opt[OPT_PREFILL]) m->params.prompt_logprobs = 0;
    m->params.max_tokens = *max_new;
    if (sampling_params_validate(sp, err, n)) return 422;
    return 0;
}

static void generate(Server *s, HttpConn *c, HttpRequest *r, int stream, int compat) {
    cJSON *b = api_parse_body(s, c, DIALECT_TGI, r);
    if (!b) return;
    /* TGI serves one model and takes any model field (huggingface_hub's clients send one):
     * dropped before the fields are checked, which would refuse it */
    cJSON_DeleteItemFromObjectCaseSensitive(b, "model");
    char err[1024] = "";
    int status = 0, max_new = 100;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(b, "inputs");
    if (compat && json_opt_bool(b, "stream", &stream, err, sizeof err)) status = 422;
    InMsg *m = in_msg_new(1);
    Job *j = m ? job_new(s, c, &k_ops, DIALECT_TGI, 1, 1) : NULL;
    StructSpec spec = {-1, NULL, 0};
    if (!m || !j) status = 500, snprintf(err, sizeof err, "out of memory");
    if (!status && api_check_fields(b, FIELDS_TGI, err, sizeof err)) status = 422;
    if (!status && !cJSON_IsString(inputs)) status = 422, snprintf(err, sizeof err, "'inputs' must be a string");
    if (!status && !*inputs->valuestring) status = 422, snprintf(err, sizeof err, "'inputs' cannot be empty");
    if (!status) {
        j->stream = stream;
        j->opt[OPT_COMPAT] = compat && !stream;
        status = parse_params(s, cJSON_GetObjectItemCaseSensitive(b, "parameters"), m, j, &max_new, &spec, err, sizeof err);
    }
    if (!status && api_add_text_prompt(s, m, 0, inputs->valuestring, 1, 1))
        status = 500, snprintf(err, sizeof err, "out of memory");
    if (!status && j->opt[OPT_FULL_TEXT] &&
        (!(j->prompt_texts = calloc(1, sizeof(char *))) || !(j->prompt_texts[0] = strdup(inputs->valuestring))))
        status = 500, snprintf(err, sizeof err, "out of memory");
    cJSON_Delete(b);
    api_default_seed(s, m);
    if (!status) {
        j->keep_prompt_ids = j->opt[OPT_PREFILL];
        j->check_max_tokens = max_new, j->length_status = 422;
        int rc = api_submit(j, m, &spec, err, sizeof err);
        if (rc > 0) status = rc;
        else if (rc < 0) status = 429, snprintf(err, sizeof err, "Model is overloaded");
    }
    struct_spec_free(&spec);
    if (!status) return;
    in_msg_free(m);
    job_free(j);
    api_error(c, DIALECT_TGI, status, NULL, "%s", err);
}

void api_tgi_generate(Server *s, HttpConn *c, HttpRequest *r) { generate(s, c, r, 0, 0); }
void api_tgi_generate_stream(Server *s, HttpConn *c, HttpRequest *r) { generate(s, c, r, 1, 0); }
void api_tgi_compat(Server *s, HttpConn *c, HttpRequest *r) { generate(s, c, r, 0, 1); }

void api_tgi_info(Server *s, HttpConn *c, HttpRequest *r) {
    const EngineArgs *ea = &s->opt.engine;
    const ModelFacts *f = &s->model;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_id", s->opt.model_name);
    cJSON_AddNullToObject(o, "model_sha");
    cJSON_AddStringToObject(o, "model_dtype", f->quant);
    cJSON_AddStringToObject(o, "model_device_type", "cpu");
    cJSON_AddStringToObject(o, "model_pipeline_tag", "text-generation");
    cJSON_AddNumberToObject(o, "max_concurrent_requests", ea->max_num_seqs + s->opt.max_queued_requests);
    cJSON_AddNumberToObject(o, "max_best_of", 1);
    cJSON_AddNumberToObject(o, "max_stop_sequences", ENGINE_MAX_STOP);
    cJSON_AddNumberToObject(o, "max_input_tokens", f->max_model_len - 1);
    cJSON_AddNumberToObject(o, "max_input_length", f->max_model_len - 1);
    cJSON_AddNumberToObject(o, "max_total_tokens", f->max_model_len);
    cJSON_AddNumberToObject(o, "waiting_served_ratio", 1.2);
    cJSON_AddNumberToObject(o, "max_batch_total_tokens", (double)(f->stats.num_blocks * f->stats.block_size));
    cJSON_AddNumberToObject(o, "max_waiting_tokens", 20);
    cJSON_AddNumberToObject(o, "max_batch_size", ea->max_num_seqs);
    cJSON_AddNumberToObject(o, "validation_workers", 1);
    cJSON_AddNumberToObject(o, "max_client_batch_size", 1);
    cJSON_AddStringToObject(o, "router", "piston");
    cJSON_AddStringToObject(o, "version", PISTON_VERSION);
    cJSON_AddNullToObject(o, "sha");
    cJSON_AddNullToObject(o, "docker_label");
    api_send_json(c, 200, o);
}
