/* Models users already have, by the names they know, and downloads into the same place:
 *   - the Hugging Face cache as huggingface_hub lays it out: ROOT/models--ORG--NAME/ with
 *     blobs/ (files named by their hash), snapshots/COMMIT/ (links into blobs/) and
 *     refs/REVISION (the commit a branch or tag points to). ROOT is $HF_HUB_CACHE, else
 *     $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 *   - an Ollama store ($OLLAMA_MODELS, else ~/.ollama/models): manifests/HOST/NS/NAME/TAG
 *     (JSON listing layers by digest) and blobs/sha256-HEX; the model layer is a GGUF, the
 *     template layer a Go template.
 *   - hub_pull: the Hub's HTTP API ($HF_ENDPOINT, $HF_TOKEN) into that cache, resumable,
 *     each file checked against the size and hash the Hub reports, with libcurl (loaded when
 *     a pull runs, so a binary without it still serves local models).
 * Nothing here copies weights: a found model is a path into the cache or store. */
#ifndef PISTON_HUB_H
#define PISTON_HUB_H

#include <stddef.h>

/* The cache root per the environment, into out. */
void hub_cache_root(char *out, size_t cap);
/* ORG/NAME as the Hub spells repository ids: letters, digits, '-', '_', '.', one '/'. */
int hub_repo_valid(const char *repo);
/* The snapshot of repo at revision (a branch, tag or commit; NULL: "main") in the cache,
 * into out: a directory with config.json, or the one .gguf in it. 0, or -ENOENT with the
 * place looked at in out. */
int hub_cache_find(const char *repo, const char *revision, char *out, size_t cap);

typedef struct HubPull {
    const char *repo;      /* ORG/NAME */
    const char *revision;  /* NULL: "main" */
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;     /* NULL: $HF_TOKEN */
    int progress;          /* a progress bar on stderr (a line per file when not a terminal) */
} HubPull;

/* Download the files a serving engine needs (config and tokenizer JSON, safetensors, chat
 * templates) of repo at revision into the cache, resuming partial downloads, and put the
 * snapshot's directory into snapshot. 0, or negative with err set. */
int hub_pull(const HubPull *p, char *snapshot, size_t cap, char *err, size_t errlen);

/* An Ollama model NAME[:TAG] (or NS/NAME:TAG, HOST/NS/NAME:TAG) in the store: the GGUF blob
 * into blob, and the template layer's text (malloc'd, or NULL) into *template_text. 0, or
 * -ENOENT with the manifest path looked for in blob; negative with err for a bad manifest. */
int ollama_find(const char *name, char *blob, size_t cap, char **template_text, char *err, size_t errlen);

#endif
