/* SentencePiece-style tokenization (tokenizer.ggml.model = "llama"): spaces become U+2581
 * "▁", a run of text at the start or after a special token gets one prefixed when
 * tokenizer.ggml.add_space_prefix says so, then adjacent pieces merge greedily by the score
 * of the token they would form (highest score first, leftmost among equals), as llama.cpp's
 * SPM tokenizer does. From a tokenizer.json (a BPE with byte_fallback: Llama-2, Mistral) the
 * pairs merge by its merge list instead, lowest rank first, as the tokenizers library does.
 * A character left over that is not a token falls back to its bytes' <0xNN> tokens. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_internal.h"

typedef struct Sym {
    uint32_t start, n; /* bytes of the escaped text; n == 0 once merged into the left */
    int32_t prev, next;
} Sym;

typedef struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
} Bigram;

static int bigram_before(const Bigram *x, const Bigram *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static void heap_push(Bigram *h, int *n, Bigram b) {
    int i = (*n)++;
    while (i > 0 && bigram_before(&b, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = b;
}

static Bigram heap_pop(Bigram *h, int *n) {
    Bigram top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && bigram_before(&h[c + 1], &h[c])) c++;
        if (!bigram_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static void try_bigram(const Tokenizer *t, const char *s, const Sym *sym, Bigram *h, int *nh, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    uint32_t size = sym[l].n + sym[r].n;
    if (t->merges.key) { /* a tokenizer.json's BPE with byte_fallback: only its merges, lowest rank first */
        int32_t a = tok_hash_find(t, s + sym[l].start, sym[l].n), b = tok_hash_find(t, s + sym[r].start, sym[r].n);
        int32_t res, rank = a >= 0 && b >= 0 ? tok_merges_find(&t->merges, a, b, &res) : -1;
        if (rank >= 0) heap_push(h, nh, (Bigram){-(float)rank, l, r, size}); /* ranks < 2^24: exact */
        return;
    }
    int32_t id = tok_hash_find(t, s + sym[l].start, size);
    if (id < 0) return;
    heap_push(h, nh, (Bigram){t->score ? t->score[id] : 0.0f, l, r, size});
}

int tok_spm_encode(const Tokenizer *t, const char *text, size_t len, int space_prefix, TokOut *out) {
    /* Escaped text: every ' ' becomes the 3 bytes of "▁". */
    size_t cap = (len + 1) * 3;
    char *s = malloc(cap);
    if (!s) return -1;
    size_t sl = 0;
    if (space_prefix) { memcpy(s, "\xE2\x96\x81", 3); sl = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(s + sl, "\xE2\x96\x81", 3); sl += 3; }
        else s[sl++] = text[i];
    }
    /* At most one symbol per byte, and each merge queues at most two pairs: sized by the
     * escaped text, whatever bytes the input holds. */
    Sym *sym = malloc((sl + 1) * sizeof *sym);
    Bigram *heap = malloc((3 * (sl + 1) + 1) * sizeof *heap);
    if (!sym || !heap) { free(s); free(sym); free(heap); return -1; }
    /* One symbol per UTF-8 character: a lead byte's length, cut at the end of the text and at
     * the first byte that is not a continuation byte (a stray lead byte must not swallow the
     * "▁" after it: it falls back to its byte token alone). */
    int ns = 0;
    for (size_t i = 0; i < sl;) {
        unsigned c = (unsigned char)s[i];
        size_t l = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (l > sl - i) l = sl - i;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) { l = k; break; }
        sym[ns] = (Sym){(uint32_t)i, (uint32_t)l, ns - 1, -1};
        if (ns > 0) sym[ns - 1].next = ns;
        ns++;
        i += l;
    }
    int nh = 0;
    for (int i = 1; i < ns; i++) try_bigram(t, s, sym, heap, &nh, i - 1, i);
    while (nh > 0) {
        Bigram b = heap_pop(heap, &nh);
        Sym *l = &sym[b.left], *r = &sym[b.right];
        /* Stale: a side was merged away or grew since this pair was queued. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        try_bigram(t, s, sym, heap, &nh, l->prev, b.left);
        try_bigram(t, s, sym, heap, &nh, b.left, l->next);
    }
    for (int i = ns ? 0 : -1; i >= 0; i = sym[i].next) {
        int32_t id = tok_hash_find(t, s + sym[i].start, sym[i].n);
        if (id >= 0) { tok_out_push(out, id); continue; }
        /* Only single characters can be unknown (merges always form tokens): byte fallback. */
        for (uint32_t k = 0; k < sym[i].n; k++) {
            int32_t bt = t->byte_tok[(unsigned char)s[sym[i].start + k]];
            if (bt >= 0) tok_out_push(out, bt);
            else if (t->unk >= 0) tok_out_push(out, t->unk); /* neither: the byte is dropped, as in BPE */
        }
    }
    free(s); free(sym); free(heap);
    return 0;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t tok_spm_decode_text(const Tokenizer *t, int32_t id, char *out) {
    const char *s = t->text + t->text_off[id];
    size_t len = t->text_len[id];
    if (t->type[id] == TOK_TYPE_BYTE && len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' &&
        hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
        out[0] = (char)(hexval(s[3]) * 16 + hexval(s[4]));
        return 1;
    }
    if (t->type[id] != TOK_TYPE_NORMAL) { memcpy(out, s, len); return len; }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) { out[o++] = ' '; i += 3; }
        else out[o++] = s[i++];
    }
    return o;
}
