/* vLLM's prompt_logprobs in OpenAI responses: a list with one entry per prompt token, null
 * for the first, else an object keyed by token id (as a string) holding that token's
 * {logprob, rank, decoded_token} and the same for the top-N alternatives at its position
 * (vLLM's shape: the prompt token is always there, the others when asked for). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/api_common.h"

static void add_entry(Job *j, cJSON *d, int32_t id, float logprob, int rank) {
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    if (cJSON_GetObjectItemCaseSensitive(d, key)) return;
    cJSON *e = cJSON_AddObjectToObject(d, key);
    cJSON_AddNumberToObject(e, "logprob", logprob);
    cJSON_AddNumberToObject(e, "rank", rank);
    char *t = api_token_text(j->srv, id);
    cJSON_AddStringToObject(e, "decoded_token", t ? t : "");
    free(t);
}

cJSON *api_oai_prompt_logprobs(Job *j, const SampleResult *plp, int n, int top) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; plp && i < n; i++) {
        if (isnan(plp[i].logprob)) {
            cJSON_AddItemToArray(a, cJSON_CreateNull());
            continue;
        }
        cJSON *d = cJSON_CreateObject();
        add_entry(j, d, plp[i].id, plp[i].logprob, plp[i].rank);
        for (int k = 0; k < plp[i].n_top && k < top; k++) add_entry(j, d, plp[i].top[k].id, plp[i].top[k].logprob, k + 1);
        cJSON_AddItemToArray(a, d);
    }
    return a;
}
