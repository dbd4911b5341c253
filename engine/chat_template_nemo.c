/* Mistral-Nemo's tool template (chat_template_tools.c dispatches to it), as its Jinja writes
 * it (tests/e2e/test_chat_tools.py compares with jinja2): [AVAILABLE_TOOLS] before the last
 * user message, the system prompt inside the last [INST], the calls as one JSON list after
 * [TOOL_CALLS] with 9-character ids, each result as JSON in [TOOL_RESULTS]. */
#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "engine/chat_template_internal.h"
#include "engine/pyjson.h"

static int is(const ChatMessage *m, const char *role) { return m->role && !strcmp(m->role, role); }
static const char *text(const ChatMessage *m) { return m->content ? m->content : ""; }

static void mark_from(PyBuf *b, ChatSpans *sp, size_t start) {
    if (sp) chat_spans_mark(sp, start, b->n);
}

static int id9(const char *id) {
    if (!id || strlen(id) != 9) return 0;
    return 1;
}

int chat_render_nemo(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, PyBuf *b, ChatSpans *sp,
                     char *err, size_t errlen) {
    const char *sys = NULL, *eos = ct->eos_text ? ct->eos_text : "";
    if (n > 0 && is(&m[0], "system")) sys = text(&m[0]), m++, n--;
    int last_user = -1, k = 0;
    for (int i = 0; i < n; i++) {
        if (is(&m[i], "user")) last_user = i;
        if (is(&m[i], "tool") || is(&m[i], "tool_results") || m[i].n_tool_calls) continue;
        if (is(&m[i], "user") != (k++ % 2 == 0))
            return err_set(err, errlen, -EINVAL,
                           "After the optional system message, conversation roles must alternate "
                           "user/assistant/user/assistant/...");
    }
    pybuf_puts(b, ct->bos_text ? ct->bos_text : "");
    for (int i = 0; i < n; i++) {
        /* Jinja compares message dicts: a user message equal to the last one counts as it */
        int is_last_user = last_user >= 0 && is(&m[i], "user") && !strcmp(text(&m[i]), text(&m[last_user]));
        if (is(&m[i], "user")) {
            if (tools && is_last_user) {
                pybuf_puts(b, "[AVAILABLE_TOOLS]");
                size_t at = b->n; /* the tools as a whole: no control token in them */
                pybuf_puts(b, "[");
                for (const cJSON *t = tools->child; t; t = t->next) {
                    const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "function");
                    pybuf_puts(b, "{\"type\": \"function\", \"function\": {");
                    int first = 1;
                    for (const cJSON *e = f ? f->child : NULL; e; e = e->next) {
                        if (!strcmp(e->string, "return")) continue;
                        if (!first) pybuf_puts(b, ", ");
                        first = 0;
                        pybuf_puts(b, "\""), pybuf_puts(b, e->string), pybuf_puts(b, "\": ");
                        if (cJSON_IsString(e)) pybuf_puts(b, "\""), pybuf_puts(b, e->valuestring), pybuf_puts(b, "\"");
                        else pyjson_dump(b, e, -1);
                    }
                    pybuf_puts(b, "}}");
                    pybuf_puts(b, t->next ? ", " : "]");
                }
                mark_from(b, sp, at);
                pybuf_puts(b, "[/AVAILABLE_TOOLS]");
            }
            pybuf_puts(b, "[INST]");
            if (i == n - 1 && sys) chat_put_text(b, sp, sys), pybuf_puts(b, "\n\n");
            chat_put_text(b, sp, text(&m[i])), pybuf_puts(b, "[/INST]");
        } else if (m[i].n_tool_calls) {
            pybuf_puts(b, "[TOOL_CALLS]");
            size_t at = b->n; /* the calls as a whole */
            pybuf_puts(b, "[");
            for (int c = 0; c < m[i].n_tool_calls; c++) {
                const ChatToolCall *tc = &m[i].tool_calls[c];
                if (!id9(tc->id))
                    return err_set(err, errlen, -EINVAL, "Tool call IDs should be alphanumeric strings with length 9!");
                pybuf_puts(b, "{\"name\": "), pyjson_string(b, tc->name), pybuf_puts(b, ", \"arguments\": ");
                pyjson_dump(b, tc->arguments, -1);
                pybuf_puts(b, ", \"id\": \""), pybuf_puts(b, tc->id), pybuf_puts(b, "\"}");
                if (c + 1 < m[i].n_tool_calls) pybuf_puts(b, ", ");
                else pybuf_puts(b, "]"), mark_from(b, sp, at), pybuf_puts(b, eos);
            }
        } else if (is(&m[i], "assistant")) {
            chat_put_text(b, sp, text(&m[i])), pybuf_puts(b, eos);
        } else if (is(&m[i], "tool") || is(&m[i], "tool_results")) {
            pybuf_puts(b, "[TOOL_RESULTS]");
            size_t at = b->n; /* the result as a whole */
            pybuf_puts(b, "{\"content\": "), pybuf_puts(b, text(&m[i])), pybuf_puts(b, ", ");
            if (!id9(m[i].tool_call_id))
                return err_set(err, errlen, -EINVAL, "Tool call IDs should be alphanumeric strings with length 9!");
            pybuf_puts(b, "\"call_id\": \""), pybuf_puts(b, m[i].tool_call_id), pybuf_puts(b, "\"}");
            mark_from(b, sp, at);
            pybuf_puts(b, "[/TOOL_RESULTS]");
        } else {
            return err_set(err, errlen, -EINVAL,
                           "Only user and assistant roles are supported, with the exception of an "
                           "initial optional system message!");
        }
    }
    return 0;
}
