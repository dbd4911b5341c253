/* The SIMT emulator: CUDA's device-side language on the host, so that Piston's kernels
 * (the .cu files of kernels/cuda) compile with g++/clang++ and run in CI without a GPU. Kernels see it
 * only through kernels/cuda/cuda_port.h. Each CUDA thread of a block is a fiber with its
 * own stack (simt_fiber.cpp); a block's fibers run on the launching OS thread in a
 * shuffled order between synchronisation points (simt_block.cpp); warp collectives are
 * rendezvous matched by mask (simt_warp.cpp); a block that can make no progress is
 * reported and its launch fails instead of hanging (simt_report.cpp). Blocks of a grid
 * run one after another (simt_launch.cpp), so runs are deterministic for a given seed.
 *
 * Environment: SIMT_ORDER=random|forward|reverse (default random), SIMT_SEED (default 1),
 * SIMT_STACK_KB (fiber stack size; 64, or 256 under ASan). */
#ifndef PISTON_SIMT_H
#define PISTON_SIMT_H
#include <stddef.h>
#include <stdint.h>
#include "simt_types.h"
#include "simt_fp16.h"
#include "simt_intrin.h"
#include "simt_atomic.h"

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
/* All fibers of a block run on one OS thread, and one block runs at a time on it, so a
 * static thread_local is exactly one copy per block in flight. It is not refilled
 * between blocks (dynamic shared memory is): a block may see the previous block's data. */
#define __shared__ static thread_local

/* Built-in variables. The current fiber's registers are per-OS-thread state by nature
 * (which fiber runs is a property of the thread), hence the thread-locals; __thread
 * rather than thread_local because it needs no init wrapper on each access. */
struct SimtThreadRegs {
    uint3 thread_idx;
    unsigned linear, warp, lane; /* linear = x + y*bx + z*bx*by; warp = linear / 32 */
};
struct SimtBlockRegs {
    uint3 block_idx;
    dim3 block_dim, grid_dim;
};
extern __thread const SimtThreadRegs *simt_cur_thread;
extern __thread const SimtBlockRegs *simt_cur_block;
#define threadIdx (simt_cur_thread->thread_idx)
#define blockIdx (simt_cur_block->block_idx)
#define blockDim (simt_cur_block->block_dim)
#define gridDim (simt_cur_block->grid_dim)
/* A constant rather than a macro, so cudaDeviceProp::warpSize still parses. */
static constexpr int warpSize = 32;

/* One kernel launch as the runtime hands it to the emulator: body(closure) runs the
 * kernel for the current thread. */
struct SimtLaunch {
    const void *kernel; /* identity, for messages */
    dim3 grid, block;
    size_t dyn_smem;
    void (*body)(const void *closure);
    const void *closure;
};
enum { SIMT_OK = 0, SIMT_LAUNCH_FAILED = -1 };

/* Runs every block of the launch; SIMT_LAUNCH_FAILED (after one line on stderr) when a
 * block deadlocked, misused a collective or trapped: the rest of the launch is dropped
 * and the process can go on. The configuration must already be valid. */
int simt_run(const SimtLaunch *launch);
/* The launch's dynamic shared memory: 16-byte aligned, dyn_smem bytes, refilled with
 * 0xFF (NaN for floats) at the start of every block. */
void *simt_dynamic_shared(void);
/* Lets the other threads of the block run (used by __nanosleep, so spin-waits on
 * another thread of the same block make progress). */
void simt_yield(void);
/* Aborts the current launch with a message (__trap, and internal misuse checks). */
[[noreturn]] void simt_trap(const char *what, const char *file, int line);

/* Thread order within a block's passes, for this OS thread (tests switch it to show that
 * a kernel depends on it); seed 0 keeps the current random stream. */
enum { SIMT_ORDER_RANDOM, SIMT_ORDER_FORWARD, SIMT_ORDER_REVERSE };
void simt_set_order(int order, unsigned long long seed);

static inline void __nanosleep(unsigned ns) { (void)ns; simt_yield(); }
static inline void __trap(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    simt_trap("__trap()", file, line);
}

#include "simt_warp.h"
#endif
