/* What http.c (connections, parsing) and http_response.c (writing) share: the connection
 * and server records. Nothing outside http/ includes this. */
#ifndef PISTON_HTTP_INTERNAL_H
#define PISTON_HTTP_INTERNAL_H

#include <http_parser.h>

#include "http/http.h"

/* A connection's life:
 *
 *   accept ──▶ READING ── request complete ──▶ HANDLING ── response ends ──┐
 *                ▲   (parser paused: later       (API works; bytes that    │
 *                │    pipelined bytes wait)        arrive are buffered)    │
 *                └──────────────── keep-alive ◀────────────────────────────┤
 *                                                                          ▼ no keep-alive,
 *   read error, EOF, timeout, write error, bad request ─────────────▶ CLOSING  draining
 *                                   (on_close fires once; freed after both handles close) */
typedef enum ConnState { CONN_READING = 0, CONN_HANDLING, CONN_CLOSING } ConnState;

typedef struct HttpBuf {
    char *p;
    size_t len, cap;
} HttpBuf;

struct HttpConn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    HttpServer *srv;
    HttpConn *prev, *next;  /* the server's list of live connections */
    int open_handles;       /* tcp and timer: the record is freed when both have closed */
    ConnState state;
    http_parser parser;
    HttpBuf in;             /* received, not yet parsed (pipelined requests wait here) */
    int feeding;            /* inside conn_feed: a synchronous response must not re-enter */
    int reading;            /* uv_read_start is on */
    /* the request being parsed */
    HttpRequest req;
    HttpBuf url, body;
    size_t header_bytes;
    int last_was_value;
    int started;            /* the request's first byte has arrived */
    int complete;
    int err_status;         /* a limit a callback enforced (413, 431, 400), else 0 */
    const char *err_msg;    /* with err_status, when a callback names the fault */
    size_t head_scan;       /* bytes of c->in scanned for the head's end (http_head.c) */
    int head_ok;            /* the head was checked whole: the parser may have it */
    int in_trailer;         /* the headers are complete: fields now are a chunked trailer */
    /* the current message's framing, from its head: the parser only ever sees c->in's first
     * `framed` bytes, which belong to this message and have been checked */
    size_t framed;
    uint64_t body_left;     /* Content-Length bytes not yet framed */
    int chunk_state;        /* a chunked body's scan (http_chunked.c), or CHUNK_NONE */
    uint64_t chunk_left;    /* bytes of the current chunk's data not yet framed */
    int chunk_digits;
    size_t trailer_bytes;
    /* the response */
    int head_only;          /* HEAD: headers without the body */
    int streaming, chunked;
    int keep_alive;
    size_t backlog;         /* bytes handed to uv_write and not yet written */
    uint64_t bytes_queued;  /* every byte handed to uv_write on this connection */
    uint64_t stall_acked;   /* the stall watch (http_stall.c): bytes the client had taken, */
    double stall_since;     /* and since when that figure has not moved */
    int handles_closing;    /* uv_close was called on tcp and timer (the shutdown may still report) */
    HttpSinkCb sink;        /* a detached connection (http_feed.c): responses go here */
    void *sink_ud;
    void *user;
    /* the access record of the request being handled, and its extra response headers */
    HttpAccess access;
    int access_open;
    char peer[64];
    char hdrs[1024];
    size_t hdrs_len;
};

struct HttpServer {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int listening, listener_open;
    int port;
    HttpLimits lim;
    HttpRequestCb on_request;
    HttpCloseCb on_close;
    HttpLogCb on_log;
    HttpHeadersCb on_headers;
    void *ud;
    HttpConn *conns;
    int n_conns;            /* linked (usable) connections */
    int n_records;          /* allocated connection records, closing ones included */
    int draining;
    int destroying;
    void (*destroyed_cb)(void *ud);
    http_parser_settings settings;
    char read_buf[65536];   /* one read at a time on the loop thread: consumed in read_cb */
};

int http_buf_append(HttpBuf *b, const char *p, size_t n);
/* What a valid head says of its message. */
typedef struct HttpHead {
    size_t len;              /* the head's bytes, leading empty lines and the final CRLF included */
    int chunked;             /* Transfer-Encoding: chunked; else content_length bytes of body */
    uint64_t content_length;
} HttpHead;
/* http_head.c: the head at the start of p[0, n): 1 when it is complete and valid (*h says
 * what it frames), 0 when more are needed (*scanned remembers how far the scan got; 0 for a
 * new head), or -status with *msg naming the fault. */
int http_head_check(const char *p, size_t n, size_t *scanned, HttpHead *h, const char **msg);
/* http_chunked.c: a chunked body's framing, checked byte by byte as RFC 9112 writes it (the
 * CRLF after each chunk's data, no bare LF or CR, no control bytes in extensions and
 * trailer lines, the trailer within max_header_bytes): the bytes of p[0, n) that belong to
 * the message and are well framed (fewer once it ends: c->chunk_state is then CHUNK_DONE);
 * *bad is the status of the fault of the byte right after them (c->err_msg says it), or 0. */
enum { CHUNK_NONE = 0, CHUNK_SIZE, CHUNK_SIZE_MORE, CHUNK_BWS, CHUNK_EXT, CHUNK_SIZE_LF, CHUNK_DATA, CHUNK_DATA_CR,
       CHUNK_DATA_LF, CHUNK_TRAILER, CHUNK_TRAILER_LINE, CHUNK_TRAILER_LF, CHUNK_END_LF, CHUNK_DONE };
size_t http_chunked_scan(HttpConn *c, const char *p, size_t n, int *bad);
/* Bytes read from the connection (http.c): parsed now, or buffered while a request is
 * handled. */
void http_conn_received(HttpConn *c, const char *p, size_t n);
/* http_stall.c: watch a stream for a client that reads nothing (from http_stream_begin),
 * and cut a stream (the access log says why; on_close aborts its request). */
void http_stall_watch(HttpConn *c);
void http_stream_cut(HttpConn *c, const char *why);
/* More of the stream than --stream-max-backlog waits for the client (queued, or in the
 * socket unacknowledged): cut it, and 1. */
int http_stream_over_backlog(HttpConn *c);
void http_buf_free(HttpBuf *b);

/* Queue bytes as they are (the status line of "100 Continue", the parts of a response). */
void http_write_raw(HttpConn *c, const char *p, size_t n);
/* The response is complete: back to READING (keep-alive) or close once written. */
void http_conn_response_done(HttpConn *c);
/* http_access.c: a request's record opens when it is complete (or refused unparsed), takes
 * the status of its response, and closes once, with the log callback. */
void http_access_begin(HttpConn *c);
void http_access_status(HttpConn *c, int status);
void http_access_end(HttpConn *c, int client_gone);
void http_access_peer(HttpConn *c);
/* http_parse.c: the parser callbacks, and the request record emptied for the next one. */
void http_conn_settings(http_parser_settings *st);
void http_request_reset(HttpConn *c);
/* A new connection: link it, start its parser, timer and reads (http.c). */
void http_conn_accepted(HttpConn *c);
/* The close callback of a connection's handles: the record goes after the second. */
void http_conn_closed_handle(uv_handle_t *h);
/* Free the server when it is being destroyed and nothing refers to it (http_server.c). */
void http_server_maybe_free(HttpServer *s);
/* Close now (pending writes are dropped), or once the queued writes are flushed. */
void http_conn_abort(HttpConn *c);
void http_conn_close_after_writes(HttpConn *c);

#endif
