/* Tests of the tokenizer (engine/tokenizer*.c) against llama.cpp: tests/fixtures/
 * tokenizer_smollm2.json (made by tests/ref/make_tokenizer_fixture.py) holds llama.cpp's ids
 * for a corpus of hard strings on the default model, with special-token parsing on and off,
 * the same corpus under other pre-tokenizer types over the same vocabulary, llama.cpp's
 * pieces and end-of-generation ids, and a small SentencePiece vocabulary
 * (tests/fixtures/spm_tiny.gguf, synthetic: no real Llama-2 file is used). Ids must be equal
 * exactly. Also: decoding reproduces the text, incremental decoding never emits invalid
 * UTF-8, and the encoding speed of 100 KB is printed (not asserted). */
#include <cjson/cJSON.h>
#include <time.h>
#include <unistd.h>

#include "engine/tokenizer_internal.h"
#include "tests/unit/test.h"

#define FIXTURE "tests/fixtures/tokenizer_smollm2.json"
#define SPM_GGUF "tests/fixtures/spm_tiny.gguf"

/* Encodes text and compares with the JSON array want; prints the first difference. */
static int check_ids(const Tokenizer *t, const char *label, const char *text, int add_special, int parse_special,
                     const cJSON *want) {
    size_t len = strlen(text);
    int cap = (int)len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    int n = tokenizer_encode(t, text, len, add_special, parse_special, ids, cap);
    int nw = cJSON_GetArraySize(want), at = -1;
    for (int i = 0; i < (n > nw ? n : nw) && at < 0; i++)
        if (i >= n || i >= nw || ids[i] != (int32_t)cJSON_GetArrayItem(want, i)->valuedouble) at = i;
    CHECK(at < 0, "%s %.40s%s (special %d): %d ids, want %d; first difference at %d: got %d, want %d", label,
          text, len > 40 ? "..." : "", parse_special, n, nw, at, at >= 0 && at < n ? ids[at] : -1,
          at >= 0 && at < nw ? (int)cJSON_GetArrayItem(want, at)->valuedouble : -1);
    free(ids);
    return at < 0;
}

static int hexv(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

/* What llama.cpp's token_to_piece(special = false) gives: nothing for control tokens. */
static void check_pieces(const Tokenizer *t, const cJSON *pieces, const char *label) {
    int bad = 0;
    for (const cJSON *p = pieces->child; p; p = p->next) {
        int32_t id = atoi(p->string);
        size_t len, hl = strlen(p->valuestring);
        const char *s = tokenizer_piece(t, id, &len);
        if (tokenizer_is_control(t, id) || t->type[id] == TOK_TYPE_UNUSED) len = 0;
        int ok = len * 2 == hl;
        for (size_t i = 0; ok && i < len; i++)
            ok = (unsigned char)s[i] == hexv(p->valuestring[2 * i]) * 16 + hexv(p->valuestring[2 * i + 1]);
        if (!ok && bad++ < 5) CHECK(0, "%s piece of %d differs from llama.cpp's %s", label, id, p->valuestring);
    }
    CHECK(bad == 0, "%s: %d pieces differ", label, bad);
}

static void check_eog(const Tokenizer *t, const cJSON *eog, const char *label) {
    int n = 0;
    for (int i = 0; i < tokenizer_n_vocab(t); i++) n += tokenizer_is_eog(t, i);
    CHECK(n == cJSON_GetArraySize(eog), "%s: %d EOG ids, llama.cpp has %d", label, n, cJSON_GetArraySize(eog));
    for (const cJSON *e = eog->child; e; e = e->next)
        CHECK(tokenizer_is_eog(t, (int32_t)e->valuedouble), "%s: id %d is EOG in llama.cpp", label, (int)e->valuedouble);
}

/* 1 if s[0, n) is valid UTF-8 made of whole characters. */
static int utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i], l, lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) l = 2;
        else if (c >= 0xE0 && c <= 0xEF) { l = 3; lo = c == 0xE0 ? 0xA0 : 0x80; hi = c == 0xED ? 0x9F : 0xBF; }
        else if (c >= 0xF0 && c <= 0xF4) { l = 4; lo = c == 0xF0 ? 0x90 : 0x80; hi = c == 0xF4 ? 0x8F : 0xBF; }
        else return 0;
        if (i + l > n || u[i + 1] < lo || u[i + 1] > hi) return 0;
        for (unsigned k = 2; k < l; k++) if ((u[i + k] & 0xC0) != 0x80) return 0;
        i += l;
    }
    return 1;
}

/* Decodes ids one at a time; every chunk must be valid UTF-8. Returns the malloc'd text. */
static char *detok_all(const Tokenizer *t, const int32_t *ids, int n, int first, int *chunks_ok) {
    size_t cap = detok_max_bytes(t), total = 0;
    char *out = malloc((size_t)n * cap + 8), *chunk = malloc(cap);
    Detok d;
    detok_init(&d);
    d.first = first;
    *chunks_ok = 1;
    for (int i = 0; i < n; i++) {
        size_t k = detok_push(t, &d, ids[i], chunk, cap);
        if (!utf8_valid(chunk, k)) *chunks_ok = 0;
        memcpy(out + total, chunk, k);
        total += k;
    }
    total += detok_flush(&d, out + total, 8);
    out[total] = 0;
    free(chunk);
    return out;
}

static void test_smollm(const cJSON *fx, const GgufFile *f) {
    char err[512];
    Tokenizer *t = NULL;
    CHECK(tokenizer_create(f, &t, err, sizeof err) == 0, "%s", err);
    if (!t) return;
    CHECK(tokenizer_n_vocab(t) == 49152 && tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2, "vocab/bos/eos");
    CHECK(tokenizer_find(t, "<|im_end|>") == 2 && tokenizer_find(t, "no such token") == -1, "find");
    CHECK(tokenizer_is_control(t, 1) && !tokenizer_is_control(t, 100), "is_control");
    int ok = 0, n = 0, rt_bad = 0, chunk_bad = 0;
    for (const cJSON *c = cJSON_GetObjectItem(fx, "cases")->child; c; c = c->next) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        ok += check_ids(t, "smollm2", text, 0, 1, cJSON_GetObjectItem(c, "special"));
        ok += check_ids(t, "smollm2", text, 0, 0, cJSON_GetObjectItem(c, "plain"));
        n += 2;
        /* Round trip: the ids of a text read without special tokens decode back to it. */
        int32_t ids[4096];
        int k = tokenizer_encode(t, text, strlen(text), 0, 0, ids, 4096), chunks_ok;
        char *back = detok_all(t, ids, k, 0, &chunks_ok);
        if (strcmp(back, text) != 0 && rt_bad++ < 5) CHECK(0, "round trip of \"%.40s\" gave \"%.40s\"", text, back);
        if (!chunks_ok) chunk_bad++;
        free(back);
    }
    /* Bytes that are not UTF-8: the ids equal llama.cpp's and decode to valid UTF-8. */
    for (const cJSON *c = cJSON_GetObjectItem(fx, "invalid_utf8")->child; c; c = c->next, n++) {
        const char *hex = cJSON_GetObjectItem(c, "hex")->valuestring;
        char bytes[256];
        size_t bl = strlen(hex) / 2;
        for (size_t i = 0; i < bl && i < sizeof bytes - 1; i++) bytes[i] = (char)(hexv(hex[2 * i]) * 16 + hexv(hex[2 * i + 1]));
        bytes[bl] = 0;
        ok += check_ids(t, "smollm2 (not UTF-8)", bytes, 0, 1, cJSON_GetObjectItem(c, "special"));
        int32_t ids[256];
        int k = tokenizer_encode(t, bytes, bl, 0, 1, ids, 256), chunks_ok;
        char *back = detok_all(t, ids, k, 0, &chunks_ok);
        CHECK(chunks_ok && utf8_valid(back, strlen(back)), "decoding %s gives valid UTF-8", hex);
        free(back);
    }
    printf("smollm2: %d of %d encodings equal llama.cpp's\n", ok, n);
    CHECK(rt_bad == 0, "%d round trips differ", rt_bad);
    CHECK(chunk_bad == 0, "%d texts decoded with an invalid UTF-8 chunk", chunk_bad);
    check_pieces(t, cJSON_GetObjectItem(fx, "pieces"), "smollm2");
    check_eog(t, cJSON_GetObjectItem(fx, "eog"), "smollm2");

    /* Encoding into too small a buffer counts every id and writes only cap of them. */
    int32_t few[3] = {-7, -7, -7};
    CHECK(tokenizer_encode(t, "Hello world, again and again", 28, 1, 1, few, 2) == 6 && few[2] == -7,
          "short buffer");
    CHECK(tokenizer_encode(t, "", 0, 1, 1, few, 3) == 0, "empty text, add_bos_token false: no BOS");
    tokenizer_destroy(t);

    /* Unknown pre-tokenizer: a clear error naming it. */
    CHECK(tokenizer_create_ex(f, "no-such-pre", &t, err, sizeof err) != 0 && strstr(err, "'no-such-pre'"),
          "unknown pre type: %s", err);
}

static void test_variants(const cJSON *fx, const GgufFile *f) {
    char err[512], label[80];
    const cJSON *cases = cJSON_GetObjectItem(fx, "cases");
    for (const cJSON *v = cJSON_GetObjectItem(fx, "variants")->child; v; v = v->next) {
        const char *pre = cJSON_GetObjectItem(v, "pre")->valuestring;
        Tokenizer *t = NULL;
        CHECK(tokenizer_create_ex(f, pre, &t, err, sizeof err) == 0, "%s", err);
        if (!t) continue;
        snprintf(label, sizeof label, "pre %s", pre);
        int ok = 0, n = 0;
        const cJSON *c = cases->child, *want = cJSON_GetObjectItem(v, "plain")->child;
        for (; c && want; c = c->next, want = want->next, n++)
            ok += check_ids(t, label, cJSON_GetObjectItem(c, "text")->valuestring, 0, 0, want);
        printf("%s: %d of %d encodings equal llama.cpp's\n", label, ok, n);
        tokenizer_destroy(t);
    }
}

static void test_spm(const cJSON *fx) {
    char err[512];
    GgufFile *f = NULL;
    Tokenizer *t = NULL;
    CHECK(gguf_open(SPM_GGUF, &f, err, sizeof err) == 0, "%s", err);
    if (!f) return;
    CHECK(tokenizer_create(f, &t, err, sizeof err) == 0, "%s", err);
    if (t) {
        int ok = 0, n = 0;
        for (const cJSON *c = cJSON_GetObjectItem(fx, "spm")->child; c; c = c->next, n += 4) {
            const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
            ok += check_ids(t, "spm", text, 0, 0, cJSON_GetObjectItem(c, "bos0_special0"));
            ok += check_ids(t, "spm", text, 0, 1, cJSON_GetObjectItem(c, "bos0_special1"));
            ok += check_ids(t, "spm", text, 1, 0, cJSON_GetObjectItem(c, "bos1_special0"));
            ok += check_ids(t, "spm", text, 1, 1, cJSON_GetObjectItem(c, "bos1_special1"));
        }
        printf("spm (synthetic vocabulary): %d of %d encodings equal llama.cpp's\n", ok, n);
        check_pieces(t, cJSON_GetObjectItem(fx, "spm_pieces"), "spm");
        check_eog(t, cJSON_GetObjectItem(fx, "spm_eog"), "spm");
        /* Whole-text decoding from the start drops the prefixed space; byte tokens rejoin. */
        const char *text = "hello world \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80";
        int32_t ids[128];
        int k = tokenizer_encode(t, text, strlen(text), 1, 0, ids, 128), chunks_ok;
        char *back = detok_all(t, ids, k, 1, &chunks_ok);
        CHECK(strcmp(back, text) == 0 && chunks_ok, "spm round trip gave \"%s\"", back);
        free(back);
        tokenizer_destroy(t);
    }
    gguf_close(f);
}

/* Byte by byte through the byte-level tokens: held tails, U+FFFD for what cannot be UTF-8. */
static void test_detok_bytes(const GgufFile *f) {
    char err[512];
    Tokenizer *t = NULL;
    if (tokenizer_create(f, &t, err, sizeof err) != 0) return;
    struct { const char *in, *out; } cases[] = {
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"a\xe2\x82" "b", "a\xef\xbf\xbd" "b"},             /* interrupted sequence: one U+FFFD */
        {"\x80x", "\xef\xbf\xbdx"},                         /* lone continuation byte */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate: 3 maximal subparts */
        {"\xc3", "\xef\xbf\xbd"},                           /* unfinished at the end: flush */
        {"\xe4\xbd\xa0\xe5\xa5", "\xe4\xbd\xa0\xef\xbf\xbd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t ids[16];
        int n = 0, chunks_ok;
        for (const char *p = cases[i].in; *p; p++) ids[n++] = t->byte_tok[(unsigned char)*p];
        char *out = detok_all(t, ids, n, 0, &chunks_ok);
        CHECK(strcmp(out, cases[i].out) == 0 && chunks_ok, "detok bytes case %zu", i);
        free(out);
    }
    /* Random ids: whatever the order, every chunk is valid UTF-8. */
    unsigned long long s = 42;
    int32_t ids[5000];
    for (int i = 0; i < 5000; i++) ids[i] = (int32_t)(test_rng_next(&s) % (unsigned)tokenizer_n_vocab(t));
    int chunks_ok;
    char *out = detok_all(t, ids, 5000, 0, &chunks_ok);
    CHECK(chunks_ok && utf8_valid(out, strlen(out)), "random ids decode to valid UTF-8");
    free(out);

    /* Speed of 100 KB of mixed text (printed; speed is never asserted). */
    const char *unit = "The quick brown fox (id 12345) jumps over the lazy dog; caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd "
                       "\xf0\x9f\x98\x80  \n\tdef f(x): return x ** 2\n";
    size_t ul = strlen(unit), len = 0, big = 100 * 1024;
    char *text = malloc(big + ul + 1);
    while (len < big) { memcpy(text + len, unit, ul); len += ul; }
    text[len] = 0;
    int32_t *buf = malloc(len * sizeof *buf);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int n = tokenizer_encode(t, text, len, 0, 1, buf, (int)len);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    printf("encode %zu bytes -> %d tokens in %.1f ms\n", len, n, ms);
    CHECK(n > 0, "100 KB encodes");
    memset(text, ' ', len); /* one long run of spaces: the regexes must not blow a stack */
    n = tokenizer_encode(t, text, len, 0, 1, buf, (int)len);
    CHECK(n > 0, "100 KB of spaces encodes");
    free(buf);
    free(text);
    tokenizer_destroy(t);
}

/* A SentencePiece vocabulary that lacks a byte's token and has no (valid) unknown id: the
 * byte is dropped, never encoded as -1 (tests/fuzz/regress/gguf/, found by fuzz_gguf.c). */
static void test_spm_no_byte_no_unk(void) {
    char err[512];
    GgufFile *f = NULL;
    Tokenizer *t = NULL;
    CHECK(gguf_open("tests/fuzz/regress/gguf/spm_no_byte_token_no_unk", &f, err, sizeof err) == 0, "%s", err);
    if (f && tokenizer_create(f, &t, err, sizeof err) == 0) {
        int32_t ids[64];
        int n = tokenizer_encode(t, "a\0b\x01", 4, 1, 0, ids, 64);
        CHECK(n >= 0 && n <= 64, "encode: %d", n);
        for (int i = 0; i < n && i < 64; i++) CHECK(ids[i] >= 0 && ids[i] < tokenizer_n_vocab(t), "id %d", ids[i]);
        tokenizer_destroy(t);
    } else {
        CHECK(f == NULL || err[0], "a refusal says why");
    }
    gguf_close(f);
}

int main(void) {
    test_spm_no_byte_no_unk();
    char path[1024], err[512];
    int have_model = test_model_path(path, sizeof path);
    char *js = test_read_file(FIXTURE, NULL);
    CHECK(js != NULL, "cannot read %s (run from the repository root)", FIXTURE);
    cJSON *fx = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(fx != NULL, "%s does not parse", FIXTURE);
    if (!fx) return TEST_SUMMARY();
    test_spm(fx);
    if (!have_model) {
        SKIP("%s not found: the real-model checks need it (run `make model`)", path);
    } else {
        GgufFile *f = NULL;
        CHECK(gguf_open(path, &f, err, sizeof err) == 0, "%s", err);
        if (f) {
            test_smollm(fx, f);
            test_variants(fx, f);
            test_detok_bytes(f);
            gguf_close(f);
        }
    }
    cJSON_Delete(fx);
    return TEST_SUMMARY();
}
