/* Mistral's templates with [SYSTEM_PROMPT] and calls written [TOOL_CALLS]name[ARGS]{...}, as
 * their Jinja writes them (tests/e2e/test_chat_tools.py compares with jinja2 on llama.cpp's
 * copies of the real templates). The three differ where the tools and the results go:
 *   Mistral-Small-3.2  the system prompt (or the template's default, dated today), the tools
 *                      in [AVAILABLE_TOOLS] before the last user message, each call with its
 *                      9-character id in [CALL_ID], results as [TOOL_RESULTS]id[TOOL_CONTENT];
 *   Devstral           (Unsloth's template) the tools right after the system prompt, an
 *                      assistant's content before its calls, results without ids;
 *   Ministral-3        (and Magistral: reasoning, [THINK] in the default system prompt) as
 *                      Devstral, with its own checks of the roles and the contents.
 * None of them writes anything for add_generation_prompt. Raised errors keep the templates'
 * words. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "engine/chat_template_internal.h"
#include "engine/pyjson.h"

static int is(const ChatMessage *m, const char *role) { return m->role && !strcmp(m->role, role); }
static const char *text(const ChatMessage *m) { return m->content ? m->content : ""; }

int chat_flavor_mistral_args(ChatFlavor f) {
    return f == CHAT_FLAVOR_MISTRAL_SMALL || f == CHAT_FLAVOR_DEVSTRAL || f == CHAT_FLAVOR_MINISTRAL;
}

/* One Jinja string literal at *p (Python's unicode-escape rules for the escapes the templates
 * use) onto b; *p moves past it. 0, or -1 when it is not one. */
static int literal(const char **p, PyBuf *b) {
    char q = **p;
    const char *s = *p + 1;
    if (q != '\'' && q != '"') return -1;
    for (; *s && *s != q; s++) {
        if (*s != '\\' || !s[1]) {
            pybuf_put(b, s, 1);
            continue;
        }
        const char *esc = strchr("ntr\\'\"abfv", *++s);
        if (esc) pybuf_put(b, &"\n\t\r\\'\"\a\b\f\v"[esc - "ntr\\'\"abfv"], 1);
        else pybuf_put(b, s - 1, 2); /* an escape Python does not know stays as it is */
    }
    if (*s != q) return -1;
    *p = s + 1;
    return 0;
}

/* Today's date in the format the template gives name with `set name = strftime_now("...")`. */
static int date_of(const char *src, const char *name, size_t len, PyBuf *b) {
    char key[80], fmt[64], out[128];
    if (len > 40) return -1;
    snprintf(key, sizeof key, "set %.*s = strftime_now(", (int)len, name);
    const char *k = strstr(src, key);
    if (!k) return -1;
    k += strlen(key);
    PyBuf f = {0};
    int rc = literal(&k, &f);
    if (!rc && f.n < sizeof fmt) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        snprintf(fmt, sizeof fmt, "%s", f.p ? f.p : "");
        pybuf_put(b, out, strftime(out, sizeof out, fmt, &tm));
    }
    free(f.p);
    return rc || f.n >= sizeof fmt ? -1 : 0;
}

char *chat_mistral_default_system(const char *src) {
    const char *p = strstr(src, "set default_system_message = ");
    if (!p) return NULL;
    p += strlen("set default_system_message = ");
    PyBuf b = {0};
    pybuf_puts(&b, "");
    for (;;) {
        if (*p == '\'' || *p == '"') {
            if (literal(&p, &b)) break;
        } else {
            size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
            if (!n || date_of(src, p, n, &b)) break;
            p += n;
        }
        p += strspn(p, " \t\n");
        if (*p != '+') return b.oom || (*p != '%' && *p != '-') ? free(b.p), NULL : b.p;
        p += 1 + strspn(p + 1, " \t\n");
    }
    free(b.p);
    return NULL;
}

static int fail(char *err, size_t errlen, const char *msg) { return err_set(err, errlen, -EINVAL, "%s", msg); }

static const char *const k_id_error = "Tool call IDs should be alphanumeric strings with length 9!";

/* The roles' order, as Mistral-Small-3.2 and Ministral-3 check it: the messages that count
 * alternate user, assistant, ... */
static int alternation(ChatFlavor fl, const ChatMessage *m, int n, char *err, size_t errlen) {
    for (int i = 0, k = 0; i < n && fl != CHAT_FLAVOR_DEVSTRAL; i++) {
        int counts = fl == CHAT_FLAVOR_MISTRAL_SMALL
                         ? !(is(&m[i], "tool") || m[i].n_tool_calls)
                         : is(&m[i], "user") || (is(&m[i], "assistant") && !m[i].n_tool_calls);
        if (counts && is(&m[i], "user") != (k++ % 2 == 0))
            return fail(err, errlen,
                        fl == CHAT_FLAVOR_MISTRAL_SMALL
                            ? "After the optional system message, conversation roles must alternate "
                              "user/assistant/user/assistant/..."
                            : "After the optional system message, conversation roles must alternate user and assistant "
                              "roles except for tool calls and results.");
    }
    return 0;
}

static void put_tools(PyBuf *b, ChatSpans *sp, const cJSON *tools) {
    pybuf_puts(b, "[AVAILABLE_TOOLS]"), chat_put_json(b, sp, tools, -1), pybuf_puts(b, "[/AVAILABLE_TOOLS]");
}

/* An assistant's calls: [TOOL_CALLS]name([CALL_ID]id)[ARGS]arguments, each. */
static int put_calls(ChatFlavor fl, PyBuf *b, ChatSpans *sp, const ChatMessage *m, char *err, size_t errlen) {
    for (int k = 0; k < m->n_tool_calls; k++) {
        const ChatToolCall *tc = &m->tool_calls[k];
        pybuf_puts(b, "[TOOL_CALLS]"), chat_put_text(b, sp, tc->name ? tc->name : "");
        if (fl == CHAT_FLAVOR_MISTRAL_SMALL) {
            if (!tc->id || strlen(tc->id) != 9) return fail(err, errlen, k_id_error);
            pybuf_puts(b, "[CALL_ID]"), chat_put_text(b, sp, tc->id);
        }
        pybuf_puts(b, "[ARGS]");
        if (!tc->arguments) return fail(err, errlen, "a tool call has no arguments");
        if (fl != CHAT_FLAVOR_MISTRAL_SMALL && cJSON_IsString(tc->arguments)) /* a string is written as it is */
            chat_put_text(
                b, sp, *tc->arguments->valuestring || fl == CHAT_FLAVOR_DEVSTRAL ? tc->arguments->valuestring : "{}");
        else chat_put_json(b, sp, tc->arguments, -1);
    }
    return 0;
}

static int same_message(const ChatMessage *a, const ChatMessage *b) {
    return !strcmp(a->role, b->role) && !a->content == !b->content && !strcmp(text(a), text(b)) &&
           a->n_tool_calls == b->n_tool_calls;
}

int chat_render_mistral_args(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, PyBuf *b,
                             ChatSpans *sp, char *err, size_t errlen) {
    ChatFlavor fl = ct->flavor;
    const char *eos = ct->eos_text ? ct->eos_text : "";
    if (n == 0 && fl != CHAT_FLAVOR_MISTRAL_SMALL)
        return fail(err, errlen, "the template reads messages[0]: no messages");
    pybuf_puts(b, ct->bos_text ? ct->bos_text : "");
    if (n > 0 && is(&m[0], "system")) {
        if (!m[0].content && fl != CHAT_FLAVOR_MINISTRAL) return fail(err, errlen, "the system message has no content");
        pybuf_puts(b, "[SYSTEM_PROMPT]"), chat_put_text(b, sp, text(&m[0])), pybuf_puts(b, "[/SYSTEM_PROMPT]");
        m++, n--;
    } else if (fl != CHAT_FLAVOR_MINISTRAL || (ct->default_system && *ct->default_system)) {
        /* the template's own text: its control tokens ([THINK]) stay control tokens */
        pybuf_puts(b, "[SYSTEM_PROMPT]"), pybuf_puts(b, ct->default_system ? ct->default_system : "");
        pybuf_puts(b, "[/SYSTEM_PROMPT]");
    }
    int rc = alternation(fl, m, n, err, errlen);
    if (rc) return rc;
    int with_tools = fl == CHAT_FLAVOR_MISTRAL_SMALL ? tools != NULL : tools && cJSON_GetArraySize(tools) > 0;
    if (with_tools && fl != CHAT_FLAVOR_MISTRAL_SMALL) put_tools(b, sp, tools);
    int last_user = -1;
    for (int i = 0; i < n; i++)
        if (is(&m[i], "user")) last_user = i;
    for (int i = 0; i < n && !rc; i++) {
        const ChatMessage *mi = &m[i];
        if (is(mi, "user")) {
            if (fl == CHAT_FLAVOR_MINISTRAL && !mi->content)
                return fail(err, errlen, "User message must have a string or a list of chunks in content");
            /* Jinja compares message dicts: a user message equal to the last one counts as it */
            if (with_tools && fl == CHAT_FLAVOR_MISTRAL_SMALL && same_message(mi, &m[last_user]))
                put_tools(b, sp, tools);
            pybuf_puts(b, "[INST]"), chat_put_text(b, sp, text(mi)), pybuf_puts(b, "[/INST]");
        } else if (is(mi, "system") && fl != CHAT_FLAVOR_MINISTRAL) {
            if (!mi->content) return fail(err, errlen, "a system message has no content");
            pybuf_puts(b, "[SYSTEM_PROMPT]"), chat_put_text(b, sp, text(mi)), pybuf_puts(b, "[/SYSTEM_PROMPT]");
        } else if (is(mi, "assistant")) {
            if (fl == CHAT_FLAVOR_DEVSTRAL && !mi->content)
                return fail(err, errlen, "'dict object' has no attribute 'content'");
            if (fl == CHAT_FLAVOR_MINISTRAL && !*text(mi) && !mi->n_tool_calls)
                return fail(err, errlen,
                            "Assistant message must have a string or a list of chunks in content or a list "
                            "of tool calls.");
            if (fl != CHAT_FLAVOR_MISTRAL_SMALL || !mi->n_tool_calls) chat_put_text(b, sp, text(mi));
            rc = put_calls(fl, b, sp, mi, err, errlen);
            pybuf_puts(b, eos);
        } else if (is(mi, "tool") || (is(mi, "tool_results") && fl != CHAT_FLAVOR_MINISTRAL)) {
            pybuf_puts(b, "[TOOL_RESULTS]");
            if (fl == CHAT_FLAVOR_MISTRAL_SMALL) {
                if (!mi->tool_call_id || strlen(mi->tool_call_id) != 9) return fail(err, errlen, k_id_error);
                chat_put_text(b, sp, mi->tool_call_id), pybuf_puts(b, "[TOOL_CONTENT]");
            }
            chat_put_text(b, sp, text(mi)), pybuf_puts(b, "[/TOOL_RESULTS]");
        } else {
            snprintf(err, errlen, "%s%s%s",
                     fl == CHAT_FLAVOR_MISTRAL_SMALL ? "Only system, user, assistant, and tool roles are supported!"
                     : fl == CHAT_FLAVOR_DEVSTRAL ? "Only user, systemm assistant and tool roles are supported in the "
                                                    "custom template made by Unsloth!"
                                                  : "Only user, assistant and tool roles are supported, got ",
                     fl == CHAT_FLAVOR_MINISTRAL ? mi->role : "", fl == CHAT_FLAVOR_MINISTRAL ? "." : "");
            return -EINVAL;
        }
    }
    return rc;
}
