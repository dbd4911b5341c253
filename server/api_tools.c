/* Tool calling in the dialects (see api_tools.h): tool_choice as OpenAI defines it ("none":
 * no tools in the prompt and no calls; "auto", the default: the model chooses, and a call
 * it starts is constrained; "required": at least one call; a named function: a call of it),
 * parallel_tool_calls (several calls in one turn where the format has them), and the
 * parser's events gathered per choice. */
#include "server/api_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

int api_tools_request(Server *s, const cJSON *tools, const cJSON *choice, const cJSON *parallel, ToolReq *t,
                      StructSpec *spec, char *err, size_t n) {
    memset(t, 0, sizeof *t);
    t->mode = TOOL_MODE_AUTO, t->parallel = 1;
    if (!tools || cJSON_IsNull(tools) || (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) == 0)) {
        if (choice && !cJSON_IsNull(choice) && !(cJSON_IsString(choice) && (!strcmp(choice->valuestring, "none") ||
                                                                           !strcmp(choice->valuestring, "auto"))))
            return snprintf(err, n, "'tool_choice' needs 'tools'"), 400;
        return 0;
    }
    if (!cJSON_IsArray(tools)) return snprintf(err, n, "'tools' must be a list of tools"), 400;
    if (parallel && !cJSON_IsNull(parallel)) {
        if (!cJSON_IsBool(parallel)) return snprintf(err, n, "'parallel_tool_calls' must be true or false"), 400;
        t->parallel = cJSON_IsTrue(parallel);
    }
    if (cJSON_IsString(choice)) {
        if (!strcmp(choice->valuestring, "none")) return 0; /* the tools are not offered */
        if (!strcmp(choice->valuestring, "required")) t->mode = TOOL_MODE_REQUIRED;
        else if (strcmp(choice->valuestring, "auto"))
            return snprintf(err, n, "'tool_choice' must be none, auto, required or a named function"), 400;
    } else if (cJSON_IsObject(choice)) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(choice, "function");
        const cJSON *name = f ? cJSON_GetObjectItemCaseSensitive(f, "name") : NULL;
        if (!cJSON_IsString(name)) return snprintf(err, n, "'tool_choice' must name {\"type\": \"function\", \"function\": {\"name\": ...}}"), 400;
        snprintf(t->only, sizeof t->only, "%s", name->valuestring);
        t->mode = TOOL_MODE_REQUIRED;
    } else if (choice && !cJSON_IsNull(choice)) {
        return snprintf(err, n, "'tool_choice' must be none, auto, required or a named function"), 400;
    }
    if (!s->model.chat) return snprintf(err, n, "this model has no usable chat template: %s", s->model.chat_err), 400;
    t->fmt = chat_template_tool_format(s->model.chat);
    if (t->fmt == TOOL_FORMAT_NONE && chat_template_tools_unsupported(s->model.chat))
        return snprintf(err, n, "%s", chat_template_tools_unsupported(s->model.chat)), 400;
    if (t->fmt == TOOL_FORMAT_NONE)
        return snprintf(err, n,
                        "the model's chat template (%s) has no tool-call format (ChatML, Llama-3.1 and later, "
                        "Mistral-Nemo, Mistral-Small-3.2, Devstral, Ministral-3 have)",
                        chat_template_kind_name(s->model.chat->kind)),
               400;
    if (spec->kind >= 0)
        return snprintf(err, n, "'response_format' or 'structured_outputs' together with 'tools' is not supported "
                        "(use tool_choice \"none\")"), 400;
    char *text = NULL, e[400];
    if (tool_spec_build(t->fmt, t->mode, t->parallel, tools, *t->only ? t->only : NULL, &text, e, sizeof e))
        return snprintf(err, n, "%s", e), 400;
    int rc = struct_spec_set(spec, CONSTRAINT_TOOLS, text);
    free(text);
    t->tools = tools, t->active = 1;
    return rc;
}

ToolState *tool_state_new(const ToolReq *t, int n_choices) {
    ToolState *ts = calloc(1, sizeof *ts + (size_t)n_choices * sizeof(ToolChoiceState));
    if (!ts) return NULL;
    ts->fmt = t->fmt, ts->n = n_choices, ts->id_prefix = "call_";
    for (int i = 0; i < n_choices; i++) tool_parser_init(&ts->ch[i].parser, t->fmt, t->mode);
    return ts;
}

void tool_state_free(ToolState *ts) {
    if (!ts) return;
    for (int i = 0; i < ts->n; i++) {
        free(ts->ch[i].content);
        for (int k = 0; k < ts->ch[i].n_calls; k++) free(ts->ch[i].calls[k].name), free(ts->ch[i].calls[k].args);
    }
    free(ts);
}

static int append(char **p, size_t *len, const char *t, size_t n) {
    char *q = realloc(*p, *len + n + 1);
    if (!q) return -1;
    memcpy(q + *len, t, n);
    *len += n, q[*len] = 0;
    *p = q;
    return 0;
}

/* A call id: OpenAI's shape (call_ and 24 hex digits; Anthropic's toolu_), or Mistral's 9
 * letters and digits (its template refuses other ids in the history). */
static void make_id(Server *s, ToolFormat fmt, const char *prefix, char *out, size_t n) {
    uint64_t a = hash_splitmix64(&s->rng), b = hash_splitmix64(&s->rng);
    if (fmt == TOOL_FORMAT_MISTRAL || fmt == TOOL_FORMAT_MISTRAL_ARGS) {
        static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (int i = 0; i < 9; i++) out[i] = al[(a >> (6 * i)) % 62];
        out[9] = 0;
        return;
    }
    snprintf(out, n, "%s%016llx%08llx", prefix, (unsigned long long)a, (unsigned long long)(b & 0xffffffffu));
}

int tool_state_feed(Server *s, ToolState *ts, int idx, const char *text, size_t len, int final) {
    ToolChoiceState *c = &ts->ch[idx];
    ToolEvent ev[32];
    for (;;) {
        int k = tool_parser_feed(&c->parser, text, len, final, ev, 32);
        for (int i = 0; i < k; i++) {
            if (ev[i].kind == TOOL_EV_CONTENT) {
                if (append(&c->content, &c->content_len, ev[i].text, ev[i].len)) return -1;
            } else if (ev[i].index < 16 && ev[i].kind == TOOL_EV_CALL) {
                ToolCallOut *o = &c->calls[ev[i].index];
                memset(o, 0, sizeof *o);
                make_id(s, ts->fmt, ts->id_prefix, o->id, sizeof o->id);
                size_t nl = 0;
                if (append(&o->name, &nl, ev[i].text, ev[i].len) || append(&o->args, &o->args_len, "", 0)) return -1;
                c->n_calls = ev[i].index + 1;
            } else if (ev[i].index < 16) {
                ToolCallOut *o = &c->calls[ev[i].index];
                if (append(&o->args, &o->args_len, ev[i].text, ev[i].len)) return -1;
            }
        }
        if (k < 32) return 0;
    }
}

int tool_state_has_calls(const ToolState *ts, int idx) { return ts->ch[idx].n_calls > 0 && ts->ch[idx].parser.complete; }
