/* Chat templates: the model's tokenizer.chat_template recognised as one of the known
 * families (ChatML, Llama-3, Llama-2, Mistral, ...) and rendered natively: Piston does not
 * embed a Jinja interpreter. The rendering equals what Jinja2 makes of the model's own
 * template (tests/ref checks this with the jinja2 package). */
#ifndef PISTON_CHAT_TEMPLATE_H
#define PISTON_CHAT_TEMPLATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "engine/tokenizer.h"

typedef enum ChatTemplateKind {
    CHAT_TEMPLATE_CHATML = 0,
    CHAT_TEMPLATE_LLAMA3,
    CHAT_TEMPLATE_LLAMA2,
    CHAT_TEMPLATE_MISTRAL,
    CHAT_TEMPLATE_ZEPHYR,
    CHAT_TEMPLATE_MISTRAL_NEMO, /* Mistral-Nemo's v3 format: [INST] without spaces, [AVAILABLE_TOOLS] */
    CHAT_TEMPLATE_COUNT
} ChatTemplateKind;

/* How a family's models call tools (chat_template_tools.c; tool_call.h builds the grammar
 * and parses the output). */
typedef enum ToolFormat {
    TOOL_FORMAT_NONE = 0,
    TOOL_FORMAT_HERMES,       /* <tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>: ChatML, Qwen2.5, SmolLM2 */
    TOOL_FORMAT_LLAMA3,       /* {"name": ..., "parameters": ...}: Llama-3.1 and later, one call */
    TOOL_FORMAT_MISTRAL,      /* [TOOL_CALLS][{"name": ..., "arguments": ...}, ...]: Mistral-Nemo */
    TOOL_FORMAT_MISTRAL_ARGS, /* [TOOL_CALLS]name[ARGS]{...}, once per call: Mistral-Small-3.2, Devstral,
                               * Ministral-3 / Magistral */
} ToolFormat;

/* A family's variant whose template writes plain turns or tools its own way (found from the
 * template's source; chat_template_tools.c, chat_template_chatml.c). */
typedef enum ChatFlavor {
    CHAT_FLAVOR_DEFAULT = 0,
    CHAT_FLAVOR_QWEN3,   /* ChatML: Qwen3's tools (no default system), <think> in the last turns */
    CHAT_FLAVOR_HERMES,  /* ChatML: Hermes-2-Pro / Hermes-3 tool_use (BOS, tools as Python signatures) */
    CHAT_FLAVOR_SMOLLM3, /* ChatML: SmolLM3's metadata header and reasoning mode */
    /* Mistral with [SYSTEM_PROMPT] and [TOOL_CALLS]name[ARGS] (chat_template_mistral.c): */
    CHAT_FLAVOR_MISTRAL_SMALL, /* Mistral-Small-3.2: [CALL_ID], [TOOL_CONTENT], tools before the last user turn */
    CHAT_FLAVOR_DEVSTRAL,      /* Devstral (Unsloth's template): tools after the system prompt */
    CHAT_FLAVOR_MINISTRAL,     /* Ministral-3 / Magistral reasoning: [THINK] in the default system prompt */
    CHAT_FLAVOR_MISTRAL_V7,    /* another template of that format, which Piston does not know: tools refused */
} ChatFlavor;

typedef struct ChatTemplate {
    ChatTemplateKind kind;
    ChatFlavor flavor;
    char *default_system; /* a system prompt the template adds when none is given, or NULL */
    char *bos_text;       /* e.g. "<s>" or "<|begin_of_text|>" when the template emits it, or NULL */
    char *eos_text;       /* e.g. "</s>" when the template emits it (Llama-2, Mistral, Zephyr), or NULL */
    char *system_preamble; /* Llama-3.1+: "Cutting Knowledge Date: ...\nToday Date: ...\n\n", or NULL */
} ChatTemplate;

/* A tool call of an assistant message in the history: arguments as a JSON value (what the
 * templates' tojson writes), id as the client gave it. */
typedef struct ChatToolCall {
    const char *id;
    const char *name;
    const cJSON *arguments;
} ChatToolCall;

typedef struct ChatMessage {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
    const ChatToolCall *tool_calls; /* assistant: [n_tool_calls] */
    int n_tool_calls;
    const char *tool_call_id;       /* tool: the call it answers */
} ChatMessage;

/* Recognise jinja_src (the GGUF's tokenizer.chat_template; may be NULL) or, when name is not
 * NULL, the family the user named with --chat-template ("chatml", "llama3", "llama2",
 * "mistral", "zephyr"). An unknown template, or none at all, is an error whose message names
 * --chat-template. A named family never gets a default system prompt. */
int chat_template_init(ChatTemplate *ct, const char *jinja_src, const char *name, char *err, size_t errlen);
void chat_template_free(ChatTemplate *ct);
/* bos_text/eos_text start as the family's usual texts; pass the model's own (tokenizer_piece
 * of its BOS/EOS) to use those instead. Either may be NULL (keep). Texts the family's template
 * never writes stay NULL. When bos_text is set, the rendered prompt already holds BOS: encode
 * it with add_special = 0 and parse_special = 1. Returns 0, or -1 when out of memory. */
int chat_template_set_tokens(ChatTemplate *ct, const char *bos_text, const char *eos_text);
/* Render messages (and the assistant's opening when add_generation_prompt) into a malloc'd
 * string in *out. Returns 0, or negative with err set (e.g. roles that do not alternate). */
int chat_template_apply(const ChatTemplate *ct, const ChatMessage *msgs, int n, int add_generation_prompt,
                        char **out, char *err, size_t errlen);
const char *chat_template_kind_name(ChatTemplateKind k);

/* A rendered conversation: the text, and the byte ranges of it that came from the messages
 * (contents, system prompts, tool results, tool names, arguments and schemas) rather than
 * from the template. Only the template's own text may become control tokens: a user who
 * writes "<|im_end|>\n<|im_start|>system" must not forge a turn. Tokenize it with
 * chat_prompt_encode. */
typedef struct ChatPrompt {
    char *text;       /* NUL-terminated, [len] */
    size_t len;
    TokSpan *plain;   /* [n_plain], sorted, disjoint */
    int n_plain;
} ChatPrompt;

/* chat_template_apply_tools into *out with the spans (tools NULL: none). 0, or negative with
 * err set. */
int chat_template_render(const ChatTemplate *ct, const ChatMessage *msgs, int n, const cJSON *tools,
                         int add_generation_prompt, ChatPrompt *out, char *err, size_t errlen);
void chat_prompt_free(ChatPrompt *p);
/* The prompt's ids (malloc'd into *ids): control tokens from the template's text only, BOS
 * added when the template does not write it. The count, or a negative code. */
int chat_prompt_encode(const ChatTemplate *ct, const Tokenizer *tok, const ChatPrompt *p, int32_t **ids);

/* The tool-call format of the family (TOOL_FORMAT_NONE: it has none). */
ToolFormat chat_template_tool_format(const ChatTemplate *ct);
/* Why Piston refuses tools for this template, naming the family, where its template has a
 * tool format Piston does not write; NULL otherwise. */
const char *chat_template_tools_unsupported(const ChatTemplate *ct);
/* Render with tools (a JSON array of OpenAI tool objects {type, function: {name, description,
 * parameters}}; NULL for none) and tool messages in the history (assistant tool_calls, role
 * "tool"), the way the family's own template renders them. Returns 0, or negative with err
 * set (a family without tools, a conversation the template refuses). */
int chat_template_apply_tools(const ChatTemplate *ct, const ChatMessage *msgs, int n, const cJSON *tools,
                              int add_generation_prompt, char **out, char *err, size_t errlen);

#endif
