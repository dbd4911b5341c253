/* POST /v1/messages (see api_anthropic.c for the request): the handler, and the answer as
 * Anthropic gives it: a message {id, type, role, model, content blocks (text, tool_use),
 * stop_reason (end_turn, max_tokens, stop_sequence, tool_use), stop_sequence, usage}, or a
 * stream of its events: message_start, content_block_start, content_block_delta (text_delta,
 * input_json_delta), content_block_stop, message_delta, message_stop. Tool calls are read
 * by the same parser as the other dialects (api_tools.h) and become tool_use blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_anthropic.h"

enum { OPT_BLOCK = 0 /* blocks opened */, OPT_OPEN /* 0 none, 1 text, 2 tool_use */, OPT_STARTED };

static void event(Job *j, const char *type, cJSON *o) {
    cJSON_AddStringToObject(o, "type", type);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    size_t n = strlen(s) + strlen(type) + 32;
    char *ev = malloc(n);
    if (ev) {
        int k = snprintf(ev, n, "event: %s\ndata: %s\n\n", type, s);
        job_stream_send(j, ev, (size_t)k);
        free(ev);
    }
    free(s);
}

static cJSON *usage(const Choice *ch) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", ch->n_prompt);
    cJSON_AddNumberToObject(u, "output_tokens", ch->n_output);
    return u;
}

static cJSON *message(Job *j, const Choice *ch) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    cJSON_AddStringToObject(o, "model", j->model_name);
    return o;
}

static const char *stop_reason(Job *j, const Choice *ch) {
    if (ch->finish == FINISH_LENGTH) return "max_tokens";
    if (ch->stop_reason) return "stop_sequence";
    if (j->ext && tool_state_has_calls(j->ext, 0)) return "tool_use";
    return "end_turn";
}

static void block_start(Job *j, int tool, const ToolCallOut *call) {
    cJSON *o = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(o, "content_block");
    cJSON_AddNumberToObject(o, "index", j->opt[OPT_BLOCK]);
    cJSON_AddStringToObject(b, "type", tool ? "tool_use" : "text");
    if (tool) {
        cJSON_AddStringToObject(b, "id", call->id);
        cJSON_AddStringToObject(b, "name", call->name);
        cJSON_AddObjectToObject(b, "input");
    } else cJSON_AddStringToObject(b, "text", "");
    event(j, "content_block_start", o);
    j->opt[OPT_OPEN] = tool ? 2 : 1;
}

static void block_stop(Job *j) {
    if (!j->opt[OPT_OPEN]) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", j->opt[OPT_BLOCK]++);
    event(j, "content_block_stop", o);
    j->opt[OPT_OPEN] = 0;
}

static void delta(Job *j, int tool, const char *t, size_t len) {
    if (len == 0) return;
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(o, "delta");
    cJSON_AddNumberToObject(o, "index", j->opt[OPT_BLOCK]);
    char *s = strndup(t, len);
    cJSON_AddStringToObject(d, "type", tool ? "input_json_delta" : "text_delta");
    cJSON_AddStringToObject(d, tool ? "partial_json" : "text", s ? s : "");
    free(s);
    event(j, "content_block_delta", o);
}

static void on_output(Job *j, int idx, Choice *ch, const OutMsg *m) {
    if (!j->stream) return;
    if (!j->opt[OPT_STARTED]) {
        cJSON *o = cJSON_CreateObject(), *msg = message(j, ch);
        cJSON_AddArrayToObject(msg, "content");
        cJSON_AddNullToObject(msg, "stop_reason");
        cJSON_AddNullToObject(msg, "stop_sequence");
        cJSON *u = usage(ch);
        cJSON_ReplaceItemInObject(u, "output_tokens", cJSON_CreateNumber(0));
        cJSON_AddItemToObject(msg, "usage", u);
        cJSON_AddItemToObject(o, "message", msg);
        event(j, "message_start", o);
        j->opt[OPT_STARTED] = 1;
    }
    if (!j->ext) { /* one text block */
        if (!j->opt[OPT_OPEN]) block_start(j, 0, NULL);
        delta(j, 0, m->text, m->text_len);
        return;
    }
    ToolState *ts = j->ext;
    if (tool_state_feed(j->srv, ts, 0, ch->text ? ch->text : "", ch->text_len, m->finish != FINISH_NONE)) return;
    ToolChoiceState *c = &ts->ch[0];
    if (c->content_len > c->content_sent) {
        if (j->opt[OPT_OPEN] != 1) block_stop(j), block_start(j, 0, NULL);
        delta(j, 0, c->content + c->content_sent, c->content_len - c->content_sent);
        c->content_sent = c->content_len;
    }
    for (int k = 0; k < c->n_calls; k++) {
        ToolCallOut *call = &c->calls[k];
        if (!call->announced) block_stop(j), block_start(j, 1, call), call->announced = 1;
        delta(j, 1, call->args + call->args_sent, call->args_len - call->args_sent);
        call->args_sent = call->args_len;
    }
}

static void on_finish(Job *j) {
    Choice *ch = &j->choices[0];
    if (j->stream) {
        if (!j->opt[OPT_STARTED]) on_output(j, 0, ch, &(OutMsg){.finish = ch->finish, .text = ""});
        if (!j->ext && !j->opt[OPT_OPEN] && !j->opt[OPT_BLOCK]) block_start(j, 0, NULL);
        block_stop(j);
        cJSON *o = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(o, "delta");
        cJSON_AddStringToObject(d, "stop_reason", stop_reason(j, ch));
        if (ch->stop_reason) cJSON_AddStringToObject(d, "stop_sequence", ch->stop_reason);
        else cJSON_AddNullToObject(d, "stop_sequence");
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        cJSON_AddNumberToObject(u, "output_tokens", ch->n_output);
        event(j, "message_delta", o);
        event(j, "message_stop", cJSON_CreateObject());
        job_end_stream(j);
        return;
    }
    cJSON *o = message(j, ch), *content = cJSON_AddArrayToObject(o, "content");
    const char *text = ch->text ? ch->text : "";
    ToolState *ts = j->ext;
    if (ts && !tool_state_feed(j->srv, ts, 0, text, ch->text_len, 1) && tool_state_has_calls(ts, 0)) {
        ToolChoiceState *c = &ts->ch[0];
        text = c->content ? c->content : "";
        if (*text) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "text");
            cJSON_AddStringToObject(b, "text", text);
            cJSON_AddItemToArray(content, b);
        }
        for (int k = 0; k < c->n_calls; k++) {
            cJSON *b = cJSON_CreateObject(), *input = cJSON_Parse(c->calls[k].args);
            cJSON_AddStringToObject(b, "type", "tool_use");
            cJSON_AddStringToObject(b, "id", c->calls[k].id);
            cJSON_AddStringToObject(b, "name", c->calls[k].name);
            cJSON_AddItemToObject(b, "input", input ? input : cJSON_CreateObject());
            cJSON_AddItemToArray(content, b);
        }
    } else {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", text);
        cJSON_AddItemToArray(content, b);
    }
    cJSON_AddStringToObject(o, "stop_reason", stop_reason(j, ch));
    if (ch->stop_reason) cJSON_AddStringToObject(o, "stop_sequence", ch->stop_reason);
    else cJSON_AddNullToObject(o, "stop_sequence");
    cJSON_AddItemToObject(o, "usage", usage(ch));
    job_respond_json(j, o);
}

static const JobOps k_ops = {"text/event-stream; charset=utf-8", on_output, on_finish};

void api_anthropic_messages(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *b = api_parse_body(s, c, DIALECT_ANTHROPIC, r);
    if (!b) return;
    char err[1024] = "";
    int status = 0, max_tokens = 0, stream = 0;
    InMsg *m = in_msg_new(1);
    Job *j = m ? job_new(s, c, &k_ops, DIALECT_ANTHROPIC, 1, 1) : NULL;
    StructSpec spec = {-1, NULL, 0};
    AnthropicReq a;
    memset(&a, 0, sizeof a);
    SamplingParams *sp = m ? &m->params.sampling : NULL;
    if (sp) gen_defaults_apply(sp, &s->model.gen_defaults, 0); /* generation_config.json's; the request's win */
    if (!m || !j) status = 500, snprintf(err, sizeof err, "out of memory");
    else if (!cJSON_GetObjectItemCaseSensitive(b, "max_tokens")) status = 400, snprintf(err, sizeof err, "max_tokens: Field required");
    else if (json_opt_int(b, "max_tokens", 1, 1 << 30, &max_tokens, err, sizeof err) ||
             json_opt_float(b, "temperature", 0, 1, &sp->temperature, err, sizeof err) ||
             json_opt_float(b, "top_p", 1e-9f, 1, &sp->top_p, err, sizeof err) ||
             json_opt_int(b, "top_k", -1, 1 << 30, &sp->top_k, err, sizeof err) ||
             json_opt_stop(b, "stop_sequences", m, err, sizeof err) || json_opt_bool(b, "stream", &stream, err, sizeof err))
        status = 400;
    if (!status) status = api_anthropic_prepare(s, b, &a, &spec, err, sizeof err);
    if (!status && a.tr.active) {
        if (!(j->ext = tool_state_new(&a.tr, 1))) status = 500, snprintf(err, sizeof err, "out of memory");
        else j->ext_free = (void (*)(void *))tool_state_free, ((ToolState *)j->ext)->id_prefix = "toolu_";
    }
    if (!status && api_add_chat_prompt(s, m, 0, &a.prompt))
        status = 500, snprintf(err, sizeof err, "out of memory");
    api_anthropic_req_free(&a);
    if (!status) {
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(b, "model");
        free(j->model_name);
        j->model_name = strdup(model->valuestring);
        j->stream = stream;
        m->params.max_tokens = max_tokens;
        api_make_id(s, "msg_", j->id, sizeof j->id);
        api_default_seed(s, m);
        j->check_max_tokens = max_tokens;
        int rc = api_submit(j, m, &spec, err, sizeof err);
        if (rc > 0) status = rc;
        else if (rc < 0) status = 529, snprintf(err, sizeof err, "Overloaded");
    }
    cJSON_Delete(b);
    struct_spec_free(&spec);
    if (!status) return;
    in_msg_free(m);
    job_free(j);
    api_error(c, DIALECT_ANTHROPIC, status, NULL, "%s", err);
}
