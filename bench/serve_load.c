/* The load of `bench serve`: requests go out at their arrival times (serve_arrivals), wait
 * for a free slot under --max-concurrency, stream their answers as server-sent events over
 * keep-alive connections, and every chunk is timed when its read completed. All on one libuv
 * loop: a timer for the next arrival, a FIFO of requests that arrived and wait for a slot,
 * a pool of idle connections. Every timestamp is base_now_ns() (base/clock.h, the clock the
 * server and the engine use); libuv's timer only wakes the loop at the next arrival. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "bench/serve.h"

/* uniform doubles in (0, 1) from splitmix64 */
static double unif(uint64_t *s) {
    return ((double)(hash_splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double normal(uint64_t *s) {
    return sqrt(-2.0 * log(unif(s))) * cos(6.283185307179586 * unif(s));
}

/* Marsaglia and Tsang's method; shape < 1 through gamma(shape + 1) * U^(1/shape) */
static double gamma_draw(uint64_t *s, double shape, double scale) {
    if (shape < 1.0) return gamma_draw(s, shape + 1.0, scale) * pow(unif(s), 1.0 / shape);
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = normal(s), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = unif(s);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v * scale;
    }
}

void serve_arrivals(double rate, double burstiness, uint64_t seed, int n, double *at) {
    uint64_t s = seed ^ 0x5eedbe9c4a11ULL;
    double t = 0;
    for (int i = 0; i < n; i++) {
        double gap = isinf(rate) ? 0 : isinf(burstiness) ? 1.0 / rate : gamma_draw(&s, burstiness, 1.0 / (rate * burstiness));
        at[i] = t += gap;
    }
    /* vLLM scales the sum of the draws to n / rate, so that seeds differ in order, not in rate */
    if (n > 0 && !isinf(rate) && at[n - 1] > 0) {
        double k = (n / rate) / at[n - 1];
        for (int i = 0; i < n; i++) at[i] *= k;
    }
}

typedef struct Run Run;

typedef struct Req {
    Run *run;
    int idx;
    HcConn *conn;
    int status;
    int64_t t_start; /* base_now_ns(), as every time here */
    int64_t t_last;  /* the last chunk with text */
    int first;
    char *line;        /* the SSE line being assembled */
    size_t line_len, line_cap;
    char *data;        /* the event's data: lines */
    size_t data_len, data_cap;
    char *errbody;     /* the body of a non-200 answer (its start) */
    size_t err_len, err_cap;
    int done_seen;
} Req;

struct Run {
    const ServeLoad *L;
    const ServePrompt *p;
    ServeOutcome *out;
    int n;
    uv_loop_t loop;
    uv_timer_t arrive;
    int next_arrival;
    double *at;
    int *fifo;          /* arrived, waiting for a slot */
    int fifo_head, fifo_tail;
    int inflight, finished;
    HcConn **idle;
    int n_idle;
    HcConn **all;
    int n_all;
    Req *reqs;
    int64_t t0;
    int64_t t_end;
    double last_bar;
    int bar_width;
    int is_chat;
};

static int grow(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *q = realloc(*p, c);
    if (!q) return -1;
    *p = q, *cap = c;
    return 0;
}

static double secs(int64_t a, int64_t b) { return (double)(b - a) * 1e-9; }

static void bar(Run *r, int final) {
    if (!r->L->progress) return;
    double now = secs(r->t0, base_now_ns());
    if (!final && now - r->last_bar < 0.1) return;
    r->last_bar = now;
    int w = r->bar_width, fill = r->n ? (int)((double)r->finished * w / r->n) : w;
    char b[128];
    for (int i = 0; i < w; i++) b[i] = i < fill ? '#' : ' ';
    b[w] = 0;
    fprintf(stderr, "\r%3d%% |%s| %d/%d [%.1fs, %.2f req/s]%s", r->n ? r->finished * 100 / r->n : 100, b,
            r->finished, r->n, now, now > 0 ? r->finished / now : 0.0, final ? "\n" : "");
    fflush(stderr);
}

/* One SSE event: a completion or chat chunk, a usage chunk, an error, or [DONE]. */
static void on_event(Req *q, const char *data, size_t n, int64_t t) {
    ServeOutcome *o = &q->run->out[q->idx];
    if (n == 6 && !memcmp(data, "[DONE]", 6)) {
        q->done_seen = 1;
        return;
    }
    cJSON *j = cJSON_ParseWithLength(data, n);
    if (!j) return;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (err && !o->error[0]) {
        const cJSON *m = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
        snprintf(o->error, sizeof o->error, "stream error: %s", cJSON_IsString(m) ? m->valuestring : "(no message)");
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
    if (c0) {
        const cJSON *txt;
        if (q->run->is_chat) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(c0, "delta");
            txt = cJSON_GetObjectItemCaseSensitive(d, "content");
            if (!cJSON_IsString(txt) || !*txt->valuestring) txt = cJSON_GetObjectItemCaseSensitive(d, "reasoning_content");
        } else {
            txt = cJSON_GetObjectItemCaseSensitive(c0, "text");
        }
        if (cJSON_IsString(txt) && *txt->valuestring) {
            size_t l = strlen(txt->valuestring);
            if (!grow(&o->text, &o->text_cap, o->text_len + l + 1)) {
                memcpy(o->text + o->text_len, txt->valuestring, l + 1);
                o->text_len += l;
            }
            if (!q->first) {
                q->first = 1;
                o->ttft_s = secs(q->t_start, t);
            } else {
                if (o->n_itl == o->cap_itl) {
                    int c = o->cap_itl ? o->cap_itl * 2 : 64;
                    double *x = realloc(o->itl, (size_t)c * sizeof *x);
                    if (x) o->itl = x, o->cap_itl = c;
                }
                if (o->n_itl < o->cap_itl) o->itl[o->n_itl++] = secs(q->t_last, t);
            }
            q->t_last = t;
            o->text_chunks++;
        }
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *ct = cJSON_IsObject(u) ? cJSON_GetObjectItemCaseSensitive(u, "completion_tokens") : NULL;
    if (cJSON_IsNumber(ct)) o->usage_tokens = ct->valueint;
    cJSON_Delete(j);
}

static void on_status(void *ctx, int status) { ((Req *)ctx)->status = status; }

/* SSE: lines; "data:" lines gather into the event; a blank line ends it; ":" lines are
 * comments (pings). A body that is not SSE (an error's JSON) is kept for the message. */
static void on_body(void *ctx, const char *p, size_t n, int64_t t) {
    Req *q = ctx;
    if (q->status != 200) {
        if (q->err_len < 400 && !grow(&q->errbody, &q->err_cap, 512)) {
            size_t k = n < 400 - q->err_len ? n : 400 - q->err_len;
            memcpy(q->errbody + q->err_len, p, k);
            q->err_len += k;
            q->errbody[q->err_len] = 0;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch != '\n') {
            if (grow(&q->line, &q->line_cap, q->line_len + 2)) return;
            q->line[q->line_len++] = ch;
            continue;
        }
        size_t L = q->line_len;
        if (L && q->line[L - 1] == '\r') L--;
        q->line_len = 0;
        if (L == 0) { /* end of the event */
            if (q->data_len) on_event(q, q->data, q->data_len, t);
            q->data_len = 0;
            continue;
        }
        if (q->line[0] == ':') continue;
        if (L >= 5 && !memcmp(q->line, "data:", 5)) {
            size_t s = 5 + (L > 5 && q->line[5] == ' ');
            if (grow(&q->data, &q->data_cap, q->data_len + (L - s) + 2)) return;
            if (q->data_len) q->data[q->data_len++] = '\n';
            memcpy(q->data + q->data_len, q->line + s, L - s);
            q->data_len += L - s;
        }
    }
}

static void try_start(Run *r);

static void on_done(void *ctx, const char *err, int64_t t) {
    Req *q = ctx;
    Run *r = q->run;
    ServeOutcome *o = &r->out[q->idx];
    if (q->data_len && q->status == 200) on_event(q, q->data, q->data_len, t); /* no final blank line */
    o->latency_s = secs(q->t_start, t);
    if (err) {
        snprintf(o->error, sizeof o->error, "%s", err);
    } else if (q->status != 200) {
        char msg[200] = "";
        cJSON *j = q->errbody ? cJSON_Parse(q->errbody) : NULL;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
        if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "message");
        snprintf(msg, sizeof msg, "%s", cJSON_IsString(m) ? m->valuestring : q->errbody ? q->errbody : "");
        cJSON_Delete(j);
        snprintf(o->error, sizeof o->error, "HTTP %d: %s", q->status, msg);
    } else if (!q->first && !o->error[0]) {
        snprintf(o->error, sizeof o->error, "never received a chunk with text to time the first token");
    }
    o->ok = !o->error[0];
    free(q->line), free(q->data), free(q->errbody);
    q->line = q->data = q->errbody = NULL;
    r->inflight--;
    r->finished++;
    if (err) { /* a connection that failed is not reused */
        for (int i = 0; i < r->n_all; i++)
            if (r->all[i] == q->conn) r->all[i] = r->all[--r->n_all];
        hc_conn_free(q->conn);
    } else {
        r->idle[r->n_idle++] = q->conn;
    }
    q->conn = NULL;
    if (r->finished == r->n) r->t_end = t;
    bar(r, r->finished == r->n);
    try_start(r);
}

static void start_one(Run *r, int idx) {
    Req *q = &r->reqs[idx];
    const ServeLoad *L = r->L;
    ServeOutcome *o = &r->out[idx];
    memset(q, 0, sizeof *q);
    q->run = r, q->idx = idx;
    o->usage_tokens = -1;
    cJSON *b = L->extra_body ? cJSON_Parse(L->extra_body) : cJSON_CreateObject();
    if (!b) b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "model", L->model);
    if (r->is_chat) {
        cJSON *msgs = cJSON_AddArrayToObject(b, "messages"), *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", r->p[idx].text);
        cJSON_AddItemToArray(msgs, m);
    } else {
        cJSON_AddStringToObject(b, "prompt", r->p[idx].text);
    }
    cJSON_AddNumberToObject(b, "max_tokens", r->p[idx].output_len);
    if (L->temperature >= 0) cJSON_AddNumberToObject(b, "temperature", L->temperature);
    if (L->ignore_eos) cJSON_AddBoolToObject(b, "ignore_eos", 1);
    cJSON_AddBoolToObject(b, "stream", 1);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(b, "stream_options"), "include_usage", 1);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    HcConn *c;
    if (r->n_idle) {
        c = r->idle[--r->n_idle];
    } else if ((c = hc_conn_new(&r->loop, L->target))) {
        r->all[r->n_all++] = c; /* at most one per request in flight: n is room enough */
    }
    q->conn = c;
    r->inflight++;
    q->t_start = base_now_ns();
    o->start_s = secs(r->t0, q->t_start);
    HcHandler h = {q, on_status, on_body, on_done};
    if (!c || !body ||
        hc_request(c, "POST", L->endpoint, body, strlen(body), "Accept: text/event-stream\r\n", L->timeout_s, &h)) {
        snprintf(o->error, sizeof o->error, "out of memory");
        r->inflight--, r->finished++;
        if (c) r->idle[r->n_idle++] = c;
    }
    free(body);
}

static void try_start(Run *r) {
    int cap = r->L->max_concurrency;
    while (r->fifo_head < r->fifo_tail && (cap <= 0 || r->inflight < cap)) start_one(r, r->fifo[r->fifo_head++]);
    if (r->finished == r->n) uv_stop(&r->loop);
}

static void on_arrive(uv_timer_t *t) {
    Run *r = t->data;
    double now = secs(r->t0, base_now_ns());
    while (r->next_arrival < r->n && r->at[r->next_arrival] <= now + 1e-4) r->fifo[r->fifo_tail++] = r->next_arrival++;
    try_start(r);
    if (r->next_arrival < r->n) {
        double wait = r->at[r->next_arrival] - secs(r->t0, base_now_ns());
        uv_timer_start(&r->arrive, on_arrive, wait > 0 ? (uint64_t)(wait * 1000.0) : 0, 0);
    }
}

static void raise_fd_limit(int need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need + 64 ? rl.rlim_max : (rlim_t)need + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int serve_load_run(const ServeLoad *L, const ServePrompt *p, int n, ServeOutcome *out, double *duration_s,
                   char *err, size_t errlen) {
    memset(out, 0, (size_t)n * sizeof *out);
    *duration_s = 0;
    if (n == 0) return 0;
    Run r = {0};
    r.L = L, r.p = p, r.out = out, r.n = n;
    r.is_chat = strstr(L->endpoint, "chat") != NULL;
    r.bar_width = 30;
    r.at = malloc((size_t)n * sizeof *r.at);
    r.fifo = malloc((size_t)n * sizeof *r.fifo);
    r.reqs = calloc((size_t)n, sizeof *r.reqs);
    r.idle = malloc((size_t)n * sizeof *r.idle);
    r.all = malloc((size_t)n * sizeof *r.all);
    if (!r.at || !r.fifo || !r.reqs || !r.idle || !r.all || uv_loop_init(&r.loop)) {
        free(r.at), free(r.fifo), free(r.reqs), free(r.idle), free(r.all);
        return err_set(err, errlen, -ENOMEM, "out of memory for %d requests", n);
    }
    raise_fd_limit(L->max_concurrency > 0 && L->max_concurrency < n ? L->max_concurrency : n);
    serve_arrivals(L->request_rate, L->burstiness, L->seed, n, r.at);
    uv_timer_init(&r.loop, &r.arrive);
    r.arrive.data = &r;
    r.t0 = base_now_ns();
    r.last_bar = -1;
    bar(&r, 0);
    on_arrive(&r.arrive);
    if (r.finished < n) uv_run(&r.loop, UV_RUN_DEFAULT);
    if (!r.t_end) r.t_end = base_now_ns();
    *duration_s = secs(r.t0, r.t_end);
    uv_timer_stop(&r.arrive);
    uv_close((uv_handle_t *)&r.arrive, NULL);
    for (int i = 0; i < r.n_all; i++) hc_conn_free(r.all[i]);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    free(r.at), free(r.fifo), free(r.reqs), free(r.idle), free(r.all);
    return 0;
}

void serve_outcomes_free(ServeOutcome *o, int n) {
    for (int i = 0; o && i < n; i++) free(o[i].itl), free(o[i].text);
    free(o);
}
