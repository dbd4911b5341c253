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
    "  bench latency MODEL      prompt processing and generation speed (pp512 / tg128)\n"
    "  bench throughput MODEL   offline throughput: many requests queued at once\n"
    "  bench bandwidth          the device's memory bandwidth (the bound of decode)\n"
    "  bench serve              vLLM's serving benchmark against any OpenAI-compatible server\n"
    "  bench sweep MODEL        serve with each value of a flag, the same load against each, the best setting\n"
    "  version                  print the version\n"
    "\n"
    "MODEL is a .gguf file, 'smollm2' (the default model, cached in $PISTON_HOME, default\n"
    "~/.cache/piston; `make model` fetches it), or with --load-format dummy a built-in config\n"
    "(llama-3-8b, qwen2.5-7b, ...). `piston COMMAND --help` lists every flag with its default.\n";

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
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("piston %s\n", PISTON_VERSION);
        return 0;
    }
    cli_error("unknown command '%s' (commands: generate, run, serve, eval, bench, version)", cmd);
    return 2;
}
