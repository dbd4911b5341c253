/* `piston pull ORG/NAME [--revision REV]`: a model from the Hugging Face Hub ($HF_ENDPOINT,
 * $HF_TOKEN) into the Hugging Face cache, as huggingface_hub would lay it out, so that
 * `piston serve ORG/NAME` (and transformers, vLLM) find it there. Resumes a partial
 * download; every file is checked against the Hub's size and hash (models/hub_download.c). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "models/hub.h"

static const char usage[] =
    "usage: piston pull ORG/NAME [--revision REV]\n"
    "Downloads the model's config, tokenizer and safetensors from the Hugging Face Hub\n"
    "($HF_ENDPOINT, default https://huggingface.co; $HF_TOKEN for gated or private models)\n"
    "into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub).\n";

static const FlagSpec pull_flags[] = {
    {"--revision", NULL, FLAG_STR, offsetof(HubPull, revision), 0, 0, NULL, "REV", "a branch, tag or commit", "main"},
    {"--hf-token", NULL, FLAG_STR, offsetof(HubPull, token), 0, 0, NULL, "TOKEN", "for gated or private models", "$HF_TOKEN"},
};

int cmd_pull(int argc, char **argv) {
    HubPull p = {.progress = 1};
    FlagGroup g = FLAG_GROUP("pull", pull_flags, &p);
    const char *pos[1];
    int n_pos = 0, rc = flags_parse(&g, 1, argc, argv, pos, 1, &n_pos, usage);
    if (rc) return rc < 0 ? 2 : 0;
    if (!n_pos) return cli_error("no model given: pull ORG/NAME (see --help)"), 2;
    p.repo = pos[0];
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
