/* Connections without sockets (see http.h): a server record that listens nowhere, and
 * connections whose bytes are handed in by the caller and whose responses go to a sink.
 * Everything else is the socket path's own code (parsing, limits, the application's
 * callbacks, responses), which is what lets a fuzz target or a unit test drive the real
 * request handling byte by byte. Timers still run on the loop the caller gives; the records
 * are freed once the caller runs that loop after closing. */
#include <stdlib.h>

#include "http/http_internal.h"

HttpServer *http_server_new_detached(uv_loop_t *loop, const HttpLimits *lim, HttpRequestCb on_request,
                                     HttpCloseCb on_close, void *ud) {
    HttpServer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->loop = loop;
    s->lim = *lim;
    s->on_request = on_request;
    s->on_close = on_close;
    s->ud = ud;
    http_conn_settings(&s->settings);
    return s;
}

HttpConn *http_conn_new_detached(HttpServer *s, HttpSinkCb sink, void *sink_ud) {
    HttpConn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = s;
    c->sink = sink;
    c->sink_ud = sink_ud;
    uv_tcp_init(s->loop, &c->tcp); /* no socket: the handle only carries the record's life */
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    s->n_records++;
    http_conn_accepted(c);
    return c;
}

int http_conn_feed(HttpConn *c, const char *p, size_t n) {
    if (c->state == CONN_CLOSING) return -1;
    if (n) http_conn_received(c, p, n);
    return c->state == CONN_CLOSING ? -1 : 0;
}

void http_conn_feed_eof(HttpConn *c) { http_conn_abort(c); }
