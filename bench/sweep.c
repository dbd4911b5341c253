/* `piston bench sweep MODEL`: which flag values to serve with. For each value of one or two
 * serve flags (given as comma lists: --max-num-seqs 8,32,128 --kv-cache-memory 1G,2G) it
 * starts `piston serve` with it, runs the same `bench serve` load at each request rate or
 * concurrency (--request-rate 1,4,inf or --max-concurrency 1,8,32), stops the server, and
 * prints one table. Given an objective (--slo-ttft-ms, --slo-tpot-ms on the P99s) it names
 * the setting with the highest output throughput that meets it and says why each other one
 * loses; results go to DIR/sweep.json and DIR/sweep.csv, with each server's log and each
 * point's bench serve result, and bench/plot_sweep.py draws DIR/sweep.png and .svg.
 *
 * Flags: the sweep's own (below), bench serve's load and dataset flags, and everything else
 * goes to `piston serve` (a value with commas in it is swept). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/sweep.h"
#include "cli/cli.h"

#define OFF(f) offsetof(SweepArgs, f)
static const FlagSpec sweep_flags[] = {
    {"--out", "--result-dir", FLAG_STR, OFF(out_dir), 0, 0, NULL, "DIR", "where the table, the results, the logs and the plots go", "bench-sweep-DATE"},
    {"--slo-ttft-ms", NULL, FLAG_DOUBLE, OFF(slo_ttft_ms), 0, 1e9, NULL, "MS", "objective: P99 TTFT at most MS", "none"},
    {"--slo-tpot-ms", NULL, FLAG_DOUBLE, OFF(slo_tpot_ms), 0, 1e9, NULL, "MS", "objective: P99 TPOT at most MS", "none"},
    {"--server-timeout", NULL, FLAG_DOUBLE, OFF(server_timeout_s), 1, 1e6, NULL, "S", "how long a server may take to start", "600"},
    {"--no-plot", NULL, FLAG_BOOL, OFF(no_plot), 0, 0, NULL, NULL, "skip bench/plot_sweep.py", "plots when matplotlib is there"},
    {"--piston", NULL, FLAG_STR, OFF(piston), 0, 0, NULL, "PATH", "the piston that serves", "this one"},
};
#undef OFF

static const char usage[] =
    "usage: piston bench sweep MODEL --FLAG V1,V2,... [--FLAG2 W1,W2,...] (--request-rate R1,R2,... | --max-concurrency C1,C2,...)\n"
    "         [--slo-ttft-ms MS] [--slo-tpot-ms MS] [--out DIR] [bench serve flags] [serve flags]\n"
    "Serves MODEL with each value of one or two serve flags (--max-num-seqs 8,32,128, --kv-cache-memory 1G,2G,4G,\n"
    "--gpu-memory-utilization 0.5,0.7,0.9, --max-num-batched-tokens 512,2048,8192, ...), runs the same bench serve\n"
    "load at each rate or concurrency, and names the setting with the highest throughput that meets the objective.\n";

static int parse_list(const char *flag, const char *v, double *out, int *n) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        char *end;
        double x = !strcmp(s, "inf") ? INFINITY : strtod(s, &end);
        if ((!isinf(x) && (*end || end == s)) || !(x > 0) || *n == MAX_VALUES) {
            cli_error("%s expects up to %d positive values separated by commas (inf allowed for rates), got '%s'", flag,
                      MAX_VALUES, v);
            return -1;
        }
        out[(*n)++] = x;
    }
    return *n ? 0 : -1;
}

/* Does bench serve (or the sweep) own this flag, and does it take a value? */
static const FlagSpec *owned(const FlagGroup *g, int ng, const char *name, size_t len) {
    for (int i = 0; i < ng; i++)
        for (int k = 0; k < g[i].n; k++) {
            const FlagSpec *s = &g[i].specs[k];
            if (strlen(s->name) == len && !strncmp(s->name, name, len)) return s;
            for (const char *a = s->alias; a && *a;) {
                size_t l = strcspn(a, "|");
                if (l == len && !strncmp(a, name, len)) return s;
                a += l + (a[l] == '|');
            }
        }
    return NULL;
}

/* Split argv: the sweep's and bench serve's flags to flags_parse, the load lists here,
 * every other flag to the servers (a comma list in its value is swept). */
static int split_args(int argc, char **argv, SweepArgs *a, ServeArgs *sa, const FlagGroup *g, int ng, char **mine,
                      int *n_mine) {
    *n_mine = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || !arg[1]) {
            if (a->model) return cli_error("one MODEL only; '%s' is a second (see --help)", arg), -1;
            a->model = arg;
            continue;
        }
        size_t len = strcspn(arg, "=");
        const char *eq = arg[len] ? arg + len + 1 : NULL;
        if ((len == 14 && !strncmp(arg, "--request-rate", 14)) || (len == 17 && !strncmp(arg, "--max-concurrency", 17))) {
            const char *v = eq ? eq : i + 1 < argc ? argv[++i] : NULL;
            if (!v) return cli_error("%.*s needs a list of values", (int)len, arg), -1;
            if (a->n_loads) return cli_error("give one load list: --request-rate or --max-concurrency, not both"), -1;
            a->load_is_conc = len == 17;
            if (parse_list(len == 17 ? "--max-concurrency" : "--request-rate", v, a->loads, &a->n_loads)) return -1;
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            mine[(*n_mine)++] = (char *)arg;
            continue;
        }
        const FlagSpec *s = owned(g, ng, arg, len);
        if (s) {
            mine[(*n_mine)++] = (char *)arg;
            if (s->meta && !eq && i + 1 < argc) mine[(*n_mine)++] = argv[++i];
            continue;
        }
        /* a serve flag: its value is the next word unless that is a flag */
        const char *v = eq;
        char *name = strndup(arg, len);
        if (!v && i + 1 < argc && argv[i + 1][0] != '-') v = argv[++i];
        if (v && strchr(v, ',') && strcmp(name, "--served-model-name")) {
            if (a->n_sw == 2) return cli_error("at most two flags are swept; %s is a third", name), free(name), -1;
            Swept *w = &a->sw[a->n_sw++];
            w->flag = name;
            char *buf = strdup(v);
            for (char *t = strtok(buf, ","); t && w->n < MAX_VALUES; t = strtok(NULL, ",")) w->values[w->n++] = strdup(t);
            free(buf);
            continue;
        }
        if (a->n_serve + 2 >= MAX_ARGS) return cli_error("too many serve flags"), free(name), -1;
        a->serve_argv[a->n_serve++] = name;
        if (v) a->serve_argv[a->n_serve++] = strdup(v);
    }
    (void)sa;
    return 0;
}

/* One bench serve run at load li against setting si's server: p's figures, or why it failed. */
static void run_point(const SweepArgs *a, const ServeArgs *sa, const SweepServer *s, int si, int li, int mns, Point *p) {
    ServeArgs run = *sa;
    if (a->load_is_conc) run.max_concurrency = (int)a->loads[li], run.request_rate = INFINITY;
    else run.request_rate = a->loads[li];
    run.no_progress = 1;
    char res[4200];
    snprintf(res, sizeof res, "%s/point-%d-%d.json", a->out_dir, si, li);
    run.save_result = res;
    run.result_filename = NULL;
    ServeSummary sum;
    if (serve_bench(&run, &s->t, 0, &sum) == 0) {
        p->has_run = 1;
        p->m = sum.m;
        p->kv_blocks = sum.server.kv_blocks, p->block_size = sum.server.block_size;
        p->preemptions = sum.server.preemptions;
        p->max_num_seqs = mns;
        int per_req = sa->ds.input_len + sa->ds.output_len;
        int64_t blocks_per = p->block_size > 0 ? (per_req + p->block_size - 1) / p->block_size : 0;
        int64_t fit = blocks_per > 0 && p->kv_blocks > 0 ? p->kv_blocks / blocks_per : -1;
        p->max_concurrency = (int)(mns > 0 && (fit < 0 || fit > mns) ? mns : fit);
        p->meets = sweep_meets(a, p);
        cJSON_Delete(sum.json);
        char ld[32];
        sweep_load_str(p->load, ld, sizeof ld);
        printf("    %s %s: %.1f output tok/s, P99 TTFT %.1f ms, P99 TPOT %.2f ms, %d failed\n",
               a->load_is_conc ? "concurrency" : "rate", ld, p->m.output_throughput, P99(p, ttft), P99(p, tpot), p->m.failed);
    } else {
        snprintf(p->start_error, sizeof p->start_error, "the benchmark could not run (log: %.400s)", s->log);
    }
}

/* bench/plot_sweep.py beside the binary's tree (bin/piston -> bench/), when it is there. */
static void plot(const char *self, const char *out_dir) {
    char script[4200], cmd[9000];
    snprintf(script, sizeof script, "%s", self);
    char *slash = strrchr(script, '/');
    if (slash) *slash = 0;
    slash = strrchr(script, '/');
    if (slash) *slash = 0;
    snprintf(script + strlen(script), sizeof script - strlen(script), "/bench/plot_sweep.py");
    if (access(script, R_OK) == 0) {
        snprintf(cmd, sizeof cmd, "python3 '%s' '%s/sweep.json'", script, out_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "piston: the plots were not drawn (python3 with matplotlib is needed): %s\n", cmd);
    }
}

int bench_sweep(int argc, char **argv) {
    SweepArgs a;
    memset(&a, 0, sizeof a);
    a.server_timeout_s = 600;
    ServeArgs sa;
    serve_args_default(&sa);
    sa.ds.num_prompts = 64;
    sa.ds.input_len = 256;
    sa.ds.output_len = 64;
    sa.ignore_eos = 1;
    sa.ready_timeout_s = 60;
    FlagGroup g[4];
    g[0] = FLAG_GROUP("sweep", sweep_flags, &a);
    int ng = 1 + serve_flag_groups(&sa, g + 1);
    char **mine = calloc((size_t)argc + 1, sizeof *mine);
    if (!mine) return 1;
    int n_mine = 0, rc = 1;
    if (split_args(argc, argv, &a, &sa, g, ng, mine, &n_mine)) goto out_free;
    const char *pos[1];
    int n_pos = 0;
    int prc = flags_parse(g, ng, n_mine, mine, pos, 0, &n_pos, usage);
    if (prc) {
        rc = prc < 0;
        goto out_free;
    }
    int has99 = 0;
    for (int i = 0; i < sa.n_pct; i++) has99 |= sa.pct[i] == 99;
    if (!has99 && sa.n_pct == SERVE_MAX_PCT) {
        cli_error("--metric-percentiles: the sweep needs 99 among at most %d", SERVE_MAX_PCT);
        goto out_free;
    }
    if (!has99) sa.pct[sa.n_pct++] = 99; /* the table, the objective and the files are on P99 */
    if (!a.model) {
        cli_error("no model given (see --help)");
        goto out_free;
    }
    if (a.n_sw == 0) {
        cli_error("nothing to sweep: give a serve flag a comma list, like --max-num-seqs 8,32,128");
        goto out_free;
    }
    if (a.n_loads == 0) {
        cli_error("no load: --request-rate R1,R2,... or --max-concurrency C1,C2,...");
        goto out_free;
    }
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = 0;
    if (!a.piston) a.piston = self;
    char dir[512];
    if (!a.out_dir) {
        time_t now = time(NULL);
        strftime(dir, sizeof dir, "bench-sweep-%Y%m%d-%H%M%S", localtime(&now));
        a.out_dir = dir;
    }
    if (mkdir(a.out_dir, 0755) && errno != EEXIST) {
        cli_error("%s: %s", a.out_dir, strerror(errno));
        goto out_free;
    }
    int n_set = a.sw[0].n * (a.n_sw > 1 ? a.sw[1].n : 1);
    int np = n_set * a.n_loads;
    Point *pts = calloc((size_t)np, sizeof *pts);
    if (!pts) goto out_free;
    sweep_signals_install();
    printf("sweep: %s, %d setting%s x %d %s, %d prompts of %d+%d tokens each; results in %s\n", a.model, n_set,
           n_set > 1 ? "s" : "", a.n_loads, a.load_is_conc ? "concurrencies" : "request rates", sa.ds.num_prompts,
           sa.ds.input_len, sa.ds.output_len, a.out_dir);
    for (int si = 0, pi = 0; si < n_set && !sweep_interrupted(); si++) {
        int vi[2] = {si % a.sw[0].n, a.n_sw > 1 ? si / a.sw[0].n : 0};
        char l[256], err[512];
        sweep_label(&a, vi, l, sizeof l);
        printf("[%d/%d] %s: starting the server\n", si + 1, n_set, l);
        fflush(stdout);
        SweepServer s;
        int started = sweep_server_start(&a, vi, si, &s, err, sizeof err) == 0;
        int mns = started ? sweep_log_int(s.log, " max_num_seqs=") : -1;
        for (int li = 0; li < a.n_loads; li++, pi++) {
            Point *p = &pts[pi];
            p->vi[0] = vi[0], p->vi[1] = vi[1], p->load = a.loads[li];
            if (!started) {
                snprintf(p->start_error, sizeof p->start_error, "%s", err);
                continue;
            }
            run_point(&a, &sa, &s, si, li, mns, p);
            fflush(stdout);
        }
        sweep_server_stop(&s);
        if (!started) printf("    did not start: %s\n", err);
    }
    sweep_signals_restore();
    sweep_print_table(&a, pts, np);
    sweep_report(&a, &sa, pts, np, n_set);
    if (!a.no_plot && !sweep_interrupted()) plot(self, a.out_dir);
    rc = sweep_interrupted() ? 130 : 0;
    free(pts);
out_free:
    for (int k = 0; k < a.n_sw; k++) {
        free((void *)a.sw[k].flag);
        for (int i = 0; i < a.sw[k].n; i++) free(a.sw[k].values[i]);
    }
    for (int i = 0; i < a.n_serve; i++) free((void *)a.serve_argv[i]);
    free(mine);
    return rc;
}
