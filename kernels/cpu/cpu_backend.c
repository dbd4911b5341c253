/* The CPU backend object: creates the thread pool and the scratch state (CpuState) that the
 * ops in matmul*.c, ops.c and attention.c share, and fills the op table that models/ calls
 * through kernels/backend.h. Nothing here computes; it only wires the parts together and
 * owns their lifetime. */
#include <stdlib.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"

static const BackendOps cpu_ops = {
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .add_bias = cpu_add_bias,
    .add = cpu_add,
    .rope = cpu_rope,
    .silu_mul = cpu_silu_mul,
    .kv_write = cpu_kv_write,
    .attention = cpu_attention,
    .kv_copy_blocks = cpu_kv_copy_blocks,
    .gather_rows = cpu_gather_rows,
};

Backend *cpu_backend_create(int n_threads, MatmulPrecision precision) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    Backend *be = calloc(1, sizeof *be);
    CpuState *st = calloc(1, sizeof *st);
    if (!be || !st) goto fail;
    st->pool = threadpool_create(n_threads);
    if (!st->pool) goto fail;
    be->ops = &cpu_ops;
    be->name = "cpu";
    be->n_threads = n_threads;
    be->precision = precision;
    be->impl = st;
    return be;
fail:
    free(st);
    free(be);
    return NULL;
}

void cpu_backend_destroy(Backend *be) {
    if (!be) return;
    CpuState *st = cpu_state(be);
    if (st) {
        if (st->pool) threadpool_destroy(st->pool);
        free(st->scratch);
        if (st->attn_scratch) {
            /* one buffer per pool thread if ever used; attention.c keeps its tiles on the stack */
            for (int i = 0; i < be->n_threads; i++) free(st->attn_scratch[i]);
            free(st->attn_scratch);
        }
        free(st);
    }
    free(be);
}
