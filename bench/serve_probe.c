/* What `bench serve` asks the server besides the load: the model's name when --model is
 * unset (/v1/models, waiting for a server still starting), its counters before and after the
 * run (/metrics, vLLM's names), and whether it answers a real request (the ready check). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "bench/serve.h"

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

int serve_first_model(const HcTarget *t, int wait_s, char *out, size_t n, char *err, size_t errlen) {
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

int serve_ready_check(const ServeLoad *L0, const ServePrompt *p, int timeout_s, char *err, size_t errlen) {
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
