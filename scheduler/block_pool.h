/* The KV block allocator: num_blocks blocks of block_size token slots, reference counts, a
 * free queue ordered by eviction priority, and the prefix cache that lets identical prompt
 * prefixes share blocks. It knows nothing of requests (scheduler/block_table.h builds
 * per-request tables on top of it) and nothing of tensors: a block is an index into the
 * engine's KV cache, which holds slots [block * block_size, (block + 1) * block_size).
 *
 * Prefix caching. A FULL block is keyed by a 64-bit hash of (its parent block's key, its
 * block_size token ids); the first block of a sequence has parent BLOCK_POOL_ROOT_KEY. The
 * chain makes a key stand for the whole prefix up to the end of its block. A table maps keys
 * to blocks. The pool also keeps each cached block's parent key and tokens, and a lookup
 * must match both, so only a collision between two whole prefixes' 64-bit keys (odds about
 * n^2 / 2^65 for n cached blocks) could hand out a wrong block. One block per key: a second
 * block computed with the same content (two identical prompts computed at once, or the last
 * block of a fully cached prompt, which is recomputed for its logits) is simply not
 * registered and is recycled like any other block.
 *
 * Block life cycle (ref = reference count; "cached" = its key is in the table):
 *
 *                 alloc: pops the queue head (a cached head is evicted: key dropped)
 *       FREE  ─────────────────────────────────────────────────────────▶  IN USE
 *     ref 0, in the  ◀───── free: ref drops to 0 (cached: tail, else head) ──  ref >= 1
 *     free queue     ─────▶ touch: a lookup hit leaves the queue, ref 1 ────▶  touch: ref++
 *                                                                          cache_block: gets a key
 *
 * The free queue (a doubly linked list through all free blocks) is the eviction order:
 * allocation pops the head. A block whose ref count reaches 0 is put at the TAIL when it is
 * cached (so cached blocks leave least recently freed first: LRU) and at the HEAD when it is
 * not (an uncached free block is worth nothing, so it is reused before any cached block).
 * vLLM v1 appends both kinds at the tail; taking the worthless ones first keeps more of the
 * cache alive at no cost. Callers free a request's blocks last block first (see
 * block_table_free), so among one sequence's blocks the deepest, least shareable ones go
 * first and a prefix's head outlives its tail, as in vLLM.
 *
 * Block 0 is the null block: never queued, never handed out; block tables may be padded
 * with it. Usable blocks are 1 .. num_blocks - 1. */
#ifndef PISTON_BLOCK_POOL_H
#define PISTON_BLOCK_POOL_H

#include <stdint.h>

#define BLOCK_POOL_NULL_BLOCK 0
#define BLOCK_POOL_ROOT_KEY 0x5049535430ull /* parent key of every sequence's first block */

typedef struct BlockPool BlockPool;

typedef struct BlockPoolStats {
    int32_t num_blocks;     /* including the null block */
    int32_t num_free;       /* allocatable now: never-used, uncached and evictable cached */
    int32_t num_cached;     /* blocks whose key is in the table, in use or not */
    double usage;           /* fraction of the usable blocks held by requests, [0, 1] */
    int64_t prefix_queries; /* tokens looked up in the prefix cache (block_pool_record_query) */
    int64_t prefix_hits;    /* of those, tokens found */
    int64_t evictions;      /* cached blocks dropped to be reused */
} BlockPoolStats;

/* num_blocks >= 2 (the null block and at least one usable), block_size >= 1.
 * enable_caching = 0 turns the prefix cache off: cache_block and lookup then do nothing.
 * Returns 0, -EINVAL or -ENOMEM. */
int block_pool_create(int32_t num_blocks, int block_size, int enable_caching, BlockPool **out);
void block_pool_destroy(BlockPool *p);

int32_t block_pool_num_free(const BlockPool *p);
int block_pool_block_size(const BlockPool *p);
int block_pool_caching_enabled(const BlockPool *p);
int32_t block_pool_ref_count(const BlockPool *p, int32_t block);

/* Take n blocks from the head of the free queue into ids[0..n), each with ref 1; cached
 * ones among them are evicted. All or nothing: -ENOSPC (nothing taken) when fewer than n are
 * free. */
int block_pool_alloc(BlockPool *p, int32_t n, int32_t *ids);
/* One more reference to a block that is in use or cached; a free cached block leaves the
 * queue (it is no longer evictable). */
void block_pool_touch(BlockPool *p, int32_t block);
/* Drop one reference from each of ids[0..n), in that order; blocks reaching 0 are queued as
 * described above, in that order. */
void block_pool_free(BlockPool *p, const int32_t *ids, int32_t n);

/* The key of a full block: hash of its parent's key and its block_size tokens. */
uint64_t block_pool_hash_block(uint64_t parent, const int32_t *tokens, int n);
/* The block cached under the key of (parent, tokens[0..block_size)), or -1; *key gets that
 * key either way (to chain to the next block). Takes no reference: touch it to keep it. */
int32_t block_pool_lookup(const BlockPool *p, uint64_t parent, const int32_t *tokens, uint64_t *key);
/* Register an in-use full block under (parent, tokens[0..block_size)); *key gets the key.
 * Returns 1 when it was registered, 0 when it was not (caching off, the block already has a
 * key, or another block already holds this key). */
int block_pool_cache_block(BlockPool *p, int32_t block, uint64_t parent, const int32_t *tokens, uint64_t *key);

/* Count a prefix-cache query of n_queried tokens of which n_hit were found. */
void block_pool_record_query(BlockPool *p, int64_t n_queried, int64_t n_hit);
void block_pool_get_stats(const BlockPool *p, BlockPoolStats *st);

/* Forget every cached key (e.g. after new weights are loaded); blocks in use keep working.
 * Returns the number of keys dropped. */
int32_t block_pool_reset_cache(BlockPool *p);

/* Check every internal invariant (queue links and length, ref counts vs queue membership,
 * table vs keys); 0 when all hold, else a negative line number. For tests. */
int block_pool_check(const BlockPool *p);

#endif
