/* From a step's plan to the flat batch the model consumes (AttnBatch in kernels/backend.h):
 * the runner in engine/ owns the arrays, this only fills them, so the slot arithmetic lives
 * next to the block tables it reads. */
#include "scheduler/scheduler.h"

#include <errno.h>

void sched_build_slot_mapping(const int32_t *block_table, int block_size, int64_t start, int32_t n, int64_t *slots) {
    for (int32_t i = 0; i < n; i++) {
        int64_t p = start + i;
        /* int64: block * block_size overflows int32 in large caches */
        slots[i] = (int64_t)block_table[p / block_size] * block_size + p % block_size;
    }
}

int sched_build_batch(const SchedOutput *out, int block_size, int32_t max_blocks_per_seq, int32_t *token_ids,
                      int32_t *positions, int64_t *slot_mapping, int32_t *query_start, int32_t *seq_lens,
                      int32_t *block_tables) {
    int32_t t = 0;
    query_start[0] = 0;
    for (int b = 0; b < out->n_seqs; b++) {
        const SchedSeq *q = &out->seqs[b];
        if (q->n_blocks > max_blocks_per_seq) return -EINVAL;
        for (int32_t i = 0; i < q->n_new; i++) {
            token_ids[t + i] = q->tokens[q->start + i];
            positions[t + i] = q->start + i;
        }
        sched_build_slot_mapping(q->block_table, block_size, q->start, q->n_new, slot_mapping + t);
        t += q->n_new;
        query_start[b + 1] = t;
        seq_lens[b] = q->start + q->n_new;
        int32_t *row = block_tables + (int64_t)b * max_blocks_per_seq;
        for (int32_t j = 0; j < max_blocks_per_seq; j++)
            row[j] = j < q->n_blocks ? q->block_table[j] : BLOCK_POOL_NULL_BLOCK;
    }
    return 0;
}
