/* A Hugging Face tokenizer from hostile bytes: the input is tokenizer.json, then optionally
 * "\0PFZ\0" and tokenizer_config.json, written into a directory of this process's own and
 * read by tokenizer_create_hf (engine/tokenizer_hf.c: the vocabulary, merges, added tokens,
 * the pre-tokenizer tree with its regexes, which PCRE2 compiles, the post-processor, the
 * config's special tokens). A tokenizer it accepts must encode a fixed text into ids of its
 * vocabulary, with and without special parsing, and decode them. */
#include "tests/fuzz/fuzz.h"

#include <unistd.h>

#include "engine/tokenizer.h"

#define SEP "\0PFZ\0"

static char g_dir[256];
static pid_t g_owner;
static volatile size_t g_sink;

static void file_of(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

static void remove_dir(void) {
    char p[512];
    if (getpid() != g_owner) return; /* a driver's child: the parent still uses it */
    file_of(p, sizeof p, "tokenizer.json"), unlink(p);
    file_of(p, sizeof p, "tokenizer_config.json"), unlink(p);
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/piston-fuzz-tok-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) perror("mkdtemp"), abort();
    g_owner = getpid();
    atexit(remove_dir);
    return 0;
}

static void put(const char *name, const uint8_t *p, size_t n, int present) {
    char path[512];
    file_of(path, sizeof path, name);
    unlink(path);
    if (!present) return;
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n)) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t k = sizeof SEP - 1, j = 0;
    while (j < size && !(size - j >= k && memcmp(data + j, SEP, k) == 0)) j++;
    put("tokenizer.json", data, j, 1);
    put("tokenizer_config.json", data + j + (j < size ? k : 0), j < size ? size - j - k : 0, j < size);
    Tokenizer *t = NULL;
    char err[512] = "";
    if (tokenizer_create_hf(g_dir, &t, err, sizeof err)) {
        if (!err[0]) abort();
        return 0;
    }
    static const char text[] = "Hello world, <s> <|im_start|>user 123 caf\xc3\xa9 \xe4\xb8\xad\n\t  end</s>";
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        int n = tokenizer_encode_alloc(t, text, sizeof text - 1, special, special, &ids);
        if (n < 0) continue;
        char out[8192];
        size_t len = 0, mx = detok_max_bytes(t);
        Detok d;
        detok_init(&d);
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t)) abort();
            if (sizeof out - len > mx) len += detok_push(t, &d, ids[i], out + len, sizeof out - len);
        }
        len += detok_flush(&d, out + len, sizeof out - len);
        g_sink += len;
        free(ids);
    }
    for (int32_t id = -1; id <= tokenizer_n_vocab(t) && id < 64; id++) {
        size_t len;
        (void)tokenizer_piece(t, id, &len);
        g_sink += len + (size_t)tokenizer_is_control(t, id) + (size_t)tokenizer_is_eog(t, id);
    }
    tokenizer_destroy(t);
    return 0;
}
