/* `piston serve MODEL`: vLLM's serve flags mapped onto ServeOptions (the engine flags shared
 * with `bench throughput` are in cli_engine.c), then server_run (server/serve.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"

static const char usage[] =
    "usage: piston serve MODEL [flags]\n"
    "Serves MODEL (a .gguf path or 'smollm2') with the OpenAI, TGI and Ollama APIs.\n"
    "  --host ADDR                    address to bind (default 127.0.0.1; 0.0.0.0 serves a network)\n"
    "  --port N                       port (default 8000; 0 picks a free one, printed at start)\n"
    "  --served-model-name NAME       the model's name in the APIs (default: MODEL as given)\n"
    "  --api-key KEY                  require 'Authorization: Bearer KEY' on generation routes\n"
    "                                 (default $PISTON_API_KEY; /health and /metrics stay open)\n"
    "  --max-num-seqs N               sequences per step (default 256)\n"
    "  --max-model-len N              tokens per sequence, prompt and output (default: the model's)\n"
    "  --max-num-batched-tokens N     tokens per step (default 2048)\n"
    "  --block-size N                 tokens per KV block (default 16)\n"
    "  --enable-prefix-caching / --no-enable-prefix-caching   (default on)\n"
    "  --kv-cache-memory BYTES        KV cache size on CPU (suffixes K, M, G; default: a share of RAM)\n"
    "  --kv-cache-dtype auto|f16|f32  KV cache element type (auto: f16, f32 with --precision f32)\n"
    "  --num-gpu-blocks-override N    exactly N KV blocks\n"
    "  --gpu-memory-utilization F     fraction of device memory for CUDA (default 0.9)\n"
    "  --max-queued-requests N        waiting sequences before new requests get 503/429 (default 512)\n"
    "  --threads N                    compute threads (default: all cores)\n"
    "  --precision q8|f32             matmul precision (default q8)\n"
    "  --chat-template NAME           chatml, llama3, llama2, mistral or zephyr (default: the model's)\n"
    "  --seed N                       requests without a seed get one derived from N\n"
    "  --device auto|cpu|cuda         (default auto: CUDA where a usable GPU exists)\n"
    "  --max-request-body BYTES       request body limit (default 8M): 413 beyond\n"
    "  --max-header-size BYTES        request line and headers (default 16K): 431 beyond\n"
    "  --max-headers N                header count (default 100): 431 beyond\n"
    "  --timeout-keep-alive S         idle keep-alive connections close after S seconds (default 30)\n"
    "  --request-timeout S            a request must arrive whole within S seconds (default 30): 408\n"
    "  --max-connections N            open connections (default 1024)\n"
    "  --shutdown-timeout S           grace period for in-flight requests at SIGTERM (default 30)\n"
    "  --disable-log-stats            no periodic throughput line\n";

static int flag_double(const char *f, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= lo && x <= hi)) {
        cli_error("%s expects a number in [%g, %g], got '%s'", f, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int flag_bytes(const char *f, const char *v, int64_t *out) {
    *out = cli_parse_bytes(v);
    if (*out <= 0) {
        cli_error("%s expects a size in bytes (e.g. 1073741824, 512M, 2G), got '%s'", f, v);
        return -1;
    }
    return 0;
}

static int parse_flags(int argc, char **argv, ServeOptions *o, CliArgs *ca) {
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        EngineArgs *e = &o->engine;
        int64_t bytes;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        int taken = cli_engine_flag(argc, argv, &i, e); /* the flags shared with bench throughput */
        if (taken < 0) return -1;
        if (taken > 0) continue;
        if (f[0] != '-' || !f[1]) {
            if (ca->model) return cli_error("unexpected argument '%s' (see --help)", f), -1;
            ca->model = f;
            continue;
        }
        if (!v) return cli_error("%s needs a value (see --help)", f), -1;
        i++;
        if (!strcmp(f, "--host")) o->host = v;
        else if (!strcmp(f, "--port")) rc = cli_parse_int(f, v, 0, 65535, &o->port);
        else if (!strcmp(f, "--served-model-name")) o->model_name = v;
        else if (!strcmp(f, "--api-key")) o->api_key = v;
        else if (!strcmp(f, "--max-queued-requests")) rc = cli_parse_int(f, v, 0, 1 << 24, &o->max_queued_requests);
        else if (!strcmp(f, "--seed")) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10), o->has_seed = 1;
            if (errno || *end || end == v || *v == '-') rc = -1, cli_error("--seed expects a non-negative integer, got '%s'", v);
        } else if (!strcmp(f, "--max-request-body")) {
            if (!(rc = flag_bytes(f, v, &bytes))) o->http.max_body = (size_t)bytes;
        } else if (!strcmp(f, "--max-header-size")) {
            if (!(rc = flag_bytes(f, v, &bytes))) o->http.max_header_bytes = (size_t)bytes;
        } else if (!strcmp(f, "--max-headers")) rc = cli_parse_int(f, v, 1, 100000, &o->http.max_headers);
        else if (!strcmp(f, "--timeout-keep-alive")) rc = flag_double(f, v, 0.001, 1e6, &o->http.keep_alive_s);
        else if (!strcmp(f, "--request-timeout")) rc = flag_double(f, v, 0.001, 1e6, &o->http.read_timeout_s);
        else if (!strcmp(f, "--max-connections")) rc = cli_parse_int(f, v, 1, 1 << 20, &o->http.max_connections);
        else if (!strcmp(f, "--shutdown-timeout")) rc = flag_double(f, v, 0, 1e6, &o->shutdown_grace_s);
        else rc = -1, cli_error("unknown flag %s (see --help)", f);
    }
    if (rc) return -1;
    if (!ca->model) return cli_error("no model given: pass a .gguf path or 'smollm2' (see --help)"), -1;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    ServeOptions o;
    server_options_default(&o);
    o.api_key = getenv("PISTON_API_KEY");
    CliArgs ca;
    memset(&ca, 0, sizeof ca);
    if (parse_flags(argc, argv, &o, &ca)) return 2;
    if (o.engine.load_dummy && model_is_dummy_name(ca.model)) {
        cli_error("--load-format dummy: the built-in configs have no tokenizer, so they cannot serve text; "
                  "benchmark them with `piston bench latency|throughput`, or serve a directory with config.json "
                  "and tokenizer.json");
        return 2;
    }
    ca.engine.dtype = o.engine.dtype;
    ca.engine.load_dummy = o.engine.load_dummy;
    if (cli_resolve_model(&ca)) return 2;
    if (ca.engine.chat_template && !o.engine.chat_template) o.engine.chat_template = ca.engine.chat_template;
    if (access(ca.model_path, R_OK) != 0) {
        cli_error("%s: cannot read the model file (%s)", ca.model_path, strerror(errno));
        return 1;
    }
    if (o.api_key && !*o.api_key) o.api_key = NULL;
    o.model_arg = ca.model;
    if (!o.model_name) o.model_name = ca.model;
    o.engine.model_path = ca.model_path;
    return server_run(&o);
}
