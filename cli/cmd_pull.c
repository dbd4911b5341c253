/* `piston pull ORG/NAME [--revision REV]`: a model from the Hugging Face Hub ($HF_ENDPOINT,
 * $HF_TOKEN) into the Hugging Face cache, as huggingface_hub would lay it out, so that
 * `piston serve ORG/NAME` (and transformers, vLLM) find it there. Resumes a partial
 * download; every file is checked against the Hub's size and hash (models/hub_download.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "models/hub.h"

static const char usage[] =
    "usage: piston pull ORG/NAME [--revision REV]\n"
    "Downloads the model's config, tokenizer and safetensors from the Hugging Face Hub\n"
    "($HF_ENDPOINT, default https://huggingface.co; $HF_TOKEN for gated or private models)\n"
    "into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub).\n";

int cmd_pull(int argc, char **argv) {
    HubPull p = {.progress = 1};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(usage, stdout), 0;
        if (!strcmp(argv[i], "--revision") && i + 1 < argc) p.revision = argv[++i];
        else if (argv[i][0] == '-') return cli_error("unknown flag %s (see --help)", argv[i]), 2;
        else if (!p.repo) p.repo = argv[i];
        else return cli_error("unexpected argument '%s' (see --help)", argv[i]), 2;
    }
    if (!p.repo) return cli_error("no model given: pull ORG/NAME (see --help)"), 2;
    if (!hub_repo_valid(p.repo))
        return cli_error("'%s' is not a Hugging Face repository id (ORG/NAME); Ollama's registry is not supported", p.repo),
               2;
    char snap[4096], err[2048];
    if (hub_pull(&p, snap, sizeof snap, err, sizeof err)) {
        cli_error("pull %s: %s", p.repo, err);
        return 1;
    }
    printf("%s\n", snap);
    return 0;
}
