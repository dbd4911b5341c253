/* `piston serve` at run time: the libuv loop thread owns every socket and the engine thread
 * the model (bridge.c). The port is bound before the model loads, so a taken port fails at
 * once and /health answers 503 until the model is ready.
 *
 * Prompts are tokenized before the engine sees them (api_prepare.c): the tokenizer is
 * read-only and shareable, and a bad or too-long prompt is refused with the right status
 * without a round trip through a busy engine thread, which stays on the model. A short one
 * is tokenized on the loop thread; a long one (an 8 MiB body takes over a second), and a
 * long body's parsing, on libuv's worker pool, so that no request stalls the others.
 *
 * Shutdown: the first SIGINT/SIGTERM stops accepting and lets in-flight requests finish
 * for --shutdown-timeout seconds; then (or at a second signal) every request still running
 * ends in its dialect's words (a stream gets the error event its dialect sends mid-stream and
 * its terminating chunk, a request not yet answered a 503), its engine work is aborted, the
 * other connections are closed; the engine thread stops and the process exits 0, or 1 when
 * requests were aborted (an orchestrator sees that the shutdown lost work). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "server/api_common.h"

const char *server_default_model_name(const char *arg, char *out, size_t n) {
    struct stat st;
    size_t len = strlen(arg);
    int gguf = len > 5 && !strcmp(arg + len - 5, ".gguf");
    if (!gguf && stat(arg, &st) != 0) return snprintf(out, n, "%s", arg), out; /* a hub or Ollama name */
    while (len > 1 && arg[len - 1] == '/') len--; /* a directory given as dir/ */
    const char *b = arg + len;
    while (b > arg && b[-1] != '/') b--;
    size_t k = (size_t)(arg + len - b);
    if (k > 5 && !strncmp(b + k - 5, ".gguf", 5)) k -= 5;
    if (k == 0) return snprintf(out, n, "%s", arg), out; /* "/" */
    snprintf(out, n, "%.*s", (int)k, b);
    return out;
}

void server_options_default(ServeOptions *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8000;
    o->max_queued_requests = 512;
    o->access_log = 1;
    o->cors = (CorsOptions){"[\"*\"]", "[\"*\"]", "[\"*\"]", 0};
    o->shutdown_grace_s = 30;
    o->http = (HttpLimits){.max_body = 8u << 20, .max_header_bytes = 16u << 10, .max_headers = 100,
                           .keep_alive_s = 30, .read_timeout_s = 30, .max_connections = 1024,
                           .stream_stall_s = 30, .max_stream_backlog = 4u << 20};
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

/* Every job still answering ends now: its client gets the dialect's error (job_fail: an
 * event and the stream's end, or a 503), the engine drops its sequence. The number ended. */
static int abort_jobs(Server *s) {
    int n = 0;
    for (Job *j = s->jobs; j; j = j->next) {
        if (j->finished || j->abort_sent) continue; /* answered, or its client is gone and it is aborting */
        job_fail(j, 503, "the server shut down before the request finished (the --shutdown-timeout grace period "
                         "is over)");
        j->abort_sent = 1;
        bridge_abort(s->bridge, j); /* the release follows: serve_job_released */
        n++;
    }
    return n;
}

static void on_grace(uv_timer_t *t) {
    Server *s = t->data;
    int n = abort_jobs(s) + s->n_compiling; /* a compiling request's connection closes below */
    if (n > 0) {
        log_line(LOG_WARN, "grace period over: %d requests aborted; the exit status will be 1", n);
        s->exit_code = 1;
    }
    if (s->http) http_server_close_all(s->http); /* the rest: idle connections, compilations */
    if (s->n_jobs == 0 && s->n_compiling == 0) finish(s);
}

static void begin_shutdown(Server *s) {
    if (s->shutting_down) { /* a second signal: no more waiting */
        on_grace(&s->grace);
        return;
    }
    s->shutting_down = 1;
    if (s->http) http_server_drain(s->http);
    if (s->n_jobs == 0 && s->n_compiling == 0) {
        finish(s);
        return;
    }
    log_line(LOG_INFO, "shutting down: %d requests in flight, waiting up to %gs (signal again to stop now)",
            s->n_jobs, s->opt.shutdown_grace_s);
    uv_timer_start(&s->grace, on_grace, (uint64_t)(s->opt.shutdown_grace_s * 1000), 0);
}

static void on_signal(uv_signal_t *h, int signum) { begin_shutdown(h->data); }

/* A job released, or a constraint compiled: the last of them lets a shutdown finish (the
 * engine, whose vocabulary a compilation reads, stops only when none is running). */
void serve_job_released(Server *s) {
    if (s->shutting_down && s->n_jobs == 0 && s->n_compiling == 0) finish(s);
}

/* The effective configuration, one line, as vLLM prints its non-default args at start, but
 * once the engine has resolved them: the model's context length instead of 0, the KV cache's
 * bytes and dtype instead of "auto", the device chosen. */
static void log_config(const ServeOptions *o, int port, const ModelFacts *f) {
    const EngineArgs *e = &o->engine;
    char names[512] = "", seed[32] = "random";
    for (int i = 0, n = 0; i < o->n_model_names; i++)
        n += snprintf(names + n, sizeof names - (size_t)n, "%s%s", i ? "," : "", o->model_names[i]);
    if (o->has_seed) snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    log_line(LOG_INFO,
             "config: model=%s served_model_name=%s host=%s port=%d device=\"%s\" threads=%d precision=%s dtype=%s "
             "max_model_len=%d max_num_seqs=%d max_num_batched_tokens=%d block_size=%d num_kv_blocks=%lld "
             "kv_cache_bytes=%lld kv_cache_dtype=%s prefix_caching=%s chunked_prefill=%s gpu_memory_utilization=%.2f "
             "enforce_eager=%d chat_template=%s seed=%s api_key=%s public_routes=%s max_queued_requests=%d "
             "max_request_body=%zu request_timeout=%gs keep_alive=%gs max_connections=%d shutdown_timeout=%gs "
             "stream_stall_timeout=%gs stream_max_backlog=%zu access_log=%s log_requests=%s log_format=%s "
             "allowed_origins=%s allowed_methods=%s allowed_headers=%s allow_credentials=%s",
             e->model_path, names, o->host, port, f->device, f->threads,
             e->backend.precision == MATMUL_F32 ? "f32" : "q8", f->quant, f->max_model_len, e->max_num_seqs,
             e->max_num_batched_tokens, (int)f->stats.block_size, (long long)f->stats.num_blocks,
             (long long)f->kv_bytes, dtype_name(f->kv_dtype), e->enable_prefix_caching ? "on" : "off",
             e->enable_chunked_prefill ? "on" : "off", e->gpu_memory_utilization, e->enforce_eager,
             f->chat ? chat_template_kind_name(f->chat->kind) : "none", seed, o->api_key ? "set" : "none",
             o->public_routes ? o->public_routes : "none", o->max_queued_requests, o->http.max_body,
             o->http.read_timeout_s, o->http.keep_alive_s, o->http.max_connections, o->shutdown_grace_s,
             o->http.stream_stall_s, o->http.max_stream_backlog, o->access_log ? "on" : "off",
             o->log_requests ? "on" : "off", o->log_json ? "json" : "text", o->cors.origins, o->cors.methods,
             o->cors.headers, o->cors.allow_credentials ? "on" : "off");
}

void serve_on_ready(Server *s, ModelFacts *f) {
    s->model = *f; /* f goes with its message */
    s->ready = 1;
    log_config(&s->opt, http_server_port(s->http), &s->model);
    const EngineStats *st = &s->model.stats;
    log_line(LOG_INFO, "%s ready on port %d (max_model_len %d, %lld KV blocks of %lld tokens, chat template %s)",
            s->opt.model_name, http_server_port(s->http), s->model.max_model_len,
            (long long)st->num_blocks, (long long)st->block_size,
            s->model.chat ? chat_template_kind_name(s->model.chat->kind) : "none");
    if (!s->model.tok) /* vLLM's --skip-tokenizer-init: text is refused with a 400 */
        log_line(LOG_INFO, "the model has no tokenizer (no tokenizer.json): only token-id prompts are served, and "
                           "completions return token_ids with empty text");
}

void serve_on_failed(Server *s, const char *msg) {
    log_line(LOG_ERROR, "%s", msg);
    s->exit_code = 1;
    s->shutting_down = 1;
    finish(s);
}

int server_run(ServeOptions *o) {
    Server s;
    memset(&s, 0, sizeof s);
    s.opt = *o;
    log_setup(1, o->log_json); /* a server's lines carry their time (cmd_serve set it up already) */
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
        (http_server_set_log(s.http, api_on_access), http_server_set_headers_cb(s.http, api_on_headers), 0) || bridge_start(&s, &s.bridge, err, sizeof err)) {
        log_line(LOG_ERROR, "%s", err);
        s.exit_code = 1;
        s.shutting_down = 1;
        finish(&s);
    } else {
        const char *h = s.opt.host;
        log_line(LOG_INFO, "loading %s; listening on http://%s%s%s:%d", s.opt.engine.model_path,
                strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", http_server_port(s.http));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    constraint_cache_destroy(s.constraints);
    if (uv_loop_close(&loop) != 0) log_line(LOG_WARN, "warning: handles still open at exit");
    if (s.exit_code == 0) log_line(LOG_INFO, "stopped");
    else log_line(LOG_WARN, "stopped with exit status %d", s.exit_code);
    return s.exit_code;
}
