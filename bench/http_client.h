/* A small HTTP/1.1 client on libuv and http-parser, for the load generator (`bench serve`)
 * and the sweep: keep-alive connections to one server, requests written whole, responses
 * parsed as they arrive (chunked or sized bodies), each byte of body handed to the caller
 * with the time its read completed. Plain http:// only; the benchmarks talk to servers on
 * the operator's own network. */
#ifndef PISTON_BENCH_HTTP_CLIENT_H
#define PISTON_BENCH_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Where requests go: http://HOST[:PORT][/PREFIX] parsed once, the address resolved once. */
typedef struct HcTarget {
    char host[256];
    int port;
    char prefix[256];             /* a path before every endpoint ("" or "/proxy") */
    struct sockaddr_storage addr; /* resolved */
    char api_key[512];            /* sent as "Authorization: Bearer KEY" when set */
} HcTarget;

/* 0, or -1 with err ("https is not supported", "cannot resolve HOST: ..."). */
int hc_target_parse(HcTarget *t, const char *base_url, char *err, size_t errlen);

typedef struct HcConn HcConn;

/* What a request tells its caller. Every callback may be NULL. */
typedef struct HcHandler {
    void *ctx;
    void (*on_status)(void *ctx, int status);
    /* body bytes (chunked framing removed) with the time of the read that brought them:
     * base_now_ns(), Piston's one clock (base/clock.h) */
    void (*on_body)(void *ctx, const char *p, size_t n, int64_t t_ns);
    /* the end: err NULL after a whole response, else what went wrong ("connection refused",
     * "the server closed the connection", "timed out after 30 s") */
    void (*on_done)(void *ctx, const char *err, int64_t t_ns);
} HcHandler;

/* A connection on loop to t (connected on first use, reconnected after a close). */
HcConn *hc_conn_new(uv_loop_t *loop, const HcTarget *t);
/* Start one request: method, path (the target's prefix is added), an optional JSON body, and
 * extra header lines ("Accept: text/event-stream\r\n"). One request at a time per connection;
 * timeout_s <= 0 waits forever. on_done is always called once, later, from the loop. A
 * request on a reused connection that the server had closed meanwhile is sent again once
 * on a fresh one. 0, or -1 when the connection is busy. */
int hc_request(HcConn *c, const char *method, const char *path, const char *body, size_t body_len,
               const char *extra_headers, double timeout_s, const HcHandler *h);
/* Whether the connection can take a request now (not busy). */
int hc_conn_idle(const HcConn *c);
/* Close and free (after the loop has run its close callbacks). A busy request gets no more
 * callbacks. */
void hc_conn_free(HcConn *c);

/* One whole request on a private loop: the status and the body (malloc'd, NUL-terminated;
 * free it). 0 when a response came (any status), -1 with err when none did. */
typedef struct HcResponse {
    int status;
    char *body;
    size_t len;
} HcResponse;
int hc_fetch(const HcTarget *t, const char *method, const char *path, const char *body, double timeout_s,
             HcResponse *out, char *err, size_t errlen);

#endif
