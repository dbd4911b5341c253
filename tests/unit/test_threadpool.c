/* The thread pool: every task of a run executes exactly once, on a valid thread id, and the
 * run's effects are visible when threadpool_run returns; over many back-to-back runs (the
 * decode pattern), with more threads than cores, and after the workers have gone to sleep. */
#include <stdatomic.h>
#include <time.h>

#include "kernels/cpu/threadpool.h"
#include "tests/unit/test.h"

typedef struct Ctx {
    int n_threads;
    atomic_int *hits; /* [n_tasks] */
    int *plain;       /* [n_tasks] written without atomics: checks the hand-back's ordering */
    atomic_int bad_thread;
} Ctx;

static void task(void *c, int i, int thread) {
    Ctx *ctx = c;
    atomic_fetch_add_explicit(&ctx->hits[i], 1, memory_order_relaxed);
    ctx->plain[i] = i + 1;
    if (thread < 0 || thread >= ctx->n_threads) atomic_fetch_add(&ctx->bad_thread, 1);
}

static int check_runs(ThreadPool *p, int n_runs, int max_tasks, int sleep_every) {
    int bad = 0;
    atomic_int *hits = calloc((size_t)max_tasks, sizeof *hits);
    int *plain = calloc((size_t)max_tasks, sizeof *plain);
    for (int r = 0; r < n_runs; r++) {
        int n = 1 + (r * 7919) % max_tasks;
        for (int i = 0; i < n; i++) atomic_store(&hits[i], 0), plain[i] = 0;
        Ctx ctx = {threadpool_size(p), hits, plain, 0};
        if (sleep_every && r % sleep_every == 0) nanosleep(&(struct timespec){0, 3000000}, NULL); /* workers sleep */
        threadpool_run(p, n, task, &ctx);
        for (int i = 0; i < n; i++) bad += atomic_load(&hits[i]) != 1 || plain[i] != i + 1;
        bad += atomic_load(&ctx.bad_thread);
    }
    free(hits);
    free(plain);
    return bad;
}

int main(void) {
    for (int nth = 1; nth <= 5; nth++) { /* up to 5 threads: more than this machine's cores */
        ThreadPool *p = threadpool_create(nth);
        CHECK(p && threadpool_size(p) == nth, "threadpool_create(%d)", nth);
        if (!p) continue;
        int bad = check_runs(p, 3000, 64, 0);
        CHECK(bad == 0, "%d threads: %d tasks run other than exactly once", nth, bad);
        bad = check_runs(p, 20, 200, 4);
        CHECK(bad == 0, "%d threads, waking from sleep: %d tasks run other than exactly once", nth, bad);
        threadpool_run(p, 0, task, NULL); /* no tasks: returns at once */
        threadpool_destroy(p);
    }
    ThreadPool *p = threadpool_create(3); /* destroyed while its workers sleep */
    nanosleep(&(struct timespec){0, 5000000}, NULL);
    threadpool_destroy(p);
    CHECK(1, "destroy of a sleeping pool returns");
    return TEST_SUMMARY();
}
