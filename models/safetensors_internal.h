/* Inside the safetensors reader: one mapped file (safetensors.c) and the set of shards with
 * its name lookup (safetensors_index.c). Nothing outside models/safetensors*.c includes it. */
#ifndef PISTON_SAFETENSORS_INTERNAL_H
#define PISTON_SAFETENSORS_INTERNAL_H

#include "models/safetensors.h"

typedef struct StFile {
    char path[4096];
    uint8_t *map;
    uint64_t size;
    StTensor *tensors; /* [n], in header order */
    int n;
} StFile;

/* Map and validate one file. On failure f holds what must still be closed (st_file_close). */
int st_file_open(const char *path, StFile *f, char *err, size_t errlen);
void st_file_close(StFile *f);

#endif
