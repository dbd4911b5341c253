/* Loading a model for text (see text_model.h): weights, tokenizer, and the chat template from
 * the GGUF's tokenizer.chat_template or the directory's tokenizer_config.json (or the family
 * named by --chat-template) with the model's own BOS/EOS texts, and the generation defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
 * --chat-template); -1: the named family failed, or out of memory. src: the model's own. */
static int chat_template_for_model(ChatTemplate *ct, const char *src, const Tokenizer *tok, const char *name,
                                   char *err, size_t errlen) {
    int rc = chat_template_init(ct, src, name, err, errlen);
    if (rc != 0) return name ? -1 : 0; /* a family the user named must work; the model's may be unknown */
    char bos[64], eos[64];
    if (chat_template_set_tokens(ct, token_text(tok, tokenizer_bos(tok), bos, sizeof bos),
                                 token_text(tok, tokenizer_eos(tok), eos, sizeof eos))) {
        chat_template_free(ct);
        return err_set(err, errlen, -ENOMEM, "out of memory");
    }
    return 1;
}

static int is_file(const char *dir, const char *name) {
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%.4000s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The tokenizer and the model's own template source (*src, malloc'd or NULL). A dummy of a
 * built-in config has neither (0, tok NULL). */
static int load_tokenizer(TextModel *m, char **src, char *err, size_t errlen) {
    const Model *md = m->model;
    *src = NULL;
    if (md->format == MODEL_FORMAT_GGUF) {
        GgufStr s = {0};
        *src = gguf_get_str(md->gguf, "tokenizer.chat_template", &s) == 0 ? gguf_str_dup(s) : NULL;
        return tokenizer_create(md->gguf, &m->tok, err, errlen);
    }
    if (md->format == MODEL_FORMAT_DUMMY && !is_file(md->path, "tokenizer.json")) return 0;
    if (!is_file(md->path, "tokenizer.json"))
        return err_set(err, errlen, -ENOENT, "%s: no tokenizer.json (Piston reads the tokenizers library's format)",
                       md->path);
    *src = hf_chat_template_read(md->path);
    return tokenizer_create_hf(md->path, &m->tok, err, errlen);
}

int text_model_open(TextModel *m, const TextModelArgs *a, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    sampling_params_default(&m->gen_defaults);
    char *src = NULL;
    int rc = a->load_dummy ? model_dummy_create(a->path, a->dtype == DT_COUNT ? DT_BF16 : (DType)a->dtype, a->seed,
                                                &m->model, err, errlen)
                           : model_load(a->path, a->dtype, &m->model, err, errlen);
    if (rc || (rc = load_tokenizer(m, &src, err, errlen))) goto fail;
    const ModelConfig *c = &m->model->cfg;
    if (m->tok && tokenizer_n_vocab(m->tok) > c->vocab_size) {
        rc = err_set(err, errlen, -EINVAL, "%s: the tokenizer has %d tokens but the embedding only %d rows", a->path,
                     tokenizer_n_vocab(m->tok), c->vocab_size);
        goto fail;
    }
    int chat = 0;
    if (m->tok) chat = chat_template_for_model(&m->chat, src, m->tok, a->chat_template, m->chat_err, sizeof m->chat_err);
    else
        snprintf(m->chat_err, sizeof m->chat_err,
                 "the model has no tokenizer (a dummy model without tokenizer.json), so no chat template: only "
                 "token-id prompts work");
    if (chat < 0) {
        rc = err_set(err, errlen, -EINVAL, "%s", m->chat_err);
        goto fail;
    }
    m->has_chat = chat == 1;
    m->max_model_len = a->max_model_len > 0 ? a->max_model_len : c->context_len;
    if (m->max_model_len > c->context_len) {
        rc = err_set(err, errlen, -EINVAL, "--max-model-len %d is longer than the model's context length %d",
                     m->max_model_len, c->context_len);
        goto fail;
    }
    const char *gc = a->generation_config ? a->generation_config : "auto";
    if (m->tok && strcmp(gc, "vllm")) {
        int named = strcmp(gc, "auto") != 0;
        if (named || m->model->format != MODEL_FORMAT_GGUF)
            rc = hf_generation_config_read(m, named ? gc : m->model->path, named, err, errlen);
        if (rc) goto fail;
    }
    free(src);
    return 0;
fail:
    free(src);
    text_model_free(m);
    return rc ? rc : -EINVAL;
}

int text_model_load(TextModel *m, const char *path, const char *chat_template, int max_model_len, char *err,
                    size_t errlen) {
    TextModelArgs a = {path, chat_template, max_model_len, DT_COUNT, NULL, 0, 0};
    return text_model_open(m, &a, err, errlen);
}

void text_model_free(TextModel *m) {
    if (m->has_chat) chat_template_free(&m->chat);
    if (m->tok) tokenizer_destroy(m->tok);
    model_free(m->model);
    memset(m, 0, sizeof *m);
}
