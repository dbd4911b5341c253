/* The access record of each request (HttpAccess in http.h) and the response headers the
 * application adds for it: opened when a request is complete or refused, its status set by
 * the response, closed exactly once (response done, or the client gone) with the server's
 * log callback. The peer address is read once per connection. */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "http/http_internal.h"

void http_access_peer(HttpConn *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
}

void http_access_begin(HttpConn *c) {
    HttpAccess *a = &c->access;
    memset(a, 0, sizeof *a);
    snprintf(a->peer, sizeof a->peer, "%s", c->peer);
    snprintf(a->method, sizeof a->method, "%s", c->req.method_name ? c->req.method_name : "?");
    snprintf(a->path, sizeof a->path, "%s", c->req.path ? c->req.path : "?");
    a->t_start = base_now();
    a->ttft_s = -1;
    c->access_open = 1;
    c->hdrs_len = 0;
    c->hdrs[0] = 0;
}

void http_access_status(HttpConn *c, int status) {
    if (c->access_open && !c->access.status) c->access.status = status;
}

void http_access_end(HttpConn *c, int client_gone) {
    if (!c->access_open) return;
    c->access_open = 0;
    HttpAccess *a = &c->access;
    a->t_end = base_now();
    a->client_gone = client_gone;
    if (client_gone && !a->status) a->status = 499; /* nothing was sent: nginx's "client closed request" */
    if (c->srv->on_log) c->srv->on_log(c->srv->ud, a);
}

HttpAccess *http_conn_access(HttpConn *c) { return c && c->access_open ? &c->access : NULL; }

void http_conn_add_header(HttpConn *c, const char *name, const char *value) {
    if (!c || !c->access_open) return;
    int n = snprintf(c->hdrs + c->hdrs_len, sizeof c->hdrs - c->hdrs_len, "%s: %s\r\n", name, value);
    if (n > 0 && c->hdrs_len + (size_t)n < sizeof c->hdrs) c->hdrs_len += (size_t)n;
    else c->hdrs[c->hdrs_len] = 0; /* a header that does not fit is dropped whole */
}

void http_server_set_log(HttpServer *s, HttpLogCb cb) { s->on_log = cb; }
void http_server_set_headers_cb(HttpServer *s, HttpHeadersCb cb) { s->on_headers = cb; }
