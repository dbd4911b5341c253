/* What the fuzz targets (tests/fuzz/fuzz_*.c) share: the libFuzzer entry points, the default
 * model's path, a skip that the regression driver reports (exit 77: the model is missing),
 * and a reader that splits one input into the pieces a target needs. A target need not use
 * any of it: each file only has to define LLVMFuzzerTestOneInput. */
#ifndef PISTON_FUZZ_H
#define PISTON_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_SKIP_EXIT 77

/* Initialisation that cannot run here (no model): say why and leave with 77, which
 * tests/fuzz/regress.sh counts as every input skipped. */
static inline void fuzz_skip(const char *why) {
    printf("SKIP %s\n", why);
    fflush(stdout);
    exit(FUZZ_SKIP_EXIT);
}

/* The default model, found as the unit tests find it: $PISTON_MODEL, $PISTON_HOME, ~/.cache. */
static inline const char *fuzz_model_path(char *buf, size_t cap) {
    const char *env = getenv("PISTON_MODEL"), *home = getenv("PISTON_HOME");
    if (env && *env) snprintf(buf, cap, "%s", env);
    else if (home && *home) snprintf(buf, cap, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", home);
    else snprintf(buf, cap, "%s/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "");
    return buf;
}

/* A cursor over the input: bytes taken from the front run out into zeros, never past the end. */
typedef struct FuzzIn {
    const uint8_t *p;
    size_t n;
} FuzzIn;

static inline unsigned fuzz_u8(FuzzIn *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline unsigned fuzz_u16(FuzzIn *in) { return fuzz_u8(in) | fuzz_u8(in) << 8; }

/* The next piece up to (not including) the separator sep, as a malloc'd NUL-terminated copy
 * (*len its length); the rest of the input when there is no separator. NULL: out of memory. */
static inline char *fuzz_piece(FuzzIn *in, const char *sep, size_t *len) {
    size_t k = strlen(sep), i = 0;
    while (i < in->n && !(in->n - i >= k && memcmp(in->p + i, sep, k) == 0)) i++;
    char *s = malloc(i + 1);
    if (s) memcpy(s, in->p, i), s[i] = 0;
    if (len) *len = i;
    size_t skip = i < in->n ? i + k : i;
    in->p += skip, in->n -= skip;
    return s;
}

/* The whole input as a NUL-terminated string (a C parser's view of a body). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (s) memcpy(s, data, size), s[size] = 0;
    return s;
}

#endif
