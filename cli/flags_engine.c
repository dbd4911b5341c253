/* The engine's flags, with vLLM's names, shared by every command that runs a model (serve,
 * generate, run, eval, bench), so that a flag tuned in a benchmark means the same in
 * production. vLLM's flags that Piston does not have are in flags_vllm.c. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "cli/cli.h"

static int parse_device(const char *v, void *base, char *err, size_t n) {
    EngineArgs *a = base;
    if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto"))
        return err_set(err, n, -EINVAL, "--device expects auto, cpu or cuda, got '%s'", v);
    if (!strcmp(v, "cuda") && !backend_have_cuda())
        return err_set(err, n, -ENODEV, "--device cuda: this build of Piston has no CUDA backend (nvcc was not found "
                                        "when it was built); use --device cpu");
    a->backend.device = v;
    return 0;
}

static int parse_precision(const char *v, void *base, char *err, size_t n) {
    EngineArgs *a = base;
    if (!strcmp(v, "q8")) a->backend.precision = MATMUL_Q8;
    else if (!strcmp(v, "f32")) a->backend.precision = MATMUL_F32;
    else return err_set(err, n, -EINVAL, "--precision expects q8 or f32, got '%s'", v);
    return 0;
}

static int parse_kv_dtype(const char *v, void *base, char *err, size_t n) {
    EngineArgs *a = base;
    if (!strcmp(v, "auto")) a->kv_cache_dtype = KV_CACHE_DTYPE_AUTO;
    else if (!strcmp(v, "f16") || !strcmp(v, "float16") || !strcmp(v, "half")) a->kv_cache_dtype = DT_F16;
    else if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16")) a->kv_cache_dtype = DT_BF16;
    else if (!strcmp(v, "f32") || !strcmp(v, "float32")) a->kv_cache_dtype = DT_F32;
    else if (!strncmp(v, "fp8", 3))
        return err_set(err, n, -EINVAL, "--kv-cache-dtype %s: FP8 caches are not supported yet (auto, f16, bf16, f32)", v);
    else return err_set(err, n, -EINVAL, "--kv-cache-dtype expects auto, f16, bf16 or f32, got '%s'", v);
    return 0;
}

static int parse_dtype(const char *v, void *base, char *err, size_t n) {
    EngineArgs *a = base;
    if (!strcmp(v, "auto")) a->dtype = DT_COUNT;
    else if (!strcmp(v, "bfloat16")) a->dtype = DT_BF16;
    else if (!strcmp(v, "float16") || !strcmp(v, "half")) a->dtype = DT_F16;
    else if (!strcmp(v, "float32") || !strcmp(v, "float")) a->dtype = DT_F32;
    else return err_set(err, n, -EINVAL, "--dtype expects auto, bfloat16, float16 (half) or float32 (float), got '%s'", v);
    return 0;
}

static int parse_load_format(const char *v, void *base, char *err, size_t n) {
    EngineArgs *a = base;
    a->load_dummy = !strcmp(v, "dummy");
    if (!a->load_dummy && strcmp(v, "auto") && strcmp(v, "gguf") && strcmp(v, "safetensors"))
        return err_set(err, n, -EINVAL, "--load-format %s is not supported (supported: auto, gguf, safetensors, dummy)",
                       v);
    return 0;
}

static int parse_tp(const char *v, void *base, char *err, size_t n) {
    if (strcmp(v, "1"))
        return err_set(err, n, -EINVAL, "--tensor-parallel-size %s: tensor parallelism is not supported yet; run one "
                                        "replica per GPU behind a load balancer (deploy/README.md)", v);
    return 0;
}

static int parse_max_logprobs(const char *v, void *base, char *err, size_t n) {
    if (flags_parse_count(v) < 0 || flags_parse_count(v) > 20)
        return err_set(err, n, -EINVAL, "--max-logprobs %s: Piston returns at most 20 logprobs per token", v);
    return 0;
}

static int disable_log_stats(const char *v, void *base, char *err, size_t n) {
    ((EngineArgs *)base)->log_stats = 0;
    return 0;
}

#define OFF(f) offsetof(EngineArgs, f)
static const FlagSpec engine_flags[] = {
    {"--device", NULL, FLAG_FN, 0, 0, 0, parse_device, "auto|cpu|cuda", "where the model computes", "auto: CUDA where usable"},
    {"--threads", "-t", FLAG_INT, OFF(backend.n_threads), 1, 1024, NULL, "N", "CPU compute threads", "all cores"},
    {"--precision", NULL, FLAG_FN, 0, 0, 0, parse_precision, "q8|f32", "CPU matmuls: 8-bit activations (as llama.cpp) or f32", "q8"},
    {"--max-model-len", NULL, FLAG_INT, OFF(max_model_len), 1, 1 << 24, NULL, "N", "tokens per sequence, prompt and output (16k, 32K...)", "the model's"},
    {"--max-num-seqs", NULL, FLAG_INT, OFF(max_num_seqs), 1, 1 << 16, NULL, "N", "sequences per step", "256 (generate, run, eval: 1)"},
    {"--max-num-batched-tokens", NULL, FLAG_INT, OFF(max_num_batched_tokens), 1, 1 << 20, NULL, "N", "tokens per step", "2048 (generate, run, eval: 512)"},
    {"--block-size", NULL, FLAG_INT, OFF(block_size), 1, 1024, NULL, "N", "tokens per KV block", "16"},
    {"--enable-prefix-caching", NULL, FLAG_BOOL, OFF(enable_prefix_caching), 0, 0, NULL, NULL, "reuse the KV blocks of shared prompt prefixes", "on"},
    {"--enable-chunked-prefill", NULL, FLAG_BOOL, OFF(enable_chunked_prefill), 0, 0, NULL, NULL, "split long prompts across steps", "on"},
    {"--kv-cache-memory", "--kv-cache-memory-bytes", FLAG_BYTES, OFF(kv_cache_memory), 0, 0, NULL, "BYTES", "the KV cache on the CPU (e.g. 4G)", "4G or a quarter of RAM"},
    {"--kv-cache-dtype", NULL, FLAG_FN, 0, 0, 0, parse_kv_dtype, "auto|f16|bf16|f32", "KV cache element type", "auto: f16, f32 with --precision f32"},
    {"--num-gpu-blocks-override", NULL, FLAG_INT, OFF(num_gpu_blocks_override), 2, 1 << 30, NULL, "N", "exactly N KV blocks", "as many as --kv-cache-memory (or --gpu-memory-utilization) holds"},
    {"--gpu-memory-utilization", NULL, FLAG_FLOAT, OFF(gpu_memory_utilization), 1e-6, 1, NULL, "F", "the share of device memory Piston may use", "0.9"},
    {"--enforce-eager", NULL, FLAG_BOOL, OFF(enforce_eager), 0, 0, NULL, NULL, "no CUDA graphs for decode steps", "off"},
    {"--chat-template", NULL, FLAG_STR, OFF(chat_template), 0, 0, NULL, "NAME", "chatml, llama3, llama2, mistral or zephyr", "the model's"},
    {"--dtype", NULL, FLAG_FN, 0, 0, 0, parse_dtype, "auto|bfloat16|float16|float32", "what a Hugging Face directory's (or a dummy's) matrices compute in", "auto: torch_dtype, else as stored (dummy: bfloat16)"},
    {"--load-format", NULL, FLAG_FN, 0, 0, 0, parse_load_format, "auto|gguf|safetensors|dummy", "dummy: random weights of a built-in config or a config.json", "auto"},
    {"--generation-config", NULL, FLAG_STR, OFF(generation_config), 0, 0, NULL, "auto|vllm|FOLDER", "generation_config.json's sampling defaults: the model's, none, or another folder's", "auto"},
    {"--tensor-parallel-size", "-tp", FLAG_FN, 0, 0, 0, parse_tp, "N", "GPUs per model (1)", "1"},
    {"--max-logprobs", NULL, FLAG_FN, 0, 0, 0, parse_max_logprobs, "N", "top logprobs per token (Piston's limit is 20)", "20"},
    {"--disable-log-stats", NULL, FLAG_FN, 0, 0, 0, disable_log_stats, NULL, "no periodic throughput line", "serve: a line every 5 s while busy; the other commands: none"},
};
#undef OFF

FlagGroup cli_engine_flags(EngineArgs *a) { return FLAG_GROUP("engine", engine_flags, a); }
