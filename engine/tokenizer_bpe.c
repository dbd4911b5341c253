/* Byte-level BPE (tokenizer.ggml.model = "gpt2"): GPT-2's byte <-> unicode mapping, the
 * merge table (a GGUF's tokenizer.ggml.merges or a tokenizer.json's model.merges), and the merge loop run inside each pre-tokenized
 * word. A word starts as one symbol per byte (the token of that byte's mapped character);
 * the pair with the lowest merge rank is merged first, the leftmost among equal ranks, as
 * llama.cpp and Hugging Face tokenizers do. A binary heap of candidate pairs with lazy
 * invalidation keeps a word of n bytes at O(n log n), so long words (minified code, runs of
 * punctuation) stay fast. Merges are keyed by the ids of their two halves, so the loop never
 * builds or hashes strings. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "base/err.h"
#include "base/hash.h"
#include "engine/tokenizer_internal.h"

/* GPT-2 keeps printable Latin-1 bytes as themselves and moves the other 68 bytes (controls,
 * space, DEL, NBSP, soft hyphen) to U+0100 and up, in byte order. */
static int byte_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static uint32_t byte_to_cpt(unsigned b) {
    if (byte_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++) n += !byte_printable(c);
    return 256 + n;
}

/* -1 when cpt is not the image of a byte. */
static int cpt_to_byte(uint32_t cpt) {
    if (cpt < 256) return byte_printable(cpt) ? (int)cpt : -1;
    uint32_t n = cpt - 256;
    if (n < 33) return (int)n;                 /* 0x00..0x20 */
    if (n < 67) return (int)(0x7F + (n - 33)); /* 0x7F..0xA0 */
    if (n == 67) return 0xAD;
    return -1;
}

static size_t put_utf8(uint32_t c, char *o) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F)); o[2] = (char)(0x80 | (c & 0x3F));
    return 3;
}

/* Decodes one UTF-8 character at s (n bytes left); *cpt = -1 for an invalid lead byte. */
static size_t get_utf8(const unsigned char *s, size_t n, int32_t *cpt) {
    unsigned c = s[0];
    size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (l == 0 || l > n) { *cpt = -1; return 1; }
    uint32_t v = l == 1 ? c : l == 2 ? (c & 0x1F) : l == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cpt = -1; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cpt = (int32_t)v;
    return l;
}

size_t tok_bpe_decode_text(const char *s, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int32_t cpt;
        size_t l = get_utf8((const unsigned char *)s + i, len - i, &cpt);
        int b = cpt >= 0 ? cpt_to_byte((uint32_t)cpt) : -1;
        if (b >= 0) out[o++] = (char)b;
        else { memcpy(out + o, s + i, l); o += l; } /* not a byte image: keep the text as is */
        i += l;
    }
    return o;
}

static int merges_insert(TokMerges *m, int32_t a, int32_t b, int32_t rank, int32_t result) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (uint32_t i = (uint32_t)hash_mix64(k) & m->mask;; i = (i + 1) & m->mask) {
        if (m->key[i] == UINT64_MAX) { m->key[i] = k; m->rank[i] = rank; m->result[i] = result; return 1; }
        if (m->key[i] == k) return 0; /* a duplicate merge keeps its first (lowest) rank */
    }
}

int32_t tok_merges_find(const TokMerges *m, int32_t a, int32_t b, int32_t *result) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (uint32_t i = (uint32_t)hash_mix64(k) & m->mask;; i = (i + 1) & m->mask) {
        if (m->key[i] == UINT64_MAX) return -1;
        if (m->key[i] == k) { *result = m->result[i]; return m->rank[i]; }
    }
}

int tok_bpe_load(Tokenizer *t, const TokSpec *s, char *err, size_t errlen) {
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        size_t l = put_utf8(byte_to_cpt(b), u);
        t->byte_tok[b] = tok_hash_find(t, u, l);
    }
    uint32_t cap = 1024;
    while (cap < s->n_merges * 2 + 2) cap <<= 1;
    TokMerges *m = &t->merges;
    m->mask = cap - 1;
    m->key = malloc(cap * sizeof *m->key);
    m->rank = malloc(cap * sizeof *m->rank);
    m->result = malloc(cap * sizeof *m->result);
    char *cat = NULL;
    size_t cat_cap = 0;
    if (!m->key || !m->rank || !m->result) goto oom;
    memset(m->key, 0xFF, cap * sizeof *m->key);
    for (int64_t i = 0; i < s->n_merges; i++) {
        TokStr l = s->merge_left[i], r = s->merge_right[i];
        if (!l.len || !r.len) continue;
        int32_t a = tok_hash_find(t, l.p, l.len), b = tok_hash_find(t, r.p, r.len);
        if (a < 0 || b < 0) continue; /* a merge of non-tokens can never apply */
        if (l.len + r.len > cat_cap) {
            cat_cap = (l.len + r.len) * 2;
            char *nc = realloc(cat, cat_cap);
            if (!nc) goto oom;
            cat = nc;
        }
        memcpy(cat, l.p, l.len);
        memcpy(cat + l.len, r.p, r.len);
        int32_t res = tok_hash_find(t, cat, l.len + r.len);
        if (res < 0) continue; /* the merged text must itself be a token */
        merges_insert(m, a, b, (int32_t)i, res);
    }
    free(cat);
    return 0;
oom:
    free(cat);
    return err_set(err, errlen, -ENOMEM, "out of memory loading %lld BPE merges", (long long)s->n_merges);
}

/* ---- the merge loop ---- */

typedef struct Cand {
    int32_t rank, left, right, lid, rid;
} Cand;

static int cand_less(const Cand *x, const Cand *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

static void heap_push(Cand *h, int *n, Cand c) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static Cand heap_pop(Cand *h, int *n) {
    Cand top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

typedef struct BpeCtx {
    const Tokenizer *t;
    TokOut *out;
    TokScratch scratch;
} BpeCtx;

static void try_pair(const Tokenizer *t, const int32_t *id, Cand *heap, int *nh, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || id[l] < 0 || id[r] < 0) return;
    int32_t res;
    int32_t rank = tok_merges_find(&t->merges, id[l], id[r], &res);
    if (rank >= 0) heap_push(heap, nh, (Cand){rank, l, r, id[l], id[r]});
}

static int bpe_word(void *vctx, const char *w, size_t len) {
    BpeCtx *c = vctx;
    const Tokenizer *t = c->t;
    const unsigned char *u = (const unsigned char *)w;
    if (t->pre.ignore_merges) {
        /* Llama-3: a word that is a token as a whole is that token, merges or not. */
        char stackbuf[128];
        char *enc = len * 2 <= sizeof stackbuf ? stackbuf : tok_scratch_get(&c->scratch, len * 2);
        if (!enc) return -1;
        size_t el = 0;
        for (size_t i = 0; i < len; i++) el += put_utf8(byte_to_cpt(u[i]), enc + el);
        int32_t id = tok_hash_find(t, enc, el);
        if (id >= 0) { tok_out_push(c->out, id); return 0; }
    }
    size_t n = len;
    /* id, next, prev per symbol, then the heap (each merge pushes at most two pairs). */
    size_t bytes = n * 3 * sizeof(int32_t) + (3 * n + 1) * sizeof(Cand);
    int32_t *id = tok_scratch_get(&c->scratch, bytes);
    if (!id) return -1;
    int32_t *next = id + n, *prev = next + n;
    Cand *heap = (Cand *)(prev + n);
    int nh = 0;
    for (size_t i = 0; i < n; i++) {
        id[i] = t->byte_tok[u[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) try_pair(t, id, heap, &nh, (int32_t)i, (int32_t)i + 1);
    while (nh > 0) {
        Cand k = heap_pop(heap, &nh);
        /* Stale when either side has since merged with something else. */
        if (id[k.left] != k.lid || id[k.right] != k.rid || next[k.left] != k.right) continue;
        int32_t res;
        tok_merges_find(&t->merges, k.lid, k.rid, &res);
        id[k.left] = res;
        id[k.right] = -1;
        next[k.left] = next[k.right];
        if (next[k.right] >= 0) prev[next[k.right]] = k.left;
        try_pair(t, id, heap, &nh, prev[k.left], k.left);
        try_pair(t, id, heap, &nh, k.left, next[k.left]);
    }
    for (int32_t i = 0; i >= 0; i = next[i]) {
        if (id[i] >= 0) tok_out_push(c->out, id[i]);
        else if (t->unk >= 0) tok_out_push(c->out, t->unk); /* the vocabulary lacks this byte */
    }
    return 0;
}

/* Text that is not valid UTF-8 is read the way llama.cpp reads it before its byte-level
 * BPE: a sequence with the right lead and continuation bytes is taken at face value (an
 * overlong form becomes its code point's shortest form), any other byte becomes U+FFFD. Valid
 * text, the common case, is not copied. Returns the length of the normalized text in *out
 * (malloc'd), or 0 with *out NULL when text is valid as it is. */
static size_t normalize_utf8(const char *text, size_t len, char **out) {
    const unsigned char *u = (const unsigned char *)text;
    *out = NULL;
    size_t i = 0;
    while (i < len) {
        int32_t cpt;
        size_t l = get_utf8(u + i, len - i, &cpt);
        size_t shortest = cpt < 0x80 ? 1 : cpt < 0x800 ? 2 : cpt < 0x10000 ? 3 : 4;
        if (cpt < 0 || cpt > 0x10FFFF || l != shortest) break;
        i += l;
    }
    if (i == len) return 0;
    char *o = malloc(len * 3 + 1);
    if (!o) return (size_t)-1;
    size_t n = 0;
    for (i = 0; i < len;) {
        int32_t cpt;
        size_t l = get_utf8(u + i, len - i, &cpt);
        if (cpt < 0 || cpt > 0x10FFFF) { memcpy(o + n, "\xEF\xBF\xBD", 3); n += 3; i += 1; continue; }
        n += cpt < 0x10000 ? put_utf8((uint32_t)cpt, o + n) : 0;
        if (cpt >= 0x10000) { memcpy(o + n, u + i, 4); n += 4; } /* 4-byte forms: only valid ones decode */
        i += l;
    }
    *out = o;
    return n;
}

int tok_bpe_encode(const Tokenizer *t, const char *text, size_t len, TokOut *out) {
    BpeCtx c = {t, out, {NULL, 0}};
    char *norm;
    size_t nl = normalize_utf8(text, len, &norm);
    if (nl == (size_t)-1) return -1;
    if (t->pre.nfc) { /* tokenizer.json's NFC normalizer (Qwen2), by utf8proc */
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)(norm ? norm : text),
                                          (utf8proc_ssize_t)(norm ? nl : len), &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (n < 0) return free(norm), -1;
        free(norm);
        norm = (char *)nfc;
        nl = (size_t)n;
    }
    int r = tok_pre_split(&t->pre, norm ? norm : text, norm ? nl : len, bpe_word, &c);
    free(norm);
    free(c.scratch.buf);
    return r;
}
