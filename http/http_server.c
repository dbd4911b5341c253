/* The listening side of the HTTP server (see http.h): bind and listen, accept connections
 * (refusing those over --max-connections or while draining), drain at shutdown and free
 * the server once its last connection has closed. http.c runs each connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

int http_server_port(const HttpServer *s) { return s->port; }
int http_server_num_conns(const HttpServer *s) { return s->n_conns; }

/* The server record goes once it is being destroyed and nothing refers to it. */
void http_server_maybe_free(HttpServer *s) {
    if (!s->destroying || s->n_records > 0 || s->listener_open) return;
    void (*cb)(void *) = s->destroyed_cb;
    void *ud = s->ud;
    free(s);
    if (cb) cb(ud);
}

static void on_connection(uv_stream_t *ls, int status) {
    HttpServer *s = ls->data;
    if (status < 0) return;
    HttpConn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    s->n_records++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0 || s->draining || s->n_conns >= s->lim.max_connections) {
        c->state = CONN_CLOSING; /* never linked, never seen by the API */
        uv_close((uv_handle_t *)&c->tcp, http_conn_closed_handle);
        uv_close((uv_handle_t *)&c->timer, http_conn_closed_handle);
        return;
    }
    http_conn_accepted(c);
}

int http_server_start(uv_loop_t *loop, const char *host, int port, const HttpLimits *lim, HttpRequestCb on_request,
                      HttpCloseCb on_close, void *ud, HttpServer **out, char *err, size_t errlen) {
    HttpServer *s = http_server_new_detached(loop, lim, on_request, on_close, ud); /* the record, no listener yet */
    if (!s) return snprintf(err, errlen, "out of memory"), -1;
    struct sockaddr_storage addr;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc) { /* a host name ("localhost"): resolved once, here, synchronously (no callback) */
        uv_getaddrinfo_t req;
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        if (uv_getaddrinfo(loop, &req, NULL, host, NULL, &hints) != 0 || !req.addrinfo) {
            free(s);
            return snprintf(err, errlen, "--host %s: not an IP address and not a name that resolves", host), -1;
        }
        memcpy(&addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
        uv_freeaddrinfo(req.addrinfo);
        if (addr.ss_family == AF_INET6) ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
        else ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = 1;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s%s", host, port, uv_strerror(rc),
                 rc == UV_EADDRINUSE ? " (another server holds the port: pick one with --port)" : "");
        s->destroying = 1;
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT); /* let the close finish before the record goes */
        free(s);
        return -1;
    }
    struct sockaddr_storage got;
    int len = sizeof got;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&got)->sin_port);
    s->listening = 1;
    *out = s;
    return 0;
}

static void on_listener_closed(uv_handle_t *h) {
    HttpServer *s = h->data;
    s->listener_open = 0;
    http_server_maybe_free(s);
}

static void stop_listening(HttpServer *s) {
    if (!s->listening) return;
    s->listening = 0;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

void http_server_drain(HttpServer *s) {
    s->draining = 1;
    stop_listening(s);
    for (HttpConn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_READING && !c->started && c->in.len == 0) http_conn_abort(c);
    }
}

void http_server_close_all(HttpServer *s) {
    while (s->conns) http_conn_abort(s->conns);
}

void http_server_destroy(HttpServer *s, void (*cb)(void *ud)) {
    s->destroying = 1;
    s->destroyed_cb = cb;
    s->draining = 1;
    http_server_close_all(s);
    if (s->listening) stop_listening(s);
    else http_server_maybe_free(s);
}
