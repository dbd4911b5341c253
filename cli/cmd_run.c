/* `piston run MODEL`: an interactive chat in the terminal, like `ollama run`. Each turn the
 * whole conversation is rendered with the chat template, tokenized and sent to the Engine as
 * one request; the prefix cache finds the blocks of the turns before, so a long conversation
 * is not recomputed every turn. Commands: /bye (or Ctrl-D) quits, /clear forgets the conversation,
 * /? helps. Sampling defaults are Ollama's (temperature 0.8, top-k 40, top-p 0.9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: piston run MODEL [--temperature T] [--top-k K] [--top-p P] [--min-p M] [--seed S]\n"
    "         [--repetition-penalty R] [-n MAX_TOKENS_PER_REPLY] [--threads N] [--max-model-len N]\n"
    "         [--chat-template chatml|llama3|llama2|mistral|zephyr]\n"
    "In the chat: /bye or Ctrl-D to quit, /clear to start over, /? for help.\n";

typedef struct Chat {
    ChatMessage *msgs;
    int n, cap;
    int turns;
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

typedef struct Reply {
    char *text;
    size_t len, cap;
} Reply;

static int on_output(void *ctx, const EngineOutput *o) {
    Reply *r = ctx;
    fwrite(o->text, 1, o->text_len, stdout);
    fflush(stdout);
    if (r->len + o->text_len + 1 > r->cap) {
        size_t cap = 2 * (r->len + o->text_len + 1);
        char *t = realloc(r->text, cap);
        if (!t) return -1;
        r->text = t, r->cap = cap;
    }
    memcpy(r->text + r->len, o->text, o->text_len);
    r->len += o->text_len;
    r->text[r->len] = 0;
    return 0;
}

static int reply(Engine *e, Chat *c, const SamplingParams *sp, int n_predict, char *err, size_t errlen, char **text) {
    const ChatTemplate *tpl = engine_chat_template(e, NULL);
    char *prompt;
    if (chat_template_apply(tpl, c->msgs, c->n, 1, &prompt, err, errlen)) return -1;
    int32_t *ids;
    /* a template that writes BOS itself must not get a second one from the tokenizer */
    int n = tokenizer_encode_alloc(engine_tokenizer(e), prompt, strlen(prompt), tpl->bos_text == NULL, 1, &ids);
    free(prompt);
    if (n < 0) return snprintf(err, errlen, "could not tokenize the conversation"), -1;
    int rc = -1;
    Reply r = {malloc(256), 0, 256};
    if (!r.text) goto done;
    r.text[0] = 0;
    if (n >= engine_max_model_len(e)) {
        snprintf(err, errlen, "the conversation (%d tokens) no longer fits the context (%d); /clear to start over", n,
                 engine_max_model_len(e));
        goto done;
    }
    RequestParams p;
    request_params_default(&p);
    p.sampling = *sp;
    if (p.sampling.has_seed) p.sampling.seed += (uint64_t)c->turns; /* reproducible, yet not the same each turn */
    p.max_tokens = n_predict;
    if (cli_engine_run(e, ids, n, &p, on_output, &r, err, errlen)) goto done;
    c->turns++;
    *text = r.text;
    r.text = NULL;
    rc = 0;
done:
    free(r.text);
    free(ids);
    return rc;
}

int cmd_run(int argc, char **argv) {
    /* Ollama's defaults, unless the user sets them */
    int has_t = 0, has_k = 0, has_p = 0, has_n = 0;
    for (int i = 0; i < argc; i++) { /* --flag or --flag=value */
        const char *f = argv[i];
        size_t n = strcspn(f, "=");
        has_t |= (n == 13 && !strncmp(f, "--temperature", n)) || (n == 6 && !strncmp(f, "--temp", n));
        has_k |= n == 7 && !strncmp(f, "--top-k", n);
        has_p |= n == 7 && !strncmp(f, "--top-p", n);
        has_n |= (n == 2 && !strncmp(f, "-n", n)) || (n == 11 && !strncmp(f, "--n-predict", n)) ||
                 (n == 12 && !strncmp(f, "--max-tokens", n));
    }
    CliArgs a;
    int prc = cli_parse(argc, argv, &a, usage, CLI_RUN);
    if (prc) return prc < 0;
    if (!has_t) a.sampling.temperature = 0.8f;
    if (!has_k) a.sampling.top_k = 40;
    if (!has_p) a.sampling.top_p = 0.9f;
    if (!has_n) a.n_predict = 2048;
    char err[512];
    Engine *s;
    if (cli_engine_create(&a, &s)) return 1;
    const char *why = NULL;
    const ChatTemplate *tpl = engine_chat_template(s, &why);
    if (!tpl) {
        cli_error("%s", why);
        engine_destroy(s);
        return 1;
    }
    int tty = isatty(0);
    if (tty) fprintf(stderr, "%s (%s) ready. /bye to quit, /clear to start over, /? for help.\n",
                     engine_model_config(s)->name, chat_template_kind_name(tpl->kind));
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
        if (chat_push(&c, "user", line) || reply(s, &c, &a.sampling, a.n_predict, err, sizeof err, &text)) {
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
    engine_destroy(s);
    return rc;
}
