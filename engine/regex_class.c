/* The regex front end's characters (see regex.c): escapes, classes, and sets of code points
 * as expressions. In JSON mode a set is split into the characters a JSON string may hold as
 * they are, and escape sequences for the rest ('"', '\\' and the control characters). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/regex_internal.h"

#define RX_MAX_RANGES 512

static const CpRange k_digit[] = {{'0', '9'}};
static const CpRange k_word[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const CpRange k_space[] = {{0x09, 0x0D}, {0x1C, 0x20}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680},
                                  {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                  {0x3000, 0x3000}};
/* the ASCII complements of \d and \w (see regex.c for why ASCII) */
static const CpRange k_not_digit[] = {{0x00, 0x2F}, {0x3A, 0x7F}};
static const CpRange k_not_word[] = {{0x00, 0x2F}, {0x3A, 0x40}, {0x5B, 0x5E}, {0x60, 0x60}, {0x7B, 0x7F}};

static int cmp_range(const void *a, const void *b) {
    const CpRange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted, merged, and complemented when negate: into out (room for n + 1). */
static int normalize(const CpRange *in, int n, int negate, CpRange *out) {
    CpRange *t = malloc(((size_t)n + 1) * sizeof *t);
    if (!t) return -1;
    memcpy(t, in, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_range);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k && t[i].lo <= t[k - 1].hi + 1) {
            if (t[i].hi > t[k - 1].hi) t[k - 1].hi = t[i].hi;
        } else t[k++] = t[i];
    }
    if (!negate) {
        memcpy(out, t, (size_t)k * sizeof *t);
        free(t);
        return k;
    }
    int m = 0;
    uint32_t next = 0;
    for (int i = 0; i < k; i++) {
        if (t[i].lo > next) out[m++] = (CpRange){next, t[i].lo - 1};
        next = t[i].hi + 1;
    }
    if (next <= CP_MAX) out[m++] = (CpRange){next, CP_MAX};
    free(t);
    return m;
}

static int has(const CpRange *r, int n, uint32_t cp) {
    for (int i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi) return 1;
    return 0;
}

int rx_chars(Rx *r, const CpRange *ranges, int n, int negate) {
    if (!r->json) return grammar_class(r->g, ranges, n, negate);
    Grammar *g = r->g;
    CpRange *set = malloc(((size_t)n + 2) * sizeof *set), *plain = malloc(((size_t)n + 40) * sizeof *plain);
    int m = set && plain ? normalize(ranges, n, negate, set) : -1, k = 0;
    if (m < 0) return free(set), free(plain), grammar_fail(g, -ENOMEM, "out of memory");
    /* plain: the set without '"', '\\' and the controls, which JSON escapes */
    for (int i = 0; i < m; i++) {
        uint32_t lo = set[i].lo, hi = set[i].hi;
        static const uint32_t cut[] = {'"', '\\'};
        if (lo < 0x20) lo = 0x20;
        for (int c = 0; c < 2 && lo <= hi; c++)
            if (cut[c] >= lo && cut[c] <= hi) {
                if (cut[c] > lo) plain[k++] = (CpRange){lo, cut[c] - 1};
                lo = cut[c] + 1;
            }
        if (lo <= hi) plain[k++] = (CpRange){lo, hi};
    }
    int alts[64], na = 0;
    if (k) alts[na++] = grammar_class(g, plain, k, 0);
    if (has(set, m, '"')) alts[na++] = grammar_str(g, "\\\"");
    if (has(set, m, '\\')) alts[na++] = grammar_str(g, "\\\\");
    static const char shortcut[] = {'\b', 'b', '\f', 'f', '\n', 'n', '\r', 'r', '\t', 't'};
    for (int i = 0; i < 10; i += 2)
        if (has(set, m, (unsigned char)shortcut[i])) {
            char e[3] = {'\\', shortcut[i + 1], 0};
            alts[na++] = grammar_str(g, e);
        }
    int any_ctl = 0;
    for (uint32_t c = 0; c < 0x20; c++) any_ctl |= has(set, m, c);
    for (uint32_t d = 0; any_ctl && d < 2; d++) { /* \u00XX for each control in the set */
        CpRange lo[16];
        int nlo = 0;
        for (uint32_t c = d * 16; c < d * 16 + 16; c++)
            if (has(set, m, c)) {
                uint32_t x = c & 15, h = x < 10 ? '0' + x : 'a' + x - 10;
                lo[nlo++] = (CpRange){h, h};
            }
        if (nlo) alts[na++] = grammar_seq3(g, grammar_str(g, "\\u00"), grammar_char(g, '0' + d), grammar_class(g, lo, nlo, 0));
    }
    free(set), free(plain);
    return na ? grammar_alt(g, alts, na) : grammar_none(g);
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The escape at r->i (after the backslash is checked): its code points into out, *n. */
static int escape_set(Rx *r, CpRange *out, int *n) {
    r->i++; /* the backslash */
    if (r->i >= r->n) return rx_fail(r, "%s", "a trailing backslash");
    int c = (unsigned char)r->s[r->i++];
    const CpRange *set = NULL;
    int ns = 0;
    switch (c) {
    case 'd': set = k_digit, ns = 1; break;
    case 'D': set = k_not_digit, ns = 2; break;
    case 'w': set = k_word, ns = 4; break;
    case 'W': set = k_not_word, ns = 5; break;
    case 's': set = k_space, ns = 10; break;
    case 'S': *n = normalize(k_space, 10, 1, out); return *n < 0 ? -1 : 0;
    case 'n': c = '\n'; break;
    case 't': c = '\t'; break;
    case 'r': c = '\r'; break;
    case 'f': c = '\f'; break;
    case 'v': c = '\v'; break;
    case '0': c = 0; break;
    case 'x': case 'u': {
        int digits = c == 'x' ? 2 : 4, v = 0, braced = c == 'u' && r->i < r->n && r->s[r->i] == '{';
        if (braced) r->i++, digits = 6;
        int k = 0;
        for (; k < digits && r->i < r->n && hexval((unsigned char)r->s[r->i]) >= 0; k++)
            v = v * 16 + hexval((unsigned char)r->s[r->i++]);
        if (braced && r->i < r->n && r->s[r->i] == '}') r->i++;
        else if (braced || k != digits) return rx_fail(r, "%s", "a malformed \\x or \\u escape");
        c = v;
        break;
    }
    case 'b': case 'B': return rx_fail(r, "%s are not supported", "word boundaries \\b and \\B");
    case 'A': case 'Z': case 'z': case 'G': return rx_fail(r, "%s are not supported", "the anchors \\A \\Z \\z \\G");
    case 'p': case 'P': return rx_fail(r, "%s are not supported", "Unicode property classes \\p{...}");
    case 'k': return rx_fail(r, "%s are not supported", "backreferences");
    default:
        if (c >= '1' && c <= '9') return rx_fail(r, "%s are not supported", "backreferences");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return rx_fail(r, "the escape \\%s is not supported", (char[]){(char)c, 0});
        if (c >= 0x80) { /* an escaped non-ASCII character: itself */
            int len;
            r->i--;
            int32_t cp = utf8_decode(r->s + r->i, r->n - r->i, &len);
            if (cp < 0) return rx_fail(r, "%s", "invalid UTF-8");
            r->i += (size_t)len;
            c = cp;
        }
    }
    if (set) {
        memcpy(out, set, (size_t)ns * sizeof *set);
        *n = ns;
    } else {
        out[0] = (CpRange){(uint32_t)c, (uint32_t)c};
        *n = 1;
    }
    return 0;
}

int rx_escape(Rx *r) {
    CpRange set[16];
    int n = 0;
    if (escape_set(r, set, &n)) return -1;
    return rx_chars(r, set, n, 0);
}

int rx_class(Rx *r) {
    r->i++; /* '[' */
    int negate = 0, n = 0;
    if (r->i < r->n && r->s[r->i] == '^') negate = 1, r->i++;
    CpRange *set = malloc(RX_MAX_RANGES * sizeof *set);
    if (!set) return grammar_fail(r->g, -ENOMEM, "out of memory");
    int first = 1;
    while (r->i < r->n && (r->s[r->i] != ']' || first)) {
        first = 0;
        if (n > RX_MAX_RANGES - 16) return free(set), rx_fail(r, "%s", "a class with too many ranges");
        CpRange item[16];
        int ni = 0;
        if (r->s[r->i] == '\\') {
            if (escape_set(r, item, &ni)) return free(set), -1;
        } else {
            int len;
            int32_t cp = utf8_decode(r->s + r->i, r->n - r->i, &len);
            if (cp < 0) return free(set), rx_fail(r, "%s", "invalid UTF-8");
            r->i += (size_t)len;
            item[0] = (CpRange){(uint32_t)cp, (uint32_t)cp}, ni = 1;
        }
        /* a range a-b, unless '-' ends the class */
        if (ni == 1 && item[0].lo == item[0].hi && r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
            r->i++;
            CpRange to[16];
            int nt = 0;
            if (r->s[r->i] == '\\') {
                if (escape_set(r, to, &nt)) return free(set), -1;
            } else {
                int len;
                int32_t cp = utf8_decode(r->s + r->i, r->n - r->i, &len);
                if (cp < 0) return free(set), rx_fail(r, "%s", "invalid UTF-8");
                r->i += (size_t)len;
                to[0] = (CpRange){(uint32_t)cp, (uint32_t)cp}, nt = 1;
            }
            if (nt != 1 || to[0].lo != to[0].hi || to[0].lo < item[0].lo)
                return free(set), rx_fail(r, "%s", "a bad range in a class");
            item[0].hi = to[0].lo;
        }
        memcpy(set + n, item, (size_t)ni * sizeof *item);
        n += ni;
    }
    if (r->i >= r->n) return free(set), rx_fail(r, "%s", "missing ']'");
    r->i++;
    int x = rx_chars(r, set, n, negate);
    free(set);
    return x;
}
