/* Tokenizer: byte-level BPE (tokenizer.ggml.model = "gpt2", with the pre-tokenizer regex of
 * tokenizer.ggml.pre run through PCRE2) and the SentencePiece-style model ("llama"), built
 * from a GGUF file's tokenizer.* metadata or a Hugging Face tokenizer.json. Encoding equals llama.cpp's token for token.
 * Decoding is incremental: a streaming client never receives half a UTF-8 character. */
#ifndef PISTON_TOKENIZER_H
#define PISTON_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "models/gguf.h"

typedef struct Tokenizer Tokenizer;

/* 0, or negative with one line in err (unknown tokenizer model or pre-tokenizer type, ...). */
int tokenizer_create(const GgufFile *f, Tokenizer **out, char *err, size_t errlen);
/* From a Hugging Face directory: tokenizer.json (byte-level BPE: vocabulary, merges, added
 * and special tokens, the pre-tokenizer's split regexes, an NFC normalizer) and
 * tokenizer_config.json (bos_token, eos_token, add_bos_token, add_eos_token). The same
 * tokenizer as a GGUF's, fed from another source (engine/tokenizer_hf.c). */
int tokenizer_create_hf(const char *dir, Tokenizer **out, char *err, size_t errlen);
/* Mark id as end of generation too (generation_config.json's eos_token_id list). */
int tokenizer_add_eog(Tokenizer *t, int32_t id);
void tokenizer_destroy(Tokenizer *t);

/* Encode text[0, len). add_special: prepend BOS (and append EOS) where the model's
 * tokenizer.ggml.add_bos_token / add_eos_token say so. parse_special: text such as
 * "<|im_start|>" becomes its special token instead of being spelled out.
 * Returns the number of ids written (which may exceed cap: call again with more room),
 * or a negative code on error. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                     int32_t *ids, int cap);
/* The same into a malloc'd array that grows to fit (*ids, free it). Returns the count, or a
 * negative code (*ids NULL). The one way the server, the CLI and the benchmarks tokenize. */
int tokenizer_encode_alloc(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                           int32_t **ids);

/* A byte range [start, end) of a text. */
typedef struct TokSpan {
    size_t start, end;
} TokSpan;
/* As tokenizer_encode, but a control token (<|im_end|>, <|eot_id|>, ...) whose bytes overlap
 * one of plain[0, n_plain) (sorted, disjoint) stays text, as with parse_special = 0: a chat
 * prompt's message contents are plain text and only the template's own markers become
 * control tokens (chat_template_render gives the spans). With no spans it is
 * tokenizer_encode; where no control text lies in a span the ids are the same as
 * tokenizer_encode's, since the plain runs between control tokens are encoded whole. */
int tokenizer_encode_spans(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                           const TokSpan *plain, int n_plain, int32_t *ids, int cap);
int tokenizer_encode_spans_alloc(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                                 const TokSpan *plain, int n_plain, int32_t **ids);

/* The accessors and detok_* take t NULL (a model without a tokenizer): no ids, no text;
 * encoding with it fails (-1), so callers refuse text prompts before they get here. */
int tokenizer_n_vocab(const Tokenizer *t);
int32_t tokenizer_bos(const Tokenizer *t); /* -1 when none */
int32_t tokenizer_eos(const Tokenizer *t);
/* End of generation: EOS, EOT, <|im_end|>, <|eot_id|> ... (every id llama.cpp treats as EOG). */
int tokenizer_is_eog(const Tokenizer *t, int32_t id);
/* Control/special tokens (token type CONTROL, and UNKNOWN such as <unk>) decode to nothing. */
int tokenizer_is_control(const Tokenizer *t, int32_t id);
/* The token's text as raw bytes after decoding (byte-level or SentencePiece), len in *len.
 * Control tokens give their text as written ("<|im_end|>"); an id out of range gives "". */
const char *tokenizer_piece(const Tokenizer *t, int32_t id, size_t *len);
/* Id of an exact token string such as "<|im_end|>", or -1. */
int32_t tokenizer_find(const Tokenizer *t, const char *piece);

/* Incremental detokenizer: push ids one at a time, receive only complete UTF-8 sequences. */
typedef struct Detok {
    char pending[8];
    int n_pending;
    /* SentencePiece: strip the leading space of the first piece. detok_init clears it: a
     * stream of generated tokens continues a prompt and keeps its space (" Paris"). Set it
     * to 1 after detok_init when decoding a whole text from its start (/detokenize). */
    int first;
} Detok;
void detok_init(Detok *d);
/* Appends the decodable bytes of id to out (cap bytes); returns bytes written. Control
 * tokens produce nothing. Bytes that can never be valid UTF-8 become U+FFFD. With
 * cap >= detok_max_bytes(t) nothing is ever dropped; with less, a character that does not
 * fit is dropped whole. */
size_t detok_push(const Tokenizer *t, Detok *d, int32_t id, char *out, size_t cap);
/* As detok_push, with the token's piece as text whatever its type: a control token that a
 * constraint takes as a terminal (constraint_matcher_is_terminal). */
size_t detok_push_text(const Tokenizer *t, Detok *d, int32_t id, char *out, size_t cap);
/* Whatever is left at the end of a stream (an incomplete sequence becomes U+FFFD, so cap
 * should be at least 3). */
size_t detok_flush(Detok *d, char *out, size_t cap);

/* The most bytes one detok_push can write for this vocabulary. */
size_t detok_max_bytes(const Tokenizer *t);

#endif
