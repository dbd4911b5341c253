/* Tool calling in the dialects: the request's tools and tool_choice (OpenAI's, and Ollama's
 * and Anthropic's mapped onto them) become the constraint of tool_call.h and the prompt of
 * the family's template; the output is read back by one parser per choice (ToolState, the
 * job's ext), whole or as a stream. Conversations with tool messages are rendered by
 * api_render_conversation (api_chat.c). */
#ifndef PISTON_API_TOOLS_H
#define PISTON_API_TOOLS_H

#include "engine/tool_call.h"
#include "server/api_common.h"
#include "server/api_structured.h"

/* How a rendered conversation ends: with the assistant's turn opened (add_generation_prompt,
 * the default), as the template leaves it, or with the last message left open for the model
 * to continue (vLLM's continue_final_message, Anthropic's assistant prefill): no end of turn
 * after its text, as transformers cuts it. */
typedef enum ConvEnd { CONV_GENERATE = 0, CONV_AS_IS = 1, CONV_CONTINUE = 2 } ConvEnd;

/* Render messages (and system, tools) with the model's template into *out, message text
 * marked plain (chat_prompt_free it). 0, or a negative code with err set (base/err.h). */
int api_render_conversation(Server *s, const cJSON *messages, const char *system, const cJSON *tools, ChatPrompt *out,
                            char *err, size_t n);
/* vLLM's continue_final_message and add_generation_prompt (not both true) into *end. 0, or
 * 400 with err set. */
int api_conversation_end(const cJSON *body, ConvEnd *end, char *err, size_t n);
/* The same, ending as end asks. */
int api_render_conversation_end(Server *s, const cJSON *messages, const char *system, const cJSON *tools, ConvEnd end,
                                ChatPrompt *out, char *err, size_t n);

typedef struct ToolReq {
    const cJSON *tools;   /* to render (NULL: none, or tool_choice none) */
    int active;           /* calls are parsed from the output */
    ToolFormat fmt;
    ToolMode mode;
    int parallel;
    char only[72];        /* a named tool_choice */
} ToolReq;

/* OpenAI's tools, tool_choice and parallel_tool_calls into *t and, when calls are possible,
 * the constraint into *spec (which must not hold another: a response_format with tools is
 * refused). only_tools: Ollama and Anthropic (tool_choice is theirs to map). 0, or 400 with
 * err set. */
int api_tools_request(Server *s, const cJSON *tools, const cJSON *tool_choice, const cJSON *parallel, ToolReq *t,
                      StructSpec *spec, char *err, size_t n);

/* The parsed output of each choice. */
typedef struct ToolCallOut {
    char id[40];
    char *name;       /* malloc'd */
    char *args;       /* malloc'd JSON text as generated */
    size_t args_len;
    int announced;    /* streaming: the call's first delta went out */
    size_t args_sent;
} ToolCallOut;

typedef struct ToolChoiceState {
    ToolParser parser;
    char *content;    /* malloc'd content so far */
    size_t content_len, content_sent;
    ToolCallOut calls[16];
    int n_calls;
} ToolChoiceState;

typedef struct ToolState {
    ToolFormat fmt;
    const char *id_prefix; /* "call_" (OpenAI, Ollama) or "toolu_" (Anthropic) */
    int n;
    ToolChoiceState ch[]; /* [n] */
} ToolState;

/* A job's tool state (its ext), made when the request asked for tools. */
ToolState *tool_state_new(const ToolReq *t, int n_choices);
void tool_state_free(ToolState *ts);
/* Feed choice idx's whole text so far; final at its end. 0, or -1 out of memory. */
int tool_state_feed(Server *s, ToolState *ts, int idx, const char *text, size_t len, int final);
/* Whether choice idx's output was a complete set of calls (at least one). */
int tool_state_has_calls(const ToolState *ts, int idx);

#endif
