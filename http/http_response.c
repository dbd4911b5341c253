/* Writing HTTP responses: a whole body with Content-Length, or a stream in chunked transfer
 * coding (SSE, NDJSON) that http_stream_end terminates. Each write owns a copy of its bytes
 * until libuv has written them; a write that fails means the client is gone and closes the
 * connection (which aborts its request through on_close). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

typedef struct WriteReq {
    uv_write_t req;
    HttpConn *conn;
    size_t len;
    char data[];
} WriteReq;

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 424: return "Failed Dependency";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void on_written(uv_write_t *req, int status) {
    WriteReq *w = (WriteReq *)req;
    HttpConn *c = w->conn;
    c->backlog -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED) http_conn_abort(c);
}

/* Queue up to three pieces as one write (a chunk is size line, data, CRLF). */
static void write3(HttpConn *c, const char *a, size_t na, const char *b, size_t nb, const char *d, size_t nd) {
    if (c->state == CONN_CLOSING || na + nb + nd == 0) return;
    WriteReq *w = malloc(sizeof *w + na + nb + nd);
    if (!w) {
        http_conn_abort(c);
        return;
    }
    w->conn = c;
    w->len = na + nb + nd;
    c->bytes_queued += w->len;
    if (c->access_open) c->access.bytes_out += w->len;
    if (c->sink) { /* a detached connection (http_feed.c) */
        if (na) c->sink(c->sink_ud, a, na);
        if (nb) c->sink(c->sink_ud, b, nb);
        if (nd) c->sink(c->sink_ud, d, nd);
        free(w);
        return;
    }
    if (na) memcpy(w->data, a, na);
    if (nb) memcpy(w->data + na, b, nb);
    if (nd) memcpy(w->data + na + nb, d, nd);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    c->backlog += w->len;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
    if (rc) {
        c->backlog -= w->len;
        free(w);
        http_conn_abort(c);
    }
}

void http_write_raw(HttpConn *c, const char *p, size_t n) { write3(c, p, n, NULL, 0, NULL, 0); }

size_t http_conn_backlog(const HttpConn *c) { return c->backlog; }

static int status_line(HttpConn *c, char *h, size_t cap, int status, const char *ctype) {
    return snprintf(h, cap,
                    "HTTP/1.1 %d %s\r\n"
                    "Server: piston\r\n"
                    "Content-Type: %s\r\n"
                    "Connection: %s\r\n",
                    status, http_status_text(status), ctype, c->keep_alive && !c->srv->draining ? "keep-alive" : "close");
}

void http_respond(HttpConn *c, int status, const char *content_type, const char *body, size_t len,
                  const char *extra_headers) {
    if (c->state != CONN_HANDLING) return;
    if (c->srv->draining) c->keep_alive = 0;
    http_access_status(c, status);
    char h[2560];
    int n = status_line(c, h, sizeof h, status, content_type);
    n += snprintf(h + n, sizeof h - (size_t)n, "Content-Length: %zu\r\n%s%s\r\n", len, c->hdrs,
                  extra_headers ? extra_headers : "");
    if (n >= (int)sizeof h) n = (int)sizeof h - 1; /* extra_headers are ours and short */
    write3(c, h, (size_t)n, c->head_only ? NULL : body, c->head_only ? 0 : len, NULL, 0);
    http_conn_response_done(c);
}

void http_stream_begin(HttpConn *c, int status, const char *content_type) {
    if (c->state != CONN_HANDLING || c->streaming) return;
    if (c->srv->draining) c->keep_alive = 0;
    c->streaming = 1;
    http_access_status(c, status);
    /* HTTP/1.0 has no chunked coding: the body ends when the connection closes */
    c->chunked = c->req.http_minor >= 1;
    if (!c->chunked) c->keep_alive = 0;
    char h[1792];
    int n = status_line(c, h, sizeof h, status, content_type);
    n += snprintf(h + n, sizeof h - (size_t)n, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n%s%s\r\n",
                  c->chunked ? "Transfer-Encoding: chunked\r\n" : "", c->hdrs);
    write3(c, h, (size_t)n, NULL, 0, NULL, 0);
    http_stall_watch(c);
}

void http_stream_send(HttpConn *c, const char *data, size_t len) {
    if (c->state != CONN_HANDLING || !c->streaming || len == 0 || c->head_only) return;
    if (http_stream_over_backlog(c)) return; /* cut: its request is aborted through on_close */
    if (!c->chunked) {
        write3(c, data, len, NULL, 0, NULL, 0);
        return;
    }
    char sz[24];
    int n = snprintf(sz, sizeof sz, "%zx\r\n", len);
    write3(c, sz, (size_t)n, data, len, "\r\n", 2);
}

void http_stream_end(HttpConn *c) {
    if (c->state != CONN_HANDLING || !c->streaming) return;
    if (c->chunked && !c->head_only) write3(c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
    http_conn_response_done(c);
}
