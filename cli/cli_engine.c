/* Engine flags with vLLM's names, shared by `piston serve` and `piston bench throughput`,
 * so that a flag tuned in a benchmark means the same thing in production. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Memory sizes in binary multiples, as memory is sized: 64K, 512M, 2G, 2GiB, 2GB. */
int64_t cli_parse_bytes(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024.0 * 1024 * 1024, end++;
    if (mul > 1 && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "b"))) end += strlen(end);
    if (errno || *end || end == s || !(v > 0) || v * mul > 9e18) return -1;
    return (int64_t)(v * mul);
}

int cli_parse_kv_cache_dtype(const char *v, int *out) {
    if (!strcmp(v, "auto")) *out = KV_CACHE_DTYPE_AUTO;
    else if (!strcmp(v, "f16") || !strcmp(v, "float16") || !strcmp(v, "half")) *out = DT_F16;
    else if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16")) *out = DT_BF16;
    else if (!strcmp(v, "f32") || !strcmp(v, "float32")) *out = DT_F32;
    else return cli_error("--kv-cache-dtype expects auto, f16, bf16 or f32, got '%s'", v), -1;
    return 0;
}

int cli_engine_flag(int argc, char **argv, int *i, EngineArgs *a) {
    const char *f = argv[*i];
    if (!strcmp(f, "--enable-prefix-caching")) return a->enable_prefix_caching = 1, 1;
    if (!strcmp(f, "--no-enable-prefix-caching")) return a->enable_prefix_caching = 0, 1;
    if (!strcmp(f, "--disable-log-stats")) return a->log_stats = 0, 1;
    if (!strcmp(f, "--enforce-eager")) return a->enforce_eager = 1, 1;
    static const char *const with_value[] = {"--threads", "-t", "--precision", "--max-model-len", "--max-num-seqs",
                                             "--max-num-batched-tokens", "--block-size", "--kv-cache-memory",
                                             "--kv-cache-dtype", "--num-gpu-blocks-override", "--gpu-memory-utilization",
                                             "--chat-template", "--device", "--dtype", "--load-format",
                                             "--tensor-parallel-size", "-tp", "--generation-config"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++) known |= !strcmp(f, with_value[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) {
        cli_error("%s needs a value", f);
        return -1;
    }
    const char *v = argv[++*i];
    int rc = 0;
    if (!strcmp(f, "--threads") || !strcmp(f, "-t")) rc = cli_parse_int(f, v, 1, 1024, &a->backend.n_threads);
    else if (!strcmp(f, "--max-model-len")) rc = cli_parse_int(f, v, 1, 1 << 24, &a->max_model_len);
    else if (!strcmp(f, "--max-num-seqs")) rc = cli_parse_int(f, v, 1, 1 << 16, &a->max_num_seqs);
    else if (!strcmp(f, "--max-num-batched-tokens")) rc = cli_parse_int(f, v, 1, 1 << 20, &a->max_num_batched_tokens);
    else if (!strcmp(f, "--block-size")) rc = cli_parse_int(f, v, 1, 1024, &a->block_size);
    else if (!strcmp(f, "--num-gpu-blocks-override")) rc = cli_parse_int(f, v, 2, 1 << 30, &a->num_gpu_blocks_override);
    else if (!strcmp(f, "--chat-template")) a->chat_template = v;
    else if (!strcmp(f, "--generation-config")) a->generation_config = v; /* auto | vllm | FOLDER */
    else if (!strcmp(f, "--precision")) {
        if (!strcmp(v, "q8")) a->backend.precision = MATMUL_Q8;
        else if (!strcmp(v, "f32")) a->backend.precision = MATMUL_F32;
        else cli_error("--precision expects q8 or f32, got '%s'", v), rc = -1;
    } else if (!strcmp(f, "--kv-cache-dtype")) {
        rc = cli_parse_kv_cache_dtype(v, &a->kv_cache_dtype);
    } else if (!strcmp(f, "--kv-cache-memory")) {
        a->kv_cache_memory = cli_parse_bytes(v);
        if (a->kv_cache_memory <= 0) cli_error("--kv-cache-memory expects a size in bytes (e.g. 4G, 2000000000), got '%s'", v), rc = -1;
    } else if (!strcmp(f, "--gpu-memory-utilization")) {
        char *end;
        a->gpu_memory_utilization = strtof(v, &end);
        if (*end || end == v || !(a->gpu_memory_utilization > 0 && a->gpu_memory_utilization <= 1))
            cli_error("--gpu-memory-utilization expects a fraction in (0, 1], got '%s'", v), rc = -1;
    } else if (!strcmp(f, "--device")) {
        if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto"))
            cli_error("--device expects cpu, cuda or auto, got '%s'", v), rc = -1;
        else if (!strcmp(v, "cuda") && !backend_have_cuda())
            cli_error("--device cuda: this build of Piston has no CUDA backend (nvcc was not found when it was "
                      "built); use --device cpu"), rc = -1;
        a->backend.device = v;
    } else if (!strcmp(f, "--dtype")) {
        if (!strcmp(v, "auto")) a->dtype = DT_COUNT;
        else if (!strcmp(v, "bfloat16")) a->dtype = DT_BF16;
        else if (!strcmp(v, "float16") || !strcmp(v, "half")) a->dtype = DT_F16;
        else if (!strcmp(v, "float32") || !strcmp(v, "float")) a->dtype = DT_F32;
        else cli_error("--dtype expects auto, bfloat16, float16 (half) or float32 (float), got '%s'", v), rc = -1;
    } else if (!strcmp(f, "--load-format")) {
        if (!strcmp(v, "dummy")) a->load_dummy = 1;
        else if (strcmp(v, "auto") && strcmp(v, "gguf"))
            if (strcmp(v, "safetensors")) cli_error("--load-format %s is not supported (supported: auto, gguf, safetensors, dummy)", v), rc = -1;
    } else if (!strcmp(f, "--tensor-parallel-size") || !strcmp(f, "-tp")) {
        if (strcmp(v, "1")) cli_error("%s %s: tensor parallelism needs the CUDA backend; only 1 is supported", f, v), rc = -1;
    }
    return rc ? -1 : 1;
}
