/* grammar_compile (see grammar_dfa.h): raw DFAs per rule (grammar_nfa.c), then trimming,
 * global numbering with byte ranges, and the analyses the parser and the masks rely on.
 *
 * Trimming matters for correctness, not only size: the mask allows a token when the parser
 * survives its bytes, so a state that can never reach the end of its rule must not exist,
 * or a constraint could walk into a dead end and leave the model no token at all. No
 * minimisation is done: the subset construction over these NFAs (each alternative ends in
 * the shared exit state) already merges the common cases, and Moore's rounds grow with the
 * longest chain, which bounded repetitions make long. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/grammar_dfa.h"

void grammar_limits_default(GrammarLimits *l) {
    l->max_states = 200000;
    l->max_nfa_states = 400000;
    l->max_bytes = (size_t)256 << 20;
    l->deadline = 0;
    l->what = "the structured-output limits";
}

void grammar_dfa_free(GrammarDfa *d) {
    for (int i = 0; d->rule_names && i < d->n_rules; i++) free(d->rule_names[i]);
    free(d->rule_names), free(d->rule_start), free(d->st), free(d->ranges), free(d->calls);
    free(d->follow), free(d->nullable), free(d->ends);
    memset(d, 0, sizeof *d);
}

/* States of r reachable from its start (fwd) and able to reach a final state (alive),
 * over bytes and calls into productive rules. Returns whether the start is alive. */
static int reach(const RawDfa *r, const uint8_t *productive, uint8_t *alive, int32_t *queue) {
    uint8_t *fwd = alive + r->n;
    memset(alive, 0, (size_t)r->n * 2);
    int qn = 0;
    fwd[0] = 1, queue[qn++] = 0;
    for (int i = 0; i < qn; i++) {
        int s = queue[i];
        for (int k = 0; k < r->n_succ[s]; k++)
            if (!fwd[r->succ[s][k]]) fwd[r->succ[s][k]] = 1, queue[qn++] = r->succ[s][k];
        for (int c = 0; c < r->n_calls[s]; c++)
            if (productive[r->calls[s][c].rule] && !fwd[r->calls[s][c].to])
                fwd[r->calls[s][c].to] = 1, queue[qn++] = r->calls[s][c].to;
    }
    /* co-reachability by fixpoint: the DFAs are small and this runs a few rounds */
    for (int s = 0; s < r->n; s++) alive[s] = fwd[s] && r->final[s];
    for (int changed = 1; changed;) {
        changed = 0;
        for (int s = r->n - 1; s >= 0; s--) {
            if (alive[s] || !fwd[s]) continue;
            int ok = 0;
            for (int k = 0; k < r->n_succ[s] && !ok; k++) ok = alive[r->succ[s][k]];
            for (int c = 0; c < r->n_calls[s] && !ok; c++) ok = productive[r->calls[s][c].rule] && alive[r->calls[s][c].to];
            if (ok) alive[s] = 1, changed = 1;
        }
    }
    return alive[0];
}

/* FIRST bytes and nullability of every state, then FOLLOW of every rule, by fixpoints. */
static int analyse(GrammarDfa *d, char *err, size_t errlen) {
    int n = d->n_states, R = d->n_rules;
    ByteSet *first = calloc((size_t)n, sizeof *first);
    uint8_t *nul = calloc((size_t)n, 1);
    d->follow = calloc((size_t)R, sizeof *d->follow);
    d->nullable = calloc((size_t)R, 1);
    if (!first || !nul || !d->follow || !d->nullable) {
        free(first), free(nul);
        return err_set(err, errlen, -ENOMEM, "out of memory compiling the grammar");
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int s = n - 1; s >= 0; s--) {
            const DfaState *st = &d->st[s];
            ByteSet f = first[s];
            int nl = st->final;
            for (int i = 0; i < st->n_ranges; i++)
                for (unsigned b = d->ranges[st->range_off + i].lo; b <= d->ranges[st->range_off + i].hi; b++)
                    byteset_add(&f, b);
            for (int i = 0; i < st->n_calls; i++) {
                const DfaCall *c = &d->calls[st->call_off + i];
                int rs = d->rule_start[c->rule];
                for (int w = 0; w < 8; w++) f.w[w] |= first[rs].w[w];
                if (nul[rs]) {
                    for (int w = 0; w < 8; w++) f.w[w] |= first[c->to].w[w];
                    nl |= nul[c->to];
                }
            }
            if (memcmp(&f, &first[s], sizeof f) || nl != nul[s]) first[s] = f, nul[s] = (uint8_t)nl, changed = 1;
        }
    }
    for (int r = 0; r < R; r++) d->nullable[r] = d->rule_start[r] >= 0 && nul[d->rule_start[r]];
    for (int changed = 1; changed;) {
        changed = 0;
        for (int s = 0; s < n; s++) {
            const DfaState *st = &d->st[s];
            for (int i = 0; i < st->n_calls; i++) {
                const DfaCall *c = &d->calls[st->call_off + i];
                ByteSet f = d->follow[c->rule];
                for (int w = 0; w < 8; w++) f.w[w] |= first[c->to].w[w] | (nul[c->to] ? d->follow[st->rule].w[w] : 0);
                if (memcmp(&f, &d->follow[c->rule], sizeof f)) d->follow[c->rule] = f, changed = 1;
            }
        }
    }
    free(first);
    d->ends = nul;
    return 0;
}

/* Left recursion: a rule that can call itself again before consuming a byte would make the
 * parser's closure grow without end (the stack deepens at every round). */
static int check_left_recursion(const GrammarDfa *d, char *err, size_t errlen) {
    int R = d->n_rules, n = d->n_states, rc = 0;
    uint8_t *left = calloc((size_t)R * R, 1), *seen = calloc((size_t)n, 1);
    int32_t *queue = malloc((size_t)n * sizeof *queue);
    if (!left || !seen || !queue) rc = err_set(err, errlen, -ENOMEM, "out of memory compiling the grammar");
    for (int r = 0; !rc && r < R; r++) { /* states of r reached without a byte: through nullable calls */
        if (d->rule_start[r] < 0) continue;
        int qn = 0;
        queue[qn++] = d->rule_start[r], seen[d->rule_start[r]] = 1;
        for (int i = 0; i < qn; i++) {
            const DfaState *st = &d->st[queue[i]];
            for (int k = 0; k < st->n_calls; k++) {
                const DfaCall *c = &d->calls[st->call_off + k];
                left[(size_t)r * R + c->rule] = 1;
                if (d->nullable[c->rule] && !seen[c->to]) seen[c->to] = 1, queue[qn++] = c->to;
            }
        }
        for (int i = 0; i < qn; i++) seen[queue[i]] = 0;
    }
    for (int k = 0; !rc && k < R; k++) /* transitive closure (Warshall): rule counts are small */
        for (int i = 0; i < R; i++)
            if (left[(size_t)i * R + k])
                for (int j = 0; j < R; j++) left[(size_t)i * R + j] |= left[(size_t)k * R + j];
    for (int r = 0; !rc && r < R; r++)
        if (left[(size_t)r * R + r])
            rc = err_set(err, errlen, -EINVAL, "rule '%s' is left-recursive (it can reach itself before matching a "
                         "character); rewrite it with repetition, e.g. x ::= y (\",\" y)*", d->rule_names[r]);
    free(left), free(seen), free(queue);
    return rc;
}

/* Rules reachable from rule 0: only those are compiled (front ends may leave others). */
static int mark_used(const Grammar *g, uint8_t *used) {
    int *stack = malloc((size_t)(g->n_x + g->n_kids + g->n_rules + 1) * sizeof *stack), n = 0;
    uint8_t *seen = calloc((size_t)g->n_x + 1, 1);
    if (!stack || !seen) return free(stack), free(seen), -1;
    used[0] = 1;
    stack[n++] = g->rules[0].body;
    while (n > 0) {
        int x = stack[--n];
        if (seen[x]) continue;
        seen[x] = 1;
        const GExpr *e = &g->x[x];
        if (e->kind == GX_SEQ || e->kind == GX_ALT)
            for (int i = 0; i < e->b; i++) stack[n++] = g->kids[e->a + i];
        else if (e->kind == GX_REPEAT) stack[n++] = e->a;
        else if (e->kind == GX_RULE && !used[e->a]) used[e->a] = 1, stack[n++] = g->rules[e->a].body;
    }
    free(stack), free(seen);
    return 0;
}

int grammar_compile(const Grammar *g, const GrammarLimits *lim, GrammarDfa *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (g->err) return err_set(err, errlen, g->err, "%s", g->msg);
    int R = g->n_rules, rc = 0, total = 0;
    if (R == 0) return err_set(err, errlen, -EINVAL, "the grammar has no rules");
    for (int r = 0; r < R; r++)
        if (g->rules[r].body < 0) return err_set(err, errlen, -EINVAL, "rule '%s' is used but not defined", g->rules[r].name);
    RawDfa *raw = calloc((size_t)R, sizeof *raw);
    uint8_t *productive = calloc((size_t)R, 1), **alive = calloc((size_t)R, sizeof *alive), *used = calloc((size_t)R, 1);
    int32_t **map = calloc((size_t)R, sizeof *map), *queue = NULL;
    d->n_rules = R;
    d->rule_start = malloc((size_t)R * sizeof *d->rule_start);
    d->rule_names = calloc((size_t)R, sizeof *d->rule_names);
    if (!raw || !productive || !alive || !map || !used || !d->rule_start || !d->rule_names || mark_used(g, used))
        goto oom;
    int max_n = 1;
    for (int r = 0; r < R; r++) {
        if (!(d->rule_names[r] = strdup(g->rules[r].name))) goto oom;
        if (!used[r]) continue;
        if ((rc = raw_dfa_build(g, r, lim, lim->max_states - total, &raw[r], err, errlen))) goto fail;
        total += raw[r].n;
        max_n = raw[r].n > max_n ? raw[r].n : max_n;
    }
    queue = malloc((size_t)max_n * sizeof *queue);
    for (int r = 0; r < R; r++) alive[r] = malloc((size_t)raw[r].n * 2 + 1);
    for (int r = 0; r < R; r++)
        if (!alive[r]) goto oom;
    if (!queue) goto oom;
    for (int changed = 1; changed;) { /* productive rules: those whose start can be completed */
        changed = 0;
        for (int r = 0; r < R; r++)
            if (used[r] && !productive[r] && reach(&raw[r], productive, alive[r], queue)) productive[r] = 1, changed = 1;
    }
    if (!productive[0]) {
        rc = err_set(err, errlen, -EINVAL, "the grammar matches no string at all (rule '%s' cannot be completed)",
                     g->rules[0].name);
        goto fail;
    }
    /* number the surviving states of every rule in one space */
    int n = 0, nr = 0, nc = 0;
    for (int r = 0; r < R; r++) {
        d->rule_start[r] = -1;
        if (!productive[r]) continue;
        reach(&raw[r], productive, alive[r], queue);
        if (!(map[r] = malloc((size_t)raw[r].n * sizeof *map[r]))) goto oom;
        for (int s = 0; s < raw[r].n; s++) map[r][s] = alive[r][s] ? n++ : -1;
        d->rule_start[r] = map[r][0];
        for (int s = 0; s < raw[r].n; s++) {
            if (!alive[r][s]) continue;
            for (int b = 0; b < 256; b++) {
                int t = raw[r].next[s][b];
                if (t >= 0 && alive[r][t] && (b == 0 || raw[r].next[s][b - 1] != t)) nr++;
            }
            nc += raw[r].n_calls[s];
        }
    }
    d->n_states = n;
    d->st = calloc((size_t)n, sizeof *d->st);
    d->ranges = malloc(((size_t)nr + 1) * sizeof *d->ranges);
    d->calls = malloc(((size_t)nc + 1) * sizeof *d->calls);
    d->bytes = (size_t)n * sizeof *d->st + (size_t)nr * sizeof *d->ranges + (size_t)nc * sizeof *d->calls;
    if (!d->st || !d->ranges || !d->calls) goto oom;
    nr = nc = 0;
    for (int r = 0; r < R; r++) {
        for (int s = 0; productive[r] && s < raw[r].n; s++) {
            if (!alive[r][s]) continue;
            DfaState *st = &d->st[map[r][s]];
            *st = (DfaState){r, nr, 0, nc, 0, raw[r].final[s]};
            for (int b = 0; b < 256; b++) {
                int t = raw[r].next[s][b];
                if (t < 0 || !alive[r][t]) continue;
                if (b > 0 && raw[r].next[s][b - 1] == t) d->ranges[nr - 1].hi = (uint8_t)b;
                else d->ranges[nr++] = (DfaRange){(uint8_t)b, (uint8_t)b, map[r][t]}, st->n_ranges++;
            }
            for (int c = 0; c < raw[r].n_calls[s]; c++) {
                const DfaCall *call = &raw[r].calls[s][c];
                if (!productive[call->rule] || !alive[r][call->to]) continue;
                d->calls[nc++] = (DfaCall){call->rule, map[r][call->to]}, st->n_calls++;
            }
        }
    }
    if ((rc = analyse(d, err, errlen)) || (rc = check_left_recursion(d, err, errlen))) goto fail;
    goto done;
oom:
    rc = err_set(err, errlen, -ENOMEM, "out of memory compiling the grammar");
fail:
    grammar_dfa_free(d);
done:
    for (int r = 0; raw && r < R; r++) raw_dfa_free(&raw[r]);
    for (int r = 0; alive && r < R; r++) free(alive[r]);
    for (int r = 0; map && r < R; r++) free(map[r]);
    free(raw), free(productive), free(alive), free(map), free(queue), free(used);
    return rc;
}
