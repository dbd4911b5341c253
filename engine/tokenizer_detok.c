/* Incremental detokenization for streaming. A byte-level token can end in the middle of a
 * UTF-8 character (an emoji is often two or three tokens), so each push emits only complete
 * characters and keeps an unfinished tail (at most 3 bytes) for the next push. Bytes that can
 * never form a character become U+FFFD, one per maximal invalid subpart (the Unicode rule
 * that Python's errors="replace" follows), so a client never receives invalid UTF-8.
 * Which tokens produce text follows llama.cpp's token_to_piece without "special": normal and
 * user-defined tokens (and SentencePiece byte tokens) do; control and unknown ones do not. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_internal.h"

static const char k_replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

void detok_init(Detok *d) {
    memset(d, 0, sizeof *d);
}

size_t detok_max_bytes(const Tokenizer *t) { /* t NULL: no text at all, as detok_push */
    if (!t) return 1;
    return 3 * (t->max_piece + sizeof(((Detok *)0)->pending)) + 1;
}

static int emits_text(const Tokenizer *t, int32_t id) {
    int ty = t->type[id];
    return ty == TOK_TYPE_NORMAL || ty == TOK_TYPE_USER_DEFINED || (t->model == TOK_MODEL_SPM && ty == TOK_TYPE_BYTE);
}

typedef struct Sink {
    char *out;
    size_t cap, n;
} Sink;

static void sink_put(Sink *k, const void *p, size_t n) {
    if (k->n + n > k->cap) return; /* does not fit: dropped whole, never a partial character */
    memcpy(k->out + k->n, p, n);
    k->n += n;
}

/* Emits the valid characters of s[0, n), U+FFFD for invalid subparts, and returns how many
 * bytes it consumed: all of them, except an incomplete character at the very end when
 * !final. */
static size_t utf8_emit(const unsigned char *s, size_t n, int final, Sink *k) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { sink_put(k, s + i, 1); i++; continue; }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else { sink_put(k, k_replacement, 3); i++; continue; }
        size_t j = i + 1;
        for (; j < i + len; j++) {
            if (j >= n) {
                if (!final) return i; /* hold the unfinished tail */
                break;
            }
            unsigned b = s[j];
            if (b < (j == i + 1 ? lo : 0x80u) || b > (j == i + 1 ? hi : 0xBFu)) break;
        }
        if (j == i + len) sink_put(k, s + i, len);
        else sink_put(k, k_replacement, 3); /* the byte at j starts afresh */
        i = j;
    }
    return n;
}

size_t detok_push(const Tokenizer *t, Detok *d, int32_t id, char *out, size_t cap) {
    if (!t || id < 0 || id >= t->n_vocab || !emits_text(t, id)) return 0;
    return detok_push_text(t, d, id, out, cap);
}

size_t detok_push_text(const Tokenizer *t, Detok *d, int32_t id, char *out, size_t cap) {
    if (!t || id < 0 || id >= t->n_vocab) return 0;
    const char *p = t->piece + t->piece_off[id];
    size_t pl = t->piece_len[id];
    if (pl == 0) return 0;
    /* SentencePiece puts a space before the first word; a caller decoding a whole text from
     * its start sets first so that it goes (a stream of generated tokens keeps it). */
    if (d->first && t->model == TOK_MODEL_SPM && t->add_space_prefix && p[0] == ' ') { p++; pl--; }
    d->first = 0;
    size_t n = (size_t)d->n_pending + pl;
    unsigned char stackbuf[256];
    unsigned char *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) return 0;
    memcpy(buf, d->pending, (size_t)d->n_pending);
    memcpy(buf + d->n_pending, p, pl);
    Sink k = {out, cap, 0};
    size_t used = utf8_emit(buf, n, 0, &k);
    d->n_pending = (int)(n - used); /* at most 3: a lead byte and two continuation bytes */
    memcpy(d->pending, buf + used, (size_t)d->n_pending);
    if (buf != stackbuf) free(buf);
    return k.n;
}

size_t detok_flush(Detok *d, char *out, size_t cap) {
    Sink k = {out, cap, 0};
    utf8_emit((const unsigned char *)d->pending, (size_t)d->n_pending, 1, &k);
    d->n_pending = 0;
    return k.n;
}
