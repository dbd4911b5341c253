/* Model names as users know them, into paths (cli_model_resolve in cli.h), in vLLM's and
 * Ollama's order of places: a path as it is; ORG/NAME in the Hugging Face cache (at refs/main);
 * NAME[:TAG] in an Ollama store, whose template layer picks the chat template where Piston
 * recognises it; and last, ORG/NAME fetched from the Hub into the cache (unless
 * HF_HUB_OFFLINE=1). A name found nowhere is one line naming every place looked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "cli/cli.h"
#include "models/hub.h"

/* An Ollama template layer (a Go template) as a --chat-template family, or NULL. */
static const char *template_family(const char *go_template) {
    ChatTemplate ct;
    char err[256];
    if (!go_template || chat_template_init(&ct, go_template, NULL, err, sizeof err)) return NULL;
    const char *name = chat_template_kind_name(ct.kind);
    chat_template_free(&ct);
    return name;
}

int cli_model_resolve(const char *model, const char *revision, char *path, size_t cap, EngineArgs *e) {
    struct stat sb;
    if (stat(model, &sb) == 0) return snprintf(path, cap, "%s", model), 0;
    char hf[4700] = "", ol[4700] = "", why[700] = "";
    int repo = hub_repo_valid(model) && !strchr(model, ':');
    if (repo && hub_cache_find(model, revision, hf, sizeof hf) == 0) return snprintf(path, cap, "%s", hf), 0;
    char *tmpl = NULL, err[600] = "";
    int rc = ollama_find(model, ol, sizeof ol, &tmpl, err, sizeof err);
    if (rc == 0) {
        const char *fam = template_family(tmpl);
        if (tmpl && !fam)
            log_line(LOG_WARN, "%s: the Ollama template is not one Piston recognises; using the GGUF's own", model);
        if (fam && !e->chat_template) e->chat_template = fam;
        free(tmpl);
        return snprintf(path, cap, "%s", ol), 0;
    }
    if (rc != -ENOENT) return cli_error("%s", err), -1;
    const char *off = getenv("HF_HUB_OFFLINE");
    if (repo && !(off && *off && strcmp(off, "0"))) {
        log_line(LOG_INFO, "%s%s%s is not in the Hugging Face cache; downloading it", model, revision ? "@" : "",
                 revision ? revision : "");
        HubPull p = {.repo = model, .revision = revision, .progress = 1};
        char snap[4096];
        if (hub_pull(&p, snap, sizeof snap, err, sizeof err) == 0 && hub_cache_find(model, revision, path, cap) == 0)
            return 0;
        snprintf(why, sizeof why, "; not downloadable (%s)", err[0] ? err : "no usable snapshot");
    } else if (repo) {
        snprintf(why, sizeof why, "; not downloaded (HF_HUB_OFFLINE is set)");
    }
    char msg[16384];
    int n = snprintf(msg, sizeof msg, "model '%s' not found: no such file or directory", model);
    if (repo) n += snprintf(msg + n, sizeof msg - (size_t)n, "; not in the Hugging Face cache (%s)", hf);
    if (ol[0] == '/') n += snprintf(msg + n, sizeof msg - (size_t)n, "; not in the Ollama store (%s)", ol);
    snprintf(msg + n, sizeof msg - (size_t)n, "%s", why);
    cli_error("%s", msg);
    return -1;
}
