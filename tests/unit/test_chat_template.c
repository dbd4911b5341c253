/* Tests of the native chat templates (engine/chat_template.c): every rendering in
 * tests/fixtures/chat_smollm2.json (made by tests/ref/make_chat_fixture.py with jinja2 from
 * the default model's own template and the official templates of the other families) must
 * come out byte for byte, and where Jinja raised, Piston must fail too. Also: family
 * detection, the default system prompt read out of SmolLM2's template, names given with
 * --chat-template, and the errors for unknown or missing templates. */
#include <cjson/cJSON.h>

#include "engine/chat_template.h"
#include "tests/unit/test.h"

#define FIXTURE "tests/fixtures/chat_smollm2.json"

static const char *str_or_null(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Index of the first byte where a and b differ. */
static size_t diff_at(const char *a, const char *b) {
    size_t i = 0;
    while (a[i] && a[i] == b[i]) i++;
    return i;
}

static void test_fixture(const cJSON *fx) {
    char err[512];
    int ok = 0, n = 0;
    const cJSON *templates = cJSON_GetObjectItem(fx, "templates");
    for (const cJSON *c = cJSON_GetObjectItem(fx, "cases")->child; c; c = c->next, n++) {
        const char *tname = str_or_null(c, "template"), *conv = str_or_null(c, "conversation");
        const cJSON *t = cJSON_GetObjectItem(templates, tname);
        ChatTemplate ct;
        if (chat_template_init(&ct, str_or_null(t, "source"), NULL, err, sizeof err) != 0) {
            CHECK(0, "%s: %s", tname, err);
            continue;
        }
        chat_template_set_tokens(&ct, str_or_null(t, "bos"), str_or_null(t, "eos"));
        const cJSON *ms = cJSON_GetObjectItem(c, "messages");
        int nm = cJSON_GetArraySize(ms);
        ChatMessage msgs[16];
        for (int i = 0; i < nm && i < 16; i++) {
            const cJSON *m = cJSON_GetArrayItem(ms, i);
            msgs[i] = (ChatMessage){.role = str_or_null(m, "role"), .content = str_or_null(m, "content")};
        }
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
        char *out = NULL;
        int rc = chat_template_apply(&ct, msgs, nm, gen, &out, err, sizeof err);
        const char *want = str_or_null(c, "text");
        if (!want) {
            CHECK(rc != 0, "%s/%s gen %d: jinja raised \"%s\", Piston rendered", tname, conv, gen,
                  str_or_null(c, "error"));
            ok += rc != 0;
        } else if (rc != 0) {
            CHECK(0, "%s/%s gen %d: %s", tname, conv, gen, err);
        } else {
            int same = strcmp(out, want) == 0;
            size_t at = diff_at(out, want);
            CHECK(same, "%s/%s gen %d: differs at byte %zu:\n  got  \"%s\"\n  want \"%s\"", tname, conv, gen, at,
                  out + (at > 20 ? at - 20 : 0), want + (at > 20 ? at - 20 : 0));
            ok += same;
        }
        free(out);
        chat_template_free(&ct);
    }
    printf("%d of %d renderings equal jinja2's\n", ok, n);
}

static void test_detection(const cJSON *fx) {
    char err[512];
    ChatTemplate ct;
    const cJSON *templates = cJSON_GetObjectItem(fx, "templates");
    for (const cJSON *t = templates->child; t; t = t->next) {
        int rc = chat_template_init(&ct, str_or_null(t, "source"), NULL, err, sizeof err);
        CHECK(rc == 0 && strcmp(chat_template_kind_name(ct.kind), str_or_null(t, "kind")) == 0, "%s detected as %s",
              t->string, rc == 0 ? chat_template_kind_name(ct.kind) : err);
        const char *sys = str_or_null(t, "default_system");
        CHECK(rc == 0 && (sys ? ct.default_system && strcmp(sys, ct.default_system) == 0 : ct.default_system == NULL),
              "%s default system: \"%s\"", t->string, rc == 0 && ct.default_system ? ct.default_system : "(none)");
        if (rc == 0) chat_template_free(&ct);
    }
    for (int k = 0; k < CHAT_TEMPLATE_COUNT; k++) {
        const char *name = chat_template_kind_name((ChatTemplateKind)k);
        int rc = chat_template_init(&ct, "{{ whatever }}", name, err, sizeof err);
        CHECK(rc == 0 && (int)ct.kind == k && !ct.default_system, "--chat-template %s", name);
        if (rc == 0) chat_template_free(&ct);
    }
    CHECK(chat_template_init(&ct, "{% for m in messages %}{{ m.content }}{% endfor %}", NULL, err, sizeof err) != 0 &&
              strstr(err, "--chat-template"), "unknown template: %s", err);
    CHECK(chat_template_init(&ct, NULL, NULL, err, sizeof err) != 0 && strstr(err, "--chat-template"),
          "no template: %s", err);
    CHECK(chat_template_init(&ct, NULL, "vicuna", err, sizeof err) != 0 && strstr(err, "--chat-template"),
          "unknown name: %s", err);

    /* A system prompt with escapes and an apostrophe inside the Jinja string literal. */
    CHECK(chat_template_init(&ct, "{{ '<|im_start|>system\\nYou\\'re kind.\\nBe brief.<|im_end|>\\n' }}", NULL, err,
                             sizeof err) == 0 && ct.default_system &&
              strcmp(ct.default_system, "You're kind.\nBe brief.") == 0,
          "escaped default system: %s", ct.default_system ? ct.default_system : "(none)");
    chat_template_free(&ct);

    /* Keeping the current texts (NULL) must not lose them; other families never get them. */
    chat_template_init(&ct, NULL, "llama2", err, sizeof err);
    CHECK(chat_template_set_tokens(&ct, NULL, NULL) == 0 && ct.bos_text && strcmp(ct.bos_text, "<s>") == 0 &&
              ct.eos_text && strcmp(ct.eos_text, "</s>") == 0, "set_tokens(NULL, NULL) keeps <s> </s>");
    chat_template_free(&ct);
    chat_template_init(&ct, NULL, "chatml", err, sizeof err);
    CHECK(chat_template_set_tokens(&ct, "<|im_start|>", "<|im_end|>") == 0 && !ct.bos_text && !ct.eos_text,
          "ChatML writes neither BOS nor EOS");
    chat_template_free(&ct);

    /* Llama-3.2 takes today's date (strftime_now); the cut-off comes from the template. */
    chat_template_init(&ct, "<|start_header_id|>{{ \"Cutting Knowledge Date: December 2023\\n\" }}"
                            "{% set date_string = strftime_now(\"%d %b %Y\") %}", NULL, err, sizeof err);
    const char *pre = ct.system_preamble ? ct.system_preamble : "";
    CHECK(strncmp(pre, "Cutting Knowledge Date: December 2023\nToday Date: ", 50) == 0 &&
              strlen(pre) == 50 + 11 + 2 && strcmp(pre + strlen(pre) - 2, "\n\n") == 0,
          "Llama-3.2 preamble: \"%s\"", pre);
    chat_template_free(&ct);

    /* An empty conversation still renders (the generation prompt only). */
    char *out = NULL;
    chat_template_init(&ct, NULL, "chatml", err, sizeof err);
    CHECK(chat_template_apply(&ct, NULL, 0, 1, &out, err, sizeof err) == 0 && out &&
              strcmp(out, "<|im_start|>assistant\n") == 0, "empty conversation");
    free(out);
    ChatMessage bad = {.role = NULL, .content = "x"};
    CHECK(chat_template_apply(&ct, &bad, 1, 1, &out, err, sizeof err) != 0, "message without a role");
    chat_template_free(&ct);
}

int main(void) {
    char *js = test_read_file(FIXTURE, NULL);
    CHECK(js != NULL, "cannot read %s (run from the repository root)", FIXTURE);
    cJSON *fx = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(fx != NULL, "%s does not parse", FIXTURE);
    if (fx) {
        test_fixture(fx);
        test_detection(fx);
        cJSON_Delete(fx);
    }
    return TEST_SUMMARY();
}
