/* Pre-tokenizers of byte-level BPE models: the regexes that cut text into words before BPE
 * merges run inside each word, chosen by the GGUF's tokenizer.ggml.pre, or taken as they are
 * from a tokenizer.json (tok_pre_init_regex). The regexes are the
 * public ones from the models' tokenizer.json files, in the order llama.cpp applies them.
 * PCRE2 runs them in UTF + UCP mode (\p{L}, \s and friends are Unicode-aware), JIT-compiled
 * when the platform allows, and with PCRE2_MATCH_INVALID_UTF so that invalid UTF-8 from a
 * client is split rather than rejected.
 *
 * Semantics, as llama.cpp's unicode_regex_split: the first regex splits the text into
 * matches and the gaps between them; each later regex splits each of those pieces again,
 * seeing only that piece (so a look-ahead never crosses a piece boundary). */
#include <stdio.h>
#include <string.h>

#include "engine/tokenizer_internal.h"

/* The GPT-2 regex (tokenizer.json's ByteLevel pre-tokenizer; its trailing "\s+" alternative
 * is implied because gaps between matches become words too). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
/* Contractions matched case-insensitively, spelled as classes: PCRE2's (?i) in UCP mode
 * would also fold U+017F (long s) into 's', which the reference tokenizers do not. */
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                         \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                          \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* tokenizer.json's classes also hold \p{M}; llama.cpp's matcher lets combining marks match
 * none of them (found by differential fuzzing against it), and llama.cpp is the reference
 * here, so the marks are left out. */
#define RE_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}]"
#define RE_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}]"
#define RE_GPT4O                                                                              \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+" RE_CONTRACTIONS "?"                    \
    "|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "+" RE_LOWER "*" RE_CONTRACTIONS "?"                   \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                            \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+"                                      \
    "|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "+" RE_LOWER "*"                                     \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct PreKind {
    const char *names; /* the tokenizer.ggml.pre values, space-separated */
    const char *regex[TOK_PRE_MAX_REGEX];
    int ignore_merges;
    int add_bos;
} PreKind;

static const PreKind k_pre_kinds[] = {
    /* llama.cpp's fallback when tokenizer.ggml.pre is missing */
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, 0, 0},
    {"gpt-2 gpt2 phi-2 mpt olmo jais roberta-bpe", {RE_GPT2}, 0, 0},
    {"llama3 llama-v3 llama-bpe falcon3", {RE_LLAMA3}, 1, 1},
    {"dbrx smaug-bpe", {RE_LLAMA3}, 0, 0},
    /* digits one by one, then the GPT-2 regex (SmolLM's Digits(individual_digits) + ByteLevel) */
    {"smollm starcoder refact command-r codeshell exaone minerva-7b", {"\\p{N}", RE_GPT2}, 0, 0},
    {"qwen2 deepseek-r1-qwen megrez stablelm2", {RE_QWEN2}, 0, 0},
    {"gpt-4o", {RE_GPT4O}, 0, 0},
    {"tekken", {RE_TEKKEN}, 1, 0},
};

static int name_in_list(const char *name, const char *list) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

const char *tok_pre_gpt2_regex(void) { return RE_GPT2; }

const char *tok_pre_known_names(void) {
    return "default, gpt-2, phi-2, mpt, olmo, jais, roberta-bpe, llama3, llama-v3, llama-bpe, falcon3, "
           "dbrx, smaug-bpe, smollm, starcoder, refact, command-r, codeshell, exaone, minerva-7b, qwen2, "
           "deepseek-r1-qwen, megrez, stablelm2, gpt-4o, tekken";
}

/* \s as the reference tokenizers mean it: Unicode White_Space. PCRE2's UCP \s also takes
 * U+180E (MONGOLIAN VOWEL SEPARATOR, a format character since Unicode 6.3), so every \s and
 * \S of a table regex is rewritten with this explicit set before compiling. */
#define WS_SET "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Writes re with \s and \S expanded into out (cap bytes); -1 when it does not fit. */
static int expand_ws(const char *re, char *out, size_t cap) {
    size_t o = 0;
    int in_class = 0;
    for (const char *c = re; *c; c++) {
        const char *add = NULL;
        char tmp[3] = {c[0], 0, 0};
        if (c[0] == '\\' && (c[1] == 's' || c[1] == 'S')) {
            add = c[1] == 's' ? (in_class ? WS_SET : "[" WS_SET "]") : "[^" WS_SET "]";
            c++;
        } else if (c[0] == '\\' && c[1]) {
            tmp[1] = c[1];
            c++;
        } else if (c[0] == '[') {
            in_class = 1;
        } else if (c[0] == ']') {
            in_class = 0;
        }
        if (!add) add = tmp;
        size_t l = strlen(add);
        if (o + l + 1 > cap) return -1;
        memcpy(out + o, add, l);
        o += l;
    }
    out[o] = 0;
    return 0;
}

static int compile_all(TokPre *p, const char *name, const char *const *regex, int n, char *err, size_t errlen) {
    for (int i = 0; i < n && i < TOK_PRE_MAX_REGEX; i++) {
        int ecode;
        PCRE2_SIZE eoff;
        char pat[4096];
        if (expand_ws(regex[i], pat, sizeof pat) != 0) {
            snprintf(err, errlen, "pre-tokenizer '%s': regex %d too long", name, i);
            tok_pre_free(p);
            return -1;
        }
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ecode, msg, sizeof msg);
            snprintf(err, errlen, "pre-tokenizer '%s': regex %d does not compile at offset %zu: %s", name, i,
                     (size_t)eoff, (const char *)msg);
            tok_pre_free(p);
            return -1;
        }
        /* JIT is several times faster; where it is unavailable the interpreter still works. */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        p->re[p->n_regex++] = re;
    }
    return 0;
}

int tok_pre_init(TokPre *p, const char *name, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    if (!name || !*name) name = "default";
    const PreKind *k = NULL;
    for (size_t i = 0; i < sizeof k_pre_kinds / sizeof k_pre_kinds[0] && !k; i++)
        if (name_in_list(name, k_pre_kinds[i].names)) k = &k_pre_kinds[i];
    if (!k) {
        snprintf(err, errlen, "unknown pre-tokenizer type '%s' (tokenizer.ggml.pre); Piston knows: %s", name,
                 tok_pre_known_names());
        return -1;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ignore_merges = k->ignore_merges;
    p->add_bos = k->add_bos;
    int n = 0;
    while (n < TOK_PRE_MAX_REGEX && k->regex[n]) n++;
    return compile_all(p, name, k->regex, n, err, errlen);
}

int tok_pre_init_regex(TokPre *p, const char *const *regex, int n, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "tokenizer.json");
    if (n > TOK_PRE_MAX_REGEX) {
        snprintf(err, errlen, "tokenizer.json: %d split regexes (Piston runs at most %d)", n, TOK_PRE_MAX_REGEX);
        return -1;
    }
    return compile_all(p, "tokenizer.json", regex, n, err, errlen);
}

void tok_pre_free(TokPre *p) {
    for (int i = 0; i < p->n_regex; i++) pcre2_code_free(p->re[i]);
    p->n_regex = 0;
}

static int split_stage(const TokPre *p, int stage, pcre2_match_data *md, const char *text, size_t len,
                       TokWordFn fn, void *ctx) {
    if (len == 0) return 0;
    if (stage == p->n_regex) return fn(ctx, text, len);
    size_t pos = 0, prev = 0;
    int r;
    while (pos < len) {
        int rc = pcre2_match(p->re[stage], (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return -1;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1]; /* copied: the recursion below reuses md */
        if (me == ms) {
            /* None of the regexes can match empty; if one ever does, step over a character. */
            pos = ms + 1;
            while (pos < len && ((unsigned char)text[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (ms > prev && (r = split_stage(p, stage + 1, md, text + prev, ms - prev, fn, ctx)) != 0) return r;
        if ((r = split_stage(p, stage + 1, md, text + ms, me - ms, fn, ctx)) != 0) return r;
        prev = pos = me;
    }
    return prev < len ? split_stage(p, stage + 1, md, text + prev, len - prev, fn, ctx) : 0;
}

int tok_pre_split(const TokPre *p, const char *text, size_t len, TokWordFn fn, void *ctx) {
    if (len == 0) return 0;
    /* One ovector pair is all we read; match data is per call so the Tokenizer stays shared. */
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return -1;
    int r = split_stage(p, 0, md, text, len, fn, ctx);
    pcre2_match_data_free(md);
    return r;
}
