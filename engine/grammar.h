/* The grammar every constraint compiles to: named rules whose bodies are expressions over
 * bytes (sequence, alternation, bounded or unbounded repetition, byte sets, rule references).
 * The front ends (JSON Schema: json_schema.c, regular expressions: regex.c, GBNF: gbnf.c,
 * choices and tool calls: constraint.c, tool_call.c) build it through the functions below;
 * grammar_dfa.c compiles it into one DFA per rule, and the pushdown parser of
 * grammar_parser.c runs those. Characters are UTF-8: a class of code points becomes the
 * alternation of its UTF-8 byte sequences (grammar_class), so the automata, the token trie
 * and the masks all work on bytes, and a token that ends inside a character is allowed
 * exactly when the character can still be completed.
 *
 * Building never fails midway: the first error (out of memory, a limit) is kept in g->err and
 * g->msg and every later call returns -1, so front ends check once at the end. Expression
 * and rule ids are small non-negative integers. */
#ifndef PISTON_GRAMMAR_H
#define PISTON_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

typedef enum GExprKind {
    GX_EMPTY = 0, /* matches the empty string */
    GX_NONE,      /* matches nothing */
    GX_BYTES,     /* one byte of a set: a = set index */
    GX_SEQ,       /* kids[a .. a + b) in order */
    GX_ALT,       /* one of kids[a .. a + b) */
    GX_REPEAT,    /* a repeated [min, max] times; max < 0: unbounded */
    GX_RULE,      /* the rule a */
    GX_GRAPH      /* a small automaton given whole: kids[a] = states m, kids[a + 1] = edges e,
                   * then m accept flags, then e (from, byte set, to) triples; state 0 starts */
} GExprKind;

typedef struct GExpr {
    uint8_t kind;
    int32_t a, b;
    int32_t min, max;
} GExpr;

typedef struct GRule {
    char *name;
    int32_t body; /* expression id, -1 until set */
} GRule;

typedef struct ByteSet {
    uint32_t w[8];
} ByteSet;

typedef struct Grammar {
    GExpr *x;
    int n_x, cap_x;
    int32_t *kids;
    int n_kids, cap_kids;
    ByteSet *sets;
    int n_sets, cap_sets;
    GRule *rules; /* rule 0 is the start rule */
    int n_rules, cap_rules;
    int err;      /* 0, or the first error's negative code */
    char msg[256];
    size_t bytes, max_bytes; /* memory held, and the limit (0: none) */
} Grammar;

void grammar_init(Grammar *g, size_t max_bytes);
void grammar_free(Grammar *g);
/* Records the first error; returns -1 for use in return statements. */
int grammar_fail(Grammar *g, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int grammar_empty(Grammar *g);
int grammar_none(Grammar *g);
int grammar_byteset(Grammar *g, const ByteSet *s);
int grammar_byte_range(Grammar *g, uint8_t lo, uint8_t hi);
int grammar_literal(Grammar *g, const char *s, size_t n); /* these exact bytes */
int grammar_str(Grammar *g, const char *s);               /* a NUL-terminated literal */
int grammar_seq(Grammar *g, const int *kids, int n);
int grammar_seq2(Grammar *g, int a, int b);
int grammar_seq3(Grammar *g, int a, int b, int c);
int grammar_alt(Grammar *g, const int *kids, int n);
int grammar_alt2(Grammar *g, int a, int b);
int grammar_repeat(Grammar *g, int kid, int min, int max);
int grammar_opt(Grammar *g, int kid);
/* A rule: grammar_rule_new names it (names need not be unique: a reference is by id),
 * grammar_rule_set gives its body, grammar_ref refers to it (before or after its body). */
int grammar_rule_new(Grammar *g, const char *name);
void grammar_rule_set(Grammar *g, int rule, int body);
int grammar_ref(Grammar *g, int rule);

/* Any bytes that never contain s (free text before a tool call's trigger), as the KMP
 * automaton of s: state q = how much of s the text ends with. */
int grammar_text_without(Grammar *g, const char *s);

/* Code point classes: ranges [lo, hi] of code points (surrogates are never matched). */
typedef struct CpRange {
    uint32_t lo, hi;
} CpRange;
#define CP_MAX 0x10FFFFu
/* One code point of ranges[0, n) (negate: of every other code point), as UTF-8. */
int grammar_class(Grammar *g, const CpRange *ranges, int n, int negate);
/* One code point, as UTF-8. */
int grammar_char(Grammar *g, uint32_t cp);
/* Encode cp as UTF-8 into out[4]; returns the byte count (0 for a surrogate or > CP_MAX). */
int utf8_encode(uint32_t cp, char *out);
/* Decode one code point from s[0, n); *len gets its byte count. -1 for invalid UTF-8. */
int32_t utf8_decode(const char *s, size_t n, int *len);

static inline void byteset_add(ByteSet *s, unsigned b) { s->w[b >> 5] |= 1u << (b & 31); }
static inline int byteset_has(const ByteSet *s, unsigned b) { return (s->w[b >> 5] >> (b & 31)) & 1; }

#endif
