/* Prometheus text exposition of Piston's metrics (see metrics.h). Names, HELP texts and
 * bucket bounds are vLLM's (v1 engine): counters end in _total, histograms give cumulative
 * _bucket lines with le labels, then _count and _sum, every series labelled with model_name. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double k_ttft[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
static const double k_itl[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                               0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
static const double k_latency[] = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
                                   30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

static void hist_init(Histogram *h, const double *b, int n) {
    memset(h, 0, sizeof *h);
    if (n > METRICS_MAX_BUCKETS) n = METRICS_MAX_BUCKETS;
    memcpy(h->bounds, b, (size_t)n * sizeof *b);
    h->n_bounds = n;
}

/* vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to max. */
static void hist_init_125(Histogram *h, int max) {
    double b[METRICS_MAX_BUCKETS];
    int n = 0;
    for (double e = 1; n < METRICS_MAX_BUCKETS; e *= 10) {
        const double m[3] = {1, 2, 5};
        int stop = 0;
        for (int i = 0; i < 3 && n < METRICS_MAX_BUCKETS; i++) {
            if (m[i] * e > max) {
                stop = 1;
                break;
            }
            b[n++] = m[i] * e;
        }
        if (stop) break;
    }
    hist_init(h, b, n);
}

void metrics_init(Metrics *m, int max_model_len) {
    memset(m, 0, sizeof *m);
    const int nl = (int)(sizeof k_latency / sizeof *k_latency);
    hist_init(&m->ttft, k_ttft, (int)(sizeof k_ttft / sizeof *k_ttft));
    hist_init(&m->itl, k_itl, (int)(sizeof k_itl / sizeof *k_itl));
    hist_init(&m->e2e, k_latency, nl);
    hist_init(&m->queue, k_latency, nl);
    hist_init(&m->prefill, k_latency, nl);
    hist_init(&m->decode, k_latency, nl);
    hist_init(&m->inference, k_latency, nl);
    hist_init_125(&m->req_prompt_tokens, max_model_len > 0 ? max_model_len : 1);
    hist_init_125(&m->req_generation_tokens, max_model_len > 0 ? max_model_len : 1);
}

void metrics_observe(Histogram *h, double v) {
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

typedef struct Out {
    char *p;
    size_t len, cap;
    int oom;
} Out;

static void put(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Out *o, const char *fmt, ...) {
    for (;;) {
        if (o->oom) return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)(n > 0 ? n : 0);
        char *q = realloc(o->p, cap);
        if (!q) {
            o->oom = 1;
            return;
        }
        o->p = q, o->cap = cap;
    }
}

static void head(Out *o, const char *name, const char *type, const char *help) {
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Go's %g-like number formatting that Prometheus parsers accept. */
static void num(char *buf, size_t n, double v) {
    snprintf(buf, n, "%.17g", v);
    if (!strpbrk(buf, ".eEni")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static void gauge(Out *o, const char *name, const char *help, const char *labels, double v) {
    char b[64];
    num(b, sizeof b, v);
    head(o, name, "gauge", help);
    put(o, "%s{%s} %s\n", name, labels, b);
}

static void counter(Out *o, const char *name, const char *help, const char *labels, double v) {
    char b[64];
    num(b, sizeof b, v);
    head(o, name, "counter", help);
    put(o, "%s{%s} %s\n", name, labels, b);
}

static void histogram(Out *o, const char *name, const char *help, const char *labels, const Histogram *h) {
    char b[64], v[64];
    head(o, name, "histogram", help);
    int64_t cum = 0;
    for (int i = 0; i <= h->n_bounds; i++) {
        cum += h->counts[i];
        if (i < h->n_bounds) num(b, sizeof b, h->bounds[i]);
        else snprintf(b, sizeof b, "+Inf");
        num(v, sizeof v, (double)cum);
        put(o, "%s_bucket{le=\"%s\",%s} %s\n", name, b, labels, v);
    }
    num(v, sizeof v, (double)h->count);
    put(o, "%s_count{%s} %s\n", name, labels, v);
    num(v, sizeof v, h->sum);
    put(o, "%s_sum{%s} %s\n", name, labels, v);
}

char *metrics_render(const Metrics *m, const char *model_name, size_t *len) {
    /* label values escape \ " and newline (the exposition format's rule) */
    char esc[512], labels[600], lab2[700];
    size_t j = 0;
    for (const char *s = model_name; *s && j + 3 < sizeof esc; s++) {
        if (*s == '\\' || *s == '"') esc[j++] = '\\', esc[j++] = *s;
        else if (*s == '\n') esc[j++] = '\\', esc[j++] = 'n';
        else esc[j++] = *s;
    }
    esc[j] = 0;
    snprintf(labels, sizeof labels, "model_name=\"%s\"", esc);
    Out o = {malloc(16384), 0, 16384, 0};
    if (!o.p) return NULL;
    const EngineStats *st = &m->engine;
    gauge(&o, "vllm:num_requests_running", "Number of requests in model execution batches.", labels, st->num_running);
    gauge(&o, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels, st->num_waiting);
    gauge(&o, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels, st->kv_usage);
    gauge(&o, "vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage (older name).", labels,
          st->kv_usage);
    snprintf(lab2, sizeof lab2, "block_size=\"%lld\",num_gpu_blocks=\"%lld\",%s", (long long)st->block_size,
             (long long)st->num_blocks, labels);
    gauge(&o, "vllm:cache_config_info", "Information of the KV cache config.", lab2, 1);
    counter(&o, "vllm:num_preemptions_total", "Cumulative number of preemption from the engine.", labels,
            (double)st->num_preemptions);
    counter(&o, "vllm:prefix_cache_queries_total",
            "Prefix cache queries, in terms of number of queried tokens.", labels, (double)st->prefix_cache_queries);
    counter(&o, "vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.", labels,
            (double)st->prefix_cache_hits);
    counter(&o, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", labels, (double)m->prompt_tokens);
    counter(&o, "vllm:generation_tokens_total", "Number of generation tokens processed.", labels,
            (double)m->generation_tokens);
    head(&o, "vllm:request_success_total", "counter", "Count of successfully processed requests.");
    static const char *const reasons[] = {"stop", "length", "abort"};
    for (int r = 0; r < 3; r++) {
        char b[64];
        num(b, sizeof b, (double)m->success[r + 1]);
        put(&o, "vllm:request_success_total{finished_reason=\"%s\",%s} %s\n", reasons[r], labels, b);
    }
    histogram(&o, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", labels, &m->ttft);
    histogram(&o, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", labels, &m->itl);
    histogram(&o, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", labels, &m->e2e);
    histogram(&o, "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", labels,
              &m->queue);
    histogram(&o, "vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
              labels, &m->prefill);
    histogram(&o, "vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", labels,
              &m->decode);
    histogram(&o, "vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
              labels, &m->inference);
    histogram(&o, "vllm:request_prompt_tokens", "Number of prefill tokens processed.", labels, &m->req_prompt_tokens);
    histogram(&o, "vllm:request_generation_tokens", "Number of generation tokens processed.", labels,
              &m->req_generation_tokens);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}
