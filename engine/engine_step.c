/* One engine step:
 *   schedule → copy forked blocks → flatten → forward → sample → scheduler update
 *   → forks (n > 1) → detokenize, stop strings → outputs
 * and vLLM's periodic throughput line. The sampling of every sequence reads only its own
 * logits row, and the kernels compute each row independently of the others in the batch,
 * so a request's tokens do not depend on what else is running (tests/unit/test_engine.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

/* Room for one more token's text (and a flush) at the end of s->text. */
static int text_reserve(Engine *e, EngineSeq *s) {
    size_t need = s->text_len + detok_max_bytes(e->tm.tok) + 16;
    if (need <= s->text_cap) return 0;
    size_t cap = s->text_cap ? s->text_cap : 256;
    while (cap < need) cap *= 2;
    char *t = realloc(s->text, cap);
    if (!t) return -1;
    s->text = t, s->text_cap = cap;
    return 0;
}

/* Decode the step's token into the text, flush at the end, and look for stop strings in
 * the part of the text that the new bytes could complete. Returns 1 when a stop string
 * ended the sequence. */
static int absorb_text(Engine *e, EngineSeq *s, int32_t id) {
    if (text_reserve(e, s)) return 0;
    size_t old = s->text_len;
    if (s->stop_token < 0) /* a stop token id is not part of the text */
        s->text_len += detok_push(e->tm.tok, &s->detok, id, s->text + s->text_len, s->text_cap - s->text_len - 1);
    if (s->finish) s->text_len += detok_flush(&s->detok, s->text + s->text_len, s->text_cap - s->text_len - 1);
    s->text[s->text_len] = 0;
    if (s->finish == FINISH_STOP || s->finish == FINISH_ABORT || s->params.n_stop == 0 ||
        s->n_out < s->params.min_tokens)
        return 0;
    size_t from = old > s->max_stop_len ? old - s->max_stop_len + 1 : 0;
    size_t best = (size_t)-1;
    const char *which = NULL;
    for (int i = 0; i < s->params.n_stop; i++) {
        const char *hit = strstr(s->text + from, s->params.stop[i]);
        if (hit && (size_t)(hit - s->text) < best) best = (size_t)(hit - s->text), which = s->params.stop[i];
    }
    if (!which) return 0;
    s->text_len = best < s->emitted ? s->emitted : best; /* the stop string is not emitted */
    s->text[s->text_len] = 0;
    s->finish = FINISH_STOP;
    s->stop_reason = which;
    return 1;
}

static void mask_until_min_tokens(Engine *e, EngineSeq *s, float *row) {
    int V = e->tm.model->cfg.vocab_size;
    for (int v = 0; v < V && !s->params.ignore_eos; v++)
        if (tokenizer_is_eog(e->tm.tok, v)) row[v] = -INFINITY;
    for (int j = 0; j < s->params.n_stop_token_ids; j++) {
        int32_t v = s->params.stop_token_ids[j];
        if (v >= 0 && v < V) row[v] = -INFINITY;
    }
}

static int is_stop(const Engine *e, EngineSeq *s, int32_t id) {
    for (int j = 0; j < s->params.n_stop_token_ids; j++)
        if (s->params.stop_token_ids[j] == id) {
            s->stop_token = id;
            return 1;
        }
    return !s->params.ignore_eos && tokenizer_is_eog(e->tm.tok, id);
}

/* Record a sampled token in s (not yet its text). Returns whether it stops the sequence. */
static int take_token(Engine *e, EngineSeq *s, int32_t id, double now) {
    s->step_tokens[0] = id;
    s->n_step = 1;
    if (s->n_out++ == 0) s->t_first_token = now;
    e->stats.generation_tokens_total++;
    return is_stop(e, s, id);
}

/* n > 1: the children of `p` sampled their first tokens from the parent's first logits.
 * A child that is already done (its token stops it, or max_tokens is 1) needs no KV at all;
 * the others are forked in the scheduler, sharing the prompt's blocks. */
static void make_forks(Engine *e, EngineSeq *p, EngineSeq **kids, int n_kids) {
    char err[256];
    for (int c = 0; c < n_kids; c++) {
        EngineSeq *k = kids[c];
        int32_t first = k->step_tokens[0];
        int64_t cid = 0;
        k->req_id = p->req_id;
        k->n_cached = p->n_cached;
        k->t_arrival = p->t_arrival;
        k->t_first_sched = p->t_first_sched;
        if (!k->finish && k->params.max_tokens > 0 && k->n_out >= k->params.max_tokens) k->finish = FINISH_LENGTH;
        if (!k->finish && sched_fork_request(e->sched, p->sched_id, first, &cid) != 0) {
            /* no room to fork now: run the prompt as a request of its own (the prefix cache
             * shares its blocks); it samples its own first token */
            const SchedRequest *r = sched_find_request(e->sched, p->sched_id);
            k->n_step = 0, k->n_out = 0;
            e->stats.generation_tokens_total--;
            int64_t room = e->tm.max_model_len - p->n_prompt, mt = p->params.max_tokens;
            if (r && sched_add_request(e->sched, r->tokens, p->n_prompt, mt > 0 && mt < room ? mt : room, &cid, err,
                                       sizeof err) == 0) {
                k->sched_id = cid;
                if (seqmap_put(&e->seqs, cid, k) == 0) continue;
                sched_abort(e->sched, cid);
            }
            k->finish = FINISH_ABORT;
        } else if (!k->finish) {
            k->sched_id = cid;
            if (seqmap_put(&e->seqs, cid, k)) {
                sched_abort(e->sched, cid);
                k->finish = FINISH_ABORT;
            }
        }
        FinishReason before = k->finish;
        if (absorb_text(e, k, first) && !before) sched_finish_request(e->sched, cid, FINISH_STOP);
        engine_push_output(e, k);
        if (k->finish) {
            if (k->sched_id) seqmap_del(&e->seqs, k->sched_id);
            engine_defer_free(e, k);
        }
    }
}

static void log_stats(Engine *e, double now) {
    double dt = now - e->last_log_t;
    if (!e->args.log_stats || dt < e->args.log_interval_s) return;
    EngineStats st;
    engine_get_stats(e, &st);
    fprintf(stderr,
            "piston: Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, Running: %d reqs, "
            "Waiting: %d reqs, KV cache usage: %.1f%%, Prefix cache hit rate: %.1f%%\n",
            (st.prompt_tokens_total - e->last_log_prompt) / dt, (st.generation_tokens_total - e->last_log_gen) / dt,
            st.num_running, st.num_waiting, 100.0 * st.kv_usage,
            st.prefix_cache_queries ? 100.0 * st.prefix_cache_hits / st.prefix_cache_queries : 0.0);
    e->last_log_t = now;
    e->last_log_prompt = st.prompt_tokens_total;
    e->last_log_gen = st.generation_tokens_total;
}

int engine_step(Engine *e, const EngineOutput **outs, int *n_outs) {
    for (int i = 0; i < e->n_dead; i++) engine_seq_free(e->dead[i]);
    e->n_dead = 0;
    e->n_outs = 0;
    *outs = NULL, *n_outs = 0;
    for (int i = 0; i < e->n_aborted; i++) {
        engine_push_output(e, e->aborted[i]);
        engine_defer_free(e, e->aborted[i]);
    }
    e->n_aborted = 0;

    SchedOutput so;
    if (sched_schedule(e->sched, &so)) return -1;
    const double t_start = engine_now(); /* first scheduled: before this step's forward pass */
    if (so.n_seqs > 0) {
        if (so.n_copies > 0) {
            int32_t *src = realloc(e->copy_src, (size_t)so.n_copies * sizeof *src);
            if (src) e->copy_src = src;
            int32_t *dst = realloc(e->copy_dst, (size_t)so.n_copies * sizeof *dst);
            if (dst) e->copy_dst = dst;
            if (!src || !dst) return -1;
            for (int i = 0; i < so.n_copies; i++) src[i] = so.copies[i].src, dst[i] = so.copies[i].dst;
            e->be->ops->kv_copy_blocks(e->be, &e->kv, src, dst, so.n_copies);
        }
        if (sched_build_batch(&so, e->args.block_size, e->max_blocks_per_seq, e->tokens, e->positions, e->slots,
                              e->query_start, e->seq_lens, e->block_tables))
            return -1;
        Batch b = {.tokens = e->tokens,
                   .positions = e->positions,
                   .attn = {.T = so.n_tokens,
                            .B = so.n_seqs,
                            .query_start = e->query_start,
                            .seq_lens = e->seq_lens,
                            .block_tables = e->block_tables,
                            .max_blocks_per_seq = e->max_blocks_per_seq,
                            .slot_mapping = e->slots}};
        if (model_forward(e->tm.model, e->be, &e->kv, &b, &e->scratch, e->logits)) return -1;
        e->stats.steps++;
    }
    double now = engine_now();
    const int V = e->tm.model->cfg.vocab_size;
    EngineSeq *parents[64];
    EngineSeq **kids[64];
    int n_kids[64], n_parents = 0;
    for (int i = 0; i < so.n_seqs; i++) {
        SchedSeq *q = &so.seqs[i];
        e->sampled[i] = 0, e->stopped[i] = 0;
        EngineSeq *s = q->req ? seqmap_get(&e->seqs, q->id) : NULL;
        if (!s) continue;
        if (s->t_first_sched == 0) s->t_first_sched = t_start;
        if (q->start < s->n_prompt) {
            int64_t end = q->start + q->n_new < s->n_prompt ? q->start + q->n_new : s->n_prompt;
            e->stats.prompt_tokens_total += end - q->start;
        }
        if (s->n_out == 0) s->n_cached = (int)q->req->num_cached_tokens;
        s->n_step = 0;
        if (!q->samples) continue;
        float *row = e->logits + (size_t)i * V;
        if (s->n_out < s->params.min_tokens) mask_until_min_tokens(e, s, row);
        SampleResult *lp = s->params.sampling.logprobs >= 0 ? &s->step_lps[0] : NULL;
        int32_t id = sampler_sample(&s->sampler, row, q->tokens, s->n_prompt, q->tokens + s->n_prompt, s->n_out, lp);
        if (s->children_pending > 0 && s->n_out == 0 && n_parents < 64) {
            /* the children's first tokens come from the same logits, each with its own sampler */
            int nk = s->children_pending;
            EngineSeq **ks = calloc((size_t)nk, sizeof *ks);
            char err[128];
            for (int c = 0; ks && c < nk; c++) {
                ks[c] = engine_seq_new(e, &s->params, c + 1, err, sizeof err);
                if (!ks[c]) {
                    nk = c;
                    break;
                }
                SampleResult *klp = s->params.sampling.logprobs >= 0 ? &ks[c]->step_lps[0] : NULL;
                int32_t kid = sampler_sample(&ks[c]->sampler, row, q->tokens, s->n_prompt, NULL, 0, klp);
                ks[c]->n_prompt = s->n_prompt;
                if (take_token(e, ks[c], kid, now)) ks[c]->finish = FINISH_STOP;
            }
            s->children_pending = 0;
            parents[n_parents] = s, kids[n_parents] = ks, n_kids[n_parents++] = ks ? nk : 0;
        }
        e->sampled[i] = id;
        int stop = take_token(e, s, id, now);
        if (stop) s->finish = FINISH_STOP;
        /* a parent with forks still to make must stay alive through the update */
        e->stopped[i] = (uint8_t)(stop && !(n_parents > 0 && parents[n_parents - 1] == s));
    }
    if (so.n_seqs > 0 && sched_update_from_output(e->sched, &so, e->sampled, e->stopped)) return -1;
    for (int f = 0; f < so.n_finished; f++) {
        EngineSeq *s = seqmap_get(&e->seqs, so.finished[f].id);
        if (s && !s->finish) s->finish = so.finished[f].reason;
    }
    for (int p = 0; p < n_parents; p++) {
        make_forks(e, parents[p], kids[p], n_kids[p]);
        free(kids[p]);
        if (parents[p]->finish == FINISH_STOP) sched_finish_request(e->sched, parents[p]->sched_id, FINISH_STOP);
    }
    for (int i = 0; i < so.n_seqs; i++) {
        EngineSeq *s = seqmap_get(&e->seqs, so.seqs[i].id);
        if (!s || s->n_step == 0) continue;
        FinishReason before = s->finish;
        if (absorb_text(e, s, s->step_tokens[0]) && !before) sched_finish_request(e->sched, s->sched_id, FINISH_STOP);
        engine_push_output(e, s);
        if (s->finish) {
            seqmap_del(&e->seqs, s->sched_id);
            engine_defer_free(e, s);
        }
    }
    log_stats(e, now);
    *outs = e->outs;
    *n_outs = e->n_outs;
    return 0;
}
