/* UTF-8 for the grammar builder (see grammar.h): encoding and decoding one code point, and
 * code point classes turned into UTF-8 byte sequences the way RE2 and Rust's utf8-ranges do
 * it: split a range until every byte position of it ranges independently. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/grammar.h"

int utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > CP_MAX) return 0;
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int32_t utf8_decode(const char *str, size_t n, int *len) {
    const unsigned char *s = (const unsigned char *)str;
    *len = 1;
    if (n == 0) return -1;
    unsigned c = s[0];
    int l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (l == 0 || (size_t)l > n) return -1;
    uint32_t v = l == 1 ? c : l == 2 ? (c & 0x1F) : l == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < l; k++) {
        if ((s[k] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (s[k] & 0x3F);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000}; /* overlong forms are invalid */
    if (v < least[l] || v > CP_MAX || (v >= 0xD800 && v <= 0xDFFF)) return -1;
    *len = l;
    return (int32_t)v;
}

/* Alternatives of byte-range sequences for [lo, hi], all code points of one encoded length
 * whose byte positions range independently, appended to alts. */
static void utf8_split(Grammar *g, uint32_t lo, uint32_t hi, int **alts, int *n, int *cap) {
    if (lo > hi || g->err) return;
    static const uint32_t bounds[3] = {0x7F, 0x7FF, 0xFFFF};
    for (int i = 0; i < 3; i++)
        if (lo <= bounds[i] && hi > bounds[i]) {
            utf8_split(g, lo, bounds[i], alts, n, cap);
            utf8_split(g, bounds[i] + 1, hi, alts, n, cap);
            return;
        }
    char a[4], b[4];
    int len = utf8_encode(lo, a);
    utf8_encode(hi, b);
    for (int i = 1; i < len; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) {
                utf8_split(g, lo, lo | m, alts, n, cap);
                utf8_split(g, (lo | m) + 1, hi, alts, n, cap);
                return;
            }
            if ((hi & m) != m) {
                utf8_split(g, lo, (hi & ~m) - 1, alts, n, cap);
                utf8_split(g, hi & ~m, hi, alts, n, cap);
                return;
            }
        }
    }
    int seq[4];
    for (int i = 0; i < len; i++) seq[i] = grammar_byte_range(g, (uint8_t)a[i], (uint8_t)b[i]);
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        int *p = realloc(*alts, (size_t)c * sizeof *p);
        if (!p) {
            grammar_fail(g, -ENOMEM, "out of memory building the grammar");
            return;
        }
        *alts = p, *cap = c;
    }
    (*alts)[(*n)++] = grammar_seq(g, seq, len);
}

static int cmp_range(const void *a, const void *b) {
    const CpRange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int grammar_class(Grammar *g, const CpRange *ranges, int n, int negate) {
    if (g->err) return -1;
    /* sorted, merged, surrogates cut out, complemented when negated: at most n + 2 pieces */
    CpRange *r = malloc(((size_t)n + 3) * 2 * sizeof *r);
    if (!r) return grammar_fail(g, -ENOMEM, "out of memory building the grammar");
    int m = 0;
    for (int i = 0; i < n; i++)
        if (ranges[i].lo <= ranges[i].hi && ranges[i].lo <= CP_MAX)
            r[m++] = (CpRange){ranges[i].lo, ranges[i].hi > CP_MAX ? CP_MAX : ranges[i].hi};
    qsort(r, (size_t)m, sizeof *r, cmp_range);
    int k = 0;
    for (int i = 0; i < m; i++) {
        if (k && r[i].lo <= r[k - 1].hi + 1) {
            if (r[i].hi > r[k - 1].hi) r[k - 1].hi = r[i].hi;
        } else r[k++] = r[i];
    }
    if (negate) {
        CpRange *c = r + n + 3;
        int nc = 0;
        uint32_t next = 0;
        for (int i = 0; i < k; i++) {
            if (r[i].lo > next) c[nc++] = (CpRange){next, r[i].lo - 1};
            next = r[i].hi + 1;
        }
        if (next <= CP_MAX) c[nc++] = (CpRange){next, CP_MAX};
        memmove(r, c, (size_t)nc * sizeof *r);
        k = nc;
    }
    int *alts = NULL, na = 0, cap = 0;
    for (int i = 0; i < k; i++) {
        uint32_t lo = r[i].lo, hi = r[i].hi;
        if (lo < 0xD800 && hi >= 0xD800) utf8_split(g, lo, 0xD7FF, &alts, &na, &cap), lo = 0xE000;
        else if (lo >= 0xD800 && lo <= 0xDFFF) lo = 0xE000;
        if (lo <= hi) utf8_split(g, lo, hi, &alts, &na, &cap);
    }
    free(r);
    int out = g->err ? -1 : grammar_alt(g, alts, na);
    free(alts);
    return out;
}

int grammar_char(Grammar *g, uint32_t cp) {
    char b[4];
    int n = utf8_encode(cp, b);
    if (n == 0) return grammar_fail(g, -EINVAL, "U+%04X is not a character that UTF-8 can encode", (unsigned)cp);
    return grammar_literal(g, b, (size_t)n);
}
