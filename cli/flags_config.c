/* --config FILE: vLLM's YAML config file, whose keys are the flag names (`port: 8000`,
 * `enable-prefix-caching: false`, `served-model-name: [a, b]` or a block list of `- a`
 * lines), read into the words the command line would have ("--port=8000"), which flags_parse
 * takes before argv so that the command line wins, as in vLLM. Only flat YAML: a nested
 * mapping, an anchor or a multi-line string is refused with the file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"

typedef struct Words {
    char **w;
    int n, cap;
} Words;

static int push(Words *ws, const char *a, const char *b, const char *c) {
    if (ws->n == ws->cap) {
        int cap = ws->cap ? 2 * ws->cap : 32;
        char **w = realloc(ws->w, (size_t)cap * sizeof *w);
        if (!w) return -1;
        ws->w = w, ws->cap = cap;
    }
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    if (!(ws->w[ws->n] = malloc(n))) return -1;
    snprintf(ws->w[ws->n++], n, "%s%s%s", a, b, c);
    return 0;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* a scalar: quotes removed, or an unquoted value's trailing " # comment" dropped */
static char *scalar(char *s) {
    s = trim(s);
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) return s[n - 1] = 0, s + 1;
    char *hash = strstr(s, " #");
    if (hash) *hash = 0;
    return trim(s);
}

/* key's values into words, as the flag's kind takes them: a list is several words for a
 * FLAG_STRS flag, one comma-separated value for the others */
static int emit(Words *ws, const FlagGroup *g, int ng, const char *key, char **vals, int nv, int list) {
    char name[128];
    int n = snprintf(name, sizeof name, "--%s", key);
    for (int i = 2; i < n; i++)
        if (name[i] == '_') name[i] = '-'; /* max_model_len is max-model-len, as vLLM takes it */
    void *base;
    const FlagSpec *s = flags_find(g, ng, name, strlen(name), &base);
    if (list && s && s->kind == FLAG_STRS) {
        if (push(ws, name, "", "")) return -1;
        for (int i = 0; i < nv; i++)
            if (push(ws, vals[i], "", "")) return -1;
        return 0;
    }
    char joined[4096] = "";
    for (int i = 0, o = 0; i < nv && o < (int)sizeof joined; i++)
        o += snprintf(joined + o, sizeof joined - (size_t)o, "%s%s", i ? "," : "", vals[i]);
    return push(ws, name, "=", joined);
}

/* [a, "b", c] into vals (in place) */
static int flow_list(char *s, char **vals, int cap) {
    int n = 0;
    s[strlen(s) - 1] = 0;
    for (char *save = NULL, *t = strtok_r(s + 1, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save))
        if (*(t = scalar(t))) vals[n++] = t;
    return n;
}

#define MAX_VALS 64

typedef struct Pending { /* the key being read and its values */
    const char *key;
    char *vals[MAX_VALS];
    int nv, list;
} Pending;

static int flush(Words *ws, const FlagGroup *g, int ng, Pending *k, const char *path) {
    int rc = 0;
    if (k->key && k->list && !k->nv) rc = (cli_error("--config %s: %s has no value", path, k->key), -1);
    else if (k->key) rc = emit(ws, g, ng, k->key, k->vals, k->nv, k->list);
    k->key = NULL, k->nv = 0, k->list = 0;
    return rc;
}

int flags_config_words(const char *path, const FlagGroup *g, int ng, char ***words, int *n_words) {
    char *text, err[512];
    *words = NULL, *n_words = 0;
    if (base_read_file(path, 1 << 20, &text, NULL, err, sizeof err)) return cli_error("--config: %s", err), -1;
    Words ws = {0};
    Pending k = {0};
    int line_no = 0, rc = 0;
    for (char *p = text, *ln; !rc && (ln = p);) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        p = nl ? nl + 1 : NULL;
        line_no++;
        char *t = trim(ln);
        if (!*t || *t == '#' || !strcmp(t, "---")) continue;
        if (t != ln && *t == '-' && k.key && k.list == 1) { /* "  - item" of a block list */
            if (k.nv < MAX_VALS) k.vals[k.nv++] = scalar(t + 1);
            continue;
        }
        char *colon = strchr(t, ':');
        const char *v0 = colon ? colon + 1 + strspn(colon + 1, " ") : "";
        /* a nested mapping; an anchor, an alias, a block string or a flow mapping as the value */
        if (t != ln || !colon || (*v0 && strchr("&*|>{", *v0))) {
            cli_error("--config %s:%d: Piston reads flat YAML, one `flag-name: value` a line (vLLM's config keys); "
                      "'%.60s' is not one",
                      path, line_no, t);
            rc = -1;
            break;
        }
        if ((rc = flush(&ws, g, ng, &k, path))) break;
        *colon = 0;
        k.key = trim(t);
        char *v = trim(colon + 1);
        size_t n = strlen(v);
        if (!*v || *v == '#') k.list = 1; /* the values follow as "- item" lines */
        else if (*v == '[' && v[n - 1] == ']') k.nv = flow_list(v, k.vals, MAX_VALS), k.list = 2;
        else k.vals[k.nv++] = scalar(v);
    }
    if (!rc) rc = flush(&ws, g, ng, &k, path);
    /* text and the words stay: the flag structs point into them for as long as the process
     * runs, as they point into argv */
    *words = ws.w, *n_words = ws.n;
    return rc;
}
