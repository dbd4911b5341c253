/* The bridge between the loop thread and the engine thread (DESIGN "Threads"). The engine
 * thread creates the Engine (the model loads there, so /health can say "loading"), then
 * loops: take the whole inbox (new requests, aborts), run one engine_step while there is
 * work, copy the step's outputs into messages, append them to the outbox and wake the loop
 * with uv_async_send. Sends coalesce, so the loop drains the whole outbox on each wake-up.
 * When there is no work it sleeps on a condition variable.
 *
 * One mutex guards the inbox, the outbox, the stats snapshot and the metrics (which the
 * engine thread records here, where it sees every output with its times).
 *
 * Engine-thread records map each engine request id to its job (a cookie, never
 * dereferenced), sorted by id. A job is released (MSG_RELEASE) when its last record goes:
 * all samples finished, aborted, or refused by engine_add_request. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "server/api_common.h"

typedef struct Rec {
    int64_t eid;
    Job *job;
    int sub, n, n_done;
    int first_seen;
    double t_arrival;
    double *t_last;  /* [n] time of each sample's last token, for the inter-token latency */
} Rec;

struct Bridge {
    Server *srv;
    uv_async_t async;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    InMsg *in_head, *in_tail;
    int in_seqs;             /* sequences in the inbox and taken but not yet in the stats */
    OutMsg *out_head, *out_tail;
    int stop;
    Metrics metrics;
    EngineArgs args;
    /* engine thread only */
    Engine *engine;
    Rec *recs;
    int n_recs, cap_recs;
    OutMsg *pend_head, *pend_tail; /* this round's messages, appended to the outbox at once */
};

void in_msg_free(InMsg *m) {
    if (!m) return;
    for (int i = 0; i < m->n_prompts; i++) free(m->prompts ? m->prompts[i] : NULL);
    for (int i = 0; m->src && i < m->n_prompts; i++) free(m->src[i].text), free(m->src[i].plain);
    free(m->src);
    free(m->prompts);
    free(m->n_prompt);
    for (int i = 0; i < ENGINE_MAX_STOP; i++) free(m->stops[i]);
    free(m->bias);
    constraint_unref(m->params.constraint);
    free(m);
}

void out_msg_free(OutMsg *m) {
    if (m) free(m->facts);
    free(m);
}

static OutMsg *out_new(OutKind kind, Job *job, size_t extra) {
    OutMsg *m = calloc(1, sizeof *m + extra);
    if (m) m->kind = kind, m->job = job, m->stop_token = -1;
    return m;
}

static void pend(Bridge *b, OutMsg *m) {
    if (!m) return; /* out of memory: the output is lost, the job still ends by its RELEASE */
    m->next = NULL;
    if (b->pend_tail) b->pend_tail->next = m;
    else b->pend_head = m;
    b->pend_tail = m;
}

static OutMsg *out_text(OutKind kind, Job *job, const char *text) {
    size_t n = strlen(text);
    OutMsg *m = out_new(kind, job, n + 1);
    if (!m) return NULL;
    m->text = (char *)(m + 1);
    memcpy(m->text, text, n + 1);
    m->text_len = n;
    return m;
}

/* ---- records (engine thread) ---- */

static int rec_find(const Bridge *b, int64_t eid) {
    int lo = 0, hi = b->n_recs;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (b->recs[mid].eid < eid) lo = mid + 1;
        else hi = mid;
    }
    return lo < b->n_recs && b->recs[lo].eid == eid ? lo : -lo - 1;
}

static Rec *rec_insert(Bridge *b, int64_t eid) {
    if (b->n_recs == b->cap_recs) {
        int cap = b->cap_recs ? 2 * b->cap_recs : 64;
        Rec *r = realloc(b->recs, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        b->recs = r, b->cap_recs = cap;
    }
    int at = rec_find(b, eid);
    at = at < 0 ? -at - 1 : at;
    memmove(b->recs + at + 1, b->recs + at, (size_t)(b->n_recs - at) * sizeof *b->recs);
    b->n_recs++;
    memset(&b->recs[at], 0, sizeof b->recs[at]);
    b->recs[at].eid = eid;
    return &b->recs[at];
}

/* Remove record i; when it was its job's last, the job is released. */
static void rec_remove(Bridge *b, int i) {
    Job *job = b->recs[i].job;
    free(b->recs[i].t_last);
    memmove(b->recs + i, b->recs + i + 1, (size_t)(b->n_recs - i - 1) * sizeof *b->recs);
    b->n_recs--;
    for (int k = 0; k < b->n_recs; k++)
        if (b->recs[k].job == job) return;
    pend(b, out_new(MSG_RELEASE, job, 0));
}

static void do_abort(Bridge *b, Job *job) {
    for (int i = b->n_recs - 1; i >= 0; i--) {
        if (b->recs[i].job != job) continue;
        engine_abort(b->engine, b->recs[i].eid);
        pthread_mutex_lock(&b->mu);
        b->metrics.success[FINISH_ABORT] += b->recs[i].n - b->recs[i].n_done;
        pthread_mutex_unlock(&b->mu);
        rec_remove(b, i);
    }
}

static void do_add(Bridge *b, InMsg *m) {
    char err[512];
    for (int i = 0; i < m->n_prompts; i++) {
        int64_t eid;
        if (engine_add_request(b->engine, m->prompts[i], m->n_prompt[i], &m->params, &eid, err, sizeof err)) {
            do_abort(b, m->job); /* the prompts added before this one */
            OutMsg *e = out_text(MSG_ERROR, m->job, err);
            if (e) e->status = 400;
            pend(b, e);
            pend(b, out_new(MSG_RELEASE, m->job, 0));
            return;
        }
        Rec *r = rec_insert(b, eid);
        double *t_last = r ? calloc((size_t)m->params.n, sizeof *t_last) : NULL;
        if (!t_last) {
            if (r) rec_remove(b, rec_find(b, eid));
            engine_abort(b->engine, eid);
            do_abort(b, m->job);
            OutMsg *e = out_text(MSG_ERROR, m->job, "out of memory");
            if (e) e->status = 500;
            pend(b, e);
            pend(b, out_new(MSG_RELEASE, m->job, 0));
            return;
        }
        r->job = m->job, r->sub = i, r->n = m->params.n, r->t_arrival = m->t_arrival, r->t_last = t_last;
    }
}

/* Copy one output (its arrays die at the next step) and record its metrics. Under b->mu. */
static void take_output(Bridge *b, const EngineOutput *o) {
    int i = rec_find(b, o->request_id);
    if (i < 0) return; /* aborted: nobody waits for it */
    Rec *r = &b->recs[i];
    Metrics *mt = &b->metrics;
    if (o->finish == FINISH_ABORT && o->error) { /* a failed step: the client hears why */
        OutMsg *e = out_text(MSG_ERROR, r->job, o->error);
        if (e) e->status = 500;
        pend(b, e);
    }
    size_t ntok = (size_t)o->n_new * sizeof(int32_t), nlp = o->new_logprobs ? (size_t)o->n_new * sizeof(SampleResult) : 0;
    size_t nstop = o->stop_reason ? strlen(o->stop_reason) + 1 : 0;
    size_t nplp = o->prompt_logprobs ? (size_t)o->n_prompt_tokens * sizeof(SampleResult) : 0;
    OutMsg *m = out_new(MSG_OUTPUT, r->job, nlp + nplp + ntok + o->text_len + 1 + nstop);
    if (m) {
        char *p = (char *)(m + 1);
        m->lps = nlp ? (SampleResult *)p : NULL; /* first: SampleResult needs the strongest alignment */
        if (nlp) memcpy(p, o->new_logprobs, nlp), p += nlp;
        m->prompt_lps = nplp ? (SampleResult *)p : NULL;
        if (nplp) memcpy(p, o->prompt_logprobs, nplp), p += nplp;
        m->tokens = (int32_t *)p;
        if (ntok) memcpy(p, o->new_tokens, ntok), p += ntok;
        m->n_tokens = o->n_new;
        m->text = p;
        if (o->text_len) memcpy(p, o->text, o->text_len);
        p[o->text_len] = 0, p += o->text_len + 1;
        m->text_len = o->text_len;
        if (nstop) m->stop_reason = memcpy(p, o->stop_reason, nstop);
        m->choice = r->sub * r->n + o->index;
        m->finish = o->finish;
        m->stop_token = o->stop_token;
        m->n_prompt_tokens = o->n_prompt_tokens, m->n_output_tokens = o->n_output_tokens;
        m->n_cached_tokens = o->n_cached_tokens;
        m->t_first_scheduled = o->t_first_scheduled, m->t_first_token = o->t_first_token, m->t_now = o->t_now;
        pend(b, m);
    }
    /* vLLM's accounting: a request's prompt counts once, at its first token; each sample is a
     * finished request of its own. */
    if (!r->first_seen && o->n_output_tokens > 0) {
        r->first_seen = 1;
        mt->prompt_tokens += o->n_prompt_tokens;
        metrics_observe(&mt->ttft, o->t_first_token - r->t_arrival);
        metrics_observe(&mt->queue, o->t_first_scheduled - r->t_arrival);
        metrics_observe(&mt->req_prompt_tokens, o->n_prompt_tokens);
    }
    mt->generation_tokens += o->n_new;
    if (o->index >= 0 && o->index < r->n && o->n_new > 0) {
        if (r->t_last[o->index] > 0) metrics_observe(&mt->itl, o->t_now - r->t_last[o->index]);
        r->t_last[o->index] = o->t_now;
    }
    if (o->finish != FINISH_NONE) {
        mt->success[o->finish]++;
        metrics_observe(&mt->e2e, o->t_now - r->t_arrival);
        metrics_observe(&mt->req_generation_tokens, o->n_output_tokens);
        if (o->t_first_token > 0) {
            metrics_observe(&mt->prefill, o->t_first_token - o->t_first_scheduled);
            metrics_observe(&mt->decode, o->t_now - o->t_first_token);
            metrics_observe(&mt->inference, o->t_now - o->t_first_scheduled);
        }
        if (++r->n_done >= r->n) rec_remove(b, i);
    }
}

static void flush(Bridge *b) { /* under b->mu */
    if (!b->pend_head) return;
    if (b->out_tail) b->out_tail->next = b->pend_head;
    else b->out_head = b->pend_head;
    b->out_tail = b->pend_tail;
    b->pend_head = b->pend_tail = NULL;
    uv_async_send(&b->async);
}

static ModelFacts *facts_new(Engine *e, const char *path) {
    ModelFacts *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->tok = engine_tokenizer(e);
    f->vocab = engine_constraint_vocab(e);
    const char *cerr = NULL;
    f->chat = engine_chat_template(e, &cerr);
    snprintf(f->chat_err, sizeof f->chat_err, "%s", cerr ? cerr : "the model has no chat template");
    f->cfg = *engine_model_config(e);
    f->max_model_len = engine_max_model_len(e);
    engine_get_stats(e, &f->stats);
    const Model *md = engine_model(e);
    static const char *const formats[] = {"gguf", "safetensors", "dummy"};
    snprintf(f->format, sizeof f->format, "%s", formats[md->format]);
    f->gen_defaults = *engine_sampling_defaults(e);
    const Backend *be = engine_backend(e);
    snprintf(f->device, sizeof f->device, "%s (%s)", be->name, be->device_name);
    f->threads = be->opt.n_threads;
    f->kv_dtype = engine_kv_dtype(e);
    f->kv_bytes = engine_kv_bytes_per_token(e) * f->stats.num_blocks * f->stats.block_size;
    if (md->format != MODEL_FORMAT_GGUF) { /* a directory: its weights' bytes and --dtype */
        f->file_size = md->st ? st_total_bytes(md->st) : model_weight_bytes(md);
        snprintf(f->quant, sizeof f->quant, "%s", md->weight_dtype >= 0 ? dtype_name(md->weight_dtype) : "mixed");
        return f;
    }
    FILE *fp = fopen(path, "rb");
    if (fp && fseek(fp, 0, SEEK_END) == 0) f->file_size = ftell(fp);
    if (fp) fclose(fp);
    /* the quantization is in the file name by convention (…Q4_1.gguf); "unknown" otherwise */
    const char *q = strrchr(path, '.');
    const char *dot = q;
    while (q && q > path && q[-1] != '.' && q[-1] != '/' && q[-1] != '-') q--;
    if (q && dot - q > 0 && dot - q < (long)sizeof f->quant && (q[0] == 'Q' || q[0] == 'F' || q[0] == 'I'))
        snprintf(f->quant, sizeof f->quant, "%.*s", (int)(dot - q), q);
    else snprintf(f->quant, sizeof f->quant, "unknown");
    return f;
}

static void *engine_main(void *arg) {
    Bridge *b = arg;
    char err[512];
    if (engine_create(&b->args, &b->engine, err, sizeof err)) {
        pthread_mutex_lock(&b->mu);
        pend(b, out_text(MSG_FAILED, NULL, err));
        flush(b);
        pthread_mutex_unlock(&b->mu);
        return NULL;
    }
    Engine *e = b->engine;
    OutMsg *ready = out_new(MSG_READY, NULL, 0);
    if (ready) ready->facts = facts_new(e, b->args.model_path);
    pthread_mutex_lock(&b->mu);
    metrics_init(&b->metrics, engine_max_model_len(e));
    engine_get_stats(e, &b->metrics.engine);
    if (ready && !ready->facts) out_msg_free(ready), ready = NULL;
    pend(b, ready ? ready : out_text(MSG_FAILED, NULL, "out of memory"));
    flush(b);
    for (;;) {
        while (!b->stop && !b->in_head && !engine_has_unfinished(e)) pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop) break;
        InMsg *in = b->in_head;
        b->in_head = b->in_tail = NULL;
        pthread_mutex_unlock(&b->mu);
        int taken = 0;
        while (in) {
            InMsg *next = in->next;
            if (in->kind == IN_ADD) do_add(b, in), taken += in->n_prompts * in->params.n;
            else do_abort(b, in->job);
            in_msg_free(in);
            in = next;
        }
        const EngineOutput *outs = NULL;
        int n_outs = 0;
        if (engine_has_unfinished(e) && engine_step(e, &outs, &n_outs) != 0) {
            log_line(LOG_ERROR, "engine step failed; aborting every request\n");
            for (int i = b->n_recs - 1; i >= 0; i--) {
                Job *j = b->recs[i].job;
                OutMsg *m = out_text(MSG_ERROR, j, "the engine failed to run a step");
                if (m) m->status = 500;
                pend(b, m);
                do_abort(b, j);
                i = b->n_recs; /* do_abort removed several: start over */
            }
            n_outs = 0;
        }
        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < n_outs; i++) take_output(b, &outs[i]);
        engine_get_stats(e, &b->metrics.engine);
        b->in_seqs -= taken;
        flush(b);
    }
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->n_recs; i++) engine_abort(e, b->recs[i].eid), free(b->recs[i].t_last);
    b->n_recs = 0;
    engine_destroy(e);
    b->engine = NULL;
    return NULL;
}

static void on_async(uv_async_t *a) {
    Bridge *b = a->data;
    pthread_mutex_lock(&b->mu);
    OutMsg *m = b->out_head;
    b->out_head = b->out_tail = NULL;
    pthread_mutex_unlock(&b->mu);
    while (m) {
        OutMsg *next = m->next;
        /* a message may end the server (the last release during shutdown stops the bridge):
         * what is left then has no one to go to */
        if (b->stop) out_msg_free(m);
        else api_on_engine_msg(b->srv, m); /* frees m */
        m = next;
    }
}

static void on_async_closed(uv_handle_t *h) { free(h->data); }

int bridge_start(Server *srv, Bridge **out, char *err, size_t errlen) {
    Bridge *b = calloc(1, sizeof *b);
    if (!b) return snprintf(err, errlen, "out of memory"), -1;
    b->srv = srv;
    b->args = srv->opt.engine;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    uv_async_init(srv->loop, &b->async, on_async);
    b->async.data = b;
    if (pthread_create(&b->thread, NULL, engine_main, b) != 0) {
        snprintf(err, errlen, "cannot start the engine thread");
        uv_close((uv_handle_t *)&b->async, on_async_closed);
        return -1;
    }
    b->thread_started = 1;
    *out = b;
    return 0;
}

static void enqueue(Bridge *b, InMsg *m) {
    pthread_mutex_lock(&b->mu);
    m->next = NULL;
    if (b->in_tail) b->in_tail->next = m;
    else b->in_head = m;
    b->in_tail = m;
    if (m->kind == IN_ADD) b->in_seqs += m->n_prompts * m->params.n;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void bridge_submit(Bridge *b, InMsg *m) {
    m->kind = IN_ADD;
    enqueue(b, m);
}

void bridge_abort(Bridge *b, Job *j) {
    InMsg *m = calloc(1, sizeof *m);
    if (!m) return; /* the request then runs to its end; its job is released as usual */
    m->kind = IN_ABORT;
    m->job = j;
    enqueue(b, m);
}

int bridge_num_waiting(Bridge *b) {
    pthread_mutex_lock(&b->mu);
    int n = b->metrics.engine.num_waiting + b->in_seqs;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void bridge_stats(Bridge *b, EngineStats *st) {
    pthread_mutex_lock(&b->mu);
    *st = b->metrics.engine;
    pthread_mutex_unlock(&b->mu);
}

char *bridge_render_metrics(Bridge *b, const char *model_name, size_t *len) {
    pthread_mutex_lock(&b->mu);
    char *s = metrics_render(&b->metrics, model_name, len);
    pthread_mutex_unlock(&b->mu);
    return s;
}

void bridge_stop(Bridge *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->thread_started) pthread_join(b->thread, NULL);
    for (InMsg *m = b->in_head, *n; m; m = n) n = m->next, in_msg_free(m);
    for (OutMsg *m = b->out_head, *n; m; m = n) n = m->next, out_msg_free(m);
    for (OutMsg *m = b->pend_head, *n; m; m = n) n = m->next, out_msg_free(m);
    free(b->recs);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    uv_close((uv_handle_t *)&b->async, on_async_closed);
}
