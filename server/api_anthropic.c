/* The Anthropic Messages API: POST /v1/messages (whole, or streamed as its events) and POST
 * /v1/messages/count_tokens. A request's messages (content as a string or blocks: text,
 * tool_use, tool_result), system prompt (a string or text blocks), tools (input_schema) and
 * tool_choice (auto, any, tool, none; disable_parallel_tool_use) are turned into the
 * OpenAI-shaped conversation that the chat templates render (api_chat.c) and the tool-call
 * constraint of the other dialects, so all of them share one path. A final assistant message
 * is a prefill: the reply continues it. A tool_result with is_error reads "Error: ..." to the
 * model (the templates have no flag for it). cache_control, on any block or tool, is taken and
 * needs nothing: prefix caching is automatic. Fields Piston does not implement (images,
 * documents, thinking, ...) are refused by name; the errors have
 * Anthropic's shape {"type": "error", "error": {"type", "message"}}. Responses are in
 * api_anthropic_out.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_anthropic.h"

static const char *const k_fields[] = {"model", "max_tokens", "messages", "system", "stop_sequences", "temperature",
                                       "top_p", "top_k", "stream", "tools", "tool_choice", "metadata", "output_config"};

/* A text or a list of text blocks as one string (malloc'd); NULL with err set. */
static char *blocks_text(const cJSON *v, const char *what, char *err, size_t n) {
    if (!v || cJSON_IsNull(v)) return strdup("");
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (!cJSON_IsArray(v)) return snprintf(err, n, "'%s' must be a string or a list of text blocks", what), NULL;
    size_t total = 1;
    const cJSON *b;
    cJSON_ArrayForEach(b, v) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type"), *t = cJSON_GetObjectItemCaseSensitive(b, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(t))
            return snprintf(err, n, "%s: content blocks of type '%s' are not supported here (text)", what,
                            cJSON_IsString(type) ? type->valuestring : "?"), NULL;
        total += strlen(t->valuestring) + 1;
    }
    char *out = calloc(1, total);
    size_t len = 0; /* appended at an offset: strcat per block would be quadratic in the blocks */
    cJSON_ArrayForEach(b, v) {
        const char *t = cJSON_GetObjectItemCaseSensitive(b, "text")->valuestring;
        size_t tl = strlen(t);
        if (!out) break;
        if (len) out[len++] = '\n';
        memcpy(out + len, t, tl + 1), len += tl;
    }
    return out;
}

/* One Anthropic message as OpenAI-shaped messages appended to out. 0, or 400. */
static int convert(const cJSON *m, int k, cJSON *out, char *err, size_t n) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role"), *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant")))
        return snprintf(err, n, "messages.%d.role must be 'user' or 'assistant'", k), 400;
    int user = !strcmp(role->valuestring, "user");
    if (cJSON_IsString(content)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role->valuestring);
        cJSON_AddStringToObject(o, "content", content->valuestring);
        cJSON_AddItemToArray(out, o);
        return 0;
    }
    if (!cJSON_IsArray(content)) return snprintf(err, n, "messages.%d.content must be a string or a list of blocks", k), 400;
    cJSON *msg = cJSON_CreateObject(), *calls = NULL;
    cJSON_AddStringToObject(msg, "role", role->valuestring);
    char *text = calloc(1, 1);
    size_t tl = 0;
    const cJSON *b;
    int i = 0, rc = 0;
    cJSON_ArrayForEach(b, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        if (!strcmp(t, "text") && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "text"))) {
            const char *s = cJSON_GetObjectItemCaseSensitive(b, "text")->valuestring;
            char *q = realloc(text, tl + strlen(s) + 2);
            if (!q) break;
            text = q;
            if (tl) text[tl++] = '\n';
            strcpy(text + tl, s), tl += strlen(s);
        } else if (!strcmp(t, "tool_use") && !user) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "id"), *name = cJSON_GetObjectItemCaseSensitive(b, "name");
            const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
            if (!cJSON_IsString(name)) rc = (snprintf(err, n, "messages.%d.content.%d: tool_use needs a name", k, i), 400);
            if (rc) break;
            if (!calls) calls = cJSON_AddArrayToObject(msg, "tool_calls");
            cJSON *c = cJSON_CreateObject(), *f;
            cJSON_AddStringToObject(c, "id", cJSON_IsString(id) ? id->valuestring : "");
            cJSON_AddStringToObject(c, "type", "function");
            f = cJSON_AddObjectToObject(c, "function");
            cJSON_AddStringToObject(f, "name", name->valuestring);
            cJSON_AddItemToObject(f, "arguments", input ? cJSON_Duplicate(input, 1) : cJSON_CreateObject());
            cJSON_AddItemToArray(calls, c);
        } else if (!strcmp(t, "tool_result") && user) { /* a tool message of its own, before the text */
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "tool_use_id");
            char *r = blocks_text(cJSON_GetObjectItemCaseSensitive(b, "content"), "tool_result.content", err, n);
            if (!r) {
                rc = 400;
                break;
            }
            cJSON *o = cJSON_CreateObject(), *ie = cJSON_GetObjectItemCaseSensitive(b, "is_error");
            cJSON_AddStringToObject(o, "role", "tool");
            cJSON_AddStringToObject(o, "tool_call_id", cJSON_IsString(id) ? id->valuestring : "");
            if (cJSON_IsTrue(ie)) { /* the templates have no error flag: the model reads it in the text */
                char *e = malloc(strlen(r) + 8);
                if (e) sprintf(e, *r ? "Error: %s" : "Error", r);
                free(r), r = e;
            }
            cJSON_AddStringToObject(o, "content", r ? r : "");
            free(r);
            cJSON_AddItemToArray(out, o);
        } else {
            rc = (snprintf(err, n, "messages.%d.content.%d: content blocks of type '%s' are not supported%s", k, i, t,
                           !strcmp(t, "image") || !strcmp(t, "document") ? " (this is a text model)" : ""), 400);
            break;
        }
        i++;
    }
    if (!rc && (tl || calls || !user)) {
        cJSON_AddStringToObject(msg, "content", text);
        cJSON_AddItemToArray(out, msg), msg = NULL;
    }
    cJSON_Delete(msg);
    free(text);
    return rc;
}

/* A final assistant message is a prefill: the reply continues its text (no end of turn after
 * it). As Anthropic: its text may not end in whitespace, and it cannot hold a tool_use. */
static int prefill(const cJSON *messages, ConvEnd *end, char *err, size_t n) {
    const cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1), *b;
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
    *end = CONV_GENERATE;
    if (strcmp(role->valuestring, "assistant")) return 0;
    *end = CONV_CONTINUE;
    const char *text = cJSON_IsString(content) ? content->valuestring : "";
    for (b = cJSON_IsArray(content) ? content->child : NULL; b; b = b->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "text");
        if (cJSON_IsString(t)) text = t->valuestring;
        else return snprintf(err, n, "messages: the final assistant message (a prefill) may hold text only"), 400;
    }
    size_t len = strlen(text);
    if (len && strchr(" \t\n\r", text[len - 1]))
        return snprintf(err, n, "messages: final assistant content cannot end with trailing whitespace"), 400;
    return 0;
}

int api_anthropic_prepare(Server *s, const cJSON *b, AnthropicReq *a, StructSpec *spec, char *err, size_t n) {
    memset(a, 0, sizeof *a);
    const cJSON *e;
    cJSON_ArrayForEach(e, b) {
        int known = 0;
        for (size_t i = 0; i < sizeof k_fields / sizeof *k_fields; i++) known |= !strcmp(e->string, k_fields[i]);
        if (!known && !cJSON_IsNull(e)) return snprintf(err, n, "the field '%s' is not supported", e->string), 400;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(b, "model"), *messages = cJSON_GetObjectItemCaseSensitive(b, "messages");
    if (!cJSON_IsString(model)) return snprintf(err, n, "model: Field required"), 400;
    if (!api_model_matches(s, model->valuestring, 0)) return snprintf(err, n, "model: %s", model->valuestring), 404;
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) return snprintf(err, n, "messages: at least one message is required"), 400;
    if (!(a->system = blocks_text(cJSON_GetObjectItemCaseSensitive(b, "system"), "system", err, n))) return 400;
    a->messages = cJSON_CreateArray();
    int k = 0, rc = 0;
    cJSON_ArrayForEach(e, messages) if (!rc) rc = convert(e, k++, a->messages, err, n);
    if (rc || (rc = prefill(messages, &a->end, err, n))) return rc;
    /* tools: {name, description, input_schema} as OpenAI functions; tool_choice mapped */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(b, "tools"), *tc = cJSON_GetObjectItemCaseSensitive(b, "tool_choice");
    cJSON *choice = NULL, *parallel = NULL;
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        a->tools = cJSON_CreateArray();
        cJSON_ArrayForEach(e, tools) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name"), *ty = cJSON_GetObjectItemCaseSensitive(e, "type");
            if (ty && !(cJSON_IsString(ty) && !strcmp(ty->valuestring, "custom")))
                return snprintf(err, n, "tools: server tools of type '%s' are not supported", cJSON_IsString(ty) ? ty->valuestring : "?"), 400;
            cJSON *t = cJSON_CreateObject(), *f;
            cJSON_AddStringToObject(t, "type", "function");
            f = cJSON_AddObjectToObject(t, "function");
            cJSON_AddStringToObject(f, "name", cJSON_IsString(name) ? name->valuestring : "");
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "description"), *sch = cJSON_GetObjectItemCaseSensitive(e, "input_schema");
            if (cJSON_IsString(d)) cJSON_AddStringToObject(f, "description", d->valuestring);
            if (sch) cJSON_AddItemToObject(f, "parameters", cJSON_Duplicate(sch, 1));
            cJSON_AddItemToArray(a->tools, t);
        }
    }
    if (cJSON_IsObject(tc)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(tc, "type"), *name = cJSON_GetObjectItemCaseSensitive(tc, "name");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        if (!strcmp(t, "auto") || !strcmp(t, "any") || !strcmp(t, "none")) choice = cJSON_CreateString(!strcmp(t, "any") ? "required" : t);
        else if (!strcmp(t, "tool") && cJSON_IsString(name)) {
            choice = cJSON_CreateObject();
            cJSON_AddStringToObject(cJSON_AddObjectToObject(choice, "function"), "name", name->valuestring);
        } else return snprintf(err, n, "tool_choice: type must be auto, any, tool (with a name) or none"), 400;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use"))) parallel = cJSON_CreateFalse();
    }
    /* structured outputs: output_config.format {type: json_schema, schema} */
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(b, "output_config");
    if (oc && !cJSON_IsNull(oc)) {
        const cJSON *f;
        cJSON_ArrayForEach(f, oc) {
            if (!cJSON_IsNull(f) && strcmp(f->string, "format"))
                return cJSON_Delete(choice), cJSON_Delete(parallel), snprintf(err, n, "output_config.%s is not supported", f->string), 400;
        }
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(oc, "format"), *ty = cJSON_GetObjectItemCaseSensitive(fmt, "type");
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(fmt, "schema");
        if (fmt && !cJSON_IsNull(fmt)) {
            char *t = cJSON_IsString(ty) && !strcmp(ty->valuestring, "json_schema") && cJSON_IsObject(schema) ? cJSON_PrintUnformatted(schema) : NULL;
            if (!t) return cJSON_Delete(choice), cJSON_Delete(parallel), snprintf(err, n, "output_config.format must be {\"type\": \"json_schema\", \"schema\": {...}}"), 400;
            rc = struct_spec_set(spec, CONSTRAINT_JSON_SCHEMA, t);
            free(t);
            if (rc) return cJSON_Delete(choice), cJSON_Delete(parallel), rc;
        }
    }
    rc = api_tools_request(s, a->tools, choice, parallel, &a->tr, spec, err, n);
    cJSON_Delete(choice), cJSON_Delete(parallel);
    if (rc) return rc;
    if (api_render_conversation_end(s, a->messages, a->system, a->tr.tools, a->end, &a->prompt, err, n)) return 400;
    return 0;
}

void api_anthropic_req_free(AnthropicReq *a) {
    free(a->system), chat_prompt_free(&a->prompt);
    cJSON_Delete(a->messages), cJSON_Delete(a->tools);
    memset(a, 0, sizeof *a);
}

/* Answered once the conversation is tokens (api_submit: a long one on the worker pool). */
static char *count_answer(const Server *s, const InMsg *m) {
    char *t = malloc(48);
    if (t) snprintf(t, 48, "{\"input_tokens\":%d}", m->n_prompt[0]);
    return t;
}

static const JobOps k_count_ops = {"application/json", NULL, NULL};

void api_anthropic_count_tokens(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *b = api_parse_body(s, c, DIALECT_ANTHROPIC, r);
    if (!b) return;
    char err[1024] = "";
    AnthropicReq a;
    StructSpec spec = {-1, NULL, 0};
    cJSON_DeleteItemFromObjectCaseSensitive(b, "max_tokens");
    int status = api_anthropic_prepare(s, b, &a, &spec, err, sizeof err);
    InMsg *m = status ? NULL : in_msg_new(1);
    Job *j = m ? job_new(s, c, &k_count_ops, DIALECT_ANTHROPIC, 1, 1) : NULL;
    if (!status && (!j || api_add_chat_prompt(s, m, 0, &a.prompt))) status = 500, snprintf(err, sizeof err, "out of memory");
    api_anthropic_req_free(&a);
    struct_spec_free(&spec);
    cJSON_Delete(b);
    if (!status) {
        j->no_length_check = 1, j->answer = count_answer;
        int rc = api_submit(j, m, NULL, err, sizeof err);
        if (rc == 0) return;
        status = rc > 0 ? rc : 529;
        if (rc < 0) snprintf(err, sizeof err, "Overloaded");
    }
    in_msg_free(m);
    job_free(j);
    api_error(c, DIALECT_ANTHROPIC, status, NULL, "%s", err);
}
