/* Constrained decoding: a constraint (a JSON Schema, any JSON object, a regular expression,
 * a choice of strings, a GBNF grammar, or a tool-call format) compiled into a grammar, the
 * grammar into per-rule DFAs run by a pushdown parser, and the parser walked over the
 * tokenizer's vocabulary as a trie to give each step's token mask. Control tokens are never
 * text, except a tool-call constraint's trigger token (constraint_matcher_is_terminal).
 *
 * Masks are cheap at run time because most of the work is done once per compiled constraint
 * (constraint_ci.c, after XGrammar's adaptive token-mask cache): for every DFA state, the
 * tokens it accepts whatever is on the stack below, and the few whose fate depends on that
 * stack (they end the state's rule partway through and continue with a byte the rule's
 * FOLLOW set allows). At run time a state's mask is the union, over its configurations, of
 * the first set plus the second set checked against the real stack; masks are also cached
 * per parser state (constraint_match.c).
 *
 * Threads: constraint_compile is pure (any thread; the server runs it on libuv's worker
 * pool, never on the engine thread) and bounded by ConstraintLimits (time and memory, named
 * in the error). A Constraint is immutable after compilation and reference counted
 * atomically, so a cache can share it between requests and threads. A ConstraintMatcher
 * belongs to one thread (the engine's). */
#ifndef PISTON_CONSTRAINT_H
#define PISTON_CONSTRAINT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* The tokenizer's vocabulary as the masks see it: each token's bytes, which tokens may
 * appear inside constrained text (control tokens and end-of-generation tokens may not), the
 * end-of-generation ids (allowed exactly where a constraint is complete), and the trie. */
typedef struct ConstraintVocab {
    int n_vocab, words;         /* words: uint32 words of a mask */
    char *bytes;                /* every token's bytes, one after another */
    uint32_t *off, *len;        /* [n_vocab] */
    uint8_t *usable;            /* [n_vocab] 1: may appear inside constrained text (in the trie) */
    int32_t *eog;               /* [n_eog] */
    int n_eog;
    /* trie in preorder: node i has byte[i] at depth[i] >= 1, its subtree is [i, end[i]),
     * the tokens ending at it are toks[tok_off[i], tok_off[i + 1]) */
    int n_nodes, max_depth;
    uint8_t *byte;
    uint16_t *depth;
    int32_t *end, *tok_off, *toks;
    /* the tokens longer than `horizon` bytes, in trie order, each with its common prefix
     * length with the one before: tables shared by several states leave them out */
    int horizon, n_long;
    int32_t *long_ids;
    uint16_t *long_lcp;
} ConstraintVocab;

int constraint_vocab_create(const Tokenizer *t, ConstraintVocab **out, char *err, size_t errlen);
void constraint_vocab_destroy(ConstraintVocab *v);

typedef enum ConstraintKind {
    CONSTRAINT_JSON_SCHEMA = 0, /* text: a JSON Schema document */
    CONSTRAINT_JSON_OBJECT,     /* any JSON object (text unused) */
    CONSTRAINT_REGEX,           /* text: a regular expression the whole output must match */
    CONSTRAINT_CHOICE,          /* text: a JSON array of strings; the output is one of them */
    CONSTRAINT_GRAMMAR,         /* text: a GBNF grammar (llama.cpp's), start rule "root" */
    CONSTRAINT_TOOLS,           /* text: a tool-call request (tool_call.h builds it) */
    CONSTRAINT_KIND_COUNT
} ConstraintKind;

const char *constraint_kind_name(ConstraintKind k);

typedef struct ConstraintSpec {
    ConstraintKind kind;
    const char *text;
    size_t len;
} ConstraintSpec;

typedef struct ConstraintLimits {
    double max_seconds;   /* compilation time, default 10 s */
    double eager_seconds; /* of which token tables are made up front, default 0.2 s; the
                           * tables of states not reached by then are made at first use */
    size_t max_bytes;     /* memory of one compiled constraint, default 512 MiB */
    int max_states;       /* DFA states, default 200000 */
    const char *what;     /* how the limits are named in errors (the flags that set them) */
} ConstraintLimits;

void constraint_limits_default(ConstraintLimits *l);

typedef struct Constraint Constraint;

/* Compile spec for vocabulary v. 0, or negative with one line in err: -EINVAL for a spec that
 * is wrong or uses a feature Piston does not implement (named), -E2BIG / -ETIMEDOUT for a
 * limit (named), -ENOMEM. */
int constraint_compile(const ConstraintVocab *v, const ConstraintSpec *spec, const ConstraintLimits *lim,
                       Constraint **out, char *err, size_t errlen);
Constraint *constraint_ref(Constraint *c);
void constraint_unref(Constraint *c);
/* Facts for logs and benchmarks. */
typedef struct ConstraintInfo {
    int n_rules, n_states;
    size_t bytes;
    double compile_seconds;
    int64_t ci_tokens, cd_tokens; /* context-independent accepted / context-dependent entries */
    int eager_tables, lazy_tables; /* states whose tables were made at compile time / since */
} ConstraintInfo;
void constraint_info(const Constraint *c, ConstraintInfo *info);

/* ---- matching (one thread) ---- */

typedef struct ConstraintMatcher ConstraintMatcher;

/* A matcher at the start of c. Matchers made with constraint_matcher_fork share their
 * parser tables and mask cache (the n samples of one request). 0 or -ENOMEM. */
int constraint_matcher_create(Constraint *c, const ConstraintVocab *v, ConstraintMatcher **out);
int constraint_matcher_fork(const ConstraintMatcher *m, ConstraintMatcher **out);
void constraint_matcher_destroy(ConstraintMatcher *m);
/* Back to the start (a sequence that runs its prompt again). */
void constraint_matcher_reset(ConstraintMatcher *m);
/* The tokens allowed next: a bitset of v->words words, valid until the next call on any
 * matcher sharing m's tables. End-of-generation tokens are in it exactly when the text so
 * far is complete. NULL when the parser hit a memory limit (err set). */
const uint32_t *constraint_matcher_mask(ConstraintMatcher *m, char *err, size_t errlen);
/* A control token this constraint takes as its text (a tool format's trigger or other literal
 * where the vocabulary has it as one token, Mistral's [TOOL_CALLS] and [ARGS]): the mask allows it where the
 * grammar takes its bytes, and its text belongs to the output (detok_push_text). */
int constraint_matcher_is_terminal(const ConstraintMatcher *m, int32_t id);
/* Advance by token id (its bytes; an end-of-generation token ends the text). 0, or -1 when
 * the token is not allowed here (or a limit was hit: err says which). */
int constraint_matcher_accept(ConstraintMatcher *m, int32_t id, char *err, size_t errlen);
/* The text so far is a complete match / can still be extended. */
int constraint_matcher_complete(ConstraintMatcher *m);
int constraint_matcher_can_continue(ConstraintMatcher *m);
/* Whether the text t[0, n) can be appended here (the matcher does not move). */
int constraint_matcher_accepts_bytes(ConstraintMatcher *m, const char *t, size_t n);
/* Append t[0, n) (text forced rather than sampled): 0, or -1 (the matcher does not move). */
int constraint_matcher_advance_bytes(ConstraintMatcher *m, const char *t, size_t n);

/* ---- a cache of compiled constraints (thread-safe) ---- */

/* Up to capacity constraints by kind and text, least recently used first out. get gives a
 * new reference or NULL; put stores one (taking the caller's reference). */
typedef struct ConstraintCache ConstraintCache;
int constraint_cache_create(int capacity, ConstraintCache **out);
void constraint_cache_destroy(ConstraintCache *c);
Constraint *constraint_cache_get(ConstraintCache *c, const ConstraintSpec *spec);
void constraint_cache_put(ConstraintCache *c, const ConstraintSpec *spec, Constraint *k);

static inline int mask_has(const uint32_t *m, int32_t id) { return (m[id >> 5] >> (id & 31)) & 1; }

#endif
