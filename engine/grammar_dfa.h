/* A grammar compiled for parsing: every rule a DFA over bytes and rule calls, all states
 * numbered in one space. A state has byte ranges to other states of its rule, calls (enter
 * rule r; on its return continue at `to`), and a final flag (the rule may end here). The
 * pushdown parser (grammar_parser.c) runs them with a stack of return states.
 *
 * grammar_compile builds it in four steps: a Thompson NFA per rule and the subset
 * construction (grammar_nfa.c), then trimming (calls into rules that derive no string, and
 * states from which no final state is reachable, are cut, so every surviving path can be
 * completed), Moore minimisation per rule, and the analyses the masks need: nullable rules,
 * left recursion (refused: the parser's closure would never end), and each rule's FOLLOW
 * bytes, which bound the tokens whose acceptance depends on the stack below a state. */
#ifndef PISTON_GRAMMAR_DFA_H
#define PISTON_GRAMMAR_DFA_H

#include <stddef.h>
#include <stdint.h>

#include "engine/grammar.h"

typedef struct DfaRange {
    uint8_t lo, hi;
    int32_t to;
} DfaRange;

typedef struct DfaCall {
    int32_t rule, to;
} DfaCall;

typedef struct DfaState {
    int32_t rule;
    int32_t range_off, n_ranges; /* sorted, disjoint */
    int32_t call_off, n_calls;
    uint8_t final;
} DfaState;

typedef struct GrammarLimits {
    int max_states;       /* DFA states of all rules together */
    int max_nfa_states;   /* NFA states of one rule (repetitions are expanded) */
    size_t max_bytes;     /* memory of the compiled grammar and its masks */
    double deadline;      /* engine_now() time by which compilation must end; 0: none */
    const char *what;     /* how the limits are named in errors, e.g. "--structured-outputs-..." */
} GrammarLimits;

typedef struct GrammarDfa {
    int n_rules;
    int32_t *rule_start;  /* [n_rules] start state of each rule; -1: the rule derives nothing */
    char **rule_names;    /* [n_rules] */
    DfaState *st;
    int n_states;
    DfaRange *ranges;
    DfaCall *calls;
    ByteSet *follow;      /* [n_rules] bytes that can come right after the rule ends */
    uint8_t *nullable;    /* [n_rules] */
    uint8_t *ends;        /* [n_states] the rule can end from the state without a byte (final,
                           * or final after calls into nullable rules) */
    size_t bytes;
} GrammarDfa;

void grammar_limits_default(GrammarLimits *l);
/* 0, or negative with err set: a limit reached (named), left recursion (the rule named),
 * a grammar that matches nothing, out of memory. */
int grammar_compile(const Grammar *g, const GrammarLimits *lim, GrammarDfa *out, char *err, size_t errlen);
void grammar_dfa_free(GrammarDfa *d);

/* The state reached from s by byte b, or -1. */
static inline int32_t dfa_next(const GrammarDfa *d, int32_t s, uint8_t b) {
    const DfaState *st = &d->st[s];
    const DfaRange *r = d->ranges + st->range_off;
    int lo = 0, hi = st->n_ranges;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (r[mid].hi < b) lo = mid + 1;
        else hi = mid;
    }
    return lo < st->n_ranges && r[lo].lo <= b ? r[lo].to : -1;
}

/* ---- inside grammar_compile (grammar_nfa.c builds the raw DFAs it then refines) ---- */

/* A rule's DFA before trimming and minimisation: next[256] per state (-1 none), calls,
 * final flags; state 0 is the start. */
typedef struct RawDfa {
    int n, cap;
    int32_t (*next)[256];
    uint8_t *final;
    DfaCall **calls; /* [n] arrays; calls[i][j].to is a state of this DFA */
    int *n_calls;
    int32_t **succ;  /* [n] arrays: the distinct states next[i] leads to */
    int *n_succ;
} RawDfa;

int raw_dfa_build(const Grammar *g, int rule, const GrammarLimits *lim, int states_left, RawDfa *out, char *err,
                  size_t errlen);
void raw_dfa_free(RawDfa *r);

#endif
