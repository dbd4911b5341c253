/* OpenAI chat responses with tool calls (see api_tools.h). Whole: message.content is the
 * text before the calls (null when there is none and calls were made), message.tool_calls
 * [{id, type: "function", function: {name, arguments: JSON text}}], finish_reason
 * "tool_calls". Streamed as OpenAI streams them: content deltas, then per call a first
 * delta {index, id, type, function: {name, arguments: ""}} and argument deltas {index,
 * function: {arguments}}, then a last chunk with the finish reason. A turn cut off by
 * max_tokens inside a call keeps finish_reason "length"; its whole text is the content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_tools.h"

cJSON *api_oai_head(Job *j, const char *object); /* api_openai_out.c */
void api_oai_send(Job *j, cJSON *o);

static cJSON *chunk(Job *j, int idx, cJSON **delta) {
    cJSON *o = api_oai_head(j, "chat.completion.chunk");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", idx);
    *delta = cJSON_AddObjectToObject(c, "delta");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
    return o;
}

static cJSON *call_delta(cJSON *delta, int k) {
    cJSON *a = cJSON_AddArrayToObject(delta, "tool_calls"), *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "index", k);
    cJSON_AddItemToArray(a, t);
    return t;
}

int api_oai_tool_chunks(Job *j, int idx, Choice *ch, const OutMsg *m) {
    ToolState *ts = j->ext;
    int done = m->finish != FINISH_NONE;
    if (tool_state_feed(j->srv, ts, idx, ch->text ? ch->text : "", ch->text_len, done)) return 1;
    ToolChoiceState *c = &ts->ch[idx];
    cJSON *delta;
    if (c->content_len > c->content_sent) {
        cJSON *o = chunk(j, idx, &delta);
        char *t = strndup(c->content + c->content_sent, c->content_len - c->content_sent);
        cJSON_AddStringToObject(delta, "content", t ? t : "");
        free(t);
        c->content_sent = c->content_len;
        api_oai_send(j, o);
    }
    for (int k = 0; k < c->n_calls; k++) {
        ToolCallOut *call = &c->calls[k];
        if (!call->announced) {
            cJSON *o = chunk(j, idx, &delta), *t = call_delta(delta, k);
            cJSON_AddStringToObject(t, "id", call->id);
            cJSON_AddStringToObject(t, "type", "function");
            cJSON *f = cJSON_AddObjectToObject(t, "function");
            cJSON_AddStringToObject(f, "name", call->name);
            cJSON_AddStringToObject(f, "arguments", "");
            call->announced = 1;
            api_oai_send(j, o);
        }
        if (call->args_len > call->args_sent) {
            cJSON *o = chunk(j, idx, &delta), *t = call_delta(delta, k);
            char *a = strndup(call->args + call->args_sent, call->args_len - call->args_sent);
            cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "function"), "arguments", a ? a : "");
            free(a);
            call->args_sent = call->args_len;
            api_oai_send(j, o);
        }
    }
    if (done) {
        cJSON *o = chunk(j, idx, &delta);
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
        const char *fr = ch->finish == FINISH_STOP && tool_state_has_calls(ts, idx) ? "tool_calls" : finish_reason_openai(ch->finish);
        cJSON_ReplaceItemInObject(c0, "finish_reason", cJSON_CreateString(fr ? fr : "stop"));
        api_oai_send(j, o);
    }
    return 1;
}

const char *api_oai_tool_message(Job *j, int idx, Choice *ch, cJSON *msg) {
    ToolState *ts = j->ext;
    if (tool_state_feed(j->srv, ts, idx, ch->text ? ch->text : "", ch->text_len, 1) || !tool_state_has_calls(ts, idx)) {
        cJSON_AddStringToObject(msg, "content", ch->text ? ch->text : ""); /* no (complete) call: the text as it is */
        return NULL;
    }
    ToolChoiceState *c = &ts->ch[idx];
    if (c->content_len) cJSON_AddStringToObject(msg, "content", c->content);
    else cJSON_AddNullToObject(msg, "content");
    cJSON *a = cJSON_AddArrayToObject(msg, "tool_calls");
    for (int k = 0; k < c->n_calls; k++) {
        cJSON *t = cJSON_CreateObject(), *f;
        cJSON_AddStringToObject(t, "id", c->calls[k].id);
        cJSON_AddStringToObject(t, "type", "function");
        f = cJSON_AddObjectToObject(t, "function");
        cJSON_AddStringToObject(f, "name", c->calls[k].name);
        cJSON_AddStringToObject(f, "arguments", c->calls[k].args);
        cJSON_AddItemToArray(a, t);
    }
    return ch->finish == FINISH_STOP ? "tool_calls" : NULL;
}
