/* Loading a model for text (see text_model.h): weights, tokenizer, and the chat template from
 * the GGUF's tokenizer.chat_template (or the family named by --chat-template) with the
 * model's own BOS/EOS texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/text_model.h"

/* The text of token id into buf (empty when there is none or it does not fit). */
static const char *token_text(const Tokenizer *tok, int32_t id, char *buf, size_t cap) {
    size_t n;
    const char *t = id >= 0 ? tokenizer_piece(tok, id, &n) : NULL;
    buf[0] = 0;
    if (t && n < cap) memcpy(buf, t, n), buf[n] = 0;
    return buf[0] ? buf : NULL;
}

/* 1: ready; 0: the model's template is not recognised (err says so and names
 * --chat-template); -1: the named family failed, or out of memory. */
static int chat_template_for_model(ChatTemplate *ct, const GgufFile *f, const Tokenizer *tok, const char *name,
                                   char *err, size_t errlen) {
    GgufStr s = {0};
    char *src = gguf_get_str(f, "tokenizer.chat_template", &s) == 0 ? gguf_str_dup(s) : NULL;
    int rc = chat_template_init(ct, src, name, err, errlen);
    free(src);
    if (rc != 0) return name ? -1 : 0; /* a family the user named must work; the model's may be unknown */
    char bos[64], eos[64];
    if (chat_template_set_tokens(ct, token_text(tok, tokenizer_bos(tok), bos, sizeof bos),
                                 token_text(tok, tokenizer_eos(tok), eos, sizeof eos))) {
        chat_template_free(ct);
        return err_set(err, errlen, -ENOMEM, "out of memory");
    }
    return 1;
}

int text_model_load(TextModel *m, const char *path, const char *chat_template, int max_model_len, char *err,
                    size_t errlen) {
    memset(m, 0, sizeof *m);
    if (model_load(path, &m->model, err, errlen) || tokenizer_create(m->model->gguf, &m->tok, err, errlen)) goto fail;
    const ModelConfig *c = &m->model->cfg;
    if (tokenizer_n_vocab(m->tok) > c->vocab_size) {
        snprintf(err, errlen, "%s: the tokenizer has %d tokens but the embedding only %d rows", path,
                 tokenizer_n_vocab(m->tok), c->vocab_size);
        goto fail;
    }
    int chat = chat_template_for_model(&m->chat, m->model->gguf, m->tok, chat_template, m->chat_err,
                                       sizeof m->chat_err);
    if (chat < 0) {
        snprintf(err, errlen, "%s", m->chat_err);
        goto fail;
    }
    m->has_chat = chat == 1;
    m->max_model_len = max_model_len > 0 ? max_model_len : c->context_len;
    if (m->max_model_len > c->context_len) {
        snprintf(err, errlen, "--max-model-len %d is longer than the model's context length %d", m->max_model_len,
                 c->context_len);
        goto fail;
    }
    return 0;
fail:
    text_model_free(m);
    return -1;
}

int text_model_dummy(TextModel *m, const char *name, DType dtype, uint64_t seed, int max_model_len, char *err,
                     size_t errlen) {
    memset(m, 0, sizeof *m);
    int rc = model_dummy_create(name, dtype, seed, &m->model, err, errlen);
    if (rc) return rc;
    snprintf(m->chat_err, sizeof m->chat_err, "a dummy model has no chat template");
    const ModelConfig *c = &m->model->cfg;
    m->max_model_len = max_model_len > 0 ? max_model_len : c->context_len;
    if (m->max_model_len > c->context_len) {
        int n = m->max_model_len;
        text_model_free(m);
        return err_set(err, errlen, -EINVAL, "--max-model-len %d is longer than %s's context length %d", n, name,
                       c->context_len);
    }
    return 0;
}

void text_model_free(TextModel *m) {
    if (m->has_chat) chat_template_free(&m->chat);
    if (m->tok) tokenizer_destroy(m->tok);
    model_free(m->model);
    memset(m, 0, sizeof *m);
}
