/* A Job's life on the loop thread: created by a route handler, submitted to the engine
 * thread, fed the engine's messages (each output folded into its choice, then handed to the
 * dialect to stream), finished by the dialect, detached from its connection when the client
 * goes away (which aborts it), and freed at its MSG_RELEASE, the engine's promise that it
 * holds no reference any more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "server/api_common.h"

Job *job_new(Server *s, HttpConn *c, const JobOps *ops, Dialect d, int n_prompts, int n) {
    Job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->srv = s;
    j->conn = c;
    j->ops = ops;
    j->dialect = d;
    j->n_prompts = n_prompts;
    j->n = n;
    j->n_choices = n_prompts * n;
    j->logprobs = -1;
    j->choices = calloc((size_t)j->n_choices, sizeof *j->choices);
    j->prompt_lens = calloc((size_t)n_prompts, sizeof *j->prompt_lens);
    j->model_name = strdup(s->opt.model_name);
    if (!j->choices || !j->prompt_lens || !j->model_name) {
        job_free(j);
        return NULL;
    }
    j->created = (int64_t)time(NULL);
    j->t_arrival = engine_now();
    return j;
}

void job_free(Job *j) {
    if (!j) return;
    for (int i = 0; j->choices && i < j->n_choices; i++) {
        Choice *ch = &j->choices[i];
        free(ch->text), free(ch->tokens), free(ch->lps), free(ch->stop_reason), free(ch->prompt_lps);
    }
    for (int i = 0; i < j->n_prompts; i++) {
        if (j->prompt_texts) free(j->prompt_texts[i]);
        if (j->prompt_ids) free(j->prompt_ids[i]);
    }
    free(j->prompt_texts);
    free(j->prompt_ids);
    free(j->prompt_lens);
    free(j->choices);
    if (j->ext_free) j->ext_free(j->ext);
    else free(j->ext);
    free(j->model_name);
    free(j);
}

/* --enable-log-requests: what vLLM logs as "Received request": the sampling parameters and
 * the first prompt's token ids (the first LOG_IDS of them: a log line is bounded, and written
 * on the loop thread), which is where the ids a chat route made are seen for every route. */
#define LOG_IDS 128
static void log_request(const Job *j, const InMsg *m) {
    const RequestParams *p = &m->params;
    const SamplingParams *sp = &p->sampling;
    HttpAccess *a = j->conn ? http_conn_access(j->conn) : NULL;
    int tokens = 0, np = m->n_prompts ? m->n_prompt[0] : 0;
    for (int i = 0; i < m->n_prompts; i++) tokens += m->n_prompt[i];
    char ids[LOG_IDS * 8 + 32];
    size_t o = 0;
    for (int i = 0; i < np && i < LOG_IDS; i++) o += (size_t)snprintf(ids + o, sizeof ids - o, ",%d", m->prompts[0][i]);
    if (np > LOG_IDS) snprintf(ids + o, sizeof ids - o, ",...(%d more)", np - LOG_IDS);
    if (!o) ids[0] = ',', ids[1] = 0;
    log_line(LOG_INFO,
             "request %s: %s, %d prompt(s) of %d tokens, n=%d, max_tokens=%d, min_tokens=%d, temperature=%g, "
             "top_p=%g, top_k=%d, min_p=%g, repetition_penalty=%g, presence_penalty=%g, frequency_penalty=%g, "
             "seed=%s%llu, stop=%d, stop_token_ids=%d, ignore_eos=%d, logprobs=%d, prompt_token_ids=[%s]",
             a ? a->request_id : "-", j->model_name, m->n_prompts, tokens, p->n, p->max_tokens, p->min_tokens,
             sp->temperature, sp->top_p, sp->top_k, sp->min_p, sp->repetition_penalty, sp->presence_penalty,
             sp->frequency_penalty, sp->has_seed ? "" : "none/", (unsigned long long)sp->seed, p->n_stop,
             p->n_stop_token_ids, p->ignore_eos, sp->logprobs, ids + 1);
}

int job_submit(Job *j, InMsg *m) {
    Server *s = j->srv;
    if (bridge_num_waiting(s->bridge) >= s->opt.max_queued_requests) return -1;
    m->job = j;
    for (int i = 0; i < m->n_prompts && i < j->n_prompts; i++) j->prompt_lens[i] = m->n_prompt[i];
    j->t_arrival = m->t_arrival;
    if (m->params.sampling.has_seed) j->seed = m->params.sampling.seed, j->has_seed = 1;
    j->next = s->jobs;
    if (s->jobs) s->jobs->prev = j;
    s->jobs = j;
    s->n_jobs++;
    http_conn_set_user(j->conn, j);
    if (s->opt.log_requests) log_request(j, m);
    bridge_submit(s->bridge, m);
    return 0;
}

static HttpConn *job_detach(Job *j) {
    api_access_job(j);
    HttpConn *c = j->conn;
    j->finished = 1;
    j->conn = NULL;
    if (c) http_conn_set_user(c, NULL);
    return c;
}

void job_stream_send(Job *j, const char *data, size_t len) {
    if (!j->conn) return;
    if (!j->stream_open) {
        http_stream_begin(j->conn, 200, j->ops->stream_type);
        j->stream_open = 1;
    }
    http_stream_send(j->conn, data, len);
}

void job_respond_json(Job *j, cJSON *body) {
    HttpConn *c = job_detach(j);
    if (c) api_send_json(c, 200, body);
    else cJSON_Delete(body);
}

void job_end_stream(Job *j) {
    if (j->conn && !j->stream_open) job_stream_send(j, NULL, 0); /* opens an empty stream */
    HttpConn *c = job_detach(j);
    if (c) http_stream_end(c);
}

void job_fail(Job *j, int status, const char *msg) {
    if (!j->conn || j->finished) return;
    HttpAccess *a = http_conn_access(j->conn);
    if (a && !a->error[0]) snprintf(a->error, sizeof a->error, "%s", msg);
    if (j->dialect == DIALECT_TGI && status == 400) status = 422; /* TGI's validation status */
    if (!j->stream_open) {
        HttpConn *c = job_detach(j);
        api_send_json(c, status, api_error_body(j->dialect, status, NULL, msg));
        return;
    }
    /* the status line went out long ago: the error travels in the stream */
    cJSON *e = api_error_body(j->dialect, status, NULL, msg);
    char *s = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    if (s) {
        size_t n = strlen(s);
        char *line = malloc(n + 32);
        if (line) {
            int k = j->dialect == DIALECT_OLLAMA      ? snprintf(line, n + 32, "%s\n", s)
                    : j->dialect == DIALECT_ANTHROPIC ? snprintf(line, n + 32, "event: error\ndata: %s\n\n", s)
                                                      : snprintf(line, n + 32, "data: %s\n\n", s);
            job_stream_send(j, line, (size_t)k);
            free(line);
        }
        free(s);
    }
    if (j->dialect == DIALECT_OPENAI) job_stream_send(j, "data: [DONE]\n\n", 14);
    job_end_stream(j);
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int choice_fold(Job *j, Choice *ch, const OutMsg *m) {
    if (ch->text_len + m->text_len + 1 > ch->text_cap) {
        size_t cap = ch->text_cap ? ch->text_cap : 256;
        while (cap < ch->text_len + m->text_len + 1) cap *= 2;
        char *t = realloc(ch->text, cap);
        if (!t) return -1;
        ch->text = t, ch->text_cap = cap;
    }
    memcpy(ch->text + ch->text_len, m->text, m->text_len);
    ch->text_len += m->text_len;
    ch->text[ch->text_len] = 0;
    if (j->keep_tokens && m->n_tokens > 0) {
        int cap = ch->tok_cap, need = ch->n_tokens + m->n_tokens;
        if (grow((void **)&ch->tokens, &cap, need, sizeof *ch->tokens)) return -1;
        if (m->lps) {
            int cap2 = ch->tok_cap;
            if (grow((void **)&ch->lps, &cap2, need, sizeof *ch->lps)) return -1;
            memcpy(ch->lps + ch->n_tokens, m->lps, (size_t)m->n_tokens * sizeof *m->lps);
        }
        ch->tok_cap = cap;
        memcpy(ch->tokens + ch->n_tokens, m->tokens, (size_t)m->n_tokens * sizeof *m->tokens);
        ch->n_tokens = need;
    }
    if (m->prompt_lps && !ch->prompt_lps) {
        size_t b = (size_t)m->n_prompt_tokens * sizeof *m->prompt_lps;
        if (!(ch->prompt_lps = malloc(b ? b : 1))) return -1;
        memcpy(ch->prompt_lps, m->prompt_lps, b);
    }
    ch->n_prompt = m->n_prompt_tokens;
    ch->n_output = m->n_output_tokens;
    ch->n_cached = m->n_cached_tokens;
    ch->t_first_scheduled = m->t_first_scheduled;
    ch->t_first_token = m->t_first_token;
    ch->t_last = m->t_now;
    if (m->finish != FINISH_NONE) {
        ch->finish = m->finish;
        ch->stop_token = m->stop_token;
        if (m->stop_reason && !(ch->stop_reason = strdup(m->stop_reason))) return -1;
    }
    return 0;
}

static void on_output(Job *j, OutMsg *m) {
    if (!j->conn || j->finished || m->choice < 0 || m->choice >= j->n_choices) return;
    Choice *ch = &j->choices[m->choice];
    if (ch->done) return;
    if (choice_fold(j, ch, m)) {
        job_fail(j, 500, "out of memory");
        return;
    }
    if (m->finish == FINISH_ABORT) { /* the engine gave up on it (out of KV cache memory) */
        job_fail(j, 500, "the engine aborted the request (it ran out of KV cache memory)");
        return;
    }
    j->ops->on_output(j, m->choice, ch, m);
    api_access_job(j); /* kept current: a client that goes away is logged with what it got */
    if (m->finish != FINISH_NONE) {
        ch->done = 1;
        if (++j->n_done == j->n_choices && j->conn) j->ops->on_finish(j);
    }
}

void api_on_engine_msg(Server *s, OutMsg *m) {
    Job *j = m->job;
    switch (m->kind) {
    case MSG_READY:
        serve_on_ready(s, m->facts);
        break;
    case MSG_FAILED:
        serve_on_failed(s, m->text);
        break;
    case MSG_OUTPUT:
        on_output(j, m);
        break;
    case MSG_ERROR:
        j->engine_error = 1;
        job_fail(j, m->status ? m->status : 400, m->text);
        break;
    case MSG_RELEASE:
        if (j->conn && !j->finished) job_fail(j, 500, "the request ended without a complete answer");
        if (j->prev) j->prev->next = j->next;
        else s->jobs = j->next;
        if (j->next) j->next->prev = j->prev;
        s->n_jobs--;
        job_free(j);
        serve_job_released(s);
        break;
    }
    out_msg_free(m);
}
