/* The HTTP server as a whole, what `piston serve` runs: the options (vLLM's flags mapped by
 * cli/cmd_serve.c) and server_run, which binds the port, starts the engine thread, serves
 * until SIGINT/SIGTERM and shuts down gracefully. Everything else in server/ is private to it
 * (api_common.h). */
#ifndef PISTON_SERVER_H
#define PISTON_SERVER_H

#include <stdint.h>

#include "engine/engine.h"
#include "http/http.h"

#define SERVE_MAX_NAMES 16

/* CORS as vLLM sets it up (--allowed-origins etc.): each a JSON list ('["*"]') or a comma
 * separated one; "*" allows any. */
typedef struct CorsOptions {
    const char *origins;     /* default ["*"] */
    const char *methods;     /* default ["*"] */
    const char *headers;     /* default ["*"] */
    int allow_credentials;
} CorsOptions;

typedef struct ServeOptions {
    const char *host;
    int port;
    const char *model_arg;   /* as given on the command line */
    const char *model_name;  /* the first served name (reported in responses) */
    const char *model_names[SERVE_MAX_NAMES]; /* every name requests may use (--served-model-name a b c) */
    int n_model_names;
    int access_log;          /* one log line per request (default on) */
    int log_requests;        /* --enable-log-requests: the request's parameters too */
    int log_json;            /* --log-format json */
    CorsOptions cors;
    const char *api_key;     /* NULL: no authentication */
    const char *public_routes; /* --public-routes: paths open without the key, comma separated */
    int max_queued_requests; /* waiting sequences beyond which new requests are refused */
    double shutdown_grace_s;
    uint64_t seed;           /* --seed: requests without a seed get one derived from it */
    int has_seed;
    HttpLimits http;
    EngineArgs engine;
} ServeOptions;

/* Defaults: 127.0.0.1:8000, no API key, 512 queued requests, 30 s grace, HTTP limits of
 * 8 MiB bodies, 16 KiB of headers, 100 headers, 30 s keep-alive and read timeouts, 1024
 * connections, streams cut after 30 s without a write or at 4 MiB unwritten; the engine's
 * own defaults. */
void server_options_default(ServeOptions *o);
/* The name served when --served-model-name is not given: for a model given as a file or
 * directory, its base name without ".gguf" (the path itself would show the server's
 * filesystem in /v1/models, /metrics and Ollama's routes; requests may still name the path,
 * model_arg being an alias); otherwise the name as given (ORG/NAME, smollm2). In out[n]. */
const char *server_default_model_name(const char *arg, char *out, size_t n);
/* Serve until shut down; returns the process exit code (0 after a clean shutdown, 1 when
 * the grace period ended with requests aborted or the model failed to load). */
int server_run(ServeOptions *o);

#endif
