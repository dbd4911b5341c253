/* The CPU backend object: its memory (ordinary host memory, so upload and download are
 * memcpy and weights are read in place from the mapped file), the thread pool and scratch
 * state (CpuState) that the ops share, and the op table. Nothing here computes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_backend.h"

/* 64 bytes: a cache line and an AVX-512 register, the widest load the kernels make */
#define CPU_ALIGN 64

static void *cpu_alloc(Backend *be, size_t bytes) {
    /* aligned_alloc of a large size maps fresh pages: untouched memory (a KV cache mostly
     * empty) costs nothing until it is used */
    size_t n = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    void *p = aligned_alloc(CPU_ALIGN, n ? n : CPU_ALIGN);
    if (!p) backend_fail(be, -ENOMEM, "out of memory allocating %.1f MiB", bytes / 1048576.0);
    return p;
}

static void cpu_free(Backend *be, void *p) { free(p); }

static int cpu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_synchronize(Backend *be) { return 0; } /* every op completes before it returns */

static int cpu_mem_info(Backend *be, int64_t *free_bytes, int64_t *total_bytes) {
    long page = sysconf(_SC_PAGESIZE), avail = sysconf(_SC_AVPHYS_PAGES), phys = sysconf(_SC_PHYS_PAGES);
    if (page <= 0 || avail < 0 || phys <= 0) return backend_fail(be, -EIO, "cannot read the memory size");
    *free_bytes = (int64_t)avail * page;
    *total_bytes = (int64_t)phys * page;
    return 0;
}

static void cpu_destroy(Backend *be) {
    CpuState *st = cpu_state(be);
    if (st) {
        if (st->pool) threadpool_destroy(st->pool);
        free(st->scratch);
        free(st);
    }
    free(be);
}

static const BackendOps cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .mem_info = cpu_mem_info,
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .copy = cpu_copy,
    .destroy = cpu_destroy,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .add_rmsnorm = cpu_add_rmsnorm,
    .matmul = cpu_matmul,
    .matmul_n = cpu_matmul_n,
    .add_bias = cpu_add_bias,
    .add = cpu_add,
    .rope = cpu_rope,
    .silu_mul = cpu_silu_mul,
    .kv_write = cpu_kv_write,
    .attention = cpu_attention,
    .kv_copy_blocks = cpu_kv_copy_blocks,
    .gather_last = cpu_gather_last,
    .gather_rows = cpu_gather_rows,
    .fill_random = cpu_fill_random,
};

/* "AMD EPYC 9454P 48-Core Processor" from /proc/cpuinfo, or "unknown CPU" */
static void cpu_model_name(char *out, size_t n) {
    snprintf(out, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\n")] = 0;
        snprintf(out, n, "%s", colon);
        break;
    }
    fclose(f);
}

int cpu_backend_create(const BackendOptions *o, Backend **out, char *err, size_t errlen) {
    *out = NULL;
    int n_threads = o->n_threads;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    Backend *be = calloc(1, sizeof *be);
    CpuState *st = calloc(1, sizeof *st);
    if (!be || !st || !(st->pool = threadpool_create(n_threads))) {
        free(st);
        free(be);
        snprintf(err, errlen, "out of memory creating the CPU backend (%d threads)", n_threads);
        return -ENOMEM;
    }
    be->ops = &cpu_ops;
    be->name = "cpu";
    be->host_visible = 1;
    be->opt = *o;
    be->opt.device = "cpu";
    be->opt.n_threads = n_threads;
    be->impl = st;
    char model[96];
    cpu_model_name(model, sizeof model);
    snprintf(be->device_name, sizeof be->device_name, "%s, %d threads", model, n_threads);
    *out = be;
    return 0;
}
