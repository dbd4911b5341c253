/* Tool calls: for each format (Hermes, Llama-3, Mistral) and mode (required, auto, one named
 * function), random walks through the grammar on the real vocabulary, every mask checked
 * against brute force, and every finished text read back by the parser both whole and in
 * random pieces (a stream): the events must be the same either way, every call's name one of
 * the tools and its arguments JSON of the parameters' shape, the content free of the
 * trigger, and content plus calls must rebuild the text byte for byte. Also the spec's
 * refusals (a bad name, an unknown named function, parameters that are not an object). */
#include <cjson/cJSON.h>

#include "engine/tool_call.h"
#include "tests/unit/constraint_walk.h"

static const char *k_tools =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
    "{\"city\":{\"type\":\"string\",\"maxLength\":12},\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";

typedef struct Parsed {
    char content[8192], names[8][80], args[8][2048];
    int n_calls;
} Parsed;

static void parse(ToolFormat f, ToolMode m, const char *text, size_t piece, unsigned long long seed, Parsed *out, int *complete) {
    ToolParser p;
    tool_parser_init(&p, f, m);
    memset(out, 0, sizeof *out);
    ToolEvent ev[64];
    size_t len = strlen(text), have = 0;
    while (1) {
        int final = have >= len;
        int k = tool_parser_feed(&p, text, have, final, ev, 64);
        for (int i = 0; i < k; i++) {
            if (ev[i].kind == TOOL_EV_CONTENT) strncat(out->content, ev[i].text, ev[i].len);
            else if (ev[i].index < 8 && ev[i].kind == TOOL_EV_CALL)
                snprintf(out->names[ev[i].index], 80, "%.*s", (int)ev[i].len, ev[i].text), out->n_calls = ev[i].index + 1;
            else if (ev[i].index < 8) strncat(out->args[ev[i].index], ev[i].text, ev[i].len);
        }
        if (k == 64) continue;
        if (final) break;
        size_t step = piece ? piece : 1 + test_rng_next(&seed) % 7;
        have = have + step > len ? len : have + step;
    }
    *complete = p.complete;
}

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
    static const char *const starts[] = {NULL, NULL, "<tool_call>", "{", "Sure. [TOOL_CALLS]"};
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
                              : f == TOOL_FORMAT_LLAMA3 ? "%s{\"name\": \"%s\", \"parameters\": %s}"
                                                        : "%s{\"name\": \"%s\", \"arguments\": %s}";
            const char *sep = i == 0 ? "" : f == TOOL_FORMAT_HERMES ? "\n" : ", ";
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

int main(void) {
    GgufFile *f;
    Tokenizer *t;
    ConstraintVocab *v;
    if (walk_setup(&f, &t, &v)) {
        static const ToolFormat fmts[] = {TOOL_FORMAT_HERMES, TOOL_FORMAT_LLAMA3, TOOL_FORMAT_MISTRAL};
        static const char *const names[] = {"hermes", "llama3", "mistral"};
        char name[64];
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "%s required", names[i]), check_format(fmts[i], TOOL_MODE_REQUIRED, NULL, name);
            snprintf(name, sizeof name, "%s auto", names[i]), check_format(fmts[i], TOOL_MODE_AUTO, NULL, name);
            snprintf(name, sizeof name, "%s named", names[i]), check_format(fmts[i], TOOL_MODE_REQUIRED, "get_weather", name);
        }
        test_spec_errors();
    }
    walk_teardown(f, t, v);
    return TEST_SUMMARY();
}
