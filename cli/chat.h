/* `piston run`'s chat, shared by its files: the conversation and its settings (cmd_run.c
 * drives it), terminal input with line editing, history, multi-line and Ctrl-C
 * (chat_input.c), and the slash commands Ollama's `run` has (chat_cmds.c). Private to cli/. */
#ifndef PISTON_CLI_CHAT_H
#define PISTON_CLI_CHAT_H

#include <signal.h>

#include "cli/cli.h"

typedef struct Chat {
    Engine *e;
    const ChatTemplate *tpl;
    ChatMessage *msgs; /* the conversation (the system message is apart: it goes first at each turn) */
    int n, cap;
    char *system;      /* /set system */
    SamplingParams sp;
    int n_predict;     /* the reply limit */
    char *stops[ENGINE_MAX_STOP]; /* /set parameter stop */
    int n_stops;
    int verbose;       /* /set verbose: ollama's timings after each reply */
    int wordwrap;      /* wrap replies at the terminal's width (default on a terminal) */
    int history;       /* lines go to the editing history (default on) */
    int turns;
    int tty;           /* stdin and stdout are a terminal */
    Constraint *format; /* /set format json: the replies' constraint, or NULL */
} Chat;

/* ---- chat_input.c ---- */
/* Ctrl-C: a flag the reply loop polls and the prompt reads (no exit) */
void chat_signals_install(void);
int chat_interrupted(void);
void chat_clear_interrupt(void);
/* One input: a line, or the lines between a pair of `"""`. *out is malloc'd. 1: got one;
 * 0: Ctrl-C at the prompt (nothing to send); -1: end of input (Ctrl-D). */
int chat_read(Chat *c, char **out);
/* While a reply streams: keys typed are neither echoed nor kept for the next prompt. */
void chat_echo_off(Chat *c);
void chat_echo_on(Chat *c);
/* The terminal's width in columns (80 when unknown). */
int chat_term_width(void);

/* ---- chat_cmds.c ---- */
/* A line starting with '/': 1 handled, -1 quit (/bye), 0 not a command (send it). */
int chat_command(Chat *c, const char *line);
/* Forget the conversation (the system message stays). */
void chat_reset(Chat *c);
int chat_push(Chat *c, const char *role, const char *content);

/* ---- chat_modelfile.c ---- */
/* /show modelfile: an Ollama Modelfile of the session; /show license: the model's. */
void chat_show_modelfile(const Chat *c);
void chat_show_license(const Chat *c);

#endif
