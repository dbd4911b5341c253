/* Internals of the SIMT emulator shared by its .cpp files (never included by kernels):
 * fibers and their stacks, the run state of the block in flight, and the per-OS-thread
 * emulator state. Fiber states:
 *
 *   READY --(__syncthreads)--> BARRIER --(last thread arrives)--> READY
 *   READY --(warp collective)--> WARP --(mask complete)--> READY
 *   READY --(kernel returns)--> EXITED
 *
 * Only the scheduler (simt_block.cpp) resumes fibers; a fiber only switches back to it. */
#ifndef PISTON_SIMT_INTERNAL_H
#define PISTON_SIMT_INTERNAL_H
#include "simt.h"
#include <string>
#include <vector>

#if defined(__x86_64__) && !defined(SIMT_FORCE_UCONTEXT)
#define SIMT_ASM_SWITCH 1
#else
#define SIMT_ASM_SWITCH 0
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMT_ASAN 1
#endif
#endif
#ifndef SIMT_ASAN
#define SIMT_ASAN 0
#endif

/* A saved execution context: stack pointer (hand-written switch) or ucontext, plus the
 * stack bounds ASan must be told about when switching to it. */
struct SimtContext {
    void *sp;
#if !SIMT_ASM_SWITCH
    ucontext_t uc;
#endif
    const void *stack_bottom;
    size_t stack_size;
};

struct SimtStack {
    char *base; /* lowest usable byte; a PROT_NONE guard page lies below */
    size_t size;
};

enum SimtFiberState { SIMT_READY, SIMT_AT_BARRIER, SIMT_AT_WARP, SIMT_EXITED };

struct SimtFiber {
    SimtThreadRegs regs;
    SimtContext ctx;
    int state;
    /* Where it waits and with what (barrier kind or warp op and operands). */
    const char *file;
    int line;
    int op, arg, width;
    unsigned mask, size;
    uint64_t value, result;
    const void *gather_src;
    void *gather_dst;
};

/* Per-warp bitmasks that let arrivals skip scanning the warp in the common case. */
struct SimtWarpState {
    unsigned at_collective;      /* lanes waiting at a warp collective */
    unsigned activemask_waiting; /* lanes waiting in __activemask */
};

struct SimtBlockRun {
    const SimtLaunch *launch;
    SimtBlockRegs regs;
    SimtFiber *fibers; /* [n] */
    unsigned n, at_barrier, live;
    SimtFiber *current;
    std::vector<SimtWarpState> warps;
    std::vector<SimtFiber *> ready, next; /* this pass, and woken for the next */
    SimtContext sched;
    bool failed;
};

/* Per-OS-thread emulator state: blocks in flight run on the thread that launched them. */
struct SimtThreadState {
    std::vector<SimtStack> stacks;
    std::vector<SimtFiber> fibers;
    size_t stack_bytes;
    int order;
    uint64_t rng;
    SimtBlockRun *run; /* the block in flight, or null */
    void *dyn_smem;
    size_t dyn_bytes;
    SimtThreadState();
    ~SimtThreadState();
};
SimtThreadState *simt_thread_state(void);

/* simt_fiber.cpp */
bool simt_stacks_reserve(SimtThreadState *ts, unsigned n);
void simt_stacks_release(SimtThreadState *ts);
void simt_fiber_prepare(SimtContext *ctx, const SimtStack *stack, void (*entry)(void));
void simt_context_switch(SimtContext *from, SimtContext *to, bool from_exits);
void simt_fiber_started(SimtContext *sched);

/* simt_block.cpp */
int simt_block_run(SimtThreadState *ts, SimtBlockRun *run);
SimtBlockRun *simt_current_run(const char *what, const char *file, int line);
void simt_wait(SimtBlockRun *run, SimtFiber *f); /* back to the scheduler until woken */
void simt_wake(SimtBlockRun *run, SimtFiber *f);
/* Prints "<launch>: <message>[<who waits where>]" and abandons the launch from inside a
 * fiber. printf-style, because the fiber never returns: a std::string argument built by
 * the caller would never be destroyed. */
[[noreturn]] void simt_fail(SimtBlockRun *run, bool with_waits, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* simt_warp.cpp: resolves __activemask waits once no lane of the warp can run. */
void simt_warp_settle(SimtBlockRun *run, unsigned warp);

/* simt_report.cpp */
const char *simt_op_name(int op);
const char *simt_barrier_name(int kind);
std::string simt_launch_desc(const SimtBlockRun *run);
std::string simt_wait_desc(const SimtBlockRun *run); /* who waits where, who exited */
std::string simt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
