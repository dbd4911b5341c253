/* The one flag parser of every `piston` command. A command is a list of flag groups (the
 * engine's, the server's, sampling, its own), each a table of FlagSpec bound to the struct the
 * values land in. It takes the habits of vLLM's argparse line: `--flag value` and
 * `--flag=value`, short forms (-tp), `--no-X` for booleans, token counts like 16k (1000s) and
 * 16K (1024s), memory sizes like 4G; an unknown flag is refused wherever it stands, with the
 * closest known one suggested; vLLM flags Piston does not have are refused by name with what
 * to do instead, and those that only tune vLLM's Python runtime are accepted and said to
 * have no effect; --config FILE reads vLLM's YAML config first (the command line wins). Help
 * is made from the same tables, every flag with its default. */
#ifndef PISTON_CLI_FLAGS_H
#define PISTON_CLI_FLAGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum FlagKind {
    FLAG_BOOL,    /* int: --x sets 1, --no-x 0, --x=true|false */
    FLAG_INT,     /* int in [lo, hi]; k/m/g (1000s) and K/M/G (1024s) suffixes */
    FLAG_I64,     /* int64_t likewise */
    FLAG_U64,     /* uint64_t, plain digits (seeds) */
    FLAG_FLOAT,   /* float in [lo, hi] */
    FLAG_DOUBLE,  /* double in [lo, hi] */
    FLAG_BYTES,   /* int64_t memory size: 512M, 4G, 4GiB (binary multiples) */
    FLAG_STR,     /* const char * (the argv string) */
    FLAG_STRS,    /* FlagStrs: one or more values, up to the next flag */
    FLAG_FN,      /* fn(value, base, err) parses it */
    FLAG_IGNORED, /* accepted, has no effect in Piston: help says why */
    FLAG_REFUSED  /* a vLLM flag Piston does not have: help is the error, with what to do */
} FlagKind;

#define FLAG_MAX_STRS 16
typedef struct FlagStrs {
    const char *v[FLAG_MAX_STRS];
    int n;
} FlagStrs;

/* value is NULL for a FLAG_FN with no meta (a switch that does more than set an int) */
typedef int (*FlagFn)(const char *value, void *base, char *err, size_t errlen);

typedef struct FlagSpec {
    const char *name;  /* "--max-model-len" */
    const char *alias; /* "-c", or several as "-c|--ctx-size", or NULL */
    FlagKind kind;
    size_t off;        /* where the value goes in the group's struct */
    double lo, hi;     /* FLAG_INT, FLAG_I64, FLAG_FLOAT, FLAG_DOUBLE */
    FlagFn fn;         /* FLAG_FN */
    const char *meta;  /* the value in help ("N", "BYTES", "auto|cpu|cuda"); NULL: takes none */
    const char *help;
    const char *def;   /* the default, for help; NULL: none shown */
} FlagSpec;

typedef struct FlagGroup {
    const char *title;       /* "engine", "server", ... for help */
    const FlagSpec *specs;
    int n;
    void *base;              /* the struct the group's values land in */
} FlagGroup;

#define FLAG_GROUP(title, table, base) ((FlagGroup){title, table, (int)(sizeof table / sizeof *table), base})

/* Parse argv: flags into their groups, the rest into pos[0 .. *n_pos) (at most max_pos; more
 * is an error unless max_pos < 0, which takes any number). 0; 1 after printing help for
 * -h/--help; -1 after printing one error line. */
int flags_parse(const FlagGroup *groups, int n_groups, int argc, char **argv, const char **pos, int max_pos,
                int *n_pos, const char *usage);
/* The spec named name[0 .. len) (a name or an alias) in the groups, its group's struct in
 * *base; NULL when none has it. */
const FlagSpec *flags_find(const FlagGroup *g, int ng, const char *name, size_t len, void **base);
/* --config FILE (flags_config.c): vLLM's YAML config, flat `flag-name: value` lines, as the
 * words a command line would have for the groups g ("--port=8000"; a list is several words
 * for a FLAG_STRS flag, one comma-separated value for the others). The words live as long
 * as the process, as argv does. 0, or -1 after printing the error. */
int flags_config_words(const char *path, const FlagGroup *g, int ng, char ***words, int *n_words);
/* The help: usage, then each group's flags with their defaults. */
void flags_help(FILE *f, const char *usage, const FlagGroup *groups, int n_groups);
/* A token count: 4096, 16k (16000), 16K (16384), 1m, 1M; -1 when malformed. */
int64_t flags_parse_count(const char *s);
/* A memory size in binary multiples: 64K, 512M, 2G, 2GiB, 2GB, 1000000; -1 when malformed. */
int64_t flags_parse_bytes(const char *s);

#endif
