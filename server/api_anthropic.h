/* The Anthropic Messages dialect's parts (api_anthropic.c: requests; api_anthropic_out.c:
 * the handler and its responses, whole and streamed). */
#ifndef PISTON_API_ANTHROPIC_H
#define PISTON_API_ANTHROPIC_H

#include "server/api_tools.h"

/* A request turned into what the other dialects use: the rendered prompt, the OpenAI-shaped
 * messages and tools it came from, and the tool request. */
typedef struct AnthropicReq {
    char *system;
    ChatPrompt prompt;
    cJSON *messages, *tools;
    ToolReq tr;
    ConvEnd end; /* CONV_CONTINUE: the last message is the assistant's prefill */
} AnthropicReq;

/* 0, or an HTTP status with err set (a field named). */
int api_anthropic_prepare(Server *s, const cJSON *body, AnthropicReq *a, StructSpec *spec, char *err, size_t n);
void api_anthropic_req_free(AnthropicReq *a);

#endif
