/* Helpers every API dialect uses: errors in each dialect's shape, typed JSON fields with
 * messages that name the field, chat rendering, length checks in vLLM's words, ids, times, token texts. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/hash.h"
#include "server/api_common.h"

void api_iso_time(char *out, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%09ldZ", b, ts.tv_nsec);
}

void api_make_id(Server *s, const char *prefix, char *out, size_t n) {
    uint64_t a = hash_splitmix64(&s->rng), b = hash_splitmix64(&s->rng);
    snprintf(out, n, "%s%016llx%016llx", prefix, (unsigned long long)a, (unsigned long long)b);
}

void api_default_seed(Server *s, InMsg *m) {
    if (m->params.sampling.has_seed || !s->opt.has_seed) return;
    uint64_t x = s->opt.seed ^ (s->next_id++ * 0x2545f4914f6cdd1dULL);
    m->params.sampling.seed = hash_splitmix64(&x);
    m->params.sampling.has_seed = 1;
}

const char *finish_reason_openai(FinishReason f) {
    switch (f) {
    case FINISH_STOP: return "stop";
    case FINISH_LENGTH: return "length";
    case FINISH_ABORT: return "abort";
    default: return NULL;
    }
}

static const char *openai_error_type(int status) {
    switch (status) {
    case 400: case 413: case 431: return "BadRequestError";
    case 401: return "AuthenticationError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 429: return "RateLimitError";
    case 503: return "ServiceUnavailableError";
    default: return "InternalServerError";
    }
}

static const char *tgi_error_type(int status) {
    switch (status) {
    case 401: return "authentication";
    case 404: return "not_found";
    case 429: case 503: return "overloaded";
    case 500: return "incomplete_generation";
    default: return "validation";
    }
}

static const char *anthropic_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return status < 500 ? "invalid_request_error" : "api_error";
    }
}

/* The field an error message is about, when it names one the way the dialects' messages do:
 * "'temperature' must be ...", "messages[2]: ...", "The model `x` does not exist." Else "". */
static void param_of(const char *msg, char *out, size_t n) {
    const char *e;
    out[0] = 0;
    if (msg[0] == '\'' && (e = strchr(msg + 1, '\'')) && e - msg - 1 < (long)n && e > msg + 1) {
        snprintf(out, n, "%.*s", (int)(e - msg - 1), msg + 1);
        for (char *c = out; *c; c++)
            if (!(*c == '_' || *c == '.' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
                out[0] = 0; /* not a field name */
    } else if (!strncmp(msg, "messages[", 9)) {
        snprintf(out, n, "messages");
    } else if (!strncmp(msg, "The model `", 11)) {
        snprintf(out, n, "model");
    }
}

cJSON *api_error_body(Dialect d, int status, const char *param, const char *raw_msg) {
    /* the message may quote the request (a model name, a path): never invalid UTF-8 in JSON */
    char *clean = api_utf8_sanitize(raw_msg, strlen(raw_msg)), derived[64];
    const char *msg = clean ? clean : "(an error message that could not be written)";
    if (d == DIALECT_OPENAI && !param) {
        param_of(msg, derived, sizeof derived);
        if (derived[0]) param = derived;
    }
    cJSON *j = cJSON_CreateObject();
    if (d == DIALECT_ANTHROPIC) { /* {"type": "error", "error": {"type", "message"}} */
        cJSON_AddStringToObject(j, "type", "error");
        cJSON *e = cJSON_AddObjectToObject(j, "error");
        cJSON_AddStringToObject(e, "type", anthropic_error_type(status));
        cJSON_AddStringToObject(e, "message", msg);
    } else if (d == DIALECT_OPENAI) {
        cJSON *e = cJSON_AddObjectToObject(j, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", openai_error_type(status));
        if (param) cJSON_AddStringToObject(e, "param", param);
        else cJSON_AddNullToObject(e, "param");
        cJSON_AddNumberToObject(e, "code", status);
    } else {
        cJSON_AddStringToObject(j, "error", msg);
        if (d == DIALECT_TGI) cJSON_AddStringToObject(j, "error_type", tgi_error_type(status));
    }
    free(clean);
    return j;
}

void api_send_json(HttpConn *c, int status, cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s) {
        http_respond(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25, NULL);
        return;
    }
    const char *extra = status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
    http_respond(c, status, "application/json", s, strlen(s), extra);
    free(s);
}

void api_error(HttpConn *c, Dialect d, int status, const char *param, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    HttpAccess *a = http_conn_access(c);
    if (a && !a->error[0]) {
        char *clean = api_utf8_sanitize(msg, strlen(msg));
        snprintf(a->error, sizeof a->error, "%.255s", clean ? clean : "?");
        free(clean);
    }
    api_send_json(c, status, api_error_body(d, status, param, msg));
}

/* ---- typed optional fields ---- */

static const cJSON *field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int json_opt_float(const cJSON *o, const char *key, float lo, float hi, float *out, char *err, size_t n) {
    const cJSON *v = field(o, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return err_set(err, n, -EINVAL, "'%s' must be a number", key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return err_set(err, n, -EINVAL, "'%s' must be in [%g, %g], got %g", key, lo, hi, v->valuedouble);
    *out = (float)v->valuedouble;
    return 0;
}

int json_opt_int(const cJSON *o, const char *key, long lo, long hi, int *out, char *err, size_t n) {
    const cJSON *v = field(o, key);
    if (!v) return 0;
    /* floor, not a cast to an integer type: casting 1e40 is undefined behaviour */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return err_set(err, n, -EINVAL, "'%s' must be an integer", key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return err_set(err, n, -EINVAL, "'%s' must be in [%ld, %ld], got %.0f", key, lo, hi, v->valuedouble);
    *out = (int)v->valuedouble;
    return 0;
}

int json_opt_bool(const cJSON *o, const char *key, int *out, char *err, size_t n) {
    const cJSON *v = field(o, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return err_set(err, n, -EINVAL, "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int json_opt_u64(const cJSON *o, const char *key, uint64_t *out, int *has, char *err, size_t n) {
    const cJSON *v = field(o, key);
    if (!v) return 0;
    /* doubles hold integers exactly up to 2^53; larger seeds are still accepted, rounded */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < -9.2e18 ||
        v->valuedouble >= 18446744073709551616.0) /* 2^64: past it the casts below are undefined */
        return err_set(err, n, -EINVAL, "'%s' must be an integer", key);
    *out = v->valuedouble < 0 ? (uint64_t)(int64_t)v->valuedouble : (uint64_t)v->valuedouble;
    *has = 1;
    return 0;
}

static int add_stop(InMsg *m, const char *s, char *err, size_t n) {
    if (!*s) return 0; /* an empty stop string would end every request at once: ignored, as vLLM does */
    if (m->params.n_stop >= ENGINE_MAX_STOP)
        return err_set(err, n, -EINVAL, "at most %d stop strings", ENGINE_MAX_STOP);
    char *c = strdup(s);
    if (!c) return err_set(err, n, -ENOMEM, "out of memory");
    m->stops[m->params.n_stop] = c;
    m->params.stop[m->params.n_stop++] = c;
    return 0;
}

int json_opt_stop(const cJSON *o, const char *key, InMsg *m, char *err, size_t n) {
    const cJSON *v = field(o, key);
    if (!v) return 0;
    if (cJSON_IsString(v)) return add_stop(m, v->valuestring, err, n);
    if (!cJSON_IsArray(v)) return err_set(err, n, -EINVAL, "'%s' must be a string or a list of strings", key);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return err_set(err, n, -EINVAL, "'%s' must be a string or a list of strings", key);
        int rc = add_stop(m, e->valuestring, err, n);
        if (rc < 0) return rc;
    }
    return 0;
}

int json_opt_stop_ids(const cJSON *o, const char *key, InMsg *m, char *err, size_t n) {
    const cJSON *v = field(o, key);
    if (!v) return 0;
    if (!cJSON_IsArray(v)) return err_set(err, n, -EINVAL, "'%s' must be a list of token ids", key);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= INT32_MAX) ||
            e->valuedouble != (int32_t)e->valuedouble)
            return err_set(err, n, -EINVAL, "'%s' must be a list of token ids", key);
        if (m->params.n_stop_token_ids >= ENGINE_MAX_STOP)
            return err_set(err, n, -EINVAL, "at most %d stop token ids", ENGINE_MAX_STOP);
        m->params.stop_token_ids[m->params.n_stop_token_ids++] = (int32_t)e->valuedouble;
    }
    return 0;
}

/* ---- prompts, lengths ---- */

InMsg *in_msg_new(int n_prompts) {
    InMsg *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->n_prompts = n_prompts;
    m->prompts = calloc((size_t)n_prompts, sizeof *m->prompts);
    m->n_prompt = calloc((size_t)n_prompts, sizeof *m->n_prompt);
    if (!m->prompts || !m->n_prompt) {
        in_msg_free(m);
        return NULL;
    }
    request_params_default(&m->params);
    m->t_arrival = engine_now();
    return m;
}

int api_check_lengths(Server *s, const InMsg *m, int max_tokens, char *err, size_t n) {
    int L = s->model.max_model_len;
    for (int i = 0; i < m->n_prompts; i++) {
        int p = m->n_prompt[i];
        if (p == 0) return err_set(err, n, -EINVAL, "the prompt is empty: it must hold at least one token");
        if (p >= L)
            return err_set(err, n, -EINVAL,
                           "This model's maximum context length is %d tokens. However, your request has %d input "
                           "tokens. Please reduce the length of the input messages.",
                           L, p);
        if (max_tokens > 0 && (int64_t)p + max_tokens > L)
            return err_set(err, n, -EINVAL,
                           "This model's maximum context length is %d tokens. However, you requested %lld tokens "
                           "(%d in the messages, %d in the completion). Please reduce the length of the messages "
                           "or completion.",
                           L, (long long)p + max_tokens, p, max_tokens);
    }
    return 0;
}

int api_n_vocab(const Server *s) { return s->model.tok ? tokenizer_n_vocab(s->model.tok) : s->model.cfg.vocab_size; }

char *api_token_text(const Server *s, int32_t id) {
    size_t n = 0;
    const char *p = tokenizer_piece(s->model.tok, id, &n);
    return api_utf8_sanitize(p, n);
}
