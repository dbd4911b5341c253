/* The ChatML variants whose templates write tools, or plain turns, their own way (see
 * chat_template.h's ChatFlavor), each as its Jinja template writes it (tests/e2e/
 * test_chat_tools.py compares with jinja2 on the real templates):
 *   Qwen3    Qwen2.5's tools, but no default system prompt, the system text untrimmed and
 *            "\n\n" before "# Tools"; an assistant turn after the last user query gets a
 *            <think> block (empty unless the content has one) when it is the last message;
 *   (Hermes-2-Pro / Hermes-3 tool_use are in chat_template_hermes.c);
 *   SmolLM3  a metadata header with the reasoning mode and the system text; its template
 *            (llama.cpp's copy, Unsloth's) lists no tools and writes no calls.
 * Where Jinja would raise (an undefined content), the error says so. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/chat_template_internal.h"
#include "engine/pyjson.h"

static int is(const ChatMessage *m, const char *role) { return m->role && !strcmp(m->role, role); }
static const char *text(const ChatMessage *m) { return m->content ? m->content : ""; }

static int has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int has_suffix(const char *s, const char *p) {
    size_t n = strlen(s), k = strlen(p);
    return n >= k && !strcmp(s + n - k, p);
}

/* [s, e) with its newlines stripped from the left and/or right (Python's strip("\n")). */
static void put_stripped(PyBuf *b, ChatSpans *sp, const char *s, const char *e, int left, int right) {
    while (left && s < e && *s == '\n') s++;
    while (right && e > s && e[-1] == '\n') e--;
    size_t at = b->n;
    pybuf_put(b, s, (size_t)(e - s));
    if (sp) chat_spans_mark(sp, at, b->n);
}

void chat_put_tool_calls(PyBuf *b, ChatSpans *sp, const ChatMessage *m, int newline_first) {
    for (int k = 0; k < m->n_tool_calls; k++) {
        if (k > 0 || newline_first) pybuf_puts(b, "\n");
        pybuf_puts(b, "<tool_call>\n{\"name\": \""), chat_put_text(b, sp, m->tool_calls[k].name);
        pybuf_puts(b, "\", \"arguments\": "), chat_put_json(b, sp, m->tool_calls[k].arguments, -1);
        pybuf_puts(b, "}\n</tool_call>");
    }
}

int chat_render_qwen3(const ChatMessage *m, int n, const cJSON *tools, int gen, PyBuf *b, ChatSpans *sp, char *err,
                      size_t errlen) {
    int has_system = n > 0 && is(&m[0], "system");
    if (tools && cJSON_GetArraySize(tools) > 0) {
        pybuf_puts(b, "<|im_start|>system\n");
        if (has_system) chat_put_text(b, sp, text(&m[0])), pybuf_puts(b, "\n\n");
        pybuf_puts(b,
                   "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided "
                   "with function signatures within <tools></tools> XML tags:\n<tools>");
        for (const cJSON *t = tools->child; t; t = t->next) pybuf_puts(b, "\n"), chat_put_json(b, sp, t, -1);
        pybuf_puts(b,
                   "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                   "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                   "<args-json-object>}\n</tool_call><|im_end|>\n");
    } else if (has_system) {
        pybuf_puts(b, "<|im_start|>system\n"), chat_put_text(b, sp, text(&m[0])), pybuf_puts(b, "<|im_end|>\n");
    }
    int last_query = n - 1; /* the last user message that is not a wrapped tool response */
    for (int i = n - 1; i >= 0; i--)
        if (is(&m[i], "user") &&
            !(has_prefix(text(&m[i]), "<tool_response>") && has_suffix(text(&m[i]), "</tool_response>"))) {
            last_query = i;
            break;
        }
    for (int i = 0; i < n; i++) {
        if (is(&m[i], "user") || (is(&m[i], "system") && i > 0)) {
            pybuf_puts(b, "<|im_start|>"), pybuf_puts(b, m[i].role), pybuf_puts(b, "\n");
            chat_put_text(b, sp, text(&m[i])), pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "assistant")) {
            if (!m[i].content) return err_set(err, errlen, -EINVAL, "'dict object' has no attribute 'content'");
            const char *c = m[i].content, *end = c + strlen(c), *think = strstr(c, "</think>");
            const char *rs = "", *re = rs; /* the reasoning, [rs, re) */
            if (think) {
                const char *last = think;
                for (const char *p = think; (p = strstr(p + 1, "</think>"));) last = p;
                rs = c, re = think; /* split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
                while (re > rs && re[-1] == '\n') re--;
                for (const char *p = rs; (p = strstr(p, "<think>")) && p + 7 <= re; p++) rs = p + 7;
                if (rs > re) rs = re;
                while (rs < re && *rs == '\n') rs++;
                c = last + 8;
                while (*c == '\n') c++;
            }
            pybuf_puts(b, "<|im_start|>assistant\n");
            if (i > last_query && (i == n - 1 || re > rs)) {
                pybuf_puts(b, "<think>\n"), put_stripped(b, sp, rs, re, 1, 1), pybuf_puts(b, "\n</think>\n\n");
                put_stripped(b, sp, c, end, 1, 0);
            } else {
                put_stripped(b, sp, c, end, 0, 0);
            }
            chat_put_tool_calls(b, sp, &m[i], *c != 0);
            pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "tool")) { /* consecutive results share one user turn */
            if (i == 0 || !is(&m[i - 1], "tool")) pybuf_puts(b, "<|im_start|>user");
            pybuf_puts(b, "\n<tool_response>\n"), chat_put_text(b, sp, text(&m[i])),
                pybuf_puts(b, "\n</tool_response>");
            if (i == n - 1 || !is(&m[i + 1], "tool")) pybuf_puts(b, "<|im_end|>\n");
        }
    }
    if (gen) pybuf_puts(b, "<|im_start|>assistant\n");
    return 0;
}

static const char *const k_smol_think =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as an assistant involves "
    "thoroughly "
    "exploring questions through a systematic thinking process before providing the final precise and accurate "
    "solutions. "
    "This requires engaging in a comprehensive cycle of analysis, summarizing, exploration, reassessment, reflection, "
    "backtracking, and iteration to develop well-considered thinking process. Please structure your response into two "
    "main "
    "sections: Thought and Solution using the specified format: <think> Thought section </think> Solution section. In "
    "the "
    "Thought section, detail your reasoning process in steps. Each step should include detailed considerations such as "
    "analysing questions, summarizing relevant findings, brainstorming new ideas, verifying the accuracy of the "
    "current "
    "steps, refining any errors, and revisiting previous steps. In the Solution section, based on various attempts, "
    "explorations, and reflections from the Thought section, systematically present the final solution that you deem "
    "correct. The Solution section should be logical, accurate, and concise and detail necessary steps needed to reach "
    "the "
    "conclusion.\n\n";

/* SmolLM3: "/think" unless the system text says "/no_think"; both words are removed from
 * it, then trailing white space. */
int chat_render_smollm3(const ChatMessage *m, int n, int gen, PyBuf *b, ChatSpans *sp) {
    int think = 1;
    PyBuf ci = {0};
    pybuf_puts(&ci, "");
    if (n > 0 && is(&m[0], "system")) {
        const char *s = text(&m[0]);
        think = strstr(s, "/no_think") ? 0 : 1;
        PyBuf t = {0};
        pybuf_puts(&t, "");
        for (const char *p = s; *p;) /* replace("/no_think", "") */
            if (has_prefix(p, "/no_think")) p += 9;
            else pybuf_put(&t, p++, 1);
        for (const char *p = t.p ? t.p : ""; *p;) /* replace("/think", "") */
            if (has_prefix(p, "/think")) p += 6;
            else pybuf_put(&ci, p++, 1);
        free(t.p);
        size_t e = ci.p ? ci.n : 0; /* rstrip() */
        while (e > 0 && strchr(" \t\n\r\v\f", ci.p[e - 1])) e--;
        ci.n = e;
        if (ci.p) ci.p[e] = 0;
    }
    pybuf_puts(b, "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nReasoning Mode: ");
    pybuf_puts(b, think ? "/think" : "/no_think");
    pybuf_puts(b, "\n\n## Custom Instructions\n\n");
    if (ci.n) chat_put_text(b, sp, ci.p), pybuf_puts(b, "\n\n");
    else
        pybuf_puts(b,
                   think ? k_smol_think : "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n");
    pybuf_puts(b, "<|im_end|>\n");
    free(ci.p);
    if (ci.oom) b->oom = 1;
    for (int i = 0; i < n; i++) {
        const char *c = text(&m[i]);
        if (is(&m[i], "user") || is(&m[i], "tool")) {
            pybuf_puts(b, "<|im_start|>user\n"), chat_put_text(b, sp, c), pybuf_puts(b, "<|im_end|>\n");
        } else if (is(&m[i], "assistant")) {
            pybuf_puts(b, think ? "<|im_start|>assistant\n" : "<|im_start|>assistant\n<think>\n\n</think>\n");
            put_stripped(b, sp, c, c + strlen(c), 1, 0), pybuf_puts(b, "<|im_end|>\n");
        }
    }
    if (gen) pybuf_puts(b, think ? "<|im_start|>assistant\n" : "<|im_start|>assistant\n<think>\n\n</think>\n");
    return 0;
}
