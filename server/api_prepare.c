/* The work between a request's validation and the engine: its text prompts tokenized and its
 * constraint compiled. Both grow with the input (an 8 MiB prompt takes over a second to
 * tokenize), so neither may run on the loop thread, where it would stall every connection:
 * a prompt is recorded as text (api_add_text_prompt, api_add_chat_prompt) and api_submit
 * tokenizes it at once only when it is short (INLINE_BYTES: well under a millisecond), else
 * on libuv's worker pool, together with a compilation that missed the cache.
 *
 * Meanwhile the job is tied to its connection (so a client that leaves is noticed: its
 * conn becomes NULL) but not yet submitted (abort_sent keeps api_on_close from aborting
 * it in the engine). When the work is done, on the loop thread, the constraint goes into
 * the cache, the ids into the message, and prompts_ready runs the dialect's checks; then the
 * job goes to the engine (or its answer, made on the worker, to the client), or its error to the client in its dialect's
 * shape. The server counts these jobs (n_compiling), so that shutdown waits for them: the
 * work reads the engine's tokenizer and vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_structured.h"

#define CACHE_ENTRIES 64
#define INLINE_BYTES (16 << 10)

static PromptSrc *src_of(InMsg *m, int i) {
    if (!m->src && !(m->src = calloc((size_t)m->n_prompts, sizeof *m->src))) return NULL;
    PromptSrc *p = &m->src[i];
    free(p->text), free(p->plain);
    memset(p, 0, sizeof *p);
    return p;
}

int api_add_text_prompt(Server *s, InMsg *m, int i, const char *text, int add_special, int parse_special) {
    PromptSrc *p = src_of(m, i);
    if (!p || !(p->text = strdup(text))) return -1;
    p->len = strlen(text), p->add_special = add_special, p->parse_special = parse_special;
    return 0;
}

int api_add_chat_prompt(Server *s, InMsg *m, int i, ChatPrompt *c) {
    PromptSrc *p = src_of(m, i);
    if (!p || !c->text) return -1;
    *p = (PromptSrc){c->text, c->len, c->plain, c->n_plain, s->model.chat->bos_text == NULL, 1};
    memset(c, 0, sizeof *c); /* the message's now */
    return 0;
}

static size_t pending_bytes(const InMsg *m) {
    size_t n = 0;
    for (int i = 0; m->src && i < m->n_prompts; i++) n += m->src[i].text ? m->src[i].len + 1 : 0;
    return n;
}

/* Tokenize every pending text, appending to the prompt's ids. Runs on the loop thread (short
 * texts) or a worker (then nothing else touches m). 0, or -1 with err set. */
static int tokenize_pending(const Tokenizer *tok, InMsg *m, char *err, size_t n) {
    for (int i = 0; m->src && i < m->n_prompts; i++) {
        PromptSrc *p = &m->src[i];
        if (!p->text) continue;
        int32_t *ids = NULL;
        int k = tokenizer_encode_spans_alloc(tok, p->text, p->len, p->add_special, p->parse_special, p->plain,
                                             p->n_plain, &ids);
        if (k < 0) return snprintf(err, n, "the prompt cannot be tokenized (out of memory?)"), -1;
        int have = m->n_prompt[i];
        int32_t *all = have ? realloc(m->prompts[i], ((size_t)have + (size_t)k + 1) * sizeof *all) : ids;
        if (!all) return free(ids), snprintf(err, n, "out of memory"), -1;
        if (have) memcpy(all + have, ids, (size_t)k * sizeof *ids), free(ids);
        else free(m->prompts[i]);
        m->prompts[i] = all, m->n_prompt[i] = have + k;
        free(p->text), free(p->plain);
        memset(p, 0, sizeof *p);
    }
    return 0;
}

/* Once the prompts are tokens: kept ids, the dialect's step, the length check. 0, or a
 * status with err set. */
static int prompts_ready(Job *j, InMsg *m, char *err, size_t n) {
    Server *s = j->srv;
    if (j->keep_prompt_ids && !j->prompt_ids && !(j->prompt_ids = calloc((size_t)j->n_prompts, sizeof *j->prompt_ids)))
        return snprintf(err, n, "out of memory"), 500;
    for (int i = 0; j->keep_prompt_ids && i < m->n_prompts && i < j->n_prompts; i++) {
        free(j->prompt_ids[i]);
        if (!(j->prompt_ids[i] = malloc(((size_t)m->n_prompt[i] + 1) * sizeof(int32_t))))
            return snprintf(err, n, "out of memory"), 500;
        memcpy(j->prompt_ids[i], m->prompts[i], (size_t)m->n_prompt[i] * sizeof(int32_t));
    }
    int st = j->on_prompts ? j->on_prompts(j, m, err, n) : 0;
    if (st) return st;
    if (!j->no_length_check && api_check_lengths(s, m, j->check_max_tokens, err, n))
        return j->length_status ? j->length_status : 400;
    return 0;
}

/* The engine, or the answer (made already on the worker, or now). 0, or -1 when the queue
 * is full (nothing taken). */
static int hand_over(Job *j, InMsg *m, char *answer) {
    if (!j->answer) return job_submit(j, m);
    if (!answer) answer = j->answer(j->srv, m);
    api_access_job(j);
    j->finished = 1;
    if (j->conn) http_conn_set_user(j->conn, NULL);
    if (j->conn && answer) http_respond(j->conn, 200, "application/json", answer, strlen(answer), NULL);
    else if (j->conn) api_error(j->conn, j->dialect, 500, NULL, "out of memory");
    free(answer);
    in_msg_free(m);
    job_free(j);
    return 0;
}

typedef struct PrepWork {
    uv_work_t req;
    Job *j;
    InMsg *m;
    StructSpec spec;          /* kind -1: nothing to compile */
    const ConstraintVocab *vocab;
    const Tokenizer *tok;
    Constraint *c;
    char *(*answer)(const Server *s, const InMsg *m);
    const Server *srv;
    char *body;               /* the answer, made here */
    int rc, tok_rc;
    char err[512];
} PrepWork;

static void prep_work(uv_work_t *req) {
    PrepWork *w = req->data;
    w->tok_rc = tokenize_pending(w->tok, w->m, w->err, sizeof w->err);
    if (!w->tok_rc && w->answer) w->body = w->answer(w->srv, w->m); /* its size grows with the prompt */
    if (w->tok_rc || w->spec.kind < 0) return;
    ConstraintSpec cs = {(ConstraintKind)w->spec.kind, w->spec.text, w->spec.len};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    lim.what = "the server's limit per structured output: 10 s of compilation, 512 MiB";
    w->rc = constraint_compile(w->vocab, &cs, &lim, &w->c, w->err, sizeof w->err);
}

static void prep_done(uv_work_t *req, int status) {
    PrepWork *w = req->data;
    Job *j = w->j;
    Server *s = j->srv;
    s->n_compiling--;
    if (w->spec.kind >= 0 && !w->tok_rc && w->rc == 0) {
        ConstraintSpec cs = {(ConstraintKind)w->spec.kind, w->spec.text, w->spec.len};
        if (s->constraints) constraint_cache_put(s->constraints, &cs, constraint_ref(w->c));
        w->m->params.constraint = w->c;
    }
    j->abort_sent = 0;
    int st = 0;
    if (!j->conn) { /* the client left */
    } else if (status) {
        job_fail(j, 400, "the request's preparation was cancelled");
    } else if (w->tok_rc) {
        job_fail(j, 500, w->err);
    } else if (w->rc) {
        job_fail(j, 400, w->err);
    } else if (s->shutting_down) {
        job_fail(j, 503, "the server is shutting down");
    } else if ((st = prompts_ready(j, w->m, w->err, sizeof w->err))) {
        job_fail(j, st, w->err);
    } else if (hand_over(j, w->m, w->body) == 0) {
        w->m = NULL, j = NULL, w->body = NULL; /* the engine's now, or answered */
    } else {
        job_fail(j, 503, "the server is overloaded: too many requests are waiting (--max-queued-requests)");
    }
    if (j) {
        if (j->conn) http_conn_set_user(j->conn, NULL);
        job_free(j);
    }
    in_msg_free(w->m);
    struct_spec_free(&w->spec);
    free(w->body);
    free(w);
    serve_job_released(s); /* a shutdown may have waited for this */
}

/* Nothing for the pool: tokenize the short texts here and hand over. */
static int submit_now(Job *j, InMsg *m, char *err, size_t n) {
    if (tokenize_pending(j->srv->model.tok, m, err, n)) return 500;
    int st = prompts_ready(j, m, err, n);
    if (st) return st;
    return hand_over(j, m, NULL);
}

int api_submit(Job *j, InMsg *m, StructSpec *spec, char *err, size_t n) {
    Server *s = j->srv;
    if (!s->model.tok && pending_bytes(m)) return snprintf(err, n, "%s", API_NO_TOKENIZER), 400;
    if (!s->model.vocab && spec && spec->kind >= 0) /* constraints walk the token texts */
        return snprintf(err, n, "structured outputs need the model's tokenizer, and this model has none"), 400;
    if (!j->answer && bridge_num_waiting(s->bridge) >= s->opt.max_queued_requests) return -1;
    int compile = spec && spec->kind >= 0;
    if (compile) {
        if (!s->constraints) constraint_cache_create(CACHE_ENTRIES, &s->constraints);
        ConstraintSpec cs = {(ConstraintKind)spec->kind, spec->text, spec->len};
        Constraint *c = s->constraints ? constraint_cache_get(s->constraints, &cs) : NULL;
        if (c) {
            m->params.constraint = c;
            struct_spec_free(spec);
            compile = 0;
        }
    }
    if (!compile && pending_bytes(m) <= INLINE_BYTES) {
        int rc = submit_now(j, m, err, n);
        if (rc) constraint_unref(m->params.constraint), m->params.constraint = NULL;
        return rc;
    }
    PrepWork *w = calloc(1, sizeof *w);
    if (!w) return snprintf(err, n, "out of memory"), 500;
    w->req.data = w, w->j = j, w->m = m, w->vocab = s->model.vocab, w->tok = s->model.tok;
    w->answer = j->answer, w->srv = s; /* read here: the worker touches no Job */
    w->spec = (StructSpec){-1, NULL, 0};
    if (compile) w->spec = *spec, spec->text = NULL, spec->kind = -1;
    /* tied to the connection, so that its close finds the job; no engine abort to send yet */
    j->abort_sent = 1;
    http_conn_set_user(j->conn, j);
    if (uv_queue_work(s->loop, &w->req, prep_work, prep_done)) {
        if (compile) *spec = w->spec;
        free(w);
        http_conn_set_user(j->conn, NULL);
        j->abort_sent = 0;
        return snprintf(err, n, "the server cannot queue work"), 500;
    }
    s->n_compiling++;
    return 0;
}
