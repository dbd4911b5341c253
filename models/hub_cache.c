/* Looking models up where users already keep them (see hub.h): the Hugging Face cache by
 * repository id and revision, and an Ollama store by name and tag. Both are read as their
 * own tools write them; nothing is copied or changed. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/file.h"

/* Paths here are built from bounded pieces into fixed buffers; one that would not fit is cut
 * by snprintf and then fails to open or match, which is the right outcome, so GCC's
 * may-be-truncated warnings say nothing useful. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "models/hub.h"

static const char *env(const char *k) {
    const char *v = getenv(k);
    return v && *v ? v : NULL;
}

void hub_cache_root(char *out, size_t cap) {
    if (env("HF_HUB_CACHE")) snprintf(out, cap, "%s", env("HF_HUB_CACHE"));
    else if (env("HF_HOME")) snprintf(out, cap, "%.4000s/hub", env("HF_HOME"));
    else if (env("XDG_CACHE_HOME")) snprintf(out, cap, "%.4000s/huggingface/hub", env("XDG_CACHE_HOME"));
    else snprintf(out, cap, "%.4000s/.cache/huggingface/hub", env("HOME") ? env("HOME") : ".");
}

int hub_repo_valid(const char *repo) {
    const char *slash = strchr(repo, '/');
    if (!slash || strchr(slash + 1, '/') || slash == repo || !slash[1] || strstr(repo, "..") || strstr(repo, "--"))
        return 0;
    for (const char *p = repo; *p; p++)
        if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return 0;
    return repo[0] != '.' && repo[0] != '-' && slash[1] != '.' && slash[1] != '-';
}

static int is_hex40(const char *s) {
    size_t n = strspn(s, "0123456789abcdef");
    return n == 40 && !s[40];
}

static int exists(const char *p, int dir) {
    struct stat sb;
    return stat(p, &sb) == 0 && (dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
}

int hub_cache_find(const char *repo, const char *revision, char *out, size_t cap) {
    char root[4096], dir[4600], ref[4800], commit[64] = "";
    const char *rev = revision ? revision : "main";
    hub_cache_root(root, sizeof root);
    const char *slash = strchr(repo, '/');
    snprintf(dir, sizeof dir, "%s/models--%.*s--%s", root, (int)(slash - repo), repo, slash + 1);
    snprintf(ref, sizeof ref, "%s/refs/%s", dir, rev);
    FILE *fp = strchr(rev, '/') || strstr(rev, "..") ? NULL : fopen(ref, "r");
    if (fp) {
        if (!fgets(commit, sizeof commit, fp)) commit[0] = 0;
        fclose(fp);
        commit[strcspn(commit, " \r\n")] = 0;
    } else if (is_hex40(rev)) {
        snprintf(commit, sizeof commit, "%s", rev);
    }
    if (!is_hex40(commit)) return snprintf(out, cap, "%s (refs/%s)", dir, rev), -ENOENT;
    char snap[4800], p[5000];
    snprintf(snap, sizeof snap, "%s/snapshots/%s", dir, commit);
    snprintf(p, sizeof p, "%s/config.json", snap);
    if (exists(p, 0)) return snprintf(out, cap, "%s", snap), 0;
    /* a GGUF repository: its one .gguf (several quantizations are ambiguous: name the file) */
    DIR *d = opendir(snap);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".gguf") && n++ == 0) snprintf(p, sizeof p, "%s/%s", snap, e->d_name);
    }
    if (d) closedir(d);
    if (n == 1) return snprintf(out, cap, "%s", p), 0;
    return snprintf(out, cap, "%s (%s)", snap, n ? "several .gguf files: pass the path of one" : "no config.json"),
           -ENOENT;
}

/* The file's text, or NULL when it is absent, unreadable or over limit bytes. */
static char *slurp(const char *path, size_t limit) {
    char *text;
    return base_read_file(path, limit, &text, NULL, NULL, 0) ? NULL : text;
}

/* "sha256:HEX" into root/blobs/sha256-HEX; -1 when the digest is not that */
static int blob_path(const char *root, const char *digest, char *out, size_t cap) {
    if (!digest || strncmp(digest, "sha256:", 7) || strspn(digest + 7, "0123456789abcdef") != 64 || digest[71])
        return -1;
    snprintf(out, cap, "%s/blobs/sha256-%s", root, digest + 7);
    return 0;
}

int ollama_find(const char *name, char *blob, size_t cap, char **template_text, char *err, size_t errlen) {
    *template_text = NULL;
    char root[4096], spec[512], man[5000];
    if (env("OLLAMA_MODELS")) snprintf(root, sizeof root, "%s", env("OLLAMA_MODELS"));
    else snprintf(root, sizeof root, "%.4000s/.ollama/models", env("HOME") ? env("HOME") : ".");
    /* NAME[:TAG], NS/NAME[:TAG], HOST/NS/NAME[:TAG]; Ollama's defaults fill the rest */
    snprintf(spec, sizeof spec, "%s", name);
    char *colon = strrchr(spec, ':'), *tag = "latest";
    if (colon && !strchr(colon, '/')) *colon = 0, tag = colon + 1;
    int slashes = 0;
    for (char *p = spec; *p; p++) slashes += *p == '/';
    if (!*spec || !*tag || strstr(spec, "..") || strstr(tag, "..") || strchr(tag, '/') || spec[0] == '/' || slashes > 2)
        return snprintf(blob, cap, "(not an Ollama model name)"), -ENOENT;
    snprintf(man, sizeof man, "%s/manifests/%s%s%s/%s", root,
             slashes == 2 ? "" : "registry.ollama.ai/", slashes == 0 ? "library/" : "", spec, tag);
    char *text = slurp(man, 1 << 20);
    if (!text) return snprintf(blob, cap, "%s", man), -ENOENT;
    cJSON *j = cJSON_Parse(text), *l;
    free(text);
    int rc = -EINVAL;
    err_set(err, errlen, -EINVAL, "%s: an Ollama manifest without a model layer", man);
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(j, "layers")) {
        const char *mt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "mediaType"));
        const char *dg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "digest"));
        char p[4400];
        if (!mt || blob_path(root, dg, p, sizeof p)) continue;
        if (!strcmp(mt, "application/vnd.ollama.image.model")) {
            rc = exists(p, 0) ? 0 : err_set(err, errlen, -ENOENT, "%s: its model blob %s is missing", man, p);
            snprintf(blob, cap, "%s", p);
        } else if (!strcmp(mt, "application/vnd.ollama.image.template") && !*template_text) {
            *template_text = slurp(p, 1 << 20);
        }
    }
    cJSON_Delete(j);
    if (rc) free(*template_text), *template_text = NULL;
    return rc;
}
