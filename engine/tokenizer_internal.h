/* Inside the tokenizer: the Tokenizer struct and the functions its files share
 * (tokenizer.c: vocabulary, special tokens, the encode driver; tokenizer_pre.c: the
 * pre-tokenizer regexes; tokenizer_bpe.c: byte-level BPE; tokenizer_spm.c: SentencePiece;
 * tokenizer_detok.c: incremental decoding). Nothing outside engine/tokenizer*.c and the
 * tokenizer's unit test includes this header. */
#ifndef PISTON_TOKENIZER_INTERNAL_H
#define PISTON_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "engine/tokenizer.h"

/* GGUF tokenizer.ggml.token_type values, as llama.cpp numbers them. */
enum {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

typedef enum TokModel { TOK_MODEL_BPE, TOK_MODEL_SPM } TokModel;

/* SentencePiece's "▁" before a run of text (add_space_prefix): PREFIX at the start and after
 * each special token (a GGUF's add_space_prefix, the legacy Prepend normalizer); with FIRST
 * only at the start of the text (Metaspace's prepend_scheme first); with UNLESS_SPACE not
 * before a run that starts with a space (Metaspace checks that). */
enum { TOK_SPACE_PREFIX = 1 << 0, TOK_SPACE_PREFIX_FIRST = 1 << 1, TOK_SPACE_PREFIX_UNLESS_SPACE = 1 << 2 };

/* At most this many regexes run one after the other (llama.cpp's "default" uses four). */
#define TOK_PRE_MAX_REGEX 4

/* The pre-tokenizer: each regex splits every piece the previous one produced, and the text
 * between two matches is a piece too (llama.cpp's unicode_regex_split). */
typedef struct TokPre {
    char name[64];
    int n_regex;
    pcre2_code *re[TOK_PRE_MAX_REGEX];
    int ignore_merges; /* a word that is itself a token is emitted whole (Llama-3) */
    int add_bos;       /* default of tokenizer.ggml.add_bos_token for this pre type */
    int nfc;           /* NFC-normalize each run of text before splitting (Qwen2's tokenizer.json) */
} TokPre;

/* Open-addressing hash from token text to id: the vocabulary lookup. */
typedef struct TokHash {
    int32_t *slot; /* token id, -1 for empty */
    uint32_t mask;
} TokHash;

/* BPE merges keyed by the pair of token ids: rank and the id of the merged token. */
typedef struct TokMerges {
    uint64_t *key; /* (left << 32) | right, UINT64_MAX for empty */
    int32_t *rank;
    int32_t *result;
    uint32_t mask;
} TokMerges;

struct Tokenizer {
    TokModel model;
    int n_vocab;
    char *text;          /* all token texts, as stored in the GGUF, NUL after each */
    uint32_t *text_off;  /* [n_vocab] */
    uint32_t *text_len;  /* [n_vocab] */
    char *piece;         /* all decoded pieces (raw bytes), NUL after each */
    uint32_t *piece_off; /* [n_vocab] */
    uint32_t *piece_len; /* [n_vocab] */
    uint8_t *type;       /* [n_vocab] TOK_TYPE_*, after llama.cpp's EOG fix-ups */
    float *score;        /* [n_vocab] SentencePiece scores (NULL for BPE) */
    uint8_t *eog;        /* [n_vocab] 1 for end-of-generation tokens */
    TokHash vocab;
    TokMerges merges;
    int32_t byte_tok[256]; /* id of the token for one raw byte, -1 when none */
    int32_t bos, eos, eot, eom, unk, pad;
    int add_bos, add_eos, add_space_prefix; /* TOK_SPACE_* */
    size_t max_piece;      /* longest decoded piece, bytes */
    int32_t *special;      /* ids matched as whole strings before pre-tokenization, longest first */
    int n_special;
    TokPre pre;
};

/* A string that points into its source (a GGUF mapping, a parsed tokenizer.json). */
typedef struct TokStr {
    const char *p;
    uint32_t len;
} TokStr;

/* What a tokenizer is built from, whichever file it came from (tokenizer.c reads a GGUF's
 * tokenizer.* keys into one, tokenizer_hf.c a tokenizer.json): the same construction runs
 * over either. The strings point into the source, which must outlive tokenizer_from_spec. */
typedef struct TokSpec {
    const char *src;       /* for messages */
    TokModel model;
    int n_vocab;
    TokStr *text;          /* [n_vocab]; len 0 for an id no token has */
    uint8_t *type;         /* [n_vocab] TOK_TYPE_* */
    float *score;          /* [n_vocab] or NULL (SentencePiece only) */
    TokStr *merge_left, *merge_right; /* [n_merges] BPE merges by rank (SentencePiece: from a
                                       * tokenizer.json, which merges by them, not by score) */
    int64_t n_merges;
    const char *pre_name;  /* a tokenizer.ggml.pre name, or NULL when regex is given */
    const char *regex[TOK_PRE_MAX_REGEX]; /* tokenizer.json's split regexes, in order */
    int n_regex;
    int ignore_merges;     /* tokenizer.json's model.ignore_merges (the name's default otherwise) */
    int nfc;               /* normalize input to NFC first (tokenizer.json normalizer NFC) */
    int32_t bos, eos, unk, pad, eot, eom; /* -1 when none */
    int add_bos, add_eos, add_space_prefix; /* add_bos -1: the pre-tokenizer's default */
} TokSpec;

/* Build a tokenizer from a spec (tokenizer.c). */
int tokenizer_from_spec(const TokSpec *s, Tokenizer **out, char *err, size_t errlen);

/* Output of an encode: ids beyond cap are counted, not written. */
typedef struct TokOut {
    int32_t *ids;
    int cap;
    int n;
} TokOut;

static inline void tok_out_push(TokOut *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

/* Growable scratch memory of one encode call (the Tokenizer itself stays read-only, so
 * that several threads may encode with one tokenizer). */
typedef struct TokScratch {
    void *buf;
    size_t cap;
} TokScratch;
void *tok_scratch_get(TokScratch *s, size_t bytes); /* NULL when out of memory */

int32_t tok_hash_find(const Tokenizer *t, const char *s, size_t len);
uint64_t tok_hash_bytes(const char *s, size_t len);

/* tokenizer_pre.c */
int tok_pre_init(TokPre *p, const char *name, char *err, size_t errlen);
/* The same from regexes as a tokenizer.json spells them (Oniguruma syntax PCRE2 shares). */
int tok_pre_init_regex(TokPre *p, const char *const *regex, int n, char *err, size_t errlen);
void tok_pre_free(TokPre *p);
const char *tok_pre_known_names(void);
/* GPT-2's regex: what a tokenizer.json ByteLevel pre-tokenizer with use_regex splits by. */
const char *tok_pre_gpt2_regex(void);
/* Calls fn for every word of text[0, len) in order. Returns 0, or the first nonzero value fn
 * returned, or negative on a regex error. */
typedef int (*TokWordFn)(void *ctx, const char *word, size_t len);
int tok_pre_split(const TokPre *p, const char *text, size_t len, TokWordFn fn, void *ctx);

/* tokenizer_bpe.c */
int tok_bpe_load(Tokenizer *t, const TokSpec *s, char *err, size_t errlen);
/* Byte-level decoding of a token text (Ġ -> ' ', ...) into out (cap >= len); returns bytes. */
size_t tok_bpe_decode_text(const char *s, size_t len, char *out);
int tok_bpe_encode(const Tokenizer *t, const char *text, size_t len, TokOut *out);
/* Rank of merging tokens a and b (and the merged id in *result), or -1. */
int32_t tok_merges_find(const TokMerges *m, int32_t a, int32_t b, int32_t *result);

/* tokenizer_spm.c */
int tok_spm_encode(const Tokenizer *t, const char *text, size_t len, int space_prefix, TokOut *out);
/* SentencePiece decoding of a token text: "▁" -> ' ', "<0xNN>" byte tokens -> the byte. */
size_t tok_spm_decode_text(const Tokenizer *t, int32_t id, char *out);

/* tokenizer_hf.c, tokenizer_hf_pre.c: a tokenizer.json being read. */
typedef struct HfCtx {
    TokSpec s;
    const char *path;
    char *owned[TOK_PRE_MAX_REGEX]; /* regexes made here (escaped String patterns) */
    int byte_level;
    int metaspace;              /* 1 + its TOK_SPACE_* (prepend_scheme), or 0 */
    int prepend, replace_space; /* the legacy normalizers: Prepend "▁", Replace " " -> "▁" */
} HfCtx;
struct cJSON;
/* The pre_tokenizer p and the normalizer n (NULL or JSON null: none) into c. 0, or negative
 * with err naming what is not supported. */
int tok_hf_pre(HfCtx *c, const struct cJSON *p, char *err, size_t errlen);
int tok_hf_normalizer(HfCtx *c, const struct cJSON *n, char *err, size_t errlen);

/* Internal creation with the pre-tokenizer type overridden (tests run the regexes of other
 * models over the SmolLM2 vocabulary). pre_override NULL = the file's own. */
int tokenizer_create_ex(const GgufFile *f, const char *pre_override, Tokenizer **out, char *err, size_t errlen);

#endif
