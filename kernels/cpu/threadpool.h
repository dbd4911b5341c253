/* A small persistent thread pool for the CPU backend. threadpool_run(pool, n_tasks, fn, ctx)
 * calls fn(ctx, task, thread) for every task in [0, n_tasks) across the pool's threads (the
 * caller is thread 0) and returns when all are done. Tasks are handed out dynamically, so a
 * task's result must not depend on which thread runs it: each output element is computed
 * whole by one task (this is what keeps results independent of thread count and batch). */
#ifndef PISTON_THREADPOOL_H
#define PISTON_THREADPOOL_H

typedef struct ThreadPool ThreadPool;
typedef void (*ThreadTask)(void *ctx, int task, int thread);

ThreadPool *threadpool_create(int n_threads); /* n_threads >= 1 (1: no extra threads) */
void threadpool_destroy(ThreadPool *p);
int threadpool_size(const ThreadPool *p);
void threadpool_run(ThreadPool *p, int n_tasks, ThreadTask fn, void *ctx);

#endif
