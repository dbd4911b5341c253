/* HTTP/1.1 on libuv: a listening socket, its connections, request parsing with http-parser
 * (keep-alive, chunked request bodies, Expect: 100-continue, pipelined requests answered in
 * order) and response writing (whole bodies, or chunked streams for SSE and NDJSON). Limits
 * on header size and count, body size, idle and slow-request time and connection count are
 * enforced here, so that the API layer only ever sees complete, bounded requests.
 *
 * Everything here runs on the loop thread. A request is handed to the on_request callback
 * once complete; the connection then parses nothing more until the response is finished
 * (http_respond, or http_stream_end), which is how pipelined requests keep their order. Bytes
 * that arrive meanwhile are buffered (bounded) and read on, so that a client that hangs up
 * is seen at once: on_close fires for every connection exactly once, before it is freed. */
#ifndef PISTON_HTTP_H
#define PISTON_HTTP_H

#include <stddef.h>
#include <uv.h>

typedef struct HttpServer HttpServer;
typedef struct HttpConn HttpConn;

typedef struct HttpHeader {
    char *name; /* as sent; compare case-insensitively */
    char *value;
} HttpHeader;

typedef struct HttpRequest {
    int method;       /* enum http_method */
    const char *method_name;
    char *path;       /* the URL path, percent-encoding untouched */
    char *query;      /* after '?', or "" */
    HttpHeader *headers;
    int n_headers;
    char *body;       /* [body_len], NUL-terminated */
    size_t body_len;
    int keep_alive;
    int http_minor;   /* 1.x */
} HttpRequest;

typedef struct HttpLimits {
    size_t max_body;         /* bytes of request body (after chunked decoding): 413 */
    size_t max_header_bytes; /* request line and headers together: 431 */
    int max_headers;         /* header count: 431 */
    double keep_alive_s;     /* an idle keep-alive connection is closed after this */
    double read_timeout_s;   /* a request must arrive whole within this: 408 */
    int max_connections;     /* more are accepted and closed at once */
    double stream_stall_s;   /* a stream whose queued bytes see no write for this long is cut (0: never) */
    size_t max_stream_backlog; /* a stream's unwritten bytes beyond which it is cut (0: no bound) */
} HttpLimits;

typedef void (*HttpRequestCb)(void *ud, HttpConn *c, HttpRequest *r);
/* A request's line and headers arrived and are valid, its body is not read yet: 0 reads on
 * (and sends 100 Continue when the client expects it); anything else means the callback has
 * answered the request itself (401, ...), and the connection closes after that answer, the
 * body unread. The request has no body yet (body NULL). */
typedef int (*HttpHeadersCb)(void *ud, HttpConn *c, HttpRequest *r);
typedef void (*HttpCloseCb)(void *ud, HttpConn *c);

/* What one request did, for the access log. The HTTP layer fills the first part; the
 * application annotates the rest while it handles the request (http_conn_access), and the
 * log callback gets it once, when the response ends or the client goes away. */
typedef struct HttpAccess {
    char peer[64];          /* "127.0.0.1:53122" */
    char method[16];
    char path[256];
    int status;             /* the response's; 499 (nginx's) when the client went away first */
    double t_start, t_end;  /* base_now() seconds: the request complete, the response done */
    size_t bytes_out;
    int client_gone;        /* the connection closed before the response ended */
    /* the application's */
    const char *dialect;    /* a static string, or NULL */
    char model[128];
    char request_id[80];
    int prompt_tokens, output_tokens;
    double ttft_s;          /* < 0: none */
    const char *finish;     /* a static string, or NULL */
    char error[256];
} HttpAccess;
typedef void (*HttpLogCb)(void *ud, const HttpAccess *a);

/* Listen on host:port (port 0: any free port; see http_server_port). 0, or negative with err. */
int http_server_start(uv_loop_t *loop, const char *host, int port, const HttpLimits *lim, HttpRequestCb on_request,
                      HttpCloseCb on_close, void *ud, HttpServer **out, char *err, size_t errlen);
int http_server_port(const HttpServer *s);
int http_server_num_conns(const HttpServer *s);
/* Stop accepting; close idle connections now and every other one once its response ends. */
void http_server_drain(HttpServer *s);
/* Close every connection now (on_close fires for each). */
void http_server_close_all(HttpServer *s);
/* Close the listener and free the server once every connection is gone; cb (may be NULL)
 * runs then. */
void http_server_destroy(HttpServer *s, void (*cb)(void *ud));

/* The headers-complete callback (NULL: none). */
void http_server_set_headers_cb(HttpServer *s, HttpHeadersCb cb);
/* The access-log callback (NULL: none), called on the loop thread. */
void http_server_set_log(HttpServer *s, HttpLogCb cb);
/* The current request's access record, to annotate; NULL when there is none. */
HttpAccess *http_conn_access(HttpConn *c);
/* A header for the current request's response ("X-Request-Id", "abc"), sent with whatever
 * response it gets (an error included). */
void http_conn_add_header(HttpConn *c, const char *name, const char *value);

void http_conn_set_user(HttpConn *c, void *user);
void *http_conn_user(const HttpConn *c);
/* The header's value (first match, case-insensitive name), or NULL. */
const char *http_header(const HttpRequest *r, const char *name);

/* Responses (http_response.c). A connection that is gone makes each a no-op. extra_headers:
 * complete "Name: value\r\n" lines, or NULL. */
void http_respond(HttpConn *c, int status, const char *content_type, const char *body, size_t len,
                  const char *extra_headers);
/* A streamed body (chunked transfer coding on HTTP/1.1; raw then close on HTTP/1.0). */
void http_stream_begin(HttpConn *c, int status, const char *content_type);
void http_stream_send(HttpConn *c, const char *data, size_t len);
void http_stream_end(HttpConn *c);
/* Bytes queued for the client and not yet written (a slow reader's backlog). */
size_t http_conn_backlog(const HttpConn *c);
const char *http_status_text(int status);

/* Connections without sockets (http_feed.c), for tests and fuzz targets: a server that
 * listens nowhere, and connections whose bytes come from http_conn_feed and whose
 * response bytes go to sink. They run the same parsing, limits and responses as a socket's.
 * Free the server with http_server_destroy, then run the loop until it is done. */
typedef void (*HttpSinkCb)(void *ud, const char *p, size_t n);
HttpServer *http_server_new_detached(uv_loop_t *loop, const HttpLimits *lim, HttpRequestCb on_request,
                                     HttpCloseCb on_close, void *ud);
HttpConn *http_conn_new_detached(HttpServer *s, HttpSinkCb sink, void *sink_ud);
/* Bytes as if read from the connection's socket; -1 once the connection is closed. */
int http_conn_feed(HttpConn *c, const char *p, size_t n);
/* The client hung up (EOF). */
void http_conn_feed_eof(HttpConn *c);

#endif
