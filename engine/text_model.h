/* A model ready for text: the weights (models/), the tokenizer, the chat template with the
 * model's own BOS/EOS texts, and the context length to serve. The batched engine and the
 * CLI commands both load through here, so they check and render the same way. */
#ifndef PISTON_TEXT_MODEL_H
#define PISTON_TEXT_MODEL_H

#include <stddef.h>

#include "engine/chat_template.h"
#include "engine/tokenizer.h"
#include "models/model.h"

typedef struct TextModel {
    Model *model;
    Tokenizer *tok;
    ChatTemplate chat;
    int has_chat;       /* 0 when the model's template is not recognised (chat_err says why) */
    char chat_err[256];
    int max_model_len;  /* tokens per sequence: the request, or the model's context length */
} TextModel;

/* Load path; chat_template is a --chat-template family name or NULL (the model's own: an
 * unknown one only leaves has_chat 0); max_model_len <= 0 means the model's context length.
 * 0, or -1 with err set (and nothing left to free). */
int text_model_load(TextModel *m, const char *path, const char *chat_template, int max_model_len, char *err,
                    size_t errlen);
/* A dummy model of a built-in config (--load-format dummy): no tokenizer (tok NULL), no chat
 * template; token ids only. */
int text_model_dummy(TextModel *m, const char *name, DType dtype, uint64_t seed, int max_model_len, char *err,
                     size_t errlen);
void text_model_free(TextModel *m);

#endif
