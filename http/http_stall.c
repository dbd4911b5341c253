/* Streams whose client stopped reading (--stream-stall-timeout). libuv's write queue alone
 * cannot tell: the kernel takes megabytes into the socket's send buffer (tcp_wmem grows to
 * 4 MiB) before a write waits, which at a token stream's few KB/s is many minutes. What the
 * watch reads instead is how many bytes the client's TCP has acknowledged: every byte handed
 * to uv_write, less libuv's queue, less the socket's unacknowledged send queue (SIOCOUTQ on
 * Linux; elsewhere only libuv's queue counts). A client that reads, however slowly, moves
 * that figure; one that does not leaves it still once its receive window is full, and after
 * the timeout with bytes still waiting the stream is cut: the connection closes, which
 * aborts its request (the engine frees its sequence and blocks) through on_close, and the
 * access log names the stall. --stream-max-backlog bounds the same figure: a client that
 * reads a byte now and then, never enough, is cut once that much waits for it. */
#include <stdio.h>
#include <sys/ioctl.h>
#if defined(__linux__)
#include <linux/sockios.h>
#endif

#include "base/clock.h"
#include "http/http_internal.h"

/* Bytes the client's TCP has not acknowledged yet, and in *taken those it has. */
static uint64_t unacked(HttpConn *c, uint64_t *taken) {
    uint64_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp), outq = 0;
#ifdef SIOCOUTQ
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0) outq = (uint64_t)n;
#endif
    uint64_t out = queued + outq;
    *taken = c->bytes_queued > out ? c->bytes_queued - out : 0;
    return out;
}

void http_stream_cut(HttpConn *c, const char *why) {
    if (c->access_open) snprintf(c->access.error, sizeof c->access.error, "%s: the stream was cut", why);
    http_conn_abort(c);
}

int http_stream_over_backlog(HttpConn *c) {
    size_t bound = c->srv->lim.max_stream_backlog;
    if (!bound || c->sink) return 0;
    uint64_t taken, waiting = unacked(c, &taken);
    if (waiting <= bound) return 0;
    char why[160];
    snprintf(why, sizeof why, "stream backlog over %zu bytes (%llu not taken): the client does not read", bound,
             (unsigned long long)waiting);
    http_stream_cut(c, why);
    return 1;
}

static void on_stall_tick(uv_timer_t *t) {
    HttpConn *c = t->data;
    if (c->state != CONN_HANDLING || !c->streaming) return;
    uint64_t taken, waiting = unacked(c, &taken);
    double now = base_now();
    if (waiting == 0 || taken != c->stall_acked) {
        c->stall_acked = taken;
        c->stall_since = now;
        return;
    }
    double limit = c->srv->lim.stream_stall_s;
    if (now - c->stall_since < limit) return;
    char why[128];
    snprintf(why, sizeof why, "stream stalled: the client read nothing for %gs (%llu bytes not taken)", limit,
             (unsigned long long)waiting);
    http_stream_cut(c, why);
}

void http_stall_watch(HttpConn *c) {
    double s = c->srv->lim.stream_stall_s;
    if (s <= 0 || c->sink || c->state != CONN_HANDLING) return;
    double tick = s / 4;
    tick = tick < 0.05 ? 0.05 : tick > 1 ? 1 : tick;
    unacked(c, &c->stall_acked);
    c->stall_since = base_now();
    /* the connection's timer is idle while a request is handled; the response's end rearms
     * it for keep-alive, and closing stops it */
    uv_timer_start(&c->timer, on_stall_tick, (uint64_t)(tick * 1000), (uint64_t)(tick * 1000));
}
