/* `bench serve`'s flags: vLLM's names in three groups (load, dataset, result) that the sweep
 * also parses, the few that need a parser of their own (--request-rate and --burstiness take
 * inf, --metric-percentiles a list, --backend a name), and the defaults vLLM's benchmark has. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/serve.h"

static int parse_rate(const char *v, void *base, char *err, size_t n) {
    double *r = &((ServeArgs *)base)->request_rate;
    char *end;
    if (!strcmp(v, "inf") || !strcmp(v, "Inf") || !strcmp(v, "infinity")) {
        *r = INFINITY;
        return 0;
    }
    double x = strtod(v, &end);
    if (*end || end == v || !(x > 0))
        return err_set(err, n, -EINVAL, "--request-rate expects a positive number of requests/s or inf, got '%s'", v);
    *r = x;
    return 0;
}

/* --burstiness: positive, or inf for evenly spaced arrivals */
static int parse_burstiness(const char *v, void *base, char *err, size_t n) {
    double *b = &((ServeArgs *)base)->burstiness;
    char *end;
    double x = !strcmp(v, "inf") ? INFINITY : strtod(v, &end);
    if (!isinf(x) && (*end || end == v || !(x > 0)))
        return err_set(err, n, -EINVAL, "--burstiness expects a positive number or inf, got '%s'", v);
    *b = x;
    return 0;
}

static int parse_pcts(const char *v, void *base, char *err, size_t n) {
    ServeArgs *a = base;
    a->n_pct = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        char *end;
        double p = strtod(s, &end);
        if (*end || end == s || p < 0 || p > 100 || a->n_pct == SERVE_MAX_PCT)
            return err_set(err, n, -EINVAL,
                           "--metric-percentiles expects up to %d numbers in [0, 100] like 50,90,99, got '%s'",
                           SERVE_MAX_PCT, v);
        a->pct[a->n_pct++] = p;
    }
    return a->n_pct ? 0 : err_set(err, n, -EINVAL, "--metric-percentiles: none given");
}

static int parse_backend(const char *v, void *base, char *err, size_t n) {
    ServeArgs *a = base;
    if (!strcmp(v, "openai-chat")) a->chat_backend = 1;
    else if (strcmp(v, "openai") && strcmp(v, "vllm") && strcmp(v, "llama.cpp") && strcmp(v, "tgi"))
        return err_set(err, n, -EINVAL, "--backend %s: bench serve speaks the OpenAI API (openai, openai-chat, vllm)",
                       v);
    return 0;
}

#define OFF(f) offsetof(ServeArgs, f)
static const FlagSpec load_flags[] = {
    {"--base-url", NULL, FLAG_STR, OFF(base_url), 0, 0, NULL, "URL", "the server", "http://HOST:PORT"},
    {"--host", NULL, FLAG_STR, OFF(host), 0, 0, NULL, "HOST", "without --base-url", "127.0.0.1"},
    {"--port", NULL, FLAG_INT, OFF(port), 1, 65535, NULL, "PORT", "without --base-url", "8000"},
    {"--endpoint", NULL, FLAG_STR, OFF(endpoint), 0, 0, NULL, "PATH", "/v1/completions or /v1/chat/completions",
     "/v1/completions"},
    {"--backend", NULL, FLAG_FN, 0, 0, 0, parse_backend, "NAME", "openai, vllm; openai-chat means /v1/chat/completions",
     "openai"},
    {"--model", NULL, FLAG_STR, OFF(model), 0, 0, NULL, "NAME", "the model to ask for", "the first of /v1/models"},
    {"--served-model-name", NULL, FLAG_STR, OFF(served_model_name), 0, 0, NULL, "NAME",
     "the name sent, when it differs from --model", NULL},
    {"--tokenizer", NULL, FLAG_STR, OFF(tokenizer), 0, 0, NULL, "MODEL",
     "a local model whose tokenizer counts tokens and makes random text",
     "the server's /tokenize, else the model's where Piston finds it"},
    {"--api-key", NULL, FLAG_STR, OFF(api_key), 0, 0, NULL, "KEY", "sent as a bearer token", "$OPENAI_API_KEY"},
    {"--request-rate", NULL, FLAG_FN, 0, 0, 0, parse_rate, "RATE",
     "requests/s (Poisson arrivals); inf sends all at once", "inf"},
    {"--burstiness", NULL, FLAG_FN, 0, 0, 0, parse_burstiness, "B",
     "1 is Poisson; lower is burstier, higher more even (gamma-distributed gaps); inf evenly spaced", "1.0"},
    {"--max-concurrency", NULL, FLAG_INT, OFF(max_concurrency), 1, 1 << 20, NULL, "N", "at most N requests in flight",
     "no cap"},
    {"--ignore-eos", NULL, FLAG_BOOL, OFF(ignore_eos), 0, 0, NULL, NULL,
     "ask the server to ignore EOS, so each request makes its output length", "off"},
    {"--temperature", NULL, FLAG_DOUBLE, OFF(temperature), 0, 100, NULL, "T", "sampling temperature", "0 (greedy)"},
    {"--extra-body", NULL, FLAG_STR, OFF(extra_body), 0, 0, NULL, "JSON", "an object merged into every request", NULL},
    {"--request-timeout", NULL, FLAG_DOUBLE, OFF(timeout_s), 0.001, 1e7, NULL, "S", "a request taking longer fails",
     "21600"},
    {"--num-warmups", NULL, FLAG_INT, OFF(num_warmups), 0, 1 << 20, NULL, "N",
     "requests sent (and not counted) before the run", "0"},
    {"--ready-check-timeout-sec", NULL, FLAG_INT, OFF(ready_timeout_s), 0, 1 << 20, NULL, "S",
     "the first prompt is retried until the server answers; 0 skips", "600"},
    {"--disable-tqdm", NULL, FLAG_BOOL, OFF(no_progress), 0, 0, NULL, NULL, "no progress bar",
     "a bar when stderr is a terminal"},
    {"--percentile-metrics", NULL, FLAG_STR, OFF(metrics), 0, 0, NULL, "LIST",
     "which of ttft,tpot,itl,e2el get percentiles printed", "ttft,tpot,itl,e2el"},
    {"--metric-percentiles", NULL, FLAG_FN, 0, 0, 0, parse_pcts, "LIST", "percentiles, like 50,90,99", "99"},
};

static const FlagSpec data_flags[] = {
    {"--dataset-name", NULL, FLAG_STR, OFF(ds.name), 0, 0, NULL, "NAME",
     "random, jsonl (a prompt per line, or ShareGPT records), custom, sharegpt", "random"},
    {"--dataset-path", NULL, FLAG_STR, OFF(ds.path), 0, 0, NULL, "FILE", "for jsonl, custom and sharegpt", NULL},
    {"--num-prompts", NULL, FLAG_INT, OFF(ds.num_prompts), 1, 1 << 24, NULL, "N", "requests in the run", "1000"},
    {"--random-input-len", "--input-len", FLAG_INT, OFF(ds.input_len), 1, 1 << 24, NULL, "N", "prompt tokens", "1024"},
    {"--random-output-len", "--output-len", FLAG_INT, OFF(ds.output_len), 1, 1 << 24, NULL, "N",
     "max tokens of each answer", "128"},
    {"--random-range-ratio", NULL, FLAG_DOUBLE, OFF(ds.range_ratio), 0, 0.999, NULL, "R",
     "lengths uniform in [len (1-R), len (1+R)]", "0"},
    {"--custom-output-len", NULL, FLAG_INT, OFF(custom_output_len), 1, 1 << 24, NULL, "N",
     "max tokens for jsonl/custom prompts", "256"},
    {"--sharegpt-output-len", NULL, FLAG_INT, OFF(ds.sharegpt_output_len), 1, 1 << 24, NULL, "N",
     "instead of each ShareGPT reply's length", NULL},
    {"--seed", NULL, FLAG_U64, OFF(ds.seed), 0, 0, NULL, "S", "prompts and arrival times", "0"},
};

static const FlagSpec out_flags[] = {
    {"--save-result", NULL, FLAG_STR, OFF(save_result), 0, 0, NULL, "FILE.json",
     "every figure and each request's timings", NULL},
    {"--result-dir", NULL, FLAG_STR, OFF(result_dir), 0, 0, NULL, "DIR", "where --result-filename goes", "."},
    {"--result-filename", NULL, FLAG_STR, OFF(result_filename), 0, 0, NULL, "NAME", "a result file in --result-dir",
     NULL},
    {"--save-detailed", NULL, FLAG_BOOL, OFF(save_detailed), 0, 0, NULL, NULL, "also each request's generated text",
     "off"},
    {"--label", NULL, FLAG_STR, OFF(label), 0, 0, NULL, "TEXT", "a name for this run in the result", NULL},
};
#undef OFF

void serve_args_default(ServeArgs *a) {
    memset(a, 0, sizeof *a);
    a->host = "127.0.0.1";
    a->port = 8000;
    a->endpoint = NULL;
    a->request_rate = INFINITY;
    a->burstiness = 1.0;
    a->temperature = 0;
    a->timeout_s = 6 * 3600;
    a->ready_timeout_s = 600;
    a->metrics = "ttft,tpot,itl,e2el";
    a->pct[0] = 99, a->n_pct = 1;
    a->ds.name = "random";
    a->ds.num_prompts = 1000;
    a->ds.input_len = 1024;
    a->ds.output_len = 128;
    a->custom_output_len = 256;
}

int serve_flag_groups(ServeArgs *a, FlagGroup *g) {
    g[0] = FLAG_GROUP("load", load_flags, a);
    g[1] = FLAG_GROUP("dataset", data_flags, a);
    g[2] = FLAG_GROUP("result", out_flags, a);
    return 3;
}
