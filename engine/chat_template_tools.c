/* Chat templates with tools (see chat_template.h): each family's tool prompt, assistant tool
 * calls and tool results, written as its own Jinja template writes them (tests/e2e/
 * test_chat_tools.py renders llama.cpp's copies of the real templates with jinja2, the way
 * transformers runs them, and compares):
 *   ChatML   Qwen2.5-7B-Instruct's: a system turn with the tools as JSON lines in <tools>,
 *            calls as <tool_call> blocks, results as <tool_response> in a user turn (also
 *            used for ChatML models whose own template has no tools, SmolLM2's, with their
 *            default system prompt);
 *   Llama-3  Llama-3.1 / 3.2 / 3.3's: "Environment: ipython", the tools (indented JSON) in
 *            the first user message, a call as {"name", "parameters"} (one per turn),
 *            results in ipython turns;
 * Qwen3's, Hermes-2-Pro / Hermes-3 tool_use and SmolLM3's ChatML variants are in
 * chat_template_chatml.c and chat_template_hermes.c, Mistral-Nemo's in chat_template_nemo.c,
 * Mistral's later format ([SYSTEM_PROMPT], [TOOL_CALLS]name[ARGS]: Mistral-Small-3.2,
 * Devstral, Ministral-3 / Magistral) in chat_template_mistral.c; another template of that
 * format, which Piston does not know, is refused by name.
 * Raised errors keep the templates' words. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/chat_template_internal.h"
#include "engine/pyjson.h"

ToolFormat chat_template_tool_format(const ChatTemplate *ct) {
    if (ct->flavor == CHAT_FLAVOR_MISTRAL_V7) return TOOL_FORMAT_NONE;
    if (chat_flavor_mistral_args(ct->flavor)) return TOOL_FORMAT_MISTRAL_ARGS;
    switch (ct->kind) {
    case CHAT_TEMPLATE_CHATML: return TOOL_FORMAT_HERMES;
    case CHAT_TEMPLATE_LLAMA3: return ct->system_preamble ? TOOL_FORMAT_LLAMA3 : TOOL_FORMAT_NONE;
    case CHAT_TEMPLATE_MISTRAL_NEMO: return TOOL_FORMAT_MISTRAL;
    default: return TOOL_FORMAT_NONE;
    }
}

const char *chat_template_tools_unsupported(const ChatTemplate *ct) {
    if (ct->flavor == CHAT_FLAVOR_MISTRAL_V7)
        return "this model's chat template uses Mistral's [TOOL_CALLS]name[ARGS] tool format, but in a template Piston "
               "does not know (it writes Mistral-Small-3.2's, Devstral's and Ministral-3's); send the request without "
               "tools";
    return NULL;
}

static int is(const ChatMessage *m, const char *role) { return m->role && !strcmp(m->role, role); }
static const char *text(const ChatMessage *m) { return m->content ? m->content : ""; }

/* The renderers write message text (contents, names, arguments, the tools' schemas) through
 * these, which mark it plain in sp: to the tokenizer it is text, never a control token. */
static void mark_from(PyBuf *b, ChatSpans *sp, size_t start) {
    if (sp) chat_spans_mark(sp, start, b->n);
}

static void put_trim(PyBuf *b, ChatSpans *sp, const char *s) {
    size_t a, e, at = b->n;
    chat_trim_span(s, &a, &e);
    pybuf_put(b, (s ? s : "") + a, e - a);
    mark_from(b, sp, at);
}

void chat_put_text(PyBuf *b, ChatSpans *sp, const char *s) {
    size_t at = b->n;
    pybuf_puts(b, s);
    mark_from(b, sp, at);
}

void chat_put_json(PyBuf *b, ChatSpans *sp, const cJSON *v, int indent) {
    size_t at = b->n;
    pyjson_dump(b, v, indent);
    mark_from(b, sp, at);
}

static void put_jstring(PyBuf *b, ChatSpans *sp, const char *s) {
    size_t at = b->n;
    pyjson_string(b, s);
    mark_from(b, sp, at);
}

static const char *const k_qwen_tools_head =
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function "
    "signatures within <tools></tools> XML tags:\n<tools>";
static const char *const k_qwen_tools_tail =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n";

static int render_chatml(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, int gen, PyBuf *b,
                         ChatSpans *sp) {
    const char *def = ct->default_system ? ct->default_system : "You are a helpful assistant.";
    int has_system = n > 0 && is(&m[0], "system");
    if (tools && cJSON_GetArraySize(tools) > 0) {
        pybuf_puts(b, "<|im_start|>system\n");
        if (has_system) chat_put_text(b, sp, text(&m[0]));
        else pybuf_puts(b, def);
        pybuf_puts(b, k_qwen_tools_head);
        for (const cJSON *t = tools->child; t; t = t->next) pybuf_puts(b, "\n"), chat_put_json(b, sp, t, -1);
        pybuf_puts(b, k_qwen_tools_tail);
    } else if (has_system || ct->default_system) {
        pybuf_puts(b, "<|im_start|>system\n");
        if (has_system) chat_put_text(b, sp, text(&m[0]));
        else pybuf_puts(b, def);
        pybuf_puts(b, "<|im_end|>\n");
    }
    for (int i = 0; i < n; i++) {
        if (is(&m[i], "user") || (is(&m[i], "system") && i > 0) || (is(&m[i], "assistant") && !m[i].n_tool_calls)) {
            pybuf_puts(b, "<|im_start|>"), pybuf_puts(b, m[i].role), pybuf_puts(b, "\n");
            chat_put_text(b, sp, text(&m[i])), pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "assistant")) {
            pybuf_puts(b, "<|im_start|>assistant");
            if (*text(&m[i])) pybuf_puts(b, "\n"), chat_put_text(b, sp, text(&m[i]));
            for (int k = 0; k < m[i].n_tool_calls; k++) {
                pybuf_puts(b, "\n<tool_call>\n{\"name\": \""), chat_put_text(b, sp, m[i].tool_calls[k].name);
                pybuf_puts(b, "\", \"arguments\": "), chat_put_json(b, sp, m[i].tool_calls[k].arguments, -1);
                pybuf_puts(b, "}\n</tool_call>");
            }
            pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "tool")) { /* consecutive results share one user turn */
            if (i == 0 || !is(&m[i - 1], "tool")) pybuf_puts(b, "<|im_start|>user");
            pybuf_puts(b, "\n<tool_response>\n"), chat_put_text(b, sp, text(&m[i]));
            pybuf_puts(b, "\n</tool_response>");
            if (i == n - 1 || !is(&m[i + 1], "tool")) pybuf_puts(b, "<|im_end|>\n");
        }
    }
    if (gen) pybuf_puts(b, "<|im_start|>assistant\n");
    return 0;
}

static int render_llama3(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, int gen, PyBuf *b,
                         ChatSpans *sp, char *err, size_t errlen) {
    int with_tools = tools != NULL;
    pybuf_puts(b, ct->bos_text ? ct->bos_text : "");
    const char *sys = "";
    if (n > 0 && is(&m[0], "system")) sys = text(&m[0]), m++, n--;
    pybuf_puts(b, "<|start_header_id|>system<|end_header_id|>\n\n");
    if (with_tools) pybuf_puts(b, "Environment: ipython\n");
    pybuf_puts(b, ct->system_preamble);
    put_trim(b, sp, sys);
    pybuf_puts(b, "<|eot_id|>");
    if (with_tools) { /* the tools go with the first user message */
        if (n == 0) return err_set(err, errlen, -EINVAL, "Cannot put tools in the first user message when there's no first user message!");
        pybuf_puts(b, "<|start_header_id|>user<|end_header_id|>\n\n");
        pybuf_puts(b, "Given the following functions, please respond with a JSON for a function call with its proper "
                      "arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, "
                      "\"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n");
        for (const cJSON *t = tools->child; t; t = t->next) chat_put_json(b, sp, t, 4), pybuf_puts(b, "\n\n");
        put_trim(b, sp, text(&m[0]));
        pybuf_puts(b, "<|eot_id|>");
        m++, n--;
    }
    for (int i = 0; i < n; i++) {
        if (is(&m[i], "tool") || is(&m[i], "ipython")) {
            pybuf_puts(b, "<|start_header_id|>ipython<|end_header_id|>\n\n");
            put_jstring(b, sp, text(&m[i])); /* a string is iterable to Jinja: tojson quotes it */
            pybuf_puts(b, "<|eot_id|>");
        } else if (m[i].n_tool_calls) {
            if (m[i].n_tool_calls != 1) return err_set(err, errlen, -EINVAL, "This model only supports single tool-calls at once!");
            pybuf_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"");
            chat_put_text(b, sp, m[i].tool_calls[0].name), pybuf_puts(b, "\", \"parameters\": ");
            chat_put_json(b, sp, m[i].tool_calls[0].arguments, -1);
            pybuf_puts(b, "}<|eot_id|>");
        } else {
            pybuf_puts(b, "<|start_header_id|>"), pybuf_puts(b, m[i].role), pybuf_puts(b, "<|end_header_id|>\n\n");
            put_trim(b, sp, text(&m[i]));
            pybuf_puts(b, "<|eot_id|>");
        }
    }
    if (gen) pybuf_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

int chat_template_apply_tools(const ChatTemplate *ct, const ChatMessage *msgs, int n, const cJSON *tools, int gen,
                              char **out, char *err, size_t errlen) {
    return chat_render_tools(ct, msgs, n, tools, gen, out, NULL, err, errlen);
}

int chat_render_tools(const ChatTemplate *ct, const ChatMessage *msgs, int n, const cJSON *tools, int gen, char **out,
                      ChatSpans *sp, char *err, size_t errlen) {
    *out = NULL;
    if (tools && !cJSON_IsArray(tools)) return err_set(err, errlen, -EINVAL, "tools must be a list");
    PyBuf b = {0};
    pybuf_puts(&b, "");
    int rc;
    if (ct->flavor == CHAT_FLAVOR_MISTRAL_V7) {
        for (int i = 0; i < n; i++)
            if (msgs[i].n_tool_calls || is(&msgs[i], "tool")) tools = (const cJSON *)1;
        free(b.p);
        if (tools) return err_set(err, errlen, -EINVAL, "%s", chat_template_tools_unsupported(ct));
        return chat_render_basic(ct, msgs, n, gen, out, sp, err, errlen);
    }
    switch (ct->kind) {
    case CHAT_TEMPLATE_CHATML:
        if (ct->flavor == CHAT_FLAVOR_QWEN3) rc = chat_render_qwen3(msgs, n, tools, gen, &b, sp, err, errlen);
        else if (ct->flavor == CHAT_FLAVOR_HERMES)
            rc = chat_render_hermes(ct, msgs, n, tools, gen, &b, sp, err, errlen);
        else if (ct->flavor == CHAT_FLAVOR_SMOLLM3) rc = chat_render_smollm3(msgs, n, gen, &b, sp);
        else rc = render_chatml(ct, msgs, n, tools, gen, &b, sp);
        break;
    case CHAT_TEMPLATE_LLAMA3:
        if (!ct->system_preamble) { /* Llama-3.0: the plain template (render_llama3 is 3.1's, preamble and all) */
            for (int i = 0; i < n; i++)
                if (msgs[i].n_tool_calls || is(&msgs[i], "tool"))
                    return free(b.p), err_set(err, errlen, -EINVAL, "this Llama-3 chat template has no tool messages (Llama-3.1 and later have)");
            if (tools) return free(b.p), err_set(err, errlen, -EINVAL, "this Llama-3 chat template has no tools (Llama-3.1 and later have)");
            free(b.p);
            return chat_render_basic(ct, msgs, n, gen, out, sp, err, errlen);
        }
        rc = render_llama3(ct, msgs, n, tools, gen, &b, sp, err, errlen);
        break;
    case CHAT_TEMPLATE_MISTRAL_NEMO: rc = chat_render_nemo(ct, msgs, n, tools, &b, sp, err, errlen); break;
    case CHAT_TEMPLATE_MISTRAL:
        if (chat_flavor_mistral_args(ct->flavor)) {
            rc = chat_render_mistral_args(ct, msgs, n, tools, &b, sp, err, errlen);
            break;
        }
        /* the old Mistral template has no tools */
        /* fall through */
    default:
        free(b.p);
        for (int i = 0; i < n; i++)
            if (msgs[i].n_tool_calls || is(&msgs[i], "tool")) tools = (const cJSON *)1;
        if (tools)
            return err_set(err, errlen, -EINVAL,
                           "the %s chat template has no tool calls (ChatML, Llama-3.1, Mistral-Nemo and "
                           "Mistral-Small-3.2 have)",
                           chat_template_kind_name(ct->kind));
        return chat_render_basic(ct, msgs, n, gen, out, sp, err, errlen);
    }
    if (!rc && b.oom) rc = err_set(err, errlen, -ENOMEM, "out of memory rendering the chat template");
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    return 0;
}
