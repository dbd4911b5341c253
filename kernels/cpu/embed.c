/* Row gathers of the CPU backend: the embedding lookup (token ids to dequantized rows of
 * the embedding table) and the last-token gather (each sequence's final row of the flat
 * batch, the only rows that reach the output head). */
#include <errno.h>
#include <string.h>

#include "kernels/cpu/parallel.h"

typedef struct EmbedCtx {
    const Tensor *table; /* [n_rows, dim], any supported type */
    const int32_t *ids;  /* [T] */
    float *out;          /* [T, dim] */
    int64_t row_bytes;
} EmbedCtx;

static void embed_rows(void *c, int64_t t0, int64_t t1) {
    const EmbedCtx *e = c;
    int64_t dim = e->table->ne[0];
    for (int64_t t = t0; t < t1; t++) {
        const uint8_t *row = (const uint8_t *)e->table->data + (int64_t)e->ids[t] * e->row_bytes;
        dtype_dequantize_row(e->table->type, row, e->out + t * dim, dim);
    }
}

int cpu_embed(Backend *be, const Tensor *table, const int32_t *ids, int T, float *out) {
    EmbedCtx e = {table, ids, out, dtype_row_bytes(table->type, table->ne[0])};
    if (e.row_bytes <= 0)
        return backend_fail(be, -EINVAL, "embed: table type %s with rows of %lld elements is not supported",
                            dtype_name(table->type), (long long)table->ne[0]);
    /* the engine validates ids at admission; a bad one here is a bug above us, but it must
     * fail the step rather than read outside the table */
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= table->ne[1])
            return backend_fail(be, -EINVAL, "embed: token id %d is out of range [0, %lld)", ids[t],
                                (long long)table->ne[1]);
    cpu_parallel_range(be, T, table->ne[0] * 4, 1, embed_rows, &e);
    return 0;
}

int cpu_gather_last(Backend *be, const float *x, const int32_t *query_start, int B, int dim, float *out) {
    for (int b = 0; b < B; b++) {
        int32_t row = query_start[b + 1] - 1;
        if (row < query_start[b])
            return backend_fail(be, -EINVAL, "gather_last: sequence %d has no tokens in the batch", b);
        memcpy(out + (size_t)b * dim, x + (size_t)row * dim, (size_t)dim * sizeof(float));
    }
    return 0;
}

int cpu_gather_rows(Backend *be, const float *x, const int32_t *rows, int n, int dim, float *out) {
    for (int i = 0; i < n; i++) {
        if (rows[i] < 0) return backend_fail(be, -EINVAL, "gather_rows: row %d is negative", rows[i]);
        memcpy(out + (size_t)i * dim, x + (size_t)rows[i] * dim, (size_t)dim * sizeof(float));
    }
    return 0;
}
