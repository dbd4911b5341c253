/* Compile time of structured-output constraints: every schema of a corpus (default
 * tests/fixtures/json_schemas.json) compiled against the model's vocabulary, several times
 * (the median is reported), with all token tables made up front (what a request waits for
 * when nothing is deferred) and with the default up-front budget; one line per schema and a
 * summary. Built by `make bench-structured`:
 *   build/bench/structured_compile [MODEL.gguf] [CORPUS.json] [REPEATS] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "engine/constraint.h"
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
    printf("%d schemas: mean %.1f ms, worst %.1f ms, %d at or over 50 ms (all tables made up front)\n", count,
           total / (count ? count : 1), worst, over);
    cJSON_Delete(doc);
    free(js);
    constraint_vocab_destroy(v);
    tokenizer_destroy(t);
    gguf_close(f);
    return 0;
}
