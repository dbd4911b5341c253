/* The tokenizer's core: the vocabulary from a TokSpec (a GGUF's tokenizer.* keys,
 * tokenizer_gguf.c, or a tokenizer.json, tokenizer_hf.c): texts, types, scores, the text ->
 * id hash, the special ids and the end-of-generation set; and the encode driver. Encoding follows llama.cpp: special tokens are cut out of the text first
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

static int load_vocab(Tokenizer *t, const TokSpec *sp, char *err, size_t errlen) {
    if (sp->n_vocab <= 0 || sp->n_vocab > (1 << 24))
        return err_set(err, errlen, -EINVAL, "%s: the vocabulary has %d tokens", sp->src, sp->n_vocab);
    int n = t->n_vocab = sp->n_vocab;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += sp->text[i].len + 1;
    if (total > UINT32_MAX) {
        return err_set(err, errlen, -EINVAL, "%s: token texts too large", sp->src);
    }
    /* a byte-level piece is at most the text's length; an SPM one at most 3 bytes per byte */
    t->text = malloc(total);
    t->piece = malloc(total);
    t->text_off = malloc(n * sizeof(uint32_t));
    t->text_len = malloc(n * sizeof(uint32_t));
    t->piece_off = malloc(n * sizeof(uint32_t));
    t->piece_len = malloc(n * sizeof(uint32_t));
    t->type = malloc(n);
    t->eog = calloc(n, 1);
    t->score = sp->score ? malloc(n * sizeof(float)) : NULL;
    uint32_t cap = 1024;
    while (cap < (uint32_t)n * 2) cap <<= 1;
    t->vocab.slot = malloc(cap * sizeof(int32_t));
    t->vocab.mask = cap - 1;
    if (!t->text || !t->piece || !t->text_off || !t->text_len || !t->piece_off || !t->piece_len || !t->type ||
        !t->eog || (sp->score && !t->score) || !t->vocab.slot) {
        return err_set(err, errlen, -ENOMEM, "out of memory loading a vocabulary of %d tokens", n);
    }
    memset(t->vocab.slot, 0xFF, cap * sizeof(int32_t));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        TokStr s = sp->text[i];
        if (s.len) memcpy(t->text + off, s.p, s.len);
        t->text[off + s.len] = 0;
        t->text_off[i] = (uint32_t)off;
        t->text_len[i] = s.len;
        off += s.len + 1;
        int ty = sp->type ? sp->type[i] : TOK_TYPE_NORMAL;
        t->type[i] = (ty >= TOK_TYPE_NORMAL && ty <= TOK_TYPE_BYTE) ? (uint8_t)ty : TOK_TYPE_NORMAL;
        if (t->score) t->score[i] = sp->score[i];
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

static int32_t valid_id(int32_t id, int n) { return id >= 0 && id < n ? id : -1; }

int tokenizer_from_spec(const TokSpec *sp, Tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    Tokenizer *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, errlen, -ENOMEM, "out of memory");
    int rc = 0;
    t->model = sp->model;
    if ((rc = load_vocab(t, sp, err, errlen))) goto fail;
    int n = t->n_vocab;
    if (t->model == TOK_MODEL_BPE) {
        rc = sp->pre_name ? tok_pre_init(&t->pre, sp->pre_name, err, errlen)
                          : tok_pre_init_regex(&t->pre, sp->regex, sp->n_regex, err, errlen);
        if (rc) goto fail;
        if (!sp->pre_name) t->pre.ignore_merges = sp->ignore_merges;
        t->pre.nfc = sp->nfc;
        if ((rc = tok_bpe_load(t, sp, err, errlen))) goto fail;
        t->add_space_prefix = 0;
    } else {
        /* a tokenizer.json's merges (a GGUF's SentencePiece merges by score); byte_tok is redone below */
        if (sp->n_merges && !sp->score && (rc = tok_bpe_load(t, sp, err, errlen))) goto fail;
        char hex[8];
        for (int b = 0; b < 256; b++) {
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            t->byte_tok[b] = tok_hash_find(t, hex, 6);
            if (t->byte_tok[b] < 0) t->byte_tok[b] = tok_hash_find(t, (char[]){(char)b}, 1);
        }
        t->add_space_prefix = sp->add_space_prefix;
    }
    t->bos = valid_id(sp->bos, n);
    t->eos = valid_id(sp->eos, n);
    t->unk = valid_id(sp->unk, n);
    t->pad = valid_id(sp->pad, n);
    t->eot = valid_id(sp->eot, n);
    t->eom = valid_id(sp->eom, n);
    t->add_bos = sp->add_bos >= 0 ? sp->add_bos : t->pre.add_bos;
    t->add_eos = sp->add_eos;
    set_eog(t);
    make_pieces(t);
    if (make_special(t) != 0) {
        rc = err_set(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    *out = t;
    return 0;
fail:
    tokenizer_destroy(t);
    return rc ? rc : -EINVAL;
}

int tokenizer_add_eog(Tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return -EINVAL;
    t->eog[id] = 1;
    return 0;
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
/* Whether [a, b) overlaps one of the sorted, disjoint spans. */
static int overlaps_span(const TokSpan *sp, int n, size_t a, size_t b) {
    int lo = 0, hi = n; /* the first span that ends after a */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sp[mid].end <= a) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && sp[lo].start < b;
}

/* Splits text into plain runs and special tokens. A control token whose bytes overlap one of
 * the plain spans stays text. Returns the fragment count, -1 on OOM. */
static int partition(const Tokenizer *t, const char *text, size_t len, int parse_special, const TokSpan *plain,
                     int n_plain, Frag **out) {
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
            const char *base = text + fr[i].off, *from = base, *stop = base + fr[i].len, *hit;
            int ctrl = t->type[id] != TOK_TYPE_USER_DEFINED;
            while ((hit = memmem(from, (size_t)(stop - from), st, sl)) && ctrl && n_plain > 0 &&
                   overlaps_span(plain, n_plain, (size_t)(hit - text), (size_t)(hit - text) + sl))
                from = hit + 1; /* inside content: text, not a control token */
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
    return tokenizer_encode_spans(t, text, len, add_special, parse_special, NULL, 0, ids, cap);
}

static int space_prefix(const Tokenizer *t, const char *text, const Frag *f, int prev_special) {
    int sp = t->add_space_prefix;
    const char *s = text + f->off;                                             /* f->len > 0 */
    int space = s[0] == ' ' || (f->len >= 3 && !memcmp(s, "\xE2\x96\x81", 3)); /* as it is once escaped */
    return (sp & TOK_SPACE_PREFIX) && prev_special && (!(sp & TOK_SPACE_PREFIX_FIRST) || f->off == 0) &&
           !((sp & TOK_SPACE_PREFIX_UNLESS_SPACE) && space);
}

int tokenizer_encode_spans(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                           const TokSpan *plain, int n_plain, int32_t *ids, int cap) {
    /* At most one id per byte (plus BOS, EOS, a space prefix), so the count fits an int. */
    if (!t || len > (size_t)INT_MAX / 2) return -1; /* no tokenizer: callers refuse text first */
    TokOut out = {ids, cap < 0 ? 0 : cap, 0};
    Frag *fr;
    int nf = partition(t, text, len, parse_special, plain, n_plain, &fr);
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
        else rc = tok_spm_encode(t, text + fr[i].off, fr[i].len, space_prefix(t, text, &fr[i], prev_special), &out);
        prev_special = 0;
    }
    free(fr);
    if (rc != 0) return -1;
    if (add_special && t->add_eos && t->eos >= 0) tok_out_push(&out, t->eos);
    return out.n;
}

int tokenizer_encode_alloc(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                           int32_t **ids) {
    return tokenizer_encode_spans_alloc(t, text, len, add_special, parse_special, NULL, 0, ids);
}

int tokenizer_encode_spans_alloc(const Tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                                 const TokSpan *plain, int n_plain, int32_t **ids) {
    /* a first guess of one id per 3 bytes fits most text; a second call gets the exact count */
    int cap = (int)(len / 3 < (size_t)1 << 26 ? len / 3 : (size_t)1 << 26) + 8;
    *ids = NULL;
    for (int tries = 0; tries < 2; tries++) {
        int32_t *buf = malloc((size_t)cap * sizeof *buf);
        if (!buf) return -ENOMEM;
        int n = tokenizer_encode_spans(t, text, len, add_special, parse_special, plain, n_plain, buf, cap);
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

/* ---- accessors ----
 * t may be NULL (a dummy model without tokenizer.json): an empty vocabulary, so every id is
 * out of range, nothing is EOG and every piece is "". */

int tokenizer_n_vocab(const Tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t tokenizer_bos(const Tokenizer *t) { return t ? t->bos : -1; }
int32_t tokenizer_eos(const Tokenizer *t) { return t ? t->eos : -1; }

int tokenizer_is_eog(const Tokenizer *t, int32_t id) { return t && id >= 0 && id < t->n_vocab && t->eog[id]; }

int tokenizer_is_control(const Tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && (t->type[id] == TOK_TYPE_CONTROL || t->type[id] == TOK_TYPE_UNKNOWN);
}

const char *tokenizer_piece(const Tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab) {
        *len = 0;
        return "";
    }
    *len = t->piece_len[id];
    return t->piece + t->piece_off[id];
}

int32_t tokenizer_find(const Tokenizer *t, const char *piece) {
    return t ? tok_hash_find(t, piece, strlen(piece)) : -1;
}
