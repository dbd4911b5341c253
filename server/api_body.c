/* Request bodies: UTF-8 (RFC 8259's JSON is UTF-8; other bytes would reach prompts and, quoted,
 * error bodies), one JSON object with nothing after it, and error texts made valid UTF-8.
 *
 * Parsing grows with the body (tens of milliseconds for 8 MiB), so a long one is parsed on
 * libuv's worker pool from a copy (the connection, and its request, may go away meanwhile),
 * and the route's handler runs when it is done, finding the result in s->parsed. Until then
 * a placeholder job holds the connection, so that a client that leaves is noticed (its conn
 * becomes NULL; abort_sent: there is nothing to abort in the engine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_common.h"

/* The length of the UTF-8 sequence at p[i] (of n), or 0 when it is not one: overlong forms,
 * surrogates and code points beyond U+10FFFF are not. */
static size_t utf8_seq(const unsigned char *p, size_t i, size_t n) {
    unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n || (len == 2 && c < 0xc2) || c > 0xf4) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[i + k] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0))) return 0;
    if (len == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))) return 0;
    return len;
}

/* The offset of the first byte of p[0, n) that is not UTF-8, or -1 when it all is. */
static long utf8_invalid_at(const unsigned char *p, size_t n) {
    for (size_t i = 0, l; i < n; i += l)
        if (!(l = utf8_seq(p, i, n))) return (long)i;
    return -1;
}

cJSON *api_json_parse(const char *body, size_t len, char *err, size_t n) {
    const char *end = NULL;
    /* JSON is UTF-8 (RFC 8259): other bytes would reach prompts and, quoted, error bodies */
    long bad = utf8_invalid_at((const unsigned char *)body, len);
    if (bad >= 0) return snprintf(err, n, "the request body is not valid UTF-8 (byte %ld): JSON must be UTF-8", bad), NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    size_t rest = j && end ? (size_t)(end - body) : 0;
    while (j && rest < len && body[rest] && strchr(" \t\r\n", body[rest])) rest++;
    if (j && rest < len) { /* {"a":1} xyz: one JSON value is the whole body */
        cJSON_Delete(j);
        return snprintf(err, n, "malformed JSON in the request body: bytes after the JSON value (at byte %zu)", rest), NULL;
    }
    if (!j) {
        if (len == 0) snprintf(err, n, "the request body is empty: a JSON object is expected");
        else snprintf(err, n, "malformed JSON in the request body (near byte %ld)", end ? (long)(end - body) : 0L);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return snprintf(err, n, "the request body must be a JSON object"), NULL;
    }
    return j;
}

cJSON *api_parse_body(Server *s, HttpConn *c, Dialect d, const HttpRequest *r) {
    char err[192];
    cJSON *j;
    if (s->parsed.req == r) { /* parsed on the worker pool (api_routes.c) */
        j = s->parsed.json;
        snprintf(err, sizeof err, "%s", s->parsed.err);
        s->parsed.req = NULL, s->parsed.json = NULL;
    } else {
        j = api_json_parse(r->body, r->body_len, err, sizeof err);
    }
    if (!j) api_error(c, d, 400, NULL, "%s", err);
    return j;
}

/* Bytes that are not valid UTF-8 (a byte-level piece that ends inside a character)
 * become U+FFFD, one per bad byte. */
char *api_utf8_sanitize(const char *p, size_t n) {
    char *o = malloc(3 * n + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)p, i, n);
        if (len) {
            memcpy(o + j, p + i, len);
            j += len, i += len;
        } else {
            memcpy(o + j, "\xef\xbf\xbd", 3);
            j += 3, i++;
        }
    }
    o[j] = 0;
    return o;
}

#define PARSE_INLINE_BYTES (64 << 10)

typedef struct ParseWork {
    uv_work_t req;
    Server *s;
    Job *wait;                /* the placeholder */
    HttpRequest *r;
    Dialect dialect;
    int generates;
    ApiHandler handler;
    char *body;               /* a copy, [len] */
    size_t len;
    cJSON *json;
    char err[192];
} ParseWork;

static const JobOps k_wait_ops = {"application/json", NULL, NULL};

static void parse_work(uv_work_t *req) {
    ParseWork *w = req->data;
    w->json = api_json_parse(w->body, w->len, w->err, sizeof w->err);
}

static void parse_done(uv_work_t *req, int status) {
    ParseWork *w = req->data;
    Server *s = w->s;
    HttpConn *c = w->wait->conn;
    s->n_compiling--;
    if (c) { /* the client is still there, and so is its request */
        http_conn_set_user(c, NULL);
        if (status) {
            api_error(c, w->dialect, 500, NULL, "the request's parsing was cancelled");
        } else if (w->generates && s->shutting_down) {
            api_error(c, w->dialect, 503, NULL, "the server is shutting down");
        } else {
            s->parsed.req = w->r, s->parsed.json = w->json, w->json = NULL;
            snprintf(s->parsed.err, sizeof s->parsed.err, "%s", w->err);
            w->handler(s, c, w->r);
            if (s->parsed.req == w->r) cJSON_Delete(s->parsed.json); /* a handler that did not parse */
            s->parsed.req = NULL, s->parsed.json = NULL;
        }
    }
    cJSON_Delete(w->json);
    job_free(w->wait);
    free(w->body);
    free(w);
    serve_job_released(s); /* a shutdown may have waited for this */
}

int api_parse_later(Server *s, HttpConn *c, HttpRequest *r, Dialect d, int generates, ApiHandler handler) {
    if (r->body_len <= PARSE_INLINE_BYTES) return 0;
    ParseWork *w = calloc(1, sizeof *w);
    if (!w) return 0;
    w->req.data = w, w->s = s, w->r = r, w->len = r->body_len;
    w->dialect = d, w->generates = generates, w->handler = handler;
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

