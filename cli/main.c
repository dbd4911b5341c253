/* `piston`: the entry point. Dispatches to the subcommands; each returns the exit code. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

static const char usage[] =
    "piston " PISTON_VERSION " — an LLM serving engine\n"
    "\n"
    "usage: piston COMMAND MODEL [flags]\n"
    "  generate MODEL -p TEXT   continue TEXT, streaming to stdout; speeds on stderr\n"
    "  run MODEL                chat in the terminal with the model's chat template\n"
    "  serve MODEL              HTTP server: OpenAI, TGI and Ollama APIs, /metrics\n"
    "  eval MODEL               JSON lines in, logits and greedy tokens out (for tests)\n"
    "  show MODEL               architecture, parameters, dtype, context, chat template, format\n"
    "  pull ORG/NAME            download a model from the Hugging Face Hub into its cache\n"
    "  bench latency MODEL      prompt processing and generation speed (pp512 / tg128)\n"
    "  bench throughput MODEL   offline throughput: many requests queued at once\n"
    "  bench bandwidth          the device's memory bandwidth (the bound of decode)\n"
    "  bench serve              vLLM's serving benchmark against any OpenAI-compatible server\n"
    "  bench sweep MODEL        serve with each value of a flag, the same load against each, the best setting\n"
    "  version                  print the version\n"
    "\n"
    "MODEL is a .gguf file, a Hugging Face model directory (config.json, safetensors,\n"
    "tokenizer.json), ORG/NAME in the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub,\n"
    "~/.cache/huggingface/hub; fetched from the Hub when missing), NAME[:TAG] in an Ollama\n"
    "store ($OLLAMA_MODELS, ~/.ollama/models), 'smollm2' (the default model, cached in\n"
    "$PISTON_HOME, default ~/.cache/piston; `make model` fetches it), or with --load-format\n"
    "dummy a built-in config (llama-3-8b, qwen2.5-7b, ...) or a config.json.\n"
    "`piston COMMAND --help` lists every flag with its default.\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "show")) return cmd_show(argc - 2, argv + 2);
    if (!strcmp(cmd, "pull")) return cmd_pull(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) { /* no flags, no arguments */
        const char *pos[1];
        int n_pos = 0, rc = flags_parse(NULL, 0, argc - 2, argv + 2, pos, 0, &n_pos, "usage: piston version\n");
        if (rc) return rc < 0 ? 2 : 0;
        printf("piston %s\n", PISTON_VERSION);
        return 0;
    }
    cli_error("unknown command '%s' (commands: generate, run, serve, show, pull, eval, bench, version)", cmd);
    return 2;
}
