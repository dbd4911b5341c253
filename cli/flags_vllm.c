/* vLLM's `vllm serve` flags that are not Piston flags of the same name (those are in
 * flags_engine.c and cmd_serve.c), every one classified so that none is "unknown flag": a
 * few done as vLLM does them here (--download-dir, --hf-token, --task generate), those that
 * only tune vLLM's Python runtime or that Piston always does accepted with a note, and the
 * rest refused by name with what to do instead. --config is flags_parse's own (flags_config.c). The list is vLLM's `vllm serve --help`
 * (engine, frontend and serve arguments); tests/e2e/test_vllm_flags.py walks it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cli/cli.h"

static int set_env(const char *name, const char *v, char *err, size_t n) {
    if (setenv(name, v, 1)) return err_set(err, n, -errno, "cannot set %s", name);
    return 0;
}
/* vLLM downloads into DIR laid out as the Hugging Face cache; Piston's cache is that one */
static int download_dir(const char *v, void *base, char *err, size_t n) { return set_env("HF_HUB_CACHE", v, err, n); }
static int hf_token(const char *v, void *base, char *err, size_t n) { return set_env("HF_TOKEN", v, err, n); }

static int task(const char *v, void *base, char *err, size_t n) {
    if (strcmp(v, "auto") && strcmp(v, "generate"))
        return err_set(err, n, -EINVAL,
                       "--task %s: Piston generates text only (auto, generate); embedding, scoring "
                       "and classification models are not supported",
                       v);
    return 0;
}

static int preemption_mode(const char *v, void *base, char *err, size_t n) {
    if (strcmp(v, "recompute"))
        return err_set(err, n, -EINVAL,
                       "--preemption-mode %s: Piston recomputes preempted requests (recompute); "
                       "there is no swap space",
                       v);
    return 0;
}

/* clang-format off: one flag a line, as the tables of flags_engine.c */
#define FN(name, alias, fn, meta, help)                                                                                \
    { name, alias, FLAG_FN, 0, 0, 0, fn, meta, help, NULL }
#define IGN(name, meta, why)                                                                                           \
    { name, NULL, FLAG_IGNORED, 0, 0, 0, NULL, meta, why, NULL }
#define IGNA(name, alias, meta, why)                                                                                   \
    { name, alias, FLAG_IGNORED, 0, 0, 0, NULL, meta, why, NULL }
#define REF(name, meta, why)                                                                                           \
    { name, NULL, FLAG_REFUSED, 0, 0, 0, NULL, meta, why, NULL }
#define REFA(name, alias, meta, why)                                                                                   \
    { name, alias, FLAG_REFUSED, 0, 0, 0, NULL, meta, why, NULL }

#define NO_TP  "Piston runs one model on one device; run one replica per GPU behind a load balancer (deploy/README.md)"
#define NO_MOE "mixture-of-experts models are not supported"
#define NO_MM  "multimodal inputs are not supported: Piston serves text models"
#define NO_LORA                                                                                                        \
    "LoRA adapters are not supported; merge the adapter into the weights (peft's merge_and_unload) and serve that"
#define NO_TLS   "TLS is not built in; terminate TLS at a proxy or an ingress (deploy/)"
#define NO_CODE  "Piston runs no Python plugins or model code"
#define OWN_TOK  "the tokenizer is read from the model itself (GGUF metadata or tokenizer.json)"
#define NO_GRAPH "decode CUDA graphs are captured for every batch size Piston uses (--enforce-eager turns them off)"
#define OWN_SO                                                                                                         \
    "structured outputs (response_format, guided_json, guided_regex, guided_grammar, tools) use Piston's own grammar " \
    "engine"
#define NO_PROXY                                                                                                       \
    "Piston serves no docs or redirects whose URLs would need the prefix; a proxy that strips the prefix works as is"

static const FlagSpec vllm_flags[] = {
    /* done as vLLM does them */
    FN("--download-dir", NULL, download_dir, "DIR", "downloads go into DIR as the Hugging Face cache ($HF_HUB_CACHE)"),
    FN("--hf-token", NULL, hf_token, "TOKEN", "the Hub token for gated or private models ($HF_TOKEN)"),
    FN("--task", NULL, task, "TASK", "auto and generate only"),
    FN("--preemption-mode", NULL, preemption_mode, "MODE", "recompute only"),
    /* accepted: Piston always does it, or it tunes only vLLM's Python runtime */
    IGN("--trust-remote-code", NULL, "Piston runs no model code"),
    IGN("--uvicorn-log-level", "LEVEL", "Piston's HTTP server is its own, not uvicorn"),
    IGN("--disable-frontend-multiprocessing", NULL, "the front end is one libuv thread"),
    IGN("--disable-custom-all-reduce", NULL, "one GPU per model, no all-reduce"),
    IGN("--distributed-executor-backend", "NAME", "one process, no executor"),
    IGN("--tokenizer-mode", "MODE", OWN_TOK),
    IGN("--disable-fastapi-docs", NULL, "there are no FastAPI docs"),
    IGN("--enable-offline-docs", NULL, "there are no FastAPI docs"),
    IGN("--swap-space", "GiB", "preempted requests are recomputed, never swapped"),
    IGN("--max-seq-len-to-capture", "N", NO_GRAPH),
    IGN("--cuda-graph-sizes", "SIZES", NO_GRAPH),
    IGNA("--compilation-config", "-O", "CONFIG", "there is no torch.compile"),
    IGNA("-O3", "-O0|-O1|-O2", NULL, "there is no torch.compile"),
    IGN("--optimization-level", "N", "there is no torch.compile"),
    IGN("--enable-auto-tool-choice", NULL,
        "tool calls are always parsed when a request sends tools (tool_choice auto is the default)"),
    IGN("--tool-call-parser", "NAME",
        "the tool-call format is chosen from the chat template's family (chatml/hermes, llama3, mistral)"),
    IGN("--exclude-tools-when-tool-choice-none", NULL,
        "tools with tool_choice none are rendered as the chat template renders them"),
    IGN("--guided-decoding-backend", "NAME", OWN_SO),
    IGN("--guided-decoding-disable-fallback", NULL, OWN_SO),
    IGN("--guided-decoding-disable-any-whitespace", NULL, OWN_SO),
    IGN("--guided-decoding-disable-additional-properties", NULL, OWN_SO),
    IGN("--structured-outputs-config", "JSON", OWN_SO),
    IGN("--chat-template-content-format", "FORMAT",
        "message content is taken as a string or as OpenAI's list of text parts alike"),
    IGN("--response-role", "ROLE", "replies always have the role assistant"),
    IGN("--root-path", "PATH", NO_PROXY),
    IGN("--enable-prompt-tokens-details", NULL, "usage always has prompt_tokens_details (cached_tokens)"),
    IGN("--enable-request-id-headers", NULL, "every response carries X-Request-Id (the client's, or one made)"),
    IGN("--enable-server-load-tracking", NULL, "/metrics reports the load (vllm:num_requests_running, _waiting)"),
    IGN("--max-log-len", "N", "request log lines carry token counts and parameters, never the prompt's text"),
    IGN("--enable-log-outputs", NULL,
        "the access log carries output token counts and the finish reason, never the text"),
    IGN("--enable-log-deltas", NULL,
        "the access log carries output token counts and the finish reason, never the text"),
    IGN("--log-error-stack", NULL, "there is no stack to log: errors are logged with their message"),
    IGN("--aggregate-engine-logging", NULL, "there is one engine"),
    IGN("--show-hidden-metrics-for-version", "VERSION", "/metrics exports every metric it has"),
    IGN("--async-scheduling", NULL, "the scheduler and the forward pass already overlap as Piston runs them"),
    IGN("--max-num-partial-prefills", "N",
        "chunked prefill runs as many partial prefills as --max-num-batched-tokens holds"),
    IGN("--max-long-partial-prefills", "N",
        "chunked prefill runs as many partial prefills as --max-num-batched-tokens holds"),
    IGN("--long-prefill-token-threshold", "N", "a prompt's chunk is bounded by --max-num-batched-tokens"),
    IGN("--num-lookahead-slots", "N", "there is no speculative decoding"),
    IGN("--scheduler-delay-factor", "F", "a request is scheduled as soon as it arrives"),
    IGN("--stream-interval", "N", "every step's tokens are streamed"),
    IGN("--api-server-count", "N", "the front end is one libuv thread, which is not the bottleneck"),
    IGN("--tokenizer-pool-size", "N", OWN_TOK),
    IGN("--use-v2-block-manager", NULL, "there is one block manager"),
    IGN("--multi-step-stream-outputs", NULL, "every step's tokens are streamed"),
    IGN("--use-tqdm-on-load", NULL, "loading prints no progress bar"),
    IGN("--max-parallel-loading-workers", "N", "weights are memory-mapped, not loaded by workers"),
    IGN("--safetensors-load-strategy", "NAME", "safetensors are memory-mapped"),
    IGN("--pt-load-map-location", "MAP", "PyTorch checkpoints are not read"),
    IGN("--ray-workers-use-nsight", NULL, "there is no Ray"),
    IGN("--disable-cascade-attn", NULL, "there is no cascade attention to turn off"),
    IGN("--disable-hybrid-kv-cache-manager", NULL, "there is one KV cache manager"),
    IGN("--disable-mm-preprocessor-cache", NULL, NO_MM),
    IGN("--enable-chunked-local-attention", NULL, "attention is full over the context"),
    IGN("--kv-cache-metrics", NULL, "/metrics always reports the KV cache"),
    IGN("--cudagraph-metrics", NULL, "/metrics reports graph steps as they are"),
    IGN("--enable-tokenizer-info-endpoint", NULL, "/tokenize and /detokenize are always served"),
    /* refused: what to do instead */
    REFA("--quantization", "-q", "METHOD",
         "Piston reads the quantized types of GGUF files (Q4_0 to Q6_K); convert the model to GGUF with llama.cpp's "
         "convert_hf_to_gguf.py and llama-quantize"),
    REFA("--pipeline-parallel-size", "-pp", "N", NO_TP),
    REFA("--data-parallel-size", "-dp", "N",
         "run several replicas behind a load balancer or a Kubernetes Service (deploy/README.md)"),
    REFA("--decode-context-parallel-size", "-dcp", "N", NO_TP),
    REFA("--data-parallel-rank", "-dpn", "N", NO_TP),
    REFA("--data-parallel-start-rank", "-dpr", "N", NO_TP),
    REFA("--data-parallel-size-local", "-dpl", "N", NO_TP),
    REFA("--data-parallel-address", "-dpa", "ADDR", NO_TP),
    REFA("--data-parallel-rpc-port", "-dpp", "PORT", NO_TP),
    REFA("--data-parallel-backend", "-dpb", "NAME", NO_TP),
    REF("--data-parallel-hybrid-lb", NULL, NO_TP),
    REF("--data-parallel-external-lb", NULL, NO_TP),
    REF("--headless", NULL, "there are no engine-only worker nodes: " NO_TP),
    REF("--nnodes", "N", NO_TP),
    REF("--node-rank", "N", NO_TP),
    REF("--master-addr", "ADDR", NO_TP),
    REF("--master-port", "PORT", NO_TP),
    REF("--pipeline-parallel", NULL, NO_TP),
    REFA("--enable-expert-parallel", "-ep", NULL, NO_MOE),
    REF("--enable-eplb", NULL, NO_MOE),
    REF("--eplb-config", "JSON", NO_MOE),
    REF("--num-redundant-experts", "N", NO_MOE),
    REF("--expert-placement-strategy", "NAME", NO_MOE),
    REF("--all2all-backend", "NAME", NO_MOE),
    REF("--enable-dbo", NULL, "dual-batch overlap is not supported"),
    REF("--worker-cls", "CLASS", NO_CODE),
    REF("--worker-extension-cls", "CLASS", NO_CODE),
    REF("--tool-parser-plugin", "FILE", NO_CODE),
    REF("--tool-server", "ADDRS", "built-in tool servers are not supported; run the tools in the client"),
    REF("--reasoning-parser", "NAME",
        "reasoning is not parsed into reasoning_content: a model's thinking stays in the reply's text"),
    REF("--reasoning-parser-plugin", "FILE", NO_CODE),
    REF("--logits-processors", "CLASSES", NO_CODE),
    REF("--logits-processor-pattern", "PATTERN", NO_CODE),
    REF("--io-processor-plugin", "NAME", NO_CODE),
    REF("--middleware", "PATH", NO_CODE),
    REF("--scheduler-cls", "CLASS", NO_CODE),
    REF("--model-impl", "IMPL", "Piston runs its own C implementation of the Llama family"),
    REF("--speculative-config", "JSON", "speculative decoding is not supported yet"),
    REF("--enable-lora", NULL, NO_LORA),
    REF("--lora-modules", "MODULES", NO_LORA),
    REF("--max-loras", "N", NO_LORA),
    REF("--max-lora-rank", "N", NO_LORA),
    REF("--max-cpu-loras", "N", NO_LORA),
    REF("--lora-dtype", "DTYPE", NO_LORA),
    REF("--lora-extra-vocab-size", "N", NO_LORA),
    REF("--fully-sharded-loras", NULL, NO_LORA),
    REF("--enable-lora-bias", NULL, NO_LORA),
    REF("--default-mm-loras", "JSON", NO_LORA),
    REF("--qlora-adapter-name-or-path", "PATH", NO_LORA),
    REF("--tokenizer", "NAME", OWN_TOK),
    REF("--tokenizer-revision", "REV", OWN_TOK),
    REF("--skip-tokenizer-init", NULL,
        "the tokenizer is part of the model; prompts as token ids are accepted as they are"),
    REF("--hf-config-path", "PATH",
        "the config is read from the model itself; serve a directory whose config.json is the one you want"),
    REF("--hf-overrides", "JSON", "edit the model directory's config.json instead"),
    REF("--config-format", "FORMAT", "Piston reads GGUF metadata or a Hugging Face config.json"),
    REF("--code-revision", "REV", NO_CODE),
    REF("--cpu-offload-gb", "GiB",
        "offloading weights to the CPU is not supported; use --device cpu or a smaller quantization"),
    REF("--kv-offloading-size", "GiB", "KV cache offloading is not supported"),
    REF("--kv-offloading-backend", "NAME", "KV cache offloading is not supported"),
    REF("--kv-transfer-config", "JSON", "disaggregated prefill is not supported"),
    REF("--kv-events-config", "JSON", "KV cache events are not published"),
    REF("--ec-transfer-config", "JSON", "disaggregated encoders are not supported"),
    REF("--kv-sharing-fast-prefill", NULL, "KV sharing across layers is not supported"),
    REF("--calculate-kv-scales", NULL, "FP8 caches are not supported yet (--kv-cache-dtype auto, f16, bf16, f32)"),
    REF("--prefix-caching-hash-algo", "ALGO", "the prefix cache hashes blocks with its own 64-bit hash"),
    REF("--mamba-cache-dtype", "DTYPE", "state-space models are not supported"),
    REF("--mamba-ssm-cache-dtype", "DTYPE", "state-space models are not supported"),
    REF("--scheduling-policy", "POLICY", "Piston schedules first come, first served (fcfs) only"),
    REF("--num-scheduler-steps", "N", "one scheduling per step"),
    REF("--ssl-keyfile", "FILE", NO_TLS),
    REF("--ssl-certfile", "FILE", NO_TLS),
    REF("--ssl-ca-certs", "FILE", NO_TLS),
    REF("--ssl-cert-reqs", "N", NO_TLS),
    REF("--ssl-ciphers", "LIST", NO_TLS),
    REF("--enable-ssl-refresh", NULL, NO_TLS),
    REF("--uds", "PATH", "Unix sockets are not supported; bind a loopback --host and --port"),
    REF("--h11-max-incomplete-event-size", "BYTES", "use --max-header-size and --max-request-body"),
    REF("--h11-max-header-count", "N", "use --max-headers"),
    REF("--disable-access-log-for-endpoints", "PATHS",
        "the access log keeps every path; filter the lines where they are collected, or --disable-uvicorn-access-log"),
    REF("--log-config-file", "FILE",
        "logging is configured by flags: --log-format text|json, --disable-uvicorn-access-log, --enable-log-requests"),
    REF("--otlp-traces-endpoint", "URL",
        "OpenTelemetry tracing is not supported; each request's TTFT and duration are in the access log and /metrics"),
    REF("--collect-detailed-traces", "MODULES",
        "OpenTelemetry tracing is not supported; each request's TTFT and duration are in the access log and /metrics"),
    REF("--return-tokens-as-token-ids", NULL, "logprobs name tokens by their text; ask /tokenize for their ids"),
    REF("--trust-request-chat-template", NULL,
        "requests cannot bring their own chat template; pick one with --chat-template"),
    REF("--default-chat-template-kwargs", "JSON", "chat templates take no arguments; pick one with --chat-template"),
    REF("--enable-force-include-usage", NULL,
        "a stream includes usage when the request asks (stream_options: {\"include_usage\": true})"),
    REF("--tokens-only", NULL, "the text routes are always served"),
    REF("--override-generation-config", "JSON",
        "point --generation-config at a folder with the generation_config.json you want"),
    REF("--override-attention-dtype", "DTYPE", "attention computes in f32 over the --kv-cache-dtype cache"),
    REF("--logprobs-mode", "MODE", "logprobs are of the processed distribution as sampled"),
    REF("--disable-sliding-window", NULL,
        "sliding windows are not supported: the context is cut to the window (Piston's attention is full)"),
    REF("--enable-prompt-embeds", NULL, "prompts are text or token ids; embeddings as input are not supported"),
    REF("--enable-sleep-mode", NULL, "sleep mode is not supported; stop the server and start it again"),
    REF("--pooler-config", "JSON", "pooling (embedding) models are not supported"),
    REF("--override-pooler-config", "JSON", "pooling (embedding) models are not supported"),
    REF("--runner", "NAME", "Piston generates text only"),
    REF("--convert", "NAME", "Piston generates text only"),
    REF("--model-loader-extra-config", "JSON", "the loader takes no options"),
    REF("--ignore-patterns", "PATTERNS", "`piston pull` fetches what a model needs: config, tokenizer and safetensors"),
    REF("--allowed-local-media-path", "PATH", NO_MM),
    REF("--allowed-media-domains", "DOMAINS", NO_MM),
    REF("--limit-mm-per-prompt", "JSON", NO_MM),
    REF("--media-io-kwargs", "JSON", NO_MM),
    REF("--mm-processor-kwargs", "JSON", NO_MM),
    REF("--mm-processor-cache-gb", "GiB", NO_MM),
    REF("--mm-processor-cache-type", "TYPE", NO_MM),
    REF("--mm-shm-cache-max-object-size-mb", "MB", NO_MM),
    REF("--mm-encoder-tp-mode", "MODE", NO_MM),
    REF("--mm-encoder-attn-backend", "NAME", NO_MM),
    REF("--interleave-mm-strings", NULL, NO_MM),
    REF("--skip-mm-profiling", NULL, NO_MM),
    REF("--disable-chunked-mm-input", NULL, NO_MM),
    REF("--video-pruning-rate", "F", NO_MM),
    REF("--enable-multimodal-encoder-data-parallel", NULL, NO_MM),
    REF("--rope-scaling", "JSON", "RoPE comes from the model's own metadata"),
    REF("--rope-theta", "F", "RoPE comes from the model's own metadata"),
    REF("--additional-config", "JSON", "there are no platform plugins"),
    REF("--profiler-config", "JSON", "profile with nsys or perf around `piston bench latency`"),
    REF("--attention-backend", "NAME", "Piston has one attention kernel per device"),
};
// clang-format on

FlagGroup cli_vllm_flags(void) { return FLAG_GROUP("vLLM flags Piston refuses or ignores", vllm_flags, NULL); }
