/* What structured outputs cost, measured without the model's forward pass (so that a busy
 * shared machine does not blur it):
 *   compile  every schema of a corpus (default tests/fixtures/json_schemas.json) compiled
 *            against the model's vocabulary, several times (median), with all token tables
 *            made up front and with the default up-front budget;
 *   decode   per token of a constrained text (400-token walks, the token drawn at
 *            temperature 1 from random logits under the mask): the mask, the sampler's extra
 *            work for it (against the same draw without a mask) and the matcher's step, for
 *            a schema, a regex, a GBNF grammar, any JSON object and a tool call.
 * Built by `make bench-structured`:
 *   build/bench/structured_cost [MODEL.gguf] [CORPUS.json] [REPEATS] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "engine/constraint.h"
#include "engine/sampler.h"
#include "engine/tool_call.h"
#include "models/gguf.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_ms(const ConstraintVocab *v, const ConstraintSpec *s, double eager, int reps, ConstraintInfo *info) {
    double t[64];
    char err[512];
    for (int r = 0; r < reps; r++) {
        ConstraintLimits lim;
        constraint_limits_default(&lim);
        lim.eager_seconds = eager;
        Constraint *c = NULL;
        double t0 = base_now();
        if (constraint_compile(v, s, &lim, &c, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        t[r] = (base_now() - t0) * 1e3;
        if (info) constraint_info(c, info);
        constraint_unref(c);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    return t[reps / 2];
}

/* Per token: mask, extra sampling, accept (ms), over a walk of up to 400 tokens. */
static void decode_cost(const ConstraintVocab *v, const char *name, ConstraintKind kind, const char *text) {
    char err[512];
    ConstraintSpec s = {kind, text, strlen(text)};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    Constraint *c = NULL;
    if (constraint_compile(v, &s, &lim, &c, err, sizeof err)) {
        printf("%-22s %s\n", name, err);
        return;
    }
    int V = v->n_vocab;
    float *logits = malloc((size_t)V * sizeof *logits);
    unsigned long long rng = 12345;
    for (int i = 0; i < V; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        logits[i] = (float)(rng >> 40) / 1e6f;
    }
    SamplingParams sp;
    sampling_params_default(&sp);
    sp.has_seed = 1, sp.seed = 7;
    Sampler a, b;
    sampler_init(&a, &sp, V), sampler_init(&b, &sp, V);
    ConstraintMatcher *m;
    constraint_matcher_create(c, v, &m);
    double tm = 0, ts = 0, tu = 0, ta = 0;
    int n = 0;
    for (; n < 400; n++) {
        double t0 = base_now();
        const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
        double t1 = base_now();
        SampleMods mods = {mask, NULL, 0};
        int32_t id = mask ? sampler_sample_mods(&a, logits, &mods, NULL, 0, NULL, 0, NULL) : -1;
        double t2 = base_now();
        sampler_sample(&b, logits, NULL, 0, NULL, 0, NULL);
        double t3 = base_now();
        int bad = id < 0 || constraint_matcher_accept(m, id, err, sizeof err);
        double t4 = base_now();
        if (bad) break;
        tm += t1 - t0, ts += t2 - t1, tu += t3 - t2, ta += t4 - t3;
        if (!constraint_matcher_can_continue(m)) {
            n++;
            break;
        }
    }
    ConstraintInfo in;
    constraint_info(c, &in);
    printf("%-22s %6d %9.3f %9.3f %9.3f %9.3f %6d\n", name, n, tm * 1e3 / n, (ts - tu) * 1e3 / n, ta * 1e3 / n,
           (tm + ts - tu + ta) * 1e3 / n, in.lazy_tables);
    constraint_matcher_destroy(m);
    sampler_free(&a), sampler_free(&b);
    free(logits);
    constraint_unref(c);
}

int main(int argc, char **argv) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "");
    const char *model = argc > 1 ? argv[1] : path, *corpus = argc > 2 ? argv[2] : "tests/fixtures/json_schemas.json";
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > 64) reps = 5;
    GgufFile *f;
    Tokenizer *t;
    ConstraintVocab *v;
    if (gguf_open(model, &f, err, sizeof err) || tokenizer_create(f, &t, err, sizeof err) ||
        constraint_vocab_create(t, &v, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", model, err);
        return 1;
    }
    FILE *fp = fopen(corpus, "rb");
    if (!fp) return fprintf(stderr, "cannot read %s\n", corpus), 1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *js = malloc((size_t)n + 1);
    if (!js || fread(js, 1, (size_t)n, fp) != (size_t)n) return 1;
    js[n] = 0;
    fclose(fp);
    cJSON *doc = cJSON_Parse(js);
    printf("vocabulary %d tokens (trie %d nodes); %d runs each, median\n", v->n_vocab, v->n_nodes, reps);
    printf("%-22s %10s %10s %8s %8s\n", "schema", "all (ms)", "default", "states", "tables");
    double worst = 0, total = 0;
    int count = 0, over = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "schemas")) {
        char *s = cJSON_PrintUnformatted(e);
        ConstraintSpec spec = {CONSTRAINT_JSON_SCHEMA, s, strlen(s)};
        ConstraintInfo info;
        double all = median_ms(v, &spec, 1e9, reps, &info), def = median_ms(v, &spec, 0.2, reps, NULL);
        printf("%-22s %10.1f %10.1f %8d %8d\n", e->string, all, def, info.n_states, info.eager_tables);
        worst = all > worst ? all : worst, total += all, count++, over += all >= 50;
        free(s);
    }
    ConstraintSpec any = {CONSTRAINT_JSON_OBJECT, "", 0};
    printf("%-22s %10.1f\n", "(json_object)", median_ms(v, &any, 1e9, reps, NULL));
    printf("%d schemas: mean %.1f ms, worst %.1f ms, %d at or over 50 ms (all tables made up front)\n\n", count,
           total / (count ? count : 1), worst, over);
    printf("per token, ms (walks of up to 400 tokens; the sampler without a mask costs what an unconstrained\n"
           "token costs on top of the forward pass, and is not counted)\n");
    printf("%-22s %6s %9s %9s %9s %9s %6s\n", "constraint", "tokens", "mask", "sampling", "accept", "total", "lazy");
    char *recipe = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "schemas"), "recipe"));
    char *math = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "schemas"), "math_reasoning"));
    decode_cost(v, "json_schema (recipe)", CONSTRAINT_JSON_SCHEMA, recipe);
    decode_cost(v, "json_schema (math)", CONSTRAINT_JSON_SCHEMA, math);
    decode_cost(v, "json_object", CONSTRAINT_JSON_OBJECT, "");
    decode_cost(v, "regex", CONSTRAINT_REGEX,
                "(The (weather|sky|wind|rain) in [A-Z][a-z]{2,10} (is|was|will be) [a-z]{3,12}\\. ){40,60}");
    decode_cost(v, "grammar (GBNF)", CONSTRAINT_GRAMMAR,
                "root ::= \"[\" item (\",\" ws item){40,60} \"]\"\nitem ::= \"{\\\"city\\\": \\\"\" [A-Z] [a-z]{2,12} "
                "\"\\\", \\\"temp\\\": \" [0-9]{1,2} \"}\"\nws ::= \" \"?\n");
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
                        "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":30}},\"required\":[\"city\"]}}}]";
    cJSON *tj = cJSON_Parse(tools);
    char *spec = NULL;
    if (!tool_spec_build(TOOL_FORMAT_HERMES, TOOL_MODE_AUTO, 1, tj, NULL, &spec, err, sizeof err))
        decode_cost(v, "tools (auto)", CONSTRAINT_TOOLS, spec);
    free(spec), free(recipe), free(math);
    cJSON_Delete(tj);
    cJSON_Delete(doc);
    free(js);
    constraint_vocab_destroy(v);
    tokenizer_destroy(t);
    gguf_close(f);
    return 0;
}
