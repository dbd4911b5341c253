/* The http-parser callbacks of a connection (see http.c for the feeding): copy what the
 * parser reports into the request, stop at a limit, drop a chunked body's trailer fields
 * (they never count as headers: not for the API key, not for framing), and ask the application
 * about a request once its headers are in (HttpHeadersCb) before 100 Continue invites its
 * body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

void http_request_reset(HttpConn *c) {
    for (int i = 0; i < c->req.n_headers; i++) free(c->req.headers[i].name), free(c->req.headers[i].value);
    free(c->req.headers);
    free(c->req.path);
    memset(&c->req, 0, sizeof c->req);
    http_buf_free(&c->url);
    http_buf_free(&c->body);
    c->header_bytes = 0;
    c->last_was_value = 0;
    c->complete = c->err_status = 0;
    c->err_msg = NULL;
    c->in_trailer = 0; /* the framing (framed, body_left, chunk_*) is the head's: http.c sets it */
    c->head_only = c->streaming = c->chunked = 0;
}


/* ---- parser callbacks: copy what the parser reports, and stop at a limit ---- */

static int header_budget(HttpConn *c, size_t n) {
    c->header_bytes += n;
    if (c->header_bytes > c->srv->lim.max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p) {
    http_request_reset(p->data); /* the read timeout runs since the first byte (head_gate) */
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    HttpConn *c = p->data;
    if (header_budget(c, n)) return -1;
    return http_buf_append(&c->url, at, n);
}

/* http-parser may hand a header name or value over in several pieces: append to *dst */
static int append_chunk(char **dst, const char *at, size_t n) {
    size_t old = *dst ? strlen(*dst) : 0;
    char *s = realloc(*dst, old + n + 1);
    if (!s) return -1;
    memcpy(s + old, at, n);
    s[old + n] = 0;
    *dst = s;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    HttpConn *c = p->data;
    if (c->in_trailer) return 0; /* a chunked trailer: dropped, it never counts as a header (its size: http_chunked.c) */
    if (header_budget(c, n)) return -1;
    HttpRequest *r = &c->req;
    if (r->n_headers == 0 || c->last_was_value) { /* a new header; else the name continues */
        if (r->n_headers >= c->srv->lim.max_headers) {
            c->err_status = 431;
            return -1;
        }
        if (!r->headers) r->headers = calloc((size_t)c->srv->lim.max_headers, sizeof *r->headers);
        if (!r->headers) return -1;
        r->n_headers++;
    }
    c->last_was_value = 0;
    return append_chunk(&r->headers[r->n_headers - 1].name, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    HttpConn *c = p->data;
    if (c->in_trailer) return 0;
    if (header_budget(c, n)) return -1;
    c->last_was_value = 1;
    return append_chunk(&c->req.headers[c->req.n_headers - 1].value, at, n);
}

/* The application's say on a request before its body is read (HttpHeadersCb): 1 when it
 * answered the request itself. The connection is HANDLING meanwhile, so that it can. */
static int headers_refused(HttpConn *c) {
    c->state = CONN_HANDLING;
    c->keep_alive = 0; /* an answer now leaves the body unread: the connection cannot go on */
    c->head_only = c->req.method == HTTP_HEAD;
    http_access_begin(c);
    if (c->srv->on_headers(c->srv->ud, c, &c->req) == 0) {
        c->state = CONN_READING;
        c->access_open = 0; /* the request's record opens again when it is complete */
        c->head_only = 0;
        return 0;
    }
    if (c->state == CONN_HANDLING) http_respond(c, 500, "application/json", "{}", 2, NULL); /* said no, sent nothing */
    return 1;
}

static int on_headers_complete(http_parser *p) {
    HttpConn *c = p->data;
    HttpRequest *r = &c->req;
    c->in_trailer = 1;
    for (int i = 0; i < r->n_headers; i++)
        if (!r->headers[i].value) r->headers[i].value = strdup("");
    r->method = p->method;
    r->method_name = http_method_str(p->method);
    r->http_minor = p->http_minor;
    const char *url = c->url.p ? c->url.p : "/";
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    r->path = malloc(plen + 1 + (q ? strlen(q + 1) : 0) + 1);
    if (!r->path) return -1;
    memcpy(r->path, url, plen);
    r->path[plen] = 0;
    r->query = r->path + plen + 1;
    strcpy(r->query, q ? q + 1 : "");
    /* a declared body over the limit is refused before a byte of it is read */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->lim.max_body) {
        c->err_status = 413;
        return -1;
    }
    if (c->srv->on_headers && headers_refused(c)) return -1; /* answered (401, ...): no 100 Continue */
    /* only now, the head valid and the request allowed, may the client send its body */
    const char *expect = http_header(r, "expect");
    if (expect && !strcasecmp(expect, "100-continue") && p->http_minor >= 1) http_write_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    HttpConn *c = p->data;
    if (c->body.len + n > c->srv->lim.max_body) {
        c->err_status = 413;
        return -1;
    }
    return http_buf_append(&c->body, at, n);
}

static int on_message_complete(http_parser *p) {
    HttpConn *c = p->data;
    c->complete = 1;
    c->req.keep_alive = http_should_keep_alive(p);
    if (!c->body.p && http_buf_append(&c->body, "", 0)) return -1; /* an empty body is still a string */
    c->req.body = c->body.p;
    c->req.body_len = c->body.len;
    c->head_ok = 0, c->head_scan = 0; /* the next request's head is checked anew */
    http_parser_pause(p, 1); /* one request at a time: the rest waits in c->in */
    return 0;
}

void http_conn_settings(http_parser_settings *st) {
    memset(st, 0, sizeof *st);
    st->on_message_begin = on_message_begin;
    st->on_url = on_url;
    st->on_header_field = on_header_field;
    st->on_header_value = on_header_value;
    st->on_headers_complete = on_headers_complete;
    st->on_body = on_body;
    st->on_message_complete = on_message_complete;
}
