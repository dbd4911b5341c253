/* One rule's expression to a Thompson NFA with epsilon, byte-set and call edges
 * (grammar_nfa.h). Repetitions are expanded into copies, which is what the NFA state limit
 * bounds; each alternative and each loop gets an entry state of its own, so that a loop
 * never reaches a sibling branch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/grammar_nfa.h"

static int nfa_state(Nfa *a) {
    if (a->n >= a->max) return -1;
    if (a->n == a->cap) {
        int c = a->cap ? a->cap * 2 : 256;
        int32_t *h = realloc(a->head, (size_t)c * sizeof *h);
        if (!h) return a->oom = 1, -1;
        a->head = h, a->cap = c;
    }
    a->head[a->n] = -1;
    return a->n++;
}

static int nfa_edge(Nfa *a, int from, int kind, int arg, int to) {
    if (a->ne == a->cap_e) {
        int c = a->cap_e ? a->cap_e * 2 : 512;
        NEdge *e = realloc(a->e, (size_t)c * sizeof *e);
        if (!e) return a->oom = 1, -1;
        a->e = e, a->cap_e = c;
    }
    a->e[a->ne] = (NEdge){a->head[from], to, arg, (uint8_t)kind};
    a->head[from] = a->ne++;
    return 0;
}

/* Edges from `from` to `to` that match expression x. -1 at a limit or out of memory. */
static int build(Nfa *a, int x, int from, int to) {
    const GExpr *e = &a->g->x[x];
    switch (e->kind) {
    case GX_EMPTY: return nfa_edge(a, from, E_EPS, 0, to);
    case GX_NONE: return 0;
    case GX_BYTES: return nfa_edge(a, from, E_BYTES, e->a, to);
    case GX_RULE: return nfa_edge(a, from, E_CALL, e->a, to);
    case GX_ALT:
        for (int i = 0; i < e->b; i++) {
            /* a fresh entry per branch, so that a branch's loop never reaches another branch */
            int s = nfa_state(a);
            if (s < 0 || nfa_edge(a, from, E_EPS, 0, s) || build(a, a->g->kids[e->a + i], s, to)) return -1;
        }
        return 0;
    case GX_SEQ: {
        int cur = from;
        for (int i = 0; i < e->b; i++) {
            int nxt = i + 1 == e->b ? to : nfa_state(a);
            if (nxt < 0 || build(a, a->g->kids[e->a + i], cur, nxt)) return -1;
            cur = nxt;
        }
        return 0;
    }
    case GX_GRAPH: { /* fresh NFA states for the automaton's, entered at its state 0 */
        const int32_t *d = a->g->kids + e->a;
        int m = d[0], ne = d[1], base = a->n;
        for (int i = 0; i < m; i++)
            if (nfa_state(a) < 0) return -1;
        if (nfa_edge(a, from, E_EPS, 0, base)) return -1;
        for (int i = 0; i < m; i++)
            if (d[2 + i] && nfa_edge(a, base + i, E_EPS, 0, to)) return -1;
        for (int i = 0; i < ne; i++) {
            const int32_t *t = d + 2 + m + 3 * i;
            if (nfa_edge(a, base + t[0], E_BYTES, t[1], base + t[2])) return -1;
        }
        return 0;
    }
    case GX_REPEAT: {
        int cur = from;
        for (int i = 0; i < e->min; i++) {
            int nxt = nfa_state(a);
            if (nxt < 0 || build(a, e->a, cur, nxt)) return -1;
            cur = nxt;
        }
        if (e->max < 0) { /* a loop on a state of its own */
            int loop = nfa_state(a), back = nfa_state(a);
            if (loop < 0 || back < 0 || nfa_edge(a, cur, E_EPS, 0, loop) || build(a, e->a, loop, back) ||
                nfa_edge(a, back, E_EPS, 0, loop) || nfa_edge(a, loop, E_EPS, 0, to))
                return -1;
            return 0;
        }
        for (int i = e->min; i < e->max; i++) {
            int nxt = nfa_state(a);
            if (nxt < 0 || nfa_edge(a, cur, E_EPS, 0, to) || build(a, e->a, cur, nxt)) return -1;
            cur = nxt;
        }
        return nfa_edge(a, cur, E_EPS, 0, to);
    }
    }
    return 0;
}

int nfa_build(Nfa *a, const Grammar *g, int rule, int max_states) {
    memset(a, 0, sizeof *a);
    a->g = g, a->max = max_states;
    int start = nfa_state(a), accept = nfa_state(a);
    if (start < 0 || accept < 0) return -1;
    return build(a, g->rules[rule].body, start, accept);
}

void nfa_free(Nfa *a) {
    free(a->head), free(a->e);
    memset(a, 0, sizeof *a);
}

/* Byte classes: the subset construction then works once per class, not per byte. */
int nfa_byte_classes(const Nfa *a, uint8_t cls[256], uint8_t rep[256]) {
    uint8_t *used = calloc((size_t)a->g->n_sets + 1, 1);
    memset(cls, 0, 256);
    int n = 1;
    for (int k = 0; k < a->ne; k++) {
        if (a->e[k].kind != E_BYTES || (used && used[a->e[k].arg])) continue;
        if (used) used[a->e[k].arg] = 1;
        const ByteSet *set = &a->g->sets[a->e[k].arg];
        int16_t split[256]; /* old class -> its new class for members of the set */
        for (int c = 0; c < n; c++) split[c] = -1;
        for (int b = 0; b < 256; b++) {
            if (!byteset_has(set, (unsigned)b)) continue;
            int c = cls[b];
            if (split[c] < 0) {
                /* a new class for the members, unless every byte of c is in the set */
                int whole = 1;
                for (int x = 0; x < 256 && whole; x++) whole = cls[x] != c || byteset_has(set, (unsigned)x);
                split[c] = whole ? (int16_t)c : (int16_t)n++;
            }
            cls[b] = (uint8_t)split[c];
        }
    }
    free(used);
    for (int b = 255; b >= 0; b--) rep[cls[b]] = (uint8_t)b;
    return n;
}

