/* bench sweep's results: the table, the recommendation (the setting with the highest output
 * throughput within the objective, and why each other one loses, in the operator's terms),
 * DIR/sweep.json and DIR/sweep.csv. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sweep.h"

void sweep_label(const SweepArgs *a, const int *vi, char *out, size_t n) {
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < a->n_sw; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%s=%s", i ? " " : "", a->sw[i].flag + 2, a->sw[i].values[vi[i]]);
}

void sweep_load_str(double v, char *out, size_t n) {
    if (isinf(v)) snprintf(out, n, "%s", "inf");
    else snprintf(out, n, "%g", v);
}

int sweep_meets(const SweepArgs *a, const Point *p) {
    if (!p->has_run || p->m.failed || p->m.completed == 0) return 0;
    if (a->slo_ttft_ms > 0 && P99(p, ttft) > a->slo_ttft_ms) return 0;
    if (a->slo_tpot_ms > 0 && P99(p, tpot) > a->slo_tpot_ms) return 0;
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
        if (a->slo_ttft_ms > 0 && P99(p, ttft) > a->slo_ttft_ms && !ttft_bad) ttft_bad = p;
        if (a->slo_tpot_ms > 0 && P99(p, tpot) > a->slo_tpot_ms && !tpot_bad) tpot_bad = p;
        if (p->meets && (!best || p->m.output_throughput > best->m.output_throughput)) best = p;
    }
    char l[32];
    size_t k = 0;
    if (best) {
        sweep_load_str(best->load, l, sizeof l);
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
        sweep_load_str(ttft_bad->load, l, sizeof l);
        int queue = ttft_bad->max_concurrency > 0 && a->load_is_conc && ttft_bad->load > ttft_bad->max_concurrency;
        k += (size_t)snprintf(out + k, n - k, "; P99 TTFT %.0f ms from load %s (%s)", P99(ttft_bad, ttft), l,
                              queue ? "queueing: fewer sequences fit than the clients send" : "queueing and prefill");
    }
    if (tpot_bad && k < n) {
        sweep_load_str(tpot_bad->load, l, sizeof l);
        snprintf(out + k, n - k, "; P99 TPOT %.1f ms from load %s (decode batches too large for the objective)",
                 P99(tpot_bad, tpot), l);
    }
}

static cJSON *point_json(const SweepArgs *a, const Point *p) {
    cJSON *o = cJSON_CreateObject();
    char l[256], ld[32];
    sweep_label(a, p->vi, l, sizeof l);
    sweep_load_str(p->load, ld, sizeof ld);
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
    cJSON_AddNumberToObject(o, "p99_ttft_ms", P99(p, ttft));
    cJSON_AddNumberToObject(o, "mean_tpot_ms", p->m.tpot.mean);
    cJSON_AddNumberToObject(o, "p99_tpot_ms", P99(p, tpot));
    cJSON_AddNumberToObject(o, "p99_itl_ms", P99(p, itl));
    cJSON_AddNumberToObject(o, "p99_e2el_ms", P99(p, e2el));
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
        sweep_label(a, p->vi, l, sizeof l);
        sweep_load_str(p->load, ld, sizeof ld);
        fprintf(f, "\"%s\"", l);
        for (int k = 0; k < a->n_sw; k++) fprintf(f, ",%s", a->sw[k].values[p->vi[k]]);
        if (p->start_error[0]) {
            fprintf(f, ",%s,,,,,,,,,0,\"", ld);
            for (const char *c = p->start_error; *c; c++) fputs(*c == '"' ? "\"\"" : (char[]){*c, 0}, f);
            fprintf(f, "\"\n");
            continue;
        }
        fprintf(f, ",%s,%lld,%d,%.4f,%.3f,%.3f,%.3f,%lld,%d,%d,\n", ld, (long long)p->kv_blocks, p->max_concurrency,
                p->m.request_throughput, p->m.output_throughput, P99(p, ttft), P99(p, tpot),
                (long long)p->preemptions, p->m.failed, p->meets);
    }
    fclose(f);
}

void sweep_print_table(const SweepArgs *a, const Point *pts, int np) {
    printf("\n%-34s %9s %8s %6s %9s %11s %11s %11s %7s %6s\n", "setting", "KV blocks", "max conc",
           a->load_is_conc ? "conc" : "rate", "req/s", "out tok/s", "P99 TTFT ms", "P99 TPOT ms", "preempt", "failed");
    for (int i = 0; i < np; i++) {
        const Point *p = &pts[i];
        char l[256], ld[32];
        sweep_label(a, p->vi, l, sizeof l);
        sweep_load_str(p->load, ld, sizeof ld);
        if (p->start_error[0]) {
            printf("%-34s %9s %8s %6s   did not start: %.80s\n", l, "-", "-", ld, p->start_error);
            continue;
        }
        printf("%-34s %9lld %8d %6s %9.3f %11.1f %11.1f %11.2f %7lld %6d%s\n", l, (long long)p->kv_blocks,
               p->max_concurrency, ld, p->m.request_throughput, p->m.output_throughput, P99(p, ttft),
               P99(p, tpot), (long long)p->preemptions, p->m.failed, p->meets ? "" : "  x");
    }
}

/* Print the winner and why each other setting loses; both into j too. */
static void recommend(const SweepArgs *a, const Point *pts, int np, int n_set, const Point *win, const char *objective,
                      cJSON *j) {
    if (win) {
        char l[256], ld[32];
        sweep_label(a, win->vi, l, sizeof l);
        sweep_load_str(win->load, ld, sizeof ld);
        printf("\nrecommended: %s: %.1f output tok/s at %s %s within %s", l, win->m.output_throughput,
               a->load_is_conc ? "concurrency" : "rate", ld, objective);
        if (a->slo_ttft_ms > 0) printf(" (P99 TTFT %.0f <= %g ms", P99(win, ttft), a->slo_ttft_ms);
        if (a->slo_tpot_ms > 0) printf("%sP99 TPOT %.1f <= %g ms", a->slo_ttft_ms > 0 ? ", " : " (", P99(win, tpot), a->slo_tpot_ms);
        printf("%s\n", a->slo_ttft_ms > 0 || a->slo_tpot_ms > 0 ? ")" : "");
        cJSON *r = cJSON_AddObjectToObject(j, "recommendation");
        cJSON_AddStringToObject(r, "setting", l);
        cJSON_AddItemToObject(r, "point", point_json(a, win));
        cJSON *others = cJSON_AddArrayToObject(j, "others");
        for (int si = 0; si < n_set; si++) {
            int vi[2] = {si % a->sw[0].n, a->n_sw > 1 ? si / a->sw[0].n : 0};
            if (vi[0] == win->vi[0] && vi[1] == win->vi[1]) continue;
            char why[1024], ol[256];
            sweep_label(a, vi, ol, sizeof ol);
            why_loses(a, pts, np, vi, win, why, sizeof why);
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
}

void sweep_report(const SweepArgs *a, const ServeArgs *sa, const Point *pts, int np, int n_set) {
    const Point *win = NULL;
    for (int i = 0; i < np; i++)
        if (pts[i].meets && (!win || pts[i].m.output_throughput > win->m.output_throughput)) win = &pts[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", a->model);
    cJSON *swj = cJSON_AddArrayToObject(j, "swept");
    for (int k = 0; k < a->n_sw; k++) cJSON_AddItemToArray(swj, cJSON_CreateString(a->sw[k].flag));
    cJSON_AddStringToObject(j, "load_kind", a->load_is_conc ? "max_concurrency" : "request_rate");
    cJSON *obj = cJSON_AddObjectToObject(j, "objective");
    if (a->slo_ttft_ms > 0) cJSON_AddNumberToObject(obj, "p99_ttft_ms", a->slo_ttft_ms);
    if (a->slo_tpot_ms > 0) cJSON_AddNumberToObject(obj, "p99_tpot_ms", a->slo_tpot_ms);
    cJSON *wl = cJSON_AddObjectToObject(j, "workload");
    cJSON_AddNumberToObject(wl, "num_prompts", sa->ds.num_prompts);
    cJSON_AddNumberToObject(wl, "input_len", sa->ds.input_len);
    cJSON_AddNumberToObject(wl, "output_len", sa->ds.output_len);
    cJSON *pa = cJSON_AddArrayToObject(j, "points");
    for (int i = 0; i < np; i++) cJSON_AddItemToArray(pa, point_json(a, &pts[i]));
    const char *objective = a->slo_ttft_ms > 0 || a->slo_tpot_ms > 0 ? "the objective" : "no failures";
    recommend(a, pts, np, n_set, win, objective, j);
    char path[4200];
    snprintf(path, sizeof path, "%s/sweep.json", a->out_dir);
    char *js = cJSON_Print(j);
    FILE *f = fopen(path, "w");
    if (f && js) fputs(js, f);
    if (f) fclose(f);
    free(js);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/sweep.csv", a->out_dir);
    write_csv(a, pts, np, path);
    printf("table: %s/sweep.json, %s/sweep.csv\n", a->out_dir, a->out_dir);
}
