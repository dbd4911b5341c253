/* Flag parsing shared by the subcommands. Flag names follow vLLM and llama.cpp where they
 * exist (--max-model-len, --temperature, --top-k, -n, -p, --seed, --threads). */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("piston: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_int(const char *flag, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        cli_error("%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_float(const char *flag, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || end == s) {
        cli_error("%s expects a number, got '%s'", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse(int argc, char **argv, CliArgs *a, const char *usage) {
    memset(a, 0, sizeof *a);
    engine_args_default(&a->engine);
    /* one user, one sequence at a time; prefill in chunks of 512 as llama.cpp's default batch */
    a->engine.max_num_seqs = 1;
    a->engine.max_num_batched_tokens = 512;
    a->engine.log_stats = 0;
    sampling_params_default(&a->sampling);
    a->n_predict = 128;
    a->n_prompt_bench = 512;
    a->n_gen_bench = 128;
    a->reps = 5;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1, rc = 0;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            printf("%s", usage);
            exit(0);
        } else if (!strcmp(f, "--ignore-eos")) {
            a->ignore_eos = 1, takes = 0;
        } else if (!strcmp(f, "--json")) {
            a->json = 1, takes = 0;
        } else if (f[0] == '-' && f[1] != 0 && !v) {
            cli_error("%s needs a value", f);
            return -1;
        } else if (!strcmp(f, "-c") || !strcmp(f, "--ctx-size")) {
            rc = cli_parse_int(f, v, 1, 1 << 24, &a->engine.max_model_len);
        } else if (!strcmp(f, "--batch-size")) {
            rc = cli_parse_int(f, v, 1, 1 << 20, &a->engine.max_num_batched_tokens);
        } else if (!strcmp(f, "-p") || !strcmp(f, "--prompt") || !strcmp(f, "--n-prompt")) {
            /* bench uses -p N (llama-bench); generate uses -p TEXT */
            if (!strcmp(f, "--n-prompt")) rc = cli_parse_int(f, v, 1, 1 << 20, &a->n_prompt_bench);
            else a->prompt = v;
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-predict") || !strcmp(f, "--max-tokens")) {
            rc = cli_parse_int(f, v, 0, 1 << 24, &a->n_predict);
            a->n_gen_bench = a->n_predict;
        } else if (!strcmp(f, "-r") || !strcmp(f, "--repetitions")) {
            rc = cli_parse_int(f, v, 1, 1000, &a->reps);
        } else if (!strcmp(f, "--temperature") || !strcmp(f, "--temp")) {
            rc = parse_float(f, v, &a->sampling.temperature);
        } else if (!strcmp(f, "--top-k")) {
            rc = cli_parse_int(f, v, -1, 1 << 30, &a->sampling.top_k);
        } else if (!strcmp(f, "--top-p")) {
            rc = parse_float(f, v, &a->sampling.top_p);
        } else if (!strcmp(f, "--min-p")) {
            rc = parse_float(f, v, &a->sampling.min_p);
        } else if (!strcmp(f, "--repetition-penalty") || !strcmp(f, "--repeat-penalty")) {
            rc = parse_float(f, v, &a->sampling.repetition_penalty);
        } else if (!strcmp(f, "--presence-penalty")) {
            rc = parse_float(f, v, &a->sampling.presence_penalty);
        } else if (!strcmp(f, "--frequency-penalty")) {
            rc = parse_float(f, v, &a->sampling.frequency_penalty);
        } else if (!strcmp(f, "--seed") || !strcmp(f, "-s")) {
            char *end;
            errno = 0;
            a->sampling.seed = strtoull(v, &end, 10);
            a->sampling.has_seed = 1;
            a->engine.dummy_seed = a->sampling.seed;
            if (errno || *end || end == v) cli_error("--seed expects a non-negative integer, got '%s'", v), rc = -1;
        } else if (f[0] == '-' && f[1] != 0) {
            int taken = cli_engine_flag(argc, argv, &i, &a->engine); /* --threads, --device, ... */
            if (taken < 0) return -1;
            if (taken == 0) {
                cli_error("unknown flag %s (see --help)", f);
                return -1;
            }
            takes = 0;
        } else if (!a->model) {
            a->model = f, takes = 0;
        } else {
            cli_error("unexpected argument '%s' (see --help)", f);
            return -1;
        }
        if (rc) return -1;
        i += takes;
    }
    char err[256];
    if (sampling_params_validate(&a->sampling, err, sizeof err)) {
        cli_error("%s", err);
        return -1;
    }
    if (!a->model) {
        cli_error("no model given: pass a .gguf path or 'smollm2' (see --help)");
        return -1;
    }
    return cli_resolve_model(a);
}

int cli_resolve_model(CliArgs *a) {
    if (a->engine.load_dummy && model_is_dummy_name(a->model)) { /* a built-in config name, not a file */
        snprintf(a->model_path, sizeof a->model_path, "%s", a->model);
        return 0;
    }
    if (strcmp(a->model, "smollm2") != 0) /* a path, or a name in a cache (cli_model.c) */
        return cli_model_resolve(a->model, a->model_path, sizeof a->model_path, &a->engine) ? -1 : 0;
    const char *home = getenv("PISTON_HOME");
    if (home && *home) {
        snprintf(a->model_path, sizeof a->model_path, "%s/%s", home, PISTON_DEFAULT_MODEL_FILE);
    } else {
        const char *h = getenv("HOME");
        snprintf(a->model_path, sizeof a->model_path, "%s/.cache/piston/%s", h ? h : ".", PISTON_DEFAULT_MODEL_FILE);
    }
    if (access(a->model_path, R_OK) != 0) {
        cli_error("the default model smollm2 is not in the cache (%s): fetch it with `make model` "
                  "(scripts/fetch-model.sh)", a->model_path);
        return -1;
    }
    return 0;
}
