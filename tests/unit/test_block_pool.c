/* Block pool and block table tests on tiny pools: exact block ids, reference counts and
 * eviction order on hand-written scenarios, then a few thousand seeded random operations
 * checked after every one against a shadow model of the pool (ref counts, the free queue's
 * exact order, which content is cached where). */
#include <errno.h>

#include "scheduler/block_pool.h"
#include "scheduler/block_table.h"
#include "tests/unit/test.h"

static int32_t alloc1(BlockPool *p) {
    int32_t b = -1;
    return block_pool_alloc(p, 1, &b) ? -1 : b;
}

static void test_basics(void) {
    BlockPool *p;
    CHECK(block_pool_create(1, 4, 1, &p) == -EINVAL, "one block is only the null block");
    CHECK(block_pool_create(5, 0, 1, &p) == -EINVAL);
    CHECK(block_pool_create(5, 4, 1, &p) == 0);
    CHECK(block_pool_num_free(p) == 4, "the null block is not usable");
    int32_t ids[4];
    CHECK(block_pool_alloc(p, 4, ids) == 0);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 3 && ids[3] == 4, "fresh blocks in id order, never 0");
    CHECK(block_pool_alloc(p, 1, ids) == -ENOSPC);
    BlockPoolStats st;
    block_pool_get_stats(p, &st);
    CHECK(st.usage == 1.0 && st.num_free == 0);
    block_pool_touch(p, 2);
    CHECK(block_pool_ref_count(p, 2) == 2);
    block_pool_free(p, ids, 4);
    CHECK(block_pool_ref_count(p, 2) == 1 && block_pool_num_free(p) == 3);
    /* uncached blocks freed go to the head: the most recently freed is reused first */
    CHECK(alloc1(p) == 4);
    block_pool_free(p, (int32_t[]){4, 2}, 2);
    block_pool_get_stats(p, &st);
    CHECK(st.usage == 0.0 && st.num_free == 4);
    CHECK(block_pool_check(p) == 0);
    block_pool_destroy(p);
}

/* The LRU scenario of block_pool.h, with exact ids. */
static void test_eviction_order(void) {
    BlockPool *p;
    CHECK(block_pool_create(6, 2, 1, &p) == 0); /* usable 1..5, two tokens a block */
    const uint64_t R = BLOCK_POOL_ROOT_KEY;
    int32_t a[3], b[2];
    uint64_t ka0, ka1, kb0, kb1, k;
    CHECK(block_pool_alloc(p, 3, a) == 0 && a[0] == 1 && a[1] == 2 && a[2] == 3);
    CHECK(block_pool_cache_block(p, 1, R, (int32_t[]){1, 2}, &ka0) == 1);
    CHECK(block_pool_cache_block(p, 2, ka0, (int32_t[]){3, 4}, &ka1) == 1);
    CHECK(block_pool_cache_block(p, 2, ka0, (int32_t[]){3, 4}, &k) == 0, "already cached");
    /* A's partial block 3 stays uncached. Freed last block first: queue [3 4 5 2 1] */
    block_pool_free(p, (int32_t[]){3, 2, 1}, 3);
    CHECK(block_pool_lookup(p, R, (int32_t[]){1, 2}, NULL) == 1, "freed cached block still findable");
    CHECK(block_pool_lookup(p, ka0, (int32_t[]){3, 4}, NULL) == 2);
    CHECK(block_pool_lookup(p, R, (int32_t[]){3, 4}, NULL) == -1, "same tokens, other parent");
    CHECK(block_pool_lookup(p, ka0, (int32_t[]){3, 5}, NULL) == -1);
    CHECK(block_pool_alloc(p, 2, b) == 0 && b[0] == 3 && b[1] == 4, "uncached free blocks before cached ones");
    CHECK(block_pool_cache_block(p, 3, R, (int32_t[]){7, 8}, &kb0) == 1);
    CHECK(block_pool_cache_block(p, 4, kb0, (int32_t[]){9, 10}, &kb1) == 1);
    CHECK(block_pool_cache_block(p, 4, kb0, (int32_t[]){9, 10}, &k) == 0);
    block_pool_free(p, (int32_t[]){4, 3}, 2); /* queue [5 2 1 4 3] */
    /* a hit on A's first block: out of the queue, then freed again at the tail: [5 2 4 3 1] */
    CHECK(block_pool_lookup(p, R, (int32_t[]){1, 2}, &k) == 1 && k == ka0);
    block_pool_touch(p, 1);
    CHECK(block_pool_ref_count(p, 1) == 1 && block_pool_num_free(p) == 4);
    block_pool_free(p, (int32_t[]){1}, 1);
    CHECK(block_pool_check(p) == 0);
    BlockPoolStats st;
    block_pool_get_stats(p, &st);
    CHECK(st.num_cached == 4 && st.evictions == 0);
    CHECK(alloc1(p) == 5, "never-used block first");
    CHECK(alloc1(p) == 2, "then the least recently freed cached block");
    CHECK(block_pool_lookup(p, ka0, (int32_t[]){3, 4}, NULL) == -1, "evicted: lost");
    CHECK(block_pool_lookup(p, R, (int32_t[]){1, 2}, NULL) == 1, "its parent survives");
    CHECK(alloc1(p) == 4 && alloc1(p) == 3 && alloc1(p) == 1 && alloc1(p) == -1);
    block_pool_get_stats(p, &st);
    CHECK(st.num_cached == 0 && st.evictions == 4);
    /* a key may be re-registered by another block once its holder is evicted */
    CHECK(block_pool_cache_block(p, 5, R, (int32_t[]){1, 2}, &k) == 1 && k == ka0);
    CHECK(block_pool_check(p) == 0);
    CHECK(block_pool_reset_cache(p) == 1);
    CHECK(block_pool_lookup(p, R, (int32_t[]){1, 2}, NULL) == -1);
    block_pool_free(p, (int32_t[]){1, 2, 3, 4, 5}, 5);
    CHECK(block_pool_num_free(p) == 5 && block_pool_check(p) == 0);
    block_pool_destroy(p);

    /* caching off: nothing is findable */
    CHECK(block_pool_create(4, 2, 0, &p) == 0);
    int32_t x = alloc1(p);
    CHECK(block_pool_cache_block(p, x, R, (int32_t[]){1, 2}, &k) == 0);
    CHECK(block_pool_lookup(p, R, (int32_t[]){1, 2}, NULL) == -1);
    block_pool_free(p, &x, 1);
    block_pool_destroy(p);
}

/* ---- random operations against a shadow model ---- */

enum { NB = 12, BS = 2, N_PARENTS = 3, N_CONTENT = N_PARENTS * 4, MAX_HELD = 256 };

typedef struct Shadow {
    int ref[NB];
    int content[NB]; /* -1, or the content id cached in the block */
    int queue[NB];   /* free queue, head first */
    int n_queue;
    int held[MAX_HELD]; /* references held, one entry each */
    int n_held;
} Shadow;

static const uint64_t parents[N_PARENTS] = {BLOCK_POOL_ROOT_KEY, 11, 22};

static void content_of(int c, uint64_t *parent, int32_t tokens[BS]) {
    *parent = parents[c / 4];
    tokens[0] = c & 1;
    tokens[1] = (c >> 1) & 1;
}

static void queue_del(Shadow *m, int b) {
    int i = 0;
    while (m->queue[i] != b) i++;
    memmove(&m->queue[i], &m->queue[i + 1], (size_t)(m->n_queue - i - 1) * sizeof m->queue[0]);
    m->n_queue--;
}

static int cached_block(const Shadow *m, int c) {
    for (int b = 1; b < NB; b++)
        if (m->content[b] == c) return b;
    return -1;
}

static int matches(const BlockPool *p, const Shadow *m) {
    if (block_pool_check(p)) return 0;
    if (block_pool_num_free(p) != m->n_queue) return 0;
    for (int b = 0; b < NB; b++)
        if (block_pool_ref_count(p, b) != m->ref[b]) return 0;
    for (int c = 0; c < N_CONTENT; c++) {
        uint64_t parent;
        int32_t t[BS];
        content_of(c, &parent, t);
        if (block_pool_lookup(p, parent, t, NULL) != cached_block(m, c)) return 0;
    }
    return 1;
}

static void test_random_ops(unsigned long long seed, int n_ops) {
    BlockPool *p;
    CHECK(block_pool_create(NB, BS, 1, &p) == 0);
    Shadow m;
    memset(&m, 0, sizeof m);
    for (int b = 0; b < NB; b++) m.content[b] = -1;
    for (int b = 1; b < NB; b++) m.queue[m.n_queue++] = b;
    int bad_ops = 0;
    for (int op = 0; op < n_ops; op++) {
        int ok = 1;
        int kind = (int)(test_rng_next(&seed) % 5);
        if (kind == 0 && m.n_held + 3 <= MAX_HELD) { /* allocate 1..3: the queue's head exactly */
            int n = 1 + (int)(test_rng_next(&seed) % 3);
            int32_t ids[3];
            int rc = block_pool_alloc(p, n, ids);
            if (n > m.n_queue) {
                ok = rc == -ENOSPC;
            } else {
                ok = rc == 0;
                for (int i = 0; i < n && ok; i++) {
                    int b = m.queue[0];
                    ok = ids[i] == b && b != 0 && m.ref[b] == 0; /* never held twice, never the null block */
                    queue_del(&m, b);
                    m.content[b] = -1; /* evicted */
                    m.ref[b] = 1;
                    m.held[m.n_held++] = b;
                }
            }
        } else if (kind == 1 && m.n_held && m.n_held < MAX_HELD) { /* share a held block */
            int b = m.held[test_rng_next(&seed) % (unsigned)m.n_held];
            block_pool_touch(p, b);
            m.ref[b]++;
            m.held[m.n_held++] = b;
        } else if (kind == 2 && m.n_held) { /* drop one reference */
            int i = (int)(test_rng_next(&seed) % (unsigned)m.n_held);
            int b = m.held[i];
            m.held[i] = m.held[--m.n_held];
            block_pool_free(p, (int32_t[]){b}, 1);
            if (--m.ref[b] == 0) {
                if (m.content[b] >= 0) m.queue[m.n_queue++] = b; /* tail */
                else {
                    memmove(&m.queue[1], &m.queue[0], (size_t)m.n_queue * sizeof m.queue[0]);
                    m.queue[0] = b, m.n_queue++;
                }
            }
        } else if (kind == 3 && m.n_held) { /* a held block becomes full: register it */
            int b = m.held[test_rng_next(&seed) % (unsigned)m.n_held];
            int c = (int)(test_rng_next(&seed) % N_CONTENT);
            uint64_t parent, key;
            int32_t t[BS];
            content_of(c, &parent, t);
            int expect = m.content[b] < 0 && cached_block(&m, c) < 0;
            ok = block_pool_cache_block(p, b, parent, t, &key) == expect && key == block_pool_hash_block(parent, t, BS);
            if (expect) m.content[b] = c;
        } else if (kind == 4) { /* look a content up; keep it half the time */
            int c = (int)(test_rng_next(&seed) % N_CONTENT);
            uint64_t parent;
            int32_t t[BS];
            content_of(c, &parent, t);
            int b = block_pool_lookup(p, parent, t, NULL);
            ok = b == cached_block(&m, c);
            if (b > 0 && m.n_held < MAX_HELD && (test_rng_next(&seed) & 1)) {
                block_pool_touch(p, b);
                if (m.ref[b]++ == 0) queue_del(&m, b);
                m.held[m.n_held++] = b;
            }
        }
        ok = ok && matches(p, &m);
        if (!ok && bad_ops++ < 5) fprintf(stderr, "op %d (kind %d) diverged from the shadow\n", op, kind);
    }
    CHECK(bad_ops == 0, "%d of %d random ops diverged", bad_ops, n_ops);
    /* give everything back: every block free, none lost */
    while (m.n_held) block_pool_free(p, (int32_t[]){m.held[--m.n_held]}, 1);
    CHECK(block_pool_num_free(p) == NB - 1 && block_pool_check(p) == 0);
    for (int b = 0; b < NB; b++) CHECK(block_pool_ref_count(p, b) == 0);
    block_pool_destroy(p);
}

/* The key table under load: a larger pool whose blocks are cached, freed in random order and
 * evicted by allocation, round after round; every content is looked up after each round. */
static void test_table_churn(void) {
    enum { N = 300, V = 1000 };
    BlockPool *p;
    CHECK(block_pool_create(N, 1, 1, &p) == 0);
    static int holder[V]; /* content -> the block that caches it, or -1 */
    static int content[N];
    for (int i = 0; i < V; i++) holder[i] = -1;
    for (int b = 0; b < N; b++) content[b] = -1;
    unsigned long long rng = 77;
    int bad = 0;
    for (int round = 0; round < 60; round++) {
        int32_t ids[N];
        int n = 1 + (int)(test_rng_next(&rng) % (N - 1));
        if (block_pool_alloc(p, n, ids)) bad++;
        for (int i = 0; i < n; i++) /* the cached ones among them were evicted */
            if (content[ids[i]] >= 0) holder[content[ids[i]]] = -1, content[ids[i]] = -1;
        for (int i = 0; i < n; i++) {
            int b = ids[i];
            int32_t tok = (int32_t)(test_rng_next(&rng) % V);
            int reg = block_pool_cache_block(p, b, BLOCK_POOL_ROOT_KEY, &tok, NULL);
            if (reg != (holder[tok] < 0)) bad++;
            if (reg) holder[tok] = b, content[b] = tok;
        }
        for (int i = n - 1; i > 0; i--) { /* free in a random order */
            int j = (int)(test_rng_next(&rng) % (unsigned)(i + 1));
            int32_t t = ids[i];
            ids[i] = ids[j], ids[j] = t;
        }
        block_pool_free(p, ids, n);
        if (block_pool_check(p)) bad++;
        for (int32_t tok = 0; tok < V; tok++)
            if (block_pool_lookup(p, BLOCK_POOL_ROOT_KEY, &tok, NULL) != holder[tok]) bad++;
    }
    CHECK(bad == 0, "%d mismatches", bad);
    block_pool_destroy(p);
}

/* ---- block tables ---- */

static void test_block_table(void) {
    BlockPool *p;
    CHECK(block_pool_create(9, 4, 1, &p) == 0); /* 8 usable blocks of 4 */
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = 100 + i;
    BlockTable a, b, c;
    block_table_init(&a);
    block_table_init(&b);
    block_table_init(&c);
    CHECK(block_table_blocks_needed(p, &a, 10) == 3 && block_table_can_allocate(p, &a, 0, 10));
    CHECK(block_table_allocate_slots(p, &a, 0, 10) == 0 && a.n_blocks == 3);
    CHECK(a.blocks[0] == 1 && a.blocks[1] == 2 && a.blocks[2] == 3);
    CHECK(block_table_allocate_slots(p, &a, 10, 2) == 0 && a.n_blocks == 3, "12 tokens still fit");
    CHECK(!block_table_can_allocate(p, &a, 12, 21), "33 tokens need 9 blocks");
    CHECK(block_table_allocate_slots(p, &a, 12, 21) == -ENOSPC && a.n_blocks == 3);
    /* only computed full blocks are cached */
    CHECK(block_table_cache_full_blocks(p, &a, toks, 7) == 1 && a.n_hashed == 1);
    CHECK(block_table_cache_full_blocks(p, &a, toks, 12) == 2 && a.n_hashed == 3);
    CHECK(block_table_cache_full_blocks(p, &a, toks, 12) == 0);

    /* another sequence with the same 12-token prompt: two blocks found, never all three */
    CHECK(block_table_find_cached_prefix(p, &b, toks, 12) == 8);
    CHECK(b.n_blocks == 2 && b.blocks[0] == 1 && b.blocks[1] == 2 && b.n_hashed == 2);
    CHECK(block_pool_ref_count(p, 1) == 2 && block_pool_ref_count(p, 3) == 1);
    block_table_free(p, &b);
    CHECK(block_table_find_cached_prefix(p, &b, toks, 13) == 12, "a longer prompt gets all three");
    block_table_free(p, &b);
    int32_t other[12];
    memcpy(other, toks, sizeof other);
    other[5] = 7;
    CHECK(block_table_find_cached_prefix(p, &b, other, 12) == 4, "diverges in block 1");
    block_table_free(p, &b);

    /* fork after 10 computed tokens: two full blocks shared, the partial third copied */
    BlockCopy cp;
    int n_cp = -1;
    CHECK(block_table_fork(p, &a, 10, &c, &cp, &n_cp) == 0 && n_cp == 1);
    CHECK(c.n_blocks == 3 && c.blocks[0] == 1 && c.blocks[1] == 2 && c.blocks[2] != 3);
    CHECK(cp.src == 3 && cp.dst == c.blocks[2]);
    CHECK(block_pool_ref_count(p, 1) == 2 && block_pool_ref_count(p, 2) == 2 && block_pool_ref_count(p, 3) == 1);
    CHECK(block_pool_ref_count(p, c.blocks[2]) == 1 && c.n_hashed == 2);
    block_table_free(p, &c);
    CHECK(block_table_fork(p, &a, 8, &c, &cp, &n_cp) == 0 && n_cp == 0 && c.n_blocks == 2, "aligned: no copy");
    block_table_free(p, &c);

    /* freed: still findable, the sequence's last block first in line for eviction */
    block_table_free(p, &a);
    CHECK(block_pool_num_free(p) == 8);
    CHECK(block_table_allocate_slots(p, &c, 0, 20) == 0 && c.n_blocks == 5, "the 5 uncached blocks");
    int32_t next[3];
    CHECK(block_pool_alloc(p, 3, next) == 0 && next[0] == 3 && next[1] == 2 && next[2] == 1);
    block_pool_free(p, next, 3);
    block_table_free(p, &c);
    CHECK(block_table_cache_full_blocks(p, &a, toks, 12) == 0);
    CHECK(block_table_allocate_slots(p, &a, 0, 12) == 0);
    CHECK(block_table_cache_full_blocks(p, &a, toks, 12) == 3);
    block_table_free(p, &a);
    CHECK(block_table_find_cached_prefix(p, &b, toks, 40) == 12);
    block_table_free(p, &b);
    CHECK(block_table_allocate_slots(p, &c, 0, 32) == 0 && c.n_blocks == 8, "takes every block");
    block_table_free(p, &c);
    CHECK(block_table_find_cached_prefix(p, &b, toks, 40) == 0 && b.n_blocks == 0);
    CHECK(block_pool_num_free(p) == 8 && block_pool_check(p) == 0);
    block_table_destroy(&a);
    block_table_destroy(&b);
    block_table_destroy(&c);
    block_pool_destroy(p);
}

int main(void) {
    test_basics();
    test_eviction_order();
    for (unsigned long long seed = 1; seed <= 4; seed++) test_random_ops(seed * 0x9e3779b97f4a7c15ull, 3000);
    test_table_churn();
    test_block_table();
    return TEST_SUMMARY();
}
