/* `piston eval MODEL`: the machine interface the reference tests drive. One JSON request per
 * stdin line ({"prompt": str | "ids": [int], "n_predict", "top_n", "full_logits",
 * "parse_special", "add_special"}), one JSON response per stdout line: the prompt's ids,
 * the first step's top-N logits, n_predict greedy tokens (EOS ignored, so both engines make
 * the same number) and the top two (id, logit) at every step. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli.h"

static const char usage[] =
    "usage: piston eval MODEL [--precision q8|f32] [--threads N] [--max-model-len N] < requests.jsonl\n";

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

static cJSON *eval_one(Session *s, const cJSON *req, char *err, size_t errlen) {
    int n_predict = json_int(req, "n_predict", 64), top_n = json_int(req, "top_n", 10);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    const cJSON *ids_in = cJSON_GetObjectItemCaseSensitive(req, "ids");
    int32_t *ids = NULL;
    int n = 0;
    if (cJSON_IsString(prompt)) {
        n = session_tokenize(s, prompt->valuestring, json_bool(req, "add_special", 1),
                             json_bool(req, "parse_special", 1), &ids, err, errlen);
        if (n < 0) return NULL;
    } else if (cJSON_IsArray(ids_in)) {
        n = cJSON_GetArraySize(ids_in);
        ids = malloc(((size_t)n + 1) * sizeof *ids);
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ids_in) ids[i++] = cJSON_IsNumber(v) ? (int32_t)v->valuedouble : -1;
    } else {
        snprintf(err, errlen, "a request needs \"prompt\" (string) or \"ids\" (array)");
        return NULL;
    }
    session_reset(s);
    cJSON *res = NULL;
    if (n == 0) {
        snprintf(err, errlen, "the prompt is empty");
        goto out;
    }
    if (session_eval(s, ids, n, err, errlen)) goto out;
    res = cJSON_CreateObject();
    cJSON *pids = cJSON_AddArrayToObject(res, "prompt_ids");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(pids, cJSON_CreateNumber(ids[i]));
    int vocab = s->tm.model->cfg.vocab_size;
    cJSON_AddItemToObject(res, "top", top_pairs(s->logits, vocab, top_n));
    if (json_bool(req, "full_logits", 0)) {
        cJSON *l = cJSON_AddArrayToObject(res, "logits");
        for (int i = 0; i < vocab; i++) cJSON_AddItemToArray(l, cJSON_CreateNumber(s->logits[i]));
    }
    cJSON *toks = cJSON_AddArrayToObject(res, "tokens"), *steps = cJSON_AddArrayToObject(res, "steps");
    for (int i = 0; i < n_predict; i++) {
        cJSON *top2 = top_pairs(s->logits, vocab, 2);
        int32_t id = (int32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(top2, 0), 0)->valuedouble;
        cJSON_AddItemToArray(steps, top2);
        cJSON_AddItemToArray(toks, cJSON_CreateNumber(id));
        if (i + 1 < n_predict && session_eval(s, &id, 1, err, errlen)) {
            cJSON_Delete(res);
            res = NULL;
            goto out;
        }
    }
out:
    free(ids);
    return res;
}

int cmd_eval(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(argc, argv, &a, usage)) return 1;
    char err[512];
    Session *s;
    if (session_create(a.model_path, &a.session, &s, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
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
    session_destroy(s);
    return rc;
}
