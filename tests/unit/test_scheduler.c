/* Scheduler tests, driven by a fake engine: each step is flattened with sched_build_batch,
 * the new tokens are written into a fake KV cache (one token id per slot) at the slot
 * mapping, every sequence's whole context is read back through its block table and must be
 * exactly its tokens, and the "model" samples a hash of the context it read. So a wrong
 * block table, a shared block overwritten, a bad prefix-cache hit or a missed fork copy
 * changes the outputs, and every output can be checked against the hash of the true tokens. */
#include <errno.h>

#include "scheduler/scheduler.h"
#include "tests/unit/test.h"

enum { MAX_REQ = 512, VOCAB = 50 };

static int32_t fake_next_token(const int32_t *ctx, int64_t n) {
    uint32_t h = 2166136261u;
    for (int64_t i = 0; i < n; i++) h = (h ^ (uint32_t)ctx[i]) * 16777619u;
    return (int32_t)(h % VOCAB);
}

typedef struct Sim {
    Scheduler *s;
    SchedConfig cfg;
    int32_t *kv;               /* [num_blocks * block_size] token id per slot, -1 never written */
    int32_t *toks[MAX_REQ];    /* what each request id should hold: prompt, then outputs */
    int64_t n_toks[MAX_REQ], n_prompt[MAX_REQ], max_tokens[MAX_REQ];
    int64_t first_checked[MAX_REQ]; /* outputs before this index are not the model's (fork) */
    FinishReason reason[MAX_REQ];
    int done[MAX_REQ];         /* 1 finished, 2 aborted */
    int admitted[MAX_REQ];
    int is_fork[MAX_REQ];
    int64_t run_order[MAX_REQ]; /* the running requests as the sim expects them, admission order */
    int n_run;
    int64_t wait_order[MAX_REQ]; /* the waiting queue as the sim expects it */
    int n_wait;
    int eos;                   /* this token ends a request (stopped), -1: none */
    int errors;                /* budget, cap, FCFS or KV-content violations */
    int64_t steps;
    /* batch arrays */
    int32_t *ids, *pos, *qs, *lens, *tables;
    int64_t *slots;
    int32_t max_blocks;
} Sim;

static int sim_create(Sim *m, const SchedConfig *c) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->eos = -1;
    char err[256];
    if (sched_create(c, &m->s, err, sizeof err)) {
        fprintf(stderr, "sched_create: %s\n", err);
        return -1;
    }
    int64_t n_slots = (int64_t)c->num_blocks * c->block_size;
    m->kv = malloc((size_t)n_slots * sizeof *m->kv);
    for (int64_t i = 0; i < n_slots; i++) m->kv[i] = -1;
    m->max_blocks = (c->max_model_len + c->block_size - 1) / c->block_size;
    m->ids = malloc((size_t)c->max_num_batched_tokens * sizeof *m->ids);
    m->pos = malloc((size_t)c->max_num_batched_tokens * sizeof *m->pos);
    m->slots = malloc((size_t)c->max_num_batched_tokens * sizeof *m->slots);
    m->qs = malloc(((size_t)c->max_num_seqs + 1) * sizeof *m->qs);
    m->lens = malloc((size_t)c->max_num_seqs * sizeof *m->lens);
    m->tables = malloc((size_t)c->max_num_seqs * m->max_blocks * sizeof *m->tables);
    return 0;
}

static void sim_destroy(Sim *m) {
    sched_destroy(m->s);
    for (int i = 0; i < MAX_REQ; i++) free(m->toks[i]);
    free(m->kv);
    free(m->ids);
    free(m->pos);
    free(m->slots);
    free(m->qs);
    free(m->lens);
    free(m->tables);
}

static void sim_track(Sim *m, int64_t id, const int32_t *toks, int64_t n, int64_t n_prompt, int64_t max_tokens) {
    m->toks[id] = malloc((size_t)(n_prompt + max_tokens + 1) * sizeof(int32_t));
    memcpy(m->toks[id], toks, (size_t)n * sizeof *toks);
    m->n_toks[id] = n;
    m->n_prompt[id] = n_prompt;
    m->max_tokens[id] = max_tokens;
    m->first_checked[id] = n;
}

static int64_t sim_add(Sim *m, const int32_t *prompt, int64_t n, int64_t max_tokens) {
    int64_t id = -1;
    char err[256];
    if (sched_add_request(m->s, prompt, n, max_tokens, &id, err, sizeof err)) return -1;
    if (id >= MAX_REQ) return -1;
    sim_track(m, id, prompt, n, n, max_tokens);
    m->wait_order[m->n_wait++] = id;
    return id;
}

static int64_t sim_add_random(Sim *m, unsigned long long *rng, int64_t min_len, int64_t max_len, int64_t max_tokens) {
    int32_t prompt[1024];
    int64_t n = min_len + (int64_t)(test_rng_next(rng) % (unsigned long long)(max_len - min_len + 1));
    for (int64_t i = 0; i < n; i++) prompt[i] = (int32_t)(test_rng_next(rng) % VOCAB);
    return sim_add(m, prompt, n, max_tokens);
}

static void list_remove(int64_t *list, int *n, int64_t id) {
    for (int i = 0; i < *n; i++)
        if (list[i] == id) {
            memmove(&list[i], &list[i + 1], (size_t)(*n - i - 1) * sizeof list[0]);
            (*n)--;
            return;
        }
}

static void sim_run_remove(Sim *m, int64_t id) { list_remove(m->run_order, &m->n_run, id); }

/* sched_abort, and the sim forgets the request */
static int sim_abort(Sim *m, int64_t id) {
    int rc = sched_abort(m->s, id);
    if (rc == 0) {
        sim_run_remove(m, id);
        list_remove(m->wait_order, &m->n_wait, id);
        m->done[id] = 2;
    }
    return rc;
}

#define SIM_ERR(m, ...) ((m)->errors++ < 10 ? (void)fprintf(stderr, "step %lld: " , (long long)(m)->steps), \
                         (void)fprintf(stderr, __VA_ARGS__), (void)fputc('\n', stderr) : (void)0)

/* One engine step. Returns the step's output (its arrays are the scheduler's). */
static SchedOutput sim_step(Sim *m) {
    SchedOutput out;
    const int bs = m->cfg.block_size;
    m->steps++;
    if (sched_schedule(m->s, &out)) SIM_ERR(m, "sched_schedule failed");
    if (out.n_tokens > m->cfg.max_num_batched_tokens) SIM_ERR(m, "%d tokens over the budget", out.n_tokens);
    if (out.n_seqs > m->cfg.max_num_seqs) SIM_ERR(m, "%d seqs over the cap", out.n_seqs);
    int bad_pool = block_pool_check(sched_block_pool(m->s));
    if (bad_pool) SIM_ERR(m, "pool invariant %d", bad_pool);
    /* each victim is the most recently admitted running request */
    for (int i = 0; i < out.n_preempted; i++) {
        if (!m->n_run || m->run_order[m->n_run - 1] != out.preempted[i])
            SIM_ERR(m, "preempted %lld, not the latest admitted", (long long)out.preempted[i]);
        sim_run_remove(m, out.preempted[i]);
        memmove(&m->wait_order[1], &m->wait_order[0], (size_t)m->n_wait * sizeof m->wait_order[0]);
        m->wait_order[0] = out.preempted[i], m->n_wait++; /* to the front */
    }
    for (int i = out.n_seqs - out.n_admitted; i < out.n_seqs; i++) { /* admitted from the front only */
        if (!m->n_wait || m->wait_order[0] != out.seqs[i].id)
            SIM_ERR(m, "admitted %lld, not the head of the queue", (long long)out.seqs[i].id);
        list_remove(m->wait_order, &m->n_wait, out.seqs[i].id);
    }
    if (out.n_preempted && out.n_admitted) SIM_ERR(m, "admitted %d in a step that preempted", out.n_admitted);
    /* running requests are served in admission order, before the new ones */
    for (int i = 0, j = 0; i < out.n_seqs - out.n_admitted; i++, j++) {
        while (j < m->n_run && m->run_order[j] != out.seqs[i].id) j++;
        if (j == m->n_run) SIM_ERR(m, "req %lld scheduled out of admission order", (long long)out.seqs[i].id);
    }
    for (int i = out.n_seqs - out.n_admitted; i < out.n_seqs; i++) m->run_order[m->n_run++] = out.seqs[i].id;
    /* first admissions in arrival order: everyone who came earlier is in already */
    for (int i = out.n_seqs - out.n_admitted; i < out.n_seqs; i++) {
        int64_t id = out.seqs[i].id;
        if (m->admitted[id]) continue;
        m->admitted[id] = 1;
        for (int64_t j = 0; j < id; j++)
            if (m->toks[j] && !m->is_fork[j] && !m->admitted[j] && m->done[j] != 2)
                SIM_ERR(m, "request %lld admitted before %lld", (long long)id, (long long)j);
    }
    /* copies of forks, before the forward pass */
    for (int i = 0; i < out.n_copies; i++)
        memcpy(m->kv + (int64_t)out.copies[i].dst * bs, m->kv + (int64_t)out.copies[i].src * bs,
               (size_t)bs * sizeof *m->kv);
    if (sched_build_batch(&out, bs, m->max_blocks, m->ids, m->pos, m->slots, m->qs, m->lens, m->tables))
        SIM_ERR(m, "sched_build_batch failed");
    for (int32_t t = 0; t < out.n_tokens; t++) m->kv[m->slots[t]] = m->ids[t]; /* kv_write */
    int32_t sampled[512];
    uint8_t stopped[512];
    int32_t ctx[1024];
    for (int b = 0; b < out.n_seqs; b++) {
        const SchedSeq *q = &out.seqs[b];
        int64_t id = q->id;
        if (q->samples != (q->start + q->n_new == m->n_toks[id])) SIM_ERR(m, "req %lld: samples flag", (long long)id);
        if (m->lens[b] != q->start + q->n_new || m->qs[b + 1] - m->qs[b] != q->n_new) SIM_ERR(m, "batch shape");
        if (!m->cfg.enable_chunked_prefill && q->start + q->n_new != m->n_toks[id])
            SIM_ERR(m, "req %lld: a chunk %d+%d of %lld without chunked prefill", (long long)id, q->start, q->n_new,
                    (long long)m->n_toks[id]);
        for (int32_t j = q->n_blocks; j < m->max_blocks; j++)
            if (m->tables[(int64_t)b * m->max_blocks + j] != BLOCK_POOL_NULL_BLOCK) SIM_ERR(m, "padding");
        for (int32_t p = 0; p < m->lens[b]; p++) { /* attention reads the whole context */
            int32_t blk = m->tables[(int64_t)b * m->max_blocks + p / bs];
            if (blk <= 0) {
                SIM_ERR(m, "req %lld: position %d in the null block", (long long)id, p);
                break;
            }
            ctx[p] = m->kv[(int64_t)blk * bs + p % bs];
            if (ctx[p] != m->toks[id][p]) {
                SIM_ERR(m, "req %lld: position %d reads %d, wants %d", (long long)id, p, ctx[p], m->toks[id][p]);
                break;
            }
        }
        sampled[b] = fake_next_token(ctx, m->lens[b]);
        stopped[b] = sampled[b] == m->eos;
    }
    sched_update_from_output(m->s, &out, sampled, stopped);
    for (int b = 0; b < out.n_seqs; b++)
        if (out.seqs[b].samples) {
            int64_t id = out.seqs[b].id;
            m->toks[id][m->n_toks[id]++] = sampled[b];
        }
    for (int i = 0; i < out.n_finished; i++) {
        sim_run_remove(m, out.finished[i].id);
        m->done[out.finished[i].id] = 1;
        m->reason[out.finished[i].id] = out.finished[i].reason;
    }
    return out;
}

/* Every finished request got the model's tokens and stopped for the right reason. */
static int sim_check_outputs(const Sim *m, int64_t id) {
    if (!m->done[id]) return 0;
    for (int64_t k = m->first_checked[id]; k < m->n_toks[id]; k++)
        if (m->toks[id][k] != fake_next_token(m->toks[id], k)) return 0;
    int64_t n_out = m->n_toks[id] - m->n_prompt[id];
    if (m->reason[id] == FINISH_STOP) return m->toks[id][m->n_toks[id] - 1] == m->eos;
    if (m->reason[id] != FINISH_LENGTH) return 0;
    return n_out == m->max_tokens[id] || m->n_toks[id] == m->cfg.max_model_len;
}

static SchedConfig small_config(int32_t num_blocks, int bs, int max_seqs, int32_t budget, int32_t max_len) {
    SchedConfig c;
    sched_config_default(&c);
    c.num_blocks = num_blocks;
    c.block_size = bs;
    c.max_num_seqs = max_seqs;
    c.max_num_batched_tokens = budget;
    c.max_model_len = max_len;
    return c;
}

static void test_config(void) {
    char err[256] = "";
    Scheduler *s;
    SchedConfig c = small_config(4, 16, 4, 64, 64); /* 3 usable blocks = 48 tokens < 64 */
    CHECK(sched_create(&c, &s, err, sizeof err) == -EINVAL && strstr(err, "max_model_len"), "%s", err);
    c.num_blocks = 5;
    c.enable_chunked_prefill = 0;
    c.max_num_batched_tokens = 32;
    CHECK(sched_create(&c, &s, err, sizeof err) == -EINVAL && strstr(err, "chunked"), "%s", err);
    c.enable_chunked_prefill = 1;
    CHECK(sched_create(&c, &s, err, sizeof err) == 0);
    int64_t id;
    int32_t p[64] = {0};
    CHECK(sched_add_request(s, p, 64, 1, &id, err, sizeof err) == -EINVAL, "no room for an output");
    CHECK(sched_add_request(s, p, 0, 1, &id, err, sizeof err) == -EINVAL);
    CHECK(sched_add_request(s, p, 5, 0, &id, err, sizeof err) == -EINVAL);
    CHECK(sched_add_request(s, p, 63, 1, &id, err, sizeof err) == 0 && id == 0);
    sched_destroy(s); /* with a request still waiting */
}

static void test_chunked_prefill(void) {
    Sim m;
    SchedConfig c = small_config(64, 16, 4, 32, 256);
    if (sim_create(&m, &c)) return;
    int32_t prompt[100];
    for (int i = 0; i < 100; i++) prompt[i] = i % VOCAB;
    int64_t id = sim_add(&m, prompt, 100, 3);
    const int32_t want_start[] = {0, 32, 64, 96, 100, 101}, want_new[] = {32, 32, 32, 4, 1, 1};
    for (int i = 0; i < 6; i++) {
        SchedOutput out = sim_step(&m);
        CHECK(out.n_seqs == 1 && out.seqs[0].id == id);
        CHECK(out.seqs[0].start == want_start[i] && out.seqs[0].n_new == want_new[i], "step %d: %d+%d", i,
              out.seqs[0].start, out.seqs[0].n_new);
        CHECK(out.seqs[0].samples == (i >= 3), "step %d: logits only after the whole prompt", i);
        CHECK(out.n_finished == (i == 5));
    }
    CHECK(sim_check_outputs(&m, id) && m.n_toks[id] == 103 && m.reason[id] == FINISH_LENGTH);
    SchedOutput out = sim_step(&m);
    CHECK(out.n_seqs == 0 && !sched_has_unfinished(m.s));
    CHECK(m.errors == 0);
    sim_destroy(&m);
}

static void test_fcfs_and_caps(void) {
    Sim m;
    SchedConfig c = small_config(64, 4, 2, 48, 128);
    if (sim_create(&m, &c)) return;
    unsigned long long rng = 7;
    int64_t ids[6];
    for (int i = 0; i < 6; i++) ids[i] = sim_add_random(&m, &rng, 20, 30, 4);
    SchedOutput out = sim_step(&m);
    /* request 0 whole, request 1 the rest of the budget, and the cap of 2 keeps 2..5 out */
    CHECK(out.n_seqs == 2 && out.seqs[0].id == ids[0] && out.seqs[1].id == ids[1] && out.n_admitted == 2);
    CHECK(out.seqs[0].n_new == m.n_prompt[ids[0]] && out.seqs[1].n_new == 48 - m.n_prompt[ids[0]]);
    SchedStats st;
    sched_get_stats(m.s, &st);
    CHECK(st.num_running == 2 && st.num_waiting == 4);
    for (int i = 0; i < 200 && sched_has_unfinished(m.s); i++) sim_step(&m);
    for (int i = 0; i < 6; i++) CHECK(sim_check_outputs(&m, ids[i]), "request %d", i);
    CHECK(m.errors == 0);
    sim_destroy(&m);
}

/* The FCFS check in sim_step only sees admissions; this follows them in order directly. */
static void test_admission_order(void) {
    Sim m;
    SchedConfig c = small_config(200, 4, 3, 64, 128);
    if (sim_create(&m, &c)) return;
    unsigned long long rng = 99;
    for (int i = 0; i < 12; i++) sim_add_random(&m, &rng, 5, 60, 1 + (int64_t)(test_rng_next(&rng) % 6));
    int64_t order[12], n = 0;
    while (sched_has_unfinished(m.s) && m.steps < 500) {
        SchedOutput out = sim_step(&m);
        for (int i = out.n_seqs - out.n_admitted; i < out.n_seqs; i++) order[n++] = out.seqs[i].id;
    }
    CHECK(n == 12);
    for (int i = 0; i < n; i++) CHECK(order[i] == i, "admission %d was request %lld", i, (long long)order[i]);
    for (int i = 0; i < 12; i++) CHECK(sim_check_outputs(&m, i));
    CHECK(m.errors == 0);
    sim_destroy(&m);
}

static void test_preemption(int caching, int chunked) {
    Sim m;
    /* 16 usable blocks of 4 = 64 tokens; 8 requests that want up to 60 each */
    SchedConfig c = small_config(17, 4, 8, 64, 64);
    c.enable_prefix_caching = caching;
    c.enable_chunked_prefill = chunked;
    if (sim_create(&m, &c)) return;
    unsigned long long rng = 1234 + (unsigned)caching * 2 + (unsigned)chunked;
    const int N = 8;
    for (int i = 0; i < N; i++) sim_add_random(&m, &rng, 8, 30, 20 + (int64_t)(test_rng_next(&rng) % 11));
    int max_running = 0;
    while (sched_has_unfinished(m.s) && m.steps < 5000) {
        sim_step(&m);
        SchedStats st;
        sched_get_stats(m.s, &st);
        if (st.num_running > max_running) max_running = st.num_running;
    }
    SchedStats st;
    sched_get_stats(m.s, &st);
    CHECK(!sched_has_unfinished(m.s), "stuck after %lld steps", (long long)m.steps);
    CHECK(st.num_preemptions > 0, "a 64-token pool must preempt");
    CHECK(max_running > 1);
    for (int i = 0; i < N; i++) {
        CHECK(sim_check_outputs(&m, i), "request %d (caching %d, chunked %d)", i, caching, chunked);
        CHECK(m.n_toks[i] - m.n_prompt[i] == m.max_tokens[i], "request %d: exactly max_tokens outputs", i);
    }
    CHECK(st.num_running == 0 && st.num_waiting == 0 && st.num_free_blocks == 16 && st.kv_usage == 0.0);
    CHECK(m.errors == 0);
    sim_destroy(&m);
}

static void test_prefix_caching(void) {
    Sim m;
    SchedConfig c = small_config(64, 4, 4, 256, 128);
    if (sim_create(&m, &c)) return;
    int32_t p[48];
    for (int i = 0; i < 48; i++) p[i] = (i * 7) % VOCAB;
    int64_t a = sim_add(&m, p, 40, 2);
    while (sched_has_unfinished(m.s)) sim_step(&m);
    /* shares A's first 37 tokens: 9 full blocks = 36 tokens cached, its 12-token rest computed */
    int32_t q[48];
    memcpy(q, p, sizeof q);
    for (int i = 37; i < 48; i++) q[i] = 49 - i;
    int64_t b = sim_add(&m, q, 48, 2);
    SchedOutput out = sim_step(&m);
    CHECK(out.n_seqs == 1 && out.seqs[0].id == b && out.seqs[0].start == 36 && out.seqs[0].n_new == 12);
    const SchedRequest *r = sched_find_request(m.s, b);
    CHECK(r && r->num_cached_tokens == 36 && r->num_computed == 48);
    while (sched_has_unfinished(m.s)) sim_step(&m);
    /* the same prompt again: everything but the last block (the last token must produce logits) */
    int64_t a2 = sim_add(&m, p, 40, 1);
    out = sim_step(&m);
    CHECK(out.seqs[0].id == a2 && out.seqs[0].start == 36 && out.seqs[0].n_new == 4);
    while (sched_has_unfinished(m.s)) sim_step(&m);
    /* blocks are findable as soon as a step has filled them, while their owner still runs */
    int32_t r3[25];
    for (int i = 0; i < 25; i++) r3[i] = (i * 13 + 5) % VOCAB;
    int64_t c3 = sim_add(&m, r3, 20, 3);
    sim_step(&m);
    int64_t d3 = sim_add(&m, r3, 25, 1);
    out = sim_step(&m);
    CHECK(out.n_seqs == 2 && out.seqs[0].id == c3 && out.seqs[1].id == d3 && out.seqs[1].start == 20 &&
          out.seqs[1].n_new == 5, "%d+%d", out.seqs[1].start, out.seqs[1].n_new);
    while (sched_has_unfinished(m.s)) sim_step(&m);
    SchedStats st;
    sched_get_stats(m.s, &st);
    CHECK(st.prefix_cache_queries == 40 + 48 + 40 + 20 + 25 && st.prefix_cache_hits == 36 + 36 + 20, "%lld / %lld",
          (long long)st.prefix_cache_hits, (long long)st.prefix_cache_queries);
    CHECK(sim_check_outputs(&m, a) && sim_check_outputs(&m, b) && sim_check_outputs(&m, a2) &&
          sim_check_outputs(&m, c3) && sim_check_outputs(&m, d3));
    CHECK(m.errors == 0);
    sim_destroy(&m);
}

static void test_fork(void) {
    Sim m;
    SchedConfig c = small_config(32, 4, 4, 64, 64);
    if (sim_create(&m, &c)) return;
    int32_t p[10];
    for (int i = 0; i < 10; i++) p[i] = i + 3;
    int64_t a = sim_add(&m, p, 10, 5);
    sim_step(&m); /* prefill, one token sampled */
    int64_t kids[2];
    for (int k = 0; k < 2; k++) {
        int32_t first = (m.toks[a][10] + 1 + k) % VOCAB; /* another draw from the same logits */
        CHECK(sched_fork_request(m.s, a, first, &kids[k]) == 0);
        int32_t toks[11];
        memcpy(toks, p, sizeof p);
        toks[10] = first;
        sim_track(&m, kids[k], toks, 11, 10, 5);
        m.is_fork[kids[k]] = m.admitted[kids[k]] = 1;
        m.run_order[m.n_run++] = kids[k];
    }
    const SchedRequest *pa = sched_find_request(m.s, a), *pk = sched_find_request(m.s, kids[0]);
    CHECK(pk && pk->n_tokens == 11 && pk->num_computed == 10 && pk->state == REQ_STATE_RUNNING);
    CHECK(pk->table.blocks[0] == pa->table.blocks[0] && pk->table.blocks[1] == pa->table.blocks[1]);
    CHECK(pk->table.blocks[2] != pa->table.blocks[2], "the partial block is not shared");
    BlockPool *pool = sched_block_pool(m.s);
    CHECK(block_pool_ref_count(pool, pa->table.blocks[0]) == 3);
    CHECK(block_pool_ref_count(pool, pa->table.blocks[2]) == 3, "the parent, and the two pending copies");
    int32_t src = pa->table.blocks[2], dst0 = pk->table.blocks[2];
    SchedOutput out = sim_step(&m);
    CHECK(out.n_copies == 2 && out.copies[0].src == src && out.copies[0].dst == dst0);
    CHECK(out.n_seqs == 3 && out.n_tokens == 3);
    CHECK(block_pool_ref_count(pool, src) == 1, "copy sources let go once the step ran");
    while (sched_has_unfinished(m.s)) sim_step(&m);
    CHECK(sim_check_outputs(&m, a) && sim_check_outputs(&m, kids[0]) && sim_check_outputs(&m, kids[1]));
    CHECK(m.n_toks[kids[0]] == 15 && m.toks[kids[0]][10] != m.toks[a][10]);
    CHECK(sched_fork_request(m.s, a, 0, &kids[0]) == -ENOENT);

    /* a child aborted before its copy was emitted: the copy is dropped, its source let go,
     * and a later fork that reuses the freed block gets the only copy into it */
    int64_t e = sim_add(&m, p, 10, 5), f = sim_add(&m, p, 9, 5), k1, k2;
    sim_step(&m);
    CHECK(sched_fork_request(m.s, e, 1, &k1) == 0);
    int32_t d1 = sched_find_request(m.s, k1)->table.blocks[2];
    CHECK(sim_abort(&m, k1) == 0);
    CHECK(block_pool_ref_count(pool, sched_find_request(m.s, e)->table.blocks[2]) == 1);
    CHECK(sched_fork_request(m.s, f, 2, &k2) == 0);
    int32_t t2[10];
    memcpy(t2, p, 9 * sizeof *p);
    t2[9] = 2;
    sim_track(&m, k2, t2, 10, 9, 5);
    m.is_fork[k2] = m.admitted[k2] = 1;
    m.run_order[m.n_run++] = k2;
    CHECK(sched_find_request(m.s, k2)->table.blocks[2] == d1, "the freed block is reused first");
    out = sim_step(&m);
    CHECK(out.n_copies == 1 && out.copies[0].dst == d1 &&
          out.copies[0].src == sched_find_request(m.s, f)->table.blocks[2]);
    while (sched_has_unfinished(m.s)) sim_step(&m);
    CHECK(sim_check_outputs(&m, e) && sim_check_outputs(&m, f) && sim_check_outputs(&m, k2));
    CHECK(block_pool_num_free(pool) == 31 && m.errors == 0);
    sim_destroy(&m);
}

static void test_abort_and_stop(void) {
    Sim m;
    SchedConfig c = small_config(40, 4, 2, 16, 100);
    if (sim_create(&m, &c)) return;
    unsigned long long rng = 5;
    int64_t ids[4];
    for (int i = 0; i < 4; i++) ids[i] = sim_add_random(&m, &rng, 10, 20, 50);
    sim_step(&m);
    CHECK(sim_abort(&m, ids[0]) == 0, "running, mid-prefill");
    CHECK(sim_abort(&m, ids[3]) == 0, "waiting");
    CHECK(sim_abort(&m, ids[3]) == -ENOENT);
    CHECK(sched_find_request(m.s, ids[3]) == NULL);
    sim_step(&m);
    sim_step(&m);
    CHECK(sched_finish_request(m.s, ids[1], FINISH_STOP) == 0, "a stop string");
    sim_run_remove(&m, ids[1]);
    m.done[ids[1]] = 1;
    m.eos = 0;
    while (sched_has_unfinished(m.s) && m.steps < 1000) sim_step(&m);
    CHECK(m.reason[ids[2]] == FINISH_STOP ? m.toks[ids[2]][m.n_toks[ids[2]] - 1] == 0 : sim_check_outputs(&m, ids[2]));
    /* length limit from max_model_len: 96 + 4 = 100 */
    int32_t p[96] = {1};
    int64_t l = sim_add(&m, p, 96, 50);
    m.eos = -1;
    while (sched_has_unfinished(m.s)) sim_step(&m);
    CHECK(sim_check_outputs(&m, l) && m.n_toks[l] == 100 && m.reason[l] == FINISH_LENGTH);
    CHECK(block_pool_num_free(sched_block_pool(m.s)) == 39 && m.errors == 0);
    sim_destroy(&m);
}

/* Random traffic: arrivals, aborts, forks, EOS, over pools small enough to preempt, with
 * every combination of prefix caching and chunked prefill. */
static void test_random_traffic(unsigned long long seed, int caching, int chunked) {
    Sim m;
    unsigned long long rng = seed;
    int bs = 1 + (int)(test_rng_next(&rng) % 8);
    int32_t max_len = 48 + (int32_t)(test_rng_next(&rng) % 80);
    int32_t num_blocks = (max_len + bs - 1) / bs + 1 + (int32_t)(test_rng_next(&rng) % 40);
    SchedConfig c = small_config(num_blocks, bs, 1 + (int)(test_rng_next(&rng) % 8),
                                 chunked ? 8 + (int32_t)(test_rng_next(&rng) % 64) : max_len, max_len);
    c.enable_prefix_caching = caching;
    c.enable_chunked_prefill = chunked;
    if (sim_create(&m, &c)) return;
    m.eos = 3;
    int32_t shared[128];
    for (int i = 0; i < 128; i++) shared[i] = (int32_t)(test_rng_next(&rng) % VOCAB);
    int64_t n_req = 0;
    for (int step = 0; step < 600 || sched_has_unfinished(m.s); step++) {
        if (step > 20000) break;
        if (step < 600 && n_req < 150 && test_rng_next(&rng) % 3 == 0) { /* arrival, often sharing a prefix */
            int32_t prompt[128];
            int64_t n = 1 + (int64_t)(test_rng_next(&rng) % (unsigned long long)(max_len - 1));
            int64_t n_shared = test_rng_next(&rng) % 2 ? (int64_t)(test_rng_next(&rng) % (unsigned long long)n) : 0;
            for (int64_t i = 0; i < n; i++)
                prompt[i] = i < n_shared ? shared[i] : (int32_t)(test_rng_next(&rng) % VOCAB);
            if (sim_add(&m, prompt, n, 1 + (int64_t)(test_rng_next(&rng) % 40)) >= 0) n_req++;
        }
        if (test_rng_next(&rng) % 40 == 0 && n_req) { /* abort someone */
            int64_t id = (int64_t)(test_rng_next(&rng) % (unsigned long long)n_req);
            sim_abort(&m, id);
        }
        SchedOutput out = sim_step(&m);
        for (int b = 0; b < out.n_seqs && n_req < MAX_REQ - 1; b++) { /* n > 1: fork at the first token */
            const SchedSeq *q = &out.seqs[b];
            if (!q->req || !q->samples || m.is_fork[q->id] || q->start + q->n_new != m.n_prompt[q->id] ||
                test_rng_next(&rng) % 3)
                continue;
            int64_t id = q->id, kid;
            int32_t first = (m.toks[id][m.n_toks[id] - 1] + 1) % VOCAB;
            if (first == m.eos) continue;
            int rc = sched_fork_request(m.s, id, first, &kid);
            if (rc == 0) {
                const SchedRequest *k = sched_find_request(m.s, kid);
                sim_track(&m, kid, m.toks[id], k->num_computed, m.n_prompt[id], m.max_tokens[id]);
                m.toks[kid][m.n_toks[kid]++] = first;
                m.first_checked[kid] = m.n_toks[kid];
                m.is_fork[kid] = m.admitted[kid] = 1; /* runs at once; a preemption later is no admission */
                m.run_order[m.n_run++] = kid;
                n_req = kid + 1;
            } else if (rc != -EBUSY && rc != -ENOSPC) {
                SIM_ERR(&m, "fork: %d", rc);
            }
        }
    }
    SchedStats st;
    sched_get_stats(m.s, &st);
    int bad = 0;
    for (int64_t id = 0; id < n_req; id++)
        if (m.done[id] != 2 && !sim_check_outputs(&m, id)) bad++;
    CHECK(bad == 0 && m.errors == 0 && !sched_has_unfinished(m.s), "seed %llx: %d bad requests, %d errors",
          seed, bad, m.errors);
    CHECK(st.num_free_blocks == num_blocks - 1 && block_pool_check(sched_block_pool(m.s)) == 0, "every block back");
    sim_destroy(&m);
}

static void test_slot_mapping(void) {
    int64_t slots[6];
    sched_build_slot_mapping((int32_t[]){7, 2, 9}, 4, 3, 6, slots);
    const int64_t want[] = {31, 8, 9, 10, 11, 36};
    CHECK(!memcmp(slots, want, sizeof want));
}

int main(void) {
    test_config();
    test_slot_mapping();
    test_chunked_prefill();
    test_fcfs_and_caps();
    test_admission_order();
    for (int caching = 0; caching <= 1; caching++)
        for (int chunked = 0; chunked <= 1; chunked++) test_preemption(caching, chunked);
    test_prefix_caching();
    test_fork();
    test_abort_and_stop();
    for (unsigned long long seed = 1; seed <= 32; seed++)
        test_random_traffic(seed * 0x2545f4914f6cdd1dull, (int)(seed & 1), (int)((seed >> 1) & 1));
    return TEST_SUMMARY();
}
