/* Terminal input of `piston run`: line editing and history through libedit (BSD editline,
 * from Debian) on a terminal, plain lines otherwise; `"""` opens and closes multi-line input
 * as in Ollama; Ctrl-C clears the line at the prompt (a second at an empty prompt quits) and
 * stops a reply while one streams; keys typed during a reply are not echoed into it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/chat.h"

/* set by the SIGINT handler: process-wide by nature (a signal is the process's) */
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

void chat_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    rl_catch_signals = 0;
}

int chat_interrupted(void) { return g_interrupted != 0; }
void chat_clear_interrupt(void) { g_interrupted = 0; }

int chat_term_width(void) {
    struct winsize w;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 10 ? w.ws_col : 80;
}

/* one line without its newline: readline on a terminal, getline otherwise. NULL: end of
 * input, or Ctrl-C (chat_interrupted() says which). */
static char *read_line(Chat *c, const char *prompt) {
    if (c->tty) return readline(prompt);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

static int append(char **buf, size_t *len, const char *s) {
    size_t n = strlen(s);
    char *b = realloc(*buf, *len + n + 2);
    if (!b) return -1;
    memcpy(b + *len, s, n);
    *len += n;
    b[*len] = 0;
    *buf = b;
    return 0;
}

int chat_read(Chat *c, char **out) {
    *out = NULL;
    for (int empty_ctrl_c = 0;;) {
        chat_clear_interrupt();
        char *line = read_line(c, ">>> ");
        if (!line) {
            if (!chat_interrupted()) return -1; /* Ctrl-D */
            if (c->tty) fputc('\n', stdout);
            /* Ctrl-C: clears the line; at an empty one a second quits, as Ollama's */
            if (empty_ctrl_c++) return -1;
            if (c->tty) fputs("Use Ctrl + d or /bye to exit.\n", stdout);
            continue;
        }
        if (!line[0]) {
            free(line);
            continue;
        }
        if (strncmp(line, "\"\"\"", 3) != 0) {
            if (c->tty && c->history) add_history(line);
            *out = line;
            return 1;
        }
        /* multi-line: from after the opening """ to before the closing one */
        char *buf = NULL;
        size_t len = 0;
        const char *rest = line + 3;
        for (;;) {
            const char *close = strstr(rest, "\"\"\"");
            if (close) {
                char *part = strndup(rest, (size_t)(close - rest));
                if (!part || append(&buf, &len, part)) free(buf), buf = NULL;
                free(part);
                break;
            }
            if (append(&buf, &len, rest) || append(&buf, &len, "\n")) break;
            char *next = read_line(c, "... ");
            if (!next) { /* Ctrl-C or Ctrl-D inside: drop the block */
                free(buf), buf = NULL;
                if (c->tty) fputc('\n', stdout);
                break;
            }
            free(line);
            line = next, rest = line;
        }
        free(line);
        if (!buf) return chat_interrupted() ? 0 : -1;
        if (c->tty && c->history) add_history(buf);
        *out = buf;
        return 1;
    }
}

/* one saved terminal state at a time: the chat runs in the one process */
static struct termios g_saved;
static int g_saved_ok;

void chat_echo_off(Chat *c) {
    if (!c->tty || tcgetattr(STDIN_FILENO, &g_saved) != 0) return;
    struct termios t = g_saved;
    t.c_lflag &= ~(tcflag_t)(ECHO | ICANON); /* ISIG stays: Ctrl-C still stops the reply */
    g_saved_ok = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

void chat_echo_on(Chat *c) {
    if (!c->tty || !g_saved_ok) return;
    tcflush(STDIN_FILENO, TCIFLUSH); /* what was typed during the reply goes nowhere */
    tcsetattr(STDIN_FILENO, TCSANOW, &g_saved);
    g_saved_ok = 0;
}
