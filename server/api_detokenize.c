/* vLLM's /detokenize: {tokens} → {prompt}. The answer needs no engine and grows with the list
 * (a million ids take tens of milliseconds), so a long body's is made on libuv's worker pool
 * (api_body_pool.c); a short one's on the loop thread. */
#include <stdio.h>
#include <stdlib.h>

#include "server/api_common.h"

static char *fail(int *status, const char **param, int st, const char *p, char *err, size_t n, const char *msg,
                  int nv) {
    *status = st, *param = p;
    snprintf(err, n, msg, nv);
    return NULL;
}

char *api_detokenize_answer(const Server *s, const cJSON *body, int *status, const char **param, char *err, size_t n) {
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(body, "tokens"), *e;
    if (!s->model.tok)
        return fail(status, param, 400, NULL, err, n, "the model has no tokenizer (a dummy model without tokenizer.json)",
                    0);
    int n_vocab = tokenizer_n_vocab(s->model.tok);
    if (!cJSON_IsArray(tokens))
        return fail(status, param, 400, "tokens", err, n, "'tokens' must be a list of token ids", 0);
    size_t cap = 64, len = 0, step = detok_max_bytes(s->model.tok) + 8;
    char *text = malloc(cap);
    Detok d;
    detok_init(&d);
    d.first = 1; /* a whole text from its start */
    cJSON_ArrayForEach(e, tokens) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < n_vocab) ||
            e->valuedouble != (int)e->valuedouble) { /* the range first: (int)1e40 is undefined */
            free(text);
            return fail(status, param, 400, "tokens", err, n, "'tokens' must hold token ids in [0, %d)", n_vocab);
        }
        if (len + step + 1 > cap) {
            while (len + step + 1 > cap) cap *= 2;
            char *t = realloc(text, cap);
            if (!t) free(text);
            text = t;
        }
        if (!text) break;
        len += detok_push(s->model.tok, &d, (int32_t)e->valuedouble, text + len, cap - len - 1);
    }
    if (!text) return fail(status, param, 500, NULL, err, n, "out of memory", 0);
    len += detok_flush(&d, text + len, cap - len - 1 >= 4 ? cap - len - 1 : 0);
    text[len] = 0;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "prompt", text);
    free(text);
    char *json = out ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    if (!json) return fail(status, param, 500, NULL, err, n, "out of memory", 0);
    return json;
}
