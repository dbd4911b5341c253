/* `piston bench latency MODEL`: llama-bench's two tests on one sequence. pp512 evaluates a
 * 512-token prompt in one batch from an empty cache; tg128 generates 128 tokens one at a
 * time from an empty cache. Tokens are random (as llama-bench's are), one warm-up run is
 * discarded, then -r repetitions give mean ± sd in tokens/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli.h"

static const char usage[] =
    "usage: piston bench latency MODEL [-p 512] [-n 128] [-r 5] [--threads N] [--precision q8|f32] [--json]\n";

typedef struct Stat {
    double mean, sd;
} Stat;

static Stat stats(const double *x, int n) {
    Stat s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += x[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (x[i] - s.mean) * (x[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

/* tokens/s of one run: pp evaluates ids[0, n) at once; tg evaluates them one by one */
static int run_once(Session *s, const int32_t *ids, int n, int one_by_one, double *tps, char *err, size_t errlen) {
    session_reset(s);
    double t0 = engine_now();
    if (!one_by_one) {
        if (session_eval(s, ids, n, err, errlen)) return -1;
    } else {
        for (int i = 0; i < n; i++)
            if (session_eval(s, ids + i, 1, err, errlen)) return -1;
    }
    *tps = n / (engine_now() - t0);
    return 0;
}

static int bench_latency(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(argc, argv, &a, usage)) return 1;
    if (a.prompt) { /* llama-bench spells the prompt length -p N */
        char *end;
        long v = strtol(a.prompt, &end, 10);
        if (*end || v <= 0 || v > 1 << 20) {
            cli_error("bench latency: -p expects a prompt length in tokens, got '%s'", a.prompt);
            return 1;
        }
        a.n_prompt_bench = (int)v;
    }
    int np = a.n_prompt_bench, ng = a.n_gen_bench;
    int need = np > ng ? np : ng;
    if (a.session.max_model_len <= 0) a.session.max_model_len = need;
    if (a.session.max_batch < np) a.session.max_batch = np; /* pp runs as one batch, as llama-bench's does */
    char err[512];
    Session *s;
    if (session_create(a.model_path, &a.session, &s, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    int32_t *ids = malloc((size_t)need * sizeof *ids);
    double *pp = malloc((size_t)a.reps * sizeof *pp), *tg = malloc((size_t)a.reps * sizeof *tg), w;
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < need; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        ids[i] = (int32_t)(r % (uint64_t)s->tm.model->cfg.vocab_size);
    }
    int rc = 1;
    if (np > 0 && run_once(s, ids, np, 0, &w, err, sizeof err)) goto out;
    for (int i = 0; np > 0 && i < a.reps; i++)
        if (run_once(s, ids, np, 0, &pp[i], err, sizeof err)) goto out;
    if (ng > 0 && run_once(s, ids, ng, 1, &w, err, sizeof err)) goto out;
    for (int i = 0; ng > 0 && i < a.reps; i++)
        if (run_once(s, ids, ng, 1, &tg[i], err, sizeof err)) goto out;
    Stat sp = np > 0 ? stats(pp, a.reps) : (Stat){0, 0}, sg = ng > 0 ? stats(tg, a.reps) : (Stat){0, 0};
    if (a.json) {
        printf("{\"model\": \"%s\", \"threads\": %d, \"precision\": \"%s\", \"reps\": %d, "
               "\"pp\": {\"n\": %d, \"mean\": %.3f, \"sd\": %.3f}, \"tg\": {\"n\": %d, \"mean\": %.3f, \"sd\": %.3f}}\n",
               s->tm.model->cfg.name, s->be->n_threads, a.session.precision == MATMUL_F32 ? "f32" : "q8", a.reps, np,
               sp.mean, sp.sd, ng, sg.mean, sg.sd);
    } else {
        printf("| model | backend | threads | test | t/s |\n| --- | --- | ---: | ---: | ---: |\n");
        if (np > 0)
            printf("| %s | %s | %d | pp%d | %.2f ± %.2f |\n", s->tm.model->cfg.name, s->be->name, s->be->n_threads, np,
                   sp.mean, sp.sd);
        if (ng > 0)
            printf("| %s | %s | %d | tg%d | %.2f ± %.2f |\n", s->tm.model->cfg.name, s->be->name, s->be->n_threads, ng,
                   sg.mean, sg.sd);
    }
    rc = 0;
out:
    if (rc) cli_error("%s", err);
    free(ids);
    free(pp);
    free(tg);
    session_destroy(s);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "latency")) return bench_latency(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "throughput")) return bench_throughput(argc - 1, argv + 1);
    cli_error("bench: unknown benchmark '%s' (benchmarks: latency, throughput)", argc >= 1 ? argv[0] : "");
    return 1;
}
