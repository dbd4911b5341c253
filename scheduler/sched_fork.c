/* n > 1 sampling by forking a running request (see sched_fork_request in scheduler.h), and
 * the block copies that forks leave for the engine. vLLM v1 instead runs n independent
 * requests and lets the prefix cache share their prompt; a fork does better on two counts:
 * the partial last block is copied rather than recomputed, and the prompt's blocks are
 * shared even with prefix caching off. The engine may use either. */
#include "scheduler/sched_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sched_copies_release(Scheduler *s) {
    for (int i = 0; i < s->n_inflight; i++) block_pool_free(s->pool, &s->inflight[i].src, 1);
    s->n_inflight = 0;
}

void sched_copies_drop_child(Scheduler *s, int64_t child) {
    for (int i = 0; i < s->n_pending;) {
        if (s->pending_child[i] != child) {
            i++;
            continue;
        }
        block_pool_free(s->pool, &s->pending[i].src, 1);
        int rest = s->n_pending - i - 1;
        memmove(&s->pending[i], &s->pending[i + 1], (size_t)rest * sizeof *s->pending);
        memmove(&s->pending_child[i], &s->pending_child[i + 1], (size_t)rest * sizeof *s->pending_child);
        s->n_pending--;
    }
}

int sched_copies_emit(Scheduler *s, SchedOutput *out) {
    /* inflight was emptied at the start of the step; the arrays share one capacity */
    if (s->n_pending) memcpy(s->inflight, s->pending, (size_t)s->n_pending * sizeof *s->pending);
    s->n_inflight = s->n_pending;
    s->n_pending = 0;
    out->copies = s->inflight;
    out->n_copies = s->n_inflight;
    return 0;
}

static int copies_reserve(Scheduler *s, int n) {
    if (n <= s->cap_copies) return 0;
    int cap = s->cap_copies ? s->cap_copies * 2 : 8;
    while (cap < n) cap *= 2;
    BlockCopy *p = realloc(s->pending, (size_t)cap * sizeof *p);
    if (!p) return -ENOMEM;
    s->pending = p;
    int64_t *c = realloc(s->pending_child, (size_t)cap * sizeof *c);
    if (!c) return -ENOMEM;
    s->pending_child = c;
    BlockCopy *f = realloc(s->inflight, (size_t)cap * sizeof *f);
    if (!f) return -ENOMEM;
    s->inflight = f;
    s->cap_copies = cap;
    return 0;
}

int sched_fork_request(Scheduler *s, int64_t parent_id, int32_t first_token, int64_t *child_id) {
    SchedRequest *p = sched_lookup(s, parent_id);
    if (!p) return -ENOENT;
    if (p->state != REQ_STATE_RUNNING || p->n_tokens != p->num_computed + 1) return -EINVAL;
    if (s->n_running >= s->cfg.max_num_seqs) return -EBUSY;
    if (copies_reserve(s, s->n_pending + 1)) return -ENOMEM;
    SchedRequest *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->cap_tokens = p->cap_tokens;
    c->tokens = malloc((size_t)c->cap_tokens * sizeof *c->tokens);
    if (!c->tokens) {
        free(c);
        return -ENOMEM;
    }
    block_table_init(&c->table);
    BlockCopy copy;
    int n_copy = 0;
    int rc = block_table_fork(s->pool, &p->table, p->num_computed, &c->table, &copy, &n_copy);
    if (rc) {
        block_table_destroy(&c->table);
        free(c->tokens);
        free(c);
        return rc;
    }
    memcpy(c->tokens, p->tokens, (size_t)p->num_computed * sizeof *c->tokens);
    c->tokens[p->num_computed] = first_token;
    c->n_tokens = p->n_tokens;
    c->n_prompt = p->n_prompt;
    c->num_computed = p->num_computed;
    c->max_tokens = p->max_tokens;
    c->num_cached_tokens = p->num_cached_tokens;
    c->id = s->next_id++;
    if (n_copy) {
        block_pool_touch(s->pool, copy.src); /* held until the engine has copied it */
        s->pending[s->n_pending] = copy;
        s->pending_child[s->n_pending++] = c->id;
    }
    sched_running_append(s, c);
    *child_id = c->id;
    return 0;
}
