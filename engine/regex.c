/* Regular expressions to grammar expressions: the syntax vLLM's and TGI's regex constraints
 * and JSON Schema's "pattern" use (Python re / ECMAScript): alternation, groups (plain,
 * non-capturing, named), the quantifiers * + ? {n} {n,} {n,m} {,m} (lazy and possessive
 * forms match the same strings), classes with ranges and negation, the escapes \d \w \s
 * (and their negations), \n \t \r \f \v \0 \xHH \uHHHH \u{H..} and escaped punctuation, and
 * "." (any character but a newline). Lookaround, backreferences, word boundaries, inline
 * flags and anchors inside the pattern are refused by name: a grammar cannot express the
 * first ones, and the rest would silently change what matches.
 *
 * \d and \w are ASCII; their negations \D and \W are ASCII too, so that whatever is
 * generated also matches under Python's Unicode-aware rules. \s and \S use Python's full
 * set of white space. Two modes: a whole-output regex (full match; ^ and $ at the ends are
 * allowed and redundant), and a JSON string's content (JSON Schema's pattern, which
 * searches: without ^ or $ the match may start or end anywhere; characters that JSON must
 * escape are generated escaped). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/constraint_internal.h"
#include "engine/json_grammar.h"
#include "engine/regex_internal.h"

#define RX_MAX_DEPTH 200
#define RX_MAX_REPEAT 1000

int rx_fail(Rx *r, const char *fmt, const char *what) {
    if (!r->rc) {
        char m[160];
        snprintf(m, sizeof m, fmt, what);
        r->rc = err_set(r->err, r->errlen, -EINVAL, "regex %.60s%s: %s (at position %zu)", r->s,
                        r->n > 60 ? "..." : "", m, r->i);
    }
    return -1;
}

static int peek(const Rx *r) { return r->i < r->n ? (unsigned char)r->s[r->i] : -1; }

static int number(Rx *r, int *out) {
    if (r->i >= r->n || r->s[r->i] < '0' || r->s[r->i] > '9') return 0;
    long v = 0;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') {
        v = v * 10 + (r->s[r->i++] - '0');
        if (v > RX_MAX_REPEAT) return rx_fail(r, "repetition counts above %s are not supported", "1000"), -1;
    }
    *out = (int)v;
    return 1;
}

/* {n}, {n,}, {n,m}, {,m} after an atom; 0 when the brace is a literal (Python's rule). */
static int braces(Rx *r, int *lo, int *hi) {
    size_t save = r->i++;
    int a = 0, b = -1, has_a = number(r, &a);
    if (has_a < 0) return -1;
    if (peek(r) == '}' && has_a) return r->i++, *lo = a, *hi = a, 1;
    if (peek(r) == ',') {
        r->i++;
        int has_b = number(r, &b);
        if (has_b < 0) return -1;
        if (peek(r) == '}' && (has_a || has_b)) {
            r->i++;
            if (has_b && b < a) return rx_fail(r, "%s", "a repetition {n,m} needs n <= m");
            return *lo = a, *hi = has_b ? b : -1, 1;
        }
    }
    r->i = save;
    return 0;
}

static int alternation(Rx *r, int top);

static int atom(Rx *r) {
    int c = peek(r);
    if (c == '(') {
        r->i++;
        if (peek(r) == '?') {
            r->i++;
            int k = peek(r);
            if (k == ':') r->i++;
            else if (k == 'P' && r->i + 1 < r->n && r->s[r->i + 1] == '<') { /* (?P<name>...) */
                while (r->i < r->n && r->s[r->i] != '>') r->i++;
                r->i++;
            } else if (k == '<' && r->i + 1 < r->n && r->s[r->i + 1] != '=' && r->s[r->i + 1] != '!') {
                while (r->i < r->n && r->s[r->i] != '>') r->i++;
                r->i++;
            } else if (k == '=' || k == '!' || k == '<') {
                return rx_fail(r, "%s is not supported", "lookaround (?= (?! (?<= (?<!");
            } else {
                return rx_fail(r, "%s are not supported", "inline flags such as (?i)");
            }
        }
        if (++r->depth > RX_MAX_DEPTH) return rx_fail(r, "groups nested deeper than %s", "200");
        int x = alternation(r, 0);
        r->depth--;
        if (x < 0) return -1;
        if (peek(r) != ')') return rx_fail(r, "%s", "missing ')'");
        r->i++;
        return x;
    }
    if (c == '[') return rx_class(r);
    if (c == '.') {
        r->i++;
        CpRange nl = {'\n', '\n'};
        return rx_chars(r, &nl, 1, 1);
    }
    if (c == '\\') return rx_escape(r);
    if (c == '^' || c == '$') return rx_fail(r, "%s", "anchors ^ and $ are supported only at the ends of the pattern");
    if (c == '*' || c == '+' || c == '?') return rx_fail(r, "%s", "nothing to repeat");
    int len;
    int32_t cp = utf8_decode(r->s + r->i, r->n - r->i, &len);
    if (cp < 0) return rx_fail(r, "%s", "invalid UTF-8");
    r->i += (size_t)len;
    CpRange one = {(uint32_t)cp, (uint32_t)cp};
    return rx_chars(r, &one, 1, 0);
}

static int quantified(Rx *r) {
    int x = atom(r);
    for (;;) {
        if (x < 0) return -1;
        int c = peek(r), lo, hi;
        if (c == '*') lo = 0, hi = -1, r->i++;
        else if (c == '+') lo = 1, hi = -1, r->i++;
        else if (c == '?') lo = 0, hi = 1, r->i++;
        else if (c == '{') {
            int b = braces(r, &lo, &hi);
            if (b < 0) return -1;
            if (b == 0) return x;
        } else return x;
        if (peek(r) == '?' || peek(r) == '+') r->i++; /* lazy / possessive: the same strings */
        x = grammar_repeat(r->g, x, lo, hi);
    }
}

/* Any string of content characters: what an unanchored search may have around the match. */
static int anything(Rx *r) {
    CpRange none = {'\n', '\n'};
    JsonRules jr;
    json_rules_init(&jr, r->g);
    int any = r->json ? json_char(&jr) : rx_chars(r, &none, 0, 1);
    return grammar_repeat(r->g, any, 0, -1);
}

static int sequence(Rx *r, int top) {
    int *items = NULL, n = 0, cap = 0, anchor_start = 0, anchor_end = 0;
    if (top && peek(r) == '^') r->i++, anchor_start = 1;
    while (r->i < r->n && peek(r) != '|' && peek(r) != ')') {
        if (top && peek(r) == '$' && (r->i + 1 == r->n || r->s[r->i + 1] == '|')) {
            r->i++, anchor_end = 1;
            break;
        }
        int x = quantified(r);
        if (x < 0) return free(items), -1;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            int *p = realloc(items, (size_t)cap * sizeof *p);
            if (!p) return free(items), grammar_fail(r->g, -ENOMEM, "out of memory");
            items = p;
        }
        items[n++] = x;
    }
    int x = grammar_seq(r->g, items, n);
    free(items);
    if (top && r->search) { /* JSON Schema's pattern: a search, unless anchored */
        if (!anchor_start) x = grammar_seq2(r->g, anything(r), x);
        if (!anchor_end) x = grammar_seq2(r->g, x, anything(r));
    }
    return x;
}

static int alternation(Rx *r, int top) {
    int *alts = NULL, n = 0, cap = 0;
    for (;;) {
        int x = sequence(r, top);
        if (x < 0) return free(alts), -1;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            int *p = realloc(alts, (size_t)cap * sizeof *p);
            if (!p) return free(alts), grammar_fail(r->g, -ENOMEM, "out of memory");
            alts = p;
        }
        alts[n++] = x;
        if (peek(r) != '|') break;
        r->i++;
    }
    int x = grammar_alt(r->g, alts, n);
    free(alts);
    return x;
}

static int parse(Rx *r) {
    int x = alternation(r, 1);
    if (x >= 0 && r->i < r->n) return rx_fail(r, "%s", "unbalanced ')'");
    return x;
}

int regex_build(Grammar *g, const char *re, size_t len, char *err, size_t errlen) {
    Rx r = {g, re, len, 0, 0, 0, 0, err, errlen, 0};
    int root = grammar_rule_new(g, "root");
    int x = parse(&r);
    if (x < 0) return r.rc ? r.rc : 0; /* a grammar error is reported from g */
    grammar_rule_set(g, root, x);
    return 0;
}

int regex_build_json_string(Grammar *g, const char *re, size_t len, int *expr, char *err, size_t errlen) {
    Rx r = {g, re, len, 0, 1, 1, 0, err, errlen, 0};
    *expr = parse(&r);
    return *expr < 0 && r.rc ? r.rc : 0;
}
