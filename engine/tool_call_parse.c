/* Reading tool calls back from the text the grammar allowed (see tool_call.h): a walk over
 * the fixed layout of tool_call_internal.h, resumed at each new piece of the text. Content is
 * given out as soon as it cannot be the start of the trigger; a call's name once its end
 * (a closing quote, Mistral's [ARGS]) arrived; its arguments as they arrive, byte for byte, their end found by tracking
 * the JSON nesting (strings and escapes included). A text that ends inside a call (max_tokens)
 * leaves the parser incomplete; the caller then reports the text as it is. */
#include <string.h>

#include "engine/tool_call_internal.h"

enum { S_CONTENT = 0, S_OPEN, S_HEAD, S_NAME, S_MID, S_ARGS, S_TAIL, S_NEXT, S_DONE };

void tool_parser_init(ToolParser *p, ToolFormat fmt, ToolMode mode) {
    memset(p, 0, sizeof *p);
    p->fmt = fmt, p->mode = mode;
    p->state = mode == TOOL_MODE_AUTO ? S_CONTENT : S_OPEN;
    p->complete = 1;
}

static int emit(ToolEvent *ev, int *n, int cap, ToolEventKind kind, int index, const char *t, size_t len) {
    if (len == 0 && kind != TOOL_EV_CALL) return 1;
    if (*n >= cap) return 0;
    ev[(*n)++] = (ToolEvent){kind, index, t, len};
    return 1;
}

/* Whether text[pos, len) starts with lit: 1 yes, 0 not yet known (too short), -1 no. */
static int starts(const char *text, size_t pos, size_t len, const char *lit) {
    size_t n = strlen(lit), have = len - pos < n ? len - pos : n;
    if (memcmp(text + pos, lit, have)) return -1;
    return have == n ? 1 : 0;
}

/* The longest suffix of text[pos, len) that is a proper prefix of trig. */
static size_t held(const char *text, size_t pos, size_t len, const char *trig) {
    size_t n = strlen(trig);
    for (size_t k = n - 1; k > 0; k--)
        if (len - pos >= k && !memcmp(text + len - k, trig, k)) return k;
    return 0;
}

int tool_parser_feed(ToolParser *p, const char *text, size_t len, int final, ToolEvent *ev, int cap) {
    const ToolSyntax *sx = &k_tool_syntax[p->fmt];
    int n = 0;
    for (;;) {
        size_t pos = p->pos;
        switch (p->state) {
        case S_CONTENT: {
            if (!*sx->trigger) { /* Llama-3: the turn is a call when it starts with "{" */
                if (pos == 0 && len > 0 && text[0] == '{') {
                    p->state = S_HEAD;
                    continue;
                }
                if (len > pos && !emit(ev, &n, cap, TOOL_EV_CONTENT, 0, text + pos, len - pos)) return n;
                p->pos = len;
                return n;
            }
            const char *hit = NULL;
            for (size_t i = pos; !hit && i + strlen(sx->trigger) <= len; i++)
                if (!memcmp(text + i, sx->trigger, strlen(sx->trigger))) hit = text + i;
            size_t end = hit ? (size_t)(hit - text) : len - (final ? 0 : held(text, pos, len, sx->trigger));
            if (!emit(ev, &n, cap, TOOL_EV_CONTENT, 0, text + pos, end - pos)) return n;
            p->pos = end;
            if (!hit) return n;
            p->state = *sx->open ? S_OPEN : S_HEAD;
            continue;
        }
        case S_OPEN: case S_HEAD: case S_MID: case S_TAIL: {
            const char *lit = p->state == S_OPEN ? sx->open : p->state == S_HEAD ? sx->head : p->state == S_MID ? sx->mid : sx->tail;
            int s = starts(text, pos, len, lit);
            if (s <= 0) return n; /* not here yet (or, against the grammar, not at all: stay incomplete) */
            p->pos = pos + strlen(lit);
            if (p->state == S_HEAD) p->complete = 0;
            if (p->state == S_TAIL) p->n_calls++, p->complete = 1;
            p->state = p->state == S_OPEN ? S_HEAD : p->state == S_HEAD ? S_NAME : p->state == S_MID ? S_ARGS : S_NEXT;
            if (p->state == S_ARGS) p->depth = 0, p->in_str = 0, p->esc = 0;
            continue;
        }
        case S_NAME: {
            const char *q = memchr(text + pos, sx->mid[0], len - pos);
            if (!q) return n;
            if (!emit(ev, &n, cap, TOOL_EV_CALL, p->n_calls, text + pos, (size_t)(q - text) - pos)) return n;
            p->pos = (size_t)(q - text); /* mid starts where the name ends (its closing quote, "[ARGS]") */
            p->state = S_MID;
            continue;
        }
        case S_ARGS: {
            size_t i = pos;
            int ended = 0;
            for (; i < len && !ended; i++) {
                char c = text[i];
                if (p->in_str) {
                    if (p->esc) p->esc = 0;
                    else if (c == '\\') p->esc = 1;
                    else if (c == '"') p->in_str = 0;
                } else if (c == '"') p->in_str = 1;
                else if (c == '{' || c == '[') p->depth++;
                else if ((c == '}' || c == ']') && --p->depth == 0) ended = 1;
            }
            if (!emit(ev, &n, cap, TOOL_EV_ARGS, p->n_calls, text + pos, i - pos)) return n;
            p->pos = i;
            if (!ended) return n;
            p->state = S_TAIL;
            continue;
        }
        case S_NEXT: {
            const char *next = *sx->sep ? sx->sep : sx->head; /* no sep: the next call's head */
            if (sx->multi && *next && starts(text, pos, len, next) == 1) {
                p->pos = pos + strlen(sx->sep);
                p->state = S_HEAD;
                continue;
            }
            if (*sx->close && starts(text, pos, len, sx->close) == 1) {
                p->pos = pos + strlen(sx->close);
                p->state = S_DONE;
                continue;
            }
            if (!*sx->close && final) p->state = S_DONE;
            return n;
        }
        default: return n;
        }
    }
}
