/* The grammar builder (see grammar.h): expressions in one growable array, byte sets in
 * another, rules by id, a memory count checked against the grammar's limit, and the KMP
 * automaton of text that never contains a trigger. UTF-8 and code point classes are in
 * grammar_utf8.c. */
#include "engine/grammar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void grammar_init(Grammar *g, size_t max_bytes) {
    memset(g, 0, sizeof *g);
    g->max_bytes = max_bytes;
}

void grammar_free(Grammar *g) {
    for (int i = 0; i < g->n_rules; i++) free(g->rules[i].name);
    free(g->x);
    free(g->kids);
    free(g->sets);
    free(g->rules);
    memset(g, 0, sizeof *g);
}

int grammar_fail(Grammar *g, int code, const char *fmt, ...) {
    if (g->err) return -1;
    g->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Room for one more element in a growable array, counted against the memory limit. */
static int reserve(Grammar *g, void **arr, int *cap, int n, size_t elem) {
    if (g->err) return -1;
    if (n < *cap) return 0;
    int c = *cap ? *cap * 2 : 64;
    if (g->max_bytes && g->bytes + (size_t)(c - *cap) * elem > g->max_bytes)
        return grammar_fail(g, -E2BIG, "the grammar needs more than its memory limit of %zu MiB",
                            g->max_bytes >> 20);
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p) return grammar_fail(g, -ENOMEM, "out of memory building the grammar");
    g->bytes += (size_t)(c - *cap) * elem;
    *arr = p, *cap = c;
    return 0;
}

static int expr(Grammar *g, int kind, int32_t a, int32_t b, int32_t min, int32_t max) {
    if (reserve(g, (void **)&g->x, &g->cap_x, g->n_x, sizeof *g->x)) return -1;
    g->x[g->n_x] = (GExpr){(uint8_t)kind, a, b, min, max};
    return g->n_x++;
}

int grammar_empty(Grammar *g) { return expr(g, GX_EMPTY, 0, 0, 0, 0); }
int grammar_none(Grammar *g) { return expr(g, GX_NONE, 0, 0, 0, 0); }

int grammar_byteset(Grammar *g, const ByteSet *s) {
    if (reserve(g, (void **)&g->sets, &g->cap_sets, g->n_sets, sizeof *g->sets)) return -1;
    g->sets[g->n_sets] = *s;
    return expr(g, GX_BYTES, g->n_sets++, 0, 0, 0);
}

int grammar_byte_range(Grammar *g, uint8_t lo, uint8_t hi) {
    ByteSet s = {{0}};
    for (unsigned b = lo; b <= hi; b++) byteset_add(&s, b);
    return grammar_byteset(g, &s);
}

static int list(Grammar *g, int kind, const int *kids, int n) {
    for (int i = 0; i < n; i++)
        if (kids[i] < 0) return -1;
    if (n == 1) return kids[0];
    if (n == 0) return kind == GX_SEQ ? grammar_empty(g) : grammar_none(g);
    int at = g->n_kids;
    for (int i = 0; i < n; i++) {
        if (reserve(g, (void **)&g->kids, &g->cap_kids, g->n_kids, sizeof *g->kids)) return -1;
        g->kids[g->n_kids++] = kids[i];
    }
    return expr(g, kind, at, n, 0, 0);
}

int grammar_seq(Grammar *g, const int *kids, int n) { return list(g, GX_SEQ, kids, n); }
int grammar_alt(Grammar *g, const int *kids, int n) { return list(g, GX_ALT, kids, n); }
int grammar_seq2(Grammar *g, int a, int b) { return grammar_seq(g, (int[]){a, b}, 2); }
int grammar_seq3(Grammar *g, int a, int b, int c) { return grammar_seq(g, (int[]){a, b, c}, 3); }
int grammar_alt2(Grammar *g, int a, int b) { return grammar_alt(g, (int[]){a, b}, 2); }

int grammar_literal(Grammar *g, const char *s, size_t n) {
    if (n == 0) return grammar_empty(g);
    int first = -1;
    for (size_t i = 0; i < n; i++) {
        int k = grammar_byte_range(g, (uint8_t)s[i], (uint8_t)s[i]);
        if (k < 0) return -1;
        if (i == 0) first = k;
    }
    /* the byte expressions are consecutive: a sequence over them */
    int at = g->n_kids;
    for (size_t i = 0; i < n; i++) {
        if (reserve(g, (void **)&g->kids, &g->cap_kids, g->n_kids, sizeof *g->kids)) return -1;
        g->kids[g->n_kids++] = first + (int)i;
    }
    return n == 1 ? first : expr(g, GX_SEQ, at, (int32_t)n, 0, 0);
}

int grammar_str(Grammar *g, const char *s) { return grammar_literal(g, s, strlen(s)); }

int grammar_repeat(Grammar *g, int kid, int min, int max) {
    if (kid < 0) return -1;
    if (min < 0 || (max >= 0 && max < min)) return grammar_fail(g, -EINVAL, "repetition {%d,%d} is empty", min, max);
    if (min == 1 && max == 1) return kid;
    return expr(g, GX_REPEAT, kid, 0, min, max);
}

int grammar_opt(Grammar *g, int kid) { return grammar_repeat(g, kid, 0, 1); }

int grammar_rule_new(Grammar *g, const char *name) {
    if (reserve(g, (void **)&g->rules, &g->cap_rules, g->n_rules, sizeof *g->rules)) return -1;
    char *copy = strdup(name ? name : "");
    if (!copy) return grammar_fail(g, -ENOMEM, "out of memory building the grammar");
    g->bytes += strlen(copy) + 1;
    g->rules[g->n_rules] = (GRule){copy, -1};
    return g->n_rules++;
}

void grammar_rule_set(Grammar *g, int rule, int body) {
    if (rule >= 0 && rule < g->n_rules && body >= 0) g->rules[rule].body = body;
}

int grammar_ref(Grammar *g, int rule) {
    if (rule < 0) return -1;
    return expr(g, GX_RULE, rule, 0, 0, 0);
}

int grammar_text_without(Grammar *g, const char *s) {
    int k = (int)strlen(s);
    if (k == 0 || k > 64) return grammar_fail(g, -EINVAL, "a trigger of %d bytes (1 to 64)", k);
    int fail[65] = {0}; /* KMP failure function */
    for (int i = 1, j = 0; i < k; i++) {
        while (j > 0 && s[i] != s[j]) j = fail[j - 1];
        if (s[i] == s[j]) j++;
        fail[i] = j;
    }
    int32_t desc[2 + 64 + 3 * 64 * 64], n = 0, e = 0;
    int32_t *acc = desc + 2, *edges = desc + 2 + k;
    for (int q = 0; q < k; q++) {
        acc[q] = 1;
        ByteSet to[64];
        memset(to, 0, sizeof to);
        for (int b = 0; b < 256; b++) { /* the state after byte b; k (the whole trigger) has no edge */
            int j = q;
            while (j > 0 && (unsigned char)s[j] != b) j = fail[j - 1];
            if ((unsigned char)s[j] == b) j++;
            if (j < k) byteset_add(&to[j], (unsigned)b);
        }
        for (int j = 0; j < k; j++) {
            int any = 0;
            for (int w = 0; w < 8; w++) any |= to[j].w[w] != 0;
            if (!any) continue;
            int x = grammar_byteset(g, &to[j]);
            if (x < 0) return -1;
            edges[3 * e] = q, edges[3 * e + 1] = g->x[x].a, edges[3 * e + 2] = j, e++;
        }
    }
    desc[0] = k, desc[1] = e, n = 2 + k + 3 * e;
    int at = g->n_kids;
    for (int i = 0; i < n; i++) {
        if (reserve(g, (void **)&g->kids, &g->cap_kids, g->n_kids, sizeof *g->kids)) return -1;
        g->kids[g->n_kids++] = desc[i];
    }
    return expr(g, GX_GRAPH, at, 0, 0, 0);
}

