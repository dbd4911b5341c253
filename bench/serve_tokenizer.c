/* The local tokenizer of `bench serve` when the server has no /tokenize: the "else our
 * tokenizer on the same model". The model benchmarked (--model, or the first of /v1/models)
 * is looked for where Piston finds models (cli_model.c's places, in its order): a path as it
 * is, 'smollm2' (the default model in ~/.cache/piston), ORG/NAME in the Hugging Face cache,
 * NAME[:TAG] in an Ollama store. Quietly and never from the network: a name the server
 * gives that is no local model ("fake-model", a llama-server alias) is not an error, only
 * the reason lengths become estimates, which the caller says in one line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "bench/serve.h"
#include "cli/cli.h"
#include "engine/text_model.h"
#include "models/hub.h"

/* name as a local model's path, or -ENOENT */
static int local_path(const char *name, char *path, size_t cap) {
    struct stat sb;
    if (stat(name, &sb) == 0) return snprintf(path, cap, "%s", name), 0;
    if (!strcmp(name, "smollm2")) {
        cli_default_model_path(path, cap);
        return access(path, R_OK) == 0 ? 0 : -ENOENT;
    }
    if (hub_repo_valid(name) && !strchr(name, ':') && hub_cache_find(name, NULL, path, cap) == 0) return 0;
    char err[256], *tmpl = NULL;
    int rc = ollama_find(name, path, cap, &tmpl, err, sizeof err);
    free(tmpl);
    return rc == 0 ? 0 : -ENOENT;
}

int serve_tokenizer_local(const char *name, TextModel *tm, char *err, size_t errlen) {
    char path[4096];
    if (!name || local_path(name, path, sizeof path))
        return err_set(err, errlen, -ENOENT, "'%s' is not a model Piston finds here", name ? name : "");
    char why[512];
    if (text_model_load(tm, path, NULL, 0, why, sizeof why))
        return err_set(err, errlen, -EINVAL, "the tokenizer of %s did not load (%s)", path, why);
    return 0;
}
