/* A Hugging Face tokenizer.json (the `tokenizers` library's format) and tokenizer_config.json
 * as a TokSpec, so that the same tokenizer as a GGUF's runs over it. Read: byte-level BPE
 * (model.vocab, model.merges as "a b" strings or [a, b] pairs, model.ignore_merges), the
 * pre-tokenizer and normalizer trees (tokenizer_hf_pre.c), added tokens
 * (special ones become CONTROL, others USER_DEFINED: always matched, as the library matches
 * them), the BOS/EOS that a TemplateProcessing post-processor adds, and tokenizer_config.json's
 * bos_token, eos_token, unk_token, pad_token, add_bos_token and add_eos_token, which win.
 * SentencePiece-style BPE (byte_fallback, with a Metaspace pre-tokenizer or the Prepend "▁" and
 * Replace " " -> "▁" normalizers: Llama-2, Mistral v0.1-v0.3) runs on the SentencePiece
 * tokenizer (tokenizer_spm.c) merging by the file's merge list, <0xNN> tokens as its byte
 * fallback. Other models (Unigram, WordPiece) are refused by name: their GGUF works. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "engine/tokenizer_internal.h"

static cJSON *read_json(const char *path, int required, char *err, size_t errlen) {
    char *buf;
    size_t n;
    int rc = base_read_file(path, 64u << 20, &buf, &n, err, errlen);
    if (rc) {
        if (rc == -ENOENT && !required && err && errlen) err[0] = 0; /* an optional file may be absent */
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!j) err_set(err, errlen, -EINVAL, "%s: not JSON", path);
    return j;
}

static TokStr jstr(const cJSON *v) {
    return cJSON_IsString(v) ? (TokStr){v->valuestring, (uint32_t)strlen(v->valuestring)} : (TokStr){NULL, 0};
}

/* An id from the file: a number in [0, 2^31), or -1 (casting one outside is undefined). */
static int32_t json_id(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 2147483647.0 ? (int32_t)v->valuedouble : -1;
}

static int32_t id_of(const cJSON *vocab, const cJSON *added, const cJSON *tok) {
    /* a token in tokenizer_config.json is a string or an AddedToken object {content: ...} */
    const char *s = cJSON_IsString(tok) ? tok->valuestring
                                        : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tok, "content"));
    if (!s) return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, added) {
        const char *ct = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "content"));
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (ct && !strcmp(ct, s) && cJSON_IsNumber(id)) return json_id(id);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(vocab, s);
    return json_id(v);
}

static int fill_vocab(HfCtx *c, const cJSON *model, const cJSON *added, char *err, size_t errlen) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *e;
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return err_set(err, errlen, -EINVAL, "%s: model.vocab or model.merges is missing", c->path);
    /* ids past the limit count as limit + 1, refused below: the cast of 1e40 is undefined */
    int n = 0, over = (1 << 24) + 1;
    cJSON_ArrayForEach(e, vocab)
        if (cJSON_IsNumber(e) && e->valuedouble >= n) n = e->valuedouble < 1 << 24 ? (int)e->valuedouble + 1 : over;
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= n) n = id->valuedouble < 1 << 24 ? (int)id->valuedouble + 1 : over;
    }
    if (n <= 0 || n > 1 << 24) return err_set(err, errlen, -EINVAL, "%s: the vocabulary has %d ids", c->path, n);
    TokSpec *s = &c->s;
    s->n_vocab = n;
    s->text = calloc((size_t)n, sizeof *s->text);
    s->type = malloc((size_t)n);
    int64_t nm = cJSON_GetArraySize(merges);
    s->merge_left = malloc((nm ? nm : 1) * sizeof *s->merge_left);
    s->merge_right = malloc((nm ? nm : 1) * sizeof *s->merge_right);
    if (!s->text || !s->type || !s->merge_left || !s->merge_right) return err_set(err, errlen, -ENOMEM, "out of memory");
    memset(s->type, TOK_TYPE_NORMAL, (size_t)n);
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= n) continue;
        s->text[(int)e->valuedouble] = (TokStr){e->string, (uint32_t)strlen(e->string)};
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        TokStr ct = jstr(cJSON_GetObjectItemCaseSensitive(e, "content"));
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !ct.p) continue;
        s->text[(int)id->valuedouble] = ct;
        s->type[(int)id->valuedouble] =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")) ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
    }
    int64_t k = 0;
    cJSON_ArrayForEach(e, merges) {
        TokStr l = {NULL, 0}, r = {NULL, 0};
        if (cJSON_IsString(e)) { /* "left right" */
            const char *str = e->valuestring, *sp = str[0] ? strchr(str + 1, ' ') : NULL;
            if (sp) l = (TokStr){str, (uint32_t)(sp - str)}, r = (TokStr){sp + 1, (uint32_t)strlen(sp + 1)};
        } else if (cJSON_GetArraySize(e) == 2) {
            l = jstr(cJSON_GetArrayItem(e, 0)), r = jstr(cJSON_GetArrayItem(e, 1));
        }
        s->merge_left[k] = l, s->merge_right[k] = r, k++;
    }
    s->n_merges = k;
    return 0;
}

/* SentencePiece's token types: <0xNN> its byte fallback, unk UNKNOWN (added tokens are typed). */
static void mark_spm_types(TokSpec *s, int32_t unk) {
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < s->n_vocab; i++) {
        const char *t = s->text[i].p;
        if (s->type[i] != TOK_TYPE_NORMAL || s->text[i].len != 6 || memcmp(t, "<0x", 3) || t[5] != '>') continue;
        if (strchr(hex, t[3]) && strchr(hex, t[4]) && t[3] && t[4]) s->type[i] = TOK_TYPE_BYTE;
    }
    if (unk >= 0 && unk < s->n_vocab && s->type[unk] == TOK_TYPE_NORMAL) s->type[unk] = TOK_TYPE_UNKNOWN;
}

/* BOS/EOS that the post-processor adds around a single sequence (Llama-3's <|begin_of_text|>). */
static void read_post(HfCtx *c, const cJSON *pp, const cJSON *vocab, const cJSON *added) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pp, "type"));
    if (type && !strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors")) read_post(c, e, vocab, added);
        return;
    }
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    if (!type || strcmp(type, "TemplateProcessing") || cJSON_GetArraySize(single) < 1) return;
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(single, 0), "SpecialToken");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(single, cJSON_GetArraySize(single) - 1),
                                                         "SpecialToken");
    if (first) c->s.add_bos = 1, c->s.bos = id_of(vocab, added, cJSON_GetObjectItemCaseSensitive(first, "id"));
    if (last) c->s.add_eos = 1, c->s.eos = id_of(vocab, added, cJSON_GetObjectItemCaseSensitive(last, "id"));
}

int tokenizer_create_hf(const char *dir, Tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    char path[4096], cpath[4096];
    if (snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= (int)sizeof path ||
        snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir) >= (int)sizeof cpath)
        return err_set(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
    HfCtx c = {.path = path};
    c.s = (TokSpec){.src = path, .model = TOK_MODEL_BPE, .bos = -1, .eos = -1, .unk = -1, .pad = -1, .eot = -1,
                    .eom = -1, .add_bos = 0};
    cJSON *j = read_json(path, 1, err, errlen), *cfg = NULL;
    if (!j) return -EINVAL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const char *mtype = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    int rc = 0;
    if (!mtype || strcmp(mtype, "BPE"))
        rc = err_set(err, errlen, -EINVAL,
                     "%s: model type %s is not supported (Piston reads BPE: byte-level or SentencePiece-style)", path,
                     mtype ? mtype : "(none)");
    if (!rc) rc = tok_hf_pre(&c, cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer"), err, errlen);
    if (!rc) rc = tok_hf_normalizer(&c, cJSON_GetObjectItemCaseSensitive(j, "normalizer"), err, errlen);
    int fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    int spm = fallback && !c.byte_level && !c.s.n_regex && !c.s.nfc &&
              (c.metaspace ? !c.prepend && !c.replace_space : c.replace_space);
    if (!rc && !spm && (!c.byte_level || fallback || c.prepend || c.replace_space || c.metaspace))
        rc = err_set(err, errlen, -EINVAL,
                     "%s: Piston reads a byte-level BPE, or a SentencePiece-style one (byte_fallback with Metaspace, "
                     "or with the Prepend and Replace normalizers), and this is neither (the model's GGUF may work)",
                     path);
    if (spm) c.s.model = TOK_MODEL_SPM, c.s.add_space_prefix = c.metaspace ? c.metaspace - 1 : c.prepend;
    if (!rc) rc = fill_vocab(&c, model, added, err, errlen);
    if (!rc && spm) mark_spm_types(&c.s, id_of(vocab, added, cJSON_GetObjectItemCaseSensitive(model, "unk_token")));
    if (!rc) {
        c.s.ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
        c.s.unk = id_of(vocab, added, cJSON_GetObjectItemCaseSensitive(model, "unk_token"));
        read_post(&c, cJSON_GetObjectItemCaseSensitive(j, "post_processor"), vocab, added);
        cfg = read_json(cpath, 0, NULL, 0); /* optional: the library's defaults without it */
        const cJSON *v;
        if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "bos_token")) && !cJSON_IsNull(v)) c.s.bos = id_of(vocab, added, v);
        if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "eos_token")) && !cJSON_IsNull(v)) c.s.eos = id_of(vocab, added, v);
        if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "unk_token")) && !cJSON_IsNull(v)) c.s.unk = id_of(vocab, added, v);
        if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "pad_token")) && !cJSON_IsNull(v)) c.s.pad = id_of(vocab, added, v);
        if (cJSON_IsBool(v = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token"))) c.s.add_bos = cJSON_IsTrue(v);
        if (cJSON_IsBool(v = cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token"))) c.s.add_eos = cJSON_IsTrue(v);
        rc = tokenizer_from_spec(&c.s, out, err, errlen);
    }
    cJSON_Delete(j);
    cJSON_Delete(cfg);
    for (int i = 0; i < TOK_PRE_MAX_REGEX; i++) free(c.owned[i]);
    free(c.s.text), free(c.s.type), free(c.s.merge_left), free(c.s.merge_right);
    return rc;
}
