/* Shared by the constraint tests (test_constraint.c, test_json_schema.c): the default
 * model's vocabulary, compiling a spec, the brute-force mask check and random walks. */
#ifndef PISTON_TEST_CONSTRAINT_WALK_H
#define PISTON_TEST_CONSTRAINT_WALK_H
#include <errno.h>
#include <unistd.h>

#include "engine/constraint.h"
#include "models/gguf.h"
#include "tests/unit/test.h"

static const ConstraintVocab *V;
/* When set, walks start by forcing these bytes (they are part of the text they return). */
static const char *walk_prefix;
static const Tokenizer *T;

static int compile_ex(ConstraintKind kind, const char *text, Constraint **c, char *err, size_t n, double eager);
static int compile(ConstraintKind kind, const char *text, Constraint **c, char *err, size_t n) {
    ConstraintSpec spec = {kind, text, text ? strlen(text) : 0};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    return constraint_compile(V, &spec, &lim, c, err, n);
}

/* The mask at m's state equals brute force over the vocabulary. */
static int mask_matches(ConstraintMatcher *m, const uint32_t *mask, const char *name) {
    int complete = constraint_matcher_complete(m), bad = 0;
    for (int32_t id = 0; id < V->n_vocab; id++) {
        int eog = 0;
        for (int k = 0; k < V->n_eog; k++) eog |= V->eog[k] == id;
        /* control tokens never appear inside constrained text */
        int usable = V->len[id] > 0 && !tokenizer_is_control(T, id);
        int want = eog ? complete : usable && constraint_matcher_accepts_bytes(m, V->bytes + V->off[id], V->len[id]);
        if (want != mask_has(mask, id)) {
            if (bad++ < 3)
                fprintf(stderr, "%s: token %d (%.*s) brute force %d, mask %d\n", name, id, (int)V->len[id],
                        V->bytes + V->off[id], want, mask_has(mask, id));
        }
    }
    return bad;
}

/* A random walk of up to steps tokens; the text in out. Returns 1 when it ended (EOS). */
static int walk(Constraint *c, const char *name, int steps, unsigned long long seed, char *out, size_t cap, int check) {
    ConstraintMatcher *m;
    char err[256];
    if (constraint_matcher_create(c, V, &m)) {
        CHECK(0, "%s: matcher", name);
        return 0;
    }
    size_t len = 0;
    int ended = 0, *cand = malloc((size_t)V->n_vocab * sizeof *cand);
    if (walk_prefix) {
        CHECK(constraint_matcher_advance_bytes(m, walk_prefix, strlen(walk_prefix)) == 0, "%s: prefix", name);
        len = strlen(walk_prefix) < cap ? strlen(walk_prefix) : 0;
        memcpy(out, walk_prefix, len);
    }
    for (int s = 0; s < steps && !ended; s++) {
        const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
        if (!mask) {
            CHECK(0, "%s: %s", name, err);
            break;
        }
        if (check) {
            int bad = mask_matches(m, mask, name);
            CHECK(bad == 0, "%s step %d: %d tokens differ from brute force", name, s, bad);
        }
        int n = 0, eog = -1;
        for (int32_t id = 0; id < V->n_vocab; id++)
            if (mask_has(mask, id)) {
                int is_eog = 0;
                for (int k = 0; k < V->n_eog; k++) is_eog |= V->eog[k] == id;
                if (is_eog) eog = id;
                else cand[n++] = id;
            }
        CHECK(n > 0 || eog >= 0, "%s step %d: empty mask", name, s);
        if (n == 0 && eog < 0) break;
        int32_t id;
        if (eog >= 0 && (n == 0 || test_rng_next(&seed) % 4 == 0)) id = eog;
        else id = cand[test_rng_next(&seed) % (unsigned)n];
        CHECK(constraint_matcher_accept(m, id, err, sizeof err) == 0, "%s: accept %d: %s", name, id, err);
        if (id == eog) {
            ended = 1;
            if (getenv("TEST_VERBOSE")) fprintf(stderr, "%s: \"%.*s\"\n", name, (int)len, out);
        } else if (len + V->len[id] < cap) memcpy(out + len, V->bytes + V->off[id], V->len[id]), len += V->len[id];
    }
    out[len] = 0;
    free(cand);
    constraint_matcher_destroy(m);
    return ended;
}


/* Compile with a given up-front table budget (0: every table made at first use). */
static __attribute__((unused)) int compile_ex(ConstraintKind kind, const char *text, Constraint **c, char *err, size_t n, double eager) {
    ConstraintSpec spec = {kind, text, text ? strlen(text) : 0};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    lim.eager_seconds = eager;
    return constraint_compile(V, &spec, &lim, c, err, n);
}

/* Open the default model's tokenizer and vocabulary; 0 when the model is missing (skipped). */
static int walk_setup(GgufFile **f, Tokenizer **t, ConstraintVocab **v) {
    char path[1024], err[512];
    *f = NULL, *t = NULL, *v = NULL;
    if (!test_model_path(path, sizeof path)) {
        SKIP("%s not found: the constraint tests need the real vocabulary (run `make model`)", path);
        return 0;
    }
    CHECK(gguf_open(path, f, err, sizeof err) == 0, "%s", err);
    CHECK(*f && tokenizer_create(*f, t, err, sizeof err) == 0, "%s", err);
    CHECK(*t && constraint_vocab_create(*t, v, err, sizeof err) == 0, "%s", err);
    V = *v, T = *t;
    return *v != NULL;
}

static void walk_teardown(GgufFile *f, Tokenizer *t, ConstraintVocab *v) {
    constraint_vocab_destroy(v);
    tokenizer_destroy(t);
    gguf_close(f);
}

#endif
