/* Fiber stacks and context switching for the SIMT emulator. On x86-64 a hand-written
 * switch saves the callee-saved registers, MXCSR and the x87 control word and swaps
 * stack pointers: no syscall and no allocation per switch (swapcontext saves the signal
 * mask with a syscall each time); elsewhere ucontext is the fallback. Stacks are mmap'd
 * with a guard page and committed lazily by the kernel, so 1024 fibers of 64 KiB cost
 * only the pages they touch. Every switch is announced to ASan so it tracks which stack
 * is live. */
#include "simt_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if SIMT_ASM_SWITCH
/* simt_ctx_swap(save, load): push the callee-saved state, store rsp in *save, load rsp
 * from `load`, pop the state found there, return into that context. A new context
 * "returns" into simt_ctx_start, which calls the entry held in r13. */
__asm__(
    ".text\n"
    ".globl simt_ctx_swap\n"
    ".hidden simt_ctx_swap\n"
    ".type simt_ctx_swap,@function\n"
    ".p2align 4\n"
    "simt_ctx_swap:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $8, %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size simt_ctx_swap, .-simt_ctx_swap\n"
    ".globl simt_ctx_start\n"
    ".hidden simt_ctx_start\n"
    ".type simt_ctx_start,@function\n"
    ".p2align 4\n"
    "simt_ctx_start:\n"
    "    callq *%r13\n"
    "    ud2\n"
    ".size simt_ctx_start, .-simt_ctx_start\n");
extern "C" void simt_ctx_swap(void **save, void *load);
extern "C" void simt_ctx_start(void);
#endif

SimtThreadState::SimtThreadState()
    : stack_bytes(0), order(SIMT_ORDER_RANDOM), rng(1), run(nullptr), dyn_smem(nullptr), dyn_bytes(0) {
    const char *kb = getenv("SIMT_STACK_KB");
    stack_bytes = (size_t)(SIMT_ASAN ? 256 : 64) << 10;
    if (kb && atoi(kb) >= 16) stack_bytes = (size_t)atoi(kb) << 10;
    const char *order_env = getenv("SIMT_ORDER");
    if (order_env && !strcmp(order_env, "forward")) order = SIMT_ORDER_FORWARD;
    else if (order_env && !strcmp(order_env, "reverse")) order = SIMT_ORDER_REVERSE;
    const char *seed = getenv("SIMT_SEED");
    if (seed) rng = strtoull(seed, nullptr, 0);
    if (rng == 0) rng = 0x9e3779b97f4a7c15ULL; /* xorshift must not start at zero */
}

SimtThreadState::~SimtThreadState() {
    simt_stacks_release(this);
    free(dyn_smem);
}

SimtThreadState *simt_thread_state(void) {
    static thread_local SimtThreadState state;
    return &state;
}

bool simt_stacks_reserve(SimtThreadState *ts, unsigned n) {
    size_t guard = (size_t)sysconf(_SC_PAGESIZE);
    while (ts->stacks.size() < n) {
        void *m = mmap(nullptr, ts->stack_bytes + guard, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "simt: cannot map a %zu KiB fiber stack (%zu mapped so far)\n",
                    ts->stack_bytes >> 10, ts->stacks.size());
            return false;
        }
        mprotect(m, guard, PROT_NONE);
        ts->stacks.push_back(SimtStack{(char *)m + guard, ts->stack_bytes});
    }
    return true;
}

/* Also the way to drop fibers abandoned mid-kernel: their frames (and, under ASan, the
 * poisoned redzones of those frames) vanish with the mapping. */
void simt_stacks_release(SimtThreadState *ts) {
    size_t guard = (size_t)sysconf(_SC_PAGESIZE);
    for (SimtStack &s : ts->stacks) {
#if SIMT_ASAN
        __asan_unpoison_memory_region(s.base, s.size);
#endif
        munmap(s.base - guard, s.size + guard);
    }
    ts->stacks.clear();
}

void simt_fiber_prepare(SimtContext *ctx, const SimtStack *stack, void (*entry)(void)) {
    ctx->stack_bottom = stack->base;
    ctx->stack_size = stack->size;
#if SIMT_ASAN
    /* The previous fiber on this stack exited through a switch that never returned, so
     * the redzones of its entry frames are still poisoned; uninstrumented code (libc, the
     * ASan runtime itself) landing there would report them. The kernel's own frames
     * re-poison exactly what they use. */
    size_t dirty = stack->size < (16u << 10) ? stack->size : (16u << 10);
    __asan_unpoison_memory_region(stack->base + stack->size - dirty, dirty);
#endif
#if SIMT_ASM_SWITCH
    /* Initial frame, popped by simt_ctx_swap: MXCSR/FPU word, r15..r12, rbx, rbp, return
     * address. The return lands in simt_ctx_start with rsp 16-byte aligned for its call. */
    uintptr_t top = ((uintptr_t)stack->base + stack->size - 64) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = (uint64_t)(uintptr_t)&simt_ctx_start;
    *--sp = 0;                             /* rbp */
    *--sp = 0;                             /* rbx */
    *--sp = 0;                             /* r12 */
    *--sp = (uint64_t)(uintptr_t)entry;    /* r13 */
    *--sp = 0;                             /* r14 */
    *--sp = 0;                             /* r15 */
    *--sp = 0x1f80ULL | (0x037fULL << 32); /* default MXCSR, x87 control word */
    ctx->sp = sp;
#else
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack->base;
    ctx->uc.uc_stack.ss_size = stack->size;
    ctx->uc.uc_link = nullptr;
    makecontext(&ctx->uc, entry, 0);
#endif
}

void simt_context_switch(SimtContext *from, SimtContext *to, bool from_exits) {
#if SIMT_ASAN
    void *fake_stack = nullptr;
    __sanitizer_start_switch_fiber(from_exits ? nullptr : &fake_stack, to->stack_bottom, to->stack_size);
#else
    (void)from_exits;
#endif
#if SIMT_ASM_SWITCH
    simt_ctx_swap(&from->sp, to->sp);
#else
    swapcontext(&from->uc, &to->uc);
#endif
#if SIMT_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

/* First thing a new fiber does: completes ASan's switch and learns the scheduler's stack
 * bounds, which it needs to switch back. */
void simt_fiber_started(SimtContext *sched) {
#if SIMT_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &sched->stack_bottom, &sched->stack_size);
#else
    (void)sched;
#endif
}
