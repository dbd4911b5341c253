/* The benchmarks' HTTP/1.1 client (http_client.h). One connection is a small state machine:
 * closed -> connecting -> connected (idle or busy with one request) -> closing -> closed,
 * and a request that finds its connection closed or closing waits for the reconnect. The
 * response goes through http-parser, which removes chunked framing; the body reaches the
 * caller as it arrives, stamped with the time of the read. */
#include "bench/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"

int hc_target_parse(HcTarget *t, const char *url, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (!strncmp(url, "https://", 8))
        return err_set(err, errlen, -EINVAL, "%s: https is not supported; point --base-url at http://", url);
    if (strncmp(url, "http://", 7))
        return err_set(err, errlen, -EINVAL, "--base-url expects http://HOST[:PORT], got '%s'", url);
    const char *h = url + 7, *end = h + strcspn(h, "/");
    const char *colon = NULL;
    if (*h == '[') { /* [::1]:8000 */
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) return err_set(err, errlen, -EINVAL, "%s: unterminated [ in the host", url);
        if ((size_t)(rb - h - 1) >= sizeof t->host) return err_set(err, errlen, -EINVAL, "%s: host too long", url);
        memcpy(t->host, h + 1, (size_t)(rb - h - 1));
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        const char *he = colon ? colon : end;
        if (he == h || (size_t)(he - h) >= sizeof t->host)
            return err_set(err, errlen, -EINVAL, "%s: no host", url);
        memcpy(t->host, h, (size_t)(he - h));
    }
    t->port = 80;
    if (colon) {
        char *pe;
        long p = strtol(colon + 1, &pe, 10);
        if (pe != end || p <= 0 || p > 65535) return err_set(err, errlen, -EINVAL, "%s: bad port", url);
        t->port = (int)p;
    }
    size_t pl = strlen(end);
    while (pl > 0 && end[pl - 1] == '/') pl--; /* http://h:1/ and http://h:1 are the same */
    if (pl >= sizeof t->prefix) return err_set(err, errlen, -EINVAL, "%s: path too long", url);
    memcpy(t->prefix, end, pl);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    int rc = getaddrinfo(t->host, port, &hints, &res);
    if (rc || !res) return err_set(err, errlen, -EHOSTUNREACH, "cannot resolve %s: %s", t->host, gai_strerror(rc));
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

enum { ST_CLOSED, ST_CONNECTING, ST_CONNECTED, ST_CLOSING };

struct HcConn {
    uv_loop_t *loop;
    const HcTarget *t;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_write_t wreq;
    http_parser parser;
    http_parser_settings settings;
    int state;
    int open_handles;  /* handles not yet through their close callback */
    int freeing;
    int busy;          /* a request is in flight */
    int sent_on_reuse; /* this request went out on a connection an earlier one used */
    int retried;
    int uses;          /* requests the current connection carried */
    int msg_done;
    size_t received;   /* response bytes of this request */
    char *req;         /* the request, whole */
    size_t req_len;
    double timeout_s;
    HcHandler h;
    char rbuf[65536];
    int64_t t_read;        /* base_now_ns() of the read being parsed */
    char pending_err[160]; /* a failure found inside hc_request, reported from the loop */
};

static void conn_connect(HcConn *c);
static void on_timeout(uv_timer_t *tm);

static void on_handle_closed(uv_handle_t *hd) {
    HcConn *c = hd->data;
    c->open_handles--;
    if ((uv_handle_t *)&c->tcp == hd) {
        c->state = ST_CLOSED;
        if (!c->freeing && c->busy) conn_connect(c); /* a request waits for a fresh connection */
    }
    if (c->freeing && c->open_handles == 0) {
        free(c->req);
        free(c);
    }
}

static void conn_close(HcConn *c) {
    if (c->state == ST_CLOSED || c->state == ST_CLOSING) return;
    c->state = ST_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* The request ends: err NULL (a whole response) or the reason. */
static void finish(HcConn *c, const char *err) {
    if (!c->busy) return;
    c->busy = 0;
    uv_timer_stop(&c->timer);
    if (err || !http_should_keep_alive(&c->parser)) conn_close(c);
    HcHandler h = c->h;
    if (h.on_done) h.on_done(h.ctx, err, base_now_ns());
}

static int p_status(http_parser *p, const char *at, size_t n) {
    HcConn *c = p->data;
    if (c->h.on_status) c->h.on_status(c->h.ctx, (int)p->status_code);
    return 0;
}

static int p_body(http_parser *p, const char *at, size_t n) {
    HcConn *c = p->data;
    if (c->h.on_body) c->h.on_body(c->h.ctx, at, n, c->t_read);
    return 0;
}

static int p_complete(http_parser *p) {
    HcConn *c = p->data;
    c->msg_done = 1;
    http_parser_pause(p, 1); /* nothing after the response belongs to this request */
    return 0;
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    HcConn *c = hd->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void retry_or_fail(HcConn *c, const char *err) {
    /* a keep-alive connection the server closed while it was idle: nothing of this response
     * came, so nothing was processed; send it once more on a fresh connection */
    if (c->busy && c->received == 0 && c->sent_on_reuse && !c->retried) {
        c->retried = 1;
        conn_close(c); /* on_handle_closed reconnects */
        return;
    }
    finish(c, err);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    HcConn *c = s->data;
    if (nread == 0) return;
    if (!c->busy) { /* the server closed an idle connection, or sent what no one asked for */
        conn_close(c);
        return;
    }
    char msg[160];
    if (nread < 0) {
        if (nread == UV_EOF) {
            c->t_read = base_now_ns();
            http_parser_execute(&c->parser, &c->settings, NULL, 0); /* a body that ends at close */
            if (c->msg_done) {
                conn_close(c);
                finish(c, NULL);
                return;
            }
            retry_or_fail(c, c->received ? "the server closed the connection mid-response"
                                         : "the server closed the connection without a response");
            return;
        }
        snprintf(msg, sizeof msg, "read: %s", uv_strerror((int)nread));
        retry_or_fail(c, msg);
        return;
    }
    c->received += (size_t)nread;
    c->t_read = base_now_ns();
    size_t used = http_parser_execute(&c->parser, &c->settings, buf->base, (size_t)nread);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->msg_done) {
        http_parser_pause(&c->parser, 0);
        finish(c, NULL);
        return;
    }
    if (e != HPE_OK || used != (size_t)nread) {
        snprintf(msg, sizeof msg, "bad HTTP response: %s", http_errno_description(e));
        finish(c, msg);
    }
}

static void on_write(uv_write_t *w, int status) {
    HcConn *c = w->data;
    if (status < 0 && c->busy) {
        char msg[128];
        snprintf(msg, sizeof msg, "write: %s", uv_strerror(status));
        retry_or_fail(c, msg);
    }
}

static void conn_send(HcConn *c) {
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->msg_done = 0;
    c->received = 0;
    c->sent_on_reuse = c->uses > 0;
    c->uses++;
    uv_buf_t b = uv_buf_init(c->req, (unsigned)c->req_len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc) {
        char msg[128];
        snprintf(msg, sizeof msg, "write: %s", uv_strerror(rc));
        retry_or_fail(c, msg);
    }
}

static void on_connect(uv_connect_t *r, int status) {
    HcConn *c = r->data;
    if (c->state != ST_CONNECTING) return;
    if (status < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot connect to %.100s:%d: %s", c->t->host, c->t->port, uv_strerror(status));
        c->retried = 1; /* a refused connection is not a stale one */
        finish(c, msg);
        conn_close(c);
        return;
    }
    c->state = ST_CONNECTED;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->busy) conn_send(c);
}

static void conn_connect(HcConn *c) {
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles++;
    c->state = ST_CONNECTING;
    c->uses = 0;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&c->t->addr, on_connect);
    if (rc) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot connect to %.100s:%d: %s", c->t->host, c->t->port, uv_strerror(rc));
        c->state = ST_CONNECTED; /* so that conn_close closes the handle */
        conn_close(c);
        c->retried = 1;
        /* report it from the loop, as every other end: the caller may be inside hc_request */
        snprintf(c->pending_err, sizeof c->pending_err, "%s", msg);
        uv_timer_start(&c->timer, on_timeout, 0, 0);
    }
}

static void on_timeout(uv_timer_t *tm) {
    HcConn *c = tm->data;
    char msg[160];
    if (c->pending_err[0]) snprintf(msg, sizeof msg, "%s", c->pending_err), c->pending_err[0] = 0;
    else snprintf(msg, sizeof msg, "timed out after %g s", c->timeout_s);
    c->retried = 1;
    finish(c, msg);
}

HcConn *hc_conn_new(uv_loop_t *loop, const HcTarget *t) {
    HcConn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop, c->t = t;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    c->state = ST_CLOSED;
    c->settings.on_status = p_status;
    c->settings.on_body = p_body;
    c->settings.on_message_complete = p_complete;
    return c;
}

int hc_conn_idle(const HcConn *c) { return !c->busy; }

int hc_request(HcConn *c, const char *method, const char *path, const char *body, size_t body_len,
               const char *extra_headers, double timeout_s, const HcHandler *h) {
    if (c->busy || c->freeing) return -1;
    char head[2048];
    const HcTarget *t = c->t;
    int n = snprintf(head, sizeof head,
                     "%s %s%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: piston-bench\r\n%s%s%s%s",
                     method, t->prefix, path, t->host, t->port, t->api_key[0] ? "Authorization: Bearer " : "",
                     t->api_key, t->api_key[0] ? "\r\n" : "", extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof head - 96) return -1;
    if (body)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                      body_len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    free(c->req);
    c->req_len = (size_t)n + (body ? body_len : 0);
    c->req = malloc(c->req_len);
    if (!c->req) return -1;
    memcpy(c->req, head, (size_t)n);
    if (body) memcpy(c->req + n, body, body_len);
    c->h = *h;
    c->busy = 1;
    c->retried = 0;
    c->timeout_s = timeout_s;
    if (timeout_s > 0) uv_timer_start(&c->timer, on_timeout, (uint64_t)(timeout_s * 1000.0 + 0.5), 0);
    if (c->state == ST_CONNECTED) conn_send(c);
    else if (c->state == ST_CLOSED) conn_connect(c);
    /* connecting: on_connect sends it; closing: on_handle_closed reconnects */
    return 0;
}

void hc_conn_free(HcConn *c) {
    if (!c) return;
    c->busy = 0;
    c->freeing = 1;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    if (c->state == ST_CONNECTING || c->state == ST_CONNECTED) {
        c->state = ST_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    }
}

/* hc_fetch: one request on its own loop */
typedef struct Fetch {
    HcResponse *out;
    size_t cap;
    int done;
    char err[256];
} Fetch;

static void f_status(void *ctx, int status) { ((Fetch *)ctx)->out->status = status; }

static void f_body(void *ctx, const char *p, size_t n, int64_t t) {
    (void)t;
    Fetch *f = ctx;
    HcResponse *r = f->out;
    if (r->len + n + 1 > f->cap) {
        size_t cap = (r->len + n + 1) * 2;
        char *b = realloc(r->body, cap);
        if (!b) return;
        r->body = b, f->cap = cap;
    }
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = 0;
}

static void f_done(void *ctx, const char *err, int64_t t) {
    (void)t;
    Fetch *f = ctx;
    f->done = 1;
    if (err) snprintf(f->err, sizeof f->err, "%s", err);
}

int hc_fetch(const HcTarget *t, const char *method, const char *path, const char *body, double timeout_s,
             HcResponse *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    uv_loop_t loop;
    if (uv_loop_init(&loop)) return err_set(err, errlen, -ENOMEM, "cannot start an event loop");
    Fetch f = {out, 0, 0, {0}};
    HcHandler h = {&f, f_status, f_body, f_done};
    HcConn *c = hc_conn_new(&loop, t);
    int rc = c ? hc_request(c, method, path, body, body ? strlen(body) : 0, NULL, timeout_s, &h) : -1;
    if (rc == 0)
        while (!f.done && uv_run(&loop, UV_RUN_ONCE)) {
        }
    hc_conn_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc) return err_set(err, errlen, -ENOMEM, "out of memory");
    if (f.err[0]) {
        free(out->body);
        out->body = NULL, out->len = 0;
        return err_set(err, errlen, -EIO, "%s %s%s: %s", method, t->prefix, path, f.err);
    }
    if (!out->body) out->body = calloc(1, 1);
    return 0;
}
