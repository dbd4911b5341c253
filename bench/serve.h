/* `piston bench serve` (vLLM's `vllm bench serve`) in parts the sweep reuses: the prompts
 * (serve_dataset.c), the load that sends them and times every streamed chunk
 * (serve_load.c), and the figures made of those timings (serve_metrics.c).
 *
 * The definitions, as vLLM's benchmark has them (all per successful request):
 *   TTFT  the time from sending the request to the first streamed chunk that carries text;
 *   ITL   the gaps between successive chunks that carry text;
 *   E2EL  the time from sending the request to the end of its response;
 *   TPOT  (E2EL - TTFT) / (output tokens - 1), for requests of more than one output token;
 *   output tokens: the server's usage.completion_tokens, else the generated text tokenized.
 * Means, medians and percentiles are NumPy's (linear interpolation); std is the population
 * one. Throughputs divide by the benchmark's duration: from its start to the last response. */
#ifndef PISTON_BENCH_SERVE_H
#define PISTON_BENCH_SERVE_H

#include <stdint.h>
#include <stdio.h>

#include "bench/http_client.h"
#include "cli/flags.h"

typedef struct Tokenizer Tokenizer;

typedef struct ServePrompt {
    char *text;     /* the prompt (completions) or the user message (chat) */
    int prompt_len; /* its tokens, as the length oracle counted them */
    int output_len; /* max_tokens */
} ServePrompt;

typedef struct ServeOutcome {
    int ok;
    char error[256];
    double start_s;     /* when it was sent, from the benchmark's start */
    double ttft_s, latency_s;
    double *itl;
    int n_itl, cap_itl;
    int output_tokens;  /* usage, else counted after the run */
    int usage_tokens;   /* the server's usage.completion_tokens; -1 when it sent none */
    int text_chunks;
    char *text;         /* the generated text */
    size_t text_len, text_cap;
} ServeOutcome;

/* How prompt and output lengths are counted: the server's /tokenize (vLLM's {prompt} or
 * llama.cpp's {content}), else a local tokenizer (--tokenizer, else the model benchmarked
 * where Piston finds it here), else none (estimates). */
typedef struct ServeOracle {
    const HcTarget *target;
    const char *model;
    int server;           /* the server has a /tokenize that answered */
    const Tokenizer *tok; /* local, or NULL */
    const char *tok_name; /* the model tok is of */
} ServeOracle;

/* Probe the server's /tokenize. */
void serve_oracle_init(ServeOracle *o, const HcTarget *t, const char *model, const Tokenizer *tok);
/* Tokens of text (no BOS/EOS), or -1 when nothing can count them. */
int serve_oracle_count(const ServeOracle *o, const char *text);
const char *serve_oracle_name(const ServeOracle *o);
/* serve_tokenizer.c: the tokenizer of name (a model Piston finds here: a path, smollm2, the
 * Hugging Face cache, an Ollama store; never downloaded) into tm. 0, or negative with err. */
struct TextModel;
int serve_tokenizer_local(const char *name, struct TextModel *tm, char *err, size_t errlen);

typedef struct ServeDataset {
    const char *name;   /* random | jsonl | sharegpt | custom */
    const char *path;   /* jsonl, sharegpt, custom */
    int num_prompts;
    int input_len, output_len; /* random; output_len also for jsonl/custom lines (default 256) */
    double range_ratio;
    int sharegpt_output_len;   /* > 0: instead of the reply's length */
    uint64_t seed;
} ServeDataset;

/* Make ds.num_prompts prompts (fewer only for a file with fewer usable ones). *out is an
 * array of *n (serve_prompts_free). 0, or -1 with err. */
int serve_dataset_make(const ServeDataset *ds, const ServeOracle *o, ServePrompt **out, int *n, char *err,
                       size_t errlen);
void serve_prompts_free(ServePrompt *p, int n);

typedef struct ServeLoad {
    const HcTarget *target;
    const char *endpoint;    /* /v1/completions | /v1/chat/completions */
    const char *model;
    double request_rate;     /* requests/s; INFINITY sends all at once */
    double burstiness;       /* 1: Poisson; gamma-distributed gaps otherwise */
    int max_concurrency;     /* 0: no cap */
    int ignore_eos;
    double temperature;      /* < 0: not sent */
    uint64_t seed;
    double timeout_s;        /* per request */
    int progress;            /* a bar on stderr */
    const char *extra_body;  /* a JSON object merged into every request, or NULL */
} ServeLoad;

/* The arrival offsets (seconds from the start) of n requests as vLLM draws them: gamma gaps
 * of shape burstiness and mean 1/rate, scaled so that the last one falls at n/rate. */
void serve_arrivals(double rate, double burstiness, uint64_t seed, int n, double *at);

/* Send n prompts as L says; out[i] gets request i's timings; *duration_s the whole run. 0, or
 * -1 with err when the run could not happen (failed requests are outcomes, not errors). */
int serve_load_run(const ServeLoad *L, const ServePrompt *p, int n, ServeOutcome *out, double *duration_s,
                   char *err, size_t errlen);
void serve_outcomes_free(ServeOutcome *o, int n);

#define SERVE_MAX_PCT 8
typedef struct ServeStat {
    double mean, median, std, pct[SERVE_MAX_PCT];
} ServeStat;

typedef struct ServeMetrics {
    int completed, failed;
    int64_t total_input, total_output;
    double duration;
    double request_throughput, output_throughput, total_token_throughput;
    double max_output_tokens_per_s;
    int max_concurrent_requests;
    ServeStat ttft, tpot, itl, e2el; /* ms */
    int n_pct;
    double pct[SERVE_MAX_PCT];
} ServeMetrics;

/* Output tokens for outcomes without usage (counted with the oracle), then the figures. */
void serve_count_outputs(const ServeOracle *o, ServeOutcome *out, int n);
void serve_metrics(const ServePrompt *p, const ServeOutcome *out, int n, double duration, const double *pct,
                   int n_pct, ServeMetrics *m);
/* s's percentile p of m's list (--metric-percentiles), by value; NAN when p is not in it. */
double serve_stat_pct(const ServeMetrics *m, const ServeStat *s, double p);
/* NumPy's percentile (linear) of x[0, n) (sorted in place); 0 for n == 0. */
double serve_percentile(double *x, int n, double p);
/* vLLM's "Serving Benchmark Result" block. metrics: "ttft,tpot,itl,e2el" or a subset. */
void serve_print(FILE *f, const ServeLoad *L, const ServeMetrics *m, const char *metrics);

/* The command's flags (serve_flags.c), and one whole benchmark (serve.c; the sweep runs it
 * per point) */
typedef struct ServeArgs {
    const char *base_url, *host, *endpoint, *model, *served_model_name, *tokenizer, *api_key, *extra_body;
    const char *metrics, *save_result, *result_dir, *result_filename, *label;
    int port, chat_backend, max_concurrency, ignore_eos, num_warmups, ready_timeout_s, no_progress;
    int save_detailed, custom_output_len, n_pct;
    double request_rate, burstiness, temperature, timeout_s, pct[SERVE_MAX_PCT];
    ServeDataset ds;
} ServeArgs;

/* What the server's /metrics says (vLLM's names); -1 where it says nothing. */
typedef struct ServeServerStats {
    int64_t preemptions, kv_blocks, block_size;
} ServeServerStats;

typedef struct ServeSummary {
    ServeMetrics m;
    ServeServerStats server; /* preemptions: during the run */
    struct cJSON *json;      /* the result file's content (cJSON_Delete it) */
} ServeSummary;

void serve_args_default(ServeArgs *a);
/* The flag groups (load, dataset, result) into g[0..3); returns 3. */
int serve_flag_groups(ServeArgs *a, FlagGroup *g);

/* serve_probe.c. The server's /metrics into s (-1 where it says nothing); 0, or -1 when it
 * did not answer 200. */
int serve_scrape(const HcTarget *t, ServeServerStats *s);
/* --model unset: the first of /v1/models, as vLLM's benchmark does; a server still starting
 * (no connection, or 503) is waited for up to wait_s. 0, or -1 with err. */
int serve_first_model(const HcTarget *t, int wait_s, char *out, size_t n, char *err, size_t errlen);
/* The first prompt until the server answers it (vLLM's ready check): connection errors are
 * retried each second up to timeout_s, an HTTP error ends it at once. 0, or -1 with err. */
int serve_ready_check(const ServeLoad *L, const ServePrompt *p, int timeout_s, char *err, size_t errlen);

/* Model lookup, prompts, ready check, warm-ups, the run, the figures; the block on stdout
 * when print; the result file when asked. 0, or 1 after printing the error. */
int serve_bench(ServeArgs *a, const HcTarget *t, int print, ServeSummary *sum);
/* serve_result.c: the result file's content (vLLM's keys, every request's timings) */
struct cJSON *serve_result_json(const ServeArgs *a, const ServeLoad *L, const ServeOracle *o, const ServePrompt *p,
                                const ServeOutcome *out, int n, const ServeMetrics *m, const ServeServerStats *before,
                                const ServeServerStats *after);
/* j into --save-result's file, or --result-dir/--result-filename's, saying so on f (if any);
 * nothing without either. 0, or 1 after printing the error. */
int serve_result_save(const ServeArgs *a, const struct cJSON *j, FILE *f);

#endif
