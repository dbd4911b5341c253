/* Mistral's [TOOL_CALLS]name[ARGS]{...} tool format (Mistral-Small-3.2, Devstral, Ministral-3)
 * on a synthetic vocabulary where [TOOL_CALLS] and [ARGS] are control tokens, as they are in
 * those models': in auto, required, with a named function and with two calls in a row, both
 * are terminals of the grammar, allowed where it takes their bytes and nowhere else, and no
 * other control token ever is; the text the engine writes for the walk (a terminal's text is
 * its name) reads back as the calls made. And the parser on texts of the format, whole and in
 * pieces: content before the calls, names, arguments byte for byte (brackets in strings
 * included), several calls, content held back while it may become [TOOL_CALLS], a text cut
 * inside a call. */
#include "engine/constraint.h"
#include "tests/unit/tool_call_test.h"

/* One step of a walk: a control token, or text given as bytes. */
typedef struct Step {
    int32_t token; /* or -1 */
    const char *bytes;
} Step;

/* Whether each control token is allowed here is what want says of it (EOS: eos). */
static void check_mask(ConstraintMatcher *m, int calls_ok, int args_ok, int eos, const char *name, int at) {
    char err[256];
    const uint32_t *mask = constraint_matcher_mask(m, err, sizeof err);
    if (!mask) {
        CHECK(0, "%s step %d: %s", name, at, err);
        return;
    }
    for (int32_t id = 0; id < VOCAB_BYTES; id++) {
        int want = id == VOCAB_TOOL_CALLS ? calls_ok : id == VOCAB_ARGS ? args_ok : id == 2 ? eos : 0;
        CHECK(mask_has(mask, id) == want, "%s step %d: control token %d %s", name, at, id,
              want ? "not allowed" : "allowed");
    }
}

/* Walks steps; before step i, [TOOL_CALLS], [ARGS] and EOS must be allowed as want[i] says
 * ("cae": a letter for each allowed, '.' for not). The text written, parsed, must give the
 * calls in names (space-separated) with args. */
static void walk_steps(const ConstraintVocab *v, const Tokenizer *t, ToolMode mode, const char *only, const Step *steps,
                       const char *const *want, const char *names, const char *const *args, const char *name) {
    char err[512], *spec, text[1024] = "";
    Constraint *c;
    ConstraintMatcher *m;
    if (tool_matcher(v, TOOL_FORMAT_MISTRAL_ARGS, mode, only, &spec, &c, &m, name)) return;
    CHECK(constraint_matcher_is_terminal(m, VOCAB_TOOL_CALLS) && constraint_matcher_is_terminal(m, VOCAB_ARGS) &&
              !constraint_matcher_is_terminal(m, VOCAB_INST) && !constraint_matcher_is_terminal(m, VOCAB_TOOL_CALL),
          "%s: terminals", name);
    int i = 0;
    for (; steps[i].token >= 0 || steps[i].bytes; i++) {
        check_mask(m, want[i][0] == 'c', want[i][1] == 'a', want[i][2] == 'e', name, i);
        if (steps[i].token >= 0) {
            CHECK(constraint_matcher_accept(m, steps[i].token, err, sizeof err) == 0, "%s step %d: %s", name, i, err);
            Detok d;
            detok_init(&d);
            size_t n = strlen(text);
            text[n + detok_push_text(t, &d, steps[i].token, text + n, sizeof text - n - 1)] = 0;
        } else {
            CHECK(constraint_matcher_advance_bytes(m, steps[i].bytes, strlen(steps[i].bytes)) == 0,
                  "%s step %d: \"%s\"", name, i, steps[i].bytes);
            strcat(text, steps[i].bytes);
        }
    }
    check_mask(m, want[i][0] == 'c', want[i][1] == 'a', want[i][2] == 'e', name, i);
    CHECK(constraint_matcher_complete(m), "%s: \"%s\" is not complete", name, text);
    Parsed p;
    int complete;
    parse(TOOL_FORMAT_MISTRAL_ARGS, mode, text, 0, 5, &p, &complete);
    char got[256] = "";
    for (int k = 0; k < p.n_calls; k++) {
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", p.names[k]);
        CHECK(!strcmp(p.args[k], args[k]), "%s: call %d's arguments \"%s\", want \"%s\"", name, k, p.args[k], args[k]);
    }
    CHECK(complete && !strcmp(got, names), "%s: calls \"%s\" from \"%s\", want \"%s\"", name, got, text, names);
    if (only) CHECK(constraint_matcher_advance_bytes(m, "[TOOL_CALLS]now", 15) != 0, "%s: another function", name);
    constraint_matcher_destroy(m), constraint_unref(c), free(spec);
}

static void test_grammar(void) {
    Tokenizer *t;
    ConstraintVocab *v;
    if (control_setup(&t, &v)) return;
    const int32_t TC = VOCAB_TOOL_CALLS, AR = VOCAB_ARGS;
    const char *const now[] = {"{}"};
    const char *const two[] = {"{\"city\": \"Oslo\"}", "{}"};
    /* auto: text, then the call; [ARGS] is as free as any text before the calls */
    const Step s_auto[] = {{-1, "Sure. "}, {TC, NULL}, {-1, "n"}, {-1, "ow"}, {AR, NULL}, {-1, "{}"}, {-1, NULL}};
    const char *const w_auto[] = {"cae", "cae", "...", "...", ".a.", "...", "c.e"};
    walk_steps(v, t, TOOL_MODE_AUTO, NULL, s_auto, w_auto, "now", now, "auto");
    /* required: a call from the first token, nothing else */
    const Step s_req[] = {{TC, NULL}, {-1, "now"}, {AR, NULL}, {-1, "{}"}, {-1, NULL}};
    const char *const w_req[] = {"c..", "...", ".a.", "...", "c.e"};
    walk_steps(v, t, TOOL_MODE_REQUIRED, NULL, s_req, w_req, "now", now, "required");
    /* two calls in a row, the second right after the first's arguments */
    const Step s_two[] = {{TC, NULL}, {-1, "get_weather"}, {AR, NULL}, {-1, "{\"city\": \"Oslo\"}"},
                          {TC, NULL}, {-1, "now"},         {AR, NULL}, {-1, "{}"},
                          {-1, NULL}};
    const char *const w_two[] = {"c..", "...", ".a.", "...", "c.e", "...", ".a.", "...", "c.e"};
    walk_steps(v, t, TOOL_MODE_REQUIRED, NULL, s_two, w_two, "get_weather now", two, "two calls");
    /* a named function: only its name after [TOOL_CALLS] */
    const Step s_named[] = {{TC, NULL}, {-1, "get_"}, {-1, "weather"}, {AR, NULL}, {-1, "{\"city\": \"Oslo\"}"},
                            {-1, NULL}};
    const char *const w_named[] = {"c..", "...", "...", ".a.", "...", "c.e"};
    walk_steps(v, t, TOOL_MODE_REQUIRED, "get_weather", s_named, w_named, "get_weather", two, "named");
    constraint_vocab_destroy(v);
    tokenizer_destroy(t);
}

static void test_parse(void) {
    const char *text = "Sure [1]. [TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris [1]\", \"unit\": \"c\"}"
                       "[TOOL_CALLS]now[ARGS]{}";
    Parsed whole, one, some;
    int cw, c1, cs;
    parse(TOOL_FORMAT_MISTRAL_ARGS, TOOL_MODE_AUTO, text, 1 << 20, 0, &whole, &cw);
    parse(TOOL_FORMAT_MISTRAL_ARGS, TOOL_MODE_AUTO, text, 1, 0, &one, &c1);
    parse(TOOL_FORMAT_MISTRAL_ARGS, TOOL_MODE_AUTO, text, 0, 17, &some, &cs);
    CHECK(cw && c1 && cs && !memcmp(&whole, &one, sizeof whole) && !memcmp(&whole, &some, sizeof whole),
          "the stream reads the calls differently");
    CHECK(!strcmp(whole.content, "Sure [1]. ") && whole.n_calls == 2, "content \"%s\", %d calls", whole.content,
          whole.n_calls);
    CHECK(!strcmp(whole.names[0], "get_weather") &&
              !strcmp(whole.args[0], "{\"city\": \"Paris [1]\", \"unit\": \"c\"}"),
          "call 0: %s %s", whole.names[0], whole.args[0]);
    CHECK(!strcmp(whole.names[1], "now") && !strcmp(whole.args[1], "{}"), "call 1: %s %s", whole.names[1],
          whole.args[1]);
    Parsed r;
    int cr;
    parse(TOOL_FORMAT_MISTRAL_ARGS, TOOL_MODE_REQUIRED, "[TOOL_CALLS]now[ARGS]{}", 0, 3, &r, &cr);
    CHECK(cr && r.n_calls == 1 && !*r.content && !strcmp(r.names[0], "now"), "required: %d calls", r.n_calls);
    /* cut inside the arguments (max_tokens): the call begun, not complete */
    parse(TOOL_FORMAT_MISTRAL_ARGS, TOOL_MODE_AUTO, "Hi[TOOL_CALLS]get_weather[ARGS]{\"city\": ", 0, 9, &r, &cr);
    CHECK(!cr && r.n_calls == 1 && !strcmp(r.content, "Hi") && !strcmp(r.args[0], "{\"city\": "), "cut: %d %d", cr,
          r.n_calls);
    /* content that may still become [TOOL_CALLS] is held back, given out once it cannot */
    ToolParser p;
    ToolEvent ev[8];
    tool_parser_init(&p, TOOL_FORMAT_MISTRAL_ARGS, TOOL_MODE_AUTO);
    int k = tool_parser_feed(&p, "See [TOOL", 9, 0, ev, 8);
    CHECK(k == 1 && ev[0].kind == TOOL_EV_CONTENT && ev[0].len == 4, "held: %d events", k);
    k = tool_parser_feed(&p, "See [TOOLS]", 11, 1, ev, 8);
    CHECK(k == 1 && ev[0].kind == TOOL_EV_CONTENT && ev[0].len == 7 && p.complete && p.n_calls == 0, "released: %d", k);
}

int main(void) {
    test_grammar();
    test_parse();
    return TEST_SUMMARY();
}
