/* Private to models/gguf*.c: the parsed form of an open GGUF file, shared by the parser
 * (gguf.c, which fills and validates it) and the accessors (gguf_get.c, which only read it).
 * Nothing outside models/gguf*.c includes this; everyone else uses models/gguf.h. */
#ifndef PISTON_GGUF_INTERNAL_H
#define PISTON_GGUF_INTERNAL_H

#include "models/gguf.h"

typedef struct GgufKv {
    GgufStr key; /* first member: NameHash reads names through it */
    GgufType type;
    const uint8_t *val; /* scalar types: the value's bytes in the mapping */
    GgufStr str;
    GgufArr arr;
} GgufKv;

/* Open addressing over an array of records whose first member is a GgufStr name. */
typedef struct NameHash {
    int64_t *slot; /* record index, or -1 */
    uint64_t mask;
    const char *items;
    size_t stride;
} NameHash;

struct GgufFile {
    char *path;
    const uint8_t *map;
    uint64_t size;
    int borrowed;   /* map is the caller's buffer (gguf_open_buffer), not ours to unmap */
    uint32_t version;
    uint64_t alignment;
    int64_t n_kv, n_tensors;
    GgufKv *kv;
    GgufTensor *tensors;
    GgufStr *strs; /* elements of every string array, each array a contiguous run */
    GgufArr *arrs; /* elements of every array of arrays */
    NameHash key_hash, tensor_hash;
};

/* Record lookup by name: the index, or -1. */
int64_t gguf_hash_find_(const NameHash *h, const char *p, uint64_t n);

#endif
