/* The figures of `bench serve` from its outcomes, and vLLM's result block (serve.h has the
 * definitions). The arithmetic follows vLLM's calculate_metrics so that the same run gives
 * the same numbers in both tools: NumPy's mean/median/percentile/std, and the peaks from
 * one-second buckets of token arrival times and of requests in flight. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double serve_percentile(double *x, int n, double p) {
    if (n <= 0) return 0;
    qsort(x, (size_t)n, sizeof *x, cmp_d);
    double k = p / 100.0 * (n - 1);
    int lo = (int)floor(k), hi = (int)ceil(k);
    if (hi >= n) hi = n - 1;
    return x[lo] + (x[hi] - x[lo]) * (k - lo);
}

double serve_stat_pct(const ServeMetrics *m, const ServeStat *s, double p) {
    for (int i = 0; i < m->n_pct; i++)
        if (m->pct[i] == p) return s->pct[i];
    return NAN;
}

/* values in seconds -> statistics in ms */
static void summarize(double *x, int n, const double *pct, int n_pct, ServeStat *s) {
    memset(s, 0, sizeof *s);
    if (n == 0) return;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    s->mean = sum / n;
    double v = 0;
    for (int i = 0; i < n; i++) v += (x[i] - s->mean) * (x[i] - s->mean);
    s->std = sqrt(v / n) * 1e3;
    s->mean *= 1e3;
    s->median = serve_percentile(x, n, 50) * 1e3;
    for (int i = 0; i < n_pct; i++) s->pct[i] = serve_percentile(x, n, pct[i]) * 1e3;
}

void serve_count_outputs(const ServeOracle *o, ServeOutcome *out, int n) {
    for (int i = 0; i < n; i++) {
        ServeOutcome *r = &out[i];
        if (!r->ok) {
            r->output_tokens = 0;
        } else if (r->usage_tokens >= 0) {
            r->output_tokens = r->usage_tokens;
        } else {
            int c = r->text ? serve_oracle_count(o, r->text) : 0;
            r->output_tokens = c >= 0 ? c : r->text_chunks; /* nothing counts text: one chunk, one token */
        }
    }
}

void serve_metrics(const ServePrompt *p, const ServeOutcome *out, int n, double duration, const double *pct,
                   int n_pct, ServeMetrics *m) {
    memset(m, 0, sizeof *m);
    m->duration = duration;
    m->n_pct = n_pct < SERVE_MAX_PCT ? n_pct : SERVE_MAX_PCT;
    memcpy(m->pct, pct, (size_t)m->n_pct * sizeof *pct);
    int n_itl = 0;
    for (int i = 0; i < n; i++) n_itl += out[i].ok ? out[i].n_itl : 0;
    double *ttft = malloc(((size_t)n + 1) * sizeof *ttft), *tpot = malloc(((size_t)n + 1) * sizeof *tpot);
    double *e2el = malloc(((size_t)n + 1) * sizeof *e2el), *itl = malloc(((size_t)n_itl + 1) * sizeof *itl);
    int nt = 0, np = 0, ni = 0;
    double t_min = INFINITY, t_max = -INFINITY;
    for (int i = 0; i < n; i++) {
        const ServeOutcome *o = &out[i];
        if (!o->ok) {
            m->failed++;
            continue;
        }
        m->completed++;
        m->total_input += p[i].prompt_len;
        m->total_output += o->output_tokens;
        if (o->output_tokens > 1) tpot[np++] = (o->latency_s - o->ttft_s) / (o->output_tokens - 1);
        ttft[nt] = o->ttft_s, e2el[nt++] = o->latency_s;
        for (int k = 0; k < o->n_itl; k++) itl[ni++] = o->itl[k];
        if (o->start_s < t_min) t_min = o->start_s;
        if (o->start_s + o->latency_s > t_max) t_max = o->start_s + o->latency_s;
    }
    if (duration > 0) {
        m->request_throughput = m->completed / duration;
        m->output_throughput = (double)m->total_output / duration;
        m->total_token_throughput = (double)(m->total_input + m->total_output) / duration;
    }
    if (m->completed) { /* the peaks: one-second buckets from the first start */
        int nb = (int)ceil(t_max - t_min) + 1;
        double *tok = calloc((size_t)nb, sizeof *tok), *conc = calloc((size_t)nb, sizeof *conc);
        for (int i = 0; tok && conc && i < n; i++) {
            const ServeOutcome *o = &out[i];
            if (!o->ok) continue;
            double t = o->start_s + o->ttft_s;
            for (int k = -1; k < o->n_itl; k++) {
                if (k >= 0) t += o->itl[k];
                int b = (int)(t - t_min);
                if (b >= 0 && b < nb) tok[b] += 1;
            }
            int b0 = (int)(o->start_s - t_min), b1 = (int)(o->start_s + o->latency_s - t_min);
            for (int b = b0; b <= b1 && b < nb; b++) conc[b] += 1;
        }
        for (int b = 0; tok && conc && b < nb; b++) {
            if (tok[b] > m->max_output_tokens_per_s) m->max_output_tokens_per_s = tok[b];
            if (conc[b] > m->max_concurrent_requests) m->max_concurrent_requests = (int)conc[b];
        }
        free(tok), free(conc);
    }
    summarize(ttft, nt, m->pct, m->n_pct, &m->ttft);
    summarize(tpot, np, m->pct, m->n_pct, &m->tpot);
    summarize(itl, ni, m->pct, m->n_pct, &m->itl);
    summarize(e2el, nt, m->pct, m->n_pct, &m->e2el);
    free(ttft), free(tpot), free(e2el), free(itl);
}

static void pword(double p, char *buf, size_t n) {
    if (p == floor(p)) snprintf(buf, n, "%d", (int)p);
    else snprintf(buf, n, "%g", p);
}

static void print_stat(FILE *f, const char *key, const char *name, const char *header, const ServeStat *s,
                       const ServeMetrics *m, const char *metrics) {
    char want[32];
    snprintf(want, sizeof want, ",%s,", key);
    char list[128];
    snprintf(list, sizeof list, ",%s,", metrics);
    if (!strstr(list, want)) return;
    int pad = 50 - (int)strlen(header), l = pad / 2;
    fprintf(f, "%.*s%s%.*s\n", l, "--------------------------------------------------", header, pad - l,
            "--------------------------------------------------");
    char label[64];
    snprintf(label, sizeof label, "Mean %s (ms):", name);
    fprintf(f, "%-40s %-10.2f\n", label, s->mean);
    snprintf(label, sizeof label, "Median %s (ms):", name);
    fprintf(f, "%-40s %-10.2f\n", label, s->median);
    for (int i = 0; i < m->n_pct; i++) {
        char w[16];
        pword(m->pct[i], w, sizeof w);
        snprintf(label, sizeof label, "P%s %s (ms):", w, name);
        fprintf(f, "%-40s %-10.2f\n", label, s->pct[i]);
    }
}

void serve_print(FILE *f, const ServeLoad *L, const ServeMetrics *m, const char *metrics) {
    fprintf(f, "============ Serving Benchmark Result ============\n");
    fprintf(f, "%-40s %-10d\n", "Successful requests:", m->completed);
    fprintf(f, "%-40s %-10d\n", "Failed requests:", m->failed);
    if (L->max_concurrency > 0) fprintf(f, "%-40s %-10d\n", "Maximum request concurrency:", L->max_concurrency);
    if (!isinf(L->request_rate)) fprintf(f, "%-40s %-10.2f\n", "Request rate configured (RPS):", L->request_rate);
    fprintf(f, "%-40s %-10.2f\n", "Benchmark duration (s):", m->duration);
    fprintf(f, "%-40s %-10lld\n", "Total input tokens:", (long long)m->total_input);
    fprintf(f, "%-40s %-10lld\n", "Total generated tokens:", (long long)m->total_output);
    fprintf(f, "%-40s %-10.2f\n", "Request throughput (req/s):", m->request_throughput);
    fprintf(f, "%-40s %-10.2f\n", "Output token throughput (tok/s):", m->output_throughput);
    fprintf(f, "%-40s %-10.2f\n", "Peak output token throughput (tok/s):", m->max_output_tokens_per_s);
    fprintf(f, "%-40s %-10.2f\n", "Peak concurrent requests:", (double)m->max_concurrent_requests);
    fprintf(f, "%-40s %-10.2f\n", "Total token throughput (tok/s):", m->total_token_throughput);
    print_stat(f, "ttft", "TTFT", "Time to First Token", &m->ttft, m, metrics);
    print_stat(f, "tpot", "TPOT", "Time per Output Token (excl. 1st token)", &m->tpot, m, metrics);
    print_stat(f, "itl", "ITL", "Inter-token Latency", &m->itl, m, metrics);
    print_stat(f, "e2el", "E2EL", "End-to-end Latency", &m->e2el, m, metrics);
    fprintf(f, "==================================================\n");
}
