/* HTTP connections (see http.h): read, check each request head (http_head.c), parse with
 * http-parser (its callbacks are in http_parse.c), enforce the limits, hand complete
 * requests to the API layer one at a time, and close. Responses are written by
 * http_response.c, which calls back into http_conn_response_done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

int http_buf_append(HttpBuf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

void http_buf_free(HttpBuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void http_conn_set_user(HttpConn *c, void *user) { c->user = user; }
void *http_conn_user(const HttpConn *c) { return c->user; }
const char *http_header(const HttpRequest *r, const char *name) {
    for (int i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

static void timer_arm(HttpConn *c, double seconds);

/* ---- feeding the parser ---- */

static void conn_bad_request(HttpConn *c, int status, const char *msg) {
    char body[320];
    int n = snprintf(body, sizeof body, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,"
                     "\"code\":%d}}", msg, status >= 500 ? "InternalServerError" : "BadRequestError", status);
    c->keep_alive = 0;
    c->req.keep_alive = 0;
    c->state = CONN_HANDLING;
    http_access_begin(c);
    snprintf(c->access.error, sizeof c->access.error, "%s", msg);
    http_respond(c, status, "application/json", body, (size_t)n, NULL);
}

/* A new request's head must be whole and valid before the parser sees it (http_head.c):
 * 1 to parse, 0 to wait for more bytes, -1 when it was refused. */
static int head_gate(HttpConn *c) {
    if (!c->started) { /* the whole request must arrive within read_timeout_s from its first byte */
        c->started = 1;
        timer_arm(c, c->srv->lim.read_timeout_s);
    }
    /* only the first max_header_bytes (and room for leading empty lines) can be a head: the
     * verdict on a head must not depend on how much arrived after it, or in which pieces */
    size_t max = c->srv->lim.max_header_bytes + 64;
    HttpHead h = {0};
    const char *msg = NULL;
    int rc = http_head_check(c->in.p, c->in.len < max ? c->in.len : max, &c->head_scan, &h, &msg);
    if (rc == 0 && c->in.len >= max) conn_bad_request(c, 431, "request header fields too large");
    else if (rc < 0)
        conn_bad_request(c, -rc, msg);
    if (rc <= 0) return c->state == CONN_READING ? 0 : -1;
    c->head_ok = 1;
    c->framed = h.len; /* the message so far: its head; its body is framed as it arrives */
    c->body_left = h.chunked ? 0 : h.content_length;
    c->chunk_state = h.chunked ? CHUNK_SIZE : CHUNK_NONE;
    c->chunk_left = 0;
    c->trailer_bytes = 0;
    return 1;
}

/* Frame what arrived of the message's body: c->framed grows over the bytes that belong to
 * it. 0, or the status of a fault in a chunked body's framing right after c->framed (its
 * message in c->err_msg): it is answered
 * once the parser has had the bytes before it, so that what is answered (a 401 from the
 * headers callback, a 413) never depends on how far the bytes had arrived. */
static int frame_body(HttpConn *c) {
    size_t avail = c->in.len - c->framed;
    int bad = 0;
    if (c->chunk_state == CHUNK_NONE) {
        size_t k = avail < c->body_left ? avail : (size_t)c->body_left;
        c->framed += k, c->body_left -= k;
    } else {
        c->framed += http_chunked_scan(c, c->in.p + c->framed, avail, &bad);
    }
    return bad;
}

static void conn_feed(HttpConn *c) {
    if (c->feeding) return;
    c->feeding = 1;
    while (c->state == CONN_READING && c->in.len > 0) {
        if (!c->head_ok && head_gate(c) <= 0) break;
        int bad = frame_body(c);
        if (c->framed == 0) { /* nothing of this message to parse (0 bytes would mean EOF) */
            if (bad) conn_bad_request(c, bad, c->err_msg);
            break;
        }
        /* the parser sees this message's bytes only: never a pipelined request's unchecked head */
        size_t n = http_parser_execute(&c->parser, &c->srv->settings, c->in.p, c->framed);
        memmove(c->in.p, c->in.p + n, c->in.len - n);
        c->in.len -= n;
        c->framed -= n < c->framed ? n : c->framed;
        if (c->state != CONN_READING) break; /* answered from inside the parser (on_headers) */
        if (c->complete) {
            c->complete = 0;
            c->state = CONN_HANDLING;
            c->keep_alive = c->req.keep_alive && !c->srv->draining;
            c->head_only = c->req.method == HTTP_HEAD;
            uv_timer_stop(&c->timer);
            http_access_begin(c);
            c->srv->on_request(c->srv->ud, c, &c->req);
            continue; /* responded at once (state READING again)? then parse the next one */
        }
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e != HPE_OK) {
            if (c->err_status == 413) conn_bad_request(c, 413, "request body too large");
            else if (c->err_status == 431 || e == HPE_HEADER_OVERFLOW)
                conn_bad_request(c, 431, "request header fields too large");
            else conn_bad_request(c, 400, http_errno_description(e));
            break;
        }
        if (n == 0) break;
    }
    c->feeding = 0;
}

/* ---- reading, timers and closing ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    HttpConn *c = h->data;
    *buf = uv_buf_init(c->srv->read_buf, sizeof c->srv->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    HttpConn *c = s->data;
    if (nread < 0) { /* EOF or reset: the client is gone (a queued or running request is aborted) */
        http_conn_abort(c);
        return;
    }
    if (nread == 0) return;
    http_conn_received(c, buf->base, (size_t)nread);
}

void http_conn_received(HttpConn *c, const char *p, size_t n) {
    if (c->state == CONN_CLOSING) return;
    if (http_buf_append(&c->in, p, n)) {
        http_conn_abort(c);
        return;
    }
    if (c->state == CONN_READING) {
        conn_feed(c);
    } else if (c->in.len > c->srv->lim.max_header_bytes + c->srv->lim.max_body && c->reading) {
        /* a client pipelining far ahead: stop reading until the response ends */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_timer(uv_timer_t *t) {
    HttpConn *c = t->data;
    if (c->state != CONN_READING) return;
    if (c->started) { /* slow or stalled request */
        conn_bad_request(c, 408, "request timed out");
        return;
    }
    http_conn_abort(c); /* idle keep-alive connection */
}

static void timer_arm(HttpConn *c, double seconds) {
    if (seconds <= 0) return;
    uv_timer_start(&c->timer, on_timer, (uint64_t)(seconds * 1000.0), 0);
}

static void on_handle_closed(uv_handle_t *h) {
    HttpConn *c = h->data;
    if (--c->open_handles > 0) return;
    HttpServer *s = c->srv;
    http_request_reset(c);
    http_buf_free(&c->in);
    free(c);
    s->n_records--;
    http_server_maybe_free(s);
}

static void conn_unlink(HttpConn *c) {
    HttpServer *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
}

/* The one place a connection stops being usable: on_close fires here, exactly once. */
static int conn_begin_close(HttpConn *c) {
    if (c->state == CONN_CLOSING) return -1;
    if (c->state == CONN_HANDLING) http_access_end(c, 1); /* its response never ended */
    c->state = CONN_CLOSING;
    uv_timer_stop(&c->timer);
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp), c->reading = 0;
    c->srv->on_close(c->srv->ud, c);
    c->user = NULL;
    conn_unlink(c);
    return 0;
}

static void close_handles(HttpConn *c) {
    if (c->handles_closing) return;
    c->handles_closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void http_conn_abort(HttpConn *c) {
    if (conn_begin_close(c)) return;
    close_handles(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) { close_handles(req->data); }

/* A closing connection whose last bytes the client does not read goes anyway: it must not
 * hold the server (a shutdown waits for every connection) for ever. */
static void on_flush_deadline(uv_timer_t *t) { close_handles(t->data); }

void http_conn_close_after_writes(HttpConn *c) {
    if (conn_begin_close(c)) return;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        on_shutdown(&c->shutdown, -1);
        return;
    }
    double s = c->srv->lim.stream_stall_s > 0 ? c->srv->lim.stream_stall_s : 30;
    if (c->srv->draining && s > 2) s = 2; /* shutting down: a short while for the last bytes */
    uv_timer_start(&c->timer, on_flush_deadline, (uint64_t)(s * 1000.0), 0);
}

void http_conn_response_done(HttpConn *c) {
    if (c->state != CONN_HANDLING) return;
    http_access_end(c, 0);
    int keep = c->keep_alive && !c->srv->draining;
    http_request_reset(c);
    c->started = 0;
    if (!keep) {
        http_conn_close_after_writes(c);
        return;
    }
    c->state = CONN_READING;
    http_parser_pause(&c->parser, 0);
    uv_timer_stop(&c->timer); /* a stream's stall watch */
    timer_arm(c, c->srv->lim.keep_alive_s);
    if (!c->reading && !c->sink && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    conn_feed(c); /* pipelined requests already received (no-op inside a synchronous response) */
}


void http_conn_accepted(HttpConn *c) {
    HttpServer *s = c->srv;
    http_access_peer(c);
    uv_tcp_nodelay(&c->tcp, 1); /* streamed tokens must not wait for Nagle */
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    timer_arm(c, s->lim.keep_alive_s);
    if (c->sink) return; /* detached (http_feed.c): bytes come from http_conn_feed */
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    else http_conn_abort(c);
}

void http_conn_closed_handle(uv_handle_t *h) { on_handle_closed(h); }
