/* The per-state token tables of a compiled constraint (see constraint_internal.h): for a DFA
 * state s, one walk over the vocabulary trie with the parser started from s alone over an
 * unknown stack (the bottom node).
 *
 * Along a trie path the walk keeps the parser state at each depth and whether the path has
 * "escaped": reached a point after its first byte where s's rule may end, followed by a byte
 * in the rule's FOLLOW set, so that some stack below could carry on. A node whose byte the
 * parser takes passes its tokens as accepted (that path is valid on any stack); a node whose
 * byte kills the parser is skipped with its whole subtree, whose tokens are context-dependent
 * when the path had escaped and rejected otherwise. The parser's byte steps are memoised,
 * so a walk over a broad state (inside a JSON string every byte but a few is taken) costs
 * about one array lookup per trie node: ~1 ms for a 49k vocabulary.
 *
 * Compilation makes the tables of the states nearest the start (breadth first over the
 * grammar's edges) until its share of the time limit is spent; a long bounded repetition
 * (a string of maxLength 1000 is ~19000 states) leaves the rest to be made when a mask first
 * reaches them, one walk each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "engine/constraint_internal.h"

typedef struct CiWork {
    GParser p;
    int32_t *acc, *cd, *stk; /* [n_vocab], [n_vocab], [max_depth + 2] */
    uint8_t *esc;
} CiWork;

static void work_free(CiWork *w) {
    if (!w) return;
    gp_free(&w->p);
    free(w->acc), free(w->cd), free(w->stk), free(w->esc);
    free(w);
}

static CiWork *work_new(const Constraint *c, const ConstraintVocab *v) {
    CiWork *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->acc = malloc(((size_t)v->n_vocab + 1) * sizeof *w->acc), w->cd = malloc(((size_t)v->n_vocab + 1) * sizeof *w->cd);
    w->stk = malloc(((size_t)v->max_depth + 2) * sizeof *w->stk), w->esc = malloc((size_t)v->max_depth + 2);
    if (!w->acc || !w->cd || !w->stk || !w->esc || gp_init(&w->p, &c->dfa, c->max_bytes / 4)) {
        free(w->acc), free(w->cd), free(w->stk), free(w->esc);
        free(w);
        return NULL;
    }
    return w;
}

/* One state's table from the walk's lists: accepted ids as a list when shorter than a bitset. */
static StateTable *table_make(Constraint *c, const ConstraintVocab *v, const CiWork *w, int na, int ncd) {
    int bitset = na > c->words;
    size_t acc_words = bitset ? (size_t)c->words : (size_t)na;
    size_t bytes = sizeof(StateTable) + acc_words * 4 + (size_t)ncd * 6 + 8;
    StateTable *t = malloc(bytes);
    if (!t) return NULL;
    t->n_acc = bitset ? -1 : na, t->n_cd = ncd;
    t->acc = (uint32_t *)(t + 1);
    t->cd = (int32_t *)(t->acc + acc_words);
    t->lcp = (uint16_t *)(t->cd + ncd);
    if (bitset) {
        memset(t->acc, 0, acc_words * 4);
        for (int i = 0; i < na; i++) t->acc[w->acc[i] >> 5] |= 1u << (w->acc[i] & 31);
    } else {
        for (int i = 0; i < na; i++) t->acc[i] = (uint32_t)w->acc[i];
    }
    for (int i = 0; i < ncd; i++) {
        int l = 0;
        if (i > 0) {
            const char *a = v->bytes + v->off[w->cd[i - 1]], *b = v->bytes + v->off[w->cd[i]];
            uint32_t m = v->len[w->cd[i - 1]] < v->len[w->cd[i]] ? v->len[w->cd[i - 1]] : v->len[w->cd[i]];
            while ((uint32_t)l < m && a[l] == b[l]) l++;
        }
        t->cd[i] = w->cd[i], t->lcp[i] = (uint16_t)l;
    }
    atomic_fetch_add(&c->bytes, bytes);
    atomic_fetch_add(&c->ci_tokens, na);
    atomic_fetch_add(&c->cd_tokens, ncd);
    return t;
}

/* The walk for state s (tokens of up to the horizon when its table is shared). 0, or
 * negative: the parser's limit (-E2BIG) or out of memory. */
static int walk(Constraint *c, const ConstraintVocab *v, CiWork *w, int s, StateTable **out) {
    int max_depth = c->shared[s] ? v->horizon : 1 << 30;
    const ByteSet *follow = &c->dfa.follow[c->dfa.st[s].rule];
    GParser *p = &w->p;
    int32_t *stk = w->stk;
    uint8_t *esc = w->esc;
    int na = 0, ncd = 0;
    stk[0] = gp_start(p, s), esc[0] = 0;
    if (stk[0] < 0) return p->err ? p->err : -ENOMEM;
    for (int i = 0; i < v->n_nodes;) {
        int dep = v->depth[i];
        if (dep > max_depth) { /* only longer tokens below: checked at run time */
            i = v->end[i];
            continue;
        }
        int32_t prev = stk[dep - 1];
        uint8_t b = v->byte[i];
        int e = esc[dep - 1];
        if (!e && dep >= 2) {
            int a = gp_accepting_fast(p, prev);
            if (a < 0) return p->err;
            e = a && byteset_has(follow, b);
        }
        int32_t next = gp_step_fast(p, prev, b);
        if (next == GP_ERROR) return p->err;
        if (next >= 0) {
            stk[dep] = next, esc[dep] = (uint8_t)e;
            for (int k = v->tok_off[i]; k < v->tok_off[i + 1]; k++) w->acc[na++] = v->toks[k];
            i++;
        } else {
            if (e)
                for (int k = v->tok_off[i]; k < v->tok_off[v->end[i]]; k++) w->cd[ncd++] = v->toks[k];
            i = v->end[i];
        }
    }
    if (!(*out = table_make(c, v, w, na, ncd))) return -ENOMEM;
    return 0;
}

static int limit_error(const Constraint *c, int rc, char *err, size_t errlen) {
    if (rc == -ENOMEM) return err_set(err, errlen, -ENOMEM, "out of memory computing the token masks");
    return err_set(err, errlen, -E2BIG, "the structured output's token masks need more than %zu MiB", c->max_bytes >> 20);
}

int constraint_ci_build(Constraint *c, const ConstraintVocab *v, double soft_deadline, char *err, size_t errlen) {
    const GrammarDfa *d = &c->dfa;
    int n = d->n_states, rc = 0;
    c->tables = calloc((size_t)n + 1, sizeof *c->tables);
    c->rep = malloc(((size_t)n + 1) * sizeof *c->rep), c->shared = malloc((size_t)n + 1);
    int32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    uint8_t *seen = calloc((size_t)n + 1, 1);
    CiWork *w = c->tables && c->rep && c->shared && order && seen && !constraint_equiv(d, v->horizon, c->rep, c->shared)
                    ? work_new(c, v)
                    : NULL;
    if (!w) {
        free(order), free(seen);
        return err_set(err, errlen, -ENOMEM, "out of memory computing the token masks");
    }
    /* breadth first from the start over bytes, calls (into the callee and on to the return) */
    int qn = 0;
    order[qn++] = d->rule_start[0], seen[d->rule_start[0]] = 1;
    for (int i = 0; i < qn; i++) {
        const DfaState *st = &d->st[order[i]];
        for (int k = 0; k < st->n_ranges; k++) {
            int t = d->ranges[st->range_off + k].to;
            if (!seen[t]) seen[t] = 1, order[qn++] = t;
        }
        for (int k = 0; k < st->n_calls; k++) {
            const DfaCall *call = &d->calls[st->call_off + k];
            int t[2] = {d->rule_start[call->rule], call->to};
            for (int j = 0; j < 2; j++)
                if (!seen[t[j]]) seen[t[j]] = 1, order[qn++] = t[j];
        }
    }
    for (int i = 0; i < qn; i++) {
        if ((i & 7) == 0 && soft_deadline > 0 && base_now() > soft_deadline) break;
        int s = c->rep[order[i]];
        if (atomic_load(&c->tables[s])) continue; /* its class's table is made */
        StateTable *t = NULL;
        if ((rc = walk(c, v, w, s, &t))) {
            rc = limit_error(c, rc, err, errlen);
            break;
        }
        atomic_store(&c->tables[s], t);
        c->n_eager++;
        if (atomic_load(&c->bytes) + w->p.bytes > c->max_bytes) {
            rc = limit_error(c, -E2BIG, err, errlen);
            break;
        }
    }
    free(order), free(seen);
    pthread_mutex_init(&c->lazy_mu, NULL);
    c->lazy = w; /* kept for the states left to do at run time */
    return rc;
}

const StateTable *constraint_table(Constraint *c, const ConstraintVocab *v, int s, char *err, size_t errlen) {
    s = c->rep[s];
    StateTable *t = atomic_load_explicit(&c->tables[s], memory_order_acquire);
    if (t) return t;
    pthread_mutex_lock(&c->lazy_mu);
    t = atomic_load_explicit(&c->tables[s], memory_order_relaxed);
    int rc = 0;
    if (!t && atomic_load(&c->bytes) + c->lazy->p.bytes > c->max_bytes) rc = -E2BIG;
    if (!t && !rc && !(rc = walk(c, v, c->lazy, s, &t))) {
        atomic_store_explicit(&c->tables[s], t, memory_order_release);
        atomic_fetch_add(&c->n_lazy, 1);
    }
    pthread_mutex_unlock(&c->lazy_mu);
    if (rc) limit_error(c, rc, err, errlen);
    return rc ? NULL : t;
}

void constraint_tables_free(Constraint *c) {
    for (int i = 0; c->tables && i < c->dfa.n_states; i++) free(atomic_load(&c->tables[i]));
    free(c->tables), free(c->rep), free(c->shared);
    if (c->lazy) {
        work_free(c->lazy);
        pthread_mutex_destroy(&c->lazy_mu);
    }
}
