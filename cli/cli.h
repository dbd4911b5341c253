/* The `piston` command line: flag parsing shared by the subcommands, model-name resolution,
 * and the small driver that runs one request on the Engine for generate, run, eval and
 * bench latency. Each subcommand lives in its own file (cmd_*.c, bench/). */
#ifndef PISTON_CLI_H
#define PISTON_CLI_H

#include <stddef.h>

#include "base/version.h"
#include "cli/flags.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/text_model.h"

#define PISTON_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

#define CLI_MAX_POS 64

typedef struct CliArgs {
    const char *model;       /* as given: a path or a short name */
    const char *model_flag;  /* --model NAME, vLLM's other way to name it */
    const char *revision;    /* --revision: ORG/NAME at this branch, tag or commit */
    char model_path[4096];   /* resolved */
    EngineArgs engine;       /* --threads, --precision, --max-model-len, --kv-cache-dtype, ... */
    SamplingParams sampling;
    unsigned sampling_given; /* GEN_* (text_model.h): the flags set, which generation_config.json's defaults leave */
    const char *prompt;
    int n_predict;
    int ignore_eos;
    int json;
    const char *pos[CLI_MAX_POS]; /* the positional arguments after MODEL (run's prompt words) */
    int n_pos;
    /* bench latency */
    int n_prompt_bench, n_gen_bench, reps;
} CliArgs;

/* The commands cli_parse knows the flags of. */
typedef enum CliKind { CLI_GENERATE, CLI_RUN, CLI_EVAL, CLI_BENCH_LATENCY, CLI_SHOW } CliKind;

/* Print one line "piston: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse argv (after the subcommand) into a: the engine's flags, vLLM's refused and ignored
 * ones, and the command's own. 0; 1 when --help was printed (exit 0); -1 after the error. */
int cli_parse(int argc, char **argv, CliArgs *a, const char *usage, CliKind kind);
/* MODEL from the positional word or --model (vLLM takes either); 0, or -1 after the error. */
int cli_take_model(CliArgs *a, const char *const *pos, int n_pos);
/* "smollm2" -> $PISTON_HOME/SmolLM2-135M-Instruct.Q4_1.gguf (PISTON_HOME defaults to
 * ~/.cache/piston); a built-in config with --load-format dummy; anything else is a path.
 * 0, or -1 after printing the error. */
int cli_resolve_model(CliArgs *a);
/* Where the default model smollm2 lives: $PISTON_HOME/SmolLM2-135M-Instruct.Q4_1.gguf, with
 * PISTON_HOME defaulting to ~/.cache/piston (whether the file is there is the caller's check). */
void cli_default_model_path(char *buf, size_t n);
/* cli_model.c: MODEL as a user names it into a path: a file or directory as it is; ORG/NAME
 * in the Hugging Face cache; NAME[:TAG] in an Ollama store; else a download from the Hub
 * (cli_pull.c) when one is reachable. May set e->chat_template (an Ollama template layer).
 * 0, or -1 after printing where Piston looked. */
int cli_model_resolve(const char *model, const char *revision, char *path, size_t cap, EngineArgs *e);
/* An integer flag value in [lo, hi]; 0, or -1 after printing the error. */
int cli_parse_int(const char *flag, const char *v, long lo, long hi, int *out);
/* "4G", "4GiB", "512M", "1000000" -> bytes (binary multiples); -1 when malformed. */
int64_t cli_parse_bytes(const char *s);
/* The flag groups (flags_engine.c, flags_vllm.c): the engine's flags into a, and vLLM's
 * flags that Piston refuses or ignores. */
FlagGroup cli_engine_flags(EngineArgs *a);
FlagGroup cli_vllm_flags(void);
/* --model and --revision into a (cli.c) */
FlagGroup cli_model_flags(CliArgs *a);

/* An Engine for one interactive user (generate, run, eval, bench latency): a.engine with
 * one sequence at a time, quiet logs. 0, or -1 after printing the error. */
int cli_engine_create(CliArgs *a, Engine **out);
/* Run one request to its end on e, calling on_output (if any) for each step's output.
 * 0, or -1 with err set. */
typedef int (*CliOutputFn)(void *ctx, const EngineOutput *o);
int cli_engine_run(Engine *e, const int32_t *prompt, int n_prompt, const RequestParams *p, CliOutputFn on_output,
                   void *ctx, char *err, size_t errlen);

int cmd_generate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_pull(int argc, char **argv);

#endif
