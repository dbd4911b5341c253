/* JSON Schema constraints against brute force: every schema of the corpus in
 * tests/fixtures/json_schemas.json compiles; random walks through each (uniform over the
 * mask) check every mask against the automaton token by token, and every walk that ends
 * gives text that cJSON parses (the e2e tests validate real generations with jsonschema);
 * each unsupported keyword is refused with its name. Also the integer and number ranges
 * are checked value by value against their bounds, the place where an off-by-one hides. */
#include <cjson/cJSON.h>
#include <math.h>

#include "tests/unit/constraint_walk.h"

#define CORPUS "tests/fixtures/json_schemas.json"

/* Whether c takes text from its start as a whole (the text may end there). */
static int whole(Constraint *c, const char *text) {
    ConstraintMatcher *m;
    if (constraint_matcher_create(c, V, &m)) return -1;
    int ok = constraint_matcher_advance_bytes(m, text, strlen(text)) == 0 && constraint_matcher_complete(m);
    constraint_matcher_destroy(m);
    return ok;
}

static void test_ranges(void) {
    char err[512];
    struct {
        const char *schema;
        double lo, hi;
        int lo_x, hi_x, integer;
    } cases[] = {
        {"{\"type\":\"integer\",\"minimum\":-37,\"maximum\":1250}", -37, 1250, 0, 0, 1},
        {"{\"type\":\"integer\",\"exclusiveMinimum\":5,\"exclusiveMaximum\":99}", 5, 99, 1, 1, 1},
        {"{\"type\":\"integer\",\"minimum\":100}", 100, 1e9, 0, 0, 1},
        {"{\"type\":\"integer\",\"maximum\":-20}", -1e9, -20, 0, 0, 1},
        {"{\"type\":\"number\",\"minimum\":-3,\"maximum\":7}", -3, 7, 0, 0, 0},
        {"{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", 0, 1, 1, 1, 0},
        {"{\"type\":\"number\",\"minimum\":-10,\"exclusiveMaximum\":-2}", -10, -2, 0, 1, 0},
    };
    static const char *const probes[] = {"0", "1", "-1", "5", "6", "98", "99", "100", "101", "-37", "-38", "1250", "1251",
                                         "-20", "-21", "-19", "7", "7.0", "7.5", "6.999", "-3", "-3.0", "-3.01", "-2.99",
                                         "0.5", "0.0", "1.0", "0.999", "-0.5", "-10", "-10.5", "-2", "-2.5", "-1.99",
                                         "12", "00", "01", "-0", "3.", "1e5"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Constraint *c = NULL;
        CHECK(compile(CONSTRAINT_JSON_SCHEMA, cases[i].schema, &c, err, sizeof err) == 0, "%s: %s", cases[i].schema, err);
        if (!c) continue;
        for (size_t k = 0; k < sizeof probes / sizeof *probes; k++) {
            const char *p = probes[k];
            char *end;
            double v = strtod(p, &end);
            int canonical = !(p[0] == '0' && p[1] && p[1] != '.') && strncmp(p, "-0", 2) != 0 && p[strlen(p) - 1] != '.' &&
                            !strchr(p, 'e');
            if (!strncmp(p, "-0.", 3)) canonical = 1;
            if (cases[i].integer && strchr(p, '.')) canonical = 0;
            int in = canonical && (cases[i].lo_x ? v > cases[i].lo : v >= cases[i].lo) &&
                     (cases[i].hi_x ? v < cases[i].hi : v <= cases[i].hi);
            int took = whole(c, p);
            CHECK(took == in, "%s: %s %s", cases[i].schema, p, in ? "is in range but refused" : "is out of range but taken");
        }
        constraint_unref(c);
    }
}

int main(void) {
    GgufFile *f;
    Tokenizer *t;
    ConstraintVocab *v;
    if (!walk_setup(&f, &t, &v)) return TEST_SUMMARY();
    char *js = test_read_file(CORPUS, NULL);
    cJSON *doc = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(doc != NULL, "cannot read %s (run from the repository root)", CORPUS);
    char err[512], text[16384];
    const cJSON *e;
    int n = 0;
    double worst = 0;
    const cJSON *schemas = cJSON_GetObjectItem(doc, "schemas"), *unsupported = cJSON_GetObjectItem(doc, "unsupported");
    cJSON_ArrayForEach(e, schemas) {
        char *s = cJSON_PrintUnformatted(e);
        Constraint *c = NULL;
        int rc = compile(CONSTRAINT_JSON_SCHEMA, s, &c, err, sizeof err);
        CHECK(rc == 0, "schema %s: %s", e->string, err);
        free(s);
        if (!c) continue;
        ConstraintInfo in;
        constraint_info(c, &in);
        if (in.compile_seconds > worst) worst = in.compile_seconds;
        if (getenv("TEST_VERBOSE"))
            fprintf(stderr, "%-20s %6.1f ms  %d rules %5d states, tables %d up front\n", e->string, in.compile_seconds * 1e3,
                    in.n_rules, in.n_states, in.eager_tables);
        for (int k = 0; k < 4; k++)
            if (walk(c, e->string, 150, 4000 + 31 * k + n, text, sizeof text, k < 1)) {
                cJSON *j = cJSON_Parse(text);
                CHECK(j != NULL, "schema %s: the walk made \"%s\", which is not JSON", e->string, text);
                cJSON_Delete(j);
            }
        constraint_unref(c);
        n++;
    }
    CHECK(n >= 30, "the corpus has %d schemas", n);
    cJSON_ArrayForEach(e, unsupported) {
        char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(e, "schema"));
        const char *kw = cJSON_GetObjectItem(e, "keyword")->valuestring;
        Constraint *c = NULL;
        int rc = compile(CONSTRAINT_JSON_SCHEMA, s, &c, err, sizeof err);
        CHECK(rc == -EINVAL && strstr(err, kw), "%s: want a refusal naming '%s', got %d '%s'", s, kw, rc, err);
        constraint_unref(c);
        free(s);
    }
    test_ranges();
    cJSON_Delete(doc);
    walk_teardown(f, t, v);
    return TEST_SUMMARY();
}
