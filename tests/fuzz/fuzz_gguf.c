/* GGUF from hostile bytes: gguf_open_buffer over the input, then everything a loader reads
 * from an open file: every key through every typed getter, every array element (strings,
 * nested arrays, numbers), every tensor by index and by name with its first and last data
 * byte (the input is allocated to its exact size, so a bound that is off by one shows), and
 * the tokenizer built from the file's tokenizer.* keys (tokenizer_gguf.c), which must refuse
 * or give a tokenizer that encodes and decodes. */
#include "tests/fuzz/fuzz.h"

#include "engine/tokenizer.h"
#include "models/gguf.h"

static volatile uint64_t g_sink; /* keep the reads the sanitizers check */
static volatile double g_fsink;

static void walk_array(const GgufArr *a, int depth) {
    for (uint64_t i = 0; i < a->n && i < 64; i++) {
        uint64_t k = i < 32 ? i : a->n - 1 - (i - 32); /* the first and the last elements */
        if (a->elem_type == GGUF_TYPE_STRING) {
            GgufStr s = gguf_arr_str(a, k);
            if (s.len) g_sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
        } else if (a->elem_type == GGUF_TYPE_ARRAY) {
            GgufArr sub = gguf_arr_arr(a, k);
            if (depth < 16) walk_array(&sub, depth + 1);
        } else {
            g_sink += (uint64_t)gguf_arr_int(a, k);
            g_fsink += gguf_arr_float(a, k);
        }
    }
    GgufStr s = gguf_arr_str(a, a->n); /* out of range: empty, never a read */
    g_sink += s.len;
}

static void walk_kvs(const GgufFile *f) {
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        char *key = gguf_str_dup(gguf_kv_key(f, i));
        if (!key) continue;
        uint32_t u;
        int64_t v;
        float x;
        int b;
        GgufStr s;
        GgufArr a;
        g_sink += gguf_find_key(f, key) >= 0; /* a key holding a NUL finds an earlier one or none */
        g_sink += gguf_get_u32(f, key, &u) + gguf_get_i64(f, key, &v) + gguf_get_f32(f, key, &x) +
                  gguf_get_bool(f, key, &b);
        if (gguf_get_str(f, key, &s) == 0 && s.len) g_sink += (uint8_t)s.ptr[s.len - 1];
        if (gguf_get_arr(f, key, &a) == 0) walk_array(&a, 0);
        g_sink += gguf_kv_type(f, i);
        free(key);
    }
}

static void walk_tensors(const GgufFile *f) {
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const GgufTensor *t = gguf_tensor(f, i);
        char *name = gguf_str_dup(t->name);
        const GgufTensor *by = name ? gguf_find_tensor(f, name) : NULL;
        if (by && memchr(t->name.ptr, 0, t->name.len) == NULL && by != t) abort(); /* names are unique */
        if (t->nbytes) g_sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        free(name);
    }
    g_sink += gguf_tensor(f, gguf_n_tensors(f)) == NULL;
}

static void use_tokenizer(const GgufFile *f) {
    char err[512];
    Tokenizer *tok = NULL;
    if (tokenizer_create(f, &tok, err, sizeof err)) return;
    static const char text[] = "Hello world, <s> the 123 caf\xc3\xa9 \xe4\xb8\xad\n\t  end";
    int32_t *ids = NULL;
    for (int special = 0; special < 2; special++) {
        int n = tokenizer_encode_alloc(tok, text, sizeof text - 1, special, special, &ids);
        if (n < 0) continue;
        char out[4096];
        size_t len = 0, cap = sizeof out, mx = detok_max_bytes(tok);
        Detok d;
        detok_init(&d);
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(tok)) abort(); /* ids are in the vocabulary */
            if (cap - len > mx) len += detok_push(tok, &d, ids[i], out + len, cap - len);
        }
        len += detok_flush(&d, out + len, cap - len);
        g_sink += len;
        free(ids);
        ids = NULL;
    }
    int nv = tokenizer_n_vocab(tok);
    for (int32_t id = -1; id <= nv && id < 300; id++) {
        size_t len;
        const char *p = tokenizer_piece(tok, id, &len);
        if (len) g_sink += (uint8_t)p[len - 1];
        g_sink += tokenizer_is_control(tok, id) + tokenizer_is_eog(tok, id);
    }
    tokenizer_destroy(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    GgufFile *f = NULL;
    char err[512];
    if (gguf_open_buffer(data, size, "fuzz.gguf", &f, err, sizeof err)) {
        if (!memchr(err, 0, sizeof err) || !err[0]) abort(); /* a failure always says why */
        return 0;
    }
    g_sink += gguf_version(f) + gguf_alignment(f);
    walk_kvs(f);
    walk_tensors(f);
    use_tokenizer(f);
    gguf_close(f);
    return 0;
}
