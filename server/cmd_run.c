/* `piston run MODEL`: an interactive chat in the terminal, like `ollama run`. Each turn the
 * whole conversation is rendered with the chat template and tokenized; only the tokens past
 * the longest prefix already in the KV cache are evaluated, so a long conversation is not
 * recomputed every turn. Commands: /bye (or Ctrl-D) quits, /clear forgets the conversation,
 * /? helps. Sampling defaults are Ollama's (temperature 0.8, top-k 40, top-p 0.9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cli.h"

static const char usage[] =
    "usage: piston run MODEL [--temperature T] [--top-k K] [--top-p P] [--min-p M] [--seed S]\n"
    "         [--repetition-penalty R] [-n MAX_TOKENS_PER_REPLY] [--threads N] [--max-model-len N]\n"
    "         [--chat-template chatml|llama3|llama2|mistral|zephyr]\n"
    "In the chat: /bye or Ctrl-D to quit, /clear to start over, /? for help.\n";

typedef struct Chat {
    ChatMessage *msgs;
    int n, cap;
    int32_t *cached; /* tokens in the KV cache, in order */
    int n_cached;
} Chat;

static int chat_push(Chat *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        ChatMessage *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->msgs = m, c->cap = cap;
    }
    c->msgs[c->n].role = role;
    c->msgs[c->n].content = strdup(content);
    return c->msgs[c->n++].content ? 0 : -1;
}

static void chat_clear(Chat *c) {
    for (int i = 0; i < c->n; i++) free((char *)c->msgs[i].content);
    c->n = 0;
}

/* Bring the cache to `ids`: keep the common prefix, evaluate the rest (at least one token,
 * so that s->logits belong to the last id). */
static int sync_cache(Session *s, Chat *c, const int32_t *ids, int n, char *err, size_t errlen) {
    int p = 0;
    while (p < n && p < c->n_cached && p < s->n_past && ids[p] == c->cached[p]) p++;
    if (p == n) p = n - 1;
    session_truncate(s, p);
    if (session_eval(s, ids + p, n - p, err, errlen)) return -1;
    int32_t *nc = realloc(c->cached, (size_t)s->tm.max_model_len * sizeof *nc);
    if (!nc) return -1;
    c->cached = nc;
    memcpy(c->cached, ids, (size_t)n * sizeof *ids);
    c->n_cached = n;
    return 0;
}

static int reply(Session *s, Chat *c, Sampler *smp, int n_predict, char *err, size_t errlen, char **text) {
    char *prompt;
    if (chat_template_apply(&s->tm.chat, c->msgs, c->n, 1, &prompt, err, errlen)) return -1;
    int32_t *ids;
    /* a template that writes BOS itself must not get a second one from the tokenizer */
    int n = session_tokenize(s, prompt, s->tm.chat.bos_text == NULL, 1, &ids, err, errlen);
    free(prompt);
    if (n < 0) return -1;
    int rc = -1;
    size_t tcap = 1024, tlen = 0;
    *text = malloc(tcap);
    int32_t *out = malloc(((size_t)n_predict + 1) * sizeof *out);
    if (!*text || !out) goto done;
    if (n >= s->tm.max_model_len) {
        snprintf(err, errlen, "the conversation (%d tokens) no longer fits the context (%d); /clear to start over", n,
                 s->tm.max_model_len);
        goto done;
    }
    if (sync_cache(s, c, ids, n, err, errlen)) goto done;
    Detok d;
    detok_init(&d);
    char buf[256];
    int n_out = 0;
    while (n_out < n_predict && s->n_past < s->tm.max_model_len) {
        int32_t id = sampler_sample(smp, s->logits, ids, n, out, n_out, NULL);
        out[n_out++] = id;
        if (tokenizer_is_eog(s->tm.tok, id)) break;
        size_t nb = detok_push(s->tm.tok, &d, id, buf, sizeof buf);
        fwrite(buf, 1, nb, stdout);
        fflush(stdout);
        if (tlen + nb + 1 > tcap) *text = realloc(*text, tcap = 2 * (tlen + nb + 1));
        memcpy(*text + tlen, buf, nb);
        tlen += nb;
        if (session_eval(s, &id, 1, err, errlen)) goto done;
        c->cached[c->n_cached++] = id;
    }
    size_t nb = detok_flush(&d, buf, sizeof buf);
    fwrite(buf, 1, nb, stdout);
    if (tlen + nb + 1 > tcap) *text = realloc(*text, tcap = tlen + nb + 1);
    memcpy(*text + tlen, buf, nb);
    (*text)[tlen + nb] = 0;
    rc = 0;
done:
    free(ids);
    free(out);
    return rc;
}

int cmd_run(int argc, char **argv) {
    /* Ollama's defaults, unless the user sets them */
    int has_t = 0, has_k = 0, has_p = 0, has_n = 0;
    for (int i = 0; i < argc; i++) {
        has_t |= !strcmp(argv[i], "--temperature") || !strcmp(argv[i], "--temp");
        has_k |= !strcmp(argv[i], "--top-k");
        has_p |= !strcmp(argv[i], "--top-p");
        has_n |= !strcmp(argv[i], "-n") || !strcmp(argv[i], "--n-predict") || !strcmp(argv[i], "--max-tokens");
    }
    CliArgs a;
    if (cli_parse(argc, argv, &a, usage)) return 1;
    if (!has_t) a.sampling.temperature = 0.8f;
    if (!has_k) a.sampling.top_k = 40;
    if (!has_p) a.sampling.top_p = 0.9f;
    if (!has_n) a.n_predict = 2048;
    if (a.session.max_model_len <= 0) a.session.max_model_len = 4096;
    char err[512];
    Session *s;
    if (session_create(a.model_path, &a.session, &s, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    if (!s->tm.has_chat) {
        cli_error("%s", s->tm.chat_err);
        session_destroy(s);
        return 1;
    }
    if (a.session.max_model_len > s->tm.model->cfg.context_len) a.session.max_model_len = s->tm.model->cfg.context_len;
    Sampler smp;
    if (sampler_init(&smp, &a.sampling, s->tm.model->cfg.vocab_size)) {
        cli_error("out of memory");
        session_destroy(s);
        return 1;
    }
    int tty = isatty(0);
    if (tty) fprintf(stderr, "%s (%s) ready. /bye to quit, /clear to start over, /? for help.\n", s->tm.model->cfg.name,
                     chat_template_kind_name(s->tm.chat.kind));
    Chat c = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    for (;;) {
        if (tty) fputs(">>> ", stdout), fflush(stdout);
        if ((len = getline(&line, &cap, stdin)) < 0) break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (!strcmp(line, "/bye") || !strcmp(line, "/exit")) break;
        if (!strcmp(line, "/clear")) {
            chat_clear(&c);
            if (tty) fputs("Cleared the conversation.\n", stdout);
            continue;
        }
        if (!strcmp(line, "/?") || !strcmp(line, "/help")) {
            fputs("/bye quit   /clear forget the conversation   /? this help\n", stdout);
            continue;
        }
        char *text = NULL;
        if (chat_push(&c, "user", line) || reply(s, &c, &smp, a.n_predict, err,
                                                 sizeof err, &text)) {
            cli_error("%s", err);
            free(text);
            c.n > 0 ? (free((char *)c.msgs[--c.n].content), 0) : 0;
            if (!tty) {
                rc = 1;
                break;
            }
            continue;
        }
        fputs("\n\n", stdout);
        fflush(stdout);
        chat_push(&c, "assistant", text);
        free(text);
    }
    free(line);
    chat_clear(&c);
    free(c.msgs);
    free(c.cached);
    sampler_free(&smp);
    session_destroy(s);
    return rc;
}
