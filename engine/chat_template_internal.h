/* Shared by the chat template renderers (chat_template.c, chat_template_tools.c). */
#ifndef PISTON_CHAT_TEMPLATE_INTERNAL_H
#define PISTON_CHAT_TEMPLATE_INTERNAL_H

#include <stddef.h>

#include "engine/chat_template.h"

/* The span of s without its leading and trailing white space, as Python's strip() (Jinja's
 * trim) removes it: [*start, *end). */
void chat_trim_span(const char *s, size_t *start, size_t *end);

/* The plain (message) spans of a prompt being rendered; oom is sticky. */
typedef struct ChatSpans {
    TokSpan *v;
    int n, cap;
    int oom;
} ChatSpans;
/* Mark [start, end) as message text (joined with the last span when they touch). */
void chat_spans_mark(ChatSpans *s, size_t start, size_t end);

/* Message text (put_text, put_json: as json.dumps) onto b, marked plain in sp (NULL: none);
 * chat_template_tools.c. */
struct PyBuf;
void chat_put_text(struct PyBuf *b, ChatSpans *sp, const char *s);
void chat_put_json(struct PyBuf *b, ChatSpans *sp, const cJSON *v, int indent);
/* m's calls as ChatML's <tool_call> blocks, "\n" between them (and before the first when
 * newline_first); chat_template_chatml.c. */
void chat_put_tool_calls(struct PyBuf *b, ChatSpans *sp, const ChatMessage *m, int newline_first);

/* The ChatML variants with tools of their own (chat_template_chatml.c, chat_template_hermes.c), into b. */
int chat_render_qwen3(const ChatMessage *m, int n, const cJSON *tools, int gen, struct PyBuf *b, ChatSpans *sp,
                      char *err, size_t errlen);
int chat_render_hermes(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, int gen,
                       struct PyBuf *b, ChatSpans *sp, char *err, size_t errlen);
int chat_render_smollm3(const ChatMessage *m, int n, int gen, struct PyBuf *b, ChatSpans *sp);

/* Mistral-Nemo's (chat_template_nemo.c) and Mistral's [TOOL_CALLS]name[ARGS] templates
 * (chat_template_mistral.c), into b. */
int chat_render_nemo(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, struct PyBuf *b,
                     ChatSpans *sp, char *err, size_t errlen);
int chat_render_mistral_args(const ChatTemplate *ct, const ChatMessage *m, int n, const cJSON *tools, struct PyBuf *b,
                             ChatSpans *sp, char *err, size_t errlen);
/* The flavor is one chat_render_mistral_args writes. */
int chat_flavor_mistral_args(ChatFlavor f);
/* The value of the template's `set default_system_message = ...`: Jinja string literals
 * joined by +, where a name the template set to strftime_now("...") is today's date in that
 * format; malloc'd, or NULL when the template has none or writes it some other way. */
char *chat_mistral_default_system(const char *src);

/* The renderers: text into *out, spans into *sp (either may be NULL to skip). */
int chat_render_basic(const ChatTemplate *ct, const ChatMessage *msgs, int n, int gen, char **out, ChatSpans *sp,
                      char *err, size_t errlen);
int chat_render_tools(const ChatTemplate *ct, const ChatMessage *msgs, int n, const cJSON *tools, int gen, char **out,
                      ChatSpans *sp, char *err, size_t errlen);

#endif
