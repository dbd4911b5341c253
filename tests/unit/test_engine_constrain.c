/* Constrained requests through the engine on the real default model: a JSON Schema at
 * temperature 1 over several seeds, with n = 2 forks, batched together (every output ends
 * by itself, without an end-of-generation token being needed, and parses); a regex and a
 * choice (the output matches); greedy constrained decoding; max_tokens reached inside the
 * text (finish length, the text a prefix); and logit_bias (a +100 bias makes the token
 * certain, -100 removes the greedy choice). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "tests/unit/test.h"

#define NREQ 8
#if defined(__SANITIZE_ADDRESS__)
#define NSEED 2
#else
#define NSEED 6
#endif

static char model_path[4096];

static Engine *make_engine(void) {
    EngineArgs a;
    engine_args_default(&a);
    a.model_path = model_path;
    a.max_model_len = 512;
    a.max_num_seqs = 16;
    a.kv_cache_memory = (int64_t)64 << 20;
    a.log_stats = 0;
    char err[512];
    Engine *e = NULL;
    if (engine_create(&a, &e, err, sizeof err)) fprintf(stderr, "engine_create: %s\n", err);
    return e;
}

static Constraint *compile(Engine *e, ConstraintKind kind, const char *text) {
    ConstraintSpec spec = {kind, text, strlen(text)};
    ConstraintLimits lim;
    constraint_limits_default(&lim);
    Constraint *c = NULL;
    char err[512];
    CHECK(constraint_compile(engine_constraint_vocab(e), &spec, &lim, &c, err, sizeof err) == 0, "%s", err);
    return c;
}

typedef struct Out {
    char text[4096];
    FinishReason finish;
    int n_tokens;
} Out;

/* Submit prompt nreq times (seeds 1..nreq, n samples each) and run to the end. */
static void run(Engine *e, const char *prompt, RequestParams *p, int nreq, Out *out) {
    int32_t *ids;
    int n = tokenizer_encode_alloc(engine_tokenizer(e), prompt, strlen(prompt), 1, 1, &ids);
    int64_t rid[NREQ * 2];
    char err[256];
    memset(out, 0, sizeof(Out) * (size_t)nreq * (size_t)p->n);
    for (int i = 0; i < nreq; i++) {
        p->sampling.seed = (uint64_t)i + 1, p->sampling.has_seed = 1;
        CHECK(engine_add_request(e, ids, n, p, &rid[i], err, sizeof err) == 0, "%s", err);
    }
    free(ids);
    while (engine_has_unfinished(e)) {
        const EngineOutput *o;
        int k;
        if (engine_step(e, &o, &k)) break;
        for (int j = 0; j < k; j++)
            for (int i = 0; i < nreq; i++) {
                if (rid[i] != o[j].request_id) continue;
                Out *d = &out[i * p->n + o[j].index];
                size_t len = strlen(d->text);
                if (len + o[j].text_len < sizeof d->text) memcpy(d->text + len, o[j].text, o[j].text_len), d->text[len + o[j].text_len] = 0;
                d->n_tokens += o[j].n_new;
                if (o[j].finish) d->finish = o[j].finish;
                if (o[j].finish && getenv("TEST_VERBOSE")) fprintf(stderr, "[%d.%d] %s\n", i, o[j].index, d->text);
                CHECK(!o[j].error, "request %d: %s", i, o[j].error);
            }
    }
}

static int full_match(const char *re, const char *text) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &eo, NULL);
    pcre2_match_data *md = code ? pcre2_match_data_create_from_pattern(code, NULL) : NULL;
    int rc = md ? pcre2_match(code, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return rc >= 0;
}

int main(void) {
    if (!test_model_path(model_path, sizeof model_path)) {
        SKIP("%s not found: run `make model`", model_path);
        return TEST_SUMMARY();
    }
    Engine *e = make_engine();
    CHECK(e != NULL);
    if (!e) return TEST_SUMMARY();
    static Out out[NREQ * 2];
    const char *chat = "<|im_start|>user\nDescribe a person as JSON.<|im_end|>\n<|im_start|>assistant\n";

    /* a schema at temperature 1, several seeds, two samples each */
    RequestParams rp;
    request_params_default(&rp);
    rp.max_tokens = 200, rp.n = 2;
    rp.constraint = compile(e, CONSTRAINT_JSON_SCHEMA,
                            "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":20},\"age\":"
                            "{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},\"likes\":{\"type\":\"array\",\"items\":"
                            "{\"enum\":[\"tea\",\"jazz\",\"chess\"]},\"maxItems\":3}},\"required\":[\"name\",\"age\"],"
                            "\"additionalProperties\":false}");
    if (rp.constraint) run(e, chat, &rp, NSEED, out);
    for (int i = 0; rp.constraint && i < NSEED * 2; i++) {
        cJSON *j = cJSON_Parse(out[i].text);
        CHECK(out[i].finish == FINISH_STOP, "sample %d: finish %d", i, out[i].finish);
        CHECK(cJSON_IsObject(j) && cJSON_IsString(cJSON_GetObjectItem(j, "name")) && cJSON_IsNumber(cJSON_GetObjectItem(j, "age")),
              "sample %d: \"%s\"", i, out[i].text);
        cJSON_Delete(j);
    }
    constraint_unref(rp.constraint);

    /* greedy, and max_tokens inside the object: finish length */
    request_params_default(&rp);
    rp.sampling.temperature = 0, rp.max_tokens = 3;
    rp.constraint = compile(e, CONSTRAINT_JSON_OBJECT, "");
    if (rp.constraint) run(e, chat, &rp, 1, out);
    CHECK(out[0].finish == FINISH_LENGTH && out[0].text[0] == '{' && out[0].n_tokens == 3, "length: %d \"%s\"", out[0].finish,
          out[0].text);
    constraint_unref(rp.constraint);

    /* a regex and a choice */
    const char *re = "[A-Z][a-z]{2,8} (is|was) [0-9]{1,3} years old\\.";
    request_params_default(&rp);
    rp.max_tokens = 60;
    rp.constraint = compile(e, CONSTRAINT_REGEX, re);
    if (rp.constraint) run(e, chat, &rp, NSEED, out);
    for (int i = 0; rp.constraint && i < NSEED; i++)
        CHECK(out[i].finish == FINISH_STOP && full_match(re, out[i].text), "regex sample %d: \"%s\"", i, out[i].text);
    constraint_unref(rp.constraint);
    request_params_default(&rp);
    rp.max_tokens = 20;
    rp.constraint = compile(e, CONSTRAINT_CHOICE, "[\"red\", \"green\", \"blue\"]");
    if (rp.constraint) run(e, chat, &rp, NSEED, out);
    for (int i = 0; rp.constraint && i < NSEED; i++)
        CHECK(!strcmp(out[i].text, "red") || !strcmp(out[i].text, "green") || !strcmp(out[i].text, "blue"), "choice: \"%s\"",
              out[i].text);
    constraint_unref(rp.constraint);

    /* logit_bias: the greedy first token banned changes it; a +100 token is taken */
    request_params_default(&rp);
    rp.sampling.temperature = 0, rp.max_tokens = 1;
    run(e, chat, &rp, 1, out);
    int32_t *ids, first;
    int nt = tokenizer_encode_alloc(engine_tokenizer(e), out[0].text, strlen(out[0].text), 0, 0, &ids);
    first = nt > 0 ? ids[0] : 0;
    free(ids);
    int32_t *b_ids;
    int nb = tokenizer_encode_alloc(engine_tokenizer(e), " banana", 7, 0, 0, &b_ids);
    LogitBias ban = {first, -100}, force = {nb == 1 ? b_ids[0] : -1, 100};
    free(b_ids);
    char greedy[sizeof out[0].text];
    snprintf(greedy, sizeof greedy, "%s", out[0].text);
    rp.logit_bias = &ban, rp.n_logit_bias = 1;
    run(e, chat, &rp, 1, out);
    CHECK(strcmp(out[0].text, greedy) != 0, "a -100 bias on the greedy token (%s) changes it", greedy);
    if (force.id >= 0) {
        rp.logit_bias = &force, rp.sampling.temperature = 1;
        run(e, chat, &rp, 1, out);
        CHECK(!strcmp(out[0].text, " banana"), "a +100 bias forces the token: \"%s\"", out[0].text);
    } else SKIP("' banana' is not one token of this vocabulary");
    engine_destroy(e);
    return TEST_SUMMARY();
}
