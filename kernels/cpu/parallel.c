/* cpu_parallel_range (see parallel.h): below ~64k element-ops the hand-off to other threads
 * costs more than it saves, so small jobs run inline on the calling thread. */
#include "kernels/cpu/parallel.h"

typedef struct RangeJob {
    RangeFn fn;
    void *ctx;
    int64_t n, chunk;
} RangeJob;

static void range_task(void *c, int task, int thread) {
    const RangeJob *j = c;
    int64_t s = (int64_t)task * j->chunk;
    int64_t e = s + j->chunk < j->n ? s + j->chunk : j->n;
    if (s < e) j->fn(j->ctx, s, e);
}

void cpu_parallel_range(Backend *be, int64_t n, int64_t cost_per_item, int64_t align, RangeFn fn, void *ctx) {
    ThreadPool *pool = cpu_state(be)->pool;
    int nt = threadpool_size(pool);
    if (n <= 0) return;
    if (nt <= 1 || n * cost_per_item < 65536 || n < 2) {
        fn(ctx, 0, n);
        return;
    }
    int64_t n_tasks = (int64_t)nt * 4 < n ? (int64_t)nt * 4 : n;
    int64_t chunk = (n + n_tasks - 1) / n_tasks;
    chunk = (chunk + align - 1) / align * align;
    RangeJob job = {fn, ctx, n, chunk};
    threadpool_run(pool, (int)((n + chunk - 1) / chunk), range_task, &job);
}

int cpu_have_avx2(void) {
#if CPU_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
