/* States that can share one token table (see constraint_internal.h): in a rule without calls
 * (a string's content, a regex, a format), two states whose languages agree on every string
 * of up to H bytes, final flags included, take the same tokens of up to H bytes on any
 * stack, and so get the same table for those tokens. A bounded repetition is the case that
 * matters: a string of maxLength 100 has a state per character, but all the states with
 * at least H characters left are alike within H bytes, so one walk serves them all.
 *
 * The classes are Moore's partition refinement stopped after H rounds (in a rule without
 * calls every edge is one byte, so round k separates exactly the states that differ on a
 * string of k bytes). Tokens longer than H bytes (a few hundred in a typical vocabulary)
 * are left out of a shared table and checked at run time against the real stack. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/constraint_internal.h"

typedef struct Sig {
    int32_t *pool;
    int32_t *off, *len; /* [n] */
    uint64_t *hash;     /* [n] */
} Sig;

typedef struct SortCtx {
    const Sig *sig;
    const int32_t *rule;
} SortCtx;

static int cmp_state(const void *a, const void *b, void *ctx) {
    const SortCtx *c = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (c->rule[x] != c->rule[y]) return c->rule[x] < c->rule[y] ? -1 : 1;
    if (c->sig->hash[x] != c->sig->hash[y]) return c->sig->hash[x] < c->sig->hash[y] ? -1 : 1;
    if (c->sig->len[x] != c->sig->len[y]) return c->sig->len[x] < c->sig->len[y] ? -1 : 1;
    int m = memcmp(c->sig->pool + c->sig->off[x], c->sig->pool + c->sig->off[y], (size_t)c->sig->len[x] * 4);
    if (m) return m;
    return x < y ? -1 : x > y;
}

int constraint_equiv(const GrammarDfa *d, int horizon, int32_t *rep, uint8_t *shared) {
    int n = d->n_states;
    uint8_t *leaf_rule = calloc((size_t)d->n_rules + 1, 1);
    int32_t *cls = malloc(((size_t)n + 1) * sizeof *cls), *next_cls = malloc(((size_t)n + 1) * sizeof *next_cls);
    int32_t *order = malloc(((size_t)n + 1) * sizeof *order), *rule = malloc(((size_t)n + 1) * sizeof *rule);
    size_t pool_cap = 0;
    for (int s = 0; s < n; s++) pool_cap += 2 + 3 * (size_t)d->st[s].n_ranges;
    Sig sig = {malloc((pool_cap + 1) * sizeof(int32_t)), malloc(((size_t)n + 1) * 4), malloc(((size_t)n + 1) * 4),
               malloc(((size_t)n + 1) * 8)};
    int rc = 0;
    if (!leaf_rule || !cls || !next_cls || !order || !rule || !sig.pool || !sig.off || !sig.len || !sig.hash) {
        rc = -ENOMEM;
        goto done;
    }
    for (int r = 0; r < d->n_rules; r++) leaf_rule[r] = d->rule_start[r] >= 0;
    for (int s = 0; s < n; s++)
        if (d->st[s].n_calls) leaf_rule[d->st[s].rule] = 0;
    /* states of rules with calls each form a class of their own (rule -1 keeps them apart) */
    int m = 0;
    for (int s = 0; s < n; s++) {
        rep[s] = s, shared[s] = 0;
        rule[s] = leaf_rule[d->st[s].rule] ? d->st[s].rule : -1 - s;
        cls[s] = d->st[s].final;
        if (leaf_rule[d->st[s].rule]) order[m++] = s;
    }
    int n_classes = -1, stable = 0;
    for (int round = 0; round < horizon && !stable; round++) {
        size_t at = 0;
        for (int i = 0; i < m; i++) { /* class, then the byte runs with their targets' classes */
            int s = order[i];
            const DfaState *st = &d->st[s];
            int32_t *p = sig.pool + at;
            int k = 0;
            p[k++] = cls[s];
            for (int j = 0; j < st->n_ranges; j++) {
                const DfaRange *r = &d->ranges[st->range_off + j];
                if (k > 1 && p[k - 2] == r->lo - 1 && p[k - 1] == cls[r->to]) p[k - 2] = r->hi; /* merge adjacent */
                else p[k++] = r->lo, p[k++] = r->hi, p[k++] = cls[r->to];
            }
            uint64_t h = (uint64_t)k;
            for (int j = 0; j < k; j++) h = hash_mix64(h ^ (uint64_t)(uint32_t)p[j]);
            sig.off[s] = (int32_t)at, sig.len[s] = k, sig.hash[s] = h;
            at += (size_t)k;
        }
        SortCtx ctx = {&sig, rule};
        qsort_r(order, (size_t)m, sizeof *order, cmp_state, &ctx);
        int classes = 0;
        for (int i = 0; i < m; i++) {
            int s = order[i], p = i ? order[i - 1] : -1;
            int same = p >= 0 && rule[p] == rule[s] && sig.hash[p] == sig.hash[s] && sig.len[p] == sig.len[s] &&
                       !memcmp(sig.pool + sig.off[p], sig.pool + sig.off[s], (size_t)sig.len[s] * 4);
            next_cls[s] = same ? next_cls[p] : classes++;
        }
        for (int i = 0; i < m; i++) cls[order[i]] = next_cls[order[i]];
        stable = classes == n_classes; /* the full equivalence: every length agrees */
        n_classes = classes;
    }
    /* the representative of a class: its first state in order (sorted by signature, then id) */
    for (int i = 0; i < m; i++) {
        int s = order[i], p = i ? order[i - 1] : -1;
        if (p >= 0 && rule[p] == rule[s] && cls[p] == cls[s]) {
            rep[s] = rep[p];
            if (!stable) shared[s] = shared[rep[s]] = 1; /* equal within the horizon only */
        }
    }
done:
    free(leaf_rule), free(cls), free(next_cls), free(order), free(rule);
    free(sig.pool), free(sig.off), free(sig.len), free(sig.hash);
    return rc;
}
