/* `piston serve` at run time: the libuv loop thread owns every socket and the engine thread
 * the model (bridge.c). The port is bound before the model loads, so a taken port fails at
 * once and /health answers 503 until the model is ready.
 *
 * Prompts are tokenized and chat-templated on the loop thread: the tokenizer is read-only
 * and shareable, a prompt takes microseconds to encode (bounded by --max-request-body),
 * and doing it here lets a bad or too-long prompt be refused with the right status at once
 * instead of after a round trip through a busy engine thread, which stays on the model.
 *
 * Shutdown: the first SIGINT/SIGTERM stops accepting and lets in-flight requests finish
 * for --shutdown-timeout seconds; then (or at a second signal) every connection is closed,
 * which aborts its request; the engine thread stops and the process exits 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/api_common.h"

void server_options_default(ServeOptions *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8000;
    o->max_queued_requests = 512;
    o->access_log = 1;
    o->cors = (CorsOptions){"[\"*\"]", "[\"*\"]", "[\"*\"]", 0};
    o->shutdown_grace_s = 30;
    o->http = (HttpLimits){.max_body = 8u << 20, .max_header_bytes = 16u << 10, .max_headers = 100,
                           .keep_alive_s = 30, .read_timeout_s = 30, .max_connections = 1024};
    engine_args_default(&o->engine);
}

/* ---- shutdown ---- */

static void on_handle_closed(uv_handle_t *h) {}

static void finish(Server *s) {
    if (s->closed) return;
    s->closed = 1;
    uv_timer_stop(&s->grace);
    uv_close((uv_handle_t *)&s->grace, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_handle_closed);
    /* Closing the last uv_signal_t of a signal restores its default action, so a SIGTERM
     * arriving while the engine thread is joined would kill a server that is already
     * exiting cleanly: ignore further ones (SIGKILL still works for a hung shutdown). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    if (s->http) http_server_destroy(s->http, NULL), s->http = NULL;
    bridge_stop(s->bridge); /* joins the engine thread: the engine is destroyed there */
    s->bridge = NULL;
}

static void on_grace(uv_timer_t *t) {
    Server *s = t->data;
    if (s->n_jobs > 0) fprintf(stderr, "piston: grace period over: aborting %d requests\n", s->n_jobs);
    if (s->http) http_server_close_all(s->http); /* each close aborts its job; releases follow */
    if (s->n_jobs == 0) finish(s);
}

static void begin_shutdown(Server *s) {
    if (s->shutting_down) { /* a second signal: no more waiting */
        on_grace(&s->grace);
        return;
    }
    s->shutting_down = 1;
    if (s->http) http_server_drain(s->http);
    if (s->n_jobs == 0) {
        finish(s);
        return;
    }
    fprintf(stderr, "piston: shutting down: %d requests in flight, waiting up to %gs (signal again to stop now)\n",
            s->n_jobs, s->opt.shutdown_grace_s);
    uv_timer_start(&s->grace, on_grace, (uint64_t)(s->opt.shutdown_grace_s * 1000), 0);
}

static void on_signal(uv_signal_t *h, int signum) { begin_shutdown(h->data); }

void serve_job_released(Server *s) {
    if (s->shutting_down && s->n_jobs == 0) finish(s);
}

void serve_on_ready(Server *s, ModelFacts *f) {
    s->model = *f; /* f goes with its message */
    s->ready = 1;
    const EngineStats *st = &s->model.stats;
    fprintf(stderr, "piston: %s ready on port %d (max_model_len %d, %lld KV blocks of %lld tokens, chat template %s)\n",
            s->opt.model_name, http_server_port(s->http), s->model.max_model_len,
            (long long)st->num_blocks, (long long)st->block_size,
            s->model.chat ? chat_template_kind_name(s->model.chat->kind) : "none");
}

void serve_on_failed(Server *s, const char *msg) {
    fprintf(stderr, "piston: %s\n", msg);
    s->exit_code = 1;
    s->shutting_down = 1;
    finish(s);
}

int server_run(ServeOptions *o) {
    Server s;
    memset(&s, 0, sizeof s);
    s.opt = *o;
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error code, not a signal */
    uv_loop_t loop;
    uv_loop_init(&loop);
    s.loop = &loop;
    s.started = time(NULL);
    s.t_started = engine_now();
    s.rng = (uint64_t)s.started ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(s.t_started * 1e9);
    uv_timer_init(&loop, &s.grace);
    s.grace.data = &s;
    uv_signal_init(&loop, &s.sigint);
    uv_signal_init(&loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    char err[512];
    if (http_server_start(&loop, s.opt.host, s.opt.port, &s.opt.http, api_on_request, api_on_close, &s, &s.http, err,
                          sizeof err) ||
        bridge_start(&s, &s.bridge, err, sizeof err)) {
        fprintf(stderr, "piston: %s\n", err);
        s.exit_code = 1;
        s.shutting_down = 1;
        finish(&s);
    } else {
        const char *h = s.opt.host;
        fprintf(stderr, "piston: loading %s; listening on http://%s%s%s:%d\n", s.opt.engine.model_path,
                strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", http_server_port(s.http));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) fprintf(stderr, "piston: warning: handles still open at exit\n");
    if (s.exit_code == 0) fprintf(stderr, "piston: stopped\n");
    return s.exit_code;
}
