/* safetensors reader over mmap: one file (model.safetensors) or the shards a
 * model.safetensors.index.json names. Each file is hostile input, as GGUF is: the 8-byte
 * header length, the JSON header (cJSON), every dtype, shape and [begin, end) data offset
 * is checked against the file before anything reads it; tensors must tile the data section
 * exactly (no overlap, no hole, nothing past the end), names are unique across shards, and
 * every tensor the index names must be in the shard it names. A bad file fails st_open
 * with one line naming the file and the problem. After a successful open every StTensor is
 * in bounds. */
#ifndef PISTON_SAFETENSORS_H
#define PISTON_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

/* safetensors dtypes. The ones a forward computes with map to a DType (st_dtype_compute);
 * the others (integers, f64, f8) are read and checked but no architecture binds them. */
typedef enum StDType {
    ST_F32 = 0, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_U16, ST_U32, ST_U64,
    ST_BOOL, ST_F8_E4M3, ST_F8_E5M2, ST_DTYPE_COUNT
} StDType;

#define ST_MAX_DIMS 4

typedef struct StTensor {
    char *name;                /* NUL-terminated */
    StDType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS]; /* as the file lists it: outermost first */
    int64_t ne[ST_MAX_DIMS];    /* reversed, GGUF's order: ne[0] contiguous; unused dims 1 */
    const void *data;          /* into the mapping */
    uint64_t nbytes;
    int shard;                 /* index into the shard list */
} StTensor;

typedef struct SafeTensors SafeTensors;

/* path: a .safetensors file, a model.safetensors.index.json, or a directory holding either
 * (the index wins when both are there). 0, or a negative code with err set. */
int st_open(const char *path, SafeTensors **out, char *err, size_t errlen);
void st_close(SafeTensors *st);

int64_t st_n_tensors(const SafeTensors *st);
const StTensor *st_tensor(const SafeTensors *st, int64_t i);
const StTensor *st_find(const SafeTensors *st, const char *name); /* NULL when absent */
int st_n_shards(const SafeTensors *st);
const char *st_shard_path(const SafeTensors *st, int i);
/* Sum of the shard file sizes (what the weights weigh on disk). */
int64_t st_total_bytes(const SafeTensors *st);

const char *st_dtype_name(StDType t);
/* The DType a tensor of this dtype computes as (DT_F32, DT_F16, DT_BF16), or -1. */
int st_dtype_compute(StDType t);

#endif
