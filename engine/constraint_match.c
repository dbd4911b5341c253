/* Matching at run time (see constraint.h): a parser over the compiled grammar, shared by the
 * samples of one request, and the mask of a parser state:
 *
 *   for each configuration of the state's kernel, and, where its rule may end there, for
 *   the configurations it returns to:
 *       add the tokens its DFA state accepts on any stack            (a bitset OR or a list)
 *       add those of its context-dependent tokens that this stack takes (a walk in trie
 *       order that reuses the common prefix with the previous token and skips tokens
 *       sharing a prefix that already died)
 *   add the end-of-generation tokens where the text may end.
 *
 * The last few masks are kept per state id (least recently used goes), so a state that
 * comes back (inside a long string, the same state after every character) costs nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/constraint_internal.h"

#define MASK_SLOTS 16
#define PARSER_MAX_BYTES ((size_t)64 << 20)

typedef struct MatchShared {
    int refs;
    Constraint *c;
    const ConstraintVocab *v;
    GParser p;
    int32_t start;
    uint32_t *masks;                 /* [MASK_SLOTS][words] */
    int32_t slot_state[MASK_SLOTS];
    uint64_t slot_used[MASK_SLOTS], tick;
    int32_t *stk;                    /* [max_depth + 2] parser states along a token */
    int32_t *seen;                   /* configurations visited by one mask */
    int n_seen, cap_seen;
} MatchShared;

struct ConstraintMatcher {
    MatchShared *sh;
    int32_t state;
    int ended; /* an end-of-generation token was taken */
};

static void shared_unref(MatchShared *sh) {
    if (!sh || --sh->refs > 0) return;
    gp_free(&sh->p);
    constraint_unref(sh->c);
    free(sh->masks), free(sh->stk), free(sh->seen);
    free(sh);
}

int constraint_matcher_create(Constraint *c, const ConstraintVocab *v, ConstraintMatcher **out) {
    *out = NULL;
    MatchShared *sh = calloc(1, sizeof *sh);
    ConstraintMatcher *m = calloc(1, sizeof *m);
    if (!sh || !m) goto oom;
    sh->refs = 1;
    sh->c = constraint_ref(c), sh->v = v;
    sh->masks = malloc((size_t)MASK_SLOTS * v->words * sizeof *sh->masks);
    sh->stk = malloc(((size_t)v->max_depth + 2) * sizeof *sh->stk);
    if (!sh->masks || !sh->stk || gp_init(&sh->p, &c->dfa, PARSER_MAX_BYTES)) goto oom;
    for (int i = 0; i < MASK_SLOTS; i++) sh->slot_state[i] = -1;
    sh->start = gp_start(&sh->p, c->dfa.rule_start[0]);
    if (sh->start < 0) goto oom;
    m->sh = sh, m->state = sh->start;
    *out = m;
    return 0;
oom:
    if (sh && !sh->c) free(sh), sh = NULL;
    shared_unref(sh);
    free(m);
    return -ENOMEM;
}

int constraint_matcher_fork(const ConstraintMatcher *m, ConstraintMatcher **out) {
    *out = malloc(sizeof **out);
    if (!*out) return -ENOMEM;
    **out = *m;
    m->sh->refs++;
    return 0;
}

void constraint_matcher_destroy(ConstraintMatcher *m) {
    if (!m) return;
    shared_unref(m->sh);
    free(m);
}

void constraint_matcher_reset(ConstraintMatcher *m) { m->state = m->sh->start, m->ended = 0; }

static int seen_add(MatchShared *sh, int32_t node) {
    for (int i = 0; i < sh->n_seen; i++)
        if (sh->seen[i] == node) return 0;
    if (sh->n_seen == sh->cap_seen) {
        int c = sh->cap_seen ? sh->cap_seen * 2 : 16;
        int32_t *s = realloc(sh->seen, (size_t)c * sizeof *s);
        if (!s) return -1;
        sh->seen = s, sh->cap_seen = c;
    }
    sh->seen[sh->n_seen++] = node;
    return 1;
}

/* The tokens of ids[0, n) (in trie order, lcp[j]: the prefix shared with ids[j - 1]) that
 * configuration `node` takes, checked on its real stack. */
static int check_walk(MatchShared *sh, int32_t node, const int32_t *ids, const uint16_t *lcp, int n, uint32_t *mask) {
    const ConstraintVocab *v = sh->v;
    int32_t *stk = sh->stk;
    if ((stk[0] = gp_single(&sh->p, node)) < 0) return -1;
    int dead = 1 << 30; /* the prefix of this length (of the previous tokens) is dead */
    for (int j = 0; j < n; j++) {
        int32_t id = ids[j];
        int l = lcp[j];
        if (l >= dead) continue;
        dead = 1 << 30;
        const uint8_t *b = (const uint8_t *)v->bytes + v->off[id];
        int len = (int)v->len[id], k = l;
        for (; k < len; k++) {
            int32_t nx = gp_step_fast(&sh->p, stk[k], b[k]);
            if (nx == GP_ERROR) return -1;
            if (nx < 0) break;
            stk[k + 1] = nx;
        }
        if (k < len) dead = k + 1;
        else mask[id >> 5] |= 1u << (id & 31);
    }
    return 0;
}

/* The tokens configuration `node` takes, and those of the configuration it returns to. */
static int visit(MatchShared *sh, int32_t node, uint32_t *mask, char *err, size_t errlen) {
    while (node != 0) {
        int fresh = seen_add(sh, node);
        if (fresh <= 0) return fresh;
        Constraint *c = sh->c;
        int s = sh->p.node_state[node];
        const StateTable *t = constraint_table(c, sh->v, s, err, errlen);
        if (!t) return -2;
        if (t->n_acc < 0)
            for (int w = 0; w < c->words; w++) mask[w] |= t->acc[w];
        else
            for (int i = 0; i < t->n_acc; i++) mask[t->acc[i] >> 5] |= 1u << (t->acc[i] & 31);
        if (t->n_cd > 0 && check_walk(sh, node, t->cd, t->lcp, t->n_cd, mask)) return -1;
        if (c->shared[s] && check_walk(sh, node, sh->v->long_ids, sh->v->long_lcp, sh->v->n_long, mask)) return -1;
        if (!c->dfa.ends[s]) return 0;
        node = sh->p.node_parent[node];
    }
    return 0;
}

const uint32_t *constraint_matcher_mask(ConstraintMatcher *m, char *err, size_t errlen) {
    MatchShared *sh = m->sh;
    const int W = sh->v->words;
    int slot = 0;
    for (int i = 0; i < MASK_SLOTS; i++) {
        if (sh->slot_state[i] == m->state && !m->ended) {
            sh->slot_used[i] = ++sh->tick;
            return sh->masks + (size_t)i * W;
        }
        if (sh->slot_used[i] < sh->slot_used[slot]) slot = i;
    }
    uint32_t *mask = sh->masks + (size_t)slot * W;
    memset(mask, 0, (size_t)W * sizeof *mask);
    sh->slot_state[slot] = -1;
    if (m->ended) return mask; /* after the end of the text nothing more */
    int n;
    const int32_t *k = gp_kernel(&sh->p, m->state, &n);
    sh->n_seen = 0;
    /* the kernel lives in the parser's pool, which visits may grow: copy the ids first */
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) goto fail;
    memcpy(ids, k, (size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        int rc = visit(sh, ids[i], mask, err, errlen);
        if (rc == -2) return free(ids), NULL; /* err says which limit */
        if (rc) {
            free(ids);
            goto fail;
        }
    }
    free(ids);
    for (int i = 0; i < sh->c->n_terminal; i++) { /* the control tokens the grammar takes as text */
        int32_t id = sh->c->terminal[i], st = m->state;
        const uint8_t *b = (const uint8_t *)sh->v->bytes + sh->v->off[id];
        for (uint32_t k = 0; k < sh->v->len[id] && st >= 0; k++) st = gp_step(&sh->p, st, b[k]);
        if (st == GP_ERROR) goto fail;
        if (st >= 0) mask[id >> 5] |= 1u << (id & 31);
    }
    int acc = gp_accepting(&sh->p, m->state);
    if (acc < 0) goto fail;
    for (int i = 0; acc && i < sh->v->n_eog; i++) mask[sh->v->eog[i] >> 5] |= 1u << (sh->v->eog[i] & 31);
    sh->slot_state[slot] = m->state, sh->slot_used[slot] = ++sh->tick;
    return mask;
fail:
    err_set(err, errlen, sh->p.err ? sh->p.err : -ENOMEM,
            "the structured output's parser ran out of memory (%zu MiB per request)", PARSER_MAX_BYTES >> 20);
    return NULL;
}

int constraint_matcher_is_terminal(const ConstraintMatcher *m, int32_t id) {
    for (int i = 0; i < m->sh->c->n_terminal; i++)
        if (m->sh->c->terminal[i] == id) return 1;
    return 0;
}

static int is_eog(const ConstraintVocab *v, int32_t id) {
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 1;
    return 0;
}

int constraint_matcher_accept(ConstraintMatcher *m, int32_t id, char *err, size_t errlen) {
    MatchShared *sh = m->sh;
    if (m->ended || id < 0 || id >= sh->v->n_vocab) return err_set(err, errlen, -EINVAL, "token %d is not allowed here", id);
    if (is_eog(sh->v, id)) {
        if (gp_accepting(&sh->p, m->state) != 1)
            return err_set(err, errlen, -EINVAL, "the end of the text is not allowed here");
        m->ended = 1;
        return 0;
    }
    /* a control token's bytes are its name ("<unk>"), which a constraint may well take, but it
     * decodes to nothing: the masks never allow it, and neither does accept, except for the
     * constraint's terminals (their text is emitted: constraint_matcher_is_terminal) */
    if (!sh->v->usable[id] && !constraint_matcher_is_terminal(m, id))
        return err_set(err, errlen, -EINVAL, "token %d is a control token, not text", id);
    const uint8_t *b = (const uint8_t *)sh->v->bytes + sh->v->off[id];
    int32_t st = m->state;
    for (uint32_t i = 0; i < sh->v->len[id]; i++) {
        st = gp_step(&sh->p, st, b[i]);
        if (st == GP_ERROR) return err_set(err, errlen, sh->p.err, "the structured output's parser hit its memory limit");
        if (st < 0) return err_set(err, errlen, -EINVAL, "token %d does not continue the constrained text", id);
    }
    if (sh->v->len[id] == 0) return err_set(err, errlen, -EINVAL, "token %d has no text", id);
    m->state = st;
    return 0;
}

int constraint_matcher_complete(ConstraintMatcher *m) { return m->ended || gp_accepting(&m->sh->p, m->state) == 1; }
int constraint_matcher_can_continue(ConstraintMatcher *m) {
    return !m->ended && gp_can_continue(&m->sh->p, m->state) == 1;
}

int constraint_matcher_accepts_bytes(ConstraintMatcher *m, const char *t, size_t n) {
    int32_t st = m->state;
    for (size_t i = 0; i < n && st >= 0; i++) st = gp_step(&m->sh->p, st, (uint8_t)t[i]);
    return st >= 0;
}

int constraint_matcher_advance_bytes(ConstraintMatcher *m, const char *t, size_t n) {
    int32_t st = m->state;
    for (size_t i = 0; i < n && st >= 0; i++) st = gp_step(&m->sh->p, st, (uint8_t)t[i]);
    if (st < 0 || m->ended) return -1;
    m->state = st;
    return 0;
}
