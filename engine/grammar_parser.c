/* The lazily built parser (see grammar_parser.h): node and state interning in open-addressing
 * tables, the closure of a state's kernel, and the memoised byte step. */
#include "engine/grammar_parser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

/* Closures deeper than this mean a runaway grammar, not a real parse. */
#define GP_MAX_CLOSURE 65536

/* Rows are only a cache: when memory runs short they all go, and steps memoise again. */
static void rows_drop(GParser *p) {
    p->bytes -= (size_t)p->cap_rows * sizeof *p->rows;
    free(p->rows);
    p->rows = NULL, p->n_rows = p->cap_rows = 0;
    for (int i = 0; i < p->n_st; i++) p->st[i].row = -1;
}

static int grow(GParser *p, void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    if (p->max_bytes && p->bytes + (c - *cap) * elem > p->max_bytes) {
        if (arr != (void **)&p->rows && p->n_rows) rows_drop(p);
        if (p->bytes + (c - *cap) * elem > p->max_bytes) return p->err = -E2BIG, -1;
    }
    void *q = realloc(*arr, c * elem);
    if (!q) return p->err = -ENOMEM, -1;
    p->bytes += (c - *cap) * elem;
    *arr = q, *cap = c;
    return 0;
}

static int grow_int(GParser *p, void **arr, int *cap, int need, size_t elem) {
    size_t c = (size_t)*cap;
    int rc = grow(p, arr, &c, (size_t)need, elem);
    *cap = (int)c;
    return rc;
}

static int table_init(GParser *p, int32_t **slot, uint32_t *mask, uint32_t cap) {
    int32_t *s = malloc(cap * sizeof *s);
    if (!s) return p->err = -ENOMEM, -1;
    memset(s, 0xff, cap * sizeof *s);
    free(*slot);
    *slot = s, *mask = cap - 1;
    return 0;
}

static uint64_t node_hash(int32_t s, int32_t parent) { return hash_mix64(((uint64_t)(uint32_t)s << 32) | (uint32_t)parent); }

static uint64_t kernel_hash(const int32_t *k, int n) {
    uint64_t h = 0x9e37u + (uint64_t)n;
    for (int i = 0; i < n; i++) h = hash_mix64(h ^ (uint64_t)(uint32_t)k[i]);
    return h;
}

/* The node (s, parent), made when new; -1 on error. */
static int32_t node_get(GParser *p, int32_t s, int32_t parent) {
    uint32_t h = (uint32_t)node_hash(s, parent) & p->node_mask;
    for (; p->node_slot[h] >= 0; h = (h + 1) & p->node_mask) {
        int32_t n = p->node_slot[h];
        if (p->node_state[n] == s && p->node_parent[n] == parent) return n;
    }
    if ((size_t)(p->n_nodes + 1) * 2 > (size_t)p->node_mask + 1) {
        uint32_t cap = (p->node_mask + 1) * 2;
        if (table_init(p, &p->node_slot, &p->node_mask, cap)) return -1;
        p->bytes += cap / 2 * sizeof(int32_t);
        for (int32_t n = 1; n < p->n_nodes; n++) {
            uint32_t k = (uint32_t)node_hash(p->node_state[n], p->node_parent[n]) & p->node_mask;
            while (p->node_slot[k] >= 0) k = (k + 1) & p->node_mask;
            p->node_slot[k] = n;
        }
        return node_get(p, s, parent);
    }
    int cap = p->cap_nodes;
    if (grow_int(p, (void **)&p->node_state, &cap, p->n_nodes + 1, sizeof(int32_t))) return -1;
    cap = p->cap_nodes;
    if (grow_int(p, (void **)&p->node_parent, &cap, p->n_nodes + 1, sizeof(int32_t))) return -1;
    p->cap_nodes = cap;
    p->node_state[p->n_nodes] = s, p->node_parent[p->n_nodes] = parent;
    p->node_slot[h] = p->n_nodes;
    return p->n_nodes++;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* The state of kernel k[0, n) (sorted and made unique here, in place). */
static int32_t state_get(GParser *p, int32_t *k, int n) {
    qsort(k, (size_t)n, sizeof *k, cmp_i32);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || k[m - 1] != k[i]) k[m++] = k[i];
    n = m;
    uint32_t h = (uint32_t)kernel_hash(k, n) & p->st_mask;
    for (; p->st_slot[h] >= 0; h = (h + 1) & p->st_mask) {
        const GpState *s = &p->st[p->st_slot[h]];
        if (s->k_len == n && !memcmp(p->kpool + s->k_off, k, (size_t)n * sizeof *k)) return p->st_slot[h];
    }
    if ((size_t)(p->n_st + 1) * 2 > (size_t)p->st_mask + 1) {
        uint32_t cap = (p->st_mask + 1) * 2;
        if (table_init(p, &p->st_slot, &p->st_mask, cap)) return -1;
        p->bytes += cap / 2 * sizeof(int32_t);
        for (int i = 0; i < p->n_st; i++) {
            uint32_t j = (uint32_t)kernel_hash(p->kpool + p->st[i].k_off, p->st[i].k_len) & p->st_mask;
            while (p->st_slot[j] >= 0) j = (j + 1) & p->st_mask;
            p->st_slot[j] = i;
        }
        return state_get(p, k, n);
    }
    if (grow_int(p, (void **)&p->st, &p->cap_st, p->n_st + 1, sizeof *p->st) ||
        grow(p, (void **)&p->kpool, &p->cap_kpool, p->n_kpool + (size_t)n, sizeof *p->kpool))
        return -1;
    memcpy(p->kpool + p->n_kpool, k, (size_t)n * sizeof *k);
    p->st[p->n_st] = (GpState){(int32_t)p->n_kpool, n, 0, -1, -1, 0};
    p->n_kpool += (size_t)n;
    p->st_slot[h] = p->n_st;
    return p->n_st++;
}

int gp_init(GParser *p, const GrammarDfa *d, size_t max_bytes) {
    memset(p, 0, sizeof *p);
    p->d = d;
    p->max_bytes = max_bytes;
    if (table_init(p, &p->node_slot, &p->node_mask, 1024) || table_init(p, &p->st_slot, &p->st_mask, 1024)) {
        gp_free(p);
        return -ENOMEM;
    }
    p->bytes = 2048 * sizeof(int32_t);
    int cap = 0;
    if (grow_int(p, (void **)&p->node_state, &cap, 1, sizeof(int32_t)) ||
        grow_int(p, (void **)&p->node_parent, &p->cap_nodes, 1, sizeof(int32_t))) {
        gp_free(p);
        return -ENOMEM;
    }
    p->node_state[0] = -1, p->node_parent[0] = -1, p->n_nodes = 1; /* the bottom */
    return 0;
}

void gp_free(GParser *p) {
    free(p->node_state), free(p->node_parent), free(p->node_slot), free(p->st), free(p->st_slot);
    free(p->kpool), free(p->cpool), free(p->rows), free(p->mark), free(p->buf);
    memset(p, 0, sizeof *p);
}

int32_t gp_single(GParser *p, int32_t n) {
    if (grow(p, (void **)&p->buf, &p->cap_buf, 1, sizeof *p->buf)) return GP_ERROR;
    p->buf[0] = n;
    int32_t sid = state_get(p, p->buf, 1);
    return sid < 0 ? GP_ERROR : sid;
}

int32_t gp_start(GParser *p, int32_t s) {
    int32_t n = node_get(p, s, 0);
    return n < 0 ? GP_ERROR : gp_single(p, n);
}

/* Visit mark for node n in this closure: 1 when newly marked. */
static int mark(GParser *p, int32_t n) {
    if (n >= p->cap_mark) {
        int old = p->cap_mark;
        if (grow_int(p, (void **)&p->mark, &p->cap_mark, n + 1, sizeof *p->mark)) return -1;
        memset(p->mark + old, 0, (size_t)(p->cap_mark - old) * sizeof *p->mark);
    }
    if (p->mark[n] == p->gen) return 0;
    p->mark[n] = p->gen;
    return 1;
}

static int closure(GParser *p, int32_t sid) {
    if (p->st[sid].c_len >= 0) return 0;
    if (++p->gen == 0) memset(p->mark, 0, (size_t)p->cap_mark * sizeof *p->mark), p->gen = 1;
    size_t nw = 0;
    int k_len = p->st[sid].k_len, accept = 0;
    if (grow(p, (void **)&p->buf, &p->cap_buf, (size_t)k_len + 16, sizeof *p->buf)) return -1;
    for (int i = 0; i < k_len; i++)
        if (mark(p, p->kpool[p->st[sid].k_off + i]) > 0) p->buf[nw++] = p->kpool[p->st[sid].k_off + i];
    /* buf[0, nw): the worklist; members with byte ranges are compacted to the front later */
    for (size_t i = 0; i < nw; i++) {
        int32_t n = p->buf[i];
        if (n == 0) {
            accept = 1;
            continue;
        }
        const DfaState *st = &p->d->st[p->node_state[n]];
        int32_t parent = p->node_parent[n];
        for (int c = 0; c < st->n_calls; c++) {
            const DfaCall *call = &p->d->calls[st->call_off + c];
            int32_t ret = node_get(p, call->to, parent);
            int32_t top = ret < 0 ? -1 : node_get(p, p->d->rule_start[call->rule], ret);
            int m = top < 0 ? -1 : mark(p, top);
            if (m < 0 || grow(p, (void **)&p->buf, &p->cap_buf, nw + 2, sizeof *p->buf)) return -1;
            if (m) p->buf[nw++] = top;
        }
        if (st->final) {
            int m = mark(p, parent);
            if (m < 0 || grow(p, (void **)&p->buf, &p->cap_buf, nw + 2, sizeof *p->buf)) return -1;
            if (m) p->buf[nw++] = parent;
        }
        if (nw > GP_MAX_CLOSURE) return p->err = -E2BIG, -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < nw; i++)
        if (p->buf[i] != 0 && p->d->st[p->node_state[p->buf[i]]].n_ranges > 0) p->buf[m++] = p->buf[i];
    if (grow(p, (void **)&p->cpool, &p->cap_cpool, p->n_cpool + m, sizeof *p->cpool)) return -1;
    if (m) memcpy(p->cpool + p->n_cpool, p->buf, m * sizeof *p->buf); /* cpool is NULL until a state has one */
    GpState *s = &p->st[sid];
    s->c_off = (int32_t)p->n_cpool, s->c_len = (int32_t)m, s->accept = (uint8_t)accept;
    p->n_cpool += m;
    return 0;
}

int gp_accepting(GParser *p, int32_t sid) { return closure(p, sid) ? -1 : p->st[sid].accept; }
int gp_can_continue(GParser *p, int32_t sid) { return closure(p, sid) ? -1 : p->st[sid].c_len > 0; }

int32_t gp_step(GParser *p, int32_t sid, uint8_t b) {
    int32_t row = p->st[sid].row;
    if (row >= 0 && p->rows[row][b] != -3) return p->rows[row][b];
    if (closure(p, sid)) return GP_ERROR;
    const GpState *s = &p->st[sid];
    if (grow(p, (void **)&p->buf, &p->cap_buf, (size_t)s->c_len + 1, sizeof *p->buf)) return GP_ERROR;
    int n = 0;
    for (int i = 0; i < s->c_len; i++) {
        int32_t node = p->cpool[s->c_off + i];
        int32_t t = dfa_next(p->d, p->node_state[node], b);
        if (t < 0) continue;
        int32_t nn = node_get(p, t, p->node_parent[node]);
        if (nn < 0) return GP_ERROR;
        p->buf[n++] = nn;
    }
    int32_t out = n == 0 ? GP_DEAD : state_get(p, p->buf, n);
    if (out == -1 && n > 0) return GP_ERROR;
    if (p->st[sid].row < 0) { /* memoise: a row per state that was stepped */
        if (grow_int(p, (void **)&p->rows, &p->cap_rows, p->n_rows + 1, sizeof *p->rows)) {
            if (p->err != -E2BIG) return GP_ERROR;
            p->err = 0; /* no room for another row: start the cache over */
            rows_drop(p);
            return out;
        }
        for (int i = 0; i < 256; i++) p->rows[p->n_rows][i] = -3;
        p->st[sid].row = p->n_rows++;
    }
    p->rows[p->st[sid].row][b] = out;
    return out;
}
