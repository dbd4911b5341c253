/* The Ollama dialect's generation routes: POST /api/generate (a prompt, through the chat
 * template unless raw) and POST /api/chat (messages), streamed as NDJSON by default
 * (stream:false gives one object). The last object has done, done_reason, context
 * (/api/generate), prompt_eval_count, eval_count and durations in nanoseconds. `options`
 * map onto RequestParams with Ollama's defaults (temperature 0.8, top_k 40, top_p 0.9,
 * repeat_penalty 1.1); num_ctx narrows the context within --max-model-len. An empty prompt
 * (or no messages) only "loads" the model, as in Ollama: done_reason "load". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_common.h"
#include "server/api_structured.h"
#include "server/api_tools.h"

enum { OLL_GENERATE = 0, OLL_CHAT = 1 };

static cJSON *head(Job *j) {
    char t[48];
    api_iso_time(t, sizeof t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", j->model_name);
    cJSON_AddStringToObject(o, "created_at", t);
    return o;
}

static void add_text(Job *j, cJSON *o, const char *text) {
    if (j->kind == OLL_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
    } else {
        cJSON_AddStringToObject(o, "response", text);
    }
}

static void send_line(Job *j, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    size_t n = strlen(s);
    s[n] = '\n'; /* the NUL becomes the line's end; the length says where it stops */
    job_stream_send(j, s, n + 1);
    free(s);
}

int api_ollama_tool_delta(Job *j, Choice *ch, int final, char **content, cJSON **calls); /* api_ollama_tools.c */
void api_ollama_tool_message(Job *j, Choice *ch, cJSON *msg);

/* Streamed tools: a line for new content and newly complete calls. */
static void tool_line(Job *j, Choice *ch, int final) {
    char *content;
    cJSON *calls;
    if (api_ollama_tool_delta(j, ch, final, &content, &calls) || (!content && !calls)) return;
    cJSON *o = head(j), *msg = cJSON_AddObjectToObject(o, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", content ? content : "");
    if (calls) cJSON_AddItemToObject(msg, "tool_calls", calls);
    cJSON_AddBoolToObject(o, "done", 0);
    free(content);
    send_line(j, o);
}

static void on_output(Job *j, int idx, Choice *ch, const OutMsg *m) {
    if (j->stream && j->ext) return tool_line(j, ch, 0);
    if (!j->stream || m->text_len == 0) return;
    cJSON *o = head(j);
    add_text(j, o, m->text);
    cJSON_AddBoolToObject(o, "done", 0);
    send_line(j, o);
}

static void add_done(Job *j, cJSON *o, const Choice *ch) {
    double now = engine_now();
    cJSON_AddBoolToObject(o, "done", 1);
    cJSON_AddStringToObject(o, "done_reason", ch->finish == FINISH_LENGTH ? "length" : "stop");
    if (j->kind == OLL_GENERATE && j->prompt_ids) { /* the conversation so far, for the next call's context */
        cJSON *ctx = cJSON_AddArrayToObject(o, "context");
        for (int i = 0; i < j->prompt_lens[0]; i++) cJSON_AddItemToArray(ctx, cJSON_CreateNumber(j->prompt_ids[0][i]));
        for (int i = 0; i < ch->n_tokens; i++) cJSON_AddItemToArray(ctx, cJSON_CreateNumber(ch->tokens[i]));
    }
    double first = ch->t_first_token > 0 ? ch->t_first_token : ch->t_last;
    cJSON_AddNumberToObject(o, "total_duration", (double)(int64_t)((now - j->t_arrival) * 1e9));
    cJSON_AddNumberToObject(o, "load_duration", 0);
    cJSON_AddNumberToObject(o, "prompt_eval_count", ch->n_prompt);
    cJSON_AddNumberToObject(o, "prompt_eval_duration", (double)(int64_t)((first - ch->t_first_scheduled) * 1e9));
    cJSON_AddNumberToObject(o, "eval_count", ch->n_output);
    cJSON_AddNumberToObject(o, "eval_duration", (double)(int64_t)((ch->t_last - first) * 1e9));
}

static void on_finish(Job *j) {
    Choice *ch = &j->choices[0];
    if (j->stream && j->ext) tool_line(j, ch, 1);
    cJSON *o = head(j);
    if (!j->stream && j->ext) {
        cJSON *msg = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        api_ollama_tool_message(j, ch, msg);
    } else {
        add_text(j, o, j->stream ? "" : ch->text ? ch->text : "");
    }
    add_done(j, o, ch);
    if (!j->stream) {
        job_respond_json(j, o);
        return;
    }
    send_line(j, o);
    job_end_stream(j);
}

static const JobOps k_ops = {"application/x-ndjson", on_output, on_finish};

/* options → m. 0, or 400 with err set. *num_predict: -1 until the context ends. */
static int parse_options(Server *s, const cJSON *o, InMsg *m, int *num_predict, int *num_ctx, char *err, size_t n) {
    SamplingParams *sp = &m->params.sampling;
    sp->temperature = 0.8f, sp->top_k = 40, sp->top_p = 0.9f, sp->repetition_penalty = 1.1f;
    gen_defaults_apply(sp, &s->model.gen_defaults, 0); /* the model's over Ollama's, the request's over both */
    *num_predict = -1;
    *num_ctx = s->model.max_model_len;
    if (!o) return 0;
    if (!cJSON_IsObject(o)) return snprintf(err, n, "'options' must be an object"), 400;
    if (json_opt_int(o, "num_predict", -2, 1 << 30, num_predict, err, n) ||
        json_opt_int(o, "num_ctx", 1, 1 << 30, num_ctx, err, n) ||
        json_opt_float(o, "temperature", 0, 100, &sp->temperature, err, n) ||
        json_opt_int(o, "top_k", -1, 1 << 30, &sp->top_k, err, n) ||
        json_opt_float(o, "top_p", 1e-6f, 1, &sp->top_p, err, n) || json_opt_float(o, "min_p", 0, 1, &sp->min_p, err, n) ||
        json_opt_float(o, "repeat_penalty", 1e-6f, 100, &sp->repetition_penalty, err, n) ||
        json_opt_float(o, "presence_penalty", -2, 2, &sp->presence_penalty, err, n) ||
        json_opt_float(o, "frequency_penalty", -2, 2, &sp->frequency_penalty, err, n) ||
        json_opt_u64(o, "seed", &sp->seed, &sp->has_seed, err, n) || json_opt_stop(o, "stop", m, err, n))
        return 400;
    if (*num_ctx > s->model.max_model_len) *num_ctx = s->model.max_model_len; /* the server's context bounds it */
    return sampling_params_validate(sp, err, n) ? 400 : 0;
}

static void load_only(Server *s, HttpConn *c, int chat, const char *model) {
    char t[48];
    api_iso_time(t, sizeof t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "created_at", t);
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", "");
    } else {
        cJSON_AddStringToObject(o, "response", "");
    }
    cJSON_AddBoolToObject(o, "done", 1);
    cJSON_AddStringToObject(o, "done_reason", "load");
    api_send_json(c, 200, o);
}

/* Whether any message carries a non-empty images list (litellm's ollama provider sends an
 * empty one with every message, which is fine). */
static int messages_have_images(const cJSON *messages) {
    const cJSON *e;
    if (!cJSON_IsArray(messages)) return 0;
    cJSON_ArrayForEach(e, messages) {
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(e, "images");
        if (im && !cJSON_IsNull(im) && !(cJSON_IsArray(im) && cJSON_GetArraySize(im) == 0)) return 1;
    }
    return 0;
}

enum { OPT_NUM_CTX = 6, OPT_NUM_PREDICT = 7 }; /* Job.opt: what fit_context needs */

/* Once the prompt is tokens: it must fit num_ctx, and max_tokens is what num_predict asks
 * within the room left. */
static int fit_context(Job *j, InMsg *m, char *err, size_t n) {
    int num_ctx = j->opt[OPT_NUM_CTX], num_predict = j->opt[OPT_NUM_PREDICT], room = num_ctx - m->n_prompt[0];
    if (m->n_prompt[0] >= num_ctx)
        return snprintf(err, n, "the prompt (%d tokens) does not fit the context (num_ctx %d, --max-model-len %d)",
                        m->n_prompt[0], num_ctx, j->srv->model.max_model_len), 400;
    /* -1 (and -2): until the context is full */
    m->params.max_tokens = num_predict > 0 && num_predict < room ? num_predict : room;
    if (num_predict == 0) m->params.max_tokens = 1; /* Ollama evaluates the prompt only; one token is our least */
    return 0;
}

static void handle(Server *s, HttpConn *c, HttpRequest *r, int chat) {
    cJSON *b = api_parse_body(s, c, DIALECT_OLLAMA, r);
    if (!b) return;
    char err[1024] = "";
    int status = 0, stream = 1, raw = 0, num_predict = -1, num_ctx = 0;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(b, "model");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(b, "prompt");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(b, "messages");
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(b, "system");
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(b, "context");
    InMsg *m = NULL;
    Job *j = NULL;
    StructSpec spec = {-1, NULL, 0};
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(b, "images");
    if (!cJSON_IsString(model) || !*model->valuestring) status = 400, snprintf(err, sizeof err, "model is required");
    else if (!api_model_matches(s, model->valuestring, 0))
        status = 404, snprintf(err, sizeof err, "model '%s' not found", model->valuestring);
    else if (json_opt_bool(b, "stream", &stream, err, sizeof err) || json_opt_bool(b, "raw", &raw, err, sizeof err))
        status = 400;
    else if (api_structured_ollama(b, &spec, err, sizeof err))
        status = 400;
    else if (images && !cJSON_IsNull(images) && !(cJSON_IsArray(images) && cJSON_GetArraySize(images) == 0))
        status = 400, snprintf(err, sizeof err, "'images' is not supported: %s is a text model", model->valuestring);
    else if (chat && messages_have_images(messages))
        status = 400, snprintf(err, sizeof err, "'images' in messages are not supported: %s is a text model", model->valuestring);
    else if (api_check_fields(b, chat ? FIELDS_OLLAMA_CHAT : FIELDS_OLLAMA_GENERATE, err, sizeof err) ||
             api_check_fields(cJSON_GetObjectItemCaseSensitive(b, "options"), FIELDS_OLLAMA_OPTIONS, err, sizeof err))
        status = 400;
    else if (!chat && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "tools")) > 0)
        status = 400, snprintf(err, sizeof err, "'tools' are for /api/chat");
    else if (chat ? !messages || (cJSON_IsArray(messages) && cJSON_GetArraySize(messages) == 0)
                  : !prompt || (cJSON_IsString(prompt) && !*prompt->valuestring)) {
        load_only(s, c, chat, model->valuestring);
        struct_spec_free(&spec);
        cJSON_Delete(b);
        return;
    } else if (!chat && !cJSON_IsString(prompt)) status = 400, snprintf(err, sizeof err, "'prompt' must be a string");
    else if (system && !cJSON_IsNull(system) && !cJSON_IsString(system))
        status = 400, snprintf(err, sizeof err, "'system' must be a string");
    if (!status && (!(m = in_msg_new(1)) || !(j = job_new(s, c, &k_ops, DIALECT_OLLAMA, 1, 1))))
        status = 500, snprintf(err, sizeof err, "out of memory");
    if (!status) {
        j->kind = chat ? OLL_CHAT : OLL_GENERATE;
        j->stream = stream;
        j->keep_tokens = !chat; /* the context of /api/generate */
        free(j->model_name);
        j->model_name = strdup(model->valuestring);
        status = parse_options(s, cJSON_GetObjectItemCaseSensitive(b, "options"), m, &num_predict, &num_ctx, err,
                               sizeof err);
    }
    ToolReq tr = {0};
    if (!status && chat) /* Ollama has no tool_choice: the model chooses */
        status = api_tools_request(s, cJSON_GetObjectItemCaseSensitive(b, "tools"), NULL, NULL, &tr, &spec, err, sizeof err);
    if (!status && tr.active) {
        if (!(j->ext = tool_state_new(&tr, 1))) status = 500, snprintf(err, sizeof err, "out of memory");
        else j->ext_free = (void (*)(void *))tool_state_free;
    }
    ChatPrompt text = {0};
    if (!status && chat) {
        if (api_render_conversation(s, messages, NULL, tr.tools, &text, err, sizeof err)) status = 400;
    } else if (!status && !raw) {
        cJSON *one = cJSON_CreateArray(), *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", "user");
        cJSON_AddStringToObject(msg, "content", prompt->valuestring);
        cJSON_AddItemToArray(one, msg);
        if (api_render_conversation(s, one, cJSON_IsString(system) ? system->valuestring : NULL, NULL, &text, err, sizeof err))
            status = 400;
        cJSON_Delete(one);
    }
    if (!status && !chat && cJSON_IsArray(ctx) && cJSON_GetArraySize(ctx) > 0) { /* continue an earlier context */
        int nc = cJSON_GetArraySize(ctx), k = 0, nv = api_n_vocab(s);
        int32_t *ids = malloc((size_t)nc * sizeof *ids);
        const cJSON *e;
        cJSON_ArrayForEach(e, ctx) {
            if (ids && cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < nv &&
                e->valuedouble == (int)e->valuedouble) /* the range first: (int)1e40 is undefined */
                ids[k++] = (int32_t)e->valuedouble;
        }
        if (!ids || k != nc) status = 400, snprintf(err, sizeof err, "'context' must be a list of token ids"), free(ids);
        else m->prompts[0] = ids, m->n_prompt[0] = nc; /* the prompt's ids follow these */
    }
    /* raw: the client wrote the whole prompt, special tokens and all, as with /v1/completions */
    if (!status && (raw ? api_add_text_prompt(s, m, 0, prompt->valuestring, 1, 1) : api_add_chat_prompt(s, m, 0, &text)))
        status = 500, snprintf(err, sizeof err, "out of memory");
    chat_prompt_free(&text);
    cJSON_Delete(b);
    if (!status) {
        j->opt[OPT_NUM_CTX] = num_ctx, j->opt[OPT_NUM_PREDICT] = num_predict;
        j->on_prompts = fit_context;
        j->keep_prompt_ids = !chat; /* the context of the answer */
        api_default_seed(s, m);
        int rc = api_submit(j, m, &spec, err, sizeof err);
        if (rc > 0) status = rc;
        else if (rc < 0) status = 503, snprintf(err, sizeof err, "server busy, please try again.  maximum pending requests exceeded");
    }
    struct_spec_free(&spec);
    if (!status) return;
    in_msg_free(m);
    job_free(j);
    api_error(c, DIALECT_OLLAMA, status, NULL, "%s", err);
}

void api_ollama_generate(Server *s, HttpConn *c, HttpRequest *r) { handle(s, c, r, 0); }
void api_ollama_chat(Server *s, HttpConn *c, HttpRequest *r) { handle(s, c, r, 1); }
