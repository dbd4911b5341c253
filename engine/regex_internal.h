/* The regex front end's parser state, shared by regex.c (structure: alternation, groups,
 * quantifiers, anchors) and regex_class.c (characters: escapes, classes, and how a set of
 * code points becomes an expression in each mode). Not for use outside those files. */
#ifndef PISTON_REGEX_INTERNAL_H
#define PISTON_REGEX_INTERNAL_H

#include <stddef.h>

#include "engine/grammar.h"

typedef struct Rx {
    Grammar *g;
    const char *s;
    size_t n, i;     /* the pattern and the position */
    int json;        /* characters are JSON string content */
    int search;      /* unanchored ends match anything (JSON Schema's pattern) */
    int depth;
    char *err;
    size_t errlen;
    int rc;          /* the first error's code */
} Rx;

/* Records the first error (fmt has one %s for what); returns -1. */
int rx_fail(Rx *r, const char *fmt, const char *what);
/* A class [...] at r->i; an escape \x at r->i (outside classes). */
int rx_class(Rx *r);
int rx_escape(Rx *r);
/* One character of ranges[0, n) (negated: of any other), in r's mode. */
int rx_chars(Rx *r, const CpRange *ranges, int n, int negate);

#endif
