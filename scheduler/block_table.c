/* Per-request block tables (see block_table.h). Tables grow by doubling; a function that
 * fails gives back whatever it took from the pool. */
#include "scheduler/block_table.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void block_table_init(BlockTable *t) { memset(t, 0, sizeof *t); }

void block_table_destroy(BlockTable *t) {
    assert(t->n_blocks == 0);
    free(t->blocks);
    free(t->keys);
    block_table_init(t);
}

static int reserve(BlockTable *t, int64_t n) {
    if (n <= t->cap) return 0;
    if (n > INT32_MAX / 2) return -ENOMEM;
    int32_t cap = t->cap ? t->cap : 8;
    while (cap < n) cap *= 2;
    int32_t *b = realloc(t->blocks, (size_t)cap * sizeof *b);
    if (!b) return -ENOMEM;
    t->blocks = b;
    uint64_t *k = realloc(t->keys, (size_t)cap * sizeof *k);
    if (!k) return -ENOMEM;
    t->keys = k;
    t->cap = cap;
    return 0;
}

int32_t block_table_blocks_needed(const BlockPool *p, const BlockTable *t, int64_t n_tokens) {
    int64_t bs = block_pool_block_size(p);
    int64_t need = (n_tokens + bs - 1) / bs - t->n_blocks;
    return need > 0 ? (int32_t)need : 0;
}

int block_table_can_allocate(const BlockPool *p, const BlockTable *t, int64_t num_computed, int64_t n_new) {
    return block_table_blocks_needed(p, t, num_computed + n_new) <= block_pool_num_free(p);
}

int block_table_allocate_slots(BlockPool *p, BlockTable *t, int64_t num_computed, int64_t n_new) {
    int32_t need = block_table_blocks_needed(p, t, num_computed + n_new);
    if (need == 0) return 0;
    if (need > block_pool_num_free(p)) return -ENOSPC;
    int rc = reserve(t, (int64_t)t->n_blocks + need);
    if (rc) return rc;
    rc = block_pool_alloc(p, need, t->blocks + t->n_blocks);
    if (rc) return rc;
    t->n_blocks += need;
    return 0;
}

int64_t block_table_find_cached_prefix(BlockPool *p, BlockTable *t, const int32_t *tokens, int64_t n) {
    assert(t->n_blocks == 0);
    int bs = block_pool_block_size(p);
    if (!block_pool_caching_enabled(p) || n < 2) return 0;
    int64_t max_blocks = (n - 1) / bs; /* leave at least the last token to compute */
    uint64_t parent = BLOCK_POOL_ROOT_KEY;
    for (int64_t i = 0; i < max_blocks; i++) {
        uint64_t key;
        int32_t b = block_pool_lookup(p, parent, tokens + i * bs, &key);
        if (b < 0) break;
        if (reserve(t, i + 1)) {
            block_table_free(p, t);
            return -ENOMEM;
        }
        block_pool_touch(p, b);
        t->blocks[i] = b;
        t->keys[i] = key;
        t->n_blocks = t->n_hashed = (int32_t)(i + 1);
        parent = key;
    }
    return (int64_t)t->n_blocks * bs;
}

int32_t block_table_cache_full_blocks(BlockPool *p, BlockTable *t, const int32_t *tokens, int64_t num_computed) {
    if (!block_pool_caching_enabled(p)) return 0;
    int bs = block_pool_block_size(p);
    int64_t n_full = num_computed / bs;
    if (n_full > t->n_blocks) n_full = t->n_blocks;
    int32_t n_new = 0;
    for (int64_t i = t->n_hashed; i < n_full; i++) {
        uint64_t parent = i ? t->keys[i - 1] : BLOCK_POOL_ROOT_KEY;
        n_new += block_pool_cache_block(p, t->blocks[i], parent, tokens + i * bs, &t->keys[i]);
        t->n_hashed = (int32_t)(i + 1);
    }
    return n_new;
}

void block_table_free(BlockPool *p, BlockTable *t) {
    /* one call per block, last first, so that they are queued in that order */
    for (int32_t i = t->n_blocks - 1; i >= 0; i--) block_pool_free(p, &t->blocks[i], 1);
    t->n_blocks = t->n_hashed = 0;
}

int block_table_fork(BlockPool *p, const BlockTable *src, int64_t num_computed, BlockTable *dst, BlockCopy *copy,
                     int *n_copy) {
    assert(dst->n_blocks == 0);
    int bs = block_pool_block_size(p);
    int32_t n_full = (int32_t)(num_computed / bs);
    int has_tail = num_computed % bs != 0;
    if (n_full + has_tail > src->n_blocks) return -EINVAL;
    *n_copy = 0;
    int rc = reserve(dst, (int64_t)n_full + has_tail);
    if (rc) return rc;
    if (has_tail) {
        rc = block_pool_alloc(p, 1, &dst->blocks[n_full]);
        if (rc) return rc;
        copy->src = src->blocks[n_full];
        copy->dst = dst->blocks[n_full];
        *n_copy = 1;
    }
    for (int32_t i = 0; i < n_full; i++) {
        block_pool_touch(p, src->blocks[i]);
        dst->blocks[i] = src->blocks[i];
    }
    dst->n_hashed = src->n_hashed < n_full ? src->n_hashed : n_full;
    if (dst->n_hashed) memcpy(dst->keys, src->keys, (size_t)dst->n_hashed * sizeof *dst->keys);
    dst->n_blocks = n_full + has_tail;
    return 0;
}
