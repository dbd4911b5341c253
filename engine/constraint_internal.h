/* Inside constrained decoding: the compiled Constraint (constraint.c compiles it,
 * constraint_ci.c fills its per-state token tables, constraint_match.c reads them) and the
 * front ends that build grammars from each kind of spec. Not for use outside engine/. */
#ifndef PISTON_CONSTRAINT_INTERNAL_H
#define PISTON_CONSTRAINT_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

#include "engine/constraint.h"
#include "engine/grammar.h"
#include "engine/grammar_dfa.h"
#include "engine/grammar_parser.h"

/* The token tables of one DFA state s (constraint_ci.c):
 *   accepted: tokens whose bytes the parser takes from s whatever the stack below s holds:
 *             n_acc ids, or (n_acc < 0) a bitset of the vocabulary's words;
 *   context-dependent: tokens that end s's rule after their first byte and go on with a
 *             byte of the rule's FOLLOW set: n_cd ids in trie order, and for each its common
 *             prefix length with the previous one.
 * A token that ends the rule before its first byte is the business of the configuration
 * below (constraint_match.c visits it), so it is in neither list. */
typedef struct StateTable {
    int32_t n_acc, n_cd;
    uint32_t *acc;
    int32_t *cd;
    uint16_t *lcp;
} StateTable;

/* The tables are made for the states nearest the start at compile time, within a share of
 * the time limit, and for the others when a mask first needs them (under lazy_mu, so that
 * engines on several threads may share one Constraint); a table, once published, never
 * changes. */
struct Constraint {
    atomic_int refs;
    GrammarDfa dfa;
    int n_vocab, words;
    _Atomic(StateTable *) *tables; /* [n_states], set at the representative states only */
    int32_t *rep;                  /* [n_states] the state whose table s uses (constraint_equiv.c) */
    uint8_t *shared;               /* [n_states] the table covers tokens up to the horizon only */
    pthread_mutex_t lazy_mu;
    struct CiWork *lazy;           /* the parser and buffers of lazy table walks */
    atomic_size_t bytes;
    size_t max_bytes;
    double compile_seconds;
    atomic_llong ci_tokens, cd_tokens;
    int n_eager;                   /* tables made at compile time */
    atomic_int n_lazy;
    /* control tokens the grammar takes as their text: only a tool format's literals
     * ("[TOOL_CALLS]" and "[ARGS]" are ones in Mistral's vocabularies, tool_spec_controls),
     * never any other control token */
    int32_t terminal[4];
    int n_terminal;
};

int constraint_ci_build(Constraint *c, const ConstraintVocab *v, double soft_deadline, char *err, size_t errlen);
/* Representatives: rep[s] is the state whose table s can use; shared[s] when that table is
 * exact only for tokens of up to horizon bytes. 0 or -ENOMEM. */
int constraint_equiv(const GrammarDfa *d, int horizon, int32_t *rep, uint8_t *shared);
/* The tables of state s, made now when they are not yet; NULL with err set at a limit. */
const StateTable *constraint_table(Constraint *c, const ConstraintVocab *v, int s, char *err, size_t errlen);
void constraint_tables_free(Constraint *c);


/* Front ends: each builds its spec into g, whose rule 0 is the start. 0, or negative with
 * err set (the feature or the position named). */
int regex_build(Grammar *g, const char *re, size_t len, char *err, size_t errlen);
/* The regex as the content of a JSON string (JSON Schema's "pattern"): characters the JSON
 * encoding must escape are written escaped. */
int regex_build_json_string(Grammar *g, const char *re, size_t len, int *expr, char *err, size_t errlen);
int gbnf_build(Grammar *g, const char *src, size_t len, char *err, size_t errlen);
int json_schema_build(Grammar *g, const char *schema, size_t len, char *err, size_t errlen);
/* The schema doc as an expression of g (its $refs resolved within doc), for grammars that hold
 * several schemas (tool calls). */
int json_schema_expr(Grammar *g, const cJSON *doc, int *expr, char *err, size_t errlen);
int json_object_build(Grammar *g);

#endif
