/* Constrained decoding against brute force, on the default model's real vocabulary: random
 * walks through each kind of constraint (GBNF, regex, any JSON object, choice, JSON Schema)
 * where, at every step, the mask must equal the set of tokens whose bytes the parser takes
 * from the current state, checked token by token over the whole vocabulary (so the
 * precomputed per-state tables, the context-dependent walks and the mask cache are all
 * checked against the automaton itself), end-of-generation tokens must be allowed exactly
 * when the text is complete, and every completed text must satisfy an independent checker
 * (PCRE2 for regexes, cJSON for JSON). Also: compile errors named, limits named. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>

#include "tests/unit/constraint_walk.h"

static int pcre_full_match(const char *re, const char *text) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                                     &ec, &eo, NULL);
    if (!code) return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc = pcre2_match(code, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return rc >= 0;
}

static void test_regex(void) {
    static const char *const res[] = {"[a-z]{2,6}@(example|test)\\.(com|org)", "\\d{3}-\\d{4}", "(ab|cd)*e?",
                                      "[^\"\\n]{0,12}\\.", "(0|[1-9][0-9]*)(\\.[0-9]+)?", "caf\u00e9|na\u00efve|\u65e5\u672c"};
    char err[512], text[4096];
    for (size_t i = 0; i < sizeof res / sizeof *res; i++) {
        Constraint *c = NULL;
        CHECK(compile(CONSTRAINT_REGEX, res[i], &c, err, sizeof err) == 0, "%s: %s", res[i], err);
        if (!c) continue;
        int done = 0;
        for (int k = 0; k < 8; k++) {
            int check = k < 2; /* brute force on two walks, independent checker on all */
            if (walk(c, res[i], 40, 1000 + k * 7 + i, text, sizeof text, check)) {
                done++;
                CHECK(pcre_full_match(res[i], text) == 1, "regex %s: generated \"%s\" does not match", res[i], text);
            }
        }
        CHECK(done > 0, "regex %s: no walk ended", res[i]);
        constraint_unref(c);
    }
}

static void test_gbnf(void) {
    const char *g = "root ::= expr\n"
                    "expr ::= term ((\"+\" | \"-\") term)*\n"
                    "term ::= factor (\"*\" factor)*  # comment\n"
                    "factor ::= [0-9]+ | \"(\" expr \")\" | ws-ident\n"
                    "ws-ident ::= [a-z] [a-z0-9_]{0,5}\n";
    char err[512], text[4096];
    Constraint *c = NULL;
    CHECK(compile(CONSTRAINT_GRAMMAR, g, &c, err, sizeof err) == 0, "gbnf: %s", err);
    for (int k = 0; c && k < 6; k++) walk(c, "gbnf", 30, 77 + k, text, sizeof text, k < 2);
    constraint_unref(c);
    static const char *const bad[][2] = {
        {"root ::= a\na ::= a \"x\" | \"y\"\n", "left-recursive"},
        {"root ::= b\n", "never defined"},
        {"item ::= \"x\"\n", "no 'root' rule"},
        {"root ::= \"x\" <tok>\n", "token references"},
        {"root ::= \"unterminated\n", "unterminated"},
        {"root ::= \"x\"{3,1}\n", "out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c = NULL;
        int rc = compile(CONSTRAINT_GRAMMAR, bad[i][0], &c, err, sizeof err);
        CHECK(rc < 0 && strstr(err, bad[i][1]), "grammar %s: want an error naming '%s', got %d '%s'", bad[i][0],
              bad[i][1], rc, err);
        constraint_unref(c);
    }
}

static void test_json_object(void) {
    char err[512], text[8192];
    Constraint *c = NULL;
    CHECK(compile(CONSTRAINT_JSON_OBJECT, NULL, &c, err, sizeof err) == 0, "json_object: %s", err);
    int done = 0;
    for (int k = 0; c && k < 12; k++)
        if (walk(c, "json_object", getenv("TEST_LONG") ? 400 : 60, 300 + k, text, sizeof text, k < 2 || getenv("TEST_LONG"))) {
            done++;
            cJSON *j = cJSON_Parse(text);
            CHECK(cJSON_IsObject(j), "json_object: \"%s\" is not a JSON object", text);
            cJSON_Delete(j);
        }
    (void)done;
    constraint_unref(c);
}

static void test_choice(void) {
    char err[512], text[512];
    Constraint *c = NULL;
    const char *choices = "[\"yes\", \"no\", \"not sure\", \"n/a\"]";
    CHECK(compile(CONSTRAINT_CHOICE, choices, &c, err, sizeof err) == 0, "choice: %s", err);
    for (int k = 0; c && k < 6; k++)
        if (walk(c, "choice", 10, 5 + k, text, sizeof text, 1))
            CHECK(!strcmp(text, "yes") || !strcmp(text, "no") || !strcmp(text, "not sure") || !strcmp(text, "n/a"),
                  "choice gave \"%s\"", text);
    constraint_unref(c);
}

static void test_regex_errors(void) {
    static const char *const bad[][2] = {{"(?=a)b", "lookaround"}, {"(a)\\1", "backreferences"}, {"a\\bc", "word boundaries"},
                                         {"(?i)abc", "inline flags"}, {"a^b", "anchors"}, {"(ab", "missing ')'"},
                                         {"[a-", "missing ']'"}, {"x{2000}", "1000"}};
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        Constraint *c = NULL;
        int rc = compile(CONSTRAINT_REGEX, bad[i][0], &c, err, sizeof err);
        CHECK(rc < 0 && strstr(err, bad[i][1]), "regex %s: want an error naming '%s', got '%s'", bad[i][0], bad[i][1], err);
        constraint_unref(c);
    }
    /* a limit, named */
    ConstraintSpec spec = {CONSTRAINT_REGEX, "(a{1000}){1000}", 15};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    lim.what = "--test-limit";
    Constraint *c = NULL;
    int rc = constraint_compile(V, &spec, &lim, &c, err, sizeof err);
    CHECK(rc == -E2BIG && strstr(err, "--test-limit"), "limit: %d %s", rc, err);
    constraint_unref(c);
}

/* The cache finds a constraint by kind and text (same text, other kind: a miss; texts of the
 * same length and of lengths across the 8-byte words of the hash), and evicts the least
 * recently used. */
static void test_cache(void) {
    static const char *const texts[] = {"[\"yes\", \"no\"]", "[\"yes\", \"nO\"]", "[\"yes\", \"no\", \"x\"]",
                                        "[\"a\"]"};
    enum { N = sizeof texts / sizeof *texts };
    char err[512];
    Constraint *c[N] = {0}, *got;
    ConstraintSpec sp[N];
    ConstraintCache *cache = NULL;
    CHECK(constraint_cache_create(3, &cache) == 0, "cache_create");
    for (int i = 0; i < N; i++) {
        sp[i] = (ConstraintSpec){CONSTRAINT_CHOICE, texts[i], strlen(texts[i])};
        CHECK(compile(CONSTRAINT_CHOICE, texts[i], &c[i], err, sizeof err) == 0, "choice %s: %s", texts[i], err);
    }
    if (!cache || !c[0] || !c[1] || !c[2] || !c[3]) goto done;
    for (int i = 0; i < 3; i++) constraint_cache_put(cache, &sp[i], constraint_ref(c[i]));
    for (int i = 0; i < 3; i++) {
        got = constraint_cache_get(cache, &sp[i]);
        CHECK(got == c[i], "cache: %s found %p, want %p", texts[i], (void *)got, (void *)c[i]);
        constraint_unref(got);
    }
    ConstraintSpec regex = {CONSTRAINT_REGEX, texts[0], sp[0].len},
                   prefix = {CONSTRAINT_CHOICE, texts[0], sp[0].len - 1};
    CHECK(!(got = constraint_cache_get(cache, &regex)), "cache: the same text as a regex must miss");
    constraint_unref(got);
    CHECK(!(got = constraint_cache_get(cache, &prefix)), "cache: a prefix must miss");
    constraint_unref(got);
    /* used 0 < 1 < 2, then 0 again: a fourth evicts 1 */
    constraint_unref(constraint_cache_get(cache, &sp[0]));
    constraint_cache_put(cache, &sp[3], constraint_ref(c[3]));
    for (int i = 0; i < N; i++) {
        got = constraint_cache_get(cache, &sp[i]);
        CHECK((got != NULL) == (i != 1), "cache after eviction: %s %s", texts[i], got ? "found" : "missing");
        constraint_unref(got);
    }
done:
    constraint_cache_destroy(cache);
    for (int i = 0; i < N; i++) constraint_unref(c[i]);
}

/* Every table made at first use instead of at compile time: the same masks. */
static void test_lazy(void) {
    char err[512], text[8192];
    Constraint *c = NULL;
    CHECK(compile_ex(CONSTRAINT_JSON_OBJECT, NULL, &c, err, sizeof err, 0) == 0, "lazy json_object: %s", err);
    for (int k = 0; c && k < 3; k++) walk(c, "lazy json_object", 80, 900 + k, text, sizeof text, 1);
    ConstraintInfo in;
    if (c) constraint_info(c, &in);
    CHECK(c && in.eager_tables == 0 && in.lazy_tables > 0, "tables made lazily");
    constraint_unref(c);
    c = NULL;
    CHECK(compile_ex(CONSTRAINT_REGEX, "[a-z ]{0,300}!", &c, err, sizeof err, 0) == 0, "lazy regex: %s", err);
    for (int k = 0; c && k < 3; k++)
        if (walk(c, "lazy regex", 60, 950 + k, text, sizeof text, 1))
            CHECK(pcre_full_match("[a-z ]{0,300}!", text) == 1, "lazy regex: \"%s\"", text);
    constraint_unref(c);
}

/* A control token's bytes are its name: a constraint that takes "<|im_start|>" as text must
 * still refuse the token itself in accept, as the mask does (tests/fuzz/fuzz_regex.c found
 * accept taking spm_tiny's <unk> under [^\s]{1,8}). */
static void test_control_refused(void) {
    char err[512];
    Constraint *c = NULL;
    ConstraintMatcher *m = NULL;
    int32_t id = tokenizer_find(T, "<|im_start|>");
    CHECK(id >= 0 && tokenizer_is_control(T, id) && !tokenizer_is_eog(T, id), "<|im_start|> is a control token");
    CHECK(compile(CONSTRAINT_REGEX, "[^\\s]{1,20}", &c, err, sizeof err) == 0, "regex: %s", err);
    if (c && id >= 0 && constraint_matcher_create(c, V, &m) == 0) {
        const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
        CHECK(mask && !mask_has(mask, id), "the mask refuses the control token");
        CHECK(constraint_matcher_accept(m, id, err, sizeof err) != 0, "accept refuses it too");
        CHECK(constraint_matcher_advance_bytes(m, "<|im_start|>", 12) == 0, "its text is fine as text");
    }
    constraint_matcher_destroy(m);
    constraint_unref(c);
}

int main(void) {
    GgufFile *f;
    Tokenizer *t;
    ConstraintVocab *v;
    if (walk_setup(&f, &t, &v)) {
        test_choice();
        test_cache();
        test_regex();
        test_regex_errors();
        test_gbnf();
        test_json_object();
        test_lazy();
        test_control_refused();
    }
    walk_teardown(f, t, v);
    return TEST_SUMMARY();
}
