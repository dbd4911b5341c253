/* Read-only accessors of an open GGUF file: keys, typed values, array elements, tensors.
 * gguf_open (gguf.c) has already checked every byte these read, so they only check the
 * caller's indices and types. Typed getters convert between integer widths only when the
 * value fits, so a hostile uint64 can never wrap into a small count. */
#include <stdlib.h>
#include <string.h>

#include "models/gguf_internal.h"

uint32_t gguf_version(const GgufFile *f) { return f->version; }
const char *gguf_path(const GgufFile *f) { return f->path; }
uint64_t gguf_alignment(const GgufFile *f) { return f->alignment; }
int64_t gguf_n_kv(const GgufFile *f) { return f->n_kv; }
int64_t gguf_n_tensors(const GgufFile *f) { return f->n_tensors; }

int64_t gguf_find_key(const GgufFile *f, const char *key) {
    return gguf_hash_find_(&f->key_hash, key, strlen(key));
}

GgufStr gguf_kv_key(const GgufFile *f, int64_t i) {
    GgufStr empty = {"", 0};
    return i >= 0 && i < f->n_kv ? f->kv[i].key : empty;
}

GgufType gguf_kv_type(const GgufFile *f, int64_t i) {
    return i >= 0 && i < f->n_kv ? f->kv[i].type : GGUF_TYPE_COUNT;
}

const GgufTensor *gguf_tensor(const GgufFile *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name) {
    int64_t i = gguf_hash_find_(&f->tensor_hash, name, strlen(name));
    return i >= 0 ? &f->tensors[i] : NULL;
}

/* An integer value of type t at p: 1 and *s when signed, 0 and *u when unsigned, -1 when t
 * is not an integer type. */
static int int_at(GgufType t, const uint8_t *p, int64_t *s, uint64_t *u) {
    switch (t) {
    case GGUF_TYPE_UINT8: { uint8_t v; memcpy(&v, p, 1); *u = v; return 0; }
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); *u = v; return 0; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); *u = v; return 0; }
    case GGUF_TYPE_UINT64: { memcpy(u, p, 8); return 0; }
    case GGUF_TYPE_INT8: { int8_t v; memcpy(&v, p, 1); *s = v; return 1; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); *s = v; return 1; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); *s = v; return 1; }
    case GGUF_TYPE_INT64: { memcpy(s, p, 8); return 1; }
    default: return -1;
    }
}

static int float_at(GgufType t, const uint8_t *p, double *out) {
    if (t == GGUF_TYPE_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        *out = v;
        return 0;
    }
    if (t == GGUF_TYPE_FLOAT64) {
        memcpy(out, p, 8);
        return 0;
    }
    return -1;
}

static const GgufKv *kv_get(const GgufFile *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    return i >= 0 ? &f->kv[i] : NULL;
}

int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out) {
    const GgufKv *kv = kv_get(f, key);
    int64_t s = 0;
    uint64_t u = 0;
    if (!kv) return -1;
    int sg = kv->val ? int_at(kv->type, kv->val, &s, &u) : -1;
    if (sg < 0 || (sg == 1 && (s < 0 || s > (int64_t)UINT32_MAX)) || (sg == 0 && u > UINT32_MAX)) return -2;
    *out = sg ? (uint32_t)s : (uint32_t)u;
    return 0;
}

int gguf_get_i64(const GgufFile *f, const char *key, int64_t *out) {
    const GgufKv *kv = kv_get(f, key);
    int64_t s = 0;
    uint64_t u = 0;
    if (!kv) return -1;
    int sg = kv->val ? int_at(kv->type, kv->val, &s, &u) : -1;
    if (sg < 0 || (sg == 0 && u > (uint64_t)INT64_MAX)) return -2;
    *out = sg ? s : (int64_t)u;
    return 0;
}

int gguf_get_f32(const GgufFile *f, const char *key, float *out) {
    const GgufKv *kv = kv_get(f, key);
    double d;
    if (!kv) return -1;
    if (!kv->val || float_at(kv->type, kv->val, &d)) return -2;
    *out = (float)d;
    return 0;
}

int gguf_get_bool(const GgufFile *f, const char *key, int *out) {
    const GgufKv *kv = kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_BOOL) return -2;
    *out = kv->val[0] != 0;
    return 0;
}

int gguf_get_str(const GgufFile *f, const char *key, GgufStr *out) {
    const GgufKv *kv = kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_STRING) return -2;
    *out = kv->str;
    return 0;
}

int gguf_get_arr(const GgufFile *f, const char *key, GgufArr *out) {
    const GgufKv *kv = kv_get(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY) return -2;
    *out = kv->arr;
    return 0;
}

GgufStr gguf_arr_str(const GgufArr *a, uint64_t i) {
    GgufStr empty = {"", 0};
    if (a->elem_type != GGUF_TYPE_STRING || i >= a->n || !a->index_) return empty;
    return ((const GgufStr *)a->index_)[i];
}

GgufArr gguf_arr_arr(const GgufArr *a, uint64_t i) {
    GgufArr empty = {GGUF_TYPE_UINT8, 0, NULL, NULL};
    if (a->elem_type != GGUF_TYPE_ARRAY || i >= a->n || !a->index_) return empty;
    return ((const GgufArr *)a->index_)[i];
}

/* Scalar elements sit at data + i * size; uint64 values above INT64_MAX saturate. */
static const uint8_t *elem_at(const GgufArr *a, uint64_t i, size_t size) {
    return i < a->n && a->data ? a->data + i * size : NULL;
}

static size_t scalar_size(GgufType t) {
    static const uint8_t size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t < GGUF_TYPE_COUNT ? size[t] : 0;
}

int64_t gguf_arr_int(const GgufArr *a, uint64_t i) {
    size_t sz = scalar_size(a->elem_type);
    const uint8_t *p = sz ? elem_at(a, i, sz) : NULL;
    int64_t s = 0;
    uint64_t u = 0;
    int sg = p ? int_at(a->elem_type, p, &s, &u) : -1;
    if (sg < 0) return 0;
    return sg ? s : u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
}

double gguf_arr_float(const GgufArr *a, uint64_t i) {
    size_t sz = scalar_size(a->elem_type);
    const uint8_t *p = sz ? elem_at(a, i, sz) : NULL;
    double d;
    if (!p) return 0.0;
    if (float_at(a->elem_type, p, &d) == 0) return d;
    return (double)gguf_arr_int(a, i);
}

int gguf_str_eq(GgufStr s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

char *gguf_str_dup(GgufStr s) {
    if (s.len >= SIZE_MAX) return NULL;
    char *d = malloc((size_t)s.len + 1);
    if (!d) return NULL;
    if (s.len) memcpy(d, s.ptr, (size_t)s.len);
    d[s.len] = '\0';
    return d;
}
