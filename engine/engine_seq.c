/* The engine's bookkeeping: the id -> sequence map, per-sequence state (sampler, stop
 * strings, detokenizer, output text) and the outputs a step reports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/hash.h"
#include "engine/engine_internal.h"

double engine_now(void) { return base_now(); }

void engine_args_default(EngineArgs *a) {
    memset(a, 0, sizeof *a);
    backend_options_default(&a->backend);
    a->kv_cache_dtype = KV_CACHE_DTYPE_AUTO;
    a->max_num_seqs = 256;
    a->max_num_batched_tokens = 2048;
    a->block_size = 16;
    a->enable_prefix_caching = 1;
    a->enable_chunked_prefill = 1;
    a->gpu_memory_utilization = 0.9f;
    a->log_stats = 1;
    a->log_interval_s = 5.0;
    a->dtype = DT_COUNT;
}

void request_params_default(RequestParams *p) {
    memset(p, 0, sizeof *p);
    sampling_params_default(&p->sampling);
    p->n = 1;
    p->skip_special_tokens = 1;
    p->prompt_logprobs = -1;
}

/* ---- id map ---- */

static size_t seqmap_slot(int64_t key, size_t cap) { return (size_t)hash_mix64((uint64_t)key) & (cap - 1); }

int seqmap_put(SeqMap *m, int64_t key, EngineSeq *v) {
    if ((m->used + 1) * 2 > m->cap) { /* grow (or clean tombstones) at half load */
        size_t cap = m->cap ? m->cap : 64;
        while ((m->n + 1) * 4 > cap) cap *= 2;
        SeqMap g = {malloc(cap * sizeof *g.keys), malloc(cap * sizeof *g.vals), cap, 0, 0};
        if (!g.keys || !g.vals) return free(g.keys), free(g.vals), -1;
        for (size_t i = 0; i < cap; i++) g.keys[i] = -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i] >= 0) seqmap_put(&g, m->keys[i], m->vals[i]);
        seqmap_free(m);
        *m = g;
    }
    size_t i = seqmap_slot(key, m->cap);
    while (m->keys[i] >= 0) i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == -1) m->used++;
    m->keys[i] = key;
    m->vals[i] = v;
    m->n++;
    return 0;
}

EngineSeq *seqmap_get(const SeqMap *m, int64_t key) {
    if (!m->cap) return NULL;
    for (size_t i = seqmap_slot(key, m->cap); m->keys[i] != -1; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == key) return m->vals[i];
    return NULL;
}

void seqmap_del(SeqMap *m, int64_t key) {
    if (!m->cap) return;
    for (size_t i = seqmap_slot(key, m->cap); m->keys[i] != -1; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == key) {
            m->keys[i] = -2;
            m->n--;
            return;
        }
}

void seqmap_free(SeqMap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- sequences ---- */

EngineSeq *engine_seq_new(const Engine *e, const RequestParams *p, int index, char *err, size_t errlen) {
    EngineSeq *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errlen, "out of memory"), NULL;
    s->params = *p;
    s->index = index;
    s->stop_token = -1;
    size_t total = 0;
    for (int i = 0; i < p->n_stop; i++) total += strlen(p->stop[i]) + 1;
    s->stop_buf = malloc(total + 1);
    char *w = s->stop_buf;
    for (int i = 0; w && i < p->n_stop; i++) {
        size_t n = strlen(p->stop[i]);
        memcpy(w, p->stop[i], n + 1);
        s->params.stop[i] = w;
        w += n + 1;
        if (n > s->max_stop_len) s->max_stop_len = n;
    }
    SamplingParams sp = p->sampling;
    if (sp.has_seed) sp.seed += (uint64_t)index; /* n samples of one seeded request: reproducible, distinct */
    if (p->n_logit_bias > 0) {
        s->bias = malloc((size_t)p->n_logit_bias * sizeof *s->bias);
        if (s->bias) memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
        s->params.logit_bias = s->bias;
    }
    s->params.constraint = NULL; /* the matcher holds the reference */
    int bad = !s->stop_buf || (p->n_logit_bias > 0 && !s->bias);
    if (!bad && p->constraint && constraint_matcher_create(p->constraint, e->vocab, &s->matcher)) bad = 1;
    if (bad || sampler_init_shared(&s->sampler, &sp, e->tm.model->cfg.vocab_size, e->scratch)) {
        engine_seq_free(s);
        return snprintf(err, errlen, "out of memory"), NULL;
    }
    detok_init(&s->detok);
    return s;
}

void engine_seq_free(EngineSeq *s) {
    if (!s) return;
    sampler_free(&s->sampler);
    constraint_matcher_destroy(s->matcher);
    free(s->bias);
    free(s->prompt_lps);
    free(s->stop_buf);
    free(s->text);
    free(s);
}

static int grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p) return -1;
    *arr = p, *cap = c;
    return 0;
}

int engine_defer_free(Engine *e, EngineSeq *s) {
    if (grow((void **)&e->dead, &e->cap_dead, e->n_dead + 1, sizeof *e->dead)) return -1;
    e->dead[e->n_dead++] = s;
    return 0;
}

int engine_push_output(Engine *e, EngineSeq *s) {
    if (grow((void **)&e->outs, &e->cap_outs, e->n_outs + 1, sizeof *e->outs)) return -1;
    EngineOutput *o = &e->outs[e->n_outs++];
    /* text up to what may be emitted: while running, hold back what could still become a
     * stop string, and never split a UTF-8 character */
    size_t end = s->text_len;
    if (!s->finish && s->max_stop_len > 1) {
        end = end > s->max_stop_len - 1 ? end - (s->max_stop_len - 1) : 0;
        while (end > s->emitted && ((unsigned char)s->text[end] & 0xC0) == 0x80) end--;
    }
    if (end < s->emitted) end = s->emitted;
    *o = (EngineOutput){.request_id = s->req_id,
                        .index = s->index,
                        .new_tokens = s->step_tokens,
                        .new_logprobs = s->params.sampling.logprobs >= 0 ? s->step_lps : NULL,
                        .n_new = s->n_step,
                        .text = s->text ? s->text + s->emitted : "",
                        .text_len = end - s->emitted,
                        .finish = s->finish,
                        .stop_reason = s->stop_reason,
                        .stop_token = s->stop_token,
                        .n_prompt_tokens = s->n_prompt,
                        .n_output_tokens = s->n_out,
                        .n_cached_tokens = s->n_cached,
                        .logits = s->step_logits,
                        .prompt_logprobs = s->prompt_lps && !s->prompt_lps_sent && s->n_out > 0 ? s->prompt_lps : NULL,
                        .error = s->error,
                        .t_arrival = s->t_arrival,
                        .t_first_scheduled = s->t_first_sched,
                        .t_first_token = s->t_first_token,
                        .t_now = engine_now()};
    s->emitted = end;
    if (o->prompt_logprobs) s->prompt_lps_sent = 1;
    if (s->finish) s->reported = 1;
    return 0;
}
