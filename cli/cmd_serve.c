/* `piston serve MODEL`: vLLM's serve flags mapped onto ServeOptions (the engine flags shared
 * with `bench throughput` are in cli_engine.c), then server_run (server/serve.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "cli/cli.h"
#include "server/server.h"

static const char usage[] = "usage: piston serve MODEL [flags]\n"
                            "Serves MODEL (a .gguf path or 'smollm2') with the OpenAI, TGI and Ollama APIs.\n";

static int parse_seed(const char *v, void *base, char *err, size_t n) {
    ServeOptions *o = base;
    char *end;
    errno = 0;
    o->seed = strtoull(v, &end, 10), o->has_seed = 1;
    if (errno || *end || end == v || *v == '-')
        return err_set(err, n, -EINVAL, "--seed expects a non-negative integer, got '%s'", v);
    o->engine.dummy_seed = o->seed;
    return 0;
}

static int size_flag(const char *flag, const char *v, size_t *out, char *err, size_t n) {
    int64_t b = flags_parse_bytes(v);
    if (b <= 0) return err_set(err, n, -EINVAL, "%s expects a size in bytes (e.g. 512M, 16K), got '%s'", flag, v);
    *out = (size_t)b;
    return 0;
}
static int parse_body(const char *v, void *base, char *err, size_t n) {
    return size_flag("--max-request-body", v, &((ServeOptions *)base)->http.max_body, err, n);
}
static int parse_header_size(const char *v, void *base, char *err, size_t n) {
    return size_flag("--max-header-size", v, &((ServeOptions *)base)->http.max_header_bytes, err, n);
}
static int parse_backlog(const char *v, void *base, char *err, size_t n) {
    return size_flag("--stream-max-backlog", v, &((ServeOptions *)base)->http.max_stream_backlog, err, n);
}
static int no_access_log(const char *v, void *base, char *err, size_t n) {
    ((ServeOptions *)base)->access_log = 0;
    return 0;
}
/* vLLM's meaning: no per-request parameter lines (its default now); the access log stays */
static int no_log_requests(const char *v, void *base, char *err, size_t n) {
    ((ServeOptions *)base)->log_requests = 0;
    return 0;
}
static int parse_log_format(const char *v, void *base, char *err, size_t n) {
    if (strcmp(v, "text") && strcmp(v, "json"))
        return err_set(err, n, -EINVAL, "--log-format expects text or json, got '%s'", v);
    ((ServeOptions *)base)->log_json = !strcmp(v, "json");
    return 0;
}

#define OFF(f) offsetof(ServeOptions, f)
static const FlagSpec serve_flags[] = {
    {"--host", NULL, FLAG_STR, OFF(host), 0, 0, NULL, "ADDR", "address to bind (0.0.0.0 serves a network)", "127.0.0.1"},
    {"--port", NULL, FLAG_INT, OFF(port), 0, 65535, NULL, "N", "port (0 picks a free one, printed at start)", "8000"},
    {"--api-key", NULL, FLAG_STR, OFF(api_key), 0, 0, NULL, "KEY", "require 'Authorization: Bearer KEY' (or x-api-key) on every route but /health, /metrics, /version", "$PISTON_API_KEY"},
    {"--public-routes", NULL, FLAG_STR, OFF(public_routes), 0, 0, NULL, "PATHS", "with --api-key, also answer these paths without the key (comma separated, e.g. /v1/models,/api/tags)", "none"},
    {"--max-queued-requests", NULL, FLAG_INT, OFF(max_queued_requests), 0, 1 << 24, NULL, "N", "waiting sequences before new requests get 503 (TGI: 429)", "512"},
    {"--seed", NULL, FLAG_FN, 0, 0, 0, parse_seed, "N", "requests without a seed get one derived from N", "random"},
    {"--max-request-body", NULL, FLAG_FN, 0, 0, 0, parse_body, "BYTES", "request body limit: 413 beyond", "8M"},
    {"--max-header-size", NULL, FLAG_FN, 0, 0, 0, parse_header_size, "BYTES", "request line and headers: 431 beyond", "16K"},
    {"--max-headers", NULL, FLAG_INT, OFF(http.max_headers), 1, 100000, NULL, "N", "header count: 431 beyond", "100"},
    {"--timeout-keep-alive", NULL, FLAG_DOUBLE, OFF(http.keep_alive_s), 0.001, 1e6, NULL, "S", "idle keep-alive connections close after S seconds", "30"},
    {"--request-timeout", NULL, FLAG_DOUBLE, OFF(http.read_timeout_s), 0.001, 1e6, NULL, "S", "a request must arrive whole within S seconds: 408", "30"},
    {"--max-connections", NULL, FLAG_INT, OFF(http.max_connections), 1, 1 << 20, NULL, "N", "open connections", "1024"},
    {"--shutdown-timeout", NULL, FLAG_DOUBLE, OFF(shutdown_grace_s), 0, 1e6, NULL, "S", "grace for in-flight requests at SIGTERM", "30"},
    {"--stream-stall-timeout", NULL, FLAG_DOUBLE, OFF(http.stream_stall_s), 0, 1e6, NULL, "S", "a stream whose client reads nothing for S seconds is cut and its request aborted (0: never)", "30"},
    {"--stream-max-backlog", NULL, FLAG_FN, 0, 0, 0, parse_backlog, "BYTES", "a stream's bytes not yet taken by its client beyond which it is cut and its request aborted", "4M"},
    {"--disable-uvicorn-access-log", NULL, FLAG_FN, 0, 0, 0, no_access_log, NULL, "no access-log line per request", "the access log is on"},
    {"--enable-log-requests", NULL, FLAG_BOOL, OFF(log_requests), 0, 0, NULL, NULL, "a line with each request's parameters too", "off"},
    {"--disable-log-requests", NULL, FLAG_FN, 0, 0, 0, no_log_requests, NULL, "no request-parameter lines (as vLLM; the access log stays)", "on"},
    {"--log-format", NULL, FLAG_FN, 0, 0, 0, parse_log_format, "text|json", "log lines as text or one JSON object each", "text"},
    {"--allowed-origins", NULL, FLAG_STR, OFF(cors.origins), 0, 0, NULL, "LIST", "CORS origins, a JSON list or comma separated", "[\"*\"]"},
    {"--allowed-methods", NULL, FLAG_STR, OFF(cors.methods), 0, 0, NULL, "LIST", "CORS methods", "[\"*\"]"},
    {"--allowed-headers", NULL, FLAG_STR, OFF(cors.headers), 0, 0, NULL, "LIST", "CORS headers", "[\"*\"]"},
    {"--allow-credentials", NULL, FLAG_BOOL, OFF(cors.allow_credentials), 0, 0, NULL, NULL, "CORS credentials", "off"},
};
#undef OFF

/* into a FlagStrs of its own (cmd_serve copies the names into ServeOptions) */
static const FlagSpec name_flags[] = {
    {"--served-model-name", NULL, FLAG_STRS, 0, 0, 0, NULL, "NAME...", "the model's names in the APIs; the first is reported", "MODEL as given"},
};

/* --log-format, read before anything is printed, so that every line has the server's form */
static int wants_json_log(int argc, char **argv) {
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--log-format") && i + 1 < argc) json = !strcmp(argv[i + 1], "json");
        else if (!strncmp(argv[i], "--log-format=", 13)) json = !strcmp(argv[i] + 13, "json");
    }
    return json;
}

int cmd_serve(int argc, char **argv) {
    log_setup(1, wants_json_log(argc, argv)); /* a server's lines carry their time, flag notes too */
    ServeOptions o;
    server_options_default(&o);
    o.api_key = getenv("PISTON_API_KEY");
    CliArgs ca;
    memset(&ca, 0, sizeof ca);
    FlagStrs names = {{0}, 0};
    FlagGroup g[5] = {cli_model_flags(&ca), FLAG_GROUP("server", name_flags, &names),
                      FLAG_GROUP("server", serve_flags, &o), cli_engine_flags(&o.engine), cli_vllm_flags()};
    const char *pos[1];
    int n_pos = 0, rc = flags_parse(g, 5, argc, argv, pos, 1, &n_pos, usage);
    if (rc) return rc < 0 ? 2 : 0;
    if (cli_take_model(&ca, pos, n_pos)) return 2;
    ca.engine.dtype = o.engine.dtype;
    ca.engine.load_dummy = o.engine.load_dummy;
    if (cli_resolve_model(&ca)) return 2;
    if (ca.engine.chat_template && !o.engine.chat_template) o.engine.chat_template = ca.engine.chat_template;
    int builtin = o.engine.load_dummy && model_is_dummy_name(ca.model); /* no file: token-id prompts only */
    if (!builtin && access(ca.model_path, R_OK) != 0) {
        cli_error("%s: cannot read the model file (%s)", ca.model_path, strerror(errno));
        return 1;
    }
    if (o.api_key && !*o.api_key) o.api_key = NULL;
    o.model_arg = ca.model;
    for (int i = 0; i < names.n && i < SERVE_MAX_NAMES; i++) o.model_names[o.n_model_names++] = names.v[i];
    char name[256];
    if (o.n_model_names == 0) o.model_names[o.n_model_names++] = server_default_model_name(ca.model, name, sizeof name);
    o.model_name = o.model_names[0];
    o.engine.model_path = ca.model_path;
    return server_run(&o);
}
