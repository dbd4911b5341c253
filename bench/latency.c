/* `piston bench latency MODEL`: llama-bench's two tests on one sequence. pp512 evaluates a
 * 512-token prompt in one batch from an empty cache; tg128 generates 128 tokens one at a
 * time from an empty cache. Tokens are random (as llama-bench's are), one warm-up run is
 * discarded, then -r repetitions give mean ± sd in tokens/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "bench/bench.h"
#include "cli/cli.h"

static const char usage[] = "usage: piston bench latency MODEL [-p 512] [-n 128] [-r 5] [--json] [flags]\n"
                            "llama-bench's pp and tg tests on one sequence, from an empty cache each time.\n";

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

/* tokens/s of one run from an empty cache: pp evaluates ids[0, n) as one prompt (one step,
 * one sampled token); tg is a one-token prompt that generates n tokens, one step each */
static int run_once(Engine *e, const int32_t *ids, int n, int tg, double *tps, char *err, size_t errlen) {
    RequestParams p;
    request_params_default(&p);
    p.sampling.temperature = 0;
    p.ignore_eos = 1;
    p.max_tokens = tg ? n : 1;
    double t0 = engine_now();
    if (cli_engine_run(e, ids, tg ? 1 : n, &p, NULL, NULL, err, errlen)) return -1;
    *tps = n / (engine_now() - t0);
    return 0;
}

int bench_latency(int argc, char **argv) {
    CliArgs a;
    int prc = cli_parse(argc, argv, &a, usage, CLI_BENCH_LATENCY);
    if (prc) return prc < 0;
    int np = a.n_prompt_bench, ng = a.n_gen_bench;
    int need = (np > ng ? np : ng) + 1;
    if (a.engine.max_model_len <= 0) a.engine.max_model_len = need;
    /* pp runs as one batch, as llama-bench's does */
    if (a.engine.max_num_batched_tokens < np) a.engine.max_num_batched_tokens = np;
    /* every repetition from an empty cache: the same prompt must not hit the prefix cache */
    a.engine.enable_prefix_caching = 0;
    Engine *s;
    if (cli_engine_create(&a, &s)) return 1;
    char err[512];
    int32_t *ids = malloc((size_t)need * sizeof *ids);
    double *pp = malloc((size_t)a.reps * sizeof *pp), *tg = malloc((size_t)a.reps * sizeof *tg), w;
    uint64_t r = HASH_GOLDEN;
    for (int i = 0; i < need; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        ids[i] = (int32_t)(r % (uint64_t)engine_model_config(s)->vocab_size);
    }
    int rc = 1;
    if (np > 0 && run_once(s, ids, np, 0, &w, err, sizeof err)) goto out;
    for (int i = 0; np > 0 && i < a.reps; i++)
        if (run_once(s, ids, np, 0, &pp[i], err, sizeof err)) goto out;
    if (ng > 0 && run_once(s, ids, ng, 1, &w, err, sizeof err)) goto out;
    for (int i = 0; ng > 0 && i < a.reps; i++)
        if (run_once(s, ids, ng, 1, &tg[i], err, sizeof err)) goto out;
    Stat sp = np > 0 ? stats(pp, a.reps) : (Stat){0, 0}, sg = ng > 0 ? stats(tg, a.reps) : (Stat){0, 0};
    const Backend *be = engine_backend(s);
    const char *name = engine_model_config(s)->name;
    /* a tg step reads every weight and the KV of its context: on average (ng + 1) / 2 tokens */
    int64_t wb = engine_weight_bytes(s), kvt = engine_kv_bytes_per_token(s);
    double step_bytes = (double)wb + kvt * (ng + 1) / 2.0, tg_gbs = step_bytes * sg.mean / 1e9;
    if (a.json) {
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"precision\": \"%s\", "
               "\"reps\": %d, \"pp\": {\"n\": %d, \"mean\": %.3f, \"sd\": %.3f}, \"tg\": {\"n\": %d, \"mean\": %.3f, "
               "\"sd\": %.3f}, \"weight_bytes\": %lld, \"kv_bytes_per_token\": %lld, \"tg_gbs\": %.2f}\n",
               name, be->name, be->device_name, be->opt.n_threads, be->opt.precision == MATMUL_F32 ? "f32" : "q8",
               a.reps, np, sp.mean, sp.sd, ng, sg.mean, sg.sd, (long long)wb, (long long)kvt, tg_gbs);
    } else {
        printf("| model | backend | threads | test | t/s |\n| --- | --- | ---: | ---: | ---: |\n");
        if (np > 0)
            printf("| %s | %s | %d | pp%d | %.2f ± %.2f |\n", name, be->name, be->opt.n_threads, np, sp.mean, sp.sd);
        if (ng > 0)
            printf("| %s | %s | %d | tg%d | %.2f ± %.2f |\n", name, be->name, be->opt.n_threads, ng, sg.mean, sg.sd);
        if (ng > 0)
            printf("tg%d reads %.2f GB per token (weights %.2f GiB, KV %.1f KiB per token of context): %.1f GB/s\n", ng,
                   step_bytes / 1e9, wb / 1073741824.0, kvt / 1024.0, tg_gbs);
    }
    rc = 0;
out:
    if (rc) cli_error("%s", err);
    free(ids);
    free(pp);
    free(tg);
    engine_destroy(s);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "latency")) return bench_latency(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "throughput")) return bench_throughput(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "bandwidth")) return bench_bandwidth(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "serve")) return bench_serve(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "sweep")) return bench_sweep(argc - 1, argv + 1);
    cli_error("bench: unknown benchmark '%s' (benchmarks: latency, throughput, bandwidth, serve, sweep)",
              argc >= 1 ? argv[0] : "");
    return 1;
}
