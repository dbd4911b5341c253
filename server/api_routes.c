/* The route table and the small routes: dispatch by path and method (404, 405 with Allow),
 * the API key check, "still loading" and "shutting down" answers, and /health, /version,
 * /metrics, /tokenize, /detokenize. A client that goes away aborts its job here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "base/version.h"
#include "server/api_tools.h"

typedef ApiHandler Handler;

typedef struct Route {
    const char *path;
    int method;       /* HTTP_GET routes also answer HEAD */
    Handler handler;
    Dialect dialect;  /* the shape of its errors */
    int auth;         /* needs the API key (when one is set): all but the probes */
    int model;        /* needs the model loaded (503 while loading) */
    int generates;    /* starts generation work (refused while shutting down) */
} Route;

static void health(Server *s, HttpConn *c, HttpRequest *r) {
    if (s->shutting_down) {
        http_respond(c, 503, "application/json", "{\"status\":\"shutting down\"}", 26, NULL);
        return;
    }
    http_respond(c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
}

static void version(Server *s, HttpConn *c, HttpRequest *r) {
    http_respond(c, 200, "application/json", "{\"version\":\"" PISTON_VERSION "\"}",
                 sizeof("{\"version\":\"" PISTON_VERSION "\"}") - 1, NULL);
}

static void root(Server *s, HttpConn *c, HttpRequest *r) {
    /* what Ollama answers on GET /, which some clients probe */
    http_respond(c, 200, "text/plain; charset=utf-8", "Piston is running", 17, NULL);
}

static void metrics(Server *s, HttpConn *c, HttpRequest *r) {
    size_t len = 0;
    char *text = bridge_render_metrics(s->bridge, s->opt.model_name, &len);
    if (!text) {
        api_error(c, DIALECT_OPENAI, 500, NULL, "out of memory");
        return;
    }
    http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    free(text);
}

/* vLLM's /tokenize: {prompt} or {messages} (with tools), add_special_tokens → {count,
 * max_model_len, tokens}. Tokenized as the generation routes tokenize (api_submit: a long
 * text on the worker pool, and then its answer too: tokenize_answer). */
static char *tokenize_answer(const Server *s, const InMsg *m) {
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "count", m->n_prompt[0]);
    cJSON_AddNumberToObject(out, "max_model_len", s->model.max_model_len);
    cJSON *ids = cJSON_AddArrayToObject(out, "tokens");
    for (int i = 0; i < m->n_prompt[0]; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(m->prompts[0][i]));
    char *text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return text;
}

static const JobOps k_answer_ops = {"application/json", NULL, NULL};

static void tokenize(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *body = api_parse_body(s, c, DIALECT_OPENAI, r);
    if (!body) return;
    char err[512] = "";
    int add_special = 1;
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(body, "prompt");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    InMsg *m = in_msg_new(1);
    Job *j = m ? job_new(s, c, &k_answer_ops, DIALECT_OPENAI, 1, 1) : NULL;
    ChatPrompt text = {0};
    int status = 400;
    if (!m || !j) {
        snprintf(err, sizeof err, "out of memory"), status = 500;
    } else if (model && !cJSON_IsNull(model) && !(cJSON_IsString(model) && api_model_matches(s, model->valuestring, 0))) {
        snprintf(err, sizeof err, "The model `%s` does not exist.", cJSON_IsString(model) ? model->valuestring : "?");
        status = 404;
    } else if (json_opt_bool(body, "add_special_tokens", &add_special, err, sizeof err)) {
    } else if (cJSON_IsString(prompt)) {
        if (api_add_text_prompt(s, m, 0, prompt->valuestring, add_special, 1)) snprintf(err, sizeof err, "out of memory"), status = 500;
    } else if (messages) {
        if (!api_render_conversation(s, messages, NULL, cJSON_GetObjectItemCaseSensitive(body, "tools"), &text, err,
                                     sizeof err) && api_add_chat_prompt(s, m, 0, &text))
            snprintf(err, sizeof err, "out of memory"), status = 500;
    } else {
        snprintf(err, sizeof err, "'prompt' (a string) or 'messages' is required");
    }
    chat_prompt_free(&text);
    cJSON_Delete(body);
    if (!*err) {
        j->no_length_check = 1, j->answer = tokenize_answer;
        int rc = api_submit(j, m, NULL, err, sizeof err);
        if (rc == 0) return; /* answered, or answering */
        status = rc > 0 ? rc : 503;
    }
    in_msg_free(m);
    job_free(j);
    api_error(c, DIALECT_OPENAI, status, NULL, "%s", *err ? err : "the server is overloaded");
}

/* vLLM's /detokenize: {tokens} → {prompt}. */
static void detokenize(Server *s, HttpConn *c, HttpRequest *r) {
    cJSON *body = api_parse_body(s, c, DIALECT_OPENAI, r);
    if (!body) return;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(body, "tokens"), *e;
    int n_vocab = tokenizer_n_vocab(s->model.tok);
    if (!s->model.tok) {
        cJSON_Delete(body);
        api_error(c, DIALECT_OPENAI, 400, NULL, "the model has no tokenizer (a dummy model without tokenizer.json)");
        return;
    }
    if (!cJSON_IsArray(tokens)) {
        cJSON_Delete(body);
        api_error(c, DIALECT_OPENAI, 400, "tokens", "'tokens' must be a list of token ids");
        return;
    }
    size_t cap = 64, len = 0, step = detok_max_bytes(s->model.tok) + 8;
    char *text = malloc(cap);
    Detok d;
    detok_init(&d);
    d.first = 1; /* a whole text from its start */
    cJSON_ArrayForEach(e, tokens) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < n_vocab) ||
            e->valuedouble != (int)e->valuedouble) { /* the range first: (int)1e40 is undefined */
            free(text);
            cJSON_Delete(body);
            api_error(c, DIALECT_OPENAI, 400, "tokens", "'tokens' must hold token ids in [0, %d)", n_vocab);
            return;
        }
        if (len + step + 1 > cap) {
            while (len + step + 1 > cap) cap *= 2;
            char *t = realloc(text, cap);
            if (!t) break;
            text = t;
        }
        if (text) len += detok_push(s->model.tok, &d, (int32_t)e->valuedouble, text + len, cap - len - 1);
    }
    cJSON_Delete(body);
    if (!text) {
        api_error(c, DIALECT_OPENAI, 500, NULL, "out of memory");
        return;
    }
    len += detok_flush(&d, text + len, cap - len - 1 >= 4 ? cap - len - 1 : 0);
    text[len] = 0;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "prompt", text);
    free(text);
    api_send_json(c, 200, out);
}

static const Route k_routes[] = {
    {"/health", HTTP_GET, health, DIALECT_OPENAI, 0, 1, 0},
    {"/version", HTTP_GET, version, DIALECT_OPENAI, 0, 0, 0},
    {"/metrics", HTTP_GET, metrics, DIALECT_OPENAI, 0, 1, 0},
    {"/tokenize", HTTP_POST, tokenize, DIALECT_OPENAI, 1, 1, 0},
    {"/detokenize", HTTP_POST, detokenize, DIALECT_OPENAI, 1, 1, 0},
    {"/v1/models", HTTP_GET, api_openai_models, DIALECT_OPENAI, 1, 1, 0},
    {"/v1/completions", HTTP_POST, api_openai_completions, DIALECT_OPENAI, 1, 1, 1},
    {"/v1/chat/completions", HTTP_POST, api_openai_chat, DIALECT_OPENAI, 1, 1, 1},
    {"/generate", HTTP_POST, api_tgi_generate, DIALECT_TGI, 1, 1, 1},
    {"/generate_stream", HTTP_POST, api_tgi_generate_stream, DIALECT_TGI, 1, 1, 1},
    {"/", HTTP_POST, api_tgi_compat, DIALECT_TGI, 1, 1, 1},
    {"/info", HTTP_GET, api_tgi_info, DIALECT_TGI, 1, 1, 0},
    {"/", HTTP_GET, root, DIALECT_OLLAMA, 1, 0, 0},
    {"/api/generate", HTTP_POST, api_ollama_generate, DIALECT_OLLAMA, 1, 1, 1},
    {"/api/chat", HTTP_POST, api_ollama_chat, DIALECT_OLLAMA, 1, 1, 1},
    {"/api/tags", HTTP_GET, api_ollama_tags, DIALECT_OLLAMA, 1, 1, 0},
    {"/api/show", HTTP_POST, api_ollama_show, DIALECT_OLLAMA, 1, 1, 0},
    {"/api/ps", HTTP_GET, api_ollama_ps, DIALECT_OLLAMA, 1, 1, 0},
    {"/api/version", HTTP_GET, api_ollama_version, DIALECT_OLLAMA, 1, 0, 0},
    {"/v1/messages", HTTP_POST, api_anthropic_messages, DIALECT_ANTHROPIC, 1, 1, 1},
    {"/v1/messages/count_tokens", HTTP_POST, api_anthropic_count_tokens, DIALECT_ANTHROPIC, 1, 1, 0},
};

static Dialect dialect_of_path(const char *path) {
    if (!strncmp(path, "/api/", 5)) return DIALECT_OLLAMA;
    if (!strncmp(path, "/v1/messages", 12)) return DIALECT_ANTHROPIC;
    if (!strcmp(path, "/generate") || !strcmp(path, "/generate_stream") || !strcmp(path, "/info")) return DIALECT_TGI;
    return DIALECT_OPENAI;
}

/* Compare the whole key whatever the mismatch, so that timing reveals nothing. */
static int key_ok(const char *want, const HttpRequest *r) {
    const char *h = http_header(r, "x-api-key"); /* Anthropic's header */
    if (!h) {
        h = http_header(r, "authorization");
        if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
        h += 7;
    }
    while (*h == ' ') h++;
    size_t a = strlen(want), b = strlen(h);
    unsigned diff = (unsigned)(a != b);
    for (size_t i = 0; i < a; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < b ? h[i] : 0);
    return diff == 0;
}

/* Whether path is one of --public-routes (a comma separated list of exact paths). */
static int listed_public(const char *list, const char *path) {
    size_t n = strlen(path);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == n && !strncmp(p, path, n)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* With an API key, every route needs it except the probes (/health, /metrics, /version:
 * load balancers, Prometheus and liveness checks carry no key) and those --public-routes
 * opens. Paths that name no route need it too, so that a client without the key learns
 * nothing of which routes exist. */
static int needs_key(const Server *s, const Route *hit, const char *path) {
    if (!s->opt.api_key) return 0;
    if (listed_public(s->opt.public_routes, path)) return 0;
    return hit ? hit->auth : 1;
}

/* The route of path and method, or NULL; allow[n] gets the methods the path takes. */
static const Route *route_find(const HttpRequest *r, char *allow, size_t n, int *path_known) {
    const char *path = r->path;
    int is_model_path = !strncmp(path, "/v1/models/", 11); /* GET /v1/models/{id} */
    for (size_t i = 0; i < sizeof k_routes / sizeof *k_routes; i++) {
        const Route *rt = &k_routes[i];
        if (strcmp(rt->path, is_model_path ? "/v1/models" : path) != 0) continue;
        *path_known = 1;
        if (rt->method == r->method || (rt->method == HTTP_GET && r->method == HTTP_HEAD)) return rt;
        size_t k = strlen(allow);
        snprintf(allow + k, n - k, "%s%s%s", k ? ", " : "", http_method_str(rt->method),
                 rt->method == HTTP_GET ? ", HEAD" : "");
    }
    return NULL;
}

/* Whether the request needs the key and lacks it. hit: its route, or NULL; a known path
 * asked with another method follows that path's rule. */
static int key_missing(const Server *s, const HttpRequest *r, const Route *hit, int path_known) {
    int is_model_path = !strncmp(r->path, "/v1/models/", 11);
    const Route *rule = hit;
    for (size_t i = 0; !rule && path_known && i < sizeof k_routes / sizeof *k_routes; i++)
        if (!strcmp(k_routes[i].path, is_model_path ? "/v1/models" : r->path)) rule = &k_routes[i];
    return needs_key(s, rule, r->path) && !key_ok(s->opt.api_key, r);
}

static void refuse_key(HttpConn *c, const HttpRequest *r, Dialect d) {
    api_error(c, d, 401, NULL, http_header(r, "authorization") || http_header(r, "x-api-key") ? "invalid API key"
              : "missing API key: send 'Authorization: Bearer <key>'");
}

/* The key is checked once the headers are in, before a byte of the body is read or a
 * 100 Continue invites it; api_on_request checks again (a request without a hook).
 * Preflights (OPTIONS) are api_on_request's: CORS answers them without a key. */
int api_on_headers(void *ud, HttpConn *c, HttpRequest *r) {
    Server *s = ud;
    if (!s->opt.api_key || r->method == HTTP_OPTIONS) return 0;
    char allow[64] = "";
    int path_known = 0;
    const Route *hit = route_find(r, allow, sizeof allow, &path_known);
    if (!key_missing(s, r, hit, path_known)) return 0;
    Dialect d = hit ? hit->dialect : dialect_of_path(r->path);
    if (!api_access_begin(s, c, r, d)) refuse_key(c, r, d);
    return 1;
}

void api_on_request(void *ud, HttpConn *c, HttpRequest *r) {
    Server *s = ud;
    char allow[64] = "";
    int path_known = 0;
    const char *path = r->path;
    const Route *hit = route_find(r, allow, sizeof allow, &path_known);
    Dialect d = hit ? hit->dialect : dialect_of_path(path);
    if (api_access_begin(s, c, r, d)) return; /* a CORS preflight, answered */
    if (key_missing(s, r, hit, path_known)) {
        refuse_key(c, r, d);
        return;
    }
    if (!hit && path_known) {
        char extra[96];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
        cJSON *e = api_error_body(d, 405, NULL, "Method Not Allowed");
        char *txt = cJSON_PrintUnformatted(e);
        cJSON_Delete(e);
        http_respond(c, 405, "application/json", txt ? txt : "{}", txt ? strlen(txt) : 2, extra);
        free(txt);
        return;
    }
    if (!hit) {
        api_error(c, d, 404, NULL, "no route %s %s (see the README for the OpenAI, TGI and Ollama routes)",
                  r->method_name, path);
        return;
    }
    if (hit->model && !s->ready) {
        api_error(c, d, 503, NULL, "the model is still loading");
        return;
    }
    if (hit->generates && s->shutting_down) {
        api_error(c, d, 503, NULL, "the server is shutting down");
        return;
    }
    if (r->method == HTTP_POST && api_parse_later(s, c, r, hit->dialect, hit->generates, hit->handler)) return;
    hit->handler(s, c, r);
}

void api_on_close(void *ud, HttpConn *c) {
    Server *s = ud;
    Job *j = http_conn_user(c);
    if (!j) return;
    j->conn = NULL;
    if (!j->finished && !j->abort_sent) {
        j->abort_sent = 1;
        bridge_abort(s->bridge, j); /* its blocks return to the pool at once */
    }
}
