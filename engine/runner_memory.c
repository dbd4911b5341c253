/* KV memory planning (see runner_memory.h). On the CPU the KV cache is a byte budget of its
 * own (--kv-cache-memory, as vLLM's CPU backend has VLLM_CPU_KVCACHE_SPACE): RAM is shared
 * with everything else on the machine and fresh pages cost nothing until used. On a device
 * the KV cache is what is left of the budget: total x --gpu-memory-utilization, less the
 * weights, scratch and buffers Piston allocated, less the activation peak a profile forward
 * at --max-num-batched-tokens measures, less a reserve for the CUDA graphs of decode steps. */
#include "base/log.h"
#include "engine/runner_memory.h"

#include <stdio.h>
#include <unistd.h>

#include "base/err.h"

#define GiB (1024.0 * 1024.0 * 1024.0)

/* The default CPU KV budget: 4 GiB (vLLM's CPU default), but at most a quarter of RAM. */
static int64_t default_cpu_kv_memory(void) {
    int64_t ram = (int64_t)sysconf(_SC_PHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
    int64_t cap = (int64_t)4 << 30;
    return ram > 0 && ram / 4 < cap ? ram / 4 : cap;
}

int runner_check_budget(Runner *r, const RunnerArgs *a, char *err, size_t errlen) {
    if (r->be->host_visible) return 0;
    r->budget = (int64_t)(r->total_memory * (double)a->gpu_memory_utilization);
    if (a->num_blocks_override <= 0 && r->free_at_start < r->budget)
        return err_set(err, errlen, -ENOSPC,
                       "free memory on the device (%.2f of %.2f GiB) is less than --gpu-memory-utilization %.2f asks "
                       "for (%.2f GiB): lower --gpu-memory-utilization or free memory used by other processes",
                       r->free_at_start / GiB, r->total_memory / GiB, a->gpu_memory_utilization, r->budget / GiB);
    return 0;
}

/* One forward of min(max tokens, max_model_len) tokens of one sequence on a KV cache just big
 * enough for it: whatever workspace the backend grows for its largest step is allocated now
 * and shows in mem_info afterwards. */
static int profile_forward(Runner *r, int block_size, char *err, size_t errlen) {
    const ModelConfig *c = &r->model->cfg;
    int T = r->max_tokens < r->max_blocks_per_seq * block_size ? r->max_tokens : r->max_blocks_per_seq * block_size;
    int nb = (T + block_size - 1) / block_size;
    KvCache kv;
    int rc = kv_cache_init(&kv, r->be, c, nb + 1, block_size, r->kv_dtype, err, errlen);
    if (rc) return rc;
    StepBuffers *h = &r->h;
    for (int i = 0; i < T; i++) h->tokens[i] = i % c->vocab_size, h->positions[i] = i, h->slots[i] = block_size + i;
    h->query_start[0] = 0, h->query_start[1] = T, h->seq_lens[0] = T;
    for (int j = 0; j < r->max_blocks_per_seq; j++) h->block_tables[j] = j < nb ? j + 1 : 0;
    size_t bytes = r->off_block_tables + (size_t)r->max_blocks_per_seq * sizeof(int32_t);
    Batch b = {r->d.tokens, r->d.positions,
               {T, 1, T, T, r->d.query_start, r->d.seq_lens, r->d.block_tables, r->max_blocks_per_seq, r->d.slots}};
    rc = backend_upload(r->be, r->dev_arena, r->host_arena, bytes, err, errlen);
    if (!rc) rc = model_forward(r->model, r->be, &kv, &b, &r->scratch, r->logits_dev, err, errlen);
    if (!rc) rc = backend_synchronize(r->be, err, errlen);
    kv_cache_free(&kv, r->be);
    return rc;
}

/* Bytes for the KV cache on a device, after the profile forward. */
static int64_t device_kv_budget(Runner *r, const RunnerArgs *a, char *err, size_t errlen) {
    int64_t free_before, total, free_after;
    if (r->be->ops->mem_info(r->be, &free_before, &total)) return err_set(err, errlen, -EIO, "%s", r->be->err);
    int rc = profile_forward(r, a->block_size, err, errlen);
    if (rc) return rc;
    if (r->be->ops->mem_info(r->be, &free_after, &total)) return err_set(err, errlen, -EIO, "%s", r->be->err);
    r->activation_peak = free_before - free_after; /* what the largest step grew */
    /* what instantiated graphs take: a few MiB each for their nodes and launch parameters */
    r->graph_reserve = r->graphs_on ? ((int64_t)64 << 20) + ((int64_t)4 << 20) * r->n_buckets : 0;
    int64_t others = total - r->free_at_start; /* held before Piston started */
    int64_t used = total - free_after;          /* everyone's, Piston's allocations and workspace included */
    int64_t kv = r->budget - (used - others) - r->graph_reserve;
    if (a->log)
        log_line(LOG_INFO, "memory: budget %.2f GiB (--gpu-memory-utilization %.2f of %.2f GiB); weights %.2f GiB, "
                "activations %.2f GiB + profiled peak %.2f GiB at %d tokens, graph reserve %.2f GiB, KV cache "
                "%.2f GiB\n",
                r->budget / GiB, a->gpu_memory_utilization, total / GiB, r->weight_bytes / GiB,
                r->scratch_bytes / GiB, r->activation_peak / GiB, r->max_tokens, r->graph_reserve / GiB,
                kv > 0 ? kv / GiB : 0.0);
    if (kv <= 0)
        return err_set(err, errlen, -ENOSPC,
                       "no memory left for the KV cache: Piston holds %.2f GiB of a budget of %.2f GiB "
                       "(--gpu-memory-utilization %.2f of %.2f GiB): raise --gpu-memory-utilization or lower "
                       "--max-num-batched-tokens / --max-num-seqs",
                       (used - others) / GiB, r->budget / GiB, a->gpu_memory_utilization, total / GiB);
    return kv;
}

int runner_plan_kv_blocks(Runner *r, const RunnerArgs *a, int64_t *num_blocks, char *err, size_t errlen) {
    const ModelConfig *c = &r->model->cfg;
    int64_t per_block = kv_cache_bytes_per_token(c, r->kv_dtype) * a->block_size;
    int64_t blocks;
    const char *fix = "raise --kv-cache-memory or lower --max-model-len";
    if (a->num_blocks_override > 0) {
        /* a device still runs the profile forward: it grows the scratch before any graph */
        int rc = r->be->host_visible ? 0 : profile_forward(r, a->block_size, err, errlen);
        if (rc) return rc;
        blocks = a->num_blocks_override;
        fix = "raise --num-gpu-blocks-override or lower --max-model-len";
    } else if (r->be->host_visible) {
        blocks = (a->kv_cache_memory > 0 ? a->kv_cache_memory : default_cpu_kv_memory()) / per_block;
    } else {
        int64_t kv = device_kv_budget(r, a, err, errlen);
        if (kv < 0) return (int)kv;
        blocks = kv / per_block;
        fix = "raise --gpu-memory-utilization or lower --max-model-len";
    }
    int64_t need = r->max_blocks_per_seq;
    if (blocks - 1 < need)
        return err_set(err, errlen, -ENOSPC,
                       "the KV cache (%lld blocks of %d tokens, %.2f GiB) cannot hold one request of --max-model-len "
                       "%d (%lld blocks): %s",
                       (long long)blocks, a->block_size, blocks * per_block / GiB, a->max_model_len, (long long)need,
                       fix);
    if (blocks > INT32_MAX / 2) blocks = INT32_MAX / 2; /* block ids are int32 */
    *num_blocks = blocks;
    return 0;
}
