/* The vocabulary as constrained decoding sees it (see constraint.h): each token's decoded
 * bytes (tokenizer_piece: byte-level BPE and SentencePiece both give the raw bytes the token
 * adds to the text), and a trie over the tokens that may appear inside constrained text,
 * laid out in preorder so that a mask walk is a loop over an array that skips whole
 * subtrees when a prefix dies (constraint_ci.c). Built once per engine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/constraint.h"

/* Tables shared between states cover tokens of up to this many bytes (constraint_equiv.c);
 * 16 leaves out ~0.5% of a 49k BPE vocabulary. */
#define CONSTRAINT_HORIZON 16

typedef struct SortCtx {
    const ConstraintVocab *v;
} SortCtx;

static int cmp_tok(const void *a, const void *b, void *ctx) {
    const ConstraintVocab *v = ((const SortCtx *)ctx)->v;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->len[x], ly = v->len[y], n = lx < ly ? lx : ly;
    int c = memcmp(v->bytes + v->off[x], v->bytes + v->off[y], n);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

void constraint_vocab_destroy(ConstraintVocab *v) {
    if (!v) return;
    free(v->bytes), free(v->off), free(v->len), free(v->eog), free(v->usable);
    free(v->byte), free(v->depth), free(v->end), free(v->tok_off), free(v->toks);
    free(v->long_ids), free(v->long_lcp);
    free(v);
}

int constraint_vocab_create(const Tokenizer *t, ConstraintVocab **out, char *err, size_t errlen) {
    *out = NULL;
    ConstraintVocab *v = calloc(1, sizeof *v);
    int n = tokenizer_n_vocab(t);
    if (!v) goto oom;
    v->n_vocab = n, v->words = (n + 31) / 32;
    v->off = malloc((size_t)n * sizeof *v->off), v->len = malloc((size_t)n * sizeof *v->len);
    v->eog = malloc((size_t)n * sizeof *v->eog), v->usable = calloc((size_t)n + 1, 1);
    int32_t *sorted = malloc((size_t)n * sizeof *sorted);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t l;
        tokenizer_piece(t, i, &l);
        total += l;
    }
    v->bytes = malloc(total + 1);
    if (!v->off || !v->len || !v->eog || !v->usable || !sorted || !v->bytes) {
        free(sorted);
        goto oom;
    }
    /* usable tokens: text that constrained output can contain; end-of-generation tokens
     * are allowed by the matcher itself where the text is complete */
    int n_use = 0;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t l;
        const char *p = tokenizer_piece(t, i, &l);
        memcpy(v->bytes + at, p, l);
        v->off[i] = (uint32_t)at, v->len[i] = (uint32_t)l;
        at += l;
        if (tokenizer_is_eog(t, i)) v->eog[v->n_eog++] = i;
        else if (!tokenizer_is_control(t, i) && l > 0 && l < 65535) sorted[n_use++] = i, v->usable[i] = 1;
    }
    SortCtx ctx = {v};
    qsort_r(sorted, (size_t)n_use, sizeof *sorted, cmp_tok, &ctx);
    /* nodes: each token adds the bytes past its common prefix with the previous one */
    size_t cap = 0;
    for (int i = 0; i < n_use; i++) cap += v->len[sorted[i]];
    v->byte = malloc(cap + 1), v->depth = malloc((cap + 1) * sizeof *v->depth);
    v->end = malloc((cap + 1) * sizeof *v->end), v->tok_off = malloc((cap + 2) * sizeof *v->tok_off);
    v->toks = malloc(((size_t)n_use + 1) * sizeof *v->toks);
    int32_t *open = malloc(65536 * sizeof *open); /* open[d]: the node at depth d on the current path */
    if (!v->byte || !v->depth || !v->end || !v->tok_off || !v->toks || !open) {
        free(sorted), free(open);
        goto oom;
    }
    int nn = 0, open_depth = 0;
    for (int i = 0; i < n_use; i++) {
        int32_t id = sorted[i];
        const uint8_t *b = (const uint8_t *)v->bytes + v->off[id];
        int len = (int)v->len[id], lcp = 0;
        if (i > 0) {
            const uint8_t *pb = (const uint8_t *)v->bytes + v->off[sorted[i - 1]];
            int pl = (int)v->len[sorted[i - 1]];
            while (lcp < len && lcp < pl && pb[lcp] == b[lcp]) lcp++;
        }
        for (int d = open_depth; d > lcp; d--) v->end[open[d]] = nn; /* close the nodes left behind */
        for (int d = lcp + 1; d <= len; d++) {
            v->byte[nn] = b[d - 1], v->depth[nn] = (uint16_t)d, v->tok_off[nn] = i;
            open[d] = nn++;
        }
        open_depth = len;
        if (len > v->max_depth) v->max_depth = len;
        v->toks[i] = id;
    }
    for (int d = open_depth; d > 0; d--) v->end[open[d]] = nn;
    /* node i's tokens: those sorted from the first through it to the first through node
     * i + 1 (a child, whose tokens come later, or the next subtree) */
    v->tok_off[nn] = n_use;
    v->n_nodes = nn;
    v->horizon = CONSTRAINT_HORIZON;
    v->long_ids = malloc(((size_t)n_use + 1) * sizeof *v->long_ids);
    v->long_lcp = malloc(((size_t)n_use + 1) * sizeof *v->long_lcp);
    if (!v->long_ids || !v->long_lcp) {
        free(sorted), free(open);
        goto oom;
    }
    for (int i = 0; i < n_use; i++) {
        int32_t id = v->toks[i];
        if (v->len[id] <= (uint32_t)v->horizon) continue;
        int l = 0;
        if (v->n_long > 0) {
            int32_t p = v->long_ids[v->n_long - 1];
            const char *a = v->bytes + v->off[p], *b = v->bytes + v->off[id];
            while ((uint32_t)l < v->len[p] && (uint32_t)l < v->len[id] && a[l] == b[l]) l++;
        }
        v->long_lcp[v->n_long] = (uint16_t)l;
        v->long_ids[v->n_long++] = id;
    }
    free(sorted), free(open);
    *out = v;
    return 0;
oom:
    constraint_vocab_destroy(v);
    return err_set(err, errlen, -ENOMEM, "out of memory building the token trie");
}
