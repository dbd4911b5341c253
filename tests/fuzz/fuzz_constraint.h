/* What the constrained-decoding targets (fuzz_json_schema.c, fuzz_regex.c, fuzz_gbnf.c)
 * share: a vocabulary, the compile under small limits, and a walk that checks the masks.
 *
 * The vocabulary is tests/fixtures/spm_tiny.gguf's (336 tokens, every byte among them as a
 * byte-fallback token), so a compile costs milliseconds and any byte string can be walked;
 * PISTON_FUZZ_VOCAB=model takes the default model's 49152 tokens instead (slower, closer to
 * serving). The limits are the server's, made small: a spec that needs more must fail with
 * the limit named, never run away (the token tables are made up front for a quarter of the
 * inputs, at first use for the rest). After a compile, a walk of up to 24 tokens chosen by a
 * hash of the input: every token the mask allows must be accepted, and one it refuses
 * (end-of-generation tokens aside) must be refused by accept too. */
#ifndef PISTON_FUZZ_CONSTRAINT_H
#define PISTON_FUZZ_CONSTRAINT_H

#include "tests/fuzz/fuzz.h"

#include "engine/constraint.h"
#include "models/gguf.h"

static GgufFile *g_cfile;
static Tokenizer *g_ctok;
static ConstraintVocab *g_vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char path[4096], err[512];
    const char *v = getenv("PISTON_FUZZ_VOCAB");
    if (v && !strcmp(v, "model")) fuzz_model_path(path, sizeof path);
    else snprintf(path, sizeof path, "tests/fixtures/spm_tiny.gguf");
    if (gguf_open(path, &g_cfile, err, sizeof err)) fuzz_skip(err);
    if (tokenizer_create(g_cfile, &g_ctok, err, sizeof err) || constraint_vocab_create(g_ctok, &g_vocab, err, sizeof err))
        fprintf(stderr, "%s\n", err), abort();
    return 0;
}

static int fuzz_is_eog(int32_t id) {
    for (int i = 0; i < g_vocab->n_eog; i++)
        if (g_vocab->eog[i] == id) return 1;
    return 0;
}

static void fuzz_walk(Constraint *c, uint64_t h) {
    ConstraintMatcher *m = NULL, *probe = NULL;
    char err[256];
    if (constraint_matcher_create(c, g_vocab, &m)) return;
    int32_t *allowed = malloc((size_t)g_vocab->n_vocab * sizeof *allowed);
    for (int step = 0; allowed && step < 24; step++) {
        const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
        if (!mask) break; /* a limit, named in err */
        int n = 0, refused = -1;
        for (int32_t id = 0; id < g_vocab->n_vocab; id++) {
            if (mask_has(mask, id)) allowed[n++] = id;
            else if (!fuzz_is_eog(id) && (refused < 0 || (h >> 7) % 5 == 0)) refused = id;
        }
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        if (refused >= 0 && constraint_matcher_fork(m, &probe) == 0) {
            if (constraint_matcher_accept(probe, refused, err, sizeof err) == 0) {
                fprintf(stderr, "token %d is outside the mask but accepted\n", refused);
                abort();
            }
            constraint_matcher_destroy(probe);
            probe = NULL;
        }
        if (n == 0) break;
        int32_t id = allowed[(h >> 33) % (uint64_t)n];
        if (constraint_matcher_accept(m, id, err, sizeof err)) {
            if (strstr(err, "limit")) break;
            fprintf(stderr, "token %d is in the mask but refused: %s\n", id, err);
            abort();
        }
        if (fuzz_is_eog(id)) break;
    }
    (void)constraint_matcher_complete(m);
    (void)constraint_matcher_can_continue(m);
    free(allowed);
    constraint_matcher_destroy(m);
}

static void fuzz_constraint(ConstraintKind kind, const uint8_t *data, size_t size) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    lim.max_seconds = 2.0;
    /* tables up front cost most of a compile: for one input in four, as the server makes
     * them; the others make them at first use, in the walk (the lazy path) */
    lim.eager_seconds = h % 4 == 0 ? 0.01 : 0;
    lim.max_bytes = (size_t)128 << 20;
    lim.max_states = 20000;
    char *text = fuzz_cstr(data, size), err[512] = "";
    if (!text) return;
    ConstraintSpec spec = {kind, text, size};
    Constraint *c = NULL;
    int rc = constraint_compile(g_vocab, &spec, &lim, &c, err, sizeof err);
    if (rc == 0) {
        fuzz_walk(c, h);
        constraint_unref(c);
    } else if (!err[0]) {
        fprintf(stderr, "compile failed (%d) without a message\n", rc);
        abort();
    }
    free(text);
}

#endif
