/* Chat templates with tools against jinja2 on the real templates. The real templates are not
 * committed: tests/e2e/test_chat_tools.py fetches them (scripts/fetch-templates.sh), renders
 * its conversations (tools, assistant tool calls, tool results, plain chats) with jinja2 the
 * way transformers does, writes the cases to a file and runs this test on it
 * (PISTON_CHAT_TOOLS_FIXTURE). Run alone, this test only checks Python's json.dumps format
 * and skips the rest. Every rendering must come out byte for byte (a case marked plain through
 * chat_template_apply, the others through chat_template_apply_tools); where Jinja raised,
 * Piston must fail too; a template Piston does not write tools for must be refused by name. */
#include <cjson/cJSON.h>
#include <math.h>

#include "engine/chat_template.h"
#include "engine/pyjson.h"
#include "tests/unit/test.h"

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_pyjson(void) {
    static const char *const cases[][3] = {
        {"{\"a\": 1, \"b\": [true, null, \"x\\\"y\"], \"c\": {}}", "", "{\"a\": 1, \"b\": [true, null, \"x\\\"y\"], \"c\": {}}"},
        {"[0.1, 1e-05, 1.5e+16, 123.25, -0.0001, 1e16, 2.5e-7]", "", "[0.1, 1e-05, 1.5e+16, 123.25, -0.0001, 1e+16, 2.5e-07]"},
        {"{\"k\": \"caf\\u00e9 \\n\\t\\u0001\"}", "", "{\"k\": \"caf\u00e9 \\n\\t\\u0001\"}"},
        {"{\"a\": [1, 2], \"b\": {\"c\": []}}", "4", "{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": {\n        \"c\": []\n    }\n}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *v = cJSON_Parse(cases[i][0]);
        PyBuf b = {0};
        pyjson_dump(&b, v, *cases[i][1] ? atoi(cases[i][1]) : -1);
        CHECK(b.p && !strcmp(b.p, cases[i][2]), "json.dumps %s: got %s", cases[i][0], b.p ? b.p : "(null)");
        free(b.p);
        cJSON_Delete(v);
    }
}

static void test_fixture(const cJSON *fx) {
    char err[512];
    const cJSON *templates = cJSON_GetObjectItem(fx, "templates"), *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fx, "cases")) {
        const char *tname = str(c, "template"), *conv = str(c, "conversation");
        const cJSON *t = cJSON_GetObjectItem(templates, tname);
        ChatTemplate ct;
        if (chat_template_init(&ct, str(t, "source"), NULL, err, sizeof err)) {
            CHECK(0, "%s: %s", tname, err);
            continue;
        }
        chat_template_set_tokens(&ct, str(t, "bos"), str(t, "eos"));
        const cJSON *ms = cJSON_GetObjectItem(c, "messages");
        int nm = cJSON_GetArraySize(ms);
        ChatMessage *msgs = calloc((size_t)nm + 1, sizeof *msgs);
        ChatToolCall *calls = calloc((size_t)nm * 4 + 1, sizeof *calls);
        int nc = 0;
        for (int i = 0; i < nm; i++) {
            const cJSON *m = cJSON_GetArrayItem(ms, i), *tc;
            msgs[i] = (ChatMessage){str(m, "role"), str(m, "content"), calls + nc, 0, str(m, "tool_call_id")};
            cJSON_ArrayForEach(tc, cJSON_GetObjectItem(m, "tool_calls")) {
                const cJSON *f = cJSON_GetObjectItem(tc, "function");
                calls[nc++] = (ChatToolCall){str(tc, "id"), str(f, "name"), cJSON_GetObjectItem(f, "arguments")};
                msgs[i].n_tool_calls++;
            }
        }
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
        const cJSON *tools = cJSON_GetObjectItem(c, "tools");
        char *out = NULL;
        int rc = cJSON_IsTrue(cJSON_GetObjectItem(c, "plain"))
                     ? chat_template_apply(&ct, msgs, nm, gen, &out, err, sizeof err)
                     : chat_template_apply_tools(&ct, msgs, nm, cJSON_IsArray(tools) ? tools : NULL, gen, &out, err,
                                                 sizeof err);
        const char *want = str(c, "text"), *refused = str(c, "refused");
        if (refused) {
            CHECK(rc != 0 && strstr(err, refused), "%s/%s: tools must be refused naming %s: rc %d, %s", tname, conv,
                  refused, rc, rc ? err : "rendered");
        } else if (!want) {
            CHECK(rc != 0, "%s/%s gen %d: jinja raised \"%s\", Piston rendered", tname, conv, gen, str(c, "error"));
        } else if (rc) {
            CHECK(0, "%s/%s gen %d: %s", tname, conv, gen, err);
        } else {
            size_t at = 0;
            while (out[at] && out[at] == want[at]) at++;
            CHECK(!strcmp(out, want), "%s/%s gen %d: differs at byte %zu:\n  got  \"%.120s\"\n  want \"%.120s\"", tname, conv,
                  gen, at, out + (at > 30 ? at - 30 : 0), want + (at > 30 ? at - 30 : 0));
        }
        free(out), free(msgs), free(calls);
        chat_template_free(&ct);
        n++;
    }
    printf("%d cases from %s\n", n, str(fx, "source") ? str(fx, "source") : "the fixture");
}

/* Llama-3.0 named by --chat-template has no system preamble: an empty conversation without
 * tools goes through the plain template, never through 3.1's renderer (which wrote the NULL
 * preamble: found by tests/fuzz/fuzz_chat_template.c). */
static void test_llama3_empty(void) {
    ChatTemplate ct;
    char err[256], *out = NULL;
    CHECK(chat_template_init(&ct, NULL, "llama3", err, sizeof err) == 0, "%s", err);
    int rc = chat_template_apply_tools(&ct, NULL, 0, NULL, 1, &out, err, sizeof err);
    CHECK(rc == 0 ? out != NULL : err[0] != 0, "llama3 without messages: rc %d", rc);
    free(out);
    chat_template_free(&ct);
}

int main(void) {
    test_pyjson();
    test_llama3_empty();
    const char *path = getenv("PISTON_CHAT_TOOLS_FIXTURE");
    if (!path) {
        SKIP("the real templates are compared by tests/e2e/test_chat_tools.py (it sets PISTON_CHAT_TOOLS_FIXTURE)");
        return TEST_SUMMARY();
    }
    char *js = test_read_file(path, NULL);
    cJSON *fx = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(fx != NULL, "cannot read %s", path);
    if (fx) test_fixture(fx);
    cJSON_Delete(fx);
    return TEST_SUMMARY();
}
