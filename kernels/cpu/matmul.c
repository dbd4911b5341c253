/* cpu_matmul: y[T, n_out] = x[T, n_in] @ W^T on the CPU, for every supported weight type.
 * This file is the driver: it picks the kernels for the CPU (matmul_scalar.c, matmul_avx2.c,
 * matmul_avx512.c), sizes the scratch, and splits the work across the thread pool. The
 * arithmetic, and the summation order that makes results batch-invariant, are in matmul.h.
 *
 * MATMUL_Q8 (quantized weights): the activations are quantized to 8-bit blocks once per call
 * (in parallel when there are many), then each task takes a chunk of weight rows and all (or
 * a chunk of) the tokens. For up to MM_DIRECT_MAX_T tokens (decode) the kernels read the
 * weight blocks straight from the model, four rows at a time, and sweep the tokens over
 * them while they sit in L1: at T = 1 a matrix-vector product bound by memory that streams
 * each weight byte once. For more tokens (prefill) a task first unpacks its rows to the
 * canonical integer form in per-thread scratch sized for L1, then sweeps its tokens over
 * them. Either way each weight block is read from memory once per call however large the
 * batch.
 * MATMUL_F32, and float weights under either precision: a task dequantizes a few rows to
 * f32 scratch (never the whole matrix) and runs an FMA micro-kernel over them. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul.h"

/* target bytes of one task's unpacked or dequantized weight rows: L1-sized, so the rows stay
 * close while the task's tokens sweep over them */
#define MM_ROWS_BYTES (24 * 1024)

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Scratch of CpuState, grown on demand (its contents need not survive). Freed by
 * cpu_backend_destroy with free(). */
static uint8_t *scratch_get(CpuState *st, size_t bytes) {
    if (st->scratch_bytes < bytes) {
        free(st->scratch);
        st->scratch = aligned_alloc(64, align64(bytes));
        st->scratch_bytes = st->scratch ? align64(bytes) : 0;
    }
    return st->scratch;
}

typedef struct MmJob {
    const MmKernels *k;
    DType type;
    int kind, act256, direct;
    const uint8_t *w;  /* [n_out] rows of row_bytes */
    int64_t row_bytes, n_in, n_out;
    const float *x;    /* [T, n_in] */
    float *y;          /* [T, n_out] */
    int T;
    QAct act;
    int rows, toks, n_row_tasks; /* task = (chunk of `rows` weight rows) x (chunk of `toks` tokens) */
    int quant_rows;              /* activation rows per quantization task */
    uint8_t *thread_scratch;     /* [n_threads] areas of thread_bytes */
    size_t thread_bytes;
} MmJob;

static void quant_task(void *ctx, int task, int thread) {
    const MmJob *j = ctx;
    int t0 = task * j->quant_rows, nt = j->T - t0 < j->quant_rows ? j->T - t0 : j->quant_rows;
    j->k->quant_act(j->x, t0, nt, j->act256, &j->act);
}

/* this task's [r0, r0 + nr) x [t0, t0 + nt) */
static void task_range(const MmJob *j, int task, int *r0, int *nr, int *t0, int *nt) {
    int rt = task % j->n_row_tasks, tt = task / j->n_row_tasks;
    *r0 = rt * j->rows;
    *nr = j->n_out - *r0 < j->rows ? (int)(j->n_out - *r0) : j->rows;
    *t0 = tt * j->toks;
    *nt = j->T - *t0 < j->toks ? j->T - *t0 : j->toks;
}

static void q8_task(void *ctx, int task, int thread) {
    const MmJob *j = ctx;
    int r0, nr, t0, nt;
    task_range(j, task, &r0, &nr, &t0, &nt);
    const uint8_t *w = j->w + r0 * j->row_bytes;
    float *y = j->y + (int64_t)t0 * j->n_out + r0;
    if (j->direct) { /* direct_types promised a kernel for this type */
        int done = j->k->q8_direct(j->type, w, j->row_bytes, nr, &j->act, t0, nt, y, j->n_out);
        assert(done);
        (void)done;
        return;
    }
    uint8_t *ts = j->thread_scratch + (size_t)thread * j->thread_bytes;
    int nb = j->act.nb;
    QRows rows = {nb, (int8_t *)ts, NULL, NULL};
    rows.d = (float *)(ts + align64((size_t)nr * nb * 32));
    rows.m = rows.d + (size_t)nr * nb * 8;
    if (!j->k->unpack(j->type, w, j->row_bytes, nr, &rows)) mm_unpack_scalar(j->type, w, j->row_bytes, nr, &rows);
    j->k->q8_rows(&rows, nr, j->kind, &j->act, t0, nt, y, j->n_out);
}

static void f32_task(void *ctx, int task, int thread) {
    const MmJob *j = ctx;
    int r0, nr, t0, nt;
    task_range(j, task, &r0, &nr, &t0, &nt);
    const uint8_t *w = j->w + r0 * j->row_bytes;
    const float *wf = (const float *)w;
    if (j->type != DT_F32) { /* float rows are used in place; the rest are dequantized */
        float *buf = (float *)(j->thread_scratch + (size_t)thread * j->thread_bytes);
        if (!j->k->dequant(j->type, w, j->row_bytes, nr, j->n_in, buf))
            for (int r = 0; r < nr; r++) dtype_dequantize_row(j->type, w + r * j->row_bytes, buf + r * j->n_in, j->n_in);
        wf = buf;
    }
    j->k->f32_rows(wf, j->n_in, nr, j->x + (int64_t)t0 * j->n_in, j->n_in, nt, j->n_in,
                   j->y + (int64_t)t0 * j->n_out + r0, j->n_out);
}

/* Chooses the task grid: row chunks of `rows` (a multiple of 4 unless n_out is smaller), and
 * token chunks of at most max_toks, smaller when there are too few row chunks to keep every
 * thread busy. */
static void plan_tasks(MmJob *j, int n_threads, int rows, int64_t max_toks) {
    int64_t fair = ceil_div(ceil_div(j->n_out, 2 * (int64_t)n_threads), 4) * 4; /* >= 2 tasks per thread */
    rows = (rows + 3) & ~3;
    if (rows > fair) rows = (int)fair;
    if (rows < 4) rows = 4;
    j->rows = rows;
    j->n_row_tasks = (int)ceil_div(j->n_out, rows);
    int n_tok = 1;
    if (j->n_row_tasks < 2 * n_threads && j->T >= 8) {
        n_tok = (int)ceil_div(2 * n_threads, j->n_row_tasks);
        if (n_tok > j->T / 4) n_tok = j->T / 4;
    }
    int64_t toks = ceil_div(ceil_div(j->T, n_tok), 4) * 4;
    max_toks = max_toks < 4 ? 4 : max_toks & ~(int64_t)3;
    j->toks = (int)(toks < max_toks ? toks : max_toks);
    if (j->toks > j->T) j->toks = j->T;
}

static int clamp_rows(int64_t rows) {
    if (rows > 64) rows = 64;
    if (rows < 4) rows = 4;
    return (int)(rows & ~3);
}

/* The Q8 plan of one weight: its task grid and scratch needs (act, thread_scratch set by the
 * caller). */
static void q8_plan(MmJob *j, int nth) {
    int nb = (int)(j->n_in / 32);
    j->direct = j->T <= MM_DIRECT_MAX_T && (j->k->direct_types >> j->type & 1);
    /* direct: ~8 tasks a thread; unpacked: 68 bytes a block of rows in L1, and a task's
     * activations (36 bytes a block) within ~256 KiB of L2 */
    int rows = j->direct ? (int)ceil_div(j->n_out, 8 * (int64_t)nth) : clamp_rows(MM_ROWS_BYTES / ((int64_t)nb * 68));
    plan_tasks(j, nth, rows, (256 * 1024) / ((int64_t)nb * 36));
    j->thread_bytes = j->direct ? 0 : align64(align64((size_t)j->rows * nb * 32) + (size_t)j->rows * nb * 9 * sizeof(float));
}

static int job_init(Backend *be, MmJob *j, const Tensor *W, const float *x, float *y, int T) {
    CpuState *st = cpu_state(be);
    *j = (MmJob){.k = mm_pick(st->matmul_isa), .type = W->type, .kind = mm_kind(W->type),
                 .act256 = mm_act256(W->type), .w = W->data, .n_in = W->ne[0], .n_out = W->ne[1],
                 .x = x, .y = y, .T = T};
    j->row_bytes = dtype_row_bytes(W->type, j->n_in);
    if (j->row_bytes <= 0)
        return backend_fail(be, -EINVAL, "matmul %s: type %s with rows of %lld elements is not supported",
                            W->name ? W->name : "?", dtype_name(W->type), (long long)j->n_in);
    return 0;
}

/* Quantizes the activations of jobs[0] once, for every job of the group (they share x). */
static int q8_quantize(Backend *be, MmJob *jobs, int n, size_t *total) {
    CpuState *st = cpu_state(be);
    MmJob *j = &jobs[0];
    int nth = threadpool_size(st->pool), T = j->T, nb = (int)(j->n_in / 32);
    size_t q_bytes = align64((size_t)T * nb * 32), d_bytes = align64((size_t)T * nb * sizeof(float)), tb = 0;
    for (int i = 0; i < n; i++) tb = jobs[i].thread_bytes > tb ? jobs[i].thread_bytes : tb;
    *total = q_bytes + 2 * d_bytes + (size_t)nth * tb;
    uint8_t *s = scratch_get(st, *total);
    if (!s) return -ENOMEM;
    QAct act = {nb, T, (int8_t *)s, (float *)(s + q_bytes), (float *)(s + q_bytes + d_bytes)};
    for (int i = 0; i < n; i++) {
        jobs[i].act = act;
        jobs[i].thread_scratch = s + q_bytes + 2 * d_bytes;
        jobs[i].thread_bytes = tb;
    }
    /* below ~64k elements the hand-off costs more than the quantization */
    if (nth > 1 && (int64_t)T * j->n_in >= 65536) {
        j->quant_rows = (int)ceil_div(T, 4 * (int64_t)nth);
        threadpool_run(st->pool, (int)ceil_div(T, j->quant_rows), quant_task, j);
    } else {
        j->k->quant_act(j->x, 0, T, j->act256, &j->act);
    }
    return 0;
}

static int job_tasks(const MmJob *j) { return j->n_row_tasks * (int)ceil_div(j->T, j->toks); }

/* Several weights over the same activations: one run whose tasks cover every job. */
typedef struct MmGroup {
    const MmJob *jobs;
    int n;
    int first[MM_GROUP_MAX + 1]; /* task index where job i starts */
} MmGroup;

static void group_task(void *ctx, int task, int thread) {
    const MmGroup *g = ctx;
    int i = 0;
    while (task >= g->first[i + 1]) i++;
    q8_task((void *)&g->jobs[i], task - g->first[i], thread);
}

int cpu_matmul(Backend *be, const Tensor *W, const float *x, float *y, int T) {
    CpuState *st = cpu_state(be);
    ThreadPool *pool = st->pool;
    int nth = threadpool_size(pool);
    MmJob j;
    if (T <= 0 || W->ne[1] <= 0) return 0;
    int rc = job_init(be, &j, W, x, y, T);
    if (rc) return rc;
    size_t total;
    if (be->opt.precision == MATMUL_Q8 && j.kind != MM_KIND_NONE) {
        q8_plan(&j, nth);
        if (q8_quantize(be, &j, 1, &total)) goto oom;
        threadpool_run(pool, job_tasks(&j), q8_task, &j);
    } else {
        plan_tasks(&j, nth, clamp_rows(MM_ROWS_BYTES / (j.n_in * (int64_t)sizeof(float))),
                   (256 * 1024) / (j.n_in * (int64_t)sizeof(float)));
        j.thread_bytes = W->type == DT_F32 ? 0 : align64((size_t)j.rows * j.n_in * sizeof(float));
        total = (size_t)nth * j.thread_bytes;
        if (total) {
            j.thread_scratch = scratch_get(st, total);
            if (!j.thread_scratch) goto oom;
        }
        threadpool_run(pool, job_tasks(&j), f32_task, &j);
    }
    return 0;
oom:
    return backend_fail(be, -ENOMEM, "matmul %s: out of memory for %zu bytes of scratch", W->name ? W->name : "?",
                        total);
}

/* y[i] = x @ W[i]^T for i < n. On the Q8 path with one activation format for all, x is
 * quantized once and one run covers every weight's tasks: decode's q/k/v and gate/up
 * products are a few microseconds each, and a run's hand-off and its wait for the slowest
 * task are then a large share. Each element is computed exactly as cpu_matmul would. */
int cpu_matmul_n(Backend *be, int n, const Tensor *const *W, const float *x, float *const *y, int T) {
    CpuState *st = cpu_state(be);
    int nth = threadpool_size(st->pool), grouped = n > 0 && n <= MM_GROUP_MAX && be->opt.precision == MATMUL_Q8;
    MmJob jobs[MM_GROUP_MAX];
    if (T <= 0) return 0;
    for (int i = 0; grouped && i < n; i++) {
        int rc = job_init(be, &jobs[i], W[i], x, y[i], T);
        if (rc) return rc;
        grouped = jobs[i].kind != MM_KIND_NONE && jobs[i].n_out > 0 && jobs[i].n_in == jobs[0].n_in &&
                  jobs[i].act256 == jobs[0].act256;
    }
    if (!grouped) {
        for (int i = 0; i < n; i++) {
            int rc = cpu_matmul(be, W[i], x, y[i], T);
            if (rc) return rc;
        }
        return 0;
    }
    MmGroup g = {jobs, n, {0}};
    for (int i = 0; i < n; i++) {
        q8_plan(&jobs[i], nth);
        g.first[i + 1] = g.first[i] + job_tasks(&jobs[i]);
    }
    size_t total;
    if (q8_quantize(be, jobs, n, &total))
        return backend_fail(be, -ENOMEM, "matmul %s: out of memory for %zu bytes of scratch",
                            W[0]->name ? W[0]->name : "?", total);
    threadpool_run(st->pool, g.first[n], group_task, &g);
    return 0;
}
