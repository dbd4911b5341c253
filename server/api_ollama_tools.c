/* Ollama's tool calls (see api_tools.h): message.tool_calls [{"function": {"name",
 * "arguments": {...}}}] with the arguments as an object, as Ollama gives them, and the text
 * before the calls as the content. Streamed, each call goes out in a line of its own once its
 * arguments are complete (Ollama does the same), content as it comes. */
#include <stdlib.h>
#include <string.h>

#include "server/api_tools.h"

static cJSON *call_obj(const ToolCallOut *c) {
    cJSON *t = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(t, "function");
    cJSON_AddStringToObject(f, "name", c->name);
    cJSON *args = cJSON_Parse(c->args);
    cJSON_AddItemToObject(f, "arguments", args ? args : cJSON_CreateObject());
    return t;
}

int api_ollama_tool_delta(Job *j, Choice *ch, int final, char **content, cJSON **calls) {
    ToolState *ts = j->ext;
    *content = NULL, *calls = NULL;
    if (tool_state_feed(j->srv, ts, 0, ch->text ? ch->text : "", ch->text_len, final)) return -1;
    ToolChoiceState *c = &ts->ch[0];
    if (c->content_len > c->content_sent) {
        *content = strndup(c->content + c->content_sent, c->content_len - c->content_sent);
        c->content_sent = c->content_len;
    }
    for (int k = 0; k < c->parser.n_calls && k < c->n_calls; k++) { /* calls whose tail has passed */
        if (c->calls[k].announced) continue;
        if (!*calls) *calls = cJSON_CreateArray();
        cJSON_AddItemToArray(*calls, call_obj(&c->calls[k]));
        c->calls[k].announced = 1;
    }
    return 0;
}

void api_ollama_tool_message(Job *j, Choice *ch, cJSON *msg) {
    ToolState *ts = j->ext;
    if (tool_state_feed(j->srv, ts, 0, ch->text ? ch->text : "", ch->text_len, 1) || !tool_state_has_calls(ts, 0)) {
        cJSON_AddStringToObject(msg, "content", ch->text ? ch->text : "");
        return;
    }
    ToolChoiceState *c = &ts->ch[0];
    cJSON_AddStringToObject(msg, "content", c->content ? c->content : "");
    cJSON *a = cJSON_AddArrayToObject(msg, "tool_calls");
    for (int k = 0; k < c->n_calls; k++) cJSON_AddItemToArray(a, call_obj(&c->calls[k]));
}
