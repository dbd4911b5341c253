/* `piston run MODEL [PROMPT]`: a chat in the terminal, like `ollama run`. With a prompt (or
 * with stdin not a terminal: all of it is the prompt) one answer and exit; without, the chat:
 * line editing and history, `"""` for several lines, Ctrl-C stops a reply and keeps the
 * conversation, Ollama's slash commands (chat_cmds.c). Each turn the whole conversation is
 * rendered with the chat template and sent to the Engine as one request; the prefix cache
 * finds the blocks of the turns before, so a long conversation is not recomputed. Sampling
 * defaults are Ollama's (temperature 0.8, top-k 40, top-p 0.9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/chat.h"

static const char usage[] = "usage: piston run MODEL [PROMPT...] [flags]\n"
                            "A chat with MODEL in the terminal; with PROMPT (or a piped stdin), one answer.\n"
                            "In the chat: /? for the commands, \"\"\" for several lines, Ctrl-D or /bye to quit.\n";

typedef struct Reply {
    Chat *c;
    char *text;
    size_t len, cap;
    int col, width;        /* word wrap: the column, the terminal's width */
    char word[256];        /* the word being printed (wrap decides where it goes) */
    int wlen, wcols;
    double t_first, t_end;
    int n_out, n_prompt;
} Reply;

static void word_flush(Reply *r) {
    if (!r->wlen) return;
    if (r->c->wordwrap && r->col > 0 && r->col + r->wcols >= r->width) fputc('\n', stdout), r->col = 0;
    fwrite(r->word, 1, (size_t)r->wlen, stdout);
    r->col += r->wcols, r->wlen = r->wcols = 0;
}

/* print with word wrap at the terminal's width: a word moves to the next line whole */
static void print_wrapped(Reply *r, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\n' || ch == ' ' || ch == '\t') {
            word_flush(r);
            if (ch != '\n' && r->col >= r->width) ch = '\n'; /* a space at the edge becomes the break */
            fputc(ch, stdout);
            r->col = ch == '\n' ? 0 : r->col + 1;
            continue;
        }
        if (r->wlen + 1 >= (int)sizeof r->word) word_flush(r);
        r->word[r->wlen++] = ch;
        if (((unsigned char)ch & 0xC0) != 0x80) r->wcols++; /* one column per character */
    }
}

static int on_output(void *ctx, const EngineOutput *o) {
    Reply *r = ctx;
    if (o->n_output_tokens == 1 && o->n_new) r->t_first = o->t_first_token;
    r->n_out = o->n_output_tokens, r->n_prompt = o->n_prompt_tokens, r->t_end = o->t_now;
    if (r->c->wordwrap) print_wrapped(r, o->text, o->text_len);
    else fwrite(o->text, 1, o->text_len, stdout);
    if (o->finish) word_flush(r);
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
    return chat_interrupted() ? 1 : 0; /* Ctrl-C: stop here, keep what was said */
}

/* One turn: render, send, stream. The reply (whole or stopped) joins the conversation. */
static int reply(Chat *c, char *err, size_t errlen) {
    ChatMessage *all = malloc(((size_t)c->n + 1) * sizeof *all);
    if (!all) return snprintf(err, errlen, "out of memory"), -1;
    int k = 0;
    if (c->system) all[k++] = (ChatMessage){.role = "system", .content = c->system};
    memcpy(all + k, c->msgs, (size_t)c->n * sizeof *all);
    ChatPrompt prompt;
    int rc = chat_template_render(c->tpl, all, k + c->n, NULL, 1, &prompt, err, errlen);
    free(all);
    if (rc) return -1;
    int32_t *ids;
    /* what was typed is text: "<|im_end|>" in it stays text, as in the server's chat routes */
    int n = chat_prompt_encode(c->tpl, engine_tokenizer(c->e), &prompt, &ids);
    chat_prompt_free(&prompt);
    if (n < 0) return snprintf(err, errlen, "could not tokenize the conversation"), -1;
    int room = engine_max_model_len(c->e) - n;
    Reply r = {c, calloc(1, 256), 0, 256, 0, chat_term_width(), "", 0, 0, 0, 0, 0, 0};
    rc = -1;
    if (!r.text) goto done;
    if (room <= 0) {
        snprintf(err, errlen, "the conversation (%d tokens) no longer fits the context (%d); /clear to start over", n,
                 engine_max_model_len(c->e));
        goto done;
    }
    RequestParams p;
    request_params_default(&p);
    p.sampling = c->sp;
    if (p.sampling.has_seed) p.sampling.seed += (uint64_t)c->turns; /* reproducible, yet not the same each turn */
    p.max_tokens = c->n_predict < room ? c->n_predict : room;
    p.constraint = c->format; /* the engine takes its own reference */
    for (int i = 0; i < c->n_stops; i++) p.stop[p.n_stop++] = c->stops[i];
    double t0 = engine_now();
    chat_clear_interrupt();
    chat_echo_off(c);
    int run = cli_engine_run(c->e, ids, n, &p, on_output, &r, err, errlen);
    chat_echo_on(c);
    if (run && !chat_interrupted()) goto done;
    c->turns++;
    chat_push(c, "assistant", r.text);
    if (c->verbose && r.n_out > 0) {
        double pe = r.t_first - t0, ev = r.t_end - r.t_first;
        fprintf(stderr, "\n\ntotal duration:       %.3fs\nprompt eval count:    %d token(s)\nprompt eval duration: "
                "%.3fs\nprompt eval rate:     %.2f tokens/s\neval count:           %d token(s)\neval duration:        "
                "%.3fs\neval rate:            %.2f tokens/s",
                r.t_end - t0, r.n_prompt, pe, pe > 0 ? r.n_prompt / pe : 0, r.n_out, ev,
                ev > 0 ? (r.n_out - 1) / ev : 0);
    }
    rc = 0;
done:
    free(r.text);
    free(ids);
    return rc;
}

/* grow *s to hold need bytes; 0, or -1 (s freed) */
static int reserve(char **s, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    while (*cap < need) *cap *= 2;
    char *t = realloc(*s, *cap);
    if (!t) return free(*s), *s = NULL, -1;
    *s = t;
    return 0;
}

/* the prompt of a one-shot run: the PROMPT words, then (after a blank line) what a pipe
 * brings on stdin, as `echo text | ollama run m "summarize:"` */
static char *one_shot_prompt(const CliArgs *a, int piped) {
    size_t len = 0, cap = 256;
    char *s = malloc(cap);
    for (int i = 0; s && i < a->n_pos; i++) {
        size_t n = strlen(a->pos[i]);
        if (reserve(&s, &cap, len + n + 2)) return NULL;
        if (i) s[len++] = ' ';
        memcpy(s + len, a->pos[i], n), len += n;
    }
    if (s && piped && len && reserve(&s, &cap, len + 3) == 0) s[len++] = '\n', s[len++] = '\n';
    for (int ch; s && piped && (ch = getchar()) != EOF;) {
        if (reserve(&s, &cap, len + 2)) return NULL;
        s[len++] = (char)ch;
    }
    if (!s) return NULL;
    while (len && (s[len - 1] == '\n' || s[len - 1] == ' ')) len--;
    s[len] = 0;
    return s;
}

int cmd_run(int argc, char **argv) {
    CliArgs a;
    int prc = cli_parse(argc, argv, &a, usage, CLI_RUN); /* with Ollama's sampling defaults */
    if (prc) return prc < 0;
    Chat c = {0};
    c.sp = a.sampling;
    c.n_predict = a.n_predict;
    c.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    c.wordwrap = c.tty, c.history = 1;
    char *once = a.n_pos > 0 || !isatty(STDIN_FILENO) ? one_shot_prompt(&a, !isatty(STDIN_FILENO)) : NULL;
    if (cli_engine_create(&a, &c.e)) return 1;
    gen_defaults_apply(&c.sp, engine_sampling_defaults(c.e), a.sampling_given); /* the model's over Ollama's */
    const char *why = NULL;
    c.tpl = engine_chat_template(c.e, &why);
    int rc = 0;
    char err[512];
    if (!c.tpl) {
        cli_error("%s", why);
        rc = 1;
    } else if (once) { /* ollama run MODEL "prompt" */
        c.tty = 0;
        if (chat_push(&c, "user", once) || reply(&c, err, sizeof err)) cli_error("%s", err), rc = 1;
        else fputc('\n', stdout);
    } else {
        chat_signals_install();
        fprintf(stderr, "%s (%s) ready. /? for help, Ctrl-D or /bye to quit.\n", engine_model_config(c.e)->name,
                chat_template_kind_name(c.tpl->kind));
        for (char *line; chat_read(&c, &line) >= 0;) {
            if (!line) continue; /* Ctrl-C at the prompt */
            int cmd = chat_command(&c, line);
            if (cmd < 0) {
                free(line);
                break;
            }
            if (cmd == 0 && (chat_push(&c, "user", line) || reply(&c, err, sizeof err))) {
                cli_error("%s", err);
                if (c.n > 0) free((char *)c.msgs[--c.n].content); /* the turn that failed goes */
            } else if (cmd == 0) {
                fputs("\n\n", stdout);
            }
            fflush(stdout);
            free(line);
        }
    }
    free(once);
    chat_reset(&c);
    free(c.msgs);
    free(c.system);
    for (int i = 0; i < c.n_stops; i++) free(c.stops[i]);
    if (c.format) constraint_unref(c.format);
    engine_destroy(c.e);
    return rc;
}
