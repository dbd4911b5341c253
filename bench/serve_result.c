/* `bench serve`'s result file: vLLM's JSON (the figures under its key names, then every
 * request's lengths, TTFT, ITLs, start time, E2EL and error; the generated texts with
 * --save-detailed; the server's KV blocks and preemptions where its /metrics has them), and
 * where --save-result or --result-dir/--result-filename put it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/serve.h"
#include "cli/cli.h"

static cJSON *num_list(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

static void add_stat(cJSON *o, const char *key, const ServeStat *s, const ServeMetrics *m) {
    char k[64];
    snprintf(k, sizeof k, "mean_%s_ms", key), cJSON_AddNumberToObject(o, k, s->mean);
    snprintf(k, sizeof k, "median_%s_ms", key), cJSON_AddNumberToObject(o, k, s->median);
    snprintf(k, sizeof k, "std_%s_ms", key), cJSON_AddNumberToObject(o, k, s->std);
    for (int i = 0; i < m->n_pct; i++) {
        if (m->pct[i] == floor(m->pct[i])) snprintf(k, sizeof k, "p%d_%s_ms", (int)m->pct[i], key);
        else snprintf(k, sizeof k, "p%g_%s_ms", m->pct[i], key);
        cJSON_AddNumberToObject(o, k, s->pct[i]);
    }
}

cJSON *serve_result_json(const ServeArgs *a, const ServeLoad *L, const ServeOracle *o, const ServePrompt *p,
                         const ServeOutcome *out, int n, const ServeMetrics *m, const ServeServerStats *before,
                         const ServeServerStats *after) {
    cJSON *j = cJSON_CreateObject();
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y%m%d-%H%M%S", localtime(&now));
    cJSON_AddStringToObject(j, "date", date);
    cJSON_AddStringToObject(j, "backend", strstr(L->endpoint, "chat") ? "openai-chat" : "openai");
    if (a->label) cJSON_AddStringToObject(j, "label", a->label);
    cJSON_AddStringToObject(j, "endpoint", L->endpoint);
    cJSON_AddStringToObject(j, "model_id", L->model);
    cJSON_AddStringToObject(j, "tokenizer_id", o->tok && o->tok_name ? o->tok_name : "");
    cJSON_AddStringToObject(j, "length_oracle", serve_oracle_name(o));
    cJSON_AddStringToObject(j, "dataset_name", a->ds.name);
    cJSON_AddNumberToObject(j, "num_prompts", n);
    if (isinf(L->request_rate)) cJSON_AddStringToObject(j, "request_rate", "inf");
    else cJSON_AddNumberToObject(j, "request_rate", L->request_rate);
    if (isinf(L->burstiness)) cJSON_AddStringToObject(j, "burstiness", "inf");
    else cJSON_AddNumberToObject(j, "burstiness", L->burstiness);
    if (L->max_concurrency > 0) cJSON_AddNumberToObject(j, "max_concurrency", L->max_concurrency);
    else cJSON_AddNullToObject(j, "max_concurrency");
    cJSON_AddNumberToObject(j, "duration", m->duration);
    cJSON_AddNumberToObject(j, "completed", m->completed);
    cJSON_AddNumberToObject(j, "failed", m->failed);
    cJSON_AddNumberToObject(j, "total_input_tokens", (double)m->total_input);
    cJSON_AddNumberToObject(j, "total_output_tokens", (double)m->total_output);
    cJSON_AddNumberToObject(j, "request_throughput", m->request_throughput);
    cJSON_AddNumberToObject(j, "output_throughput", m->output_throughput);
    cJSON_AddNumberToObject(j, "total_token_throughput", m->total_token_throughput);
    cJSON_AddNumberToObject(j, "max_output_tokens_per_s", m->max_output_tokens_per_s);
    cJSON_AddNumberToObject(j, "max_concurrent_requests", m->max_concurrent_requests);
    add_stat(j, "ttft", &m->ttft, m);
    add_stat(j, "tpot", &m->tpot, m);
    add_stat(j, "itl", &m->itl, m);
    add_stat(j, "e2el", &m->e2el, m);
    cJSON *il = cJSON_AddArrayToObject(j, "input_lens"), *ol = cJSON_AddArrayToObject(j, "output_lens");
    cJSON *tt = cJSON_AddArrayToObject(j, "ttfts"), *it = cJSON_AddArrayToObject(j, "itls");
    cJSON *st = cJSON_AddArrayToObject(j, "start_times"), *el = cJSON_AddArrayToObject(j, "e2els");
    cJSON *er = cJSON_AddArrayToObject(j, "errors");
    cJSON *gt = a->save_detailed ? cJSON_AddArrayToObject(j, "generated_texts") : NULL;
    for (int i = 0; i < n; i++) {
        const ServeOutcome *r = &out[i];
        cJSON_AddItemToArray(il, cJSON_CreateNumber(p[i].prompt_len));
        cJSON_AddItemToArray(ol, cJSON_CreateNumber(r->ok ? r->output_tokens : 0));
        cJSON_AddItemToArray(tt, cJSON_CreateNumber(r->ok ? r->ttft_s : 0));
        cJSON_AddItemToArray(it, num_list(r->itl, r->ok ? r->n_itl : 0));
        cJSON_AddItemToArray(st, cJSON_CreateNumber(r->start_s));
        cJSON_AddItemToArray(el, cJSON_CreateNumber(r->latency_s));
        cJSON_AddItemToArray(er, cJSON_CreateString(r->error));
        if (gt) cJSON_AddItemToArray(gt, cJSON_CreateString(r->text ? r->text : ""));
    }
    if (after && after->kv_blocks >= 0) {
        cJSON_AddNumberToObject(j, "server_num_gpu_blocks", (double)after->kv_blocks);
        cJSON_AddNumberToObject(j, "server_block_size", (double)after->block_size);
    }
    if (before && after && before->preemptions >= 0 && after->preemptions >= 0)
        cJSON_AddNumberToObject(j, "server_num_preemptions", (double)(after->preemptions - before->preemptions));
    return j;
}

int serve_result_save(const ServeArgs *a, const cJSON *j, FILE *f) {
    char path[4096] = "";
    if (a->save_result) snprintf(path, sizeof path, "%s", a->save_result);
    else if (a->result_filename)
        snprintf(path, sizeof path, "%s/%s", a->result_dir ? a->result_dir : ".", a->result_filename);
    if (!*path) return 0;
    char *s = cJSON_Print(j);
    FILE *rf = fopen(path, "w");
    if (!rf || !s || fputs(s, rf) < 0 || fclose(rf)) {
        cli_error("%s: cannot write the result: %s", path, strerror(errno));
        free(s);
        return 1;
    }
    free(s);
    if (f) fprintf(f, "Result saved to %s\n", path);
    return 0;
}
