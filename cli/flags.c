/* The flag parser (see flags.h). Messages are one line each, as every command's errors are
 * ("piston: --port expects an integer in [0, 65535], got '70000'"). */
#include "cli/flags.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"

int64_t flags_parse_count(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) return -1;
    int64_t mul = 1;
    switch (*end) {
    case 'k': mul = 1000; break;
    case 'm': mul = 1000000; break;
    case 'g': mul = 1000000000; break;
    case 'K': mul = 1024; break;
    case 'M': mul = 1048576; break;
    case 'G': mul = 1073741824; break;
    case 0: break;
    default: return -1;
    }
    if (mul > 1 && end[1]) return -1;
    if (v > INT64_MAX / mul) return -1;
    return v * mul;
}

int64_t flags_parse_bytes(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024.0 * 1024 * 1024, end++;
    else if (*end == 't' || *end == 'T') mul = 1024.0 * 1024 * 1024 * 1024, end++;
    if (mul > 1 && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "b"))) end += strlen(end);
    if (errno || *end || end == s || !(v > 0) || v * mul > 9e18) return -1;
    return (int64_t)(v * mul);
}

/* "-c|--ctx-size" contains name */
static int alias_has(const char *alias, const char *name, size_t len) {
    for (const char *a = alias; a && *a;) {
        const char *bar = strchr(a, '|');
        size_t n = bar ? (size_t)(bar - a) : strlen(a);
        if (n == len && !strncmp(a, name, len)) return 1;
        a = bar ? bar + 1 : NULL;
    }
    return 0;
}

const FlagSpec *flags_find(const FlagGroup *g, int ng, const char *name, size_t len, void **base) {
    for (int i = 0; i < ng; i++)
        for (int k = 0; k < g[i].n; k++) {
            const FlagSpec *s = &g[i].specs[k];
            if ((strlen(s->name) == len && !strncmp(s->name, name, len)) || alias_has(s->alias, name, len)) {
                *base = g[i].base;
                return s;
            }
        }
    return NULL;
}

static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int x = d[i - 1][j] + 1 < d[i][j - 1] + 1 ? d[i - 1][j] + 1 : d[i][j - 1] + 1;
            d[i][j] = c < x ? c : x;
        }
    return d[la][lb];
}

static void unknown(const FlagGroup *g, int ng, const char *name) {
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < ng; i++)
        for (int k = 0; k < g[i].n; k++) {
            if (g[i].specs[k].kind == FLAG_REFUSED) continue;
            int d = distance(name, g[i].specs[k].name);
            if (d < bd) bd = d, best = g[i].specs[k].name;
        }
    int close = best && bd <= (int)(strlen(name) / 3 > 2 ? strlen(name) / 3 : 2);
    cli_error("unknown flag %s%s%s%s (see --help)", name, close ? " (did you mean " : "", close ? best : "",
              close ? "?)" : "");
}

/* a value, not a flag: anything not starting with '-', and negative numbers */
static int is_value(const char *s) { return s[0] != '-' || isdigit((unsigned char)s[1]) || s[1] == '.'; }

static int set_number(const FlagSpec *s, const char *v, void *field) {
    char *end;
    errno = 0;
    if (s->kind == FLAG_INT || s->kind == FLAG_I64) {
        int neg = v[0] == '-';
        int64_t x = flags_parse_count(neg ? v + 1 : v);
        if (x < 0 || (neg ? -x : x) < s->lo || (neg ? -x : x) > s->hi)
            return cli_error("%s expects an integer in [%.0f, %.0f], got '%s'", s->name, s->lo, s->hi, v), -1;
        if (s->kind == FLAG_INT) *(int *)field = (int)(neg ? -x : x);
        else *(int64_t *)field = neg ? -x : x;
    } else if (s->kind == FLAG_U64) {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || *end || end == v || v[0] == '-')
            return cli_error("%s expects a non-negative integer, got '%s'", s->name, v), -1;
        *(uint64_t *)field = x;
    } else {
        double x = strtod(v, &end);
        if (errno || *end || end == v || !(x >= s->lo && x <= s->hi))
            return cli_error("%s expects a number in [%g, %g], got '%s'", s->name, s->lo, s->hi, v), -1;
        if (s->kind == FLAG_FLOAT) *(float *)field = (float)x;
        else *(double *)field = x;
    }
    return 0;
}

/* one flag with its value (NULL for flags that take none) */
static int apply(const FlagSpec *s, void *base, const char *v, int negated) {
    void *field = (char *)base + s->off;
    char err[256] = "";
    switch (s->kind) {
    case FLAG_BOOL:
        if (!v) *(int *)field = !negated;
        else if (!strcmp(v, "true") || !strcmp(v, "1")) *(int *)field = !negated;
        else if (!strcmp(v, "false") || !strcmp(v, "0")) *(int *)field = negated;
        else return cli_error("%s expects true or false, got '%s'", s->name, v), -1;
        return 0;
    case FLAG_INT: case FLAG_I64: case FLAG_U64: case FLAG_FLOAT: case FLAG_DOUBLE: return set_number(s, v, field);
    case FLAG_BYTES: {
        int64_t b = flags_parse_bytes(v);
        if (b <= 0) return cli_error("%s expects a size in bytes (e.g. 512M, 4G, 1073741824), got '%s'", s->name, v), -1;
        *(int64_t *)field = b;
        return 0;
    }
    case FLAG_STR: *(const char **)field = v; return 0;
    case FLAG_FN:
        if (s->fn(v, base, err, sizeof err)) return cli_error("%s", err), -1;
        return 0;
    case FLAG_IGNORED: log_line(LOG_INFO, "note: %s has no effect in Piston: %s", s->name, s->help); return 0;
    case FLAG_REFUSED: return cli_error("%s: %s", s->name, s->help), -1;
    default: return -1;
    }
}

/* argv's words into the groups; --config and its file are skipped (flags_parse read them) */
static int parse_words(const FlagGroup *g, int ng, int argc, char **argv, const char **pos, int max_pos, int *n_pos,
                       const char *usage) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return flags_help(stdout, usage, g, ng), 1;
        if (!strcmp(a, "--config") || !strncmp(a, "--config=", 9)) {
            i += a[8] != '=';
            continue;
        }
        if (is_value(a) || !strcmp(a, "-") || !strcmp(a, "--")) {
            if (!strcmp(a, "--")) continue;
            if (max_pos >= 0 && *n_pos >= max_pos) return cli_error("unexpected argument '%s' (see --help)", a), -1;
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        void *base = NULL;
        const FlagSpec *s = flags_find(g, ng, a, len, &base);
        int negated = 0;
        if (!s && !strncmp(a, "--no-", 5)) { /* --no-enable-prefix-caching */
            char on[128];
            snprintf(on, sizeof on, "--%.*s", (int)(len - 5), a + 5);
            s = flags_find(g, ng, on, strlen(on), &base);
            /* a boolean, or a vLLM switch Piston ignores or refuses (--no-enable-log-outputs) */
            if (s && s->kind != FLAG_BOOL && !(s->kind >= FLAG_IGNORED && !s->meta)) s = NULL;
            negated = s != NULL;
        }
        if (!s) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)len, a);
            return unknown(g, ng, name), -1;
        }
        const char *v = eq ? eq + 1 : NULL;
        /* FLAG_FN, FLAG_IGNORED and FLAG_REFUSED take a value when they name one in help */
        int takes = s->kind == FLAG_BOOL ? 0 : s->kind >= FLAG_FN ? s->meta != NULL : 1;
        if (takes && !v) {
            if (i + 1 >= argc || !is_value(argv[i + 1])) return cli_error("%s needs a value", s->name), -1;
            v = argv[++i];
        }
        if (s->kind >= FLAG_FN && !takes && (v || negated)) { /* a switch: --x=false, a config's x: false */
            if (negated || !strcmp(v, "false") || !strcmp(v, "0")) continue; /* off is what Piston does */
            if (strcmp(v, "true") && strcmp(v, "1")) return cli_error("%s expects true or false, got '%s'", s->name, v), -1;
            v = NULL;
        }
        if (s->kind == FLAG_STRS) { /* one or more values, up to the next flag */
            FlagStrs *out = (FlagStrs *)((char *)base + s->off);
            out->n = 0;
            out->v[out->n++] = v;
            while (!eq && i + 1 < argc && is_value(argv[i + 1]) && out->n < FLAG_MAX_STRS) out->v[out->n++] = argv[++i];
            continue;
        }
        if (apply(s, base, v, negated)) return -1;
    }
    return 0;
}

int flags_parse(const FlagGroup *g, int ng, int argc, char **argv, const char **pos, int max_pos, int *n_pos,
                const char *usage) {
    *n_pos = 0;
    const char *config = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc && is_value(argv[i + 1])) config = argv[++i];
        else if (!strcmp(argv[i], "--config")) return cli_error("--config needs a value"), -1;
        else if (!strncmp(argv[i], "--config=", 9)) config = argv[i] + 9;
    }
    if (config) { /* vLLM's order: the file first, so that the command line wins */
        char **words;
        int n;
        if (flags_config_words(config, g, ng, &words, &n)) return -1;
        int rc = parse_words(g, ng, n, words, pos, 0, n_pos, usage); /* flags only: a model is `model: NAME` */
        if (rc) return rc;
    }
    return parse_words(g, ng, argc, argv, pos, max_pos, n_pos, usage);
}

void flags_help(FILE *f, const char *usage, const FlagGroup *g, int ng) {
    fputs(usage, f);
    for (int i = 0; i < ng; i++) {
        int shown = 0;
        for (int k = 0; k < g[i].n; k++) {
            const FlagSpec *s = &g[i].specs[k];
            if (s->kind == FLAG_REFUSED || s->kind == FLAG_IGNORED) continue;
            if (!shown++ && (i == 0 || strcmp(g[i].title, g[i - 1].title))) fprintf(f, "\n%s:\n", g[i].title);
            char left[96];
            snprintf(left, sizeof left, "%s%s%s%s%s", s->name, s->alias ? ", " : "", s->alias ? s->alias : "",
                     s->meta ? " " : "", s->meta ? s->meta : "");
            fprintf(f, "  %-38s %s", left, s->help);
            if (s->kind == FLAG_BOOL) fprintf(f, " (--no-%s to turn off)", s->name + 2);
            if (s->def) fprintf(f, " [default: %s]", s->def);
            fputc('\n', f);
        }
    }
}
