/* Inside grammar_compile: a rule's Thompson NFA (grammar_nfa.c builds it, with the byte
 * classes of its edges) and the subset construction over it (grammar_subset.c). */
#ifndef PISTON_GRAMMAR_NFA_H
#define PISTON_GRAMMAR_NFA_H

#include "engine/grammar_dfa.h"

enum { E_EPS = 0, E_BYTES = 1, E_CALL = 2 };

typedef struct NEdge {
    int32_t next, to, arg;
    uint8_t kind;
} NEdge;

typedef struct Nfa {
    const Grammar *g;
    int32_t *head; /* [n] first edge of each state, -1 */
    int n, cap;
    NEdge *e;
    int ne, cap_e;
    int max;
    int oom;
} Nfa;

/* The NFA of rule `rule` into a (states 0 = start, 1 = accept). 0; -1 at the state limit
 * (a->oom says out of memory instead). */
int nfa_build(Nfa *a, const Grammar *g, int rule, int max_states);
void nfa_free(Nfa *a);
/* The rule's bytes in classes that every byte set of its NFA either holds whole or not at
 * all (RE2's byte map): cls[b] is b's class, rep[c] a byte of class c; returns the count. */
int nfa_byte_classes(const Nfa *a, uint8_t cls[256], uint8_t rep[256]);

#endif
