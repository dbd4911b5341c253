/* The scheduler's queues and its per-step policy (see scheduler.h). Running requests are an
 * array in admission order (the victim of a preemption is its last element); the waiting
 * queue is a doubly linked list (preempted requests go to its front, new ones to its back,
 * aborts leave from anywhere). Lookups by id scan both: an abort or a stop string is rare
 * next to a step, and no index has to be kept in sync. Forks live in sched_fork.c, the
 * batch builder in sched_batch.c. */
#include "scheduler/sched_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sched_config_default(SchedConfig *c) {
    memset(c, 0, sizeof *c);
    c->block_size = 16;
    c->max_num_seqs = 256;
    c->max_num_batched_tokens = 2048;
    c->max_model_len = 2048;
    c->enable_prefix_caching = 1;
    c->enable_chunked_prefill = 1;
}

int sched_create(const SchedConfig *c, Scheduler **out, char *err, size_t errlen) {
#define BAD(...) return snprintf(err, errlen, __VA_ARGS__), -EINVAL
    *out = NULL;
    if (c->block_size < 1) BAD("block size must be >= 1, got %d", c->block_size);
    if (c->num_blocks < 2) BAD("the KV cache needs at least 2 blocks, got %d", c->num_blocks);
    if (c->max_num_seqs < 1) BAD("max_num_seqs must be >= 1, got %d", c->max_num_seqs);
    if (c->max_num_batched_tokens < 1) BAD("max_num_batched_tokens must be >= 1, got %d", c->max_num_batched_tokens);
    if (c->max_model_len < 2) BAD("max_model_len must be >= 2, got %d", c->max_model_len);
    if (!c->enable_chunked_prefill && c->max_num_batched_tokens < c->max_model_len)
        BAD("without chunked prefill max_num_batched_tokens (%d) must be >= max_model_len (%d), or a long prompt "
            "could never run; raise it or enable chunked prefill", c->max_num_batched_tokens, c->max_model_len);
    /* int64: blocks * block_size overflows int32 for large caches */
    int64_t capacity = (int64_t)(c->num_blocks - 1) * c->block_size;
    if (capacity < c->max_model_len)
        BAD("the KV cache holds %lld tokens (%d blocks of %d, less the null block), fewer than one sequence of "
            "max_model_len %d; give it more memory or lower max_model_len", (long long)capacity, c->num_blocks,
            c->block_size, c->max_model_len);
#undef BAD
    Scheduler *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->cfg = *c;
    if (block_pool_create(c->num_blocks, c->block_size, c->enable_prefix_caching, &s->pool)) goto oom;
    s->running = calloc((size_t)c->max_num_seqs, sizeof *s->running);
    s->seqs = calloc((size_t)c->max_num_seqs, sizeof *s->seqs);
    s->preempted = calloc((size_t)c->max_num_seqs, sizeof *s->preempted);
    s->finished = calloc((size_t)c->max_num_seqs, sizeof *s->finished);
    if (!s->running || !s->seqs || !s->preempted || !s->finished) goto oom;
    *out = s;
    return 0;
oom:
    sched_destroy(s);
    snprintf(err, errlen, "out of memory creating the scheduler (%d blocks)", c->num_blocks);
    return -ENOMEM;
}

static void request_destroy(SchedRequest *r) {
    block_table_destroy(&r->table);
    free(r->tokens);
    free(r);
}

void sched_destroy(Scheduler *s) {
    if (!s) return;
    while (s->n_running) sched_release_request(s, s->running[s->n_running - 1]);
    while (s->wait_head) sched_release_request(s, s->wait_head);
    sched_copies_release(s);
    free(s->pending);
    free(s->pending_child);
    free(s->inflight);
    block_pool_destroy(s->pool);
    free(s->running);
    free(s->seqs);
    free(s->preempted);
    free(s->finished);
    free(s);
}

const SchedConfig *sched_config(const Scheduler *s) { return &s->cfg; }
BlockPool *sched_block_pool(Scheduler *s) { return s->pool; }
int sched_has_unfinished(const Scheduler *s) { return s->n_running + s->n_waiting > 0; }

/* ---- queues ---- */

static void waiting_remove(Scheduler *s, SchedRequest *r) {
    if (r->prev) r->prev->next = r->next;
    else s->wait_head = r->next;
    if (r->next) r->next->prev = r->prev;
    else s->wait_tail = r->prev;
    r->prev = r->next = NULL;
    s->n_waiting--;
}

static void waiting_push_front(Scheduler *s, SchedRequest *r) {
    r->prev = NULL;
    r->next = s->wait_head;
    if (s->wait_head) s->wait_head->prev = r;
    else s->wait_tail = r;
    s->wait_head = r;
    s->n_waiting++;
}

static void waiting_push_back(Scheduler *s, SchedRequest *r) {
    r->next = NULL;
    r->prev = s->wait_tail;
    if (s->wait_tail) s->wait_tail->next = r;
    else s->wait_head = r;
    s->wait_tail = r;
    s->n_waiting++;
}

static void running_remove(Scheduler *s, SchedRequest *r) {
    int i = 0;
    while (s->running[i] != r) i++;
    memmove(&s->running[i], &s->running[i + 1], (size_t)(s->n_running - i - 1) * sizeof *s->running);
    s->n_running--;
}

SchedRequest *sched_lookup(const Scheduler *s, int64_t id) {
    for (int i = 0; i < s->n_running; i++)
        if (s->running[i]->id == id) return s->running[i];
    for (SchedRequest *r = s->wait_head; r; r = r->next)
        if (r->id == id) return r;
    return NULL;
}

const SchedRequest *sched_find_request(const Scheduler *s, int64_t id) { return sched_lookup(s, id); }

int sched_set_no_prefix_cache(Scheduler *s, int64_t id) {
    SchedRequest *r = sched_lookup(s, id);
    if (!r) return -ENOENT;
    r->no_prefix_cache = 1;
    return 0;
}

/* Give back a request's blocks, and drop a fork copy into them that has not been emitted. */
static void release_blocks(Scheduler *s, SchedRequest *r) {
    sched_copies_drop_child(s, r->id);
    block_table_free(s->pool, &r->table);
    r->num_computed = 0;
}

void sched_release_request(Scheduler *s, SchedRequest *r) {
    if (r->state == REQ_STATE_RUNNING) running_remove(s, r);
    else waiting_remove(s, r);
    release_blocks(s, r); /* its computed full blocks were cached step by step: they stay findable */
    r->state = REQ_STATE_FINISHED;
    for (int i = 0; i < s->n_out_seqs; i++) /* the last step's output must not point at it */
        if (s->seqs[i].req == r) s->seqs[i].req = NULL;
    request_destroy(r);
}

/* ---- requests ---- */

int sched_add_request(Scheduler *s, const int32_t *prompt, int64_t n_prompt, int64_t max_tokens, int64_t *id,
                      char *err, size_t errlen) {
    if (n_prompt < 1 || n_prompt >= s->cfg.max_model_len)
        return snprintf(err, errlen, "the prompt has %lld tokens; it must have 1 to %d (max_model_len %d, less "
                        "one token of output)", (long long)n_prompt, s->cfg.max_model_len - 1,
                        s->cfg.max_model_len), -EINVAL;
    if (max_tokens < 1)
        return snprintf(err, errlen, "max_tokens must be >= 1, got %lld", (long long)max_tokens), -EINVAL;
    SchedRequest *r = calloc(1, sizeof *r);
    int64_t cap = n_prompt + (max_tokens < 16 ? max_tokens : 16);
    if (r) r->tokens = malloc((size_t)cap * sizeof *r->tokens);
    if (!r || !r->tokens) {
        free(r);
        return snprintf(err, errlen, "out of memory queueing a request of %lld tokens", (long long)n_prompt), -ENOMEM;
    }
    memcpy(r->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    r->id = s->next_id++;
    r->state = REQ_STATE_WAITING;
    r->n_prompt = r->n_tokens = n_prompt;
    r->cap_tokens = cap;
    r->max_tokens = max_tokens;
    block_table_init(&r->table);
    waiting_push_back(s, r);
    *id = r->id;
    return 0;
}

int sched_finish_request(Scheduler *s, int64_t id, FinishReason reason) {
    SchedRequest *r = sched_lookup(s, id);
    if (!r) return -ENOENT;
    (void)reason; /* the engine reports it; the scheduler only lets go */
    sched_release_request(s, r);
    return 0;
}

int sched_abort(Scheduler *s, int64_t id) { return sched_finish_request(s, id, FINISH_ABORT); }

void sched_running_append(Scheduler *s, SchedRequest *r) {
    assert(s->n_running < s->cfg.max_num_seqs);
    r->state = REQ_STATE_RUNNING;
    s->running[s->n_running++] = r;
}

/* ---- one step ---- */

static void add_seq(Scheduler *s, SchedOutput *out, SchedRequest *r, int32_t n_new) {
    SchedSeq *q = &out->seqs[out->n_seqs++];
    q->req = r;
    q->id = r->id;
    q->start = (int32_t)r->num_computed;
    q->n_new = n_new;
    q->samples = r->num_computed + n_new == r->n_tokens;
    q->tokens = r->tokens;
    q->block_table = r->table.blocks;
    q->n_blocks = r->table.n_blocks;
    out->n_tokens += n_new;
    s->n_out_seqs = out->n_seqs;
}

static void preempt(Scheduler *s, SchedRequest *r, SchedOutput *out) {
    running_remove(s, r);
    release_blocks(s, r);
    r->state = REQ_STATE_PREEMPTED;
    r->n_preemptions++;
    s->num_preemptions++;
    waiting_push_front(s, r);
    out->preempted[out->n_preempted++] = r->id;
}

/* Try to admit the head of the waiting queue with at most budget tokens: 1 admitted, 0 not
 * (it stays at the head with no blocks), or -ENOMEM. */
static int admit_head(Scheduler *s, SchedOutput *out, int32_t budget) {
    SchedRequest *r = s->wait_head;
    int64_t cached = r->no_prefix_cache ? 0 : block_table_find_cached_prefix(s->pool, &r->table, r->tokens, r->n_tokens);
    if (cached < 0) return (int)cached;
    int64_t n_new = r->n_tokens - cached;
    if (!s->cfg.enable_chunked_prefill && n_new > budget) goto undo;
    if (n_new > budget) n_new = budget;
    int rc = block_table_allocate_slots(s->pool, &r->table, cached, n_new);
    if (rc == -ENOSPC) goto undo;
    if (rc) {
        block_table_free(s->pool, &r->table);
        return rc;
    }
    if (r->state == REQ_STATE_WAITING) { /* the metric is about prompts, not recomputation */
        r->num_cached_tokens = cached;
        if (block_pool_caching_enabled(s->pool)) block_pool_record_query(s->pool, r->n_tokens, cached);
    }
    r->num_computed = cached;
    waiting_remove(s, r);
    sched_running_append(s, r);
    add_seq(s, out, r, (int32_t)n_new);
    out->n_admitted++;
    return 1;
undo:
    block_table_free(s->pool, &r->table);
    return 0;
}

int sched_schedule(Scheduler *s, SchedOutput *out) {
    memset(out, 0, sizeof *out);
    out->seqs = s->seqs;
    out->preempted = s->preempted;
    out->finished = s->finished;
    s->n_out_seqs = 0;
    sched_copies_release(s); /* in case the last step was never reported */
    int32_t budget = s->cfg.max_num_batched_tokens;

    for (int i = 0; i < s->n_running && budget > 0;) {
        SchedRequest *r = s->running[i];
        int64_t n_new = r->n_tokens - r->num_computed;
        if (n_new <= 0) { /* nothing known to compute: its last step was not reported */
            i++;
            continue;
        }
        if (n_new > budget) n_new = budget; /* without chunking only decodes (n_new 1) are left here */
        int self = 0;
        while (!self && !block_table_can_allocate(s->pool, &r->table, r->num_computed, n_new)) {
            SchedRequest *victim = s->running[s->n_running - 1];
            self = victim == r;
            preempt(s, victim, out);
        }
        if (self) break; /* it was the last running request */
        int rc = block_table_allocate_slots(s->pool, &r->table, r->num_computed, n_new);
        if (rc) return rc;
        add_seq(s, out, r, (int32_t)n_new);
        budget -= (int32_t)n_new;
        i++;
    }

    /* A step that had to preempt is short of blocks: admitting now would only preempt again. */
    while (!out->n_preempted && s->wait_head && budget > 0 && s->n_running < s->cfg.max_num_seqs) {
        int rc = admit_head(s, out, budget);
        if (rc < 0) return rc;
        if (rc == 0) break;
        budget -= out->seqs[out->n_seqs - 1].n_new;
    }
    return sched_copies_emit(s, out);
}

static int append_token(SchedRequest *r, int32_t tok) {
    if (r->n_tokens == r->cap_tokens) {
        int64_t cap = r->cap_tokens * 2;
        int32_t *t = realloc(r->tokens, (size_t)cap * sizeof *t);
        if (!t) return -ENOMEM;
        r->tokens = t;
        r->cap_tokens = cap;
    }
    r->tokens[r->n_tokens++] = tok;
    return 0;
}

int sched_update_from_output(Scheduler *s, SchedOutput *out, const int32_t *sampled, const uint8_t *stopped) {
    out->n_finished = 0;
    sched_copies_release(s); /* the step ran, its copies with it: let go of their sources */
    for (int i = 0; i < out->n_seqs; i++) {
        SchedSeq *q = &out->seqs[i];
        SchedRequest *r = q->req;
        if (!r) continue;
        assert(r->state == REQ_STATE_RUNNING && r->num_computed == q->start);
        r->num_computed += q->n_new;
        block_table_cache_full_blocks(s->pool, &r->table, r->tokens, r->num_computed);
        if (!q->samples) continue;
        FinishReason why = FINISH_NONE;
        if (append_token(r, sampled[i])) why = FINISH_ABORT; /* fail the request, not the server */
        else if (stopped && stopped[i]) why = FINISH_STOP;
        else if (r->n_tokens - r->n_prompt >= r->max_tokens || r->n_tokens >= s->cfg.max_model_len)
            why = FINISH_LENGTH;
        if (why == FINISH_NONE) continue;
        out->finished[out->n_finished].id = r->id;
        out->finished[out->n_finished++].reason = why;
        sched_release_request(s, r); /* sets q->req = NULL */
    }
    return 0;
}

void sched_get_stats(const Scheduler *s, SchedStats *st) {
    BlockPoolStats ps;
    block_pool_get_stats(s->pool, &ps);
    st->num_running = s->n_running;
    st->num_waiting = s->n_waiting;
    st->num_preemptions = s->num_preemptions;
    st->prefix_cache_queries = ps.prefix_queries;
    st->prefix_cache_hits = ps.prefix_hits;
    st->kv_usage = ps.usage;
    st->num_free_blocks = ps.num_free;
}
