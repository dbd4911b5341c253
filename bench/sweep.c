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
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/bench.h"
#include "bench/serve.h"
#include "cli/cli.h"

#define MAX_VALUES 16
#define MAX_ARGS 256

typedef struct Swept {
    const char *flag;
    char *values[MAX_VALUES];
    int n;
} Swept;

typedef struct SweepArgs {
    const char *out_dir, *model, *piston;
    double slo_ttft_ms, slo_tpot_ms, server_timeout_s;
    int no_plot;
    const char *serve_argv[MAX_ARGS]; /* the flags for every server (owned copies) */
    int n_serve;
    Swept sw[2];
    int n_sw;
    int load_is_conc;                 /* the load list is --max-concurrency (else --request-rate) */
    double loads[MAX_VALUES];
    int n_loads;
} SweepArgs;

/* One point: a setting (an index into each swept list) at one load. */
typedef struct Point {
    int vi[2];
    double load;
    char start_error[512];            /* the server did not start: why */
    int has_run;
    ServeMetrics m;
    int64_t kv_blocks, block_size, preemptions;
    int max_num_seqs, max_concurrency;
    int meets;                        /* zero failures and the SLOs met */
} Point;

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

typedef struct Server {
    pid_t pid;
    char url[128];
    char log[384];
    HcTarget t;
} Server;

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b) b[fread(b, 1, (size_t)n, f)] = 0;
    fclose(f);
    return b;
}

/* The last "piston: ..." or "error" line of a log: why a server stopped. */
static void last_error(const char *log, char *out, size_t n) {
    char *t = read_file(log);
    snprintf(out, n, "exited during start (log: %.400s)", log);
    if (!t) return;
    for (char *line = t; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (strstr(line, "piston:") || strstr(line, "ERROR") || strstr(line, "error")) {
            /* without the log's time and level: "2026-12-01T22:45:23.178Z ERROR  the KV cache ..." */
            const char *m = strstr(line, "Z ERROR");
            if (m && m - line < 32) m += 7;
            else m = line;
            while (*m == ' ') m++;
            snprintf(out, n, "%s", m);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(t);
}

static void server_stop(Server *s) {
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static volatile sig_atomic_t interrupted;
static pid_t running_server;
static void on_signal(int sig) {
    interrupted = 1;
    if (running_server > 0) kill(running_server, SIGTERM);
    (void)sig;
}

/* Start `piston serve MODEL flags setting` on a free loopback port and wait until /health
 * answers 200; 0, or -1 with why in err. */
static int server_start(const SweepArgs *a, const int *vi, int idx, Server *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s/server-%d.log", a->out_dir, idx);
    const char *argv[MAX_ARGS + 16];
    int n = 0;
    argv[n++] = a->piston;
    argv[n++] = "serve";
    argv[n++] = a->model;
    argv[n++] = "--host", argv[n++] = "127.0.0.1", argv[n++] = "--port", argv[n++] = "0";
    for (int i = 0; i < a->n_serve; i++) argv[n++] = a->serve_argv[i];
    for (int k = 0; k < a->n_sw; k++) argv[n++] = a->sw[k].flag, argv[n++] = a->sw[k].values[vi[k]];
    argv[n] = NULL;
    /* fork and exec rather than posix_spawn: the child asks to be stopped when the sweep
     * dies, so that no server outlives it whatever happens */
    pid_t parent = getpid();
    /* the log is emptied here, before the child runs: the port is read from it, and a
     * previous sweep's log in the same place must not be read instead */
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(err, errlen, -errno, "%s: %s", s->log, strerror(errno));
    s->pid = fork();
    if (s->pid < 0) {
        close(fd);
        return err_set(err, errlen, -errno, "cannot start %s: %s", a->piston, strerror(errno));
    }
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0) _exit(127);
        dup2(fd, 1), dup2(fd, 2), dup2(nul, 0);
        close(fd), close(nul);
        execv(a->piston, (char *const *)argv);
        fprintf(stderr, "piston: cannot run %s: %s\n", a->piston, strerror(errno));
        _exit(127);
    }
    close(fd);
    running_server = s->pid;
    double t0 = (double)uv_hrtime() * 1e-9;
    while ((double)uv_hrtime() * 1e-9 - t0 < a->server_timeout_s && !interrupted) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            last_error(s->log, err, errlen);
            return -1;
        }
        if (!s->url[0]) {
            char *t = read_file(s->log);
            const char *m = t ? strstr(t, "listening on http://127.0.0.1:") : NULL;
            if (m) {
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", atoi(m + 30));
                char e2[256];
                if (hc_target_parse(&s->t, s->url, e2, sizeof e2)) s->url[0] = 0;
            }
            free(t);
        }
        if (s->url[0]) {
            HcResponse r;
            char e2[256];
            if (!hc_fetch(&s->t, "GET", "/health", NULL, 5, &r, e2, sizeof e2)) {
                int ok = r.status == 200;
                free(r.body);
                if (ok) return 0;
            }
        }
        usleep(200000);
    }
    server_stop(s);
    return err_set(err, errlen, -ETIMEDOUT, interrupted ? "interrupted" : "not ready after %g s (log: %s)",
                   a->server_timeout_s, s->log);
}

static int log_int(const char *log, const char *key) {
    char *t = read_file(log);
    const char *m = t ? strstr(t, key) : NULL;
    int v = m ? atoi(m + strlen(key)) : -1;
    free(t);
    return v;
}

static void label(const SweepArgs *a, const int *vi, char *out, size_t n) {
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < a->n_sw; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%s=%s", i ? " " : "", a->sw[i].flag + 2, a->sw[i].values[vi[i]]);
}

static void load_str(const SweepArgs *a, double v, char *out, size_t n) {
    if (isinf(v)) snprintf(out, n, "%s", "inf");
    else snprintf(out, n, "%g", v);
    (void)a;
}

static int meets(const SweepArgs *a, const Point *p) {
    if (!p->has_run || p->m.failed || p->m.completed == 0) return 0;
    if (a->slo_ttft_ms > 0 && p->m.ttft.pct[0] > a->slo_ttft_ms) return 0;
    if (a->slo_tpot_ms > 0 && p->m.tpot.pct[0] > a->slo_tpot_ms) return 0;
    return 1;
}

/* Why a setting loses to the winner: its best point's trouble, in the operator's terms. */
static void why_loses(const SweepArgs *a, const Point *pts, int np, const int *vi, const Point *win, char *out,
                      size_t n) {
    const Point *best = NULL;
    int64_t preempt = 0;
    const Point *ttft_bad = NULL, *tpot_bad = NULL, *fail = NULL;
    for (int i = 0; i < np; i++) {
        const Point *p = &pts[i];
        if (p->vi[0] != vi[0] || p->vi[1] != vi[1]) continue;
        if (p->start_error[0]) {
            snprintf(out, n, "did not start (memory or limits): %s", p->start_error);
            return;
        }
        if (p->preemptions > 0) preempt += p->preemptions;
        if (p->m.failed && !fail) fail = p;
        if (a->slo_ttft_ms > 0 && p->m.ttft.pct[0] > a->slo_ttft_ms && !ttft_bad) ttft_bad = p;
        if (a->slo_tpot_ms > 0 && p->m.tpot.pct[0] > a->slo_tpot_ms && !tpot_bad) tpot_bad = p;
        if (p->meets && (!best || p->m.output_throughput > best->m.output_throughput)) best = p;
    }
    char l[32];
    size_t k = 0;
    if (best) {
        load_str(a, best->load, l, sizeof l);
        k += (size_t)snprintf(out + k, n - k, "best within the objective %.1f tok/s (at %s %s) against %.1f",
                              best->m.output_throughput, a->load_is_conc ? "concurrency" : "rate", l,
                              win->m.output_throughput);
    } else {
        k += (size_t)snprintf(out + k, n - k, "meets the objective at no load tried");
    }
    if (fail && k < n) k += (size_t)snprintf(out + k, n - k, "; %d failed requests", fail->m.failed);
    if (preempt && k < n)
        k += (size_t)snprintf(out + k, n - k, "; %lld preemptions (the KV cache is too small for the load: more memory or "
                                              "fewer sequences)", (long long)preempt);
    if (ttft_bad && k < n) {
        load_str(a, ttft_bad->load, l, sizeof l);
        int queue = ttft_bad->max_concurrency > 0 && a->load_is_conc && ttft_bad->load > ttft_bad->max_concurrency;
        k += (size_t)snprintf(out + k, n - k, "; P99 TTFT %.0f ms from load %s (%s)", ttft_bad->m.ttft.pct[0], l,
                              queue ? "queueing: fewer sequences fit than the clients send" : "queueing and prefill");
    }
    if (tpot_bad && k < n) {
        load_str(a, tpot_bad->load, l, sizeof l);
        snprintf(out + k, n - k, "; P99 TPOT %.1f ms from load %s (decode batches too large for the objective)",
                 tpot_bad->m.tpot.pct[0], l);
    }
}

static cJSON *point_json(const SweepArgs *a, const Point *p) {
    cJSON *o = cJSON_CreateObject();
    char l[256], ld[32];
    label(a, p->vi, l, sizeof l);
    load_str(a, p->load, ld, sizeof ld);
    cJSON_AddStringToObject(o, "setting", l);
    cJSON *set = cJSON_AddObjectToObject(o, "flags");
    for (int k = 0; k < a->n_sw; k++) cJSON_AddStringToObject(set, a->sw[k].flag, a->sw[k].values[p->vi[k]]);
    cJSON_AddStringToObject(o, "load_kind", a->load_is_conc ? "max_concurrency" : "request_rate");
    if (isinf(p->load)) cJSON_AddStringToObject(o, "load", "inf");
    else cJSON_AddNumberToObject(o, "load", p->load);
    (void)ld;
    if (p->start_error[0]) {
        cJSON_AddStringToObject(o, "start_error", p->start_error);
        return o;
    }
    cJSON_AddNumberToObject(o, "kv_blocks", (double)p->kv_blocks);
    cJSON_AddNumberToObject(o, "block_size", (double)p->block_size);
    cJSON_AddNumberToObject(o, "max_num_seqs", p->max_num_seqs);
    cJSON_AddNumberToObject(o, "max_concurrency", p->max_concurrency);
    cJSON_AddNumberToObject(o, "completed", p->m.completed);
    cJSON_AddNumberToObject(o, "failed", p->m.failed);
    cJSON_AddNumberToObject(o, "preemptions", (double)p->preemptions);
    cJSON_AddNumberToObject(o, "request_throughput", p->m.request_throughput);
    cJSON_AddNumberToObject(o, "output_throughput", p->m.output_throughput);
    cJSON_AddNumberToObject(o, "total_token_throughput", p->m.total_token_throughput);
    cJSON_AddNumberToObject(o, "mean_ttft_ms", p->m.ttft.mean);
    cJSON_AddNumberToObject(o, "p99_ttft_ms", p->m.ttft.pct[0]);
    cJSON_AddNumberToObject(o, "mean_tpot_ms", p->m.tpot.mean);
    cJSON_AddNumberToObject(o, "p99_tpot_ms", p->m.tpot.pct[0]);
    cJSON_AddNumberToObject(o, "p99_itl_ms", p->m.itl.pct[0]);
    cJSON_AddNumberToObject(o, "p99_e2el_ms", p->m.e2el.pct[0]);
    cJSON_AddBoolToObject(o, "meets_objective", p->meets);
    return o;
}

static void write_csv(const SweepArgs *a, const Point *pts, int np, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "setting");
    for (int k = 0; k < a->n_sw; k++) fprintf(f, ",%s", a->sw[k].flag + 2);
    fprintf(f, ",%s,kv_blocks,max_concurrency,request_throughput,output_throughput,p99_ttft_ms,p99_tpot_ms,"
               "preemptions,failed,meets_objective,start_error\n",
            a->load_is_conc ? "max_concurrency_load" : "request_rate");
    for (int i = 0; i < np; i++) {
        const Point *p = &pts[i];
        char l[256], ld[32];
        label(a, p->vi, l, sizeof l);
        load_str(a, p->load, ld, sizeof ld);
        fprintf(f, "\"%s\"", l);
        for (int k = 0; k < a->n_sw; k++) fprintf(f, ",%s", a->sw[k].values[p->vi[k]]);
        if (p->start_error[0]) {
            fprintf(f, ",%s,,,,,,,,,0,\"", ld);
            for (const char *c = p->start_error; *c; c++) fputs(*c == '"' ? "\"\"" : (char[]){*c, 0}, f);
            fprintf(f, "\"\n");
            continue;
        }
        fprintf(f, ",%s,%lld,%d,%.4f,%.3f,%.3f,%.3f,%lld,%d,%d,\n", ld, (long long)p->kv_blocks, p->max_concurrency,
                p->m.request_throughput, p->m.output_throughput, p->m.ttft.pct[0], p->m.tpot.pct[0],
                (long long)p->preemptions, p->m.failed, p->meets);
    }
    fclose(f);
}

static void print_table(const SweepArgs *a, const Point *pts, int np) {
    printf("\n%-34s %9s %8s %6s %9s %11s %11s %11s %7s %6s\n", "setting", "KV blocks", "max conc",
           a->load_is_conc ? "conc" : "rate", "req/s", "out tok/s", "P99 TTFT ms", "P99 TPOT ms", "preempt", "failed");
    for (int i = 0; i < np; i++) {
        const Point *p = &pts[i];
        char l[256], ld[32];
        label(a, p->vi, l, sizeof l);
        load_str(a, p->load, ld, sizeof ld);
        if (p->start_error[0]) {
            printf("%-34s %9s %8s %6s   did not start: %.80s\n", l, "-", "-", ld, p->start_error);
            continue;
        }
        printf("%-34s %9lld %8d %6s %9.3f %11.1f %11.1f %11.2f %7lld %6d%s\n", l, (long long)p->kv_blocks,
               p->max_concurrency, ld, p->m.request_throughput, p->m.output_throughput, p->m.ttft.pct[0],
               p->m.tpot.pct[0], (long long)p->preemptions, p->m.failed, p->meets ? "" : "  x");
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
    struct sigaction sact = {0}, old_int, old_term;
    sact.sa_handler = on_signal;
    sigaction(SIGINT, &sact, &old_int);
    sigaction(SIGTERM, &sact, &old_term);
    int per_req = sa.ds.input_len + sa.ds.output_len;
    printf("sweep: %s, %d setting%s x %d %s, %d prompts of %d+%d tokens each; results in %s\n", a.model, n_set,
           n_set > 1 ? "s" : "", a.n_loads, a.load_is_conc ? "concurrencies" : "request rates", sa.ds.num_prompts,
           sa.ds.input_len, sa.ds.output_len, a.out_dir);
    for (int si = 0, pi = 0; si < n_set && !interrupted; si++) {
        int vi[2] = {si % a.sw[0].n, a.n_sw > 1 ? si / a.sw[0].n : 0};
        char l[256], err[512];
        label(&a, vi, l, sizeof l);
        printf("[%d/%d] %s: starting the server\n", si + 1, n_set, l);
        fflush(stdout);
        Server s;
        int started = server_start(&a, vi, si, &s, err, sizeof err) == 0;
        int mns = started ? log_int(s.log, " max_num_seqs=") : -1;
        for (int li = 0; li < a.n_loads; li++, pi++) {
            Point *p = &pts[pi];
            p->vi[0] = vi[0], p->vi[1] = vi[1], p->load = a.loads[li];
            if (!started) {
                snprintf(p->start_error, sizeof p->start_error, "%s", err);
                continue;
            }
            ServeArgs run = sa;
            if (a.load_is_conc) run.max_concurrency = (int)a.loads[li], run.request_rate = INFINITY;
            else run.request_rate = a.loads[li];
            run.no_progress = 1;
            char res[4200];
            snprintf(res, sizeof res, "%s/point-%d-%d.json", a.out_dir, si, li);
            run.save_result = res;
            run.result_filename = NULL;
            ServeSummary sum;
            if (serve_bench(&run, &s.t, 0, &sum) == 0) {
                p->has_run = 1;
                p->m = sum.m;
                p->kv_blocks = sum.server.kv_blocks, p->block_size = sum.server.block_size;
                p->preemptions = sum.server.preemptions;
                p->max_num_seqs = mns;
                int64_t blocks_per = p->block_size > 0 ? (per_req + p->block_size - 1) / p->block_size : 0;
                int64_t fit = blocks_per > 0 && p->kv_blocks > 0 ? p->kv_blocks / blocks_per : -1;
                p->max_concurrency = (int)(mns > 0 && (fit < 0 || fit > mns) ? mns : fit);
                p->meets = meets(&a, p);
                cJSON_Delete(sum.json);
                char ld[32];
                load_str(&a, p->load, ld, sizeof ld);
                printf("    %s %s: %.1f output tok/s, P99 TTFT %.1f ms, P99 TPOT %.2f ms, %d failed\n",
                       a.load_is_conc ? "concurrency" : "rate", ld, p->m.output_throughput, p->m.ttft.pct[0],
                       p->m.tpot.pct[0], p->m.failed);
            } else {
                snprintf(p->start_error, sizeof p->start_error, "the benchmark could not run (log: %.400s)", s.log);
            }
            fflush(stdout);
        }
        server_stop(&s);
        running_server = 0;
        if (!started) printf("    did not start: %s\n", err);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    print_table(&a, pts, np);
    /* the recommendation */
    const Point *win = NULL;
    for (int i = 0; i < np; i++)
        if (pts[i].meets && (!win || pts[i].m.output_throughput > win->m.output_throughput)) win = &pts[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", a.model);
    cJSON *swj = cJSON_AddArrayToObject(j, "swept");
    for (int k = 0; k < a.n_sw; k++) cJSON_AddItemToArray(swj, cJSON_CreateString(a.sw[k].flag));
    cJSON_AddStringToObject(j, "load_kind", a.load_is_conc ? "max_concurrency" : "request_rate");
    cJSON *obj = cJSON_AddObjectToObject(j, "objective");
    if (a.slo_ttft_ms > 0) cJSON_AddNumberToObject(obj, "p99_ttft_ms", a.slo_ttft_ms);
    if (a.slo_tpot_ms > 0) cJSON_AddNumberToObject(obj, "p99_tpot_ms", a.slo_tpot_ms);
    cJSON *wl = cJSON_AddObjectToObject(j, "workload");
    cJSON_AddNumberToObject(wl, "num_prompts", sa.ds.num_prompts);
    cJSON_AddNumberToObject(wl, "input_len", sa.ds.input_len);
    cJSON_AddNumberToObject(wl, "output_len", sa.ds.output_len);
    cJSON *pa = cJSON_AddArrayToObject(j, "points");
    for (int i = 0; i < np; i++) cJSON_AddItemToArray(pa, point_json(&a, &pts[i]));
    const char *objective = a.slo_ttft_ms > 0 || a.slo_tpot_ms > 0 ? "the objective" : "no failures";
    if (win) {
        char l[256], ld[32];
        label(&a, win->vi, l, sizeof l);
        load_str(&a, win->load, ld, sizeof ld);
        printf("\nrecommended: %s: %.1f output tok/s at %s %s within %s", l, win->m.output_throughput,
               a.load_is_conc ? "concurrency" : "rate", ld, objective);
        if (a.slo_ttft_ms > 0) printf(" (P99 TTFT %.0f <= %g ms", win->m.ttft.pct[0], a.slo_ttft_ms);
        if (a.slo_tpot_ms > 0) printf("%sP99 TPOT %.1f <= %g ms", a.slo_ttft_ms > 0 ? ", " : " (", win->m.tpot.pct[0], a.slo_tpot_ms);
        printf("%s\n", a.slo_ttft_ms > 0 || a.slo_tpot_ms > 0 ? ")" : "");
        cJSON *r = cJSON_AddObjectToObject(j, "recommendation");
        cJSON_AddStringToObject(r, "setting", l);
        cJSON_AddItemToObject(r, "point", point_json(&a, win));
        cJSON *others = cJSON_AddArrayToObject(j, "others");
        for (int si = 0; si < n_set; si++) {
            int vi[2] = {si % a.sw[0].n, a.n_sw > 1 ? si / a.sw[0].n : 0};
            if (vi[0] == win->vi[0] && vi[1] == win->vi[1]) continue;
            char why[1024], ol[256];
            label(&a, vi, ol, sizeof ol);
            why_loses(&a, pts, np, vi, win, why, sizeof why);
            printf("  %s loses: %s\n", ol, why);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "setting", ol);
            cJSON_AddStringToObject(o, "why", why);
            cJSON_AddItemToArray(others, o);
        }
    } else {
        printf("\nno setting meets %s at any load tried: relax it, or try other values\n", objective);
        cJSON_AddNullToObject(j, "recommendation");
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/sweep.json", a.out_dir);
    char *js = cJSON_Print(j);
    FILE *f = fopen(path, "w");
    if (f && js) fputs(js, f);
    if (f) fclose(f);
    free(js);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/sweep.csv", a.out_dir);
    write_csv(&a, pts, np, path);
    printf("table: %s/sweep.json, %s/sweep.csv\n", a.out_dir, a.out_dir);
    if (!a.no_plot && !interrupted) {
        /* bench/plot_sweep.py beside the binary's tree (bin/piston -> bench/), or on PATH */
        char script[4200], cmd[9000];
        snprintf(script, sizeof script, "%s", self);
        char *slash = strrchr(script, '/');
        if (slash) *slash = 0;
        slash = strrchr(script, '/');
        if (slash) *slash = 0;
        snprintf(script + strlen(script), sizeof script - strlen(script), "/bench/plot_sweep.py");
        if (access(script, R_OK) == 0) {
            snprintf(cmd, sizeof cmd, "python3 '%s' '%s/sweep.json'", script, a.out_dir);
            if (system(cmd) != 0)
                fprintf(stderr, "piston: the plots were not drawn (python3 with matplotlib is needed): %s\n", cmd);
        }
    }
    rc = interrupted ? 130 : 0;
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
