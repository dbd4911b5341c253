/* GBNF, the grammar format of llama.cpp (grammars/README.md there), which TGI's and vLLM's
 * grammar users write too: rules `name ::= alternatives`, literals "..." with \n \t \r \\ \"
 * \xHH \uHHHH \UHHHHHHHH escapes, classes [a-z] and [^...], "." (any character), groups,
 * the repetitions * + ? {m} {m,} {m,n}, and # comments. As in llama.cpp, a newline ends a
 * rule except inside parentheses or after "|", rules may be used before they are defined,
 * and the start rule is "root". Token references (<...>) are refused by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/constraint_internal.h"

#define GBNF_MAX_DEPTH 200

typedef struct Gb {
    Grammar *g;
    const char *s, *end, *p;
    int depth;
    char *err;
    size_t errlen;
    int rc;
} Gb;

static int fail(Gb *b, const char *what) {
    if (!b->rc) {
        int line = 1;
        for (const char *q = b->s; q < b->p && q < b->end; q++) line += *q == '\n';
        b->rc = err_set(b->err, b->errlen, -EINVAL, "grammar, line %d: %s", line, what);
    }
    return -1;
}

static int word_char(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void space(Gb *b, int newlines) {
    while (b->p < b->end) {
        char c = *b->p;
        if (c == '#') {
            while (b->p < b->end && *b->p != '\n') b->p++;
        } else if (c == ' ' || c == '\t' || ((c == '\n' || c == '\r') && newlines)) {
            b->p++;
        } else break;
    }
}

static int rule_id(Gb *b, const char *name, size_t n) {
    for (int i = 0; i < b->g->n_rules; i++)
        if (strlen(b->g->rules[i].name) == n && !memcmp(b->g->rules[i].name, name, n)) return i;
    char buf[128];
    if (n >= sizeof buf) return fail(b, "a rule name longer than 127 characters");
    memcpy(buf, name, n), buf[n] = 0;
    return grammar_rule_new(b->g, buf);
}

static int hex(Gb *b, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; i++, b->p++) {
        int c = b->p < b->end ? *b->p : 0;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return fail(b, "a malformed \\x, \\u or \\U escape");
        v = v * 16 + (uint32_t)d;
    }
    return (int)v;
}

/* One character of a literal or class (escapes decoded): its code point, or -1. */
static int32_t character(Gb *b) {
    if (b->p >= b->end) return fail(b, "unexpected end of the grammar");
    if (*b->p == '\\') {
        b->p++;
        char c = b->p < b->end ? *b->p++ : 0;
        switch (c) {
        case 'n': return '\n';
        case 't': return '\t';
        case 'r': return '\r';
        case 'x': return hex(b, 2);
        case 'u': return hex(b, 4);
        case 'U': return hex(b, 8);
        case '\\': case '"': case '[': case ']': case '-': case '^': return c;
        default: return fail(b, "an unknown escape");
        }
    }
    int len;
    int32_t cp = utf8_decode(b->p, (size_t)(b->end - b->p), &len);
    if (cp < 0) return fail(b, "invalid UTF-8");
    b->p += len;
    return cp;
}

static int alternates(Gb *b, int nested);

static int element(Gb *b) {
    Grammar *g = b->g;
    char c = *b->p;
    if (c == '"') {
        b->p++;
        int items[256], n = 0, x = grammar_empty(g);
        while (b->p < b->end && *b->p != '"') {
            int32_t cp = character(b);
            if (cp < 0) return -1;
            items[n++] = grammar_char(g, (uint32_t)cp);
            if (n == 256) x = grammar_seq2(g, x, grammar_seq(g, items, n)), n = 0;
        }
        if (b->p >= b->end) return fail(b, "an unterminated literal");
        b->p++;
        return grammar_seq2(g, x, grammar_seq(g, items, n));
    }
    if (c == '[') {
        b->p++;
        int negate = b->p < b->end && *b->p == '^', n = 0, cap = 16;
        if (negate) b->p++;
        CpRange *set = malloc((size_t)cap * sizeof *set);
        while (set && b->p < b->end && *b->p != ']') {
            int32_t lo = character(b), hi = lo;
            if (lo < 0) return free(set), -1;
            if (b->p + 1 < b->end && *b->p == '-' && b->p[1] != ']') {
                b->p++;
                if ((hi = character(b)) < 0) return free(set), -1;
                if (hi < lo) return free(set), fail(b, "a class range whose end is below its start");
            }
            if (n == cap) {
                CpRange *q = realloc(set, (size_t)(cap *= 2) * sizeof *q);
                if (!q) break;
                set = q;
            }
            set[n++] = (CpRange){(uint32_t)lo, (uint32_t)hi};
        }
        if (!set) return grammar_fail(g, -ENOMEM, "out of memory");
        if (b->p >= b->end) return free(set), fail(b, "an unterminated character class");
        b->p++;
        int x = grammar_class(g, set, n, negate);
        free(set);
        return x;
    }
    if (c == '.') return b->p++, grammar_class(g, NULL, 0, 1);
    if (c == '(') {
        b->p++;
        if (++b->depth > GBNF_MAX_DEPTH) return fail(b, "groups nested deeper than 200");
        space(b, 1);
        int x = alternates(b, 1);
        b->depth--;
        if (x < 0) return -1;
        if (b->p >= b->end || *b->p != ')') return fail(b, "expecting ')'");
        b->p++;
        return x;
    }
    if (c == '<') return fail(b, "token references <...> are not supported");
    if (word_char((unsigned char)c)) {
        const char *w = b->p;
        while (b->p < b->end && word_char((unsigned char)*b->p)) b->p++;
        return grammar_ref(g, rule_id(b, w, (size_t)(b->p - w)));
    }
    return fail(b, "expecting a literal, a class, a rule name or a group");
}

static int repetition(Gb *b, int x) {
    for (;;) {
        char c = b->p < b->end ? *b->p : 0;
        int lo, hi;
        if (c == '*') lo = 0, hi = -1, b->p++;
        else if (c == '+') lo = 1, hi = -1, b->p++;
        else if (c == '?') lo = 0, hi = 1, b->p++;
        else if (c == '{') {
            b->p++;
            char *e;
            long m = strtol(b->p, &e, 10), n = m;
            if (e == b->p) return fail(b, "expecting a number after '{'");
            b->p = e;
            if (b->p < b->end && *b->p == ',') {
                b->p++;
                n = strtol(b->p, &e, 10);
                if (e == b->p) n = -1;
                b->p = e;
            }
            if (b->p >= b->end || *b->p != '}') return fail(b, "expecting '}'");
            b->p++;
            if (m > 10000 || n > 10000 || (n >= 0 && n < m)) return fail(b, "a repetition {m,n} out of range");
            lo = (int)m, hi = (int)n;
        } else return x;
        x = grammar_repeat(b->g, x, lo, hi);
        space(b, 0);
    }
}

static int sequence(Gb *b, int nested) {
    int items[512], n = 0, x = grammar_empty(b->g);
    while (b->p < b->end) {
        char c = *b->p;
        if (!(c == '"' || c == '[' || c == '.' || c == '(' || c == '<' || word_char((unsigned char)c))) break;
        int e = element(b);
        if (e < 0) return -1;
        space(b, nested);
        items[n++] = repetition(b, e);
        if (n == 512) x = grammar_seq2(b->g, x, grammar_seq(b->g, items, n)), n = 0;
        space(b, nested);
    }
    return grammar_seq2(b->g, x, grammar_seq(b->g, items, n));
}

static int alternates(Gb *b, int nested) {
    int x = sequence(b, nested);
    while (x >= 0 && b->p < b->end && *b->p == '|') {
        b->p++;
        space(b, 1);
        x = grammar_alt2(b->g, x, sequence(b, nested));
    }
    return x;
}

int gbnf_build(Grammar *g, const char *src, size_t len, char *err, size_t errlen) {
    Gb b = {g, src, src + len, src, 0, err, errlen, 0};
    grammar_rule_new(g, "root"); /* rule 0: the start */
    space(&b, 1);
    while (b.p < b.end && !b.rc) {
        const char *w = b.p;
        while (b.p < b.end && word_char((unsigned char)*b.p)) b.p++;
        if (b.p == w) {
            fail(&b, "expecting a rule name");
            break;
        }
        int r = rule_id(&b, w, (size_t)(b.p - w));
        space(&b, 0);
        if (b.end - b.p < 3 || memcmp(b.p, "::=", 3)) {
            fail(&b, "expecting ::=");
            break;
        }
        b.p += 3;
        space(&b, 1);
        int x = alternates(&b, 0);
        if (x < 0) break;
        if (r >= 0 && g->rules[r].body >= 0) {
            fail(&b, "a rule defined twice");
            break;
        }
        grammar_rule_set(g, r, x);
        if (b.p < b.end && *b.p == '\r') b.p++;
        if (b.p < b.end && *b.p != '\n') {
            fail(&b, "expecting the end of the line");
            break;
        }
        space(&b, 1);
    }
    if (b.rc) return b.rc;
    if (g->err) return 0;
    if (g->rules[0].body < 0) return err_set(err, errlen, -EINVAL, "the grammar has no 'root' rule");
    for (int i = 0; i < g->n_rules; i++)
        if (g->rules[i].body < 0)
            return err_set(err, errlen, -EINVAL, "grammar: rule '%s' is used but never defined", g->rules[i].name);
    return 0;
}
