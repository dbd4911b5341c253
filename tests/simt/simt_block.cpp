/* The block scheduler of the SIMT emulator: runs the fibers of one block in passes. Each
 * pass takes the runnable fibers in an order chosen per pass (a seeded random
 * permutation by default, so code that forgets a __syncthreads reads stale shared data
 * and fails its test), and runs each until it waits or exits; fibers woken during the
 * pass form the next one. A pass with nothing runnable while threads still wait is a
 * deadlock: it is reported and the launch fails. Also here: __syncthreads and its
 * counting forms, simt_yield, and failing a launch from inside a fiber. */
#include "simt_internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>

/* The built-in variables of the fiber running on this OS thread (see simt.h). */
__thread const SimtThreadRegs *simt_cur_thread;
__thread const SimtBlockRegs *simt_cur_block;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void order_pass(SimtThreadState *ts, std::vector<SimtFiber *> &v) {
    if (ts->order == SIMT_ORDER_FORWARD || v.size() < 2) return;
    if (ts->order == SIMT_ORDER_REVERSE) { std::reverse(v.begin(), v.end()); return; }
    /* Fisher-Yates; the index is a multiply-high of 32 random bits (no division). */
    for (size_t i = v.size() - 1; i > 0; i--)
        std::swap(v[i], v[(size_t)(((rng_next(&ts->rng) >> 32) * (uint64_t)(i + 1)) >> 32)]);
}

static void fiber_entry(void) {
    SimtBlockRun *run = simt_thread_state()->run;
    simt_fiber_started(&run->sched);
    SimtFiber *f = run->current;
    run->launch->body(run->launch->closure);
    f->state = SIMT_EXITED;
    run->live--;
    simt_warp_settle(run, f->regs.warp);
    simt_context_switch(&f->ctx, &run->sched, true);
    abort(); /* an exited fiber is never resumed */
}

int simt_block_run(SimtThreadState *ts, SimtBlockRun *run) {
    run->ready.clear();
    run->next.clear();
    for (unsigned i = 0; i < run->n; i++) {
        SimtFiber *f = &run->fibers[i];
        f->state = SIMT_READY;
        simt_fiber_prepare(&f->ctx, &ts->stacks[i], fiber_entry);
        run->ready.push_back(f);
    }
    run->at_barrier = 0;
    run->warps.assign((run->n + 31) / 32, SimtWarpState{0, 0});
    run->live = run->n;
    run->failed = false;
    simt_cur_block = &run->regs;
    ts->run = run;
    while (run->live > 0 && !run->failed) {
        if (run->ready.empty()) {
            fprintf(stderr, "%s: deadlock: %s\n", simt_launch_desc(run).c_str(), simt_wait_desc(run).c_str());
            run->failed = true;
            break;
        }
        order_pass(ts, run->ready);
        for (SimtFiber *f : run->ready) {
            run->current = f;
            simt_cur_thread = &f->regs;
            simt_context_switch(&run->sched, &f->ctx, false);
            if (run->failed) break;
        }
        run->ready.clear();
        std::swap(run->ready, run->next);
    }
    ts->run = nullptr;
    simt_cur_thread = nullptr;
    simt_cur_block = nullptr;
    return run->failed ? SIMT_LAUNCH_FAILED : SIMT_OK;
}

SimtBlockRun *simt_current_run(const char *what, const char *file, int line) {
    SimtBlockRun *run = simt_thread_state()->run;
    if (!run || !run->current) {
        fprintf(stderr, "simt: %s called outside a kernel at %s:%d\n", what, file, line);
        abort();
    }
    return run;
}

void simt_wait(SimtBlockRun *run, SimtFiber *f) {
    simt_warp_settle(run, f->regs.warp);
    simt_context_switch(&f->ctx, &run->sched, false);
}

void simt_wake(SimtBlockRun *run, SimtFiber *f) {
    f->state = SIMT_READY;
    run->next.push_back(f);
}

void simt_fail(SimtBlockRun *run, bool with_waits, const char *fmt, ...) {
    {
        char why[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        std::string line = simt_launch_desc(run) + ": " + why + (with_waits ? simt_wait_desc(run) : "");
        fprintf(stderr, "%s\n", line.c_str());
    } /* destroyed before the fiber is abandoned */
    run->failed = true;
    SimtFiber *f = run->current;
    simt_context_switch(&f->ctx, &run->sched, false);
    abort(); /* a failed launch never resumes its fibers */
}

void simt_trap(const char *what, const char *file, int line) {
    SimtBlockRun *run = simt_current_run(what, file, line);
    simt_fail(run, false, "thread %u called %s at %s:%d", run->current->regs.linear, what, file, line);
}

void simt_yield(void) {
    SimtBlockRun *run = simt_current_run("__nanosleep", "", 0);
    simt_wake(run, run->current);
    simt_wait(run, run->current);
}

static bool same_site(const SimtFiber *a, const SimtFiber *b) {
    return a->line == b->line && a->op == b->op && (a->file == b->file || !strcmp(a->file, b->file));
}

/* Every thread of the block must arrive, at the same call site: a thread that returned
 * early or waits at another barrier is a bug CUDA leaves undefined, reported here. */
int simt_barrier(int kind, int pred, const char *file, int line) {
    SimtBlockRun *run = simt_current_run(simt_barrier_name(kind), file, line);
    SimtFiber *f = run->current;
    f->state = SIMT_AT_BARRIER;
    f->op = kind;
    f->value = (uint64_t)pred;
    f->file = file;
    f->line = line;
    if (++run->at_barrier == run->n) {
        unsigned count = 0;
        for (unsigned i = 0; i < run->n; i++) {
            if (!same_site(&run->fibers[i], &run->fibers[0]))
                simt_fail(run, true, "threads wait at different barriers: ");
            count += (unsigned)run->fibers[i].value;
        }
        int result = kind == SIMT_BAR_COUNT ? (int)count
                   : kind == SIMT_BAR_AND   ? count == run->n
                   : kind == SIMT_BAR_OR    ? count > 0 : 0;
        run->at_barrier = 0;
        for (unsigned i = 0; i < run->n; i++) {
            run->fibers[i].result = (uint64_t)result;
            simt_wake(run, &run->fibers[i]);
        }
    }
    simt_wait(run, f);
    return (int)f->result;
}
