/* Tool calls: for each format (Hermes, Llama-3, Mistral-Nemo, Mistral's name[ARGS]) and mode (required, auto, one named
 * function), random walks through the grammar on the real vocabulary, every mask checked
 * against brute force, and every finished text read back by the parser both whole and in
 * random pieces (a stream): the events must be the same either way, every call's name one of
 * the tools and its arguments JSON of the parameters' shape, the content free of the
 * trigger, and content plus calls must rebuild the text byte for byte. Also the spec's
 * refusals (a bad name, an unknown named function, parameters that are not an object).
 * On a synthetic vocabulary where the triggers are control tokens (as [TOOL_CALLS] is in
 * Mistral's, <tool_call> in some Hermes ones): the format's own trigger token is a terminal
 * of its grammar, and no other control token is ever allowed. */
#include <cjson/cJSON.h>

#include "tests/unit/constraint_walk.h"
#include "tests/unit/tool_call_test.h"

static void check_format(ToolFormat f, ToolMode m, const char *only, const char *name) {
    char err[512], *spec = NULL, text[16384];
    cJSON *tools = cJSON_Parse(k_tools);
    CHECK(tool_spec_build(f, m, 1, tools, only, &spec, err, sizeof err) == 0, "%s: %s", name, err);
    cJSON_Delete(tools);
    Constraint *c = NULL;
    if (spec) CHECK(compile(CONSTRAINT_TOOLS, spec, &c, err, sizeof err) == 0, "%s: %s", name, err);
    free(spec);
    int ended = 0, with_calls = 0;
    /* auto: half the walks are forced into a call after some text (random tokens alone
     * would almost never spell the trigger) */
    static const char *const starts[] = {NULL, NULL, "<tool_call>", "{", "Sure. [TOOL_CALLS]", "Sure. [TOOL_CALLS]"};
    const char *start = m == TOOL_MODE_AUTO ? starts[f + 1] : NULL;
    for (int k = 0; c && k < 10; k++) {
        walk_prefix = k % 2 ? start : NULL;
        if (f == TOOL_FORMAT_HERMES && walk_prefix) walk_prefix = "Let me check.\n<tool_call>";
        int done = walk(c, name, 120, 7000 + 13 * k + f * 101 + m * 7, text, sizeof text, k < 2 || k == 3);
        walk_prefix = NULL;
        if (!done) continue;
        ended++;
        Parsed whole, stream;
        int cw, cs;
        parse(f, m, text, 1 << 20, 0, &whole, &cw);
        parse(f, m, text, 0, 99 + k, &stream, &cs);
        CHECK(cw && cs, "%s: a finished text is not complete: \"%s\"", name, text);
        CHECK(!memcmp(&whole, &stream, sizeof whole), "%s: the stream read \"%s\" differently", name, text);
        if (m == TOOL_MODE_REQUIRED) CHECK(whole.n_calls >= 1 && !*whole.content, "%s: required but \"%s\"", name, text);
        if (f == TOOL_FORMAT_LLAMA3) CHECK(whole.n_calls <= 1, "%s: one call per turn", name);
        with_calls += whole.n_calls > 0;
        /* content plus the calls in their syntax rebuild the text */
        char rebuilt[16384] = "";
        strcat(rebuilt, whole.content);
        if (whole.n_calls && f == TOOL_FORMAT_MISTRAL) strcat(rebuilt, "[TOOL_CALLS][");
        for (int i = 0; i < whole.n_calls; i++) {
            cJSON *a = cJSON_Parse(whole.args[i]);
            CHECK(cJSON_IsObject(a), "%s: arguments \"%s\" are not a JSON object", name, whole.args[i]);
            int known = !strcmp(whole.names[i], "get_weather") || !strcmp(whole.names[i], "now");
            CHECK(known && (!only || !strcmp(whole.names[i], only)), "%s: call of '%s'", name, whole.names[i]);
            if (!strcmp(whole.names[i], "get_weather")) CHECK(cJSON_IsString(cJSON_GetObjectItem(a, "city")), "%s: city", name);
            if (!strcmp(whole.names[i], "now")) CHECK(cJSON_GetArraySize(a) == 0, "%s: now takes no arguments", name);
            cJSON_Delete(a);
            const char *fmt = f == TOOL_FORMAT_HERMES ? "%s<tool_call>\n{\"name\": \"%s\", \"arguments\": %s}\n</tool_call>"
                              : f == TOOL_FORMAT_LLAMA3        ? "%s{\"name\": \"%s\", \"parameters\": %s}"
                              : f == TOOL_FORMAT_MISTRAL_ARGS ? "%s[TOOL_CALLS]%s[ARGS]%s"
                                                               : "%s{\"name\": \"%s\", \"arguments\": %s}";
            const char *sep = i == 0 || f == TOOL_FORMAT_MISTRAL_ARGS ? "" : f == TOOL_FORMAT_HERMES ? "\n" : ", ";
            snprintf(rebuilt + strlen(rebuilt), sizeof rebuilt - strlen(rebuilt), fmt, sep, whole.names[i], whole.args[i]);
        }
        if (whole.n_calls && f == TOOL_FORMAT_MISTRAL) strcat(rebuilt, "]");
        CHECK(!strcmp(rebuilt, text), "%s: rebuilt \"%s\" from \"%s\"", name, rebuilt, text);
        if (f != TOOL_FORMAT_LLAMA3) CHECK(!strstr(whole.content, f == TOOL_FORMAT_HERMES ? "<tool_call>" : "[TOOL_CALLS]"), "%s: trigger in content", name);
    }
    CHECK(!c || ended > 0, "%s: no walk ended", name);
    if (m == TOOL_MODE_REQUIRED) CHECK(!c || with_calls == ended, "%s", name);
    else CHECK(!c || with_calls > 0, "%s: no forced walk made a call", name);
    constraint_unref(c);
}

static void test_spec_errors(void) {
    char err[512], *spec;
    static const char *const bad[][3] = {
        {"[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]", "", "letters"},
        {"[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"string\"}}}]", "", "object"},
        {"[{\"type\":\"code_interpreter\"}]", "", "function"},
        {"[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "g", "'g'"},
        {"[]", "", "non-empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *t = cJSON_Parse(bad[i][0]);
        int rc = tool_spec_build(TOOL_FORMAT_HERMES, TOOL_MODE_AUTO, 1, t, *bad[i][1] ? bad[i][1] : NULL, &spec, err, sizeof err);
        CHECK(rc < 0 && strstr(err, bad[i][2]), "%s: want '%s' in '%s'", bad[i][0], bad[i][2], err);
        cJSON_Delete(t);
    }
    cJSON *t = cJSON_Parse(k_tools);
    CHECK(tool_spec_build(TOOL_FORMAT_NONE, TOOL_MODE_AUTO, 1, t, NULL, &spec, err, sizeof err) < 0, "no format");
    cJSON_Delete(t);
}

/* The format's trigger token where grammar takes its bytes, and no other control token. */
static void check_terminal(const ConstraintVocab *v, const Tokenizer *t, ToolFormat f, ToolMode mode, int32_t trig,
                           int32_t other, const char *rest, const char *name) {
    char err[512], *spec;
    Constraint *c;
    ConstraintMatcher *m;
    if (tool_matcher(v, f, mode, NULL, &spec, &c, &m, name)) return;
    CHECK(constraint_matcher_is_terminal(m, trig) && !constraint_matcher_is_terminal(m, other), "%s: terminals", name);
    if (mode == TOOL_MODE_AUTO) CHECK(constraint_matcher_advance_bytes(m, "Sure. ", 6) == 0, "%s: text", name);
    const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
    CHECK(mask && mask_has(mask, trig), "%s: the trigger token is not allowed where the calls may start", name);
    for (int32_t id = 0; mask && id < VOCAB_BYTES; id++)
        if (id != trig && !(id == 2 && mode == TOOL_MODE_AUTO)) /* EOS: the text may end after text */
            CHECK(!mask_has(mask, id), "%s: control token %d allowed", name, id);
    CHECK(constraint_matcher_accept(m, trig, err, sizeof err) == 0, "%s: accept the trigger: %s", name, err);
    Detok d;
    char out[64];
    detok_init(&d);
    size_t n = detok_push_text(t, &d, trig, out, sizeof out);
    CHECK(n == v->len[trig] && !memcmp(out, v->bytes + v->off[trig], n), "%s: the trigger's text", name);
    detok_init(&d);
    CHECK(detok_push(t, &d, trig, out, sizeof out) == 0, "%s: a control token is no text to detok_push", name);
    mask = constraint_matcher_mask(m, err, sizeof err);
    CHECK(mask && !mask_has(mask, trig), "%s: the trigger twice", name);
    CHECK(constraint_matcher_advance_bytes(m, rest, strlen(rest)) == 0, "%s: the call after the trigger", name);
    CHECK(constraint_matcher_complete(m), "%s: the call is complete", name);
    constraint_matcher_destroy(m), constraint_unref(c), free(spec);
}

static void test_control_trigger(void) {
    Tokenizer *t;
    ConstraintVocab *v;
    char err[256];
    if (control_setup(&t, &v)) return;
    const char *nemo = "[{\"name\": \"now\", \"arguments\": {}}]";
    const char *hermes = "\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
    check_terminal(v, t, TOOL_FORMAT_MISTRAL, TOOL_MODE_AUTO, 3, 5, nemo, "mistral auto, [TOOL_CALLS] a control token");
    check_terminal(v, t, TOOL_FORMAT_MISTRAL, TOOL_MODE_REQUIRED, 3, 5, nemo, "mistral required, control [TOOL_CALLS]");
    check_terminal(v, t, TOOL_FORMAT_HERMES, TOOL_MODE_AUTO, 5, 3, hermes, "hermes auto, <tool_call> a control token");
    /* other constraints never take a control token, even where they take its bytes */
    ConstraintSpec cs = {CONSTRAINT_REGEX, ".*", 2};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    Constraint *c = NULL;
    ConstraintMatcher *m = NULL;
    if (!constraint_compile(v, &cs, &lim, &c, err, sizeof err) && !constraint_matcher_create(c, v, &m)) {
        const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
        CHECK(mask && !mask_has(mask, VOCAB_TOOL_CALLS) && !mask_has(mask, VOCAB_TOOL_CALL) && mask_has(mask, VOCAB_BYTES + 'a'), "regex: control tokens");
        CHECK(constraint_matcher_accept(m, 3, err, sizeof err) != 0, "regex: accepted a control token");
    } else {
        CHECK(0, "regex: %s", err);
    }
    constraint_matcher_destroy(m), constraint_unref(c);
    constraint_vocab_destroy(v);
    tokenizer_destroy(t);
}

int main(void) {
    test_control_trigger();
    GgufFile *f;
    Tokenizer *t;
    ConstraintVocab *v;
    if (walk_setup(&f, &t, &v)) {
        static const ToolFormat fmts[] = {TOOL_FORMAT_HERMES, TOOL_FORMAT_LLAMA3, TOOL_FORMAT_MISTRAL,
                                          TOOL_FORMAT_MISTRAL_ARGS};
        static const char *const names[] = {"hermes", "llama3", "mistral", "mistral-args"};
        char name[64];
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "%s required", names[i]), check_format(fmts[i], TOOL_MODE_REQUIRED, NULL, name);
            snprintf(name, sizeof name, "%s auto", names[i]), check_format(fmts[i], TOOL_MODE_AUTO, NULL, name);
            snprintf(name, sizeof name, "%s named", names[i]), check_format(fmts[i], TOOL_MODE_REQUIRED, "get_weather", name);
        }
        test_spec_errors();
    }
    walk_teardown(f, t, v);
    return TEST_SUMMARY();
}
