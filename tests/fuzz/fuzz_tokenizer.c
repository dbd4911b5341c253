/* The tokenizers on arbitrary input: the default model's (byte-level BPE with its PCRE2
 * pre-tokenizer) and, when the first byte has 0x04 set, SentencePiece's (tests/fixtures/
 * spm_tiny.gguf: its unigram-scored merges, the dummy prefix, byte fallback). The first byte
 * picks the mode: encode the rest (with or without BOS/EOS, with or without special-token
 * parsing), or decode the rest as little-endian int32 ids, which may be negative or past the
 * vocabulary, streamed through detok_push with a small or a large buffer. Encoding must give
 * ids in the vocabulary; with BPE and without special parsing, valid UTF-8 must come back
 * byte for byte (byte-level BPE is lossless) unless a byte has no token in the vocabulary (it
 * encodes to a control id, which decodes to nothing). SentencePiece is not lossless (its
 * normalization turns runs of spaces into one piece), so only the ids are checked there. */
#include "tests/fuzz/fuzz.h"

#include "engine/tokenizer.h"
#include "models/gguf.h"

static GgufFile *g_file, *g_spm_file;
static Tokenizer *g_bpe, *g_spm;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char path[4096], err[512];
    fuzz_model_path(path, sizeof path);
    if (gguf_open(path, &g_file, err, sizeof err)) fuzz_skip(err);
    if (tokenizer_create(g_file, &g_bpe, err, sizeof err)) fprintf(stderr, "%s\n", err), abort();
    if (gguf_open("tests/fixtures/spm_tiny.gguf", &g_spm_file, err, sizeof err) ||
        tokenizer_create(g_spm_file, &g_spm, err, sizeof err))
        fprintf(stderr, "%s\n", err), abort();
    return 0;
}

static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n || c == 0xc0 || c == 0xc1 || c > 0xf4) return 0;
        uint32_t cp = k == 1 ? c : c & (0x7f >> k);
        for (unsigned j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += k;
    }
    return 1;
}

static size_t decode(const Tokenizer *tok, const int32_t *ids, int n, size_t room, char *out, size_t cap, int first) {
    Detok d;
    size_t len = 0;
    detok_init(&d);
    d.first = first;
    for (int i = 0; i < n; i++) {
        size_t c = cap - len < room ? cap - len : room;
        len += detok_push(tok, &d, ids[i], out + len, c);
        if (len > cap) abort();
    }
    len += detok_flush(&d, out + len, cap - len);
    if (len > cap) abort();
    return len;
}

static void encode(const Tokenizer *tok, unsigned mode, const uint8_t *text, size_t n) {
    int add = mode & 1, special = (mode >> 1) & 1;
    int32_t *ids = NULL;
    int k = tokenizer_encode_alloc(tok, (const char *)text, n, add, special, &ids);
    if (k < 0) return;
    int32_t small[8];
    int k2 = tokenizer_encode(tok, (const char *)text, n, add, special, small, 8); /* may be cut */
    if (k2 != k || memcmp(small, ids, (size_t)(k < 8 ? k : 8) * sizeof *ids)) abort();
    int unknown = 0; /* a byte the vocabulary has no token for (SmolLM2 lacks 0x04, 0x06, ...) */
    for (int i = 0; i < k; i++) {
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(tok)) abort();
        unknown |= tokenizer_is_control(tok, ids[i]);
    }
    size_t cap = n * 3 + 64 * (size_t)k + 64;
    char *out = malloc(cap);
    if (out) {
        size_t len = decode(tok, ids, k, detok_max_bytes(tok), out, cap, 1);
        if (tok == g_bpe && !add && !special && !unknown && valid_utf8(text, n) &&
            (len != n || memcmp(out, text, n))) {
            fprintf(stderr, "round trip: %zu bytes in, %zu out\n", n, len);
            abort();
        }
        free(out);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = data[0];
    const Tokenizer *tok = mode & 0x04 ? g_spm : g_bpe;
    if (mode & 0x80) { /* ids */
        int n = (int)((size - 1) / 4);
        int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
        if (!ids) return 0;
        memcpy(ids, data + 1, (size_t)n * 4);
        uint32_t nv = (uint32_t)tokenizer_n_vocab(tok) + 48; /* mostly valid */
        for (int i = 0; i < n && (mode & 0x40); i++) ids[i] = (int32_t)((uint32_t)ids[i] % nv);
        char out[8192];
        decode(tok, ids, n < 512 ? n : 512, (mode & 0x20) ? 3 : sizeof out, out, sizeof out, mode & 1);
        for (int i = 0; i < n && i < 64; i++) {
            size_t len;
            const char *p = tokenizer_piece(tok, ids[i], &len);
            if (len) out[0] = p[len - 1];
            (void)tokenizer_is_control(tok, ids[i]);
            (void)tokenizer_is_eog(tok, ids[i]);
        }
        free(ids);
        return 0;
    }
    encode(tok, mode, data + 1, size - 1);
    return 0;
}
