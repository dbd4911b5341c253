/* One engine step, as its phases:
 *   begin     free what the last step's outputs pointed into; report aborts
 *   schedule  the scheduler plans the flat batch
 *   run       the runner executes it (block copies, forward, logits); a failure fails the
 *             step's requests, never the engine
 *   sample    each sequence that reached its last known token draws the next one (and the
 *             first tokens of its n > 1 children)
 *   update    the scheduler appends the tokens, finishes requests at length or stop
 *   fork      n > 1 children of this step's first tokens join (engine_fork.c)
 *   emit      text, stop strings, outputs
 * and vLLM's periodic throughput line. The sampling of every sequence reads only its own
 * logits row, and the kernels compute each row independently of the others in the batch,
 * so a request's tokens do not depend on what else is running (tests/unit/test_engine.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/engine_internal.h"

static void step_begin(Engine *e) {
    for (int i = 0; i < e->n_dead; i++) engine_seq_free(e->dead[i]);
    e->n_dead = 0;
    e->n_outs = 0;
    for (int i = 0; i < e->n_aborted; i++) {
        engine_push_output(e, e->aborted[i]);
        engine_defer_free(e, e->aborted[i]);
    }
    e->n_aborted = 0;
}

/* The step could not run: every request in it ends with FINISH_ABORT and the reason. */
static void step_fail(Engine *e, SchedOutput *so) {
    log_line(LOG_ERROR, "step failed, aborting its %d requests: %s", so->n_seqs, e->step_error);
    for (int i = 0; i < so->n_seqs; i++) {
        EngineSeq *s = so->seqs[i].req ? seqmap_get(&e->seqs, so->seqs[i].id) : NULL;
        if (!s) continue;
        sched_abort(e->sched, s->sched_id);
        seqmap_del(&e->seqs, s->sched_id);
        s->finish = FINISH_ABORT;
        s->error = e->step_error;
        s->n_step = 0;
        engine_push_output(e, s);
        engine_defer_free(e, s);
    }
}

static void mask_until_min_tokens(Engine *e, EngineSeq *s, float *row) {
    int V = e->tm.model->cfg.vocab_size;
    for (int v = 0; e->tm.tok && v < V && !s->params.ignore_eos; v++)
        if (tokenizer_is_eog(e->tm.tok, v)) row[v] = -INFINITY;
    for (int j = 0; j < s->params.n_stop_token_ids; j++) {
        int32_t v = s->params.stop_token_ids[j];
        if (v >= 0 && v < V) row[v] = -INFINITY;
    }
}

/* The children of s (n > 1) draw their first tokens from s's first logits, each with its
 * own sampler; they are forked after the update (engine_fork.c). */
static void plan_children(Engine *e, EngineSeq *s, const SchedSeq *q, const float *row, double now) {
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
        if (s->params.return_logits) ks[c]->step_logits = row;
        if (engine_take_token(e, ks[c], kid, now)) ks[c]->finish = FINISH_STOP;
    }
    s->children_pending = 0;
    e->forks[e->n_forks++] = (ForkPlan){s, ks, ks ? nk : 0};
}

static void step_sample(Engine *e, const SchedOutput *so, float *logits, double t_start, double now) {
    const int V = e->tm.model->cfg.vocab_size;
    e->n_forks = 0;
    for (int i = 0; i < so->n_seqs; i++) {
        const SchedSeq *q = &so->seqs[i];
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
        s->step_logits = NULL;
        if (!q->samples) continue;
        float *row = logits + (size_t)i * V;
        if (s->n_out < s->params.min_tokens) mask_until_min_tokens(e, s, row);
        SampleResult *lp = s->params.sampling.logprobs >= 0 ? &s->step_lps[0] : NULL;
        int32_t id = sampler_sample(&s->sampler, row, q->tokens, s->n_prompt, q->tokens + s->n_prompt, s->n_out, lp);
        int forking = s->children_pending > 0 && s->n_out == 0 && e->n_forks < e->args.max_num_seqs;
        if (forking) plan_children(e, s, q, row, now);
        if (s->params.return_logits) s->step_logits = row;
        e->sampled[i] = id;
        int stop = engine_take_token(e, s, id, now);
        if (stop) s->finish = FINISH_STOP;
        /* a parent with forks still to make must stay alive through the update */
        e->stopped[i] = (uint8_t)(stop && !forking);
    }
}

static int step_update(Engine *e, SchedOutput *so) {
    if (so->n_seqs > 0 && sched_update_from_output(e->sched, so, e->sampled, e->stopped)) return -1;
    for (int f = 0; f < so->n_finished; f++) {
        EngineSeq *s = seqmap_get(&e->seqs, so->finished[f].id);
        if (s && !s->finish) s->finish = so->finished[f].reason;
    }
    return 0;
}

static void step_emit(Engine *e, const SchedOutput *so) {
    for (int i = 0; i < so->n_seqs; i++) {
        EngineSeq *s = seqmap_get(&e->seqs, so->seqs[i].id);
        if (!s || s->n_step == 0) continue;
        FinishReason before = s->finish;
        if (engine_absorb_text(e, s, s->step_tokens[0]) && !before)
            sched_finish_request(e->sched, s->sched_id, FINISH_STOP);
        engine_push_output(e, s);
        if (s->finish) {
            seqmap_del(&e->seqs, s->sched_id);
            engine_defer_free(e, s);
        }
    }
}

static void log_stats(Engine *e, double now) {
    double dt = now - e->last_log_t;
    if (!e->args.log_stats || dt < e->args.log_interval_s) return;
    EngineStats st;
    engine_get_stats(e, &st);
    log_line(LOG_INFO, "Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, Running: %d reqs, "
            "Waiting: %d reqs, KV cache usage: %.1f%%, Prefix cache hit rate: %.1f%%",
            (st.prompt_tokens_total - e->last_log_prompt) / dt, (st.generation_tokens_total - e->last_log_gen) / dt,
            st.num_running, st.num_waiting, 100.0 * st.kv_usage,
            st.prefix_cache_queries ? 100.0 * st.prefix_cache_hits / st.prefix_cache_queries : 0.0);
    e->last_log_t = now;
    e->last_log_prompt = st.prompt_tokens_total;
    e->last_log_gen = st.generation_tokens_total;
}

int engine_step(Engine *e, const EngineOutput **outs, int *n_outs) {
    *outs = NULL, *n_outs = 0;
    step_begin(e);
    SchedOutput so;
    if (sched_schedule(e->sched, &so)) return -1;
    const double t_start = engine_now(); /* first scheduled: before this step's forward pass */
    float *logits = NULL;
    if (so.n_seqs > 0) {
        if (runner_execute(e->runner, &so, &logits, e->step_error, sizeof e->step_error)) {
            step_fail(e, &so);
            *outs = e->outs, *n_outs = e->n_outs;
            return 0;
        }
        e->stats.steps++;
    }
    double now = engine_now();
    step_sample(e, &so, logits, t_start, now);
    if (step_update(e, &so)) return -1;
    for (int p = 0; p < e->n_forks; p++) engine_make_forks(e, &e->forks[p]);
    step_emit(e, &so);
    log_stats(e, now);
    *outs = e->outs;
    *n_outs = e->n_outs;
    return 0;
}
