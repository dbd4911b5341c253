/* GGUF v2/v3 reader over mmap. The file is hostile input: gguf_open walks and validates the
 * whole header (every count, string length, array, nested array, tensor shape, type and
 * offset against the file size) before anything else reads it, and fails with one clear
 * message naming the problem. After a successful open, every accessor is bounds-safe.
 * Strings are not NUL-terminated: they point into the mapping, with a length. */
#ifndef PISTON_GGUF_H
#define PISTON_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

typedef enum GgufType {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} GgufType;

typedef struct GgufStr {
    const char *ptr;
    uint64_t len;
} GgufStr;

/* An array value: n elements of elem_type. For scalar element types, data points at
 * n * size contiguous little-endian values in the file. For strings and nested arrays use
 * gguf_arr_str / gguf_arr_arr (O(1): open indexes them). */
typedef struct GgufArr {
    GgufType elem_type;
    uint64_t n;
    const uint8_t *data;
    const void *index_; /* internal */
} GgufArr;

typedef struct GgufTensor {
    GgufStr name;
    int ndim;
    int64_t ne[4];      /* ne[0] contiguous; unused dims are 1 */
    DType type;
    uint64_t offset;    /* relative to the data section */
    const void *data;   /* into the mapping, aligned to general.alignment */
    uint64_t nbytes;
} GgufTensor;

typedef struct GgufFile GgufFile;

/* 0 on success; on failure a negative code and one line in err, e.g.
 * "model.gguf: truncated: tensor info 12 of 272 runs past the end of the file (98 bytes)". */
int gguf_open(const char *path, GgufFile **out, char *err, size_t errlen);
/* The same over bytes already in memory (a fuzzer's input, an embedded file): data[0, size)
 * must outlive the GgufFile, which points into it; name stands for the path in messages. */
int gguf_open_buffer(const void *data, size_t size, const char *name, GgufFile **out, char *err, size_t errlen);
void gguf_close(GgufFile *f);

uint32_t gguf_version(const GgufFile *f);
const char *gguf_path(const GgufFile *f);
uint64_t gguf_alignment(const GgufFile *f);

int64_t gguf_n_kv(const GgufFile *f);
int64_t gguf_find_key(const GgufFile *f, const char *key); /* -1 when absent */
GgufStr gguf_kv_key(const GgufFile *f, int64_t i);
GgufType gguf_kv_type(const GgufFile *f, int64_t i);

/* Typed getters by key. Each returns 0 on success, -1 when the key is absent, -2 when it has
 * another type. Integer getters accept any integer type whose value fits; float getters
 * accept F32/F64. */
int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out);
int gguf_get_i64(const GgufFile *f, const char *key, int64_t *out);
int gguf_get_f32(const GgufFile *f, const char *key, float *out);
int gguf_get_bool(const GgufFile *f, const char *key, int *out);
int gguf_get_str(const GgufFile *f, const char *key, GgufStr *out);
int gguf_get_arr(const GgufFile *f, const char *key, GgufArr *out);

/* Element access for arrays (i < a->n is the caller's check; out of range returns empty). */
GgufStr gguf_arr_str(const GgufArr *a, uint64_t i);
GgufArr gguf_arr_arr(const GgufArr *a, uint64_t i);
int64_t gguf_arr_int(const GgufArr *a, uint64_t i);   /* any integer elem type */
double gguf_arr_float(const GgufArr *a, uint64_t i);  /* F32/F64 (and ints) */

int64_t gguf_n_tensors(const GgufFile *f);
const GgufTensor *gguf_tensor(const GgufFile *f, int64_t i);
const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name); /* NULL when absent */

/* Convenience: a GgufStr compared with / copied into a C string. */
int gguf_str_eq(GgufStr s, const char *c);
char *gguf_str_dup(GgufStr s); /* malloc'd, NUL-terminated */

#endif
