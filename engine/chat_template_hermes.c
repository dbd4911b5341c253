/* Hermes-2-Pro / Hermes-3 tool_use (NousResearch's templates), as their Jinja writes it
 * (tests/e2e/test_chat_tools.py compares with jinja2): BOS, then a system turn that always
 * lists the tools (none: an empty list), each as JSON whose description holds a Python
 * signature and the parameters' descriptions, the calls as ChatML's <tool_call> blocks, the
 * results in a "tool" turn (with the template's own newlines: none after its end). */
#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "engine/chat_template_internal.h"
#include "engine/pyjson.h"

static int is(const ChatMessage *m, const char *role) { return m->role && !strcmp(m->role, role); }
static const char *text(const ChatMessage *m) { return m->content ? m->content : ""; }

/* Hermes' json_to_python_type macro: a parameter's JSON type as a Python one. A list of
 * types is a Union; a type Jinja finds iterable but not in the map (an absent type, an
 * array's items through the |items filter) is Union[]; a string type not in the map
 * ("null") sends the macro into endless recursion. */
static int py_type(PyBuf *b, const cJSON *spec, char *err, size_t errlen) {
    static const char *const map[][2] = {
        {"string", "str"}, {"number", "float"}, {"integer", "int"}, {"boolean", "bool"}};
    const cJSON *t = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "type") : NULL;
    if (cJSON_IsString(t)) {
        for (size_t k = 0; k < sizeof map / sizeof *map; k++)
            if (!strcmp(t->valuestring, map[k][0])) return pybuf_puts(b, map[k][1]), 0;
        if (!strcmp(t->valuestring, "array")) return pybuf_puts(b, "list[Union[]]"), 0;
        if (!strcmp(t->valuestring, "object")) {
            const cJSON *ap = cJSON_GetObjectItemCaseSensitive(spec, "additionalProperties");
            if (!ap) return pybuf_puts(b, "dict"), 0;
            pybuf_puts(b, "dict[str, ");
            if (py_type(b, ap, err, errlen)) return -EINVAL;
            return pybuf_puts(b, "]"), 0;
        }
        return err_set(err, errlen, -EINVAL,
                       "this Hermes tool_use template cannot write the parameter type \"%s\" "
                       "(its json_to_python_type recurses forever)",
                       t->valuestring);
    }
    if (t && !cJSON_IsArray(t)) return pybuf_puts(b, "Any"), 0;
    pybuf_puts(b, "Union[");
    for (const cJSON *e = t ? t->child : NULL; e; e = e->next) {
        cJSON one = {.type = cJSON_Object}, ty = *e;
        ty.next = ty.prev = NULL, ty.string = "type", one.child = &ty;
        if (py_type(b, &one, err, errlen)) return -EINVAL;
        if (e->next) pybuf_puts(b, ",");
    }
    return pybuf_puts(b, "]"), 0;
}

static int hermes_tool(PyBuf *b, ChatSpans *sp, const cJSON *tool, char *err, size_t errlen) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tool, "function");
    if (!f) f = tool;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name"),
                *desc = cJSON_GetObjectItemCaseSensitive(f, "description");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(f, "parameters"),
                *ret = cJSON_GetObjectItemCaseSensitive(f, "return");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties"), *p;
    if (!cJSON_IsString(name) || !cJSON_IsString(desc) || !params)
        return err_set(err, errlen, -EINVAL,
                       "'dict object' has no attribute '%s' (this Hermes tool_use template needs "
                       "each tool's name, description and parameters)",
                       !cJSON_IsString(name) ? "name"
                       : !params             ? "parameters"
                                             : "description");
    pybuf_puts(b, "{\"type\": \"function\", \"function\": {\"name\": \""), chat_put_text(b, sp, name->valuestring);
    pybuf_puts(b, "\", \"description\": \""), chat_put_text(b, sp, name->valuestring), pybuf_puts(b, "(");
    cJSON_ArrayForEach(p, props) {
        chat_put_text(b, sp, p->string), pybuf_puts(b, ": ");
        if (py_type(b, p, err, errlen)) return -EINVAL;
        if (p->next) pybuf_puts(b, ", ");
    }
    pybuf_puts(b, ")");
    if (ret) {
        pybuf_puts(b, " -> ");
        if (py_type(b, ret, err, errlen)) return -EINVAL;
    }
    pybuf_puts(b, " - "), chat_put_text(b, sp, desc->valuestring), pybuf_puts(b, "\n\n");
    cJSON_ArrayForEach(p, props) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "description");
        if (d && !cJSON_IsString(d))
            return err_set(err, errlen, -EINVAL, "parameter %s: description must be a string", p->string);
        if (p == props->child) pybuf_puts(b, "    Args:\n");
        pybuf_puts(b, "        "), chat_put_text(b, sp, p->string), pybuf_puts(b, "(");
        if (py_type(b, p, err, errlen)) return -EINVAL;
        size_t a, e, at = b->n;
        chat_trim_span(d ? d->valuestring : "", &a, &e);
        pybuf_puts(b, "): "), at = b->n, pybuf_put(b, d ? d->valuestring + a : "", e - a);
        if (sp) chat_spans_mark(sp, at, b->n);
    }
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(ret, "description");
    if (cJSON_IsString(rd)) pybuf_puts(b, "\n    Returns:\n        "), chat_put_text(b, sp, rd->valuestring);
    pybuf_puts(b, "\", \"parameters\": ");
    if (cJSON_GetArraySize(props) == 0) pybuf_puts(b, "{}");
    else chat_put_json(b, sp, params, -1);
    pybuf_puts(b, "}");
    return 0;
}

int chat_render_hermes(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, int gen, PyBuf *b,
                       ChatSpans *sp, char *err, size_t errlen) {
    pybuf_puts(b, ct->bos_text ? ct->bos_text : "");
    pybuf_puts(
        b, "<|im_start|>system\nYou are a function calling AI model. You are provided with function signatures "
           "within <tools></tools> XML tags. You may call one or more functions to assist with the user query. "
           "Don't make assumptions about what values to plug into functions. Here are the available tools: <tools> ");
    for (const cJSON *t = tools ? tools->child : NULL; t; t = t->next) {
        if (hermes_tool(b, sp, t, err, errlen)) return -EINVAL;
        if (t->next) pybuf_puts(b, "\n");
    }
    pybuf_puts(
        b,
        " </tools>Use the following pydantic model json schema for each tool call you will make: {\"properties\": "
        "{\"name\": {\"title\": \"Name\", \"type\": \"string\"}, \"arguments\": {\"title\": \"Arguments\", \"type\": "
        "\"object\"}}, \"required\": [\"name\", \"arguments\"], \"title\": \"FunctionCall\", \"type\": \"object\"}}\n"
        "For each function call return a json object with function name and arguments within <tool_call></tool_call> "
        "XML tags as follows:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-dict>}\n</tool_call><|im_end|>\n");
    for (int i = 0; i < n; i++) {
        if (is(&m[i], "user") || is(&m[i], "system") || (is(&m[i], "assistant") && !m[i].n_tool_calls)) {
            pybuf_puts(b, "<|im_start|>"), pybuf_puts(b, m[i].role), pybuf_puts(b, "\n");
            chat_put_text(b, sp, text(&m[i])), pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "assistant")) {
            pybuf_puts(b, "<|im_start|>assistant");
            chat_put_tool_calls(b, sp, &m[i], 1);
            pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "tool")) { /* the template's own newlines: none after the turn's end */
            if (i > 0 && !is(&m[i - 1], "tool")) pybuf_puts(b, "<|im_start|>tool\n");
            pybuf_puts(b, "<tool_response>\n"), chat_put_text(b, sp, text(&m[i]));
            pybuf_puts(b, i < n - 1 ? "\n</tool_response>\n" : "\n</tool_response>");
            if (i == n - 1 || !is(&m[i + 1], "tool")) pybuf_puts(b, "<|im_end|>");
        }
    }
    if (gen) pybuf_puts(b, "<|im_start|>assistant\n");
    return 0;
}
