/* The server's shared records: the Server (options, model facts, the HTTP server, the engine
 * bridge), a Job (one HTTP generation request: its choices as they grow, tied to its
 * connection), the messages that cross between the loop thread and the engine thread, and
 * the helpers every dialect uses (JSON field parsing, prompt checks, errors in each dialect's
 * shape, submission).
 *
 * Threads: everything here runs on the loop thread except what bridge.c says it runs on
 * the engine thread. A Job is created and freed by the loop thread; the engine thread only
 * carries its pointer as a cookie and never dereferences it. Every submitted job gets
 * exactly one MSG_RELEASE, after which the engine holds no reference; only then is it freed. */
#ifndef PISTON_API_COMMON_H
#define PISTON_API_COMMON_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/text_model.h"
#include "http/http.h"
#include "server/metrics.h"
#include "server/server.h"

typedef enum Dialect { DIALECT_OPENAI = 0, DIALECT_TGI, DIALECT_OLLAMA, DIALECT_ANTHROPIC } Dialect;


typedef struct Job Job;
typedef struct Bridge Bridge;

/* What the engine thread learned at start (MSG_READY). Pointers stay valid while the engine
 * lives; the tokenizer and template are read-only, so the loop thread may use them. */
typedef struct ModelFacts {
    const Tokenizer *tok;
    const ChatTemplate *chat; /* NULL: no usable template (chat_err says why) */
    char chat_err[256];
    ModelConfig cfg;
    int max_model_len;
    EngineStats stats;
    int64_t file_size;        /* the GGUF, or the safetensors shards together */
    char quant[16];           /* e.g. "Q4_1"; a directory's --dtype ("BF16") */
    char format[16];          /* "gguf", "safetensors" or "dummy" */
    SamplingParams gen_defaults;  /* generation_config.json's: under every dialect's request (gen_defaults_apply) */
    const ConstraintVocab *vocab; /* what constraints compile against (api_structured.c) */
    char device[160];         /* the backend as chosen: "cpu (AMD EPYC 9454, 2 threads)" */
    int threads;              /* CPU threads, resolved */
    int kv_dtype;             /* DT_F16, DT_BF16 or DT_F32, resolved from --kv-cache-dtype */
    int64_t kv_bytes;         /* the KV cache's usable blocks in bytes */
} ModelFacts;

typedef struct Server {
    uv_loop_t *loop;
    ServeOptions opt;
    HttpServer *http;
    Bridge *bridge;
    int ready;                /* the model is loaded */
    ModelFacts model;
    Job *jobs;                /* submitted, not yet released */
    int n_jobs;
    uint64_t next_id;
    uint64_t rng;             /* ids and derived seeds */
    time_t started;
    double t_started;
    int shutting_down;        /* SIGINT/SIGTERM: no new work, in-flight requests finish */
    int closed;               /* handles closed, the engine stopped: the loop ends */
    int exit_code;
    uv_signal_t sigint, sigterm;
    uv_timer_t grace;
    ConstraintCache *constraints; /* compiled structured outputs, by spec (api_structured.c) */
    int n_compiling;          /* requests with work on libuv's worker pool: a body parsed, prompts
                               * tokenized, a constraint compiled (shutdown waits for them) */
    struct {                  /* the body of the request being dispatched, parsed on the pool */
        const HttpRequest *req; /* NULL: none */
        cJSON *json;          /* NULL: err says why */
        char err[192];
    } parsed;
} Server;

/* ---- loop → engine ---- */
typedef enum InKind { IN_ADD = 0, IN_ABORT } InKind;
/* A prompt's text still to tokenize (api_prepare.c), its ids to be appended to the prompt's. */
typedef struct PromptSrc {
    char *text;               /* malloc'd, [len]; NULL: nothing to tokenize */
    size_t len;
    TokSpan *plain;           /* a chat prompt's message spans (chat_prompt_encode), or NULL */
    int n_plain;
    int add_special, parse_special;
} PromptSrc;
typedef struct InMsg {
    struct InMsg *next;
    InKind kind;
    Job *job;                 /* cookie */
    int n_prompts;
    int32_t **prompts;        /* [n_prompts][n_prompt[i]] */
    int *n_prompt;
    PromptSrc *src;           /* [n_prompts]: texts the loop thread has not tokenized (api_prepare.c) */
    RequestParams params;     /* params.stop points into stops, params.logit_bias into bias;
                               * params.constraint is a reference this message holds */
    char *stops[ENGINE_MAX_STOP];
    LogitBias *bias;
    double t_arrival;         /* when the HTTP request was complete (monotonic) */
} InMsg;

/* ---- engine → loop ---- */
typedef enum OutKind { MSG_OUTPUT = 0, MSG_ERROR, MSG_RELEASE, MSG_READY, MSG_FAILED } OutKind;
typedef struct OutMsg {
    struct OutMsg *next;
    OutKind kind;
    Job *job;
    int choice;               /* prompt index * n + sample index */
    int32_t *tokens;          /* [n_tokens] */
    SampleResult *lps;        /* [n_tokens] or NULL */
    int n_tokens;
    SampleResult *prompt_lps; /* [n_prompt_tokens] with the first output when asked, or NULL */
    char *text;               /* [text_len], NUL-terminated; MSG_ERROR / MSG_FAILED: the message */
    size_t text_len;
    FinishReason finish;
    char *stop_reason;        /* or NULL */
    int32_t stop_token;
    int n_prompt_tokens, n_output_tokens, n_cached_tokens;
    double t_first_scheduled, t_first_token, t_now;
    int status;               /* MSG_ERROR: 400 (the engine refused the request) or 500 */
    ModelFacts *facts;        /* MSG_READY */
} OutMsg;

/* bridge.c: the engine thread and the two queues. */
int bridge_start(Server *srv, Bridge **out, char *err, size_t errlen);
void bridge_submit(Bridge *b, InMsg *m);
void bridge_abort(Bridge *b, Job *j);
int bridge_num_waiting(Bridge *b);   /* sequences waiting, queued ones included */
char *bridge_render_metrics(Bridge *b, const char *model_name, size_t *len);
void bridge_stats(Bridge *b, EngineStats *st);
/* Stop the engine thread (destroying the engine) and free the bridge. */
void bridge_stop(Bridge *b);
void in_msg_free(InMsg *m);
void out_msg_free(OutMsg *m);

/* One choice of a job (OpenAI's choices[i]): what has arrived so far. */
typedef struct Choice {
    char *text;
    size_t text_len, text_cap;
    int32_t *tokens;          /* kept when the dialect needs them (logprobs, details, context) */
    SampleResult *lps;
    int n_tokens, tok_cap;
    SampleResult *prompt_lps; /* [n_prompt] when prompt logprobs were asked (entry 0: none) */
    FinishReason finish;
    char *stop_reason;
    int32_t stop_token;
    int n_prompt, n_output, n_cached;
    double t_first_scheduled, t_first_token, t_last;
    int done;
    int opened;               /* streaming: the first chunk (role, token events) went out */
} Choice;

typedef struct JobOps {
    const char *stream_type;  /* Content-Type of a stream: SSE or NDJSON */
    /* a choice grew (m is the step's output, already folded into ch) */
    void (*on_output)(Job *j, int idx, Choice *ch, const OutMsg *m);
    /* every choice is done: send the whole response, or the stream's tail */
    void (*on_finish)(Job *j);
} JobOps;

struct Job {
    Server *srv;
    HttpConn *conn;           /* NULL once the client is gone */
    Job *prev, *next;
    const JobOps *ops;
    Dialect dialect;
    int kind;                 /* the dialect's own sub-kind (chat or completion, ...) */
    int stream;
    int keep_tokens;          /* fold tokens (and logprobs) into the choices */
    int logprobs;             /* -1: none; else top-N */
    int n_prompts, n, n_choices, n_done;
    Choice *choices;
    char **prompt_texts;      /* [n_prompts] for echo / return_full_text, or NULL */
    int32_t **prompt_ids;     /* [n_prompts] for echo with token prompts, or NULL */
    int *prompt_lens;
    char id[48];
    int64_t created;          /* unix seconds */
    double t_arrival;         /* monotonic */
    uint64_t seed;
    int has_seed;
    int stream_open;          /* the stream's status line went out (at the first output) */
    int finished;             /* the response has been sent */
    int abort_sent;
    int engine_error;         /* MSG_ERROR arrived */
    void *ext;                /* the dialect's own state (freed with ext_free, or free()) */
    void (*ext_free)(void *);
    int opt[8];               /* the dialect's small options */
    char *model_name;         /* the name to answer with */
    /* once its prompts are tokens (api_prepare.c), before the engine sees the job */
    int keep_prompt_ids;      /* copy them into prompt_ids (echo, TGI's prefill, Ollama's context) */
    int check_max_tokens;     /* api_check_lengths' max_tokens (<= 0: fill the context) */
    int length_status;        /* the status of a prompt that does not fit (0: 400) */
    int no_length_check;      /* /tokenize, count_tokens: any length is an answer */
    /* the dialect's own step (Ollama: num_ctx): 0, or an HTTP status with err set */
    int (*on_prompts)(Job *j, InMsg *m, char *err, size_t n);
    /* answer with the tokens instead of generating (/tokenize): the JSON body, malloc'd, made
     * from m alone (it runs on a worker when the prompt was long), or NULL */
    char *(*answer)(const Server *s, const InMsg *m);
};

/* Route handlers (api_openai.c, api_tgi.c, api_ollama.c, api_routes.c). */
void api_openai_models(Server *s, HttpConn *c, HttpRequest *r);
void api_openai_completions(Server *s, HttpConn *c, HttpRequest *r);
void api_openai_chat(Server *s, HttpConn *c, HttpRequest *r);
void api_tgi_generate(Server *s, HttpConn *c, HttpRequest *r);
void api_tgi_generate_stream(Server *s, HttpConn *c, HttpRequest *r);
void api_tgi_compat(Server *s, HttpConn *c, HttpRequest *r);
void api_tgi_info(Server *s, HttpConn *c, HttpRequest *r);
void api_ollama_generate(Server *s, HttpConn *c, HttpRequest *r);
void api_ollama_chat(Server *s, HttpConn *c, HttpRequest *r);
void api_ollama_tags(Server *s, HttpConn *c, HttpRequest *r);
void api_ollama_show(Server *s, HttpConn *c, HttpRequest *r);
void api_ollama_ps(Server *s, HttpConn *c, HttpRequest *r);
void api_ollama_version(Server *s, HttpConn *c, HttpRequest *r);
void api_anthropic_messages(Server *s, HttpConn *c, HttpRequest *r);
void api_anthropic_count_tokens(Server *s, HttpConn *c, HttpRequest *r);
/* The HTTP layer's callbacks (api_routes.c): dispatch, and a client that went away. */
void api_on_request(void *srv, HttpConn *c, HttpRequest *r);
int api_on_headers(void *srv, HttpConn *c, HttpRequest *r);
void api_on_close(void *srv, HttpConn *c);
/* A message from the engine thread (api_common.c); frees m. */
void api_on_engine_msg(Server *s, OutMsg *m);
/* serve.c: the model is loaded (or failed), and the shutdown sequence. */
void serve_on_ready(Server *s, ModelFacts *f);
void serve_on_failed(Server *s, const char *msg);
void serve_job_released(Server *s);

/* ---- access.c: request ids, CORS, the access log ---- */
const char *api_dialect_name(Dialect d);
/* At the start of every request: its id (X-Request-Id) and CORS headers; 1 when it was a
 * CORS preflight and has been answered. */
int api_access_begin(Server *s, HttpConn *c, const HttpRequest *r, Dialect d);
/* The HTTP layer's access-log callback. */
void api_on_access(void *ud, const HttpAccess *a);
/* Fold a job's tokens, TTFT and finish into its request's access record. */
void api_access_job(Job *j);

/* ---- helpers (api_common.c) ---- */
/* An error in the dialect's shape: OpenAI {"error":{message,type,param,code}}, TGI
 * {"error","error_type"}, Ollama {"error"}. param may be NULL. */
void api_error(HttpConn *c, Dialect d, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
cJSON *api_error_body(Dialect d, int status, const char *param, const char *msg);
/* cJSON to the connection: status 200, application/json; frees j. */
void api_send_json(HttpConn *c, int status, cJSON *j);
/* The body as one JSON object, UTF-8, nothing after it: the object, or NULL with err set.
 * Any thread. */
cJSON *api_json_parse(const char *body, size_t len, char *err, size_t n);
/* The request's body parsed (on the worker pool already when it was long: api_parse_later);
 * on failure answer 400 and return NULL. */
cJSON *api_parse_body(Server *s, HttpConn *c, Dialect d, const HttpRequest *r);
typedef void (*ApiHandler)(Server *s, HttpConn *c, HttpRequest *r);
/* A route's whole answer from its body, with no engine: its JSON text (malloc'd), or NULL
 * with *status (0: out of memory), *param (or NULL) and err set. Any thread. */
typedef char *(*ApiAnswer)(const Server *s, const cJSON *body, int *status, const char **param, char *err, size_t n);
/* A body too long to parse on the loop thread (api_body_pool.c): 1 when it is queued on the
 * worker pool and handler(s, c, r) will run once it is parsed (503 instead when generates and
 * the server is shutting down by then; a 400 when a list in it is wider than any field takes;
 * nothing when the client has left), or, for a route with an answer, answer runs on the pool
 * and its result is sent; 0: run the handler now. */
int api_parse_later(Server *s, HttpConn *c, HttpRequest *r, Dialect d, int generates, ApiHandler handler,
                    ApiAnswer answer);
/* /detokenize's answer (an ApiAnswer). */
char *api_detokenize_answer(const Server *s, const cJSON *body, int *status, const char **param, char *err,
                            size_t n);
/* cJSON_Delete(j) on the worker pool (a long body's tree takes milliseconds to free), or now
 * when the pool refuses. */
void api_json_free_later(Server *s, cJSON *j);
/* p[0, n) with every byte that is not UTF-8 replaced by U+FFFD: malloc'd, or NULL. */
char *api_utf8_sanitize(const char *p, size_t n);

/* Typed optional fields: absent or null leaves *out; a wrong type or range is -EINVAL with err set
 * (naming the field); 0 otherwise. */
int json_opt_float(const cJSON *o, const char *key, float lo, float hi, float *out, char *err, size_t n);
int json_opt_int(const cJSON *o, const char *key, long lo, long hi, int *out, char *err, size_t n);
int json_opt_bool(const cJSON *o, const char *key, int *out, char *err, size_t n);
int json_opt_u64(const cJSON *o, const char *key, uint64_t *out, int *has, char *err, size_t n);
/* stop: a string or a list of strings, into m's stop list. */
int json_opt_stop(const cJSON *o, const char *key, InMsg *m, char *err, size_t n);
int json_opt_stop_ids(const cJSON *o, const char *key, InMsg *m, char *err, size_t n);

/* The model as clients may see it: the argument of `piston serve` when it names a model
 * (smollm2, ORG/NAME), its file or directory name when it is a path, never the server's
 * filesystem layout. */
const char *api_model_ref(const Server *s);
/* Whether the name a request gives is `have`: the same, or the same once Ollama's defaults
 * are dropped from either ([registry.ollama.ai/][library/]NAME[:latest]). */
int api_model_name_is(const char *want, const char *have);
/* The model name a request names: 1 when it is ours (or absent), else 0. tgi_clients: an
 * OpenAI route that TGI serves too, where huggingface_hub's placeholders "tgi" and "dummy" name
 * the one model. TGI's own routes (/generate, /generate_stream, /) take any model field. */
int api_model_matches(const Server *s, const char *name, int tgi_clients);
InMsg *in_msg_new(int n_prompts);
/* Text as prompt i (special tokens parsed when parse_special: a raw prompt, as vLLM and
 * llama.cpp do), tokenized by api_submit: at once when short, else on libuv's worker pool
 * (api_prepare.c); its ids follow whatever prompt i already holds. 0, or -1 out of memory. */
int api_add_text_prompt(Server *s, InMsg *m, int i, const char *text, int add_special, int parse_special);
/* A rendered conversation as prompt i, taken from *p (which is left empty): control tokens
 * only from the template's text, message contents as plain text (chat_prompt_encode). */
int api_add_chat_prompt(Server *s, InMsg *m, int i, ChatPrompt *p);

/* Check every prompt against max_model_len and the asked max_tokens (<= 0: fill the
 * context); 0, or -EINVAL with err set in vLLM's words. */
int api_check_lengths(Server *s, const InMsg *m, int max_tokens, char *err, size_t n);
/* A seed for a request that names none, derived from --seed (reproducible runs). */
void api_default_seed(Server *s, InMsg *m);

Job *job_new(Server *s, HttpConn *c, const JobOps *ops, Dialect d, int n_prompts, int n);
void job_free(Job *j);
/* Hand the job to the engine (m becomes the bridge's). -1 when the queue is full: the
 * caller answers 503 / 429 and frees both. */
int job_submit(Job *j, InMsg *m);
/* Streaming: send one SSE event / NDJSON line (opens the stream at the first). */
void job_stream_send(Job *j, const char *data, size_t len);
/* The response's last bytes: each detaches the job from its connection first, so that a
 * pipelined request that starts on the connection at once finds it free. */
void job_respond_json(Job *j, cJSON *body);
void job_end_stream(Job *j);
/* An error: the dialect's error body with status, or, once streaming, an error event. */
void job_fail(Job *j, int status, const char *msg);
const char *finish_reason_openai(FinishReason f);
/* A new id: prefix + 32 hex digits. */
void api_make_id(Server *s, const char *prefix, char *out, size_t n);
/* The token's text for logprobs / details: invalid UTF-8 (a piece that splits a character)
 * becomes U+FFFD so that the JSON stays valid. Returns a malloc'd string. */
char *api_token_text(const Server *s, int32_t id);
/* The ids a request may name: the tokenizer's, or without one (a dummy model with only
 * config.json) the embedding's rows. */
int api_n_vocab(const Server *s);
/* The 400 for text sent to a model without a tokenizer (vLLM's --skip-tokenizer-init). */
#define API_NO_TOKENIZER                                                                                               \
    "the model has no tokenizer (a dummy model without tokenizer.json): send the prompt as token ids"

/* ISO 8601 UTC with nanoseconds, as Ollama writes created_at. */
void api_iso_time(char *out, size_t n);

#endif
