/* A GGUF's tokenizer.* keys as a TokSpec (tokenizer_internal.h): tokenizer.ggml.model,
 * tokens, token_type, scores, merges, pre and the special ids and flags, with llama.cpp's
 * defaults where a key is missing. The spec's strings point into the mapping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/tokenizer_internal.h"

static int32_t get_id(const GgufFile *f, const char *key, int32_t def, int n_vocab) {
    uint32_t v;
    if (gguf_get_u32(f, key, &v) != 0) return def;
    return v < (uint32_t)n_vocab ? (int32_t)v : -1; /* out of range: treated as absent */
}

static int get_flag(const GgufFile *f, const char *key, int def) {
    int v;
    return gguf_get_bool(f, key, &v) == 0 ? v : def;
}

static TokStr tstr(GgufStr s) { return (TokStr){s.ptr, s.len > UINT32_MAX ? 0 : (uint32_t)s.len}; }

/* tokens, types, scores and merges into s (arrays malloc'd, freed by the caller) */
static int read_arrays(const GgufFile *f, TokSpec *s, char *err, size_t errlen) {
    GgufArr toks, types, scores, ma;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) != 0 || toks.elem_type != GGUF_TYPE_STRING || toks.n == 0 ||
        toks.n > (1u << 24))
        return err_set(err, errlen, -EINVAL, "%s: tokenizer.ggml.tokens is missing or not a string array", gguf_path(f));
    int n = s->n_vocab = (int)toks.n;
    int have_types = gguf_get_arr(f, "tokenizer.ggml.token_type", &types) == 0 && types.n == toks.n &&
                     types.elem_type != GGUF_TYPE_STRING && types.elem_type != GGUF_TYPE_ARRAY;
    int have_scores = gguf_get_arr(f, "tokenizer.ggml.scores", &scores) == 0 && scores.n == toks.n &&
                      (scores.elem_type == GGUF_TYPE_FLOAT32 || scores.elem_type == GGUF_TYPE_FLOAT64);
    s->text = malloc((size_t)n * sizeof *s->text);
    s->type = malloc((size_t)n);
    s->score = have_scores ? malloc((size_t)n * sizeof *s->score) : NULL;
    if (!s->text || !s->type || (have_scores && !s->score)) return err_set(err, errlen, -ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        s->text[i] = tstr(gguf_arr_str(&toks, (uint64_t)i));
        int64_t ty = have_types ? gguf_arr_int(&types, (uint64_t)i) : TOK_TYPE_NORMAL;
        s->type[i] = (uint8_t)(ty >= TOK_TYPE_NORMAL && ty <= TOK_TYPE_BYTE ? ty : TOK_TYPE_NORMAL);
        if (s->score) s->score[i] = (float)gguf_arr_float(&scores, (uint64_t)i);
    }
    if (s->model != TOK_MODEL_BPE) return 0;
    if (gguf_get_arr(f, "tokenizer.ggml.merges", &ma) != 0 || ma.elem_type != GGUF_TYPE_STRING || ma.n > (1u << 26))
        return err_set(err, errlen, -EINVAL, "%s: tokenizer.ggml.merges is missing or not an array of strings (a gpt2 "
                       "tokenizer needs it)", gguf_path(f));
    s->merge_left = malloc((ma.n ? ma.n : 1) * sizeof *s->merge_left);
    s->merge_right = malloc((ma.n ? ma.n : 1) * sizeof *s->merge_right);
    if (!s->merge_left || !s->merge_right) return err_set(err, errlen, -ENOMEM, "out of memory");
    for (uint64_t i = 0; i < ma.n; i++) {
        GgufStr m = gguf_arr_str(&ma, i);
        /* "left right": tokens never contain a plain space (it is Ġ), but search from 1 as a
         * token of a lone space would be the left half. A merge without one never applies. */
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        s->merge_left[i] = sp ? (TokStr){m.ptr, (uint32_t)(sp - m.ptr)} : (TokStr){NULL, 0};
        s->merge_right[i] = sp ? (TokStr){sp + 1, (uint32_t)(m.len - (size_t)(sp - m.ptr) - 1)} : (TokStr){NULL, 0};
    }
    s->n_merges = (int64_t)ma.n;
    return 0;
}

int tokenizer_create_ex(const GgufFile *f, const char *pre_override, Tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    TokSpec s = {.src = gguf_path(f)};
    GgufStr model = {NULL, 0}, pre = {NULL, 0};
    char pre_name[64] = "";
    if (gguf_get_str(f, "tokenizer.ggml.model", &model) != 0)
        return err_set(err, errlen, -EINVAL, "%s: tokenizer.ggml.model is missing: the file has no tokenizer", gguf_path(f));
    if (gguf_str_eq(model, "gpt2")) s.model = TOK_MODEL_BPE;
    else if (gguf_str_eq(model, "llama")) s.model = TOK_MODEL_SPM;
    else
        return err_set(err, errlen, -EINVAL, "%s: tokenizer model '%.*s' is not supported (Piston supports gpt2 = "
                       "byte-level BPE, llama = SentencePiece)", gguf_path(f), (int)(model.len > 40 ? 40 : model.len),
                       model.ptr);
    int rc = read_arrays(f, &s, err, errlen);
    int n = s.n_vocab;
    if (!rc && s.model == TOK_MODEL_BPE) {
        if (pre_override) snprintf(pre_name, sizeof pre_name, "%s", pre_override);
        else if (gguf_get_str(f, "tokenizer.ggml.pre", &pre) == 0)
            snprintf(pre_name, sizeof pre_name, "%.*s", (int)(pre.len > 60 ? 60 : pre.len), pre.ptr);
        s.pre_name = pre_name;
        s.bos = get_id(f, "tokenizer.ggml.bos_token_id", 11 < n ? 11 : -1, n);
        s.eos = get_id(f, "tokenizer.ggml.eos_token_id", 11 < n ? 11 : -1, n);
        s.unk = get_id(f, "tokenizer.ggml.unknown_token_id", -1, n);
        s.add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", -1); /* -1: the pre type's default */
    } else if (!rc) {
        s.bos = get_id(f, "tokenizer.ggml.bos_token_id", 1 < n ? 1 : -1, n);
        s.eos = get_id(f, "tokenizer.ggml.eos_token_id", 2 < n ? 2 : -1, n);
        s.unk = get_id(f, "tokenizer.ggml.unknown_token_id", 0, n);
        s.add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", 1);
        s.add_space_prefix = get_flag(f, "tokenizer.ggml.add_space_prefix", 1);
    }
    s.pad = get_id(f, "tokenizer.ggml.padding_token_id", -1, n);
    s.eot = get_id(f, "tokenizer.ggml.eot_token_id", -1, n);
    s.eom = get_id(f, "tokenizer.ggml.eom_token_id", -1, n);
    s.add_eos = get_flag(f, "tokenizer.ggml.add_eos_token", 0);
    if (!rc) rc = tokenizer_from_spec(&s, out, err, errlen);
    free(s.text), free(s.type), free(s.score), free(s.merge_left), free(s.merge_right);
    return rc;
}

int tokenizer_create(const GgufFile *f, Tokenizer **out, char *err, size_t errlen) {
    return tokenizer_create_ex(f, NULL, out, err, errlen);
}
