/* `piston bench serve`: vLLM's `vllm bench serve` against any OpenAI-compatible server,
 * Piston or not. The flags are vLLM's; the figures are vLLM's, printed under its labels
 * (serve.h has the definitions); --save-result writes them with every request's timings.
 *
 *   piston bench serve --base-url http://127.0.0.1:8000 --dataset-name random \
 *       --random-input-len 256 --random-output-len 128 --num-prompts 100 --max-concurrency 8 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "bench/bench.h"
#include "bench/serve.h"
#include "cli/cli.h"
#include "engine/text_model.h"

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
            return err_set(err, n, -EINVAL, "--metric-percentiles expects up to %d numbers in [0, 100] like 50,90,99, got '%s'",
                           SERVE_MAX_PCT, v);
        a->pct[a->n_pct++] = p;
    }
    return a->n_pct ? 0 : err_set(err, n, -EINVAL, "--metric-percentiles: none given");
}

static int parse_backend(const char *v, void *base, char *err, size_t n) {
    ServeArgs *a = base;
    if (!strcmp(v, "openai-chat")) a->chat_backend = 1;
    else if (strcmp(v, "openai") && strcmp(v, "vllm") && strcmp(v, "llama.cpp") && strcmp(v, "tgi"))
        return err_set(err, n, -EINVAL, "--backend %s: bench serve speaks the OpenAI API (openai, openai-chat, vllm)", v);
    return 0;
}

#define OFF(f) offsetof(ServeArgs, f)
static const FlagSpec load_flags[] = {
    {"--base-url", NULL, FLAG_STR, OFF(base_url), 0, 0, NULL, "URL", "the server", "http://HOST:PORT"},
    {"--host", NULL, FLAG_STR, OFF(host), 0, 0, NULL, "HOST", "without --base-url", "127.0.0.1"},
    {"--port", NULL, FLAG_INT, OFF(port), 1, 65535, NULL, "PORT", "without --base-url", "8000"},
    {"--endpoint", NULL, FLAG_STR, OFF(endpoint), 0, 0, NULL, "PATH", "/v1/completions or /v1/chat/completions", "/v1/completions"},
    {"--backend", NULL, FLAG_FN, 0, 0, 0, parse_backend, "NAME", "openai, vllm; openai-chat means /v1/chat/completions", "openai"},
    {"--model", NULL, FLAG_STR, OFF(model), 0, 0, NULL, "NAME", "the model to ask for", "the first of /v1/models"},
    {"--served-model-name", NULL, FLAG_STR, OFF(served_model_name), 0, 0, NULL, "NAME", "the name sent, when it differs from --model", NULL},
    {"--tokenizer", NULL, FLAG_STR, OFF(tokenizer), 0, 0, NULL, "MODEL", "a local model whose tokenizer counts tokens and makes random text", "the server's /tokenize, else the model's where Piston finds it"},
    {"--api-key", NULL, FLAG_STR, OFF(api_key), 0, 0, NULL, "KEY", "sent as a bearer token", "$OPENAI_API_KEY"},
    {"--request-rate", NULL, FLAG_FN, 0, 0, 0, parse_rate, "RATE", "requests/s (Poisson arrivals); inf sends all at once", "inf"},
    {"--burstiness", NULL, FLAG_FN, 0, 0, 0, parse_burstiness, "B", "1 is Poisson; lower is burstier, higher more even (gamma-distributed gaps); inf evenly spaced", "1.0"},
    {"--max-concurrency", NULL, FLAG_INT, OFF(max_concurrency), 1, 1 << 20, NULL, "N", "at most N requests in flight", "no cap"},
    {"--ignore-eos", NULL, FLAG_BOOL, OFF(ignore_eos), 0, 0, NULL, NULL, "ask the server to ignore EOS, so each request makes its output length", "off"},
    {"--temperature", NULL, FLAG_DOUBLE, OFF(temperature), 0, 100, NULL, "T", "sampling temperature", "0 (greedy)"},
    {"--extra-body", NULL, FLAG_STR, OFF(extra_body), 0, 0, NULL, "JSON", "an object merged into every request", NULL},
    {"--request-timeout", NULL, FLAG_DOUBLE, OFF(timeout_s), 0.001, 1e7, NULL, "S", "a request taking longer fails", "21600"},
    {"--num-warmups", NULL, FLAG_INT, OFF(num_warmups), 0, 1 << 20, NULL, "N", "requests sent (and not counted) before the run", "0"},
    {"--ready-check-timeout-sec", NULL, FLAG_INT, OFF(ready_timeout_s), 0, 1 << 20, NULL, "S", "the first prompt is retried until the server answers; 0 skips", "600"},
    {"--disable-tqdm", NULL, FLAG_BOOL, OFF(no_progress), 0, 0, NULL, NULL, "no progress bar", "a bar when stderr is a terminal"},
    {"--percentile-metrics", NULL, FLAG_STR, OFF(metrics), 0, 0, NULL, "LIST", "which of ttft,tpot,itl,e2el get percentiles printed", "ttft,tpot,itl,e2el"},
    {"--metric-percentiles", NULL, FLAG_FN, 0, 0, 0, parse_pcts, "LIST", "percentiles, like 50,90,99", "99"},
};

static const FlagSpec data_flags[] = {
    {"--dataset-name", NULL, FLAG_STR, OFF(ds.name), 0, 0, NULL, "NAME", "random, jsonl (a prompt per line, or ShareGPT records), custom, sharegpt", "random"},
    {"--dataset-path", NULL, FLAG_STR, OFF(ds.path), 0, 0, NULL, "FILE", "for jsonl, custom and sharegpt", NULL},
    {"--num-prompts", NULL, FLAG_INT, OFF(ds.num_prompts), 1, 1 << 24, NULL, "N", "requests in the run", "1000"},
    {"--random-input-len", "--input-len", FLAG_INT, OFF(ds.input_len), 1, 1 << 24, NULL, "N", "prompt tokens", "1024"},
    {"--random-output-len", "--output-len", FLAG_INT, OFF(ds.output_len), 1, 1 << 24, NULL, "N", "max tokens of each answer", "128"},
    {"--random-range-ratio", NULL, FLAG_DOUBLE, OFF(ds.range_ratio), 0, 0.999, NULL, "R", "lengths uniform in [len (1-R), len (1+R)]", "0"},
    {"--custom-output-len", NULL, FLAG_INT, OFF(custom_output_len), 1, 1 << 24, NULL, "N", "max tokens for jsonl/custom prompts", "256"},
    {"--sharegpt-output-len", NULL, FLAG_INT, OFF(ds.sharegpt_output_len), 1, 1 << 24, NULL, "N", "instead of each ShareGPT reply's length", NULL},
    {"--seed", NULL, FLAG_U64, OFF(ds.seed), 0, 0, NULL, "S", "prompts and arrival times", "0"},
};

static const FlagSpec out_flags[] = {
    {"--save-result", NULL, FLAG_STR, OFF(save_result), 0, 0, NULL, "FILE.json", "every figure and each request's timings", NULL},
    {"--result-dir", NULL, FLAG_STR, OFF(result_dir), 0, 0, NULL, "DIR", "where --result-filename goes", "."},
    {"--result-filename", NULL, FLAG_STR, OFF(result_filename), 0, 0, NULL, "NAME", "a result file in --result-dir", NULL},
    {"--save-detailed", NULL, FLAG_BOOL, OFF(save_detailed), 0, 0, NULL, NULL, "also each request's generated text", "off"},
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

int serve_scrape(const HcTarget *t, ServeServerStats *s) {
    memset(s, 0, sizeof *s);
    s->preemptions = s->kv_blocks = s->block_size = -1;
    HcResponse r;
    char err[256];
    if (hc_fetch(t, "GET", "/metrics", NULL, 10, &r, err, sizeof err)) return -1;
    if (r.status != 200) {
        free(r.body);
        return -1;
    }
    for (char *line = r.body; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!strncmp(line, "vllm:num_preemptions_total", 26)) {
            char *sp = strrchr(line, ' ');
            if (sp) s->preemptions = (int64_t)strtod(sp + 1, NULL);
        } else if (!strncmp(line, "vllm:cache_config_info{", 23)) {
            char *b = strstr(line, "num_gpu_blocks=\""), *z = strstr(line, "block_size=\"");
            if (b) s->kv_blocks = strtoll(b + 16, NULL, 10);
            if (z) s->block_size = strtoll(z + 12, NULL, 10);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(r.body);
    return 0;
}

/* --model unset: the first of /v1/models, as vLLM's benchmark does; a server still starting
 * (no connection, or 503) is waited for up to the ready-check timeout */
static int first_model(const HcTarget *t, int wait_s, char *out, size_t n, char *err, size_t errlen) {
    HcResponse r;
    for (int waited = 0;; waited++) {
        int rc = hc_fetch(t, "GET", "/v1/models", NULL, 30, &r, err, errlen);
        if (!rc && r.status != 503) break;
        if (!rc) free(r.body);
        if (waited >= wait_s) {
            if (!rc) err_set(err, errlen, -EAGAIN, "GET /v1/models: 503 for %d s: the server is not ready", wait_s);
            return -1;
        }
        sleep(1);
    }
    cJSON *j = r.status == 200 ? cJSON_Parse(r.body) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "id");
    int rc = 0;
    if (cJSON_IsString(id)) snprintf(out, n, "%s", id->valuestring);
    else rc = err_set(err, errlen, -EINVAL, "GET /v1/models answered %d without a model id: pass --model", r.status);
    cJSON_Delete(j);
    free(r.body);
    return rc;
}

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

/* The first prompt until the server answers it (vLLM's ready check): connection errors are
 * retried each second up to the timeout, an HTTP error ends it at once. */
static int ready_check(const ServeLoad *L0, const ServePrompt *p, int timeout_s, char *err, size_t errlen) {
    ServeLoad L = *L0;
    L.request_rate = INFINITY, L.max_concurrency = 0, L.progress = 0;
    double t0 = base_now();
    for (;;) {
        ServeOutcome o;
        double d;
        if (serve_load_run(&L, p, 1, &o, &d, err, errlen)) return -1;
        int ok = o.ok, http = !strncmp(o.error, "HTTP ", 5) || !strncmp(o.error, "stream error", 12);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", o.error);
        free(o.itl), free(o.text);
        if (ok) return 0;
        if (http || base_now() - t0 > timeout_s)
            return err_set(err, errlen, -EIO, "the initial test request failed: %s", msg);
        sleep(1);
    }
}

int serve_bench(ServeArgs *a, const HcTarget *t, int print, ServeSummary *sum) {
    char err[512], model[512];
    memset(sum, 0, sizeof *sum);
    TextModel tm = {0};
    int have_tm = 0, rc = 1;
    ServePrompt *p = NULL;
    ServeOutcome *out = NULL;
    int n = 0;
    FILE *f = print ? stdout : NULL;
    if (!a->endpoint) a->endpoint = a->chat_backend ? "/v1/chat/completions" : "/v1/completions";
    if (strcmp(a->endpoint, "/v1/completions") && strcmp(a->endpoint, "/v1/chat/completions")) {
        cli_error("--endpoint %s: /v1/completions or /v1/chat/completions", a->endpoint);
        return 1;
    }
    if (a->model) snprintf(model, sizeof model, "%s", a->model);
    else if (first_model(t, a->ready_timeout_s, model, sizeof model, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    char asked[512]; /* the model as --model or the server names it, before --served-model-name */
    snprintf(asked, sizeof asked, "%s", model);
    if (a->served_model_name) snprintf(model, sizeof model, "%s", a->served_model_name);
    if (a->tokenizer) {
        CliArgs ca;
        memset(&ca, 0, sizeof ca);
        ca.model = a->tokenizer;
        ca.engine.dtype = DT_COUNT;
        if (cli_resolve_model(&ca)) return 1;
        if (text_model_load(&tm, ca.model_path, NULL, 0, err, sizeof err)) {
            cli_error("--tokenizer %s: %s", a->tokenizer, err);
            return 1;
        }
        have_tm = 1;
    }
    ServeOracle o;
    serve_oracle_init(&o, t, model, have_tm ? tm.tok : NULL);
    o.tok_name = a->tokenizer;
    if (!o.server && !have_tm) { /* no /tokenize: our tokenizer on the same model, if it is here */
        if (serve_tokenizer_local(asked, &tm, err, sizeof err) == 0) have_tm = 1, o.tok = tm.tok, o.tok_name = asked;
        else fprintf(stderr, "piston: warning: the server has no /tokenize and %s (pass --tokenizer MODEL): prompt "
                             "lengths are estimates, and output tokens without usage are streamed chunks\n", err);
    }
    if (f) fprintf(f, "Model: %s; prompt and output lengths counted by %s%s%s\n", model, serve_oracle_name(&o),
                   o.tok && !o.server ? " of " : "", o.tok && !o.server ? o.tok_name : "");
    ServeDataset ds = a->ds;
    if (strcmp(ds.name, "random") && ds.output_len == 128) ds.output_len = a->custom_output_len;
    if (serve_dataset_make(&ds, &o, &p, &n, err, sizeof err)) {
        cli_error("%s", err);
        goto done;
    }
    ServeLoad L = {t, a->endpoint, model, a->request_rate, a->burstiness, a->max_concurrency, a->ignore_eos,
                   a->temperature, a->ds.seed, a->timeout_s, !a->no_progress && isatty(2), a->extra_body};
    if (a->extra_body) {
        cJSON *x = cJSON_Parse(a->extra_body);
        int ok = cJSON_IsObject(x);
        cJSON_Delete(x);
        if (!ok) {
            cli_error("--extra-body expects a JSON object, got '%s'", a->extra_body);
            goto done;
        }
    }
    if (a->ready_timeout_s > 0) {
        if (f) fprintf(f, "Starting initial single prompt test run...\n"), fflush(f);
        if (ready_check(&L, p, a->ready_timeout_s, err, sizeof err)) {
            cli_error("%s", err);
            goto done;
        }
        if (f) fprintf(f, "Initial test run completed. Starting main benchmark run...\n");
    }
    if (a->num_warmups > 0) {
        ServeLoad W = L;
        W.request_rate = INFINITY, W.progress = 0;
        ServePrompt *wp = calloc((size_t)a->num_warmups, sizeof *wp);
        ServeOutcome *wo = calloc((size_t)a->num_warmups, sizeof *wo);
        double d;
        for (int i = 0; wp && i < a->num_warmups; i++) wp[i] = p[0];
        if (f) fprintf(f, "Warming up with %d requests...\n", a->num_warmups);
        if (wp && wo) serve_load_run(&W, wp, a->num_warmups, wo, &d, err, sizeof err);
        free(wp);
        serve_outcomes_free(wo, a->num_warmups);
    }
    if (f) {
        if (isinf(L.request_rate)) fprintf(f, "Traffic request rate: inf\n");
        else fprintf(f, "Traffic request rate: %g\n", L.request_rate);
        fprintf(f, "Burstiness factor: %g%s (%s)\n", L.burstiness,
                L.burstiness == floor(L.burstiness) && !isinf(L.burstiness) ? ".0" : "",
                L.burstiness == 1.0 ? "Poisson process" : isinf(L.burstiness) ? "constant rate" : "Gamma distribution");
        if (L.max_concurrency > 0) fprintf(f, "Maximum request concurrency: %d\n", L.max_concurrency);
        else fprintf(f, "Maximum request concurrency: None\n");
        fflush(f);
    }
    ServeServerStats before, after;
    serve_scrape(t, &before);
    out = calloc((size_t)n, sizeof *out);
    double dur;
    if (!out || serve_load_run(&L, p, n, out, &dur, err, sizeof err)) {
        cli_error("%s", out ? err : "out of memory");
        goto done;
    }
    serve_scrape(t, &after);
    serve_count_outputs(&o, out, n);
    serve_metrics(p, out, n, dur, a->pct, a->n_pct, &sum->m);
    sum->server = after;
    sum->server.preemptions =
        before.preemptions >= 0 && after.preemptions >= 0 ? after.preemptions - before.preemptions : -1;
    if (f) {
        serve_print(f, &L, &sum->m, a->metrics);
        for (int i = 0, shown = 0; i < n && shown < 3; i++)
            if (!out[i].ok) fprintf(stderr, "piston: request %d failed: %s\n", i, out[i].error), shown++;
    }
    char path[4096] = "";
    if (a->save_result) snprintf(path, sizeof path, "%s", a->save_result);
    else if (a->result_filename) snprintf(path, sizeof path, "%s/%s", a->result_dir ? a->result_dir : ".", a->result_filename);
    sum->json = serve_result_json(a, &L, &o, p, out, n, &sum->m, &before, &after);
    if (*path) {
        char *s = cJSON_Print(sum->json);
        FILE *rf = fopen(path, "w");
        if (!rf || !s || fputs(s, rf) < 0 || fclose(rf)) {
            cli_error("%s: cannot write the result: %s", path, strerror(errno));
            free(s);
            goto done;
        }
        free(s);
        if (f) fprintf(f, "Result saved to %s\n", path);
    }
    rc = 0;
done:
    serve_outcomes_free(out, n);
    serve_prompts_free(p, n ? n : a->ds.num_prompts);
    if (have_tm) text_model_free(&tm);
    return rc;
}

static const char usage[] =
    "usage: piston bench serve [--base-url http://HOST:PORT] [--endpoint /v1/completions] [--model NAME]\n"
    "         [--dataset-name random|jsonl|sharegpt] [--num-prompts N] [--request-rate R | --max-concurrency N] ...\n"
    "vLLM's serving benchmark against any OpenAI-compatible server (Piston, vLLM, llama.cpp's server, ...).\n"
    "TTFT: first chunk with text; ITL: gaps between chunks with text; E2EL: the whole response;\n"
    "TPOT: (E2EL - TTFT) / (output tokens - 1).\n";

int bench_serve(int argc, char **argv) {
    ServeArgs a;
    serve_args_default(&a);
    FlagGroup g[3];
    int ng = serve_flag_groups(&a, g);
    const char *pos[1];
    int n_pos = 0;
    int prc = flags_parse(g, ng, argc, argv, pos, 0, &n_pos, usage);
    if (prc) return prc < 0;
    char url[512], err[512];
    if (!a.base_url) snprintf(url, sizeof url, "http://%s:%d", a.host, a.port);
    else snprintf(url, sizeof url, "%s", a.base_url);
    HcTarget t;
    if (hc_target_parse(&t, url, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    const char *key = a.api_key ? a.api_key : getenv("OPENAI_API_KEY");
    if (key) snprintf(t.api_key, sizeof t.api_key, "%s", key);
    ServeSummary s;
    int rc = serve_bench(&a, &t, 1, &s);
    cJSON_Delete(s.json);
    return rc;
}
