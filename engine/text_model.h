/* A model ready for text: the weights (models/), the tokenizer, the chat template with the
 * model's own BOS/EOS texts, and the context length to serve. The batched engine and the
 * CLI commands both load through here, so they check and render the same way. */
#ifndef PISTON_TEXT_MODEL_H
#define PISTON_TEXT_MODEL_H

#include <stddef.h>

#include "engine/chat_template.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "models/model.h"

typedef struct TextModel {
    Model *model;
    Tokenizer *tok;
    ChatTemplate chat;
    int has_chat;       /* 0 when the model's template is not recognised (chat_err says why) */
    char chat_err[256];
    int max_model_len;  /* tokens per sequence: the request, or the model's context length */
    SamplingParams gen_defaults; /* sampling_params_default with generation_config.json's fields */
    char gen_summary[160];       /* the fields taken from it, for the start-up log; "" for none */
} TextModel;

/* How a model is loaded for text (EngineArgs' say). */
typedef struct TextModelArgs {
    const char *path;              /* a .gguf, a Hugging Face directory or its config.json */
    const char *chat_template;     /* --chat-template family, or NULL: the model's own */
    int max_model_len;             /* <= 0: the model's context length */
    int dtype;                     /* --dtype: DT_F32/F16/BF16 or DT_COUNT (auto) */
    const char *generation_config; /* "auto" (NULL too), "vllm" or a folder */
    int load_dummy;                /* --load-format dummy: random weights (a built-in name or config.json) */
    uint64_t seed;                 /* of the dummy weights */
} TextModelArgs;

/* Load per a (GGUF or Hugging Face directory; dummy weights too). A directory's tokenizer is
 * its tokenizer.json, its template tokenizer_config.json's; a dummy of a built-in config has
 * neither. 0, or negative with err set (and nothing left to free). */
int text_model_open(TextModel *m, const TextModelArgs *a, char *err, size_t errlen);
/* text_model_open of path with the defaults (--dtype auto, --generation-config auto): what a
 * caller that only needs the tokenizer and template wants (bench serve's --tokenizer). */
int text_model_load(TextModel *m, const char *path, const char *chat_template, int max_model_len, char *err,
                    size_t errlen);
/* engine/hf_text.c: the chat template source of a Hugging Face directory (malloc'd), or NULL;
 * generation_config.json of dir into m->gen_defaults and m->tok's EOG ids (required: a
 * folder the user named must have one). 0, or negative with err set. */
char *hf_chat_template_read(const char *dir);
int hf_generation_config_read(TextModel *m, const char *dir, int required, char *err, size_t errlen);

/* The sampling fields generation_config.json may set, as a mask. */
enum {
    GEN_TEMPERATURE = 1 << 0,
    GEN_TOP_K = 1 << 1,
    GEN_TOP_P = 1 << 2,
    GEN_MIN_P = 1 << 3,
    GEN_REPETITION_PENALTY = 1 << 4
};
/* The model's defaults d (gen_defaults) into p, a request's parameters, except the fields in
 * keep (those the request set). Only the fields d sets (those that differ from
 * sampling_params_default) move, so where the file is silent a dialect's own defaults stay
 * (Ollama's temperature 0.8); a file that says temperature 1.0 is silent in this sense. A
 * dialect that parses its request after this call passes keep 0: the request's own values
 * then overwrite these, as in vLLM. */
void gen_defaults_apply(SamplingParams *p, const SamplingParams *d, unsigned keep);

void text_model_free(TextModel *m);

#endif
