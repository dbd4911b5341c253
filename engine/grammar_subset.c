/* The subset construction over a rule's NFA (grammar_nfa.h) into a raw DFA
 * (grammar_dfa.h). A DFA state is a set of NFA states closed under epsilon edges; its byte
 * transitions are computed once per byte class, reusing the previous class's target while
 * the same NFA edges match, and its calls one per called rule. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "engine/grammar_nfa.h"

typedef struct SetTable {
    int32_t *pool;   /* the sets' members, one after another */
    size_t n_pool, cap_pool;
    int32_t *off, *len; /* [n] */
    int n, cap;
    int32_t *slot;   /* hash -> set id, -1 */
    uint32_t mask;
} SetTable;

static uint64_t set_hash(const int32_t *s, int n) {
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++) h = hash_mix64(h ^ (uint64_t)(uint32_t)s[i]);
    return h;
}

/* Id of set s[0, n) (sorted), added when new; -1 out of memory. *added says which. */
static int set_intern(SetTable *t, const int32_t *s, int n, int *added) {
    *added = 0;
    if ((t->n + 1) * 2 > (int)(t->mask + 1)) {
        uint32_t cap = (t->mask + 1) * 2;
        int32_t *slot = malloc(cap * sizeof *slot);
        if (!slot) return -1;
        memset(slot, 0xff, cap * sizeof *slot);
        for (int i = 0; i < t->n; i++) {
            uint32_t h = (uint32_t)set_hash(t->pool + t->off[i], t->len[i]) & (cap - 1);
            while (slot[h] >= 0) h = (h + 1) & (cap - 1);
            slot[h] = i;
        }
        free(t->slot);
        t->slot = slot, t->mask = cap - 1;
    }
    uint32_t h = (uint32_t)set_hash(s, n) & t->mask;
    for (; t->slot[h] >= 0; h = (h + 1) & t->mask) {
        int id = t->slot[h];
        if (t->len[id] == n && !memcmp(t->pool + t->off[id], s, (size_t)n * sizeof *s)) return id;
    }
    if (t->n == t->cap) {
        int c = t->cap * 2;
        int32_t *o = realloc(t->off, (size_t)c * sizeof *o), *l = o ? realloc(t->len, (size_t)c * sizeof *l) : NULL;
        if (o) t->off = o;
        if (!l) return -1;
        t->len = l, t->cap = c;
    }
    if (t->n_pool + (size_t)n > t->cap_pool) {
        size_t c = t->cap_pool * 2 + (size_t)n;
        int32_t *p = realloc(t->pool, c * sizeof *p);
        if (!p) return -1;
        t->pool = p, t->cap_pool = c;
    }
    memcpy(t->pool + t->n_pool, s, (size_t)n * sizeof *s);
    t->off[t->n] = (int32_t)t->n_pool, t->len[t->n] = n;
    t->n_pool += (size_t)n;
    t->slot[h] = t->n;
    *added = 1;
    return t->n++;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Epsilon closure of buf[0, n) in place (buf has room for every NFA state); sorted. */
static int closure(const Nfa *a, int32_t *buf, int n, uint8_t *seen) {
    for (int i = 0; i < n; i++) seen[buf[i]] = 1;
    for (int i = 0; i < n; i++)
        for (int k = a->head[buf[i]]; k >= 0; k = a->e[k].next)
            if (a->e[k].kind == E_EPS && !seen[a->e[k].to]) seen[a->e[k].to] = 1, buf[n++] = a->e[k].to;
    for (int i = 0; i < n; i++) seen[buf[i]] = 0;
    qsort(buf, (size_t)n, sizeof *buf, cmp_i32);
    return n;
}

static int raw_grow(RawDfa *r, int need) {
    if (need <= r->cap) return 0;
    int n = r->cap ? r->cap * 2 : 16;
    while (n < need) n *= 2;
    int32_t(*nx)[256] = realloc(r->next, (size_t)n * sizeof *nx);
    if (nx) r->next = nx;
    uint8_t *f = realloc(r->final, (size_t)n);
    if (f) r->final = f;
    DfaCall **c = realloc(r->calls, (size_t)n * sizeof *c);
    if (c) r->calls = c;
    int *nc = realloc(r->n_calls, (size_t)n * sizeof *nc);
    if (nc) r->n_calls = nc;
    int32_t **sc = realloc(r->succ, (size_t)n * sizeof *sc);
    if (sc) r->succ = sc;
    int *ns = realloc(r->n_succ, (size_t)n * sizeof *ns);
    if (ns) r->n_succ = ns;
    if (!nx || !f || !c || !nc || !sc || !ns) return -1;
    r->cap = n;
    return 0;
}

void raw_dfa_free(RawDfa *r) {
    for (int i = 0; r->calls && i < r->n; i++) free(r->calls[i]);
    for (int i = 0; r->succ && i < r->n; i++) free(r->succ[i]);
    free(r->next), free(r->final), free(r->calls), free(r->n_calls), free(r->succ), free(r->n_succ);
    memset(r, 0, sizeof *r);
}

/* Target id of the moved set buf[0, n) (closed here); new sets are queued by the table. */
static int target(const Nfa *a, SetTable *t, RawDfa *r, int32_t *buf, int n, uint8_t *seen, int accept, int max) {
    n = closure(a, buf, n, seen);
    int added, id = set_intern(t, buf, n, &added);
    if (id < 0) return -2;
    if (added) {
        if (id >= max) return -3;
        if (raw_grow(r, id + 1)) return -2;
        r->n = id + 1;
        r->final[id] = (uint8_t)!!bsearch(&accept, buf, (size_t)n, sizeof *buf, cmp_i32);
        r->calls[id] = NULL, r->n_calls[id] = 0;
        r->succ[id] = NULL, r->n_succ[id] = 0;
    }
    return id;
}

int raw_dfa_build(const Grammar *g, int rule, const GrammarLimits *lim, int states_left, RawDfa *out, char *err,
                  size_t errlen) {
    memset(out, 0, sizeof *out);
    Nfa a;
    SetTable t = {.cap = 64, .cap_pool = 256, .mask = 63};
    t.pool = malloc(t.cap_pool * sizeof *t.pool), t.off = malloc(64 * sizeof *t.off);
    t.len = malloc(64 * sizeof *t.len), t.slot = malloc(64 * sizeof *t.slot);
    int rc = 0, start = 0, accept = 1, built = nfa_build(&a, g, rule, lim->max_nfa_states);
    int32_t *buf = NULL, *prev = NULL;
    uint8_t *seen = NULL;
    if (!t.pool || !t.off || !t.len || !t.slot || a.oom) goto oom;
    memset(t.slot, 0xff, 64 * sizeof *t.slot);
    if (built) {
        if (a.oom) goto oom;
        rc = err_set(err, errlen, -E2BIG, "rule '%s' expands to more than %d automaton states (%s)",
                     g->rules[rule].name, lim->max_nfa_states, lim->what);
        goto done;
    }
    buf = malloc((size_t)a.n * 2 * sizeof *buf), seen = calloc((size_t)a.n, 1);
    prev = buf ? buf + a.n : NULL;
    if (!buf || !seen) goto oom;
    uint8_t cls[256], rep[256];
    int n_cls = nfa_byte_classes(&a, cls, rep);
    int32_t cls_target[256];
    buf[0] = start;
    if (target(&a, &t, out, buf, 1, seen, accept, states_left) < 0) goto oom;
    for (int d = 0; d < t.n; d++) {
        if ((d & 63) == 0 && lim->deadline > 0 && base_now() > lim->deadline) {
            rc = err_set(err, errlen, -ETIMEDOUT, "compiling the grammar took longer than its time limit (%s)", lim->what);
            goto done;
        }
        int n_prev = -1, prev_id = -1;
        for (int ci = 0; ci < n_cls; ci++) {
            int b = rep[ci];
            int n = 0;
            for (int i = 0; i < t.len[d]; i++) {
                int s = t.pool[t.off[d] + i];
                for (int k = a.head[s]; k >= 0; k = a.e[k].next)
                    if (a.e[k].kind == E_BYTES && byteset_has(&g->sets[a.e[k].arg], (unsigned)b)) buf[n++] = a.e[k].to;
            }
            int id = -1;
            if (n > 0) {
                qsort(buf, (size_t)n, sizeof *buf, cmp_i32);
                int m = 0;
                for (int i = 0; i < n; i++) /* unique: closure() needs distinct members */
                    if (m == 0 || buf[m - 1] != buf[i]) buf[m++] = buf[i];
                n = m;
                if (n == n_prev && !memcmp(buf, prev, (size_t)n * sizeof *buf)) id = prev_id;
                else {
                    memcpy(prev, buf, (size_t)n * sizeof *buf), n_prev = n;
                    id = prev_id = target(&a, &t, out, buf, n, seen, accept, states_left);
                    if (id == -3) goto too_many;
                    if (id < 0) goto oom;
                }
            }
            cls_target[ci] = id;
        }
        for (int b = 0; b < 256; b++) out->next[d][b] = cls_target[cls[b]];
        int ns = 0;
        for (int ci = 0; ci < n_cls; ci++) { /* distinct successors, for the reachability passes */
            int dup = cls_target[ci] < 0;
            for (int k = 0; k < ci && !dup; k++) dup = cls_target[k] == cls_target[ci];
            if (!dup) cls_target[ns++] = cls_target[ci];
        }
        if (ns && !(out->succ[d] = malloc((size_t)ns * sizeof(int32_t)))) goto oom;
        if (ns) memcpy(out->succ[d], cls_target, (size_t)ns * sizeof(int32_t));
        out->n_succ[d] = ns;
        /* calls, one per called rule (edges to the same rule merge their targets) */
        for (int i = 0; i < t.len[d]; i++) {
            int s = t.pool[t.off[d] + i];
            for (int k = a.head[s]; k >= 0; k = a.e[k].next) {
                if (a.e[k].kind != E_CALL) continue;
                int r = a.e[k].arg, dup = 0;
                for (int c = 0; c < out->n_calls[d]; c++) dup |= out->calls[d][c].rule == r;
                if (dup) continue;
                int n = 0;
                for (int i2 = 0; i2 < t.len[d]; i2++) {
                    int s2 = t.pool[t.off[d] + i2];
                    for (int k2 = a.head[s2]; k2 >= 0; k2 = a.e[k2].next)
                        if (a.e[k2].kind == E_CALL && a.e[k2].arg == r) buf[n++] = a.e[k2].to;
                }
                qsort(buf, (size_t)n, sizeof *buf, cmp_i32);
                int m = 0;
                for (int j = 0; j < n; j++)
                    if (m == 0 || buf[m - 1] != buf[j]) buf[m++] = buf[j];
                int id = target(&a, &t, out, buf, m, seen, accept, states_left);
                if (id == -3) goto too_many;
                if (id < 0) goto oom;
                DfaCall *cs = realloc(out->calls[d], (size_t)(out->n_calls[d] + 1) * sizeof *cs);
                if (!cs) goto oom;
                out->calls[d] = cs;
                cs[out->n_calls[d]++] = (DfaCall){r, id};
            }
        }
    }
    goto done;
too_many:
    rc = err_set(err, errlen, -E2BIG, "the grammar needs more than %d automaton states (%s)", lim->max_states, lim->what);
    goto done;
oom:
    rc = err_set(err, errlen, -ENOMEM, "out of memory compiling the grammar");
done:
    free(buf), free(seen);
    nfa_free(&a);
    free(t.pool), free(t.off), free(t.len), free(t.slot);
    if (rc) raw_dfa_free(out);
    return rc;
}
