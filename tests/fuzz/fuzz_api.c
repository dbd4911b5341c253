/* Every dialect's request handling without an engine or a socket: the input picks a route
 * and carries the body, and the real route handlers (server/api_routes.c and the dialects
 * behind it) validate it, render chat templates, tokenize, read structured-output and tool
 * fields, and submit. The seam is the two things a handler talks to: the connection
 * (http_respond, http_stream_*, http_conn_*) and the engine bridge (bridge_*), plus libuv's
 * worker pool (uv_queue_work, where constraints compile). The Makefile links this target
 * with -Wl,--wrap for each (FUZZ_LDFLAGS_api in tests/fuzz/fuzz.mk), so the server's calls
 * land in the __wrap_ functions here: responses are checked (a status, a whole JSON body for
 * a JSON response) and dropped; a submitted request is answered as the engine thread would
 * answer it, with MSG_OUTPUT messages whose tokens come from the rest of the input, and a
 * MSG_RELEASE that frees the job; a constraint compiles after the handler returns, as the
 * worker pool would run it, against the small vocabulary of tests/fixtures/spm_tiny.gguf
 * (the model's 49152 tokens would make each compile cost a second), or the pool refuses the
 * work (the 503 path): compiling is most of the time here, and fuzz_json_schema.c and its
 * siblings fuzz it on their own.
 *
 * Input: byte 0 the route, byte 1 flags (an API key required and sent or not, an Origin
 * header, engine outputs with or without logprobs of their own, a short max_model_len, the
 * worker pool compiling or refusing), then
 * the body up to "\0PFZ\0", then the bytes that choose the fake engine's tokens.
 * The model facts are the default model's (tokenizer, chat template, config). */
#include "tests/fuzz/fuzz.h"

#include <http_parser.h>
#include <uv.h>

#include "engine/text_model.h"
#include "models/gguf.h"
#include "server/api_common.h"

#define SEP "\0PFZ\0"

typedef struct Route {
    const char *path;
    int method;
} Route;
static const Route k_routes[] = {
    {"/v1/completions", HTTP_POST},  {"/v1/chat/completions", HTTP_POST}, {"/generate", HTTP_POST},
    {"/generate_stream", HTTP_POST}, {"/", HTTP_POST},                    {"/api/generate", HTTP_POST},
    {"/api/chat", HTTP_POST},        {"/v1/messages", HTTP_POST},         {"/v1/messages/count_tokens", HTTP_POST},
    {"/tokenize", HTTP_POST},        {"/detokenize", HTTP_POST},          {"/api/show", HTTP_POST},
    {"/v1/models", HTTP_GET},        {"/info", HTTP_GET},                 {"/api/tags", HTTP_GET},
    {"/health", HTTP_GET},           {"/v1/models/smollm2", HTTP_GET},    {"/api/ps", HTTP_GET},
    {"/v1/completions", HTTP_GET},   {"/nowhere", HTTP_POST},
};
#define N_ROUTES (int)(sizeof k_routes / sizeof *k_routes)

/* The fake connection and engine: one request at a time, so file scope is its whole state. */
typedef struct Conn {
    int responded, streaming, stream_ended;
    void *user;
    HttpAccess access;
} Conn;

typedef struct Work {
    uv_work_t *req;
    uv_after_work_cb done;
    uv_work_cb work;
} Work;

static struct {
    char model_path[4096];
    TextModel tm;
    GgufFile *small_file;
    Tokenizer *small_tok;
    ConstraintVocab *small_vocab;
    Server srv;
    Conn conn;
    InMsg *submitted[8];
    int n_submitted;
    Work work[8];
    int n_work;
    FuzzIn engine_in;
    int own_logprobs;
    int pool_refuses;
} g;

static void check_json(const char *ctype, const char *body, size_t len) {
    if (!ctype || strncmp(ctype, "application/json", 16) || !len) return;
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) fprintf(stderr, "a JSON response that does not parse: %.*s\n", (int)len, body), abort();
    cJSON_Delete(j);
}

void __wrap_http_respond(HttpConn *c, int status, const char *content_type, const char *body, size_t len,
                         const char *extra_headers) {
    Conn *k = (Conn *)c;
    if (k->responded) fprintf(stderr, "a second response (%d)\n", status), abort();
    if (status < 100 || status > 599) abort();
    if (!k->streaming) check_json(content_type, body, len);
    k->responded = 1;
    k->access.status = status;
}
void __wrap_http_stream_begin(HttpConn *c, int status, const char *content_type) {
    Conn *k = (Conn *)c;
    if (k->responded || k->streaming) abort();
    k->streaming = 1;
}
void __wrap_http_stream_send(HttpConn *c, const char *data, size_t len) {
    Conn *k = (Conn *)c;
    if (!k->streaming || k->stream_ended) abort();
    if (len && !data) abort();
}
void __wrap_http_stream_end(HttpConn *c) {
    Conn *k = (Conn *)c;
    if (!k->streaming) abort();
    k->stream_ended = k->responded = 1;
}
HttpAccess *__wrap_http_conn_access(HttpConn *c) { return &((Conn *)c)->access; }
void __wrap_http_conn_add_header(HttpConn *c, const char *name, const char *value) {
    if (!name || !value) abort();
}
void __wrap_http_conn_set_user(HttpConn *c, void *user) {
    if (c) ((Conn *)c)->user = user;
}
void *__wrap_http_conn_user(const HttpConn *c) { return ((const Conn *)c)->user; }

void __wrap_bridge_submit(Bridge *b, InMsg *m) {
    if (g.n_submitted == (int)(sizeof g.submitted / sizeof *g.submitted)) abort();
    g.submitted[g.n_submitted++] = m;
}
void __wrap_bridge_abort(Bridge *b, Job *j) {}
int __wrap_bridge_num_waiting(Bridge *b) { return 0; }
char *__wrap_bridge_render_metrics(Bridge *b, const char *model_name, size_t *len) {
    char *s = strdup("# piston\n");
    *len = s ? strlen(s) : 0;
    return s;
}
void __wrap_bridge_stats(Bridge *b, EngineStats *st) { memset(st, 0, sizeof *st); }

int __wrap_uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work, uv_after_work_cb done) {
    if (g.pool_refuses || g.n_work == (int)(sizeof g.work / sizeof *g.work)) return UV_EBUSY;
    g.work[g.n_work++] = (Work){req, done, work};
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char *path = g.model_path, err[512];
    fuzz_model_path(path, sizeof g.model_path);
    FILE *f = fopen(path, "rb");
    if (!f) fuzz_skip("no default model (make model)");
    fclose(f);
    if (text_model_load(&g.tm, path, NULL, 2048, err, sizeof err)) fprintf(stderr, "%s\n", err), abort();
    if (gguf_open("tests/fixtures/spm_tiny.gguf", &g.small_file, err, sizeof err) ||
        tokenizer_create(g.small_file, &g.small_tok, err, sizeof err) ||
        constraint_vocab_create(g.small_tok, &g.small_vocab, err, sizeof err))
        fprintf(stderr, "%s\n", err), abort();
    Server *s = &g.srv;
    server_options_default(&s->opt);
    s->opt.model_arg = s->opt.engine.model_path = path;
    s->opt.model_name = s->opt.model_names[0] = "smollm2";
    s->opt.model_names[1] = "HuggingFaceTB/SmolLM2-135M-Instruct";
    s->opt.n_model_names = 2;
    s->opt.access_log = 0;
    s->ready = 1;
    ModelFacts *mf = &s->model;
    mf->tok = g.tm.tok;
    mf->chat = g.tm.has_chat ? &g.tm.chat : NULL;
    snprintf(mf->chat_err, sizeof mf->chat_err, "%s", g.tm.chat_err);
    mf->cfg = g.tm.model->cfg;
    mf->max_model_len = g.tm.max_model_len;
    mf->file_size = 1 << 27;
    snprintf(mf->quant, sizeof mf->quant, "Q4_1");
    snprintf(mf->format, sizeof mf->format, "gguf");
    mf->gen_defaults = g.tm.gen_defaults;
    mf->vocab = g.small_vocab;
    return 0;
}

/* What the engine thread would send for m: per choice, two outputs (the second finishes),
 * then the release. Tokens and texts come from the rest of the input. */
static void answer(InMsg *m) {
    Job *j = m->job;
    int n = m->params.n > 0 ? m->params.n : 1, nv = tokenizer_n_vocab(g.tm.tok);
    for (int choice = 0; choice < m->n_prompts * n; choice++) {
        for (int part = 0; part < 2; part++) {
            int k = (int)(fuzz_u8(&g.engine_in) % 6);
            size_t nlp = m->params.sampling.logprobs >= 0 || g.own_logprobs ? (size_t)k : 0;
            int np = m->n_prompt[choice / n];
            size_t nplp = part == 0 && m->params.prompt_logprobs >= 0 ? (size_t)np : 0;
            OutMsg *o = calloc(1, sizeof *o + (nlp + nplp) * sizeof(SampleResult) + (size_t)k * 4 + 512);
            if (!o) abort();
            char *p = (char *)(o + 1);
            o->kind = MSG_OUTPUT, o->job = j, o->choice = choice, o->stop_token = -1;
            o->lps = nlp ? (SampleResult *)p : NULL, p += nlp * sizeof(SampleResult);
            o->prompt_lps = nplp ? (SampleResult *)p : NULL, p += nplp * sizeof(SampleResult);
            o->tokens = (int32_t *)p, p += (size_t)k * 4;
            o->text = p;
            Detok d;
            detok_init(&d);
            for (int i = 0; i < k; i++) {
                o->tokens[i] = (int32_t)(fuzz_u16(&g.engine_in) % (unsigned)nv);
                o->text_len += detok_push(g.tm.tok, &d, o->tokens[i], o->text + o->text_len, 480 - o->text_len);
            }
            o->text[o->text_len] = 0;
            for (size_t i = 0; i < nlp + nplp; i++) {
                SampleResult *r = i < nlp ? &o->lps[i] : &o->prompt_lps[i - nlp];
                r->id = i < nlp ? o->tokens[i] : (i - nlp < (size_t)np ? m->prompts[choice / n][i - nlp] : 0);
                r->logprob = -(float)(fuzz_u8(&g.engine_in) % 40) / 4.0f, r->rank = 1 + (int)(i % 3);
                int top = m->params.sampling.logprobs > m->params.prompt_logprobs ? m->params.sampling.logprobs
                                                                                  : m->params.prompt_logprobs;
                r->n_top = top < 0 ? 0 : top > SAMPLER_MAX_LOGPROBS ? SAMPLER_MAX_LOGPROBS : top;
                for (int t = 0; t < r->n_top; t++) r->top[t] = (TokenLogprob){(r->id + t) % nv, -(float)t};
            }
            o->n_tokens = k;
            o->n_prompt_tokens = np, o->n_output_tokens = k * (part + 1);
            o->t_first_scheduled = o->t_first_token = 1.0, o->t_now = 2.0;
            unsigned how = fuzz_u8(&g.engine_in);
            o->finish = part == 0 ? FINISH_NONE : how % 3 == 0 ? FINISH_LENGTH : FINISH_STOP;
            if (part == 1 && how % 5 == 1 && m->params.n_stop) o->stop_reason = (char *)m->params.stop[0];
            if (part == 1 && how % 5 == 2) o->stop_token = tokenizer_eos(g.tm.tok);
            api_on_engine_msg(&g.srv, o);
        }
    }
    OutMsg *rel = calloc(1, sizeof *rel);
    if (!rel) abort();
    rel->kind = MSG_RELEASE, rel->job = j;
    api_on_engine_msg(&g.srv, rel);
    in_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const Route *rt = &k_routes[data[0] % N_ROUTES];
    unsigned flags = data[1];
    FuzzIn in = {data + 2, size - 2};
    size_t k = sizeof SEP - 1, blen = 0;
    while (blen < in.n && !(in.n - blen >= k && memcmp(in.p + blen, SEP, k) == 0)) blen++;
    g.engine_in = blen < in.n ? (FuzzIn){in.p + blen + k, in.n - blen - k} : (FuzzIn){NULL, 0};
    g.own_logprobs = (flags >> 3) & 1;
    g.pool_refuses = !(flags & 0x80);
    char *body = malloc(blen + 1), path[64], query[1] = "";
    if (!body) return 0;
    memcpy(body, in.p, blen), body[blen] = 0;
    snprintf(path, sizeof path, "%s", rt->path);
    HttpHeader hdrs[3];
    int nh = 0;
    g.srv.opt.api_key = (flags & 1) ? "sk-fuzz" : NULL;
    if (flags & 2) hdrs[nh++] = (HttpHeader){"Authorization", (flags & 4) ? "Bearer sk-fuzz" : "Bearer nope"};
    if (flags & 0x10) hdrs[nh++] = (HttpHeader){"Origin", "http://example.com"};
    if (flags & 0x20) hdrs[nh++] = (HttpHeader){"X-Request-Id", "fuzz-request"};
    g.srv.model.max_model_len = (flags & 0x40) ? 64 : g.tm.max_model_len;
    HttpRequest r = {.method = rt->method, .method_name = rt->method == HTTP_GET ? "GET" : "POST", .path = path,
                     .query = query, .headers = hdrs, .n_headers = nh, .body = body, .body_len = blen,
                     .keep_alive = 1, .http_minor = 1};
    memset(&g.conn, 0, sizeof g.conn);
    HttpConn *c = (HttpConn *)&g.conn;
    api_on_request(&g.srv, c, &r);
    /* the loop's next turns: compilations finish, then the engine answers */
    for (int i = 0; i < g.n_work; i++) {
        g.work[i].work(g.work[i].req);
        g.work[i].done(g.work[i].req, 0);
    }
    g.n_work = 0;
    for (int i = 0; i < g.n_submitted; i++) answer(g.submitted[i]);
    if (!g.conn.responded) fprintf(stderr, "%s %s: no response\n", r.method_name, rt->path), abort();
    g.n_submitted = 0;
    if (g.srv.jobs || g.srv.n_jobs || g.srv.n_compiling) fprintf(stderr, "a job outlived its release\n"), abort();
    free(body);
    return 0;
}
