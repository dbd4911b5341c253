/* The cache of compiled constraints (see constraint.h): a small array searched by hash and
 * text, with a use stamp for eviction, under one mutex. Compiling is what costs; a lookup
 * is a few comparisons, so a plain array of a few dozen entries is enough. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/constraint.h"

typedef struct Entry {
    uint64_t hash, used;
    ConstraintKind kind;
    char *text;
    size_t len;
    Constraint *c;
} Entry;

struct ConstraintCache {
    pthread_mutex_t mu;
    Entry *e;
    int n, cap;
    uint64_t tick;
};

/* a filter before the full comparison of find(): the kind seeds the hash of the text */
static uint64_t spec_hash(const ConstraintSpec *s) { return hash_bytes(s->text, s->len, (uint64_t)s->kind + 1); }

int constraint_cache_create(int capacity, ConstraintCache **out) {
    ConstraintCache *c = calloc(1, sizeof *c);
    if (!c || !(c->e = calloc((size_t)(capacity > 0 ? capacity : 1), sizeof *c->e))) {
        free(c);
        return -ENOMEM;
    }
    c->cap = capacity > 0 ? capacity : 1;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void constraint_cache_destroy(ConstraintCache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->e[i].text), constraint_unref(c->e[i].c);
    pthread_mutex_destroy(&c->mu);
    free(c->e);
    free(c);
}

static int find(const ConstraintCache *c, const ConstraintSpec *s, uint64_t h) {
    for (int i = 0; i < c->n; i++)
        if (c->e[i].hash == h && c->e[i].kind == s->kind && c->e[i].len == s->len && !memcmp(c->e[i].text, s->text, s->len))
            return i;
    return -1;
}

Constraint *constraint_cache_get(ConstraintCache *c, const ConstraintSpec *s) {
    uint64_t h = spec_hash(s);
    pthread_mutex_lock(&c->mu);
    int i = find(c, s, h);
    Constraint *k = i >= 0 ? constraint_ref(c->e[i].c) : NULL;
    if (i >= 0) c->e[i].used = ++c->tick;
    pthread_mutex_unlock(&c->mu);
    return k;
}

void constraint_cache_put(ConstraintCache *c, const ConstraintSpec *s, Constraint *k) {
    uint64_t h = spec_hash(s);
    char *text = malloc(s->len + 1);
    if (!text) {
        constraint_unref(k);
        return;
    }
    memcpy(text, s->text, s->len), text[s->len] = 0;
    pthread_mutex_lock(&c->mu);
    int i = find(c, s, h);
    if (i >= 0) { /* compiled twice at once: keep the first */
        pthread_mutex_unlock(&c->mu);
        free(text);
        constraint_unref(k);
        return;
    }
    if (c->n < c->cap) i = c->n++;
    else {
        i = 0;
        for (int j = 1; j < c->n; j++)
            if (c->e[j].used < c->e[i].used) i = j;
        free(c->e[i].text);
        constraint_unref(c->e[i].c);
    }
    c->e[i] = (Entry){h, ++c->tick, s->kind, text, s->len, k};
    pthread_mutex_unlock(&c->mu);
}
