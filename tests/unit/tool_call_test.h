/* Shared by the tool-call tests (test_tool_call.c, test_tool_call_args.c): the tools they
 * call, the parser run over a text whole or in random pieces (a stream), and a synthetic
 * SentencePiece vocabulary whose tool-format literals are control tokens. */
#ifndef PISTON_TEST_TOOL_CALL_H
#define PISTON_TEST_TOOL_CALL_H
#include <cjson/cJSON.h>

#include "engine/constraint.h"
#include "engine/tokenizer_internal.h"
#include "engine/tool_call.h"
#include "tests/unit/test.h"

static const char *k_tools =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
    "{\"city\":{\"type\":\"string\",\"maxLength\":12},\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";

typedef struct Parsed {
    char content[8192], names[8][80], args[8][2048];
    int n_calls;
} Parsed;

static __attribute__((unused)) void parse(ToolFormat f, ToolMode m, const char *text, size_t piece,
                                          unsigned long long seed, Parsed *out, int *complete) {
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
                snprintf(out->names[ev[i].index], 80, "%.*s", (int)ev[i].len, ev[i].text),
                    out->n_calls = ev[i].index + 1;
            else if (ev[i].index < 8) strncat(out->args[ev[i].index], ev[i].text, ev[i].len);
        }
        if (k == 64) continue;
        if (final) break;
        size_t step = piece ? piece : 1 + test_rng_next(&seed) % 7;
        have = have + step > len ? len : have + step;
    }
    *complete = p.complete;
}

/* A SentencePiece vocabulary: <unk>, <s>, </s>, the control tokens [TOOL_CALLS], [INST],
 * <tool_call> and [ARGS] (ids below), the 256 byte tokens from VOCAB_BYTES and " Sure". */
enum { VOCAB_TOOL_CALLS = 3, VOCAB_INST = 4, VOCAB_TOOL_CALL = 5, VOCAB_ARGS = 6, VOCAB_BYTES = 7 };
static __attribute__((unused)) Tokenizer *control_vocab(void) {
    enum { N = VOCAB_BYTES + 256 + 1 };
    static char hex[256][8];
    TokStr text[N];
    uint8_t type[N];
    float score[N] = {0};
    static const char *const head[] = {"<unk>", "<s>", "</s>", "[TOOL_CALLS]", "[INST]", "<tool_call>", "[ARGS]"};
    for (int i = 0; i < VOCAB_BYTES; i++)
        text[i] = (TokStr){head[i], (uint32_t)strlen(head[i])}, type[i] = TOK_TYPE_CONTROL;
    type[0] = TOK_TYPE_UNKNOWN;
    for (int b = 0; b < 256; b++) {
        snprintf(hex[b], sizeof hex[b], "<0x%02X>", b);
        text[VOCAB_BYTES + b] = (TokStr){hex[b], 6}, type[VOCAB_BYTES + b] = TOK_TYPE_BYTE;
    }
    text[N - 1] = (TokStr){"\xe2\x96\x81Sure", 7}, type[N - 1] = TOK_TYPE_NORMAL;
    TokSpec sp = {.src = "synthetic",
                  .model = TOK_MODEL_SPM,
                  .n_vocab = N,
                  .text = text,
                  .type = type,
                  .score = score,
                  .bos = 1,
                  .eos = 2,
                  .unk = 0,
                  .pad = -1,
                  .eot = -1,
                  .eom = -1,
                  .add_bos = 1};
    Tokenizer *t = NULL;
    char err[256];
    CHECK(tokenizer_from_spec(&sp, &t, err, sizeof err) == 0, "synthetic vocabulary: %s", err);
    return t;
}

/* The synthetic vocabulary and its constraint vocabulary: 0, or -1 (reported, nothing held). */
static __attribute__((unused)) int control_setup(Tokenizer **t, ConstraintVocab **v) {
    char err[256];
    *t = control_vocab(), *v = NULL;
    if (*t && !constraint_vocab_create(*t, v, err, sizeof err)) return 0;
    CHECK(0, "synthetic constraint vocabulary: %s", *t ? err : "no tokenizer");
    tokenizer_destroy(*t);
    return -1;
}

/* A matcher of k_tools' calls in format f (parallel; only: the named function or NULL); its
 * spec and constraint to free with it. 0, or -1 (reported, nothing held). */
static __attribute__((unused)) int tool_matcher(const ConstraintVocab *v, ToolFormat f, ToolMode mode, const char *only,
                                                char **spec, Constraint **c, ConstraintMatcher **m, const char *name) {
    char err[512];
    cJSON *tools = cJSON_Parse(k_tools);
    *spec = NULL, *c = NULL, *m = NULL;
    CHECK(tool_spec_build(f, mode, 1, tools, only, spec, err, sizeof err) == 0, "%s: %s", name, err);
    cJSON_Delete(tools);
    ConstraintSpec cs = {CONSTRAINT_TOOLS, *spec, *spec ? strlen(*spec) : 0};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    if (*spec && !constraint_compile(v, &cs, &lim, c, err, sizeof err) && !constraint_matcher_create(*c, v, m))
        return 0;
    CHECK(0, "%s: %s", name, err);
    free(*spec), constraint_unref(*c);
    return -1;
}

#endif
