/* The pushdown parser over a compiled grammar (grammar_dfa.h), built lazily into a DFA over
 * bytes. A configuration is a stack of DFA states: its top is where the current rule is, the
 * entries below are return states. Stacks are interned as nodes (state, parent node), so
 * stacks that share a bottom share memory, and node 0 is the bottom itself: reaching it means
 * the start rule has ended (when the stack was the whole parse) or the rule at the top has
 * ended into an unknown context (when a mask walk started from one state: constraint_ci.c).
 *
 * A parser state is a set of configurations (the grammar may be ambiguous), kept as its
 * kernel: the sorted node ids reached by the last byte, before calls are entered and
 * finished rules return. States are interned too, so a state id names a set of stacks, the
 * step on a byte is memoised in a 256-entry row, and masks can be cached per state id.
 * The closure (enter calls, return from final states) is computed once per state.
 *
 * Memory is counted; rows are a cache and are dropped when the limit is reached, nodes and
 * states are not (a state id must stay valid while a sequence holds it). */
#ifndef PISTON_GRAMMAR_PARSER_H
#define PISTON_GRAMMAR_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/grammar_dfa.h"

#define GP_DEAD (-1)   /* no configuration survives */
#define GP_ERROR (-2)  /* a limit or out of memory: p->err says which */

typedef struct GpState {
    int32_t k_off, k_len;  /* kernel nodes in kpool */
    int32_t c_off, c_len;  /* closure nodes whose state has byte ranges, in cpool; c_len < 0: not yet */
    int32_t row;           /* index into rows, or -1 */
    uint8_t accept;        /* the closure reaches the bottom node */
} GpState;

typedef struct GParser {
    const GrammarDfa *d;
    int32_t *node_state, *node_parent; /* [n_nodes]; node 0 is the bottom (state -1) */
    int n_nodes, cap_nodes;
    int32_t *node_slot;
    uint32_t node_mask;
    GpState *st;
    int n_st, cap_st;
    int32_t *st_slot;
    uint32_t st_mask;
    int32_t *kpool, *cpool;
    size_t n_kpool, cap_kpool, n_cpool, cap_cpool;
    int32_t (*rows)[256];
    int n_rows, cap_rows;
    uint32_t *mark;        /* [cap_mark] closure visit stamps by node id */
    int cap_mark;
    uint32_t gen;
    int32_t *buf;          /* scratch for kernels and closures */
    size_t cap_buf;
    size_t bytes, max_bytes;
    int err;               /* 0, -ENOMEM or -E2BIG once a limit was hit */
} GParser;

int gp_init(GParser *p, const GrammarDfa *d, size_t max_bytes);
void gp_free(GParser *p);
/* The state whose one configuration is DFA state s over the bottom: the start of a parse
 * when s is the start rule's start, the start of a mask walk otherwise. */
int32_t gp_start(GParser *p, int32_t s);
/* The state whose one configuration is node n. */
int32_t gp_single(GParser *p, int32_t n);
/* The state after byte b: a state id, GP_DEAD or GP_ERROR. */
int32_t gp_step(GParser *p, int32_t sid, uint8_t b);
/* Whether the closure of sid reaches the bottom (the parse may end here), and whether it
 * can take any byte. -1 on GP_ERROR. */
int gp_accepting(GParser *p, int32_t sid);
int gp_can_continue(GParser *p, int32_t sid);
/* The memoised cases inline (mask walks call these once per trie node). */
static inline int32_t gp_step_fast(GParser *p, int32_t sid, uint8_t b) {
    int32_t row = p->st[sid].row;
    if (row >= 0) {
        int32_t r = p->rows[row][b];
        if (r != -3) return r;
    }
    return gp_step(p, sid, b);
}
static inline int gp_accepting_fast(GParser *p, int32_t sid) {
    const GpState *s = &p->st[sid];
    return s->c_len >= 0 ? s->accept : gp_accepting(p, sid);
}

/* The kernel of sid: *n node ids. */
static inline const int32_t *gp_kernel(const GParser *p, int32_t sid, int *n) {
    *n = p->st[sid].k_len;
    return p->kpool + p->st[sid].k_off;
}

#endif
