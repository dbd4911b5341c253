/* JSON Schema's scalar types as grammar (see json_schema.c): strings with minLength /
 * maxLength, pattern (regex.c, searched as JSON Schema says) or format; integers with exact
 * ranges (digit-by-digit alternatives, as llama.cpp builds them); numbers with ranges whose
 * bounds are integers, exactly: a number is split into sign, integer part I and fraction f,
 * and each side's bound becomes a range for I with f = 0 and one with f > 0. Bounded numbers
 * are written without exponents. const and enum values become literals of their compact
 * JSON text. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constraint_internal.h"
#include "engine/json_schema_internal.h"

#define INF INT64_MAX
#define MAX_DIGITS 16

int js_literal(Js *s, const cJSON *v) {
    char *t = cJSON_PrintUnformatted(v);
    if (!t) return grammar_fail(s->g, -ENOMEM, "out of memory");
    int x = grammar_str(s->g, t);
    free(t);
    return x;
}

long js_count(Js *s, const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) || v->valuedouble > 1e6)
        return js_fail(s, "'%s' must be a non-negative integer", key), -2;
    return (long)v->valuedouble;
}

/* ---- strings ---- */

static const char *const k_formats[][2] = {
    {"date", "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"},
    {"time", "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"},
    {"date-time", "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                  "(\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"},
    {"duration", "P([0-9]{1,4}Y)?([0-9]{1,4}M)?([0-9]{1,4}W)?([0-9]{1,4}D)?(T([0-9]{1,4}H)?([0-9]{1,4}M)?([0-9]{1,4}S)?)?"},
    {"uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
    {"email", "[a-zA-Z0-9._%+-]{1,40}@[a-zA-Z0-9-]{1,30}(\\.[a-zA-Z0-9-]{1,30}){0,2}\\.[a-zA-Z]{2,12}"},
    {"ipv4", "((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"},
    {"hostname", "[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?){0,4}"},
    {"uri", "[a-zA-Z][a-zA-Z0-9+.-]{0,10}://[a-zA-Z0-9._~%!$&'()*+,;=:@/?#-]{1,100}"},
};

int js_string(Js *s, const cJSON *o) {
    Grammar *g = s->g;
    long lo = js_count(s, o, "minLength"), hi = js_count(s, o, "maxLength");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern"), *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (lo == -2 || hi == -2) return -1;
    if (hi >= 0 && lo > hi) return js_fail(s, "minLength %ld is above maxLength %ld", lo, hi);
    if ((pat || fmt) && (lo >= 0 || hi >= 0))
        return js_fail(s, "'%s' together with minLength/maxLength is not supported", pat ? "pattern" : "format");
    if (pat && fmt) return js_fail(s, "'pattern' together with 'format' is not supported");
    if (!pat && !fmt && lo <= 0 && hi < 0) return json_string(&s->j); /* the shared rule */
    int q = grammar_str(g, "\""), body;
    if (pat || fmt) {
        const char *re = NULL;
        if (pat && !cJSON_IsString(pat)) return js_fail(s, "'pattern' must be a string");
        if (fmt && !cJSON_IsString(fmt)) return js_fail(s, "'format' must be a string");
        for (size_t i = 0; fmt && i < sizeof k_formats / sizeof *k_formats; i++)
            if (!strcmp(fmt->valuestring, k_formats[i][0])) re = k_formats[i][1];
        if (fmt && !re) {
            char known[256] = "";
            for (size_t i = 0; i < sizeof k_formats / sizeof *k_formats; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", k_formats[i][0]);
            return js_fail(s, "string format '%s' is not supported (supported: %s)", fmt->valuestring, known);
        }
        char anchored[512];
        if (re) snprintf(anchored, sizeof anchored, "^%s$", re);
        const char *src = re ? anchored : pat->valuestring;
        char rerr[300];
        int rc = regex_build_json_string(g, src, strlen(src), &body, rerr, sizeof rerr);
        if (rc) return js_fail(s, "%s", rerr);
    } else {
        body = grammar_repeat(g, json_char(&s->j), lo > 0 ? (int)lo : 0, hi >= 0 ? (int)hi : -1);
    }
    /* a rule of its own, without calls: its states can share token tables (constraint_equiv.c) */
    int r = grammar_rule_new(g, "string");
    grammar_rule_set(g, r, grammar_seq3(g, q, body, grammar_str(g, "\"")));
    return grammar_ref(g, r);
}

/* ---- integer ranges ---- */

typedef struct Span {
    int64_t lo, hi; /* [lo, hi], hi == INF: unbounded; empty when lo > hi */
} Span;

static int digit_range(Grammar *g, int a, int b) { return grammar_byte_range(g, (uint8_t)('0' + a), (uint8_t)('0' + b)); }
static int any_digits(Grammar *g, int n) { return grammar_repeat(g, digit_range(g, 0, 9), n, n); }

/* Strings of n digits >= s (ge) or <= s (le), s being n digits. */
static int bound(Grammar *g, const char *s, int n, int ge) {
    if (n == 0) return grammar_empty(g);
    int all = 1;
    for (int i = 0; i < n; i++) all &= s[i] == (ge ? '0' : '9');
    if (all) return any_digits(g, n);
    int d = s[0] - '0';
    int same = grammar_seq2(g, digit_range(g, d, d), bound(g, s + 1, n - 1, ge));
    if (ge ? d == 9 : d == 0) return same;
    int other = grammar_seq2(g, ge ? digit_range(g, d + 1, 9) : digit_range(g, 0, d - 1), any_digits(g, n - 1));
    return grammar_alt2(g, same, other);
}

/* n-digit numbers in [a, b] (digit strings of one length, a <= b). */
static int same_length(Grammar *g, const char *a, const char *b, int n) {
    if (n == 0) return grammar_empty(g);
    int x = a[0] - '0', y = b[0] - '0';
    if (x == y) return grammar_seq2(g, digit_range(g, x, x), same_length(g, a + 1, b + 1, n - 1));
    int alts[3], k = 0;
    alts[k++] = grammar_seq2(g, digit_range(g, x, x), bound(g, a + 1, n - 1, 1));
    if (x + 1 <= y - 1) alts[k++] = grammar_seq2(g, digit_range(g, x + 1, y - 1), any_digits(g, n - 1));
    alts[k++] = grammar_seq2(g, digit_range(g, y, y), bound(g, b + 1, n - 1, 0));
    return grammar_alt(g, alts, k);
}

static int64_t pow10i(int n) {
    int64_t p = 1;
    while (n-- > 0) p *= 10;
    return p;
}

/* Non-negative integers in span (without leading zeros); the empty span gives none. */
static int uint_span(Grammar *g, Span sp) {
    if (sp.lo < 0) sp.lo = 0;
    if (sp.lo > sp.hi) return grammar_none(g);
    char a[32], b[32];
    int la = snprintf(a, sizeof a, "%lld", (long long)sp.lo);
    int max_len = sp.hi == INF ? (la > MAX_DIGITS ? la : MAX_DIGITS) : snprintf(b, sizeof b, "%lld", (long long)sp.hi);
    int alts[24], k = 0;
    if (max_len > 20) max_len = 20;
    for (int len = la; len <= max_len && k < 22; len++) {
        int64_t lo = len == la ? sp.lo : pow10i(len - 1);
        int64_t top = len >= 19 ? INT64_MAX : pow10i(len) - 1;
        int64_t hi = sp.hi != INF && sp.hi < top ? sp.hi : top;
        if (sp.hi == INF && len > la) { /* every longer length at once: [1-9][0-9]{la, max-1} */
            alts[k++] = grammar_seq2(g, digit_range(g, 1, 9), grammar_repeat(g, digit_range(g, 0, 9), la, max_len - 1));
            break;
        }
        if (lo > hi) continue;
        snprintf(a, sizeof a, "%0*lld", len & 31, (long long)lo);
        snprintf(b, sizeof b, "%0*lld", len & 31, (long long)hi);
        alts[k++] = same_length(g, a, b, len);
    }
    return grammar_alt(g, alts, k);
}

/* Bounds of a numeric schema: *has_lo / *has_hi, inclusive flags cleared when exclusive.
 * integral: whether every bound is an integer. */
static int bounds(Js *s, const cJSON *o, double *lo, int *has_lo, int *lo_excl, double *hi, int *has_hi, int *hi_excl) {
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(o, "minimum"), *mx = cJSON_GetObjectItemCaseSensitive(o, "maximum");
    const cJSON *emn = cJSON_GetObjectItemCaseSensitive(o, "exclusiveMinimum");
    const cJSON *emx = cJSON_GetObjectItemCaseSensitive(o, "exclusiveMaximum");
    *has_lo = *has_hi = *lo_excl = *hi_excl = 0;
    if (mn && !cJSON_IsNumber(mn)) return js_fail(s, "'minimum' must be a number");
    if (mx && !cJSON_IsNumber(mx)) return js_fail(s, "'maximum' must be a number");
    if (mn) *lo = mn->valuedouble, *has_lo = 1;
    if (mx) *hi = mx->valuedouble, *has_hi = 1;
    if (cJSON_IsBool(emn)) *lo_excl = cJSON_IsTrue(emn) && mn; /* draft 4: a flag on minimum */
    else if (cJSON_IsNumber(emn) && (!*has_lo || emn->valuedouble >= *lo)) *lo = emn->valuedouble, *has_lo = 1, *lo_excl = 1;
    else if (emn) return js_fail(s, "'exclusiveMinimum' must be a number");
    if (cJSON_IsBool(emx)) *hi_excl = cJSON_IsTrue(emx) && mx;
    else if (cJSON_IsNumber(emx) && (!*has_hi || emx->valuedouble <= *hi)) *hi = emx->valuedouble, *has_hi = 1, *hi_excl = 1;
    else if (emx) return js_fail(s, "'exclusiveMaximum' must be a number");
    if (cJSON_GetObjectItemCaseSensitive(o, "multipleOf")) return js_fail(s, "'multipleOf' is not supported");
    if ((*has_lo && fabs(*lo) >= 1e15) || (*has_hi && fabs(*hi) >= 1e15))
        return js_fail(s, "numeric bounds beyond 1e15 are not supported");
    return 0;
}

int js_integer(Js *s, const cJSON *o) {
    double lo, hi;
    int has_lo, has_hi, lx, hx;
    if (bounds(s, o, &lo, &has_lo, &lx, &hi, &has_hi, &hx)) return -1;
    if (!has_lo && !has_hi) return json_integer(&s->j);
    int64_t L = has_lo ? (int64_t)(lx ? floor(lo) + 1 : ceil(lo)) : -INF, H = has_hi ? (int64_t)(hx ? ceil(hi) - 1 : floor(hi)) : INF;
    Grammar *g = s->g;
    int alts[2], k = 0;
    if (H >= 0) alts[k++] = uint_span(g, (Span){L > 0 ? L : 0, H});
    if (L < 0) alts[k++] = grammar_seq2(g, grammar_str(g, "-"), uint_span(g, (Span){H < 0 ? -H : 1, L == -INF ? INF : -L}));
    if (k == 0) return js_fail(s, "the integer range is empty");
    return grammar_alt(g, alts, k);
}

static Span span_and(Span a, Span b) { return (Span){a.lo > b.lo ? a.lo : b.lo, a.hi < b.hi ? a.hi : b.hi}; }

/* a minus b as up to two spans. */
static int span_minus(Span a, Span b, Span out[2]) {
    if (a.lo > a.hi) return 0;
    if (b.lo > b.hi || b.hi < a.lo || b.lo > a.hi) return out[0] = a, 1;
    int n = 0;
    if (a.lo < b.lo) out[n++] = (Span){a.lo, b.lo - 1};
    if (b.hi != INF && b.hi < a.hi) out[n++] = (Span){b.hi + 1, a.hi};
    return n;
}

/* sign, then I in z0 with fraction zero, I in zp with fraction positive */
static int number_side(Grammar *g, int negative, Span z0, Span zp) {
    int frac_any = grammar_opt(g, grammar_seq2(g, grammar_str(g, "."), grammar_repeat(g, digit_range(g, 0, 9), 1, MAX_DIGITS)));
    int frac_zero = grammar_opt(g, grammar_seq2(g, grammar_str(g, "."), grammar_repeat(g, grammar_str(g, "0"), 1, MAX_DIGITS)));
    int frac_pos = grammar_seq(g, (int[]){grammar_str(g, "."), grammar_repeat(g, grammar_str(g, "0"), 0, MAX_DIGITS - 1),
                                          digit_range(g, 1, 9), grammar_repeat(g, digit_range(g, 0, 9), 0, MAX_DIGITS - 1)}, 4);
    Span both = span_and(z0, zp), only0[2], onlyp[2];
    int n0 = span_minus(z0, both, only0), np = span_minus(zp, both, onlyp), alts[5], k = 0;
    if (both.lo <= both.hi) alts[k++] = grammar_seq2(g, uint_span(g, both), frac_any);
    for (int i = 0; i < n0; i++) alts[k++] = grammar_seq2(g, uint_span(g, only0[i]), frac_zero);
    for (int i = 0; i < np; i++) alts[k++] = grammar_seq2(g, uint_span(g, onlyp[i]), frac_pos);
    if (k == 0) return -2;
    int x = grammar_alt(g, alts, k);
    return negative ? grammar_seq2(g, grammar_str(g, "-"), x) : x;
}

int js_number(Js *s, const cJSON *o) {
    double lo, hi;
    int has_lo, has_hi, lx, hx;
    if (bounds(s, o, &lo, &has_lo, &lx, &hi, &has_hi, &hx)) return -1;
    if (!has_lo && !has_hi) return json_number(&s->j);
    if ((has_lo && lo != floor(lo)) || (has_hi && hi != floor(hi)))
        return js_fail(s, "number bounds that are not integers are not supported (integer bounds are)");
    int64_t L = has_lo ? (int64_t)lo : -INF, H = has_hi ? (int64_t)hi : INF;
    Grammar *g = s->g;
    /* x = I + f >= 0: f = 0 needs I within the bounds; f > 0 needs I >= L and I <= H - 1 */
    Span z0 = {has_lo ? (lx ? L + 1 : L) : 0, has_hi ? (hx ? H - 1 : H) : INF}, zp = {has_lo ? L : 0, has_hi ? H - 1 : INF};
    z0 = span_and(z0, (Span){0, INF}), zp = span_and(zp, (Span){0, INF});
    /* x = -(I + f) < 0: f = 0 needs -I within the bounds (and I >= 1); f > 0 needs
     * I >= -H and I <= -L - 1 */
    Span n0 = {has_hi ? (hx ? -H + 1 : -H) : 1, has_lo ? (lx ? -L - 1 : -L) : INF}, np = {has_hi ? -H : 0, has_lo ? -L - 1 : INF};
    n0 = span_and(n0, (Span){1, INF}), np = span_and(np, (Span){0, INF});
    int alts[2], k = 0, x;
    if ((x = number_side(g, 0, z0, zp)) != -2) alts[k++] = x;
    if ((x = number_side(g, 1, n0, np)) != -2) alts[k++] = x;
    if (k == 0) return js_fail(s, "the number range is empty");
    return grammar_alt(g, alts, k);
}
