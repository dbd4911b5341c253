/* What the server adds to each HTTP request besides its answer: the request id (the
 * client's X-Request-Id, or one made here, echoed in the response), CORS as vLLM configures
 * it (preflights answered as Starlette's CORSMiddleware answers them, refusals included;
 * Access-Control-Allow-* on responses), and the access-log line
 * when the request ends: time, client, method, path, status, dialect, model, request id,
 * prompt and output tokens, TTFT, duration, finish reason, and the error's message. The
 * access-log line is uvicorn's and Ollama's [GIN] line with an LLM server's fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "base/clock.h"
#include "base/log.h"
#include "server/api_common.h"

const char *api_dialect_name(Dialect d) {
    switch (d) {
    case DIALECT_TGI: return "tgi";
    case DIALECT_OLLAMA: return "ollama";
    case DIALECT_ANTHROPIC: return "anthropic";
    default: return "openai";
    }
}

/* does the comma or JSON list `list` hold `item` (or "*")? */
static int list_has(const char *list, const char *item) {
    if (!list || !item) return 0;
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        while (*p && strchr("[]\", \t", *p)) p++;
        const char *e = p;
        while (*e && !strchr("[]\",", *e)) e++;
        size_t len = (size_t)(e - p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if ((len == 1 && *p == '*') || (len == n && !strncasecmp(p, item, n))) return 1;
        p = e;
    }
    return 0;
}

/* the list as a header value: "GET, POST" from '["GET","POST"]'; "*" from '["*"]' */
static void list_value(const char *list, char *out, size_t cap) {
    size_t o = 0;
    for (const char *p = list; *p && o + 2 < cap; p++) {
        if (strchr("[]\"", *p)) continue;
        if (*p == ',') {
            out[o++] = ',', out[o++] = ' ';
            while (p[1] == ' ') p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
}

/* Starlette's CORSMiddleware (vLLM's) takes "*" in allow_methods as these */
static const char k_all_methods[] = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";
/* the request headers a browser may always send, allowed whatever --allowed-headers says */
static const char k_safelisted[] = "Accept, Accept-Language, Content-Language, Content-Type";

/* every header of the comma list `want` in `allowed` or safelisted (case-insensitive) */
static int headers_allowed(const char *allowed, const char *want) {
    for (const char *p = want; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *e = p + strcspn(p, ",");
        size_t len = (size_t)(e - p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        char h[128];
        if (len >= sizeof h) return 0;
        memcpy(h, p, len), h[len] = 0;
        if (len && !list_has(allowed, h) && !list_has(k_safelisted, h)) return 0;
        p = e;
    }
    return 1;
}

/* A preflight answered as Starlette answers it: 200 "OK" when the origin, the method and every
 * requested header are allowed, else 400 "Disallowed CORS origin, method, headers" (those that
 * failed), with the same Allow-* headers either way. */
static void cors_preflight(Server *s, HttpConn *c, const HttpRequest *r, const char *origin) {
    const CorsOptions *co = &s->opt.cors;
    const char *method = http_header(r, "access-control-request-method");
    const char *want = http_header(r, "access-control-request-headers");
    int all_headers = list_has(co->headers, "*");
    /* with credentials the browser wants the origin itself, never "*" */
    int explicit_origin = !list_has(co->origins, "*") || co->allow_credentials;
    char methods[256], headers[600], failed[64] = "";
    if (list_has(co->methods, "*")) snprintf(methods, sizeof methods, "%s", k_all_methods);
    else list_value(co->methods, methods, sizeof methods);
    http_conn_add_header(c, explicit_origin ? "Vary" : "Access-Control-Allow-Origin", explicit_origin ? "Origin" : "*");
    http_conn_add_header(c, "Access-Control-Allow-Methods", methods);
    http_conn_add_header(c, "Access-Control-Max-Age", "600");
    if (list_has(co->origins, origin)) {
        if (explicit_origin) http_conn_add_header(c, "Access-Control-Allow-Origin", origin);
    } else {
        strcat(failed, ", origin");
    }
    if (!list_has(list_has(co->methods, "*") ? k_all_methods : co->methods, method)) strcat(failed, ", method");
    if (all_headers && want) {
        http_conn_add_header(c, "Access-Control-Allow-Headers", want);
    } else if (!all_headers) {
        size_t k = (size_t)snprintf(headers, sizeof headers, "%s", k_safelisted);
        if (k < sizeof headers && co->headers[strspn(co->headers, "[]\" ,")]) {
            snprintf(headers + k, sizeof headers - k, ", ");
            list_value(co->headers, headers + k + 2, sizeof headers - k - 2);
        }
        http_conn_add_header(c, "Access-Control-Allow-Headers", headers);
        if (want && !headers_allowed(co->headers, want)) strcat(failed, ", headers");
    }
    if (co->allow_credentials) http_conn_add_header(c, "Access-Control-Allow-Credentials", "true");
    if (!failed[0]) {
        http_respond(c, 200, "text/plain; charset=utf-8", "OK", 2, NULL);
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof body, "Disallowed CORS %s", failed + 2);
    HttpAccess *a = http_conn_access(c);
    if (a) snprintf(a->error, sizeof a->error, "%s", body);
    http_respond(c, 400, "text/plain; charset=utf-8", body, (size_t)n, NULL);
}

int api_access_begin(Server *s, HttpConn *c, const HttpRequest *r, Dialect d) {
    HttpAccess *a = http_conn_access(c);
    if (!a) return 0;
    a->dialect = api_dialect_name(d);
    const char *rid = http_header(r, "x-request-id");
    if (rid && *rid && strlen(rid) < sizeof a->request_id && !strpbrk(rid, "\r\n")) {
        snprintf(a->request_id, sizeof a->request_id, "%s", rid);
    } else {
        char id[64];
        api_make_id(s, "req-", id, sizeof id);
        snprintf(a->request_id, sizeof a->request_id, "%s", id);
    }
    http_conn_add_header(c, "X-Request-Id", a->request_id);
    const CorsOptions *co = &s->opt.cors;
    const char *origin = http_header(r, "origin");
    if (!origin) return 0;
    if (r->method == HTTP_OPTIONS && http_header(r, "access-control-request-method")) {
        /* a preflight: answered here, before the API key (browsers send none) */
        cors_preflight(s, c, r, origin);
        return 1;
    }
    if (!list_has(co->origins, origin)) return 0;
    int explicit_origin = !list_has(co->origins, "*") || co->allow_credentials;
    http_conn_add_header(c, "Access-Control-Allow-Origin", explicit_origin ? origin : "*");
    http_conn_add_header(c, "Vary", "Origin");
    if (co->allow_credentials) http_conn_add_header(c, "Access-Control-Allow-Credentials", "true");
    return 0;
}

void api_on_access(void *ud, const HttpAccess *a) {
    Server *s = ud;
    if (!s->opt.access_log) return;
    char ttft[32] = "-", model[200], err[400] = "", json[2048];
    if (a->ttft_s >= 0) snprintf(ttft, sizeof ttft, "%.1f", a->ttft_s * 1000);
    double ms = (a->t_end - a->t_start) * 1000;
    const char *finish = a->finish ? a->finish : a->client_gone ? "client_gone" : "-";
    LogLevel lvl = a->status >= 500 ? LOG_ERROR : a->status >= 400 ? LOG_WARN : LOG_INFO;
    if (log_is_json()) {
        char e1[sizeof a->error * 2], p1[sizeof a->path * 2];
        log_json_escape(a->model, model, sizeof model);
        log_json_escape(a->error, e1, sizeof e1);
        log_json_escape(a->path, p1, sizeof p1);
        snprintf(json, sizeof json,
                 "\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"dialect\":\"%s\",\"model\":\"%s\","
                 "\"request_id\":\"%s\",\"prompt_tokens\":%d,\"output_tokens\":%d,\"ttft_ms\":%s,\"duration_ms\":%.1f,"
                 "\"finish_reason\":\"%s\",\"bytes\":%zu%s%s%s",
                 a->peer, a->method, p1, a->status, a->dialect ? a->dialect : "-", model, a->request_id,
                 a->prompt_tokens, a->output_tokens, a->ttft_s >= 0 ? ttft : "null", ms, finish, a->bytes_out,
                 a->error[0] ? ",\"error\":\"" : "", e1, a->error[0] ? "\"" : "");
        log_record(lvl, "request", json, NULL);
        return;
    }
    if (a->error[0]) snprintf(err, sizeof err, " error=\"%s\"", a->error);
    snprintf(json, sizeof json,
             "%s \"%s %s\" %d %s model=%s id=%s prompt_tokens=%d output_tokens=%d ttft_ms=%s duration_ms=%.1f "
             "finish=%s%s",
             a->peer, a->method, a->path, a->status, a->dialect ? a->dialect : "-", a->model[0] ? a->model : "-",
             a->request_id[0] ? a->request_id : "-", a->prompt_tokens, a->output_tokens, ttft, ms, finish, err);
    log_record(lvl, json, NULL, NULL);
}

void api_access_job(Job *j) {
    HttpAccess *a = j->conn ? http_conn_access(j->conn) : NULL;
    if (!a) return;
    snprintf(a->model, sizeof a->model, "%s", j->model_name ? j->model_name : "");
    int prompt = 0, out = 0;
    double first = 0;
    for (int i = 0; i < j->n_prompts; i++) prompt += j->prompt_lens[i];
    for (int i = 0; i < j->n_choices; i++) {
        const Choice *ch = &j->choices[i];
        out += ch->n_output;
        if (ch->t_first_token > 0 && (first == 0 || ch->t_first_token < first)) first = ch->t_first_token;
        if (ch->done && !a->finish) a->finish = finish_reason_openai(ch->finish);
    }
    a->prompt_tokens = prompt, a->output_tokens = out;
    a->ttft_s = first > 0 ? first - j->t_arrival : -1;
}
