/* Prometheus metrics with vLLM's names, label sets and histogram buckets, so that dashboards
 * and autoscalers written for vLLM read Piston unchanged. The engine thread records (under
 * the bridge's mutex, see api_engine.c); the loop thread renders the text format for
 * GET /metrics under the same mutex. Plain counters and fixed buckets: no allocation after
 * metrics_init. */
#ifndef PISTON_METRICS_H
#define PISTON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define METRICS_MAX_BUCKETS 40

typedef struct Histogram {
    double bounds[METRICS_MAX_BUCKETS]; /* upper bounds, increasing; +Inf is implicit */
    int n_bounds;
    int64_t counts[METRICS_MAX_BUCKETS + 1]; /* per bucket, not cumulative */
    int64_t count;
    double sum;
} Histogram;

typedef struct Metrics {
    /* counters */
    int64_t prompt_tokens, generation_tokens;
    int64_t success[4];            /* by FinishReason: [FINISH_STOP], [FINISH_LENGTH], [FINISH_ABORT] */
    /* histograms */
    Histogram ttft, itl, e2e, queue, prefill, decode, inference;
    Histogram req_prompt_tokens, req_generation_tokens;
    /* from the engine's last step */
    EngineStats engine;
} Metrics;

/* max_model_len sizes the token-count buckets (1, 2, 5, 10, 20, 50, ... as vLLM does). */
void metrics_init(Metrics *m, int max_model_len);
void metrics_observe(Histogram *h, double v);
/* The exposition text (text/plain; version=0.0.4), malloc'd; NULL when out of memory. */
char *metrics_render(const Metrics *m, const char *model_name, size_t *len);

#endif
