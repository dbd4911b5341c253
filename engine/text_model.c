/* The chat template of a loaded model: its GGUF tokenizer.chat_template (or the family named
 * by --chat-template), with the model's own BOS/EOS texts. Shared by the engine and the
 * single-sequence session so that both render prompts the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chat_template.h"
#include "engine/tokenizer.h"

/* The text of token id into buf (empty when there is none or it does not fit). */
static const char *token_text(const Tokenizer *tok, int32_t id, char *buf, size_t cap) {
    size_t n;
    const char *t = id >= 0 ? tokenizer_piece(tok, id, &n) : NULL;
    buf[0] = 0;
    if (t && n < cap) memcpy(buf, t, n), buf[n] = 0;
    return buf[0] ? buf : NULL;
}

int chat_template_for_model(ChatTemplate *ct, const GgufFile *f, const Tokenizer *tok, const char *name, char *err,
                            size_t errlen) {
    GgufStr s = {0};
    char *src = gguf_get_str(f, "tokenizer.chat_template", &s) == 0 ? gguf_str_dup(s) : NULL;
    int rc = chat_template_init(ct, src, name, err, errlen);
    free(src);
    if (rc != 0) return name ? -1 : 0; /* a family the user named must work; the model's may be unknown */
    char bos[64], eos[64];
    if (chat_template_set_tokens(ct, token_text(tok, tokenizer_bos(tok), bos, sizeof bos),
                                 token_text(tok, tokenizer_eos(tok), eos, sizeof eos))) {
        chat_template_free(ct);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 1;
}
