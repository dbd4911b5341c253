/* The flags of the commands that run one user's requests (generate, run, eval, bench
 * latency) on top of the engine's (flags_engine.c), and model-name resolution. Names follow
 * vLLM and llama.cpp where they exist (--max-model-len, --temperature, --top-k, -n, -p,
 * --seed, --threads). */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

/* through the log, so that a server's errors before it runs carry their time (log.h) */
void cli_error(const char *fmt, ...) {
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_line(LOG_ERROR, "%s", msg);
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

int64_t cli_parse_bytes(const char *s) { return flags_parse_bytes(s); }

/* --seed: the sampler's, and the dummy weights' */
static int parse_seed(const char *v, void *base, char *err, size_t n) {
    CliArgs *a = base;
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-')
        return err_set(err, n, -EINVAL, "--seed expects a non-negative integer, got '%s'", v);
    a->sampling.seed = s, a->sampling.has_seed = 1, a->engine.dummy_seed = s;
    return 0;
}

#define OFF(f) offsetof(CliArgs, f)
#define SOFF(f) (offsetof(CliArgs, sampling) + offsetof(SamplingParams, f))
static const FlagSpec sampling_flags[] = {
    {"--temperature", "--temp", FLAG_FLOAT, SOFF(temperature), 0, 1e9, NULL, "T", "0 is greedy", "1.0 (run: 0.8)"},
    {"--top-k", NULL, FLAG_INT, SOFF(top_k), -1, 1 << 30, NULL, "K", "keep the K most likely tokens; 0 or -1 off", "off (run: 40)"},
    {"--top-p", NULL, FLAG_FLOAT, SOFF(top_p), 1e-9, 1, NULL, "P", "nucleus sampling", "1.0 (run: 0.9)"},
    {"--min-p", NULL, FLAG_FLOAT, SOFF(min_p), 0, 1, NULL, "P", "drop tokens below P times the best", "0"},
    {"--repetition-penalty", "--repeat-penalty", FLAG_FLOAT, SOFF(repetition_penalty), 1e-9, 1e9, NULL, "R", "as vLLM and HF apply it", "1.0"},
    {"--presence-penalty", NULL, FLAG_FLOAT, SOFF(presence_penalty), -2, 2, NULL, "X", "OpenAI's", "0"},
    {"--frequency-penalty", NULL, FLAG_FLOAT, SOFF(frequency_penalty), -2, 2, NULL, "X", "OpenAI's", "0"},
    {"--seed", "-s", FLAG_FN, 0, 0, 0, parse_seed, "S", "the same seed gives the same tokens", "random"},
};

static const FlagSpec gen_flags[] = {
    {"--prompt", "-p", FLAG_STR, OFF(prompt), 0, 0, NULL, "TEXT", "the prompt", NULL},
    {"--n-predict", "-n|--max-tokens", FLAG_INT, OFF(n_predict), 0, 1 << 24, NULL, "N", "tokens to generate", "128 (run: 2048)"},
    {"--ignore-eos", NULL, FLAG_BOOL, OFF(ignore_eos), 0, 0, NULL, NULL, "keep going past the end-of-sequence token", "off"},
    {"--batch-size", NULL, FLAG_INT, OFF(engine.max_num_batched_tokens), 1, 1 << 20, NULL, "N", "prefill chunk (llama.cpp's name for --max-num-batched-tokens)", "512"},
    {"--ctx-size", "-c", FLAG_INT, OFF(engine.max_model_len), 1, 1 << 24, NULL, "N", "llama.cpp's name for --max-model-len", NULL},
};

static const FlagSpec bench_flags[] = {
    {"--n-prompt", "-p", FLAG_INT, OFF(n_prompt_bench), 1, 1 << 20, NULL, "N", "prompt tokens of the pp test", "512"},
    {"--n-gen", "-n", FLAG_INT, OFF(n_gen_bench), 0, 1 << 24, NULL, "N", "generated tokens of the tg test", "128"},
    {"--repetitions", "-r", FLAG_INT, OFF(reps), 1, 1000, NULL, "N", "runs averaged", "5"},
    {"--json", NULL, FLAG_BOOL, OFF(json), 0, 0, NULL, NULL, "one JSON line", "off"},
    {"--seed", "-s", FLAG_FN, 0, 0, 0, parse_seed, "S", "the seed of dummy weights", "0"},
};
static const FlagSpec show_flags[] = {
    {"--json", NULL, FLAG_BOOL, OFF(json), 0, 0, NULL, NULL, "one JSON object", "off"},
};

static const FlagSpec model_flags[] = {
    {"--model", NULL, FLAG_STR, OFF(model_flag), 0, 0, NULL, "MODEL", "MODEL as a flag, as vLLM takes it", NULL},
    {"--revision", NULL, FLAG_STR, OFF(revision), 0, 0, NULL, "REV", "ORG/NAME at this branch, tag or commit (in the cache, or downloaded)", "main"},
};
#undef OFF
#undef SOFF

FlagGroup cli_model_flags(CliArgs *a) { return FLAG_GROUP("model", model_flags, a); }

int cli_take_model(CliArgs *a, const char *const *pos, int n_pos) {
    if (n_pos > 0 && a->model_flag && strcmp(pos[0], a->model_flag))
        return cli_error("the model is named twice ('%s' and --model %s); give one", pos[0], a->model_flag), -1;
    a->model = n_pos > 0 ? pos[0] : a->model_flag;
    if (!a->model) return cli_error("no model given: pass a .gguf path or 'smollm2' (see --help)"), -1;
    return 0;
}

/* The sampling fields generation_config.json may set start unset (NaN, INT_MIN) before the
 * flags (and --config) are read; those still unset take the command's defaults d, and the
 * others are the GEN_* bits returned, which the model's defaults then leave alone
 * (gen_defaults_apply). */
static void sampling_mark_unset(SamplingParams *p) {
    p->temperature = p->top_p = p->min_p = p->repetition_penalty = NAN;
    p->top_k = INT_MIN;
}

static unsigned sampling_take_given(SamplingParams *p, const SamplingParams *d) {
    unsigned given = 0;
#define TAKE(f, unset, bit) ((unset) ? (void)(p->f = d->f) : (void)(given |= (bit)))
    TAKE(temperature, isnan(p->temperature), GEN_TEMPERATURE);
    TAKE(top_p, isnan(p->top_p), GEN_TOP_P);
    TAKE(min_p, isnan(p->min_p), GEN_MIN_P);
    TAKE(repetition_penalty, isnan(p->repetition_penalty), GEN_REPETITION_PENALTY);
    TAKE(top_k, p->top_k == INT_MIN, GEN_TOP_K);
#undef TAKE
    return given;
}

int cli_parse(int argc, char **argv, CliArgs *a, const char *usage, CliKind kind) {
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
    if (kind == CLI_RUN) { /* Ollama's defaults: a chat is sampled, and a reply may be long */
        a->sampling.temperature = 0.8f, a->sampling.top_k = 40, a->sampling.top_p = 0.9f;
        a->n_predict = 2048;
    }
    SamplingParams dflt = a->sampling;
    sampling_mark_unset(&a->sampling);
    FlagGroup g[6];
    int ng = 0;
    g[ng++] = cli_model_flags(a);
    g[ng++] = cli_engine_flags(&a->engine);
    if (kind == CLI_SHOW) g[ng++] = FLAG_GROUP("show", show_flags, a);
    if (kind == CLI_BENCH_LATENCY) g[ng++] = FLAG_GROUP("bench latency", bench_flags, a);
    if (kind == CLI_GENERATE || kind == CLI_RUN) {
        g[ng++] = FLAG_GROUP("generation", gen_flags, a);
        g[ng++] = FLAG_GROUP("sampling", sampling_flags, a);
    }
    g[ng++] = cli_vllm_flags();
    const char *pos[CLI_MAX_POS + 1];
    int n_pos = 0;
    int rc = flags_parse(g, ng, argc, argv, pos, kind == CLI_RUN ? CLI_MAX_POS + 1 : 1, &n_pos, usage);
    a->sampling_given = sampling_take_given(&a->sampling, &dflt);
    if (rc) return rc;
    char err[256];
    if (sampling_params_validate(&a->sampling, err, sizeof err)) {
        cli_error("%s", err);
        return -1;
    }
    if (cli_take_model(a, pos, n_pos)) return -1;
    if (!n_pos) pos[n_pos++] = a->model; /* the prompt words follow pos[0] */
    for (int i = 1; i < n_pos; i++) a->pos[a->n_pos++] = pos[i];
    return cli_resolve_model(a) ? -1 : 0;
}

void cli_default_model_path(char *buf, size_t n) {
    const char *home = getenv("PISTON_HOME");
    if (home && *home) {
        snprintf(buf, n, "%s/%s", home, PISTON_DEFAULT_MODEL_FILE);
    } else {
        const char *h = getenv("HOME");
        snprintf(buf, n, "%s/.cache/piston/%s", h ? h : ".", PISTON_DEFAULT_MODEL_FILE);
    }
}

int cli_resolve_model(CliArgs *a) {
    if (a->engine.load_dummy && model_is_dummy_name(a->model)) { /* a built-in config name, not a file */
        snprintf(a->model_path, sizeof a->model_path, "%s", a->model);
        return 0;
    }
    if (strcmp(a->model, "smollm2") != 0) /* a path, or a name in a cache (cli_model.c) */
        return cli_model_resolve(a->model, a->revision, a->model_path, sizeof a->model_path, &a->engine) ? -1 : 0;
    cli_default_model_path(a->model_path, sizeof a->model_path);
    if (access(a->model_path, R_OK) != 0) {
        cli_error("the default model smollm2 is not in the cache (%s): fetch it with `make model` "
                  "(scripts/fetch-model.sh)", a->model_path);
        return -1;
    }
    return 0;
}
