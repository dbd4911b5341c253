/* `piston eval MODEL`: the machine interface the reference tests drive. One JSON request per
 * stdin line ({"prompt": str | "ids": [int], "n_predict", "top_n", "full_logits",
 * "parse_special", "add_special"}), one JSON response per stdout line: the prompt's ids,
 * the first step's top-N logits, n_predict greedy tokens (EOS ignored, so both engines make
 * the same number) and the top two (id, logit) at every step. Each request is one greedy
 * request on the Engine that reports its raw logits (RequestParams.return_logits). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "usage: piston eval MODEL [flags] < requests.jsonl\n"
                            "JSON lines in ({\"prompt\"|\"ids\", \"n_predict\", \"top_n\", \"full_logits\"}), "
                            "logits and greedy tokens out (the reference tests' interface).\n";

static int json_int(const cJSON *o, const char *k, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : dflt;
}

static int json_bool(const cJSON *o, const char *k, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* The k best (id, logit) pairs of x, best first (ties: lower id first). */
static cJSON *top_pairs(const float *x, int n, int k) {
    cJSON *arr = cJSON_CreateArray();
    int32_t best[64];
    if (k > 64) k = 64;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m == k && !(x[i] > x[best[m - 1]])) continue;
        int j = m < k ? m++ : m - 1;
        while (j > 0 && x[i] > x[best[j - 1]]) best[j] = best[j - 1], j--;
        best[j] = i;
    }
    for (int i = 0; i < m; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateNumber(best[i]));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(x[best[i]]));
        cJSON_AddItemToArray(arr, p);
    }
    return arr;
}

typedef struct EvalRun {
    cJSON *res, *toks, *steps;
    int vocab, top_n, full_logits;
} EvalRun;

static int on_output(void *ctx, const EngineOutput *o) {
    EvalRun *r = ctx;
    if (o->n_new == 0 || !o->logits) return 0;
    if (o->n_output_tokens == 1) { /* the prefill's logits */
        cJSON_AddItemToObject(r->res, "top", top_pairs(o->logits, r->vocab, r->top_n));
        if (r->full_logits) {
            cJSON *l = cJSON_AddArrayToObject(r->res, "logits");
            for (int i = 0; i < r->vocab; i++) cJSON_AddItemToArray(l, cJSON_CreateNumber(o->logits[i]));
        }
    }
    cJSON_AddItemToArray(r->steps, top_pairs(o->logits, r->vocab, 2));
    cJSON_AddItemToArray(r->toks, cJSON_CreateNumber(o->new_tokens[0]));
    return 0;
}

static cJSON *eval_one(Engine *e, const cJSON *req, char *err, size_t errlen) {
    int n_predict = json_int(req, "n_predict", 64), top_n = json_int(req, "top_n", 10);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    const cJSON *ids_in = cJSON_GetObjectItemCaseSensitive(req, "ids");
    int32_t *ids = NULL;
    int n = 0;
    int vocab = engine_model_config(e)->vocab_size;
    if (cJSON_IsString(prompt) && !engine_tokenizer(e)) {
        return snprintf(err, errlen, "the model has no tokenizer (a dummy model without tokenizer.json): send \"ids\""),
               NULL;
    } else if (cJSON_IsString(prompt)) {
        n = tokenizer_encode_alloc(engine_tokenizer(e), prompt->valuestring, strlen(prompt->valuestring),
                                   json_bool(req, "add_special", 1), json_bool(req, "parse_special", 1), &ids);
        if (n < 0) return snprintf(err, errlen, "could not tokenize the prompt"), NULL;
    } else if (cJSON_IsArray(ids_in)) {
        n = cJSON_GetArraySize(ids_in);
        ids = malloc(((size_t)n + 1) * sizeof *ids);
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ids_in) {
            if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < vocab)) { /* range first: a cast */
                free(ids);
                return snprintf(err, errlen, "\"ids\" must be token ids in [0, %d)", vocab), NULL;
            }
            ids[i++] = (int32_t)v->valuedouble;
        }
    } else {
        snprintf(err, errlen, "a request needs \"prompt\" (string) or \"ids\" (array)");
        return NULL;
    }
    EvalRun r = {cJSON_CreateObject(), NULL, NULL, vocab, top_n, json_bool(req, "full_logits", 0)};
    cJSON *pids = cJSON_AddArrayToObject(r.res, "prompt_ids");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(pids, cJSON_CreateNumber(ids[i]));
    r.toks = cJSON_CreateArray();
    r.steps = cJSON_CreateArray();
    RequestParams p;
    request_params_default(&p);
    p.sampling.temperature = 0; /* greedy, as the reference decodes */
    p.ignore_eos = 1;
    p.max_tokens = n_predict > 0 ? n_predict : 1;
    p.return_logits = 1;
    int rc = cli_engine_run(e, ids, n, &p, on_output, &r, err, errlen);
    free(ids);
    if (rc || n_predict < 0) {
        cJSON_Delete(r.toks), cJSON_Delete(r.steps), cJSON_Delete(r.res);
        if (!rc) snprintf(err, errlen, "n_predict must be >= 0");
        return NULL;
    }
    if (n_predict == 0) { /* only the prompt's logits were asked for */
        cJSON_Delete(r.toks), cJSON_Delete(r.steps);
        r.toks = cJSON_CreateArray(), r.steps = cJSON_CreateArray();
    }
    cJSON_AddItemToObject(r.res, "tokens", r.toks);
    cJSON_AddItemToObject(r.res, "steps", r.steps);
    return r.res;
}

int cmd_eval(int argc, char **argv) {
    CliArgs a;
    int prc = cli_parse(argc, argv, &a, usage, CLI_EVAL);
    if (prc) return prc < 0;
    char err[512];
    Engine *s;
    if (cli_engine_create(&a, &s)) return 1;
    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (len <= 1) continue;
        cJSON *req = cJSON_ParseWithLength(line, (size_t)len);
        if (!req || !cJSON_IsObject(req)) {
            cli_error("request is not a JSON object: %.60s", line);
            cJSON_Delete(req);
            rc = 1;
            break;
        }
        cJSON *res = eval_one(s, req, err, sizeof err);
        cJSON_Delete(req);
        if (!res) {
            cli_error("%s", err);
            rc = 1;
            break;
        }
        char *txt = cJSON_PrintUnformatted(res);
        puts(txt);
        fflush(stdout);
        free(txt);
        cJSON_Delete(res);
    }
    free(line);
    engine_destroy(s);
    return rc;
}
