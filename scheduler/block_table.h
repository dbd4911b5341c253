/* Per-request block tables over a BlockPool: which blocks hold a sequence's K/V (position p
 * lives in slot blocks[p / bs] * bs + p % bs), growing them for the next tokens, finding a
 * prompt's cached prefix at admission, registering blocks in the prefix cache once they are
 * full of computed tokens, giving everything back, and forking a sequence for n > 1
 * sampling. The scheduler owns one BlockTable per request; the pool owns the blocks.
 *
 * Only full blocks whose every token's K/V has been computed are ever shared (through the
 * prefix cache or a fork), and nothing writes a full computed block again, so shared blocks
 * need no copy-on-write. A fork gives the child its own copy of the parent's partially
 * filled last block and reports the (src, dst) copy the engine must make on the device. */
#ifndef PISTON_BLOCK_TABLE_H
#define PISTON_BLOCK_TABLE_H

#include <stdint.h>

#include "scheduler/block_pool.h"

typedef struct BlockTable {
    int32_t *blocks;  /* [n_blocks] block ids, in position order */
    uint64_t *keys;   /* [n_blocks] prefix keys of the first n_hashed blocks */
    int32_t n_blocks;
    int32_t n_hashed; /* leading full computed blocks whose keys are known (cached or not) */
    int32_t cap;      /* allocated length of blocks and keys */
} BlockTable;

/* A device-side block copy the engine must perform before the step's forward pass. */
typedef struct BlockCopy {
    int32_t src, dst;
} BlockCopy;

void block_table_init(BlockTable *t);
/* Release the table's memory; its blocks must have been given back (block_table_free). */
void block_table_destroy(BlockTable *t);

/* Blocks the pool must hand out so the table holds n_tokens tokens (0 when it already does). */
int32_t block_table_blocks_needed(const BlockPool *p, const BlockTable *t, int64_t n_tokens);
/* Whether slots for positions [num_computed, num_computed + n_new) can be had now. */
int block_table_can_allocate(const BlockPool *p, const BlockTable *t, int64_t num_computed, int64_t n_new);
/* Grow the table to cover positions [0, num_computed + n_new). 0, or -ENOSPC / -ENOMEM with
 * the table unchanged. */
int block_table_allocate_slots(BlockPool *p, BlockTable *t, int64_t num_computed, int64_t n_new);

/* For an empty table and a sequence tokens[0..n): take references on the cached blocks of
 * its longest cached prefix of full blocks and put them in the table. Never the whole
 * sequence: at most (n - 1) / bs blocks, so at least one token is left to compute and produce
 * logits (vLLM leaves the last token the same way). Returns the number of tokens covered
 * (a multiple of bs) or -ENOMEM. Statistics are left to the caller (block_pool_record_query),
 * which knows whether the admission went through. */
int64_t block_table_find_cached_prefix(BlockPool *p, BlockTable *t, const int32_t *tokens, int64_t n);

/* Register in the prefix cache the blocks that tokens[0..num_computed) fill completely and
 * that are not registered yet. Returns how many were newly registered. */
int32_t block_table_cache_full_blocks(BlockPool *p, BlockTable *t, const int32_t *tokens, int64_t num_computed);

/* Give every block back, last block first (see block_pool.h: the tail of a sequence is the
 * first of its blocks to be evicted). The table is left empty, its memory kept. */
void block_table_free(BlockPool *p, BlockTable *t);

/* Make dst (empty) a child of src whose first num_computed tokens are computed: dst shares
 * src's full blocks (one more reference each) and gets a fresh block for a partial last one,
 * reported in *copy with *n_copy = 1 (else *n_copy = 0). Returns 0, -ENOSPC (no free block
 * for the copy) or -ENOMEM, with dst unchanged on failure. */
int block_table_fork(BlockPool *p, const BlockTable *src, int64_t num_computed, BlockTable *dst, BlockCopy *copy,
                     int *n_copy);

#endif
