/* HTTP/1.1 request parsing through the server's own request handling, without sockets:
 * the input is the bytes a client sends on one connection, fed into a detached connection
 * (http/http_feed.c) of a server whose callbacks are the real ones (api_on_headers,
 * api_on_request, api_on_close, api_on_access in server/), with an API key set and the model
 * not loaded, so that every route answers from the loop thread (401, 404, 405, CORS
 * preflights, /version, 503 "still loading") and nothing reaches an engine.
 *
 * Each input runs twice: fed whole, and fed in pieces of 1 to 16 bytes (the size taken from
 * the input). The HTTP layer must not care how the bytes were split, so the two runs must
 * answer with the same sequence of statuses; any difference aborts, as does a response
 * that does not begin with a status line. ASan and UBSan watch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http/http.h"
#include "server/api_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STATUSES 64

/* What one run's client received. */
typedef struct Sink {
    size_t bytes;
    int statuses[MAX_STATUSES];
    int n;
} Sink;

/* Responses reach the sink piece by piece; each response's head is one piece that starts with
 * its status line (http_response.c writes it so). */
static void sink(void *ud, const char *p, size_t n) {
    Sink *k = ud;
    int head = n >= 13 && !memcmp(p, "HTTP/1.1 ", 9);
    if (k->bytes == 0 && !head) {
        fprintf(stderr, "fuzz_http: the first bytes out are not a status line\n");
        abort();
    }
    if (head && k->n < MAX_STATUSES) k->statuses[k->n++] = atoi(p + 9);
    k->bytes += n;
}

static Server *server_once(uv_loop_t **loop) {
    static Server srv;
    static uv_loop_t lp;
    static int ready;
    if (!ready) {
        uv_loop_init(&lp);
        server_options_default(&srv.opt);
        srv.opt.access_log = 0;
        srv.opt.api_key = "fuzz-key";
        srv.opt.model_name = srv.opt.model_arg = "smollm2";
        srv.opt.http.max_body = 4096; /* small limits, so that small inputs reach them */
        srv.opt.http.max_header_bytes = 1024;
        srv.opt.http.max_headers = 16;
        srv.loop = &lp;
        ready = 1;
    }
    srv.rng = 1; /* request ids the same on every run */
    *loop = &lp;
    return &srv;
}

static void run(const uint8_t *data, size_t size, size_t piece, Sink *k) {
    uv_loop_t *loop;
    Server *s = server_once(&loop);
    HttpServer *hs = http_server_new_detached(loop, &s->opt.http, api_on_request, api_on_close, s);
    if (!hs) return;
    http_server_set_headers_cb(hs, api_on_headers);
    http_server_set_log(hs, api_on_access);
    s->http = hs;
    HttpConn *c = http_conn_new_detached(hs, sink, k);
    int open = c != NULL;
    for (size_t at = 0; open && at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        open = http_conn_feed(c, (const char *)data + at, n) == 0;
    }
    if (open && size % 3 == 0) http_conn_feed_eof(c); /* a client that hangs up, sometimes */
    http_server_destroy(hs, NULL);
    uv_run(loop, UV_RUN_DEFAULT); /* the records go as their handles close */
    s->http = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Sink whole = {0}, split = {0};
    run(data, size, size ? size : 1, &whole);
    run(data, size, 1 + (size ? data[size / 2] % 16 : 0), &split);
    if (whole.n != split.n || memcmp(whole.statuses, split.statuses, (size_t)whole.n * sizeof *whole.statuses)) {
        fprintf(stderr, "fuzz_http: fed whole the input got %d responses, fed in pieces %d:", whole.n, split.n);
        for (int i = 0; i < whole.n || i < split.n; i++)
            fprintf(stderr, " %d/%d", i < whole.n ? whole.statuses[i] : 0, i < split.n ? split.statuses[i] : 0);
        fprintf(stderr, "\n");
        abort();
    }
    return 0;
}
