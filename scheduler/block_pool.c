/* The KV block allocator and prefix cache (see block_pool.h). Everything is O(1) per block:
 * the free queue is a doubly linked list threaded through per-block prev/next arrays, and
 * the key table is open addressing with linear probing and backward-shift deletion (no
 * tombstones, so lookups never slow down however long the server runs). */
#include "scheduler/block_pool.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

struct BlockPool {
    int32_t num_blocks;
    int block_size;
    int enable_caching;
    int32_t *ref;        /* [num_blocks] */
    int32_t *prev, *next; /* [num_blocks + 1] free-queue links; index num_blocks is the sentinel */
    uint8_t *cached;     /* [num_blocks] 1 when key[b] is in the table */
    uint64_t *key;       /* [num_blocks] valid where cached */
    uint64_t *parent;    /* [num_blocks] valid where cached */
    int32_t *tokens;     /* [num_blocks, block_size] valid where cached */
    int32_t *table;      /* [table_mask + 1] block id, or -1 for an empty slot */
    uint64_t table_mask;
    int32_t num_free;
    int32_t num_cached;
    int64_t queries, hits, evictions;
};

/* ---- free queue ---- */

static void queue_remove(BlockPool *p, int32_t b) {
    p->next[p->prev[b]] = p->next[b];
    p->prev[p->next[b]] = p->prev[b];
    p->prev[b] = p->next[b] = -1;
    p->num_free--;
}

static void queue_insert_after(BlockPool *p, int32_t at, int32_t b) {
    p->prev[b] = at;
    p->next[b] = p->next[at];
    p->prev[p->next[at]] = b;
    p->next[at] = b;
    p->num_free++;
}

/* ---- key table ---- */

uint64_t block_pool_hash_block(uint64_t parent, const int32_t *tokens, int n) {
    uint64_t h = hash_mix64(parent ^ HASH_GOLDEN);
    for (int i = 0; i < n; i++) h = hash_mix64(h ^ ((uint64_t)(uint32_t)tokens[i] + 0x632be59bd9b4e019ull));
    return hash_mix64(h ^ (uint64_t)n);
}

static uint64_t table_home(const BlockPool *p, uint64_t key) { return hash_mix64(key) & p->table_mask; }

static int32_t table_find(const BlockPool *p, uint64_t key) {
    for (uint64_t i = table_home(p, key);; i = (i + 1) & p->table_mask) {
        int32_t b = p->table[i];
        if (b < 0) return -1;
        if (p->key[b] == key) return b;
    }
}

static void table_insert(BlockPool *p, int32_t block) {
    uint64_t i = table_home(p, p->key[block]);
    while (p->table[i] >= 0) i = (i + 1) & p->table_mask;
    p->table[i] = block;
}

static void table_erase(BlockPool *p, int32_t block) {
    uint64_t i = table_home(p, p->key[block]);
    while (p->table[i] != block) {
        assert(p->table[i] >= 0);
        i = (i + 1) & p->table_mask;
    }
    /* Backward shift: pull later entries of the probe run into the hole unless that would put
     * them before their home slot. */
    for (;;) {
        p->table[i] = -1;
        uint64_t j = i;
        for (;;) {
            j = (j + 1) & p->table_mask;
            int32_t b = p->table[j];
            if (b < 0) return;
            uint64_t k = table_home(p, p->key[b]);
            int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays) {
                p->table[i] = b;
                i = j;
                break;
            }
        }
    }
}

static void uncache(BlockPool *p, int32_t b) {
    table_erase(p, b);
    p->cached[b] = 0;
    p->num_cached--;
}

/* ---- public ---- */

int block_pool_create(int32_t num_blocks, int block_size, int enable_caching, BlockPool **out) {
    *out = NULL;
    if (num_blocks < 2 || block_size < 1) return -EINVAL;
    BlockPool *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->num_blocks = num_blocks;
    p->block_size = block_size;
    p->enable_caching = enable_caching != 0;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)num_blocks) cap <<= 1; /* load factor <= 1/2 */
    p->table_mask = cap - 1;
    p->ref = calloc((size_t)num_blocks, sizeof *p->ref);
    p->prev = malloc(((size_t)num_blocks + 1) * sizeof *p->prev);
    p->next = malloc(((size_t)num_blocks + 1) * sizeof *p->next);
    p->cached = calloc((size_t)num_blocks, 1);
    p->key = calloc((size_t)num_blocks, sizeof *p->key);
    p->parent = calloc((size_t)num_blocks, sizeof *p->parent);
    p->table = malloc(cap * sizeof *p->table);
    /* int64 size: num_blocks * block_size overflows int32 for large pools */
    if (p->enable_caching) p->tokens = malloc((size_t)((int64_t)num_blocks * block_size) * sizeof *p->tokens);
    if (!p->ref || !p->prev || !p->next || !p->cached || !p->key || !p->parent || !p->table ||
        (p->enable_caching && !p->tokens)) {
        block_pool_destroy(p);
        return -ENOMEM;
    }
    memset(p->table, 0xff, cap * sizeof *p->table);
    int32_t s = num_blocks; /* sentinel */
    p->prev[s] = p->next[s] = s;
    p->prev[0] = p->next[0] = -1; /* the null block is never queued */
    for (int32_t b = 1; b < num_blocks; b++) queue_insert_after(p, p->prev[s], b);
    *out = p;
    return 0;
}

void block_pool_destroy(BlockPool *p) {
    if (!p) return;
    free(p->ref);
    free(p->prev);
    free(p->next);
    free(p->cached);
    free(p->key);
    free(p->parent);
    free(p->tokens);
    free(p->table);
    free(p);
}

int32_t block_pool_num_free(const BlockPool *p) { return p->num_free; }
int block_pool_block_size(const BlockPool *p) { return p->block_size; }
int block_pool_caching_enabled(const BlockPool *p) { return p->enable_caching; }

int32_t block_pool_ref_count(const BlockPool *p, int32_t block) {
    assert(block >= 0 && block < p->num_blocks);
    return p->ref[block];
}

int block_pool_alloc(BlockPool *p, int32_t n, int32_t *ids) {
    if (n < 0) return -EINVAL;
    if (n > p->num_free) return -ENOSPC;
    int32_t s = p->num_blocks;
    for (int32_t i = 0; i < n; i++) {
        int32_t b = p->next[s];
        assert(b != s && b != BLOCK_POOL_NULL_BLOCK && p->ref[b] == 0);
        queue_remove(p, b);
        if (p->cached[b]) {
            uncache(p, b);
            p->evictions++;
        }
        p->ref[b] = 1;
        ids[i] = b;
    }
    return 0;
}

void block_pool_touch(BlockPool *p, int32_t block) {
    assert(block > 0 && block < p->num_blocks);
    /* a free block may be revived only for its cached content */
    assert(p->ref[block] > 0 || p->cached[block]);
    if (p->ref[block] == 0) queue_remove(p, block);
    p->ref[block]++;
}

void block_pool_free(BlockPool *p, const int32_t *ids, int32_t n) {
    int32_t s = p->num_blocks;
    for (int32_t i = 0; i < n; i++) {
        int32_t b = ids[i];
        assert(b > 0 && b < p->num_blocks && p->ref[b] > 0);
        if (--p->ref[b] > 0) continue;
        if (p->cached[b]) queue_insert_after(p, p->prev[s], b); /* tail: evicted last */
        else queue_insert_after(p, s, b);                      /* head: reused first */
    }
}

static int same_content(const BlockPool *p, int32_t b, uint64_t parent, const int32_t *tokens) {
    return p->parent[b] == parent &&
           !memcmp(p->tokens + (int64_t)b * p->block_size, tokens, (size_t)p->block_size * sizeof *tokens);
}

int32_t block_pool_lookup(const BlockPool *p, uint64_t parent, const int32_t *tokens, uint64_t *key) {
    uint64_t k = block_pool_hash_block(parent, tokens, p->block_size);
    if (key) *key = k;
    if (!p->enable_caching) return -1;
    int32_t b = table_find(p, k);
    return b >= 0 && same_content(p, b, parent, tokens) ? b : -1;
}

int block_pool_cache_block(BlockPool *p, int32_t block, uint64_t parent, const int32_t *tokens, uint64_t *key) {
    assert(block > 0 && block < p->num_blocks && p->ref[block] > 0);
    uint64_t k = block_pool_hash_block(parent, tokens, p->block_size);
    if (key) *key = k;
    if (!p->enable_caching || p->cached[block] || table_find(p, k) >= 0) return 0;
    p->key[block] = k;
    p->parent[block] = parent;
    memcpy(p->tokens + (int64_t)block * p->block_size, tokens, (size_t)p->block_size * sizeof *tokens);
    p->cached[block] = 1;
    p->num_cached++;
    table_insert(p, block);
    return 1;
}

void block_pool_record_query(BlockPool *p, int64_t n_queried, int64_t n_hit) {
    p->queries += n_queried;
    p->hits += n_hit;
}

void block_pool_get_stats(const BlockPool *p, BlockPoolStats *st) {
    int32_t usable = p->num_blocks - 1;
    st->num_blocks = p->num_blocks;
    st->num_free = p->num_free;
    st->num_cached = p->num_cached;
    st->usage = (double)(usable - p->num_free) / (double)usable;
    st->prefix_queries = p->queries;
    st->prefix_hits = p->hits;
    st->evictions = p->evictions;
}

int32_t block_pool_reset_cache(BlockPool *p) {
    int32_t n = 0, s = p->num_blocks;
    for (int32_t b = 1; b < p->num_blocks; b++) {
        if (!p->cached[b]) continue;
        uncache(p, b);
        n++;
        if (p->ref[b] == 0) { /* now worthless: to the head, like any uncached free block */
            queue_remove(p, b);
            queue_insert_after(p, s, b);
        }
    }
    return n;
}

int block_pool_check(const BlockPool *p) {
    int32_t s = p->num_blocks, n = 0;
    if (p->ref[0] != 0 || p->prev[0] != -1 || p->next[0] != -1 || p->cached[0]) return -__LINE__;
    for (int32_t b = p->next[s], prev = s; b != s; prev = b, b = p->next[b]) {
        if (b <= 0 || b >= p->num_blocks || p->prev[b] != prev || p->ref[b] != 0) return -__LINE__;
        if (++n > p->num_blocks) return -__LINE__; /* a cycle */
    }
    if (n != p->num_free) return -__LINE__;
    int32_t n_cached = 0, n_zero = 0;
    for (int32_t b = 1; b < p->num_blocks; b++) {
        if (p->ref[b] < 0) return -__LINE__;
        if (p->ref[b] == 0) {
            n_zero++;
            if (p->prev[b] < 0) return -__LINE__; /* ref 0 but not queued */
        } else if (p->prev[b] >= 0 || p->next[b] >= 0) {
            return -__LINE__; /* in use but queued */
        }
        if (p->cached[b]) {
            n_cached++;
            if (table_find(p, p->key[b]) != b) return -__LINE__;
        }
    }
    if (n_zero != p->num_free || n_cached != p->num_cached) return -__LINE__;
    int32_t in_table = 0;
    for (uint64_t i = 0; i <= p->table_mask; i++) {
        int32_t b = p->table[i];
        if (b < 0) continue;
        in_table++;
        if (b == 0 || b >= p->num_blocks || !p->cached[b]) return -__LINE__;
    }
    if (in_table != p->num_cached) return -__LINE__;
    return 0;
}
