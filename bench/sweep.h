/* bench sweep's parts (bench/sweep.c): the arguments, the points measured, the servers it
 * starts (sweep_server.c) and the table, recommendation and files it writes (sweep_report.c). */
#ifndef PISTON_BENCH_SWEEP_H
#define PISTON_BENCH_SWEEP_H
#include <stdint.h>
#include <sys/types.h>

#include "bench/serve.h"

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

typedef struct SweepServer {
    pid_t pid;
    char url[128];
    char log[384];
    HcTarget t;
} SweepServer;

/* Start `piston serve MODEL flags setting` (vi: an index into each swept list; idx names its
 * log) on a free loopback port and wait until /health answers 200; 0, or -1 with why in err. */
int sweep_server_start(const SweepArgs *a, const int *vi, int idx, SweepServer *s, char *err, size_t errlen);
void sweep_server_stop(SweepServer *s);
/* SIGINT and SIGTERM stop the running server and end the sweep after the current point. */
void sweep_signals_install(void);
void sweep_signals_restore(void);
int sweep_interrupted(void);
/* The integer after key in a server's log ("max_num_seqs=" in the configuration line), or -1. */
int sweep_log_int(const char *log, const char *key);

/* A point's P99 of a statistic (ttft, tpot, itl, e2el), read by value: the sweep adds 99 to
 * --metric-percentiles when it is not there, and the list may hold others before it (50,99). */
#define P99(pt, stat) serve_stat_pct(&(pt)->m, &(pt)->m.stat, 99)

void sweep_label(const SweepArgs *a, const int *vi, char *out, size_t n);
void sweep_load_str(double v, char *out, size_t n);
/* Zero failures and the objectives met. */
int sweep_meets(const SweepArgs *a, const Point *p);
void sweep_print_table(const SweepArgs *a, const Point *pts, int np);
/* The recommendation (printed, with why each other setting loses), DIR/sweep.json and
 * DIR/sweep.csv. */
void sweep_report(const SweepArgs *a, const ServeArgs *sa, const Point *pts, int np, int n_set);
#endif
