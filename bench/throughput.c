/* `piston bench throughput MODEL`: offline throughput like `vllm bench throughput`. All
 * prompts are queued at once into an in-process engine (every engine flag applies, e.g.
 * --max-num-seqs), EOS is ignored so that every request makes exactly its output length,
 * and the wall time from the first step to the last gives requests/s, total tokens/s and
 * output tokens/s. Prompts are random token ids (--input-len) or a JSONL dataset of
 * {"prompt": ...} lines (--dataset). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "bench/bench.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: piston bench throughput MODEL [--num-prompts 32] [--input-len 128] [--output-len 128]\n"
    "         [--dataset FILE.jsonl] [--seed S] [--json] [engine flags: --max-num-seqs N --max-num-batched-tokens N\n"
    "          --max-model-len N --block-size N --kv-cache-memory BYTES --threads N ...]\n";

typedef struct Prompts {
    int32_t **ids;
    int *len;
    int n;
} Prompts;

static int load_dataset(const char *path, const Tokenizer *tok, int limit, Prompts *p) {
    FILE *f = fopen(path, "r");
    if (!f) return cli_error("%s: cannot open the dataset", path), -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (p->n < limit && (n = getline(&line, &cap, f)) > 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (!cJSON_IsString(t)) {
            cJSON_Delete(o);
            if (n > 1) { cli_error("%s: line %d has no \"prompt\" string", path, p->n + 1); rc = -1; break; }
            continue;
        }
        int32_t *ids = NULL;
        int k = tokenizer_encode_alloc(tok, t->valuestring, strlen(t->valuestring), 1, 0, &ids);
        cJSON_Delete(o);
        if (k <= 0) { free(ids); continue; }
        p->ids[p->n] = ids, p->len[p->n++] = k;
    }
    free(line);
    fclose(f);
    if (!rc && p->n == 0) cli_error("%s: no prompts", path), rc = -1;
    return rc;
}

typedef struct ThroughputArgs {
    int num_prompts, input_len, output_len, json;
    uint64_t seed;
    const char *dataset;
} ThroughputArgs;

#define OFF(f) offsetof(ThroughputArgs, f)
static const FlagSpec throughput_flags[] = {
    {"--num-prompts", NULL, FLAG_INT, OFF(num_prompts), 1, 1 << 24, NULL, "N", "requests, all queued at once", "32"},
    {"--input-len", NULL, FLAG_INT, OFF(input_len), 1, 1 << 24, NULL, "N", "random prompt tokens each", "128"},
    {"--output-len", NULL, FLAG_INT, OFF(output_len), 1, 1 << 24, NULL, "N", "output tokens each (EOS ignored)", "128"},
    {"--dataset", NULL, FLAG_STR, OFF(dataset), 0, 0, NULL, "FILE.jsonl", "prompts from {\"prompt\": ...} lines", NULL},
    {"--seed", NULL, FLAG_U64, OFF(seed), 0, 0, NULL, "S", "the random prompts' (and dummy weights') seed", "0"},
    {"--json", NULL, FLAG_BOOL, OFF(json), 0, 0, NULL, NULL, "one JSON line", "off"},
};
#undef OFF

int bench_throughput(int argc, char **argv) {
    EngineArgs ea;
    engine_args_default(&ea);
    ea.log_stats = 0;
    ThroughputArgs t = {32, 128, 128, 0, 0, NULL};
    FlagGroup g[3] = {FLAG_GROUP("bench throughput", throughput_flags, &t), cli_engine_flags(&ea), cli_vllm_flags()};
    const char *pos[1];
    int n_pos = 0, rc0 = flags_parse(g, 3, argc, argv, pos, 1, &n_pos, usage);
    if (rc0) return rc0 < 0;
    if (!n_pos) return cli_error("no model given (see --help)"), 1;
    const char *model = pos[0], *dataset = t.dataset;
    int num_prompts = t.num_prompts, input_len = t.input_len, output_len = t.output_len, json = t.json;
    uint64_t seed = t.seed;
    CliArgs a = {.model = model};
    a.engine.load_dummy = ea.load_dummy, a.engine.dtype = ea.dtype;
    ea.dummy_seed = seed;
    if (cli_resolve_model(&a)) return 1;
    ea.model_path = a.model_path;
    char err[512];
    Engine *e;
    if (engine_create(&ea, &e, err, sizeof err)) return cli_error("%s", err), 1;
    Prompts p = {calloc((size_t)num_prompts, sizeof(int32_t *)), calloc((size_t)num_prompts, sizeof(int)), 0};
    int rc = 1;
    if (dataset) {
        if (load_dataset(dataset, engine_tokenizer(e), num_prompts, &p)) goto out;
    } else {
        uint64_t r = seed * HASH_GOLDEN + 1;
        int V = engine_model_config(e)->vocab_size;
        for (; p.n < num_prompts; p.n++) {
            p.ids[p.n] = malloc((size_t)input_len * sizeof(int32_t));
            for (int j = 0; j < input_len; j++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                p.ids[p.n][j] = (int32_t)(r % (uint64_t)V);
            }
            p.len[p.n] = input_len;
        }
    }
    int64_t prompt_tokens = 0, output_tokens = 0;
    RequestParams rp;
    request_params_default(&rp);
    rp.sampling.temperature = 0;
    rp.ignore_eos = 1;
    rp.max_tokens = output_len;
    for (int i = 0; i < p.n; i++) {
        int64_t id;
        if (engine_add_request(e, p.ids[i], p.len[i], &rp, &id, err, sizeof err)) {
            cli_error("prompt %d: %s", i, err);
            goto out;
        }
        prompt_tokens += p.len[i];
    }
    double t0 = engine_now();
    while (engine_has_unfinished(e)) {
        const EngineOutput *o;
        int n;
        if (engine_step(e, &o, &n)) { cli_error("engine step failed"); goto out; }
        for (int i = 0; i < n; i++) output_tokens += o[i].n_new;
    }
    double dt = engine_now() - t0;
    EngineStats st;
    engine_get_stats(e, &st);
    if (json)
        printf("{\"elapsed_s\": %.3f, \"num_requests\": %d, \"prompt_tokens\": %lld, \"output_tokens\": %lld, "
               "\"requests_per_s\": %.4f, \"tokens_per_s\": %.2f, \"output_tokens_per_s\": %.2f, "
               "\"max_num_seqs\": %d, \"preemptions\": %lld}\n",
               dt, p.n, (long long)prompt_tokens, (long long)output_tokens, p.n / dt,
               (prompt_tokens + output_tokens) / dt, output_tokens / dt, ea.max_num_seqs,
               (long long)st.num_preemptions);
    else
        printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n"
               "Total num prompt tokens:  %lld\nTotal num output tokens:  %lld\nElapsed: %.2f s, preemptions: %lld\n",
               p.n / dt, (prompt_tokens + output_tokens) / dt, output_tokens / dt, (long long)prompt_tokens,
               (long long)output_tokens, dt, (long long)st.num_preemptions);
    rc = 0;
out:
    for (int i = 0; i < p.n; i++) free(p.ids[i]);
    free(p.ids);
    free(p.len);
    engine_destroy(e);
    return rc;
}
