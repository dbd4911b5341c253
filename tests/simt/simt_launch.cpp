/* Running a launch in the SIMT emulator: blocks in x, then y, then z order on the calling
 * thread, each with fresh fibers on the thread's pooled stacks and dynamic shared memory
 * refilled with 0xFF. A failed block ends the launch; the stacks of its abandoned fibers
 * are unmapped (their frames never unwind), so the next launch starts clean. */
#include "simt_internal.h"
#include <stdio.h>
#include <stdlib.h>

void simt_set_order(int order, unsigned long long seed) {
    SimtThreadState *ts = simt_thread_state();
    ts->order = order;
    if (seed) ts->rng = seed;
}

void *simt_dynamic_shared(void) {
    SimtThreadState *ts = simt_thread_state();
    if (!ts->run) {
        fprintf(stderr, "simt: dynamic shared memory used outside a kernel\n");
        abort();
    }
    return ts->dyn_smem;
}

static void init_fiber(SimtFiber *f, const dim3 &block, unsigned i) {
    memset(f, 0, sizeof *f);
    f->regs.thread_idx.x = i % block.x;
    f->regs.thread_idx.y = i / block.x % block.y;
    f->regs.thread_idx.z = i / (block.x * block.y);
    f->regs.linear = i;
    f->regs.warp = i / 32;
    f->regs.lane = i % 32;
}

int simt_run(const SimtLaunch *l) {
    SimtThreadState *ts = simt_thread_state();
    if (ts->run) {
        fprintf(stderr, "simt: a kernel launched another kernel; dynamic parallelism is not emulated\n");
        return SIMT_LAUNCH_FAILED;
    }
    unsigned n = l->block.x * l->block.y * l->block.z;
    if (!simt_stacks_reserve(ts, n)) return SIMT_LAUNCH_FAILED;
    if (ts->fibers.size() < n) ts->fibers.resize(n);
    /* Exactly dyn_smem bytes (at least one), so ASan flags a kernel overrunning it. */
    free(ts->dyn_smem);
    ts->dyn_smem = nullptr;
    ts->dyn_bytes = l->dyn_smem;
    if (posix_memalign(&ts->dyn_smem, 16, l->dyn_smem ? l->dyn_smem : 1)) {
        fprintf(stderr, "simt: cannot allocate %zu bytes of dynamic shared memory\n", l->dyn_smem);
        return SIMT_LAUNCH_FAILED;
    }
    SimtBlockRun run;
    run.launch = l;
    run.regs.block_dim = l->block;
    run.regs.grid_dim = l->grid;
    run.fibers = ts->fibers.data();
    run.n = n;
    run.current = nullptr;
    int rc = SIMT_OK;
    for (unsigned z = 0; z < l->grid.z && rc == SIMT_OK; z++)
        for (unsigned y = 0; y < l->grid.y && rc == SIMT_OK; y++)
            for (unsigned x = 0; x < l->grid.x && rc == SIMT_OK; x++) {
                run.regs.block_idx = uint3{x, y, z};
                memset(ts->dyn_smem, 0xff, l->dyn_smem);
                for (unsigned i = 0; i < n; i++) init_fiber(&ts->fibers[i], l->block, i);
                rc = simt_block_run(ts, &run);
            }
    if (rc != SIMT_OK) simt_stacks_release(ts);
    return rc;
}
