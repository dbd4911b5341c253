/* `piston bench serve`: vLLM's `vllm bench serve` against any OpenAI-compatible server,
 * Piston or not. The flags are vLLM's; the figures are vLLM's, printed under its labels
 * (serve.h has the definitions); --save-result writes them with every request's timings.
 *
 *   piston bench serve --base-url http://127.0.0.1:8000 --dataset-name random \
 *       --random-input-len 256 --random-output-len 128 --num-prompts 100 --max-concurrency 8
 *
 * This file is the driver, one phase per step: the model's names, the length oracle, the
 * prompts, the ready check and warm-ups, the run, the figures, the result. The parts: the
 * flags (serve_flags.c), what is asked of the server besides the load (serve_probe.c), the
 * prompts (serve_dataset.c), the load (serve_load.c), the figures (serve_metrics.c) and the
 * result file (serve_result.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/serve.h"
#include "cli/cli.h"
#include "engine/text_model.h"

/* The model asked for (--model, else the server's first) into asked, and the name sent
 * (--served-model-name, else the same) into model. 0, or 1 after printing the error. */
static int model_names(const ServeArgs *a, const HcTarget *t, char *asked, char *model, size_t n) {
    char err[512];
    if (a->model) snprintf(model, n, "%s", a->model);
    else if (serve_first_model(t, a->ready_timeout_s, model, n, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    snprintf(asked, n, "%s", model);
    if (a->served_model_name) snprintf(model, n, "%s", a->served_model_name);
    return 0;
}

/* How lengths are counted: the server's /tokenize, else --tokenizer's model, else our
 * tokenizer on the model asked for when it is here (else a warning: estimates). *have_tm
 * says whether tm holds a loaded model. 0, or 1 after printing the error. */
static int oracle_open(const ServeArgs *a, const HcTarget *t, const char *model, const char *asked, TextModel *tm,
                       int *have_tm, ServeOracle *o) {
    char err[512];
    if (a->tokenizer) {
        CliArgs ca;
        memset(&ca, 0, sizeof ca);
        ca.model = a->tokenizer;
        ca.engine.dtype = DT_COUNT;
        if (cli_resolve_model(&ca)) return 1;
        if (text_model_load(tm, ca.model_path, NULL, 0, err, sizeof err)) {
            cli_error("--tokenizer %s: %s", a->tokenizer, err);
            return 1;
        }
        *have_tm = 1;
    }
    serve_oracle_init(o, t, model, *have_tm ? tm->tok : NULL);
    o->tok_name = a->tokenizer;
    if (!o->server && !*have_tm) { /* no /tokenize: our tokenizer on the same model, if it is here */
        if (serve_tokenizer_local(asked, tm, err, sizeof err) == 0) *have_tm = 1, o->tok = tm->tok, o->tok_name = asked;
        else
            fprintf(stderr,
                    "piston: warning: the server has no /tokenize and %s (pass --tokenizer MODEL): prompt "
                    "lengths are estimates, and output tokens without usage are streamed chunks\n",
                    err);
    }
    return 0;
}

static int is_json_object(const char *s) {
    cJSON *x = cJSON_Parse(s);
    int ok = cJSON_IsObject(x);
    cJSON_Delete(x);
    return ok;
}

/* --num-warmups copies of the first prompt, all at once; their outcomes are dropped */
static void warm_up(const ServeLoad *L, const ServePrompt *p, int n, FILE *f) {
    ServeLoad W = *L;
    W.request_rate = INFINITY, W.progress = 0;
    ServePrompt *wp = calloc((size_t)n, sizeof *wp);
    ServeOutcome *wo = calloc((size_t)n, sizeof *wo);
    double d;
    char err[512];
    for (int i = 0; wp && i < n; i++) wp[i] = p[0];
    if (f) fprintf(f, "Warming up with %d requests...\n", n);
    if (wp && wo) serve_load_run(&W, wp, n, wo, &d, err, sizeof err);
    free(wp);
    serve_outcomes_free(wo, n);
}

/* vLLM's lines before the run: the rate, the burstiness and the concurrency cap */
static void print_traffic(FILE *f, const ServeLoad *L) {
    if (isinf(L->request_rate)) fprintf(f, "Traffic request rate: inf\n");
    else fprintf(f, "Traffic request rate: %g\n", L->request_rate);
    fprintf(f, "Burstiness factor: %g%s (%s)\n", L->burstiness,
            L->burstiness == floor(L->burstiness) && !isinf(L->burstiness) ? ".0" : "",
            L->burstiness == 1.0   ? "Poisson process"
            : isinf(L->burstiness) ? "constant rate"
                                   : "Gamma distribution");
    if (L->max_concurrency > 0) fprintf(f, "Maximum request concurrency: %d\n", L->max_concurrency);
    else fprintf(f, "Maximum request concurrency: None\n");
    fflush(f);
}

int serve_bench(ServeArgs *a, const HcTarget *t, int print, ServeSummary *sum) {
    char err[512], model[512], asked[512]; /* asked: the model as --model or the server names it */
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
    if (model_names(a, t, asked, model, sizeof model)) return 1;
    ServeOracle o;
    if (oracle_open(a, t, model, asked, &tm, &have_tm, &o)) return 1;
    if (f)
        fprintf(f, "Model: %s; prompt and output lengths counted by %s%s%s\n", model, serve_oracle_name(&o),
                o.tok && !o.server ? " of " : "", o.tok && !o.server ? o.tok_name : "");
    ServeDataset ds = a->ds;
    if (strcmp(ds.name, "random") && ds.output_len == 128) ds.output_len = a->custom_output_len;
    if (serve_dataset_make(&ds, &o, &p, &n, err, sizeof err)) {
        cli_error("%s", err);
        goto done;
    }
    ServeLoad L = {t,
                   a->endpoint,
                   model,
                   a->request_rate,
                   a->burstiness,
                   a->max_concurrency,
                   a->ignore_eos,
                   a->temperature,
                   a->ds.seed,
                   a->timeout_s,
                   !a->no_progress && isatty(2),
                   a->extra_body};
    if (a->extra_body && !is_json_object(a->extra_body)) {
        cli_error("--extra-body expects a JSON object, got '%s'", a->extra_body);
        goto done;
    }
    if (a->ready_timeout_s > 0) {
        if (f) fprintf(f, "Starting initial single prompt test run...\n"), fflush(f);
        if (serve_ready_check(&L, p, a->ready_timeout_s, err, sizeof err)) {
            cli_error("%s", err);
            goto done;
        }
        if (f) fprintf(f, "Initial test run completed. Starting main benchmark run...\n");
    }
    if (a->num_warmups > 0) warm_up(&L, p, a->num_warmups, f);
    if (f) print_traffic(f, &L);
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
    sum->json = serve_result_json(a, &L, &o, p, out, n, &sum->m, &before, &after);
    if (serve_result_save(a, sum->json, f)) goto done;
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
