/* A long body's work on libuv's worker pool, so that the loop thread's share of a request
 * does not grow with its body (every connection waits while the loop thread works).
 *
 * Parsing grows with the body (tens of milliseconds for 8 MiB), so a long one is parsed on
 * the pool from a copy (the connection, and its request, may go away meanwhile), and the
 * route's handler runs when it is done, finding the result in s->parsed. Until then a
 * placeholder job holds the connection, so that a client that leaves is noticed (its conn
 * becomes NULL; abort_sent: there is nothing to abort in the engine). On the pool too:
 *  - the width check: no list or object in a body holds more elements than the larger of the
 *    model's context and vocabulary (no field can use more: a prompt is at most the context,
 *    a per-token table at most the vocabulary), so the handler's walk of any one list on the
 *    loop thread is bounded by the model, not by the body (500k prompts are a 400 from here),
 *    and so is the number of values in the whole body;
 *  - a route's whole answer when it has one that needs no engine (/detokenize);
 *  - the freeing of the tree: the handler gets a shallow copy of the top-level object (its
 *    members as cJSON references, at most BODY_MAX_FIELDS of them), so its cJSON_Delete frees
 *    only that copy, and the tree itself is freed here once the handler is done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_common.h"

#define PARSE_INLINE_BYTES (64 << 10)
#define BODY_MAX_FIELDS    256

typedef struct ParseWork {
    uv_work_t req;
    Server *s;
    Job *wait; /* the placeholder */
    HttpRequest *r;
    Dialect dialect;
    int generates;
    ApiHandler handler;
    ApiAnswer answer; /* NULL: the handler runs on the loop thread */
    int max_elems;    /* the width check's bounds (0: none) */
    long max_values;
    char *body; /* a copy, [len] */
    size_t len;
    cJSON *json;
    char *text; /* the answer's JSON, made here (status 0) */
    int status; /* a verdict made here: status, param and err */
    char param[64];
    char err[192];
} ParseWork;

static const JobOps k_wait_ops = {"application/json", NULL, NULL};

/* The width of the widest list or object in j (j too), or 0 when none is wider than max;
 * every value in it counted into *total. Recursion is bounded by cJSON's nesting limit. */
static int widest(const cJSON *j, int max, long *total) {
    int n = 0, w = 0;
    for (const cJSON *e = j->child; e; e = e->next, n++) {
        int k = (e->type & 0xff) == cJSON_Array || (e->type & 0xff) == cJSON_Object ? widest(e, max, total) : 0;
        if (k > w) w = k;
    }
    *total += n;
    return n > max && n > w ? n : w > max ? w : 0;
}

/* 0, or 400 with err (and param) set. A request's values are also bounded as a whole: 256
 * prompts of the model's context (no request uses more), so that a batch of 256 lists just
 * under the width is not walked on the loop thread either. */
static int check_width(ParseWork *w) {
    int n = 0;
    long total = 0;
    for (const cJSON *e = w->json->child; e; e = e->next) n++;
    if (n > BODY_MAX_FIELDS) {
        snprintf(w->err, sizeof w->err, "the request body has %d fields, more than any request takes (%d)", n,
                 BODY_MAX_FIELDS);
        return 400;
    }
    for (const cJSON *e = w->json->child; w->max_elems && e; e = e->next)
        if ((n = widest(e, w->max_elems, &total))) {
            snprintf(w->param, sizeof w->param, "%s", e->string);
            snprintf(w->err, sizeof w->err,
                     "'%s' holds a list or object of %d elements, more than any field takes "
                     "(%d: the larger of the model's context and vocabulary)",
                     e->string, n, w->max_elems);
            return 400;
        }
    if (w->max_values && total > w->max_values) {
        snprintf(w->err, sizeof w->err,
                 "the request body holds %ld JSON values, more than any request takes (%ld: "
                 "256 prompts of the model's context)",
                 total, w->max_values);
        return 400;
    }
    return 0;
}

static void parse_work(uv_work_t *req) {
    ParseWork *w = req->data;
    w->json = api_json_parse(w->body, w->len, w->err, sizeof w->err);
    if (w->json && (w->status = check_width(w))) cJSON_Delete(w->json), w->json = NULL;
    if (w->json && w->answer) {
        const char *param = NULL;
        w->text = w->answer(w->s, w->json, &w->status, &param, w->err, sizeof w->err);
        if (param) snprintf(w->param, sizeof w->param, "%s", param);
        if (!w->text && !w->status) w->status = 500, snprintf(w->err, sizeof w->err, "out of memory");
    }
    if (w->answer || w->status) cJSON_Delete(w->json), w->json = NULL;
}

/* A copy of object o whose members are references to o's (numbers and literals copied): a
 * cJSON_Delete of it frees the copy's nodes only. NULL when out of memory. */
static cJSON *shallow_object(const cJSON *o) {
    cJSON *r = cJSON_CreateObject();
    for (const cJSON *e = o->child; r && e; e = e->next) {
        int t = e->type & 0xff;
        cJSON *m = t == cJSON_Object   ? cJSON_CreateObjectReference(e->child)
                   : t == cJSON_Array  ? cJSON_CreateArrayReference(e->child)
                   : t == cJSON_String ? cJSON_CreateStringReference(e->valuestring)
                   : t == cJSON_Number ? cJSON_CreateNumber(e->valuedouble)
                   : t == cJSON_NULL   ? cJSON_CreateNull()
                                       : cJSON_CreateBool(t == cJSON_True);
        if (!m || !cJSON_AddItemToObject(r, e->string, m)) cJSON_Delete(m), cJSON_Delete(r), r = NULL;
    }
    return r;
}

static void free_work(uv_work_t *req) { cJSON_Delete(req->data); }
static void free_done(uv_work_t *req, int status) { free(req); }

void api_json_free_later(Server *s, cJSON *j) {
    uv_work_t *req = j ? malloc(sizeof *req) : NULL;
    if (req) req->data = j;
    if (!req || uv_queue_work(s->loop, req, free_work, free_done)) free(req), cJSON_Delete(j);
}

static void run_handler(Server *s, HttpConn *c, ParseWork *w) {
    cJSON *top = w->json ? shallow_object(w->json) : NULL;
    s->parsed.req = w->r, s->parsed.json = top;
    snprintf(s->parsed.err, sizeof s->parsed.err, "%s", w->json && !top ? "out of memory" : w->err);
    w->handler(s, c, w->r);
    if (s->parsed.req == w->r) cJSON_Delete(s->parsed.json); /* a handler that did not parse */
    s->parsed.req = NULL, s->parsed.json = NULL;
}

static void parse_done(uv_work_t *req, int status) {
    ParseWork *w = req->data;
    Server *s = w->s;
    HttpConn *c = w->wait->conn;
    s->n_compiling--;
    if (c) { /* the client is still there, and so is its request */
        http_conn_set_user(c, NULL);
        if (status) api_error(c, w->dialect, 500, NULL, "the request's parsing was cancelled");
        else if (w->generates && s->shutting_down) api_error(c, w->dialect, 503, NULL, "the server is shutting down");
        else if (w->status) api_error(c, w->dialect, w->status, w->param[0] ? w->param : NULL, "%s", w->err);
        else if (w->text) http_respond(c, 200, "application/json", w->text, strlen(w->text), NULL);
        else run_handler(s, c, w);
    }
    api_json_free_later(s, w->json);
    free(w->text);
    job_free(w->wait);
    free(w->body);
    free(w);
    serve_job_released(s); /* a shutdown may have waited for this */
}

int api_parse_later(Server *s, HttpConn *c, HttpRequest *r, Dialect d, int generates, ApiHandler handler,
                    ApiAnswer answer) {
    if (r->body_len <= PARSE_INLINE_BYTES) return 0;
    ParseWork *w = calloc(1, sizeof *w);
    if (!w) return 0;
    w->req.data = w, w->s = s, w->r = r, w->len = r->body_len;
    w->dialect = d, w->generates = generates, w->handler = handler, w->answer = answer;
    if (!answer && s->ready && s->model.tok) {
        int nv = tokenizer_n_vocab(s->model.tok);
        w->max_elems = s->model.max_model_len > nv ? s->model.max_model_len : nv;
        w->max_values = 256L * (s->model.max_model_len + 64) + 4L * w->max_elems;
    }
    w->wait = job_new(s, c, &k_wait_ops, d, 1, 1);
    w->body = malloc(r->body_len + 1);
    if (!w->wait || !w->body) goto fail;
    memcpy(w->body, r->body, r->body_len + 1);
    w->wait->abort_sent = 1;
    http_conn_set_user(c, w->wait);
    if (uv_queue_work(s->loop, &w->req, parse_work, parse_done)) {
        http_conn_set_user(c, NULL);
        goto fail;
    }
    s->n_compiling++;
    return 1;
fail:
    job_free(w->wait);
    free(w->body);
    free(w);
    return 0;
}
