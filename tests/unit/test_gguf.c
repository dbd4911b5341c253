/* Tests of the GGUF reader (models/gguf.c, gguf_get.c): the real default model read back
 * against values taken from the Python gguf package, a synthetic file with every metadata
 * type read back exactly, and hostile files (every prefix of a valid file, impossible counts,
 * bad shapes, types, offsets, duplicates) that must each fail with a clear message and never
 * read out of range (run under ASan to prove it). The files are built here in memory and
 * written with mkstemp. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "models/gguf.h"
#include "tests/unit/test.h"

/* CHECK without a message: test.h's empty format string would warn under -Wall */
#define CHECK_(cond) CHECK(cond, " ")

typedef struct Buf {
    uint8_t *p;
    size_t n, cap;
} Buf;

static void put(Buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u8(Buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(Buf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(Buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(Buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(Buf *b, float v) { put(b, &v, 4); }
static void put_f64(Buf *b, double v) { put(b, &v, 8); }
static void put_str(Buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_header(Buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void put_key(Buf *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}
static void put_tensor(Buf *b, const char *name, uint32_t ndim, const uint64_t *ne, uint32_t type, uint64_t off) {
    put_str(b, name);
    put_u32(b, ndim);
    for (uint32_t d = 0; d < ndim; d++) put_u64(b, ne[d]);
    put_u32(b, type);
    put_u64(b, off);
}
static void pad_to(Buf *b, size_t align) {
    while (b->n % align) put_u8(b, 0);
}

/* Writes b to a fresh temp file; the caller unlinks it. */
static void write_temp(const Buf *b, char *path, size_t cap) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/piston-test-gguf-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0 || (b->n && write(fd, b->p, b->n) != (ssize_t)b->n)) {
        perror("test_gguf: temp file");
        exit(2);
    }
    close(fd);
}

/* A small valid v3 file: three keys, two tensors; the last tensor's data ends the file, so
 * every shorter prefix of it is invalid. */
static void build_small(Buf *b, uint32_t version) {
    uint64_t ne_a[2] = {4, 2}, ne_b[1] = {32};
    put_header(b, version, 2, 3);
    put_key(b, "general.architecture", 8);
    put_str(b, "llama");
    put_key(b, "llama.block_count", 4);
    put_u32(b, 2);
    put_key(b, "tokenizer.ggml.tokens", 9);
    put_u32(b, 8);
    put_u64(b, 3);
    put_str(b, "a");
    put_str(b, "bc");
    put_str(b, "");
    put_tensor(b, "a", 2, ne_a, 0, 0);
    put_tensor(b, "b", 1, ne_b, 8, 32);
    pad_to(b, 32);
    for (int i = 0; i < 8; i++) put_f32(b, (float)i);
    for (int i = 0; i < 34; i++) put_u8(b, (uint8_t)i);
}

/* Opens b as a file: expects failure with `want` in the message, which starts with the path. */
static void expect_fail(const Buf *b, const char *want, const char *label) {
    char path[512], err[512];
    GgufFile *f = (GgufFile *)1;
    write_temp(b, path, sizeof path);
    int rc = gguf_open(path, &f, err, sizeof err);
    CHECK(rc < 0, "%s: opened", label);
    CHECK(f == NULL, "%s", label);
    CHECK(strncmp(err, path, strlen(path)) == 0, "%s: message does not start with the path: %s", label, err);
    CHECK(strstr(err, want) != NULL, "%s: message lacks \"%s\": %s", label, want, err);
    if (getenv("PISTON_TEST_VERBOSE")) printf("%s: %s\n", label, err);
    if (rc == 0) gguf_close(f);
    unlink(path);
}

static void expect_ok(const Buf *b, const char *label) {
    char path[512], err[512];
    GgufFile *f = NULL;
    write_temp(b, path, sizeof path);
    CHECK(gguf_open(path, &f, err, sizeof err) == 0, "%s: %s", label, err);
    gguf_close(f);
    unlink(path);
}

static void test_prefixes(void) {
    Buf b = {0};
    char path[512], err[512];
    build_small(&b, 3);
    Buf cut = b;
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        GgufFile *f = NULL;
        cut.n = n;
        write_temp(&cut, path, sizeof path);
        int rc = gguf_open(path, &f, err, sizeof err);
        if (rc == 0 || strncmp(err, path, strlen(path)) != 0) bad++;
        if (n >= 24 && !strstr(err, "truncated")) bad++, fprintf(stderr, "prefix %zu: %s\n", n, err);
        if (rc == 0) gguf_close(f);
        unlink(path);
    }
    CHECK(bad == 0, "%d of %zu prefixes misbehaved", bad, b.n);
    /* every byte set to a few hostile values: open fails cleanly or yields in-range tensors */
    static const uint8_t vals[] = {0x00, 0x01, 0x09, 0x20, 0x7f, 0xff};
    int opened = 0;
    bad = 0;
    for (size_t i = 4; i < b.n; i++) {
        for (size_t k = 0; k < sizeof vals; k++) {
            GgufFile *f = NULL;
            uint8_t keep = b.p[i];
            b.p[i] = vals[k];
            write_temp(&b, path, sizeof path);
            b.p[i] = keep;
            if (gguf_open(path, &f, err, sizeof err) == 0) {
                opened++;
                for (int64_t j = 0; j < gguf_n_tensors(f); j++) { /* touching the ends must not fault */
                    const GgufTensor *t = gguf_tensor(f, j);
                    const volatile uint8_t *d = t->data;
                    bad += (uintptr_t)t->data % 32 != 0 || d[0] + d[t->nbytes - 1] > 510;
                }
                gguf_close(f);
            } else if (strncmp(err, path, strlen(path)) != 0) {
                bad++;
            }
            unlink(path);
        }
    }
    CHECK(bad == 0 && opened > 0, "%d mutations misbehaved, %d opened", bad, opened);
    for (uint32_t v = 2; v <= 3; v++) {
        GgufFile *f = NULL;
        b.n = 0;
        build_small(&b, v);
        write_temp(&b, path, sizeof path);
        CHECK(gguf_open(path, &f, err, sizeof err) == 0, "v%u: %s", v, err);
        if (f) {
            GgufArr a;
            const GgufTensor *t = gguf_find_tensor(f, "b");
            CHECK_(gguf_version(f) == v);
            CHECK_(gguf_get_arr(f, "tokenizer.ggml.tokens", &a) == 0 && a.n == 3);
            CHECK_(gguf_str_eq(gguf_arr_str(&a, 1), "bc") && gguf_str_eq(gguf_arr_str(&a, 2), ""));
            CHECK(gguf_arr_str(&a, 3).len == 0, "out of range is empty");
            CHECK_(t && t->type == DT_Q8_0 && t->nbytes == 34 && ((const uint8_t *)t->data)[33] == 33);
            CHECK_(gguf_find_tensor(f, "c") == NULL && gguf_find_tensor(f, "") == NULL);
            gguf_close(f);
        }
        unlink(path);
    }
    free(b.p);
}

/* A header followed by one key of the given name and type; the caller adds the value. */
static void one_key(Buf *b, uint64_t n_tensors, const char *key, uint32_t type) {
    b->n = 0;
    put_header(b, 3, n_tensors, 1);
    put_key(b, key, type);
}

/* A header with no keys and one tensor info; the caller adds data when it wants. */
static void one_tensor(Buf *b, uint32_t ndim, const uint64_t *ne, uint32_t type, uint64_t off) {
    b->n = 0;
    put_header(b, 3, 1, 0);
    put_tensor(b, "blk.3.attn_q.weight", ndim, ne, type, off);
    pad_to(b, 32);
}

static void test_hostile(void) {
    Buf b = {0};
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    expect_fail(&b, "empty", "empty file");
    put(&b, "GGML", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, 0);
    expect_fail(&b, "not a GGUF file", "wrong magic");
    b.n = 0;
    put(&b, "GG", 2);
    expect_fail(&b, "not a GGUF file", "two bytes");
    b.n = 0;
    put_header(&b, 1, 0, 0);
    expect_fail(&b, "version 1 is not supported", "version 1");
    b.n = 0;
    put_header(&b, 0x03000000u, 0, 0);
    expect_fail(&b, "big-endian", "big-endian");
    b.n = 0;
    put_header(&b, 7, 0, 0);
    expect_fail(&b, "version 7", "version 7");
    b.n = 0;
    put_header(&b, 3, 0, 1ull << 62);
    expect_fail(&b, "metadata entries", "huge kv_count");
    b.n = 0;
    put_header(&b, 3, UINT64_MAX, 0);
    expect_fail(&b, "truncated", "huge tensor_count");
    b.n = 0;
    put_header(&b, 3, 0, 1);
    put_u64(&b, 1ull << 62);
    put(&b, "general.name", 12);
    put_u32(&b, 8);
    expect_fail(&b, "truncated: metadata entry 0 of 1: key needs", "huge key length");
    one_key(&b, 0, "general.name", 8);
    put_u64(&b, UINT64_MAX);
    put(&b, "abcdefghijklmn", 14);
    expect_fail(&b, "truncated: metadata key 'general.name': string value needs", "huge string length");
    one_key(&b, 0, "k", 9);
    put_u32(&b, 10); /* uint64: (2^61 + 1) * 8 wraps to 8 */
    put_u64(&b, (1ull << 61) + 1);
    put_u64(&b, 1);
    put_u64(&b, 2);
    expect_fail(&b, "array of 2305843009213693953 uint64 values runs past the end", "array count overflow");
    one_key(&b, 0, "k", 9);
    put_u32(&b, 8);
    put_u64(&b, UINT64_MAX / 8 + 2);
    put_str(&b, "x");
    expect_fail(&b, "truncated", "string array count");
    one_key(&b, 0, "k", 9);
    for (int d = 0; d < 9; d++) put_u32(&b, 9), put_u64(&b, 1);
    put_u32(&b, 4);
    put_u64(&b, 1);
    put_u32(&b, 7);
    expect_fail(&b, "nested deeper than 8", "arrays nested 10 deep");
    one_key(&b, 0, "k", 9); /* 8 levels are fine */
    for (int d = 0; d < 7; d++) put_u32(&b, 9), put_u64(&b, 1);
    put_u32(&b, 4);
    put_u64(&b, 1);
    put_u32(&b, 7);
    expect_ok(&b, "arrays nested 8 deep");
    one_key(&b, 0, "k", 9);
    put_u32(&b, 9);
    put_u64(&b, 1);
    put_u32(&b, 13);
    put_u64(&b, 0);
    expect_fail(&b, "array element type 13 is not a GGUF type", "nested bad type");
    one_key(&b, 0, "k", 13);
    put_u64(&b, 0);
    expect_fail(&b, "value type 13", "bad value type");
    one_key(&b, 0, "general.alignment", 4);
    put_u32(&b, 48);
    expect_fail(&b, "general.alignment is 48; it must be a nonzero power of two", "alignment 48");
    one_key(&b, 0, "general.alignment", 4);
    put_u32(&b, 0);
    expect_fail(&b, "general.alignment is 0", "alignment 0");
    one_key(&b, 0, "general.alignment", 10);
    put_u64(&b, 32);
    expect_fail(&b, "general.alignment has type uint64", "alignment u64");
    b.n = 0;
    put_header(&b, 3, 0, 2);
    put_key(&b, "a.b", 4);
    put_u32(&b, 1);
    put_key(&b, "a.b", 0);
    put_u8(&b, 1);
    expect_fail(&b, "duplicate metadata key 'a.b'", "duplicate key");
    b.n = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "", 0);
    put_u8(&b, 1);
    expect_fail(&b, "key of 0 bytes", "empty key");

    one_tensor(&b, 5, ne, 0, 0);
    expect_fail(&b, "tensor blk.3.attn_q.weight has 5 dimensions", "ndim 5");
    one_tensor(&b, 0, ne, 0, 0);
    expect_fail(&b, "has 0 dimensions", "ndim 0");
    uint64_t zero[2] = {32, 0};
    one_tensor(&b, 2, zero, 0, 0);
    expect_fail(&b, "dimension 1 of size 0", "zero dim");
    uint64_t big[3] = {1ull << 32, 1ull << 31, 2};
    one_tensor(&b, 3, big, 0, 0);
    expect_fail(&b, "product overflows", "dims product");
    uint64_t huge[1] = {UINT64_MAX};
    one_tensor(&b, 1, huge, 0, 0);
    expect_fail(&b, "product overflows", "dim above int64");
    uint64_t bytes[2] = {1ull << 31, 1ull << 31}; /* 2^62 elements fit; 2^64 bytes of F32 do not */
    one_tensor(&b, 2, bytes, 0, 0);
    expect_fail(&b, "too large", "nbytes overflow");
    uint64_t wide[1] = {(1ull << 61) + 4}; /* 2^59 F32 rows of 4 bytes: elements fit, bytes do not */
    one_tensor(&b, 1, wide, 0, 0);
    expect_fail(&b, "rows too large", "row bytes overflow");
    one_tensor(&b, 2, ne, 42, 0);
    expect_fail(&b, "tensor blk.3.attn_q.weight has type 42 (unknown), which Piston does not support "
                    "(supported: F32, F16, BF16, Q4_0",
                "type 42");
    one_tensor(&b, 2, ne, 10, 0);
    expect_fail(&b, "has type 10 (Q2_K), which Piston does not support", "Q2_K");
    uint64_t odd[1] = {16};
    one_tensor(&b, 1, odd, 8, 0);
    expect_fail(&b, "row length 16 is not a multiple of the Q8_0 block size 32", "partial block");
    one_tensor(&b, 2, ne, 0, 64); /* 256 bytes at 64, 256 present */
    for (int i = 0; i < 256; i++) put_u8(&b, 0);
    expect_fail(&b, "run past the end of the file", "offset past the end");
    one_tensor(&b, 2, ne, 0, UINT64_MAX - 31);
    expect_fail(&b, "run past the end of the file", "offset near 2^64");
    one_tensor(&b, 2, ne, 0, 4);
    for (int i = 0; i < 300; i++) put_u8(&b, 0);
    expect_fail(&b, "data offset 4 is not a multiple of the alignment 32", "misaligned offset");
    b.n = 0;
    put_header(&b, 3, 2, 0);
    put_tensor(&b, "w", 1, ne, 0, 0);
    put_tensor(&b, "w", 1, ne, 0, 128);
    pad_to(&b, 32);
    for (int i = 0; i < 256; i++) put_u8(&b, 0);
    expect_fail(&b, "duplicate tensor name 'w'", "duplicate tensor");
    b.n = 0;
    put_header(&b, 3, 1, 0);
    put_str(&b, "bad\nname\x1b");
    put_u32(&b, 5);
    for (int i = 0; i < 16; i++) put_u8(&b, 0);
    expect_fail(&b, "tensor bad?name? has 5 dimensions", "control bytes in a name are not printed");
    free(b.p);
}

/* Every metadata type, arrays of every scalar type, arrays of arrays of strings and ints, an
 * empty array, alignment 64: all read back exactly. */
static void test_every_type(void) {
    Buf b = {0};
    char path[512], err[512];
    GgufFile *f = NULL;
    uint64_t ne[2] = {8, 3};
    put_header(&b, 3, 1, 19);
    put_key(&b, "u8", 0), put_u8(&b, 200);
    put_key(&b, "i8", 1), put_u8(&b, (uint8_t)-5);
    put_key(&b, "u16", 2), put_u16(&b, 60000);
    put_key(&b, "i16", 3), put_u16(&b, (uint16_t)-30000);
    put_key(&b, "u32", 4), put_u32(&b, 4000000000u);
    put_key(&b, "i32", 5), put_u32(&b, (uint32_t)-2000000000);
    put_key(&b, "f32", 6), put_f32(&b, 1.5f);
    put_key(&b, "bool", 7), put_u8(&b, 1);
    put_key(&b, "str", 8), put_str(&b, "h\xc3\xa9llo");
    put_key(&b, "u64", 10), put_u64(&b, UINT64_MAX);
    put_key(&b, "i64", 11), put_u64(&b, (uint64_t)INT64_MIN);
    put_key(&b, "f64", 12), put_f64(&b, -2.25);
    put_key(&b, "general.alignment", 4), put_u32(&b, 64);
    put_key(&b, "arr.i16", 9), put_u32(&b, 3), put_u64(&b, 3);
    put_u16(&b, 1), put_u16(&b, (uint16_t)-2), put_u16(&b, 3);
    put_key(&b, "arr.f64", 9), put_u32(&b, 12), put_u64(&b, 2), put_f64(&b, 0.5), put_f64(&b, 1e300);
    put_key(&b, "arr.u64", 9), put_u32(&b, 10), put_u64(&b, 2), put_u64(&b, 7), put_u64(&b, UINT64_MAX);
    put_key(&b, "arr.empty", 9), put_u32(&b, 8), put_u64(&b, 0);
    /* [["x", "yz"], [], [[5, 6, 7]]] as arrays of arrays */
    put_key(&b, "arr.nested", 9), put_u32(&b, 9), put_u64(&b, 3);
    put_u32(&b, 8), put_u64(&b, 2), put_str(&b, "x"), put_str(&b, "yz");
    put_u32(&b, 5), put_u64(&b, 0);
    put_u32(&b, 9), put_u64(&b, 1), put_u32(&b, 5), put_u64(&b, 3);
    put_u32(&b, 5), put_u32(&b, 6), put_u32(&b, (uint32_t)-7);
    put_key(&b, "arr.bool", 9), put_u32(&b, 7), put_u64(&b, 2), put_u8(&b, 0), put_u8(&b, 1);
    put_tensor(&b, "t.f16", 2, ne, 1, 0);
    pad_to(&b, 64);
    size_t data_at = b.n;
    for (int i = 0; i < 24; i++) put_u16(&b, (uint16_t)(0x3c00 + i));
    write_temp(&b, path, sizeof path);
    CHECK(gguf_open(path, &f, err, sizeof err) == 0, "%s", err);
    unlink(path);
    if (!f) return free(b.p);

    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    int bl = 0;
    GgufStr s;
    GgufArr a, e;
    CHECK_(gguf_n_kv(f) == 19 && gguf_n_tensors(f) == 1 && gguf_alignment(f) == 64);
    CHECK_(gguf_kv_type(f, 0) == GGUF_TYPE_UINT8 && gguf_str_eq(gguf_kv_key(f, 0), "u8"));
    CHECK_(gguf_kv_type(f, 19) == GGUF_TYPE_COUNT && gguf_kv_key(f, -1).len == 0);
    CHECK_(gguf_find_key(f, "f64") == 11 && gguf_find_key(f, "nope") == -1);
    CHECK_(gguf_get_u32(f, "u8", &u32) == 0 && u32 == 200);
    CHECK(gguf_get_u32(f, "i8", &u32) == -2, "negative does not fit u32");
    CHECK_(gguf_get_i64(f, "i8", &i64) == 0 && i64 == -5);
    CHECK_(gguf_get_u32(f, "u16", &u32) == 0 && u32 == 60000);
    CHECK_(gguf_get_i64(f, "i16", &i64) == 0 && i64 == -30000);
    CHECK_(gguf_get_u32(f, "u32", &u32) == 0 && u32 == 4000000000u);
    CHECK_(gguf_get_i64(f, "i32", &i64) == 0 && i64 == -2000000000);
    CHECK_(gguf_get_f32(f, "f32", &f32) == 0 && f32 == 1.5f);
    CHECK_(gguf_get_f32(f, "f64", &f32) == 0 && f32 == -2.25f);
    CHECK_(gguf_get_f32(f, "u32", &f32) == -2 && gguf_get_f32(f, "missing", &f32) == -1);
    CHECK_(gguf_get_bool(f, "bool", &bl) == 0 && bl == 1 && gguf_get_bool(f, "u8", &bl) == -2);
    CHECK_(gguf_get_u32(f, "bool", &u32) == -2 && gguf_get_u32(f, "str", &u32) == -2);
    CHECK_(gguf_get_str(f, "str", &s) == 0 && gguf_str_eq(s, "h\xc3\xa9llo"));
    char *dup = gguf_str_dup(s);
    CHECK_(dup && strcmp(dup, "h\xc3\xa9llo") == 0);
    free(dup);
    CHECK_(gguf_get_str(f, "u8", &s) == -2 && gguf_get_arr(f, "str", &a) == -2);
    CHECK(gguf_get_i64(f, "u64", &i64) == -2 && gguf_get_u32(f, "u64", &u32) == -2, "UINT64_MAX fits neither");
    CHECK_(gguf_get_i64(f, "i64", &i64) == 0 && i64 == INT64_MIN);
    CHECK_(gguf_get_u32(f, "general.alignment", &u32) == 0 && u32 == 64);
    CHECK_(gguf_get_arr(f, "arr.i16", &a) == 0 && a.elem_type == GGUF_TYPE_INT16 && a.n == 3);
    CHECK_(gguf_arr_int(&a, 0) == 1 && gguf_arr_int(&a, 1) == -2 && gguf_arr_int(&a, 2) == 3);
    CHECK_(gguf_arr_int(&a, 3) == 0 && gguf_arr_float(&a, 1) == -2.0);
    CHECK_(gguf_get_arr(f, "arr.f64", &a) == 0 && gguf_arr_float(&a, 0) == 0.5 && gguf_arr_float(&a, 1) == 1e300);
    CHECK_(gguf_get_arr(f, "arr.u64", &a) == 0 && gguf_arr_int(&a, 0) == 7 && gguf_arr_int(&a, 1) == INT64_MAX);
    CHECK_(gguf_get_arr(f, "arr.empty", &a) == 0 && a.n == 0 && gguf_arr_str(&a, 0).len == 0);
    CHECK_(gguf_get_arr(f, "arr.bool", &a) == 0 && a.n == 2 && a.data[0] == 0 && a.data[1] == 1);
    CHECK_(gguf_get_arr(f, "arr.nested", &a) == 0 && a.elem_type == GGUF_TYPE_ARRAY && a.n == 3);
    e = gguf_arr_arr(&a, 0);
    CHECK_(e.elem_type == GGUF_TYPE_STRING && e.n == 2);
    CHECK_(gguf_str_eq(gguf_arr_str(&e, 0), "x") && gguf_str_eq(gguf_arr_str(&e, 1), "yz"));
    e = gguf_arr_arr(&a, 1);
    CHECK_(e.elem_type == GGUF_TYPE_INT32 && e.n == 0);
    e = gguf_arr_arr(&a, 2);
    CHECK_(e.elem_type == GGUF_TYPE_ARRAY && e.n == 1);
    e = gguf_arr_arr(&e, 0);
    CHECK_(e.elem_type == GGUF_TYPE_INT32 && e.n == 3 && gguf_arr_int(&e, 2) == -7);
    CHECK(gguf_arr_arr(&a, 3).n == 0 && gguf_arr_str(&a, 0).len == 0, "out of range / wrong type");
    const GgufTensor *t = gguf_find_tensor(f, "t.f16");
    CHECK_(t && t == gguf_tensor(f, 0) && gguf_tensor(f, 1) == NULL);
    if (t) {
        CHECK_(t->type == DT_F16 && t->ndim == 2 && t->ne[0] == 8 && t->ne[1] == 3 && t->ne[2] == 1);
        CHECK_(t->nbytes == 48 && (uintptr_t)t->data % 64 == 0);
        CHECK_(memcmp(t->data, b.p + data_at, 48) == 0);
    }
    gguf_close(f);
    free(b.p);
}

static void test_real_model(void) {
    char path[1024], err[512];
    if (!test_model_path(path, sizeof path)) {
        SKIP("%s not found: the real-model checks need it (run `make model`)", path);
        return;
    }
    GgufFile *f = NULL;
    CHECK(gguf_open(path, &f, err, sizeof err) == 0, "%s", err);
    if (!f) return;
    /* expected values read with the Python gguf package (GGUFReader) */
    uint32_t u32 = 0;
    float f32 = 0;
    int bl = -1;
    GgufStr s;
    GgufArr a;
    CHECK_(gguf_version(f) == 3 && gguf_n_tensors(f) == 272 && gguf_n_kv(f) == 33 && gguf_alignment(f) == 32);
    CHECK_(gguf_get_u32(f, "llama.block_count", &u32) == 0 && u32 == 30);
    CHECK_(gguf_get_u32(f, "llama.context_length", &u32) == 0 && u32 == 8192);
    CHECK_(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &u32) == 0 && u32 == 2);
    CHECK_(gguf_get_str(f, "general.architecture", &s) == 0 && gguf_str_eq(s, "llama"));
    CHECK_(gguf_get_f32(f, "llama.rope.freq_base", &f32) == 0 && f32 == 100000.0f);
    CHECK_(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &f32) == 0 && f32 == 1e-5f);
    CHECK_(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &bl) == 0 && bl == 0);
    CHECK_(gguf_get_arr(f, "tokenizer.ggml.tokens", &a) == 0 && a.elem_type == GGUF_TYPE_STRING && a.n == 49152);
    CHECK_(gguf_str_eq(gguf_arr_str(&a, 0), "<|endoftext|>") && gguf_str_eq(gguf_arr_str(&a, 1), "<|im_start|>"));
    CHECK_(gguf_str_eq(gguf_arr_str(&a, 2), "<|im_end|>") && gguf_str_eq(gguf_arr_str(&a, 100), "t"));
    CHECK_(gguf_str_eq(gguf_arr_str(&a, 49151), "ectable"));
    CHECK_(gguf_get_arr(f, "tokenizer.ggml.merges", &a) == 0 && a.n == 48900);
    CHECK_(gguf_str_eq(gguf_arr_str(&a, 0), "\xc4\xa0 t") && gguf_str_eq(gguf_arr_str(&a, 48899), "ect able"));
    CHECK_(gguf_get_arr(f, "tokenizer.ggml.token_type", &a) == 0 && a.elem_type == GGUF_TYPE_INT32 && a.n == 49152);
    CHECK_(gguf_arr_int(&a, 0) == 3 && gguf_arr_int(&a, 1) == 3 && gguf_arr_int(&a, 100) == 1);

    const GgufTensor *t = gguf_find_tensor(f, "token_embd.weight");
    CHECK_(t != NULL);
    if (t) {
        CHECK_(t->type == DT_Q8_0 && t->ndim == 2 && t->ne[0] == 576 && t->ne[1] == 49152);
        CHECK_(t->offset == 0 && t->nbytes == (uint64_t)576 / 32 * 34 * 49152);
        CHECK_((uintptr_t)t->data % 32 == 0);
        /* the data pointer is where GGUFReader says the tensor starts: compare with the file */
        uint8_t head[64];
        FILE *fp = fopen(path, "rb");
        CHECK_(fp && fseek(fp, 1785664, SEEK_SET) == 0 && fread(head, 1, 64, fp) == 64);
        CHECK_(memcmp(head, t->data, 64) == 0);
        if (fp) fclose(fp);
    }
    t = gguf_find_tensor(f, "blk.0.ffn_down.weight");
    CHECK_(t && t->type == DT_Q4_1 && t->ne[0] == 1536 && t->ne[1] == 576 && t->offset == 31868992 - 1785664);
    /* every tensor is aligned and its last byte readable */
    unsigned sum = 0;
    int aligned = 1;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        t = gguf_tensor(f, i);
        aligned &= (uintptr_t)t->data % 32 == 0 && t->nbytes > 0;
        sum += ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    CHECK(aligned, "checksum %u", sum);
    gguf_close(f);
}

int main(void) {
    test_real_model();
    test_prefixes();
    test_hostile();
    test_every_type();
    return TEST_SUMMARY();
}
