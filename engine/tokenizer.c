/* The tokenizer's core: the vocabulary read from a GGUF's tokenizer.* keys (texts, types,
 * scores, the text -> id hash), the special ids and the end-of-generation set, and the
 * encode driver. Encoding follows llama.cpp: special tokens are cut out of the text first
 * (longest token text first, anywhere in the text), then each remaining run of plain text
 * goes through the model's algorithm (tokenizer_bpe.c or tokenizer_spm.c) on its own.
 * After tokenizer_create the Tokenizer is read-only, so threads may share it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/tokenizer_internal.h"

void *tok_scratch_get(TokScratch *s, size_t bytes) {
    if (bytes > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < bytes) cap *= 2;
        void *nb = realloc(s->buf, cap);
        if (!nb) return NULL;
        s->buf = nb;
        s->cap = cap;
    }
    return s->buf;
}

uint64_t tok_hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

int32_t tok_hash_find(const Tokenizer *t, const char *s, size_t len) {
    for (uint32_t i = (uint32_t)tok_hash_bytes(s, len) & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        int32_t id = t->vocab.slot[i];
        if (id < 0) return -1;
        if (t->text_len[id] == len && memcmp(t->text + t->text_off[id], s, len) == 0) return id;
    }
}

/* Later duplicates replace earlier ones, as in llama.cpp's token_to_id map. */
static void hash_insert(Tokenizer *t, int32_t id) {
    const char *s = t->text + t->text_off[id];
    size_t len = t->text_len[id];
    for (uint32_t i = (uint32_t)tok_hash_bytes(s, len) & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        int32_t o = t->vocab.slot[i];
        if (o < 0 || (t->text_len[o] == len && memcmp(t->text + t->text_off[o], s, len) == 0)) {
            t->vocab.slot[i] = id;
            return;
        }
    }
}

static int32_t get_id(const GgufFile *f, const char *key, int32_t def, int n_vocab) {
    uint32_t v;
    if (gguf_get_u32(f, key, &v) != 0) return def;
    return v < (uint32_t)n_vocab ? (int32_t)v : -1; /* out of range: treated as absent */
}

static int get_flag(const GgufFile *f, const char *key, int def) {
    int v;
    return gguf_get_bool(f, key, &v) == 0 ? v : def;
}

/* Token texts llama.cpp treats as end of generation (and forces to CONTROL), because many
 * GGUFs do not carry tokenizer.ggml.eot_token_id. */
static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    /* fill-in-the-middle pad / repo / file separators */
    "<|fim_pad|>", "<fim-pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<reponame>", "<|file_sep|>",
};

static int special_cmp(const void *a, const void *b, void *vt) {
    const Tokenizer *t = vt;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text_len[x] != t->text_len[y]) return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int load_vocab(Tokenizer *t, const GgufFile *f, char *err, size_t errlen) {
    GgufArr toks, types, scores;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) != 0 || toks.elem_type != GGUF_TYPE_STRING ||
        toks.n == 0 || toks.n > (1u << 24)) {
        return err_set(err, errlen, -EINVAL, "%s: tokenizer.ggml.tokens is missing or not a string array", gguf_path(f));
    }
    int n = t->n_vocab = (int)toks.n;
    int have_types = gguf_get_arr(f, "tokenizer.ggml.token_type", &types) == 0 && types.n == toks.n &&
                     types.elem_type != GGUF_TYPE_STRING && types.elem_type != GGUF_TYPE_ARRAY;
    int have_scores = gguf_get_arr(f, "tokenizer.ggml.scores", &scores) == 0 && scores.n == toks.n &&
                      (scores.elem_type == GGUF_TYPE_FLOAT32 || scores.elem_type == GGUF_TYPE_FLOAT64);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += gguf_arr_str(&toks, (uint64_t)i).len + 1;
    if (total > UINT32_MAX) {
        return err_set(err, errlen, -EINVAL, "%s: token texts too large", gguf_path(f));
    }
    t->text = malloc(total);
    t->piece = malloc(total);
    t->text_off = malloc(n * sizeof(uint32_t));
    t->text_len = malloc(n * sizeof(uint32_t));
    t->piece_off = malloc(n * sizeof(uint32_t));
    t->piece_len = malloc(n * sizeof(uint32_t));
    t->type = malloc(n);
    t->eog = calloc(n, 1);
    t->score = have_scores ? malloc(n * sizeof(float)) : NULL;
    uint32_t cap = 1024;
    while (cap < (uint32_t)n * 2) cap <<= 1;
    t->vocab.slot = malloc(cap * sizeof(int32_t));
    t->vocab.mask = cap - 1;
    if (!t->text || !t->piece || !t->text_off || !t->text_len || !t->piece_off || !t->piece_len || !t->type ||
        !t->eog || (have_scores && !t->score) || !t->vocab.slot) {
        return err_set(err, errlen, -ENOMEM, "out of memory loading a vocabulary of %d tokens", n);
    }
    memset(t->vocab.slot, 0xFF, cap * sizeof(int32_t));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        GgufStr s = gguf_arr_str(&toks, (uint64_t)i);
        memcpy(t->text + off, s.ptr, s.len);
        t->text[off + s.len] = 0;
        t->text_off[i] = (uint32_t)off;
        t->text_len[i] = (uint32_t)s.len;
        off += s.len + 1;
        int64_t ty = have_types ? gguf_arr_int(&types, (uint64_t)i) : TOK_TYPE_NORMAL;
        t->type[i] = (ty >= TOK_TYPE_NORMAL && ty <= TOK_TYPE_BYTE) ? (uint8_t)ty : TOK_TYPE_NORMAL;
        if (t->score) t->score[i] = (float)gguf_arr_float(&scores, (uint64_t)i);
        if (s.len) hash_insert(t, i);
    }
    return 0;
}

static void set_eog(Tokenizer *t) {
    for (size_t k = 0; k < sizeof k_eog_texts / sizeof k_eog_texts[0]; k++) {
        int32_t id = tok_hash_find(t, k_eog_texts[k], strlen(k_eog_texts[k]));
        if (id < 0) continue;
        t->eog[id] = 1;
        t->type[id] = TOK_TYPE_CONTROL; /* llama.cpp: an EOG token is never spelled out */
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
}

static void make_pieces(Tokenizer *t) {
    size_t off = 0, maxp = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        const char *s = t->text + t->text_off[i];
        size_t l = t->text_len[i], pl;
        char *o = t->piece + off;
        if (t->model == TOK_MODEL_BPE && t->type[i] == TOK_TYPE_NORMAL) pl = tok_bpe_decode_text(s, l, o);
        else if (t->model == TOK_MODEL_SPM) pl = tok_spm_decode_text(t, i, o);
        else { memcpy(o, s, l); pl = l; }
        o[pl] = 0;
        t->piece_off[i] = (uint32_t)off;
        t->piece_len[i] = (uint32_t)pl;
        off += pl + 1;
        if (pl > maxp) maxp = pl;
    }
    t->max_piece = maxp;
}

static int make_special(Tokenizer *t) {
    int n = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        n += (ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN) && t->text_len[i];
    }
    t->special = malloc((n ? n : 1) * sizeof(int32_t));
    if (!t->special) return -1;
    t->n_special = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        if ((ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN) && t->text_len[i])
            t->special[t->n_special++] = i;
    }
    qsort_r(t->special, t->n_special, sizeof(int32_t), special_cmp, t);
    return 0;
}

int tokenizer_create_ex(const GgufFile *f, const char *pre_override, Tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    Tokenizer *t = calloc(1, sizeof *t);
    if (!t) { snprintf(err, errlen, "out of memory"); return -1; }
    GgufStr model = {NULL, 0}, pre = {NULL, 0};
    char pre_name[64] = "";
    if (gguf_get_str(f, "tokenizer.ggml.model", &model) != 0) {
        snprintf(err, errlen, "%s: tokenizer.ggml.model is missing: the file has no tokenizer", gguf_path(f));
        goto fail;
    }
    if (gguf_str_eq(model, "gpt2")) t->model = TOK_MODEL_BPE;
    else if (gguf_str_eq(model, "llama")) t->model = TOK_MODEL_SPM;
    else {
        snprintf(err, errlen, "%s: tokenizer model '%.*s' is not supported (Piston supports gpt2 = byte-level "
                 "BPE, llama = SentencePiece)", gguf_path(f), (int)(model.len > 40 ? 40 : model.len), model.ptr);
        goto fail;
    }
    if (load_vocab(t, f, err, errlen) != 0) goto fail;
    int n = t->n_vocab;
    if (t->model == TOK_MODEL_BPE) {
        if (pre_override) snprintf(pre_name, sizeof pre_name, "%s", pre_override);
        else if (gguf_get_str(f, "tokenizer.ggml.pre", &pre) == 0)
            snprintf(pre_name, sizeof pre_name, "%.*s", (int)(pre.len > 60 ? 60 : pre.len), pre.ptr);
        if (tok_pre_init(&t->pre, pre_name, err, errlen) != 0) goto fail;
        if (tok_bpe_load(t, f, err, errlen) != 0) goto fail;
        t->bos = get_id(f, "tokenizer.ggml.bos_token_id", 11 < n ? 11 : -1, n);
        t->eos = get_id(f, "tokenizer.ggml.eos_token_id", 11 < n ? 11 : -1, n);
        t->unk = get_id(f, "tokenizer.ggml.unknown_token_id", -1, n);
        t->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", t->pre.add_bos);
        t->add_space_prefix = 0;
    } else {
        char hex[8];
        for (int b = 0; b < 256; b++) {
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            t->byte_tok[b] = tok_hash_find(t, hex, 6);
            if (t->byte_tok[b] < 0) t->byte_tok[b] = tok_hash_find(t, (char[]){(char)b}, 1);
        }
        t->bos = get_id(f, "tokenizer.ggml.bos_token_id", 1 < n ? 1 : -1, n);
        t->eos = get_id(f, "tokenizer.ggml.eos_token_id", 2 < n ? 2 : -1, n);
        t->unk = get_id(f, "tokenizer.ggml.unknown_token_id", 0, n);
        t->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", 1);
        t->add_space_prefix = get_flag(f, "tokenizer.ggml.add_space_prefix", 1);
    }
    t->pad = get_id(f, "tokenizer.ggml.padding_token_id", -1, n);
    t->eot = get_id(f, "tokenizer.ggml.eot_token_id", -1, n);
    t->eom = get_id(f, "tokenizer.ggml.eom_token_id", -1, n);
    t->add_eos = get_flag(f, "tokenizer.ggml.add_eos_token", 0);
    set_eog(t);
    make_pieces(t);
    if (make_special(t) != 0) { snprintf(err, errlen, "out of memory"); goto fail; }
    *out = t;
    return 0;
fail:
    tokenizer_destroy(t);
    return -1;
}

int tokenizer_create(const GgufFile *f, Tokenizer **out, char *err, size_t errlen) {
    return tokenizer_create_ex(f, NULL, out, err, errlen);
}

void tokenizer_destroy(Tokenizer *t) {
    if (!t) return;
    tok_pre_free(&t->pre);
    free(t->text); free(t->text_off); free(t->text_len);
    free(t->piece); free(t->piece_off); free(t->piece_len);
    free(t->type); free(t->score); free(t->eog); free(t->vocab.slot);
    free(t->merges.key); free(t->merges.rank); free(t->merges.result);
    free(t->special);
    free(t);
}

/* ---- encoding ---- */

typedef struct Frag {
    int32_t id; /* -1: plain text */
    size_t off, len;
} Frag;

/* Splits text into plain runs and special tokens. Returns the fragment count, -1 on OOM. */
static int partition(const Tokenizer *t, const char *text, size_t len, int parse_special, Frag **out) {
    int n = 1, cap = 16;
    Frag *fr = malloc(cap * sizeof *fr);
    if (!fr) return -1;
    fr[0] = (Frag){-1, 0, len};
    for (int s = 0; s < t->n_special; s++) {
        int32_t id = t->special[s];
        /* User-defined tokens are always matched; control/unknown ones only when asked. */
        if (!parse_special && t->type[id] != TOK_TYPE_USER_DEFINED) continue;
        const char *st = t->text + t->text_off[id];
        size_t sl = t->text_len[id];
        if (sl > len || !memmem(text, len, st, sl)) continue; /* cheap filter for the common case */
        for (int i = 0; i < n; i++) {
            if (fr[i].id >= 0) continue;
            const char *base = text + fr[i].off;
            const char *hit = memmem(base, fr[i].len, st, sl);
            if (!hit) continue;
            if (n + 2 > cap) {
                Frag *nf = realloc(fr, (cap *= 2) * sizeof *fr);
                if (!nf) { free(fr); return -1; }
                fr = nf;
            }
            /* [left][token][right]: the right part is examined next round of the loop. */
            size_t left = (size_t)(hit - base), end = fr[i].off + fr[i].len;
            Frag right = {-1, fr[i].off + left + sl, end - (fr[i].off + left + sl)};
            int ins = (left > 0) + (right.len > 0);
            memmove(fr + i + 1 + ins, fr + i + 1, (n - i - 1) * sizeof *fr);
            int k = i;
            if (left > 0) fr[k++] = (Frag){-1, fr[i].off, left};
            fr[k++] = (Frag){id, 0, 0};
            if (right.len > 0) fr[k] = right;
            n += ins;
            i = k - 1; /* continue with the right part (or the next fragment) */
        }
    }
    *out = fr;
    return n;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                     int32_t *ids, int cap) {
    /* At most one id per byte (plus BOS, EOS, a space prefix), so the count fits an int. */
    if (len > (size_t)INT_MAX / 2) return -1;
    TokOut out = {ids, cap < 0 ? 0 : cap, 0};
    Frag *fr;
    int nf = partition(t, text, len, parse_special, &fr);
    if (nf < 0) return -1;
    if (add_special && t->add_bos && t->bos >= 0) tok_out_push(&out, t->bos);
    /* SentencePiece prefixes a space to a run of text at the start or after a special token. */
    int prev_special = 1;
    int rc = 0;
    for (int i = 0; i < nf && rc == 0; i++) {
        if (fr[i].id >= 0) {
            tok_out_push(&out, fr[i].id);
            prev_special = 1;
            continue;
        }
        if (fr[i].len == 0) continue; /* empty text gives no ids, not a lone "▁" */
        if (t->model == TOK_MODEL_BPE) rc = tok_bpe_encode(t, text + fr[i].off, fr[i].len, &out);
        else rc = tok_spm_encode(t, text + fr[i].off, fr[i].len, t->add_space_prefix && prev_special, &out);
        prev_special = 0;
    }
    free(fr);
    if (rc != 0) return -1;
    if (add_special && t->add_eos && t->eos >= 0) tok_out_push(&out, t->eos);
    return out.n;
}

int tokenizer_encode_alloc(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                           int32_t **ids) {
    /* a first guess of one id per 3 bytes fits most text; a second call gets the exact count */
    int cap = (int)(len / 3 < (size_t)1 << 26 ? len / 3 : (size_t)1 << 26) + 8;
    *ids = NULL;
    for (int tries = 0; tries < 2; tries++) {
        int32_t *buf = malloc((size_t)cap * sizeof *buf);
        if (!buf) return -ENOMEM;
        int n = tokenizer_encode(t, text, len, add_special, parse_special, buf, cap);
        if (n >= 0 && n <= cap) {
            *ids = buf;
            return n;
        }
        free(buf);
        if (n < 0) return -EINVAL;
        cap = n;
    }
    return -EINVAL;
}

/* ---- accessors ---- */

int tokenizer_n_vocab(const Tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const Tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const Tokenizer *t) { return t->eos; }

int tokenizer_is_eog(const Tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->eog[id];
}

int tokenizer_is_control(const Tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->type[id] == TOK_TYPE_CONTROL || t->type[id] == TOK_TYPE_UNKNOWN);
}

const char *tokenizer_piece(const Tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) { *len = 0; return ""; }
    *len = t->piece_len[id];
    return t->piece + t->piece_off[id];
}

int32_t tokenizer_find(const Tokenizer *t, const char *piece) {
    return tok_hash_find(t, piece, strlen(piece));
}
