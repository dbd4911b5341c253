/* server/'s pure functions, without a loop or a socket: model names as requests give them
 * (Ollama's full forms, the placeholders of TGI's clients, per dialect), the typed request
 * fields and their error convention (0, or a negative code with the message in the caller's
 * buffer), stop lists, prompt lengths, the body parser, error bodies in each dialect's shape,
 * and the access-log line in text and JSON. The end-to-end tests drive the same code through
 * real clients; these name the exact cases. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/log.h"
#include "server/api_common.h"
#include "tests/unit/test.h"

static void test_model_names(void) {
    static const struct {
        const char *want, *have;
        int same;
    } cases[] = {
        {"smollm2", "smollm2", 1},
        {"smollm2:latest", "smollm2", 1},
        {"smollm2", "smollm2:latest", 1},
        {"library/smollm2:latest", "smollm2", 1},
        {"registry.ollama.ai/library/smollm2:latest", "smollm2", 1},
        {"registry.ollama.ai/library/smollm2", "smollm2:latest", 1},
        {"library/smollm2", "smollm2", 1},
        {"smollm2:7b", "smollm2", 0},
        {"library/smollm2:7b", "smollm2:7b", 1},
        {"smollm", "smollm2", 0},
        {"library/", "smollm2", 0},
        {"other/smollm2", "smollm2", 0},
        {"HuggingFaceTB/SmolLM2", "HuggingFaceTB/SmolLM2", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(api_model_name_is(cases[i].want, cases[i].have) == cases[i].same, "%s vs %s", cases[i].want,
              cases[i].have);
    CHECK(!api_model_name_is(NULL, "x") && !api_model_name_is("x", NULL), "NULL names");

    Server s;
    memset(&s, 0, sizeof s);
    s.opt.model_arg = "/models/SmolLM2.Q4_1.gguf";
    s.opt.model_names[0] = "smollm2", s.opt.model_names[1] = "alias-two", s.opt.n_model_names = 2;
    CHECK(api_model_matches(&s, NULL, 0) && api_model_matches(&s, "", 0), "no model names the one model");
    CHECK(api_model_matches(&s, "alias-two:latest", 0), "every served name, with the tag forms");
    CHECK(api_model_matches(&s, "registry.ollama.ai/library/smollm2:latest", 0), "Ollama's full form");
    CHECK(api_model_matches(&s, "/models/SmolLM2.Q4_1.gguf", 0), "the argument itself");
    CHECK(!api_model_matches(&s, "nope", 1) && !api_model_matches(&s, "nope", 0), "an unknown name");
    CHECK(api_model_matches(&s, "tgi", 1) && api_model_matches(&s, "dummy", 1), "TGI clients' placeholders");
    CHECK(!api_model_matches(&s, "tgi", 0) && !api_model_matches(&s, "dummy", 0), "placeholders elsewhere: 404");
    CHECK(!strcmp(api_model_ref(&s), "SmolLM2.Q4_1.gguf"), "a path is reported by its name: %s", api_model_ref(&s));
    s.opt.model_arg = "HuggingFaceTB/SmolLM2-135M-Instruct";
    CHECK(!strcmp(api_model_ref(&s), "HuggingFaceTB/SmolLM2-135M-Instruct"), "ORG/NAME stays");
    s.opt.model_arg = "/m/dir";
    CHECK(!strcmp(api_model_ref(&s), "dir"), "a directory: %s", api_model_ref(&s));
}

static cJSON *parse(const char *body) {
    char err[192] = "";
    cJSON *j = api_json_parse(body, strlen(body), err, sizeof err);
    CHECK(j != NULL, "%s: %s", body, err);
    return j;
}

static void test_fields(void) {
    char err[192];
    cJSON *b = parse("{\"temperature\":0.5,\"top_p\":null,\"max_tokens\":7,\"n\":2.5,\"big\":1e40,\"stream\":true,"
                     "\"echo\":1,\"seed\":-1,\"huge\":1e30,\"t\":\"hot\"}");
    float f = 9;
    int i = 9, flag = 9, has = 0;
    uint64_t u = 0;
    CHECK(json_opt_float(b, "temperature", 0, 2, &f, err, sizeof err) == 0 && f == 0.5f, "a float");
    CHECK(json_opt_float(b, "top_p", 0, 1, &f, err, sizeof err) == 0 && f == 0.5f, "null leaves the value");
    CHECK(json_opt_float(b, "absent", 0, 1, &f, err, sizeof err) == 0 && f == 0.5f, "absent leaves the value");
    CHECK(json_opt_float(b, "temperature", 0, 0.25f, &f, err, sizeof err) == -EINVAL && strstr(err, "'temperature'") &&
              strstr(err, "[0, 0.25], got 0.5"),
          "range: %s", err);
    CHECK(json_opt_float(b, "t", 0, 1, &f, err, sizeof err) == -EINVAL && !strcmp(err, "'t' must be a number"), "%s",
          err);
    CHECK(json_opt_int(b, "max_tokens", 1, 100, &i, err, sizeof err) == 0 && i == 7, "an int");
    CHECK(json_opt_int(b, "n", 1, 64, &i, err, sizeof err) == -EINVAL && strstr(err, "'n' must be an integer"), "%s",
          err);
    CHECK(json_opt_int(b, "big", 1, 64, &i, err, sizeof err) == -EINVAL && strstr(err, "must be in [1, 64]"), "%s",
          err);
    CHECK(json_opt_bool(b, "stream", &flag, err, sizeof err) == 0 && flag == 1, "a bool");
    CHECK(json_opt_bool(b, "echo", &flag, err, sizeof err) == -EINVAL && strstr(err, "true or false"), "%s", err);
    CHECK(json_opt_u64(b, "seed", &u, &has, err, sizeof err) == 0 && has && u == UINT64_MAX, "-1 as a u64 seed");
    CHECK(json_opt_u64(b, "huge", &u, &has, err, sizeof err) == -EINVAL, "past 2^64");
    cJSON_Delete(b);

    InMsg *m = in_msg_new(1);
    b = parse("{\"stop\":[\"a\",\"\",\"b\"],\"one\":\"x\",\"bad\":[1],\"ids\":[2,3],\"neg\":[-1],\"many\":["
              "\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\"]}");
    CHECK(m && json_opt_stop(b, "stop", m, err, sizeof err) == 0 && m->params.n_stop == 2, "an empty stop is dropped");
    CHECK(m && !strcmp(m->params.stop[1], "b"), "stops in order");
    CHECK(m && json_opt_stop(b, "bad", m, err, sizeof err) == -EINVAL && strstr(err, "list of strings"), "%s", err);
    CHECK(m && json_opt_stop(b, "many", m, err, sizeof err) == -EINVAL && strstr(err, "at most 16"), "%s", err);
    CHECK(m && json_opt_stop_ids(b, "ids", m, err, sizeof err) == 0 && m->params.n_stop_token_ids == 2, "stop ids");
    CHECK(m && json_opt_stop_ids(b, "neg", m, err, sizeof err) == -EINVAL, "a negative id");
    in_msg_free(m);
    cJSON_Delete(b);
}

static void test_lengths(void) {
    Server s;
    memset(&s, 0, sizeof s);
    s.model.max_model_len = 10;
    InMsg *m = in_msg_new(1);
    char err[400];
    if (!m) return;
    m->n_prompt[0] = 0;
    CHECK(api_check_lengths(&s, m, 0, err, sizeof err) == -EINVAL && strstr(err, "empty"), "%s", err);
    m->n_prompt[0] = 10;
    CHECK(api_check_lengths(&s, m, 0, err, sizeof err) == -EINVAL && strstr(err, "length is 10 tokens") &&
              strstr(err, "has 10 input tokens"),
          "%s", err);
    m->n_prompt[0] = 5;
    CHECK(api_check_lengths(&s, m, 6, err, sizeof err) == -EINVAL && strstr(err, "you requested 11 tokens"), "%s", err);
    CHECK(api_check_lengths(&s, m, 5, err, sizeof err) == 0 && api_check_lengths(&s, m, 0, err, sizeof err) == 0,
          "fits");
    in_msg_free(m);
}

static void test_body(void) {
    static const struct {
        const char *body;
        const char *words;
    } bad[] = {
        {"", "empty"},
        {"{\"a\":1} x", "bytes after the JSON value"},
        {"[1]", "must be a JSON object"},
        {"{\"a\":\"\xff\"}", "not valid UTF-8"},
        {"{not json", "malformed JSON"},
    };
    char err[192];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = api_json_parse(bad[i].body, strlen(bad[i].body), err, sizeof err);
        CHECK(!j && strstr(err, bad[i].words), "%s: %s", bad[i].body, j ? "parsed" : err);
        cJSON_Delete(j);
    }
    cJSON_Delete(parse("  {\"a\": [1, 2]}\r\n"));
    char *clean = api_utf8_sanitize("a\377b", 3);
    CHECK(clean && !strcmp(clean, "a\357\277\275b"), "U+FFFD for a bad byte");
    free(clean);
}

static void test_error_bodies(void) {
    static const char *const names[] = {"openai", "tgi", "ollama", "anthropic"};
    for (int d = 0; d < 4; d++) CHECK(!strcmp(api_dialect_name((Dialect)d), names[d]), "dialect %d", d);
    cJSON *e = api_error_body(DIALECT_OPENAI, 400, NULL, "'temperature' must be a number");
    const cJSON *o = cJSON_GetObjectItem(e, "error");
    CHECK(!strcmp(cJSON_GetObjectItem(o, "param")->valuestring, "temperature"), "OpenAI's param from the message");
    CHECK(!strcmp(cJSON_GetObjectItem(o, "type")->valuestring, "BadRequestError"), "OpenAI's type");
    CHECK(cJSON_GetObjectItem(o, "code")->valueint == 400, "OpenAI's code");
    cJSON_Delete(e);
    e = api_error_body(DIALECT_TGI, 422, NULL, "bad");
    CHECK(!strcmp(cJSON_GetObjectItem(e, "error")->valuestring, "bad") &&
              !strcmp(cJSON_GetObjectItem(e, "error_type")->valuestring, "validation"),
          "TGI's shape");
    cJSON_Delete(e);
    e = api_error_body(DIALECT_OLLAMA, 404, NULL, "model 'x' not found");
    CHECK(cJSON_GetArraySize(e) == 1 && cJSON_IsString(cJSON_GetObjectItem(e, "error")), "Ollama's shape");
    cJSON_Delete(e);
    e = api_error_body(DIALECT_ANTHROPIC, 404, NULL, "model: x");
    o = cJSON_GetObjectItem(e, "error");
    CHECK(!strcmp(cJSON_GetObjectItem(e, "type")->valuestring, "error") && o &&
              !strcmp(cJSON_GetObjectItem(o, "type")->valuestring, "not_found_error"),
          "Anthropic's shape");
    cJSON_Delete(e);
}

/* the access-log line of a, written by api_on_access to stderr, captured in a file */
static char *access_line(Server *s, const HttpAccess *a) {
    char path[] = "/tmp/piston-test-server-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    if (fd < 0 || saved < 0) return NULL;
    fflush(stderr);
    dup2(fd, 2);
    api_on_access(s, a);
    fflush(stderr);
    dup2(saved, 2);
    close(saved), close(fd);
    char *text = test_read_file(path, NULL);
    unlink(path);
    return text;
}

static void test_access_line(void) {
    Server s;
    memset(&s, 0, sizeof s);
    s.opt.access_log = 1;
    HttpAccess a = {.peer = "127.0.0.1:5",
                    .method = "POST",
                    .path = "/v1/messages",
                    .status = 400,
                    .t_start = 1,
                    .t_end = 1.0125,
                    .dialect = "anthropic",
                    .model = "smollm2",
                    .request_id = "r-1",
                    .ttft_s = -1,
                    .error = "messages: at least one \"message\""};
    log_setup(1, 0);
    char *t = access_line(&s, &a);
    CHECK(t && strstr(t, " WARN  127.0.0.1:5 \"POST /v1/messages\" 400 anthropic model=smollm2 id=r-1 prompt_tokens=0 "
                         "output_tokens=0 ttft_ms=- duration_ms=12.5 finish=- error=\"messages: at least one "
                         "\"message\"\"\n"),
          "text: %s", t ? t : "(none)");
    free(t);
    a.status = 200, a.error[0] = 0, a.output_tokens = 3, a.ttft_s = 0.004, a.finish = "stop";
    log_setup(1, 1);
    t = access_line(&s, &a);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    CHECK(j && !strcmp(cJSON_GetObjectItem(j, "msg")->valuestring, "request") &&
              !strcmp(cJSON_GetObjectItem(j, "level")->valuestring, "INFO") &&
              !strcmp(cJSON_GetObjectItem(j, "dialect")->valuestring, "anthropic") &&
              cJSON_GetObjectItem(j, "status")->valueint == 200 &&
              cJSON_GetObjectItem(j, "output_tokens")->valueint == 3 &&
              cJSON_GetObjectItem(j, "ttft_ms")->valuedouble == 4.0 &&
              !strcmp(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "stop") && !cJSON_GetObjectItem(j, "error"),
          "json: %s", t ? t : "(none)");
    cJSON_Delete(j);
    free(t);
    s.opt.access_log = 0;
    t = access_line(&s, &a);
    CHECK(t && !*t, "no line with the access log off");
    free(t);
    log_setup(0, 0);
}

int main(void) {
    test_model_names();
    test_fields();
    test_lengths();
    test_body();
    test_error_bodies();
    test_access_line();
    return TEST_SUMMARY();
}
