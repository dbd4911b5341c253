/* The CPU backend's persistent thread pool (see threadpool.h). Decode calls a couple of
 * hundred parallel ops per token, each a few tens of microseconds long, so the cost that
 * matters is the hand-off: workers spin on a generation counter for a while after each run
 * (a new run then starts them within a fraction of a microsecond) and only fall asleep on a
 * futex after about a millisecond without work, so an idle server does not burn its cores.
 *
 * A run is one 64-bit word, `work` = n_tasks << 32 | next task, claimed with fetch_add, plus
 * a count of finished tasks. The caller returns when all tasks are finished, not when all
 * workers have checked in: on a busy machine a worker the OS has not scheduled yet would
 * otherwise hold up every run. A worker that wakes late is harmless: its fetch_add either
 * lands on an exhausted word (the increment is overwritten by the next run's store) or on a
 * newer run's word, in which case the index is a genuine claim in that run. fn and ctx are
 * read only after a successful claim, when the run cannot have finished, so they are that
 * run's. */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "kernels/cpu/threadpool.h"

/* How long an idle worker spins before sleeping. Long enough to bridge the gaps between
 * the ops of one forward pass, short enough that an idle engine sleeps. */
#define SPIN_NS 1000000LL

typedef struct Worker {
    ThreadPool *pool;
    int id;
} Worker;

struct ThreadPool {
    int n; /* threads including the caller */
    pthread_t *threads;
    Worker *workers;
    /* the current run, written by the caller before it publishes `work` */
    ThreadTask fn;
    void *ctx;
    /* each on its own cache line: workers poll gen while tasks hammer work and done */
    _Alignas(64) atomic_uint gen; /* futex word: bumped once per run */
    _Alignas(64) _Atomic uint64_t work;
    _Alignas(64) atomic_int done; /* tasks of the current run finished */
    _Alignas(64) atomic_int sleepers; /* workers blocked in futex_wait (or about to be) */
    atomic_int stop;
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}


static void futex_wait(atomic_uint *addr, unsigned val) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *addr) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Claims and runs tasks of whatever run `work` currently holds until it is exhausted. */
static void run_tasks(ThreadPool *p, int thread) {
    for (;;) {
        uint64_t w = atomic_fetch_add_explicit(&p->work, 1, memory_order_acquire);
        uint32_t i = (uint32_t)w, n = (uint32_t)(w >> 32);
        if (i >= n) return;
        p->fn(p->ctx, (int)i, thread);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

/* Waits until gen differs from seen; returns the new value. */
static unsigned wait_for_run(ThreadPool *p, unsigned seen) {
    unsigned g;
    long long deadline = 0;
    for (int spins = 0;; spins++) {
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
        if ((spins & 1023) == 1023) {
            long long t = base_now_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) break;
            sched_yield(); /* if the machine is oversubscribed, let the caller's thread run */
        }
    }
    /* Sleep. sleepers and gen are both seq_cst, so either the caller sees our sleepers
     * increment and wakes us, or we see its gen increment before blocking; the kernel
     * re-checks gen == seen atomically inside futex_wait. */
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->gen)) == seen) futex_wait(&p->gen, seen);
    atomic_fetch_sub(&p->sleepers, 1);
    return g;
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    ThreadPool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_run(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        run_tasks(p, w->id);
    }
    return NULL;
}

ThreadPool *threadpool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    ThreadPool *p = aligned_alloc(64, (sizeof(ThreadPool) + 63) / 64 * 64);
    if (!p) return NULL;
    *p = (ThreadPool){.n = n_threads};
    atomic_init(&p->gen, 0);
    atomic_init(&p->work, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads, sizeof *p->threads);
        p->workers = calloc((size_t)n_threads, sizeof *p->workers);
        if (!p->threads || !p->workers) {
            free(p->threads);
            free(p->workers);
            free(p);
            return NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            p->workers[i] = (Worker){p, i};
            if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) {
                p->n = i; /* destroy joins the ones that started */
                threadpool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void threadpool_destroy(ThreadPool *p) {
    if (!p) return;
    if (p->n > 1) {
        atomic_store(&p->stop, 1);
        atomic_fetch_add(&p->gen, 1);
        futex_wake_all(&p->gen);
        for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    }
    free(p->threads);
    free(p->workers);
    free(p);
}

int threadpool_size(const ThreadPool *p) { return p->n; }

void threadpool_run(ThreadPool *p, int n_tasks, ThreadTask fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (p->n == 1 || n_tasks == 1) {
        /* nothing to share: skip the hand-off entirely */
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->work, (uint64_t)(uint32_t)n_tasks << 32, memory_order_release);
    atomic_fetch_add(&p->gen, 1); /* seq_cst, paired with the sleepers check in wait_for_run */
    if (atomic_load(&p->sleepers) > 0) futex_wake_all(&p->gen);
    run_tasks(p, 0);
    /* Only tasks another thread is still running remain. Yield now and then in case the
     * machine is oversubscribed and that thread needs our core to finish. */
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks; spins++) {
        cpu_relax();
        if ((spins & 1023) == 1023) sched_yield();
    }
}
